//! `subscriptions plan|apply|status` against a local fake of the ADO REST
//! API, and `--redeliver` into a real bridge with a real Temporal.

use std::path::{Path, PathBuf};

use ado_temporal_bridge::{
    cli::{AdoArgs, SubscriptionsCommand},
    subscriptions::{self, Report, SubscriptionsError},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

use crate::fake_ado::{FakeAdo, PAT, PROJECT, PROJECT_ID, REPO_ID};
use crate::support::{PASSWORD, shipped_mappings, write_config};

mod errors;
mod guards;
mod repair;

const BRIDGE: &str = "https://bridge.example.com";
const URL: &str = "https://bridge.example.com/webhooks/fabrikam";

struct Setup {
    ado: FakeAdo,
    config: PathBuf,
    args: AdoArgs,
    _dir: tempfile::TempDir,
}

async fn setup(mappings: &Path, bridge: &str) -> Setup {
    setup_with(mappings, bridge, "").await
}

/// `extra` is appended to the source `fabrikam` (e.g. its `allow`).
async fn setup_with(mappings: &Path, bridge: &str, extra: &str) -> Setup {
    let ado = FakeAdo::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "127.0.0.1:1", "default", mappings, extra);
    let args = AdoArgs {
        organization: Some(ado.organization()),
        bridge_url: Some(bridge.to_owned()),
        projects: vec![PROJECT.to_owned()],
        ..AdoArgs::default()
    };
    Setup {
        ado,
        config,
        args,
        _dir: dir,
    }
}

impl Setup {
    async fn run(&self, command: SubscriptionsCommand) -> Result<Report, SubscriptionsError> {
        let getenv = |name: &str| (name == "AZURE_DEVOPS_PAT").then(|| PAT.to_owned());
        subscriptions::run(&self.config, &self.args, &command, &getenv).await
    }

    async fn ok(&self, command: SubscriptionsCommand) -> Report {
        self.run(command).await.expect("command succeeds")
    }
}

fn plan() -> SubscriptionsCommand {
    SubscriptionsCommand::Plan {
        detailed_exitcode: true,
        recreate: false,
    }
}

fn consumer_inputs(url: &str) -> Value {
    json!({"url": url, "basicAuthUsername": "ado-hooks", "resourceDetailsToSend": "all",
           "messagesToSend": "none", "detailedMessagesToSend": "none"})
}

/// `METHOD /path?query` of every request, after checking each carried the PAT.
async fn calls(ado: &FakeAdo) -> Vec<String> {
    let expected = format!("Basic {}", STANDARD.encode(format!(":{PAT}")));
    ado.requests()
        .await
        .iter()
        .map(|r| {
            assert_eq!(r.headers["authorization"], expected.as_str());
            let query = r.url.query().map_or(String::new(), |q| format!("?{q}"));
            format!("{} {}{query}", r.method, r.url.path())
        })
        .collect()
}

const LIST: &str = "GET /fabrikam/_apis/hooks/subscriptions?consumerId=webHooks&consumerActionId=httpRequest&api-version=7.1";
const PROJECT_GET: &str = "GET /fabrikam/_apis/projects/Payments?api-version=7.1";

/// Existing subscriptions: one to replace, one to keep, one to delete, and
/// two that are not this run's business.
fn seed_mixed(ado: &FakeAdo) -> (String, String, String) {
    let replace = ado.seed(json!({"eventType": "git.push", "resourceVersion": "1.0",
        "publisherInputs": {"projectId": PROJECT_ID, "branch": "refs/heads/dev", "repository": "", "pushedBy": ""},
        "consumerInputs": consumer_inputs(URL)}));
    let keep = ado.seed(
        json!({"eventType": "build.complete", "resourceVersion": "2.0",
        "publisherInputs": {"projectId": PROJECT_ID, "buildStatus": "", "definitionName": ""},
        "consumerInputs": consumer_inputs(URL)}),
    );
    let delete = ado.seed(
        json!({"eventType": "workitem.created", "resourceVersion": "1.0",
        "publisherInputs": {"projectId": PROJECT_ID}, "consumerInputs": consumer_inputs(URL)}),
    );
    ado.seed(
        json!({"eventType": "git.push", "publisherInputs": {"projectId": PROJECT_ID},
        "consumerInputs": {"url": "https://elsewhere.example.com/hook"}}),
    );
    ado.seed(json!({"eventType": "git.push", "publisherInputs": {"projectId": "eb6e4656-77fc-42a1-9181-4c6d8e9da5d1"},
        "consumerInputs": consumer_inputs(URL)}));
    (replace, keep, delete)
}

#[tokio::test]
async fn plan_shows_creates_replaces_and_deletes_and_writes_nothing() {
    let s = setup(&shipped_mappings(), BRIDGE).await;
    let (replace, keep, delete) = seed_mixed(&s.ado);
    let before = s.ado.subscriptions();
    let report = s.ok(plan()).await;
    let out = &report.output;
    for line in [
        format!("subscriptions delivering to {URL}"),
        "+ create  ms.vss-release.deployment-approval-pending-event in Payments (no filters); rules: prod-approval".into(),
        "+ create  ms.vss-release.deployment-approval-completed-event in Payments (no filters); rules: prod-approval".into(),
        format!("~ replace git.push in Payments (no filters), id {replace}:"),
        "      publisherInputs.branch: \"refs/heads/dev\" -> \"\"".into(),
        format!("- delete  workitem.created in {PROJECT_ID}, id {delete}: no rule listens to workitem.created"),
        format!("= keep    build.complete in Payments (no filters), id {keep}"),
        "(1 subscription(s) of this URL in other projects are left alone)".into(),
        "plan: 2 to create, 1 to replace, 1 to delete, 1 unchanged".into(),
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
    }
    assert_eq!(report.exit, 2, "changes with --detailed-exitcode");
    assert_eq!(calls(&s.ado).await, [PROJECT_GET, LIST]);
    assert_eq!(s.ado.subscriptions(), before);
}

#[tokio::test]
async fn apply_converges_and_a_second_plan_is_empty() {
    let s = setup(&shipped_mappings(), BRIDGE).await;
    let (replace, keep, delete) = seed_mixed(&s.ado);
    let report = s.ok(SubscriptionsCommand::Apply { recreate: false }).await;
    assert!(
        report
            .output
            .ends_with("applied: 2 created, 1 replaced, 1 deleted"),
        "{}",
        report.output
    );
    let requests = s.ado.requests().await;
    let subs = "/fabrikam/_apis/hooks/subscriptions";
    assert_eq!(
        calls(&s.ado).await,
        [
            PROJECT_GET.to_owned(),
            LIST.into(),
            format!("POST {subs}?api-version=7.1"),
            format!("POST {subs}?api-version=7.1"),
            format!("POST {subs}?api-version=7.1"),
            format!("DELETE {subs}/{replace}?api-version=7.1"),
            format!("DELETE {subs}/{delete}?api-version=7.1"),
        ]
    );
    let consumer = json!({"url": URL, "basicAuthUsername": "ado-hooks", "basicAuthPassword": PASSWORD,
        "resourceDetailsToSend": "all", "messagesToSend": "none", "detailedMessagesToSend": "none"});
    let body = |event: &str, publisher: &str, version: &str, inputs: Value| {
        json!({"publisherId": publisher, "eventType": event, "resourceVersion": version,
               "consumerId": "webHooks", "consumerActionId": "httpRequest",
               "publisherInputs": inputs, "consumerInputs": consumer})
    };
    let posted: Vec<Value> = requests[2..5]
        .iter()
        .map(|r| r.body_json().expect("JSON body"))
        .collect();
    assert_eq!(
        posted,
        [
            body(
                "ms.vss-release.deployment-approval-pending-event",
                "rm",
                "3.0-preview.1",
                json!({"projectId": PROJECT_ID})
            ),
            body(
                "ms.vss-release.deployment-approval-completed-event",
                "rm",
                "3.0-preview.1",
                json!({"projectId": PROJECT_ID})
            ),
            body("git.push", "tfs", "1.0", json!({"projectId": PROJECT_ID})),
        ]
    );
    for r in &requests[2..5] {
        assert_eq!(r.headers["content-type"], "application/json");
    }

    s.ado.reset_record().await;
    let again = s.ok(plan()).await;
    assert!(
        again
            .output
            .contains("plan: 0 to create, 0 to replace, 0 to delete, 4 unchanged"),
        "{}",
        again.output
    );
    assert!(again.output.contains(&format!("id {keep}")));
    assert_eq!(again.exit, 0);
    assert_eq!(calls(&s.ado).await, [PROJECT_GET, LIST]);
    // The unrelated subscriptions are still there.
    assert_eq!(s.ado.subscriptions().len(), 4 + 2);

    // After a password rotation: every subscription is sent again.
    s.ado.reset_record().await;
    let recreated = s.ok(SubscriptionsCommand::Apply { recreate: true }).await;
    assert!(
        recreated
            .output
            .ends_with("applied: 0 created, 4 replaced, 0 deleted"),
        "{}",
        recreated.output
    );
    let methods: Vec<String> = calls(&s.ado)
        .await
        .iter()
        .map(|c| c.split(' ').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        methods,
        [
            "GET", "GET", "POST", "DELETE", "POST", "DELETE", "POST", "DELETE", "POST", "DELETE"
        ]
    );
    assert!(s.ok(plan()).await.output.contains("4 unchanged"));
}

#[tokio::test]
async fn plan_warns_that_ado_refuses_basic_auth_over_http() {
    let s = setup(&shipped_mappings(), "http://bridge.internal:8080").await;
    let out = s.ok(plan()).await.output;
    assert!(
        out.contains("warning: http://bridge.internal:8080/webhooks/fabrikam is not https: ADO refuses Basic auth to it"),
        "{out}"
    );
}

#[tokio::test]
async fn a_repository_name_in_when_becomes_the_repository_guid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "version: 1\nrules:\n\
         - name: api-main\n  events: [git.push]\n  when: ado.repository.name == 'payments-api' && ado.branch == 'main'\n  signal: {workflowId: w, signalName: s}\n\
         - name: gone\n  events: [git.pullrequest.created]\n  when: ado.repository.name == 'retired'\n  signal: {workflowId: w, signalName: s}\n",
    )
    .expect("write rules");
    let s = setup(&rules, BRIDGE).await;
    let out = s.ok(plan()).await.output;
    assert!(
        out.contains(&format!(
            "+ create  git.push in Payments (repository={REPO_ID}); rules: api-main"
        )),
        "{out}"
    );
    assert!(
        out.contains("warning: git.pullrequest.created: project \"Payments\" has no repository \"retired\"; no repository filter there"),
        "{out}"
    );
    assert!(
        out.contains("+ create  git.pullrequest.created in Payments (no filters)"),
        "{out}"
    );
    let sent = calls(&s.ado).await;
    assert!(sent.contains(&format!(
        "GET /fabrikam/{PROJECT_ID}/_apis/git/repositories/payments-api?api-version=7.1"
    )));
    assert!(sent.iter().all(|c| c.starts_with("GET ")), "{sent:?}");
}

fn status(enable: bool, redeliver: bool) -> SubscriptionsCommand {
    SubscriptionsCommand::Status {
        enable,
        include_disabled_by_user: false,
        redeliver,
        max_notifications: 20,
    }
}

/// The body ADO published: the delivery without what the consumer adds.
fn published(mut event: Value) -> Value {
    if let Some(o) = event.as_object_mut() {
        o.remove("subscriptionId");
        o.remove("notificationId");
    }
    event
}

#[tokio::test]
async fn json_output_carries_the_same_facts() {
    let mut s = setup(&shipped_mappings(), BRIDGE).await;
    s.args.json = true;
    let (replace, keep, delete) = seed_mixed(&s.ado);
    let out: Value = serde_json::from_str(&s.ok(plan()).await.output).expect("JSON plan");
    assert_eq!(out["url"], URL);
    let actions: Vec<(String, String)> = out["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            let a = c["action"].as_str().unwrap_or_default();
            (
                a.to_owned(),
                c["eventType"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            (
                "create".into(),
                "ms.vss-release.deployment-approval-pending-event".into()
            ),
            (
                "create".into(),
                "ms.vss-release.deployment-approval-completed-event".into()
            ),
            ("replace".into(), "git.push".into()),
            ("delete".into(), "workitem.created".into()),
        ]
    );
    assert_eq!(out["changes"][2]["id"], json!(replace));
    assert_eq!(
        out["changes"][2]["differences"],
        json!(["publisherInputs.branch: \"refs/heads/dev\" -> \"\""])
    );
    assert_eq!(
        out["changes"][2]["publisherInputs"],
        json!({"projectId": PROJECT_ID})
    );
    assert_eq!(out["changes"][3]["id"], json!(delete));
    assert_eq!(
        out["unchanged"],
        json!([{"id": keep, "eventType": "build.complete", "project": PROJECT}])
    );
    assert_eq!(out["otherProjects"], 1);

    s.ado
        .seed_failed(&replace, 5, published(crate::support::push_event(5)));
    let out: Value =
        serde_json::from_str(&s.ok(status(true, false)).await.output).expect("JSON status");
    let subs = out["subscriptions"].as_array().expect("subscriptions");
    assert_eq!(subs.len(), 4, "every project: {out}");
    let pushed = subs
        .iter()
        .find(|x| x["id"] == json!(replace))
        .expect("listed");
    assert_eq!(pushed["status"], "enabled");
    assert_eq!(pushed["failedNotifications"][0]["id"], 5);
    assert_eq!(
        pushed["failedNotifications"][0]["errorMessage"],
        "The remote server returned an error: (503) Service Unavailable."
    );
    assert_eq!(out["enabled"], json!([]));
    assert!(out.get("redelivered").is_none());
}

/// Rules in a file of their own; returns the directory guard and the path.
fn rules_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, format!("version: 1\nrules:\n{text}")).expect("write rules");
    (dir, rules)
}
