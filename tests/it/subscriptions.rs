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
async fn status_shows_probation_disabled_and_failed_notifications_and_enable_puts_them_back() {
    let s = setup(&shipped_mappings(), BRIDGE).await;
    let probation = s.ado.seed(
        json!({"eventType": "git.push", "status": "onProbation", "probationRetries": 2,
        "publisherInputs": {"projectId": PROJECT_ID}, "consumerInputs": consumer_inputs(URL)}),
    );
    let disabled = s.ado.seed(
        json!({"eventType": "build.complete", "status": "disabledBySystem",
        "publisherInputs": {"projectId": PROJECT_ID}, "consumerInputs": consumer_inputs(URL)}),
    );
    let healthy = s.ado.seed(json!({"eventType": "workitem.created",
        "publisherInputs": {"projectId": PROJECT_ID}, "consumerInputs": consumer_inputs(URL)}));
    s.ado.seed(json!({"eventType": "git.push", "status": "disabledBySystem",
        "publisherInputs": {"projectId": PROJECT_ID}, "consumerInputs": {"url": "https://elsewhere.example.com/"}}));
    s.ado
        .seed_failed(&probation, 8, published(crate::support::push_event(8)));
    s.ado
        .seed_failed(&probation, 7, published(crate::support::push_event(7)));

    let out = s.ok(status(false, false)).await.output;
    for line in [
        format!("{probation}  onProbation  git.push in {PROJECT_ID}, 2 probation retries; 2 failed notification(s)"),
        "    notification 7 at 2026-11-24T21:04:11.583Z: The remote server returned an error: (503) Service Unavailable. (9 attempts)".into(),
        format!("{disabled}  disabledBySystem  build.complete in {PROJECT_ID}; 0 failed notification(s)"),
        format!("{healthy}  enabled  workitem.created in {PROJECT_ID}; 0 failed notification(s)"),
        "3 subscription(s), 2 not enabled".into(),
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
    }
    let notifications = |id: &str| {
        format!(
            "GET /fabrikam/_apis/hooks/subscriptions/{id}/notifications?result=failed&maxResults=20&api-version=7.1"
        )
    };
    assert_eq!(
        calls(&s.ado).await,
        [
            LIST.to_owned(),
            notifications(&probation),
            notifications(&disabled),
            notifications(&healthy)
        ]
    );

    s.ado.reset_record().await;
    let out = s.ok(status(true, false)).await.output;
    assert!(
        out.ends_with(&format!("enabled: {probation}, {disabled}")),
        "{out}"
    );
    let puts: Vec<_> = s
        .ado
        .requests()
        .await
        .into_iter()
        .filter(|r| r.method.as_str() == "PUT")
        .collect();
    assert_eq!(puts.len(), 2);
    for (put, id, event) in [
        (&puts[0], &probation, "git.push"),
        (&puts[1], &disabled, "build.complete"),
    ] {
        assert_eq!(
            (put.url.path(), put.url.query()),
            (
                format!("/fabrikam/_apis/hooks/subscriptions/{id}").as_str(),
                Some("api-version=7.1")
            )
        );
        let body: Value = put.body_json().expect("JSON");
        assert_eq!(body["status"], "enabled");
        assert_eq!(body["id"], json!(id));
        assert_eq!(body["eventType"], event);
        assert_eq!(body["publisherInputs"]["projectId"], PROJECT_ID);
        // The secret the GET returned masked is sent again, not the mask.
        assert_eq!(body["consumerInputs"]["basicAuthPassword"], PASSWORD);
        assert_eq!(body["consumerInputs"]["url"], URL);
    }
    s.ado.reset_record().await;
    let out = s.ok(status(true, false)).await.output;
    assert!(out.contains("3 subscription(s), 0 not enabled"), "{out}");
    assert!(out.ends_with("enable: nothing to put back"), "{out}");
    assert!(
        calls(&s.ado).await.iter().all(|c| c.starts_with("GET ")),
        "nothing to enable, nothing written"
    );
}

#[tokio::test]
async fn redeliver_sends_failed_events_through_the_bridge_and_again_they_are_duplicates() {
    let app = crate::support::TestApp::spawn().await;
    app.wait_ready().await;
    let mut s = setup(&shipped_mappings(), &app.base).await;
    let url = format!("{}/webhooks/fabrikam", app.base);
    let sub = s
        .ado
        .seed(json!({"eventType": "git.push", "status": "onProbation",
        "publisherInputs": {"projectId": PROJECT_ID}, "consumerInputs": consumer_inputs(&url)}));
    let events = [
        crate::support::push_event(0x51),
        crate::support::push_event(0x52),
    ];
    for (i, e) in events.iter().enumerate() {
        s.ado.seed_failed(&sub, 40 + i as i64, published(e.clone()));
    }

    let first = s.ok(status(false, true)).await;
    assert_eq!(first.exit, 0, "{}", first.output);
    for n in [40, 41] {
        let line = format!("redeliver {sub}/{n}: HTTP 200 accepted");
        assert!(first.output.contains(&line), "{line} in\n{}", first.output);
    }
    assert!(first.output.ends_with("redelivered: 2 sent, 0 failed"));
    let client = app.temporal().await;
    let repo = events[0]["resource"]["repository"]["name"]
        .as_str()
        .expect("repository name")
        .to_owned();
    for e in &events {
        let sha = e["resource"]["commits"][0]["commitId"]
            .as_str()
            .expect("sha");
        let wf = crate::support::workflow(&client, &format!("deploy-{repo}-{sha}"))
            .await
            .expect("the redelivered push started its deployment");
        assert_eq!(wf.starts, 1);
        assert_eq!(wf.input.as_ref().map(|i| &i["commit"]), Some(&json!(sha)));
    }

    s.args.json = true;
    let second = s.ok(status(false, true)).await;
    let answers: Value = serde_json::from_str(&second.output).expect("JSON");
    assert_eq!(
        answers["redelivered"],
        json!([
            {"subscription": sub, "notification": 40, "status": 200, "outcome": "duplicate"},
            {"subscription": sub, "notification": 41, "status": 200, "outcome": "duplicate"},
        ])
    );
    for e in &events {
        let sha = e["resource"]["commits"][0]["commitId"]
            .as_str()
            .expect("sha");
        let wf = crate::support::workflow(&client, &format!("deploy-{repo}-{sha}"))
            .await
            .expect("workflow");
        assert_eq!(wf.starts, 1, "a duplicate starts nothing");
    }
    app.shutdown.cancel();
}

const BIN: &str = env!("CARGO_BIN_EXE_ado-temporal-bridge");

/// Runs the real binary with only the given environment.
async fn bin(s: &Setup, pat: &str, args: &[&str]) -> (i32, String, String) {
    let org = s.ado.organization();
    let config = s.config.display().to_string();
    let mut all = vec!["subscriptions", "--config", &config];
    all.extend_from_slice(args);
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.env_clear().env("AZURE_DEVOPS_PAT", pat).args(&all);
    if !args.contains(&"--no-org") {
        cmd.env("AZURE_DEVOPS_ORG_URL", org);
    }
    let out = cmd.output().await.expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn ado_errors_are_clear_and_exit_non_zero() {
    let s = setup(&shipped_mappings(), BRIDGE).await;
    let common = ["--bridge-url", BRIDGE, "--project", PROJECT];

    let (code, _, err) = bin(&s, "wrong-pat", &[&["plan"][..], &common].concat()).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("GET /_apis/projects/Payments: ADO did not accept the credentials (HTTP 401)"),
        "{err}"
    );

    let (code, _, err) = bin(
        &s,
        PAT,
        &["plan", "--bridge-url", BRIDGE, "--project", "Nope"],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(
            "ADO answered HTTP 404: TF200016: The following project does not exist: Nope."
        ),
        "{err}"
    );

    let message = "The consumer input 'url' must use https when basic authentication is used.";
    s.ado.refuse_writes(400, message);
    let (code, out, err) = bin(&s, PAT, &[&["apply"][..], &common].concat()).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!(
            "applied: 0 created, 0 replaced, 0 deleted; then: POST /_apis/hooks/subscriptions: ADO answered HTTP 400: {message}"
        )),
        "{err}"
    );

    let (code, out, _) = bin(
        &s,
        PAT,
        &[&["plan", "--detailed-exitcode"][..], &common].concat(),
    )
    .await;
    assert_eq!(code, 2, "changes pending: {out}");

    let (code, _, err) = bin(&s, PAT, &["plan", "--bridge-url", BRIDGE]).await;
    assert_eq!(code, 64, "no project anywhere: {err}");
    assert!(
        err.contains("no projects: name them with --project"),
        "{err}"
    );

    let (code, _, err) = bin(&s, PAT, &["plan", "--bogus"]).await;
    assert_eq!(code, 64, "a usage error is not \"changes\" (2): {err}");
    assert!(err.contains("unexpected argument '--bogus'"), "{err}");

    let (code, _, err) = bin(&s, "", &[&["status"][..], &common].concat()).await;
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("AZURE_DEVOPS_PAT is empty"), "{err}");
}

#[tokio::test]
async fn a_notification_ado_kept_no_event_for_is_reported_and_fails_the_run() {
    let s = setup(&shipped_mappings(), BRIDGE).await;
    let sub = s.ado.seed(json!({"eventType": "git.push",
        "publisherInputs": {"projectId": PROJECT_ID}, "consumerInputs": consumer_inputs(URL)}));
    s.ado.seed_failed(&sub, 3, Value::Null);
    let report = s.ok(status(false, true)).await;
    assert_eq!(report.exit, 1, "{}", report.output);
    assert!(
        report.output.contains(&format!(
            "redeliver {sub}/3: not delivered: ADO returned no event for this notification"
        )),
        "{}",
        report.output
    );
    assert!(report.output.ends_with("redelivered: 0 sent, 1 failed"));
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

#[tokio::test]
async fn a_hand_made_subscription_a_rule_needs_survives_apply_and_job_state_is_subscribed() {
    let (_dir, rules) = rules_file(
        "- name: on-checkin\n  events: [tfvc.checkin]\n  signal: {workflowId: w, signalName: s}\n\
         - name: pipelines\n  events: ['ms.vss-pipelines.*']\n  signal: {workflowId: w, signalName: s}\n",
    );
    let s = setup(&rules, BRIDGE).await;
    let tfvc = s.ado.seed(
        json!({"eventType": "tfvc.checkin", "resourceVersion": "1.0",
        "publisherInputs": {"projectId": PROJECT_ID, "path": "$/Payments"},
        "consumerInputs": consumer_inputs(URL)}),
    );
    let out = s
        .ok(SubscriptionsCommand::Apply { recreate: false })
        .await
        .output;
    assert!(
        out.lines().any(|l| l
            == format!(
                "= leave   tfvc.checkin in {PROJECT_ID}, id {tfvc}: rules on-checkin listen to it \
                 but derive no subscription (an event type this tool cannot subscribe, or rules \
                 outside allow.rules); never deleted"
            )),
        "{out}"
    );
    assert!(
        out.contains("+ create  ms.vss-pipelines.job-state-changed-event in Payments"),
        "{out}"
    );
    let subs = s.ado.subscriptions();
    assert!(
        subs.iter().any(|x| x["id"] == json!(tfvc)),
        "kept: {subs:?}"
    );
    let job = subs
        .iter()
        .find(|x| x["eventType"] == "ms.vss-pipelines.job-state-changed-event")
        .expect("job-state subscription created");
    assert_eq!(
        (&job["publisherId"], &job["resourceVersion"]),
        (&json!("pipelines"), &json!("5.1-preview.1"))
    );
}

#[tokio::test]
async fn a_project_outside_the_grant_is_refused_and_an_ungranted_rule_gets_no_subscription() {
    let other = "eb6e4656-77fc-42a1-9181-4c6d8e9da5d1";
    let s = setup_with(
        &shipped_mappings(),
        BRIDGE,
        &format!("    allow:\n      projects: [{other}]\n"),
    )
    .await;
    let err = s.run(plan()).await.expect_err("outside the grant");
    assert_eq!(err.exit_code(), 64, "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "project \"Payments\" ({PROJECT_ID}) is outside source \"fabrikam\"'s allow.projects: \
             the bridge would refuse its deliveries with 403"
        )
    );
    assert!(s.ado.subscriptions().is_empty());

    let s = setup_with(
        &shipped_mappings(),
        BRIDGE,
        &format!("    allow:\n      projects: [{PROJECT_ID}]\n      rules: [deploy-main, build-finished]\n"),
    )
    .await;
    let out = s.ok(plan()).await.output;
    assert!(
        !out.contains("ms.vss-release"),
        "a rule outside the grant gets no subscription: {out}"
    );
    assert!(!out.contains("warning: git.push"), "{out}");
    assert!(out.contains("+ create  git.push in Payments"), "{out}");
}

#[tokio::test]
async fn rules_outside_the_grant_on_a_subscribed_event_type_are_warned_about() {
    let (_dir, rules) = rules_file(
        "- name: granted\n  events: [git.push]\n  signal: {workflowId: w, signalName: s}\n\
         - name: other-team\n  events: ['git.*']\n  signal: {workflowId: w, signalName: s}\n",
    );
    let s = setup_with(&rules, BRIDGE, "    allow:\n      rules: [granted]\n").await;
    let out = s.ok(plan()).await.output;
    assert!(
        out.lines().any(|l| l
            == "warning: git.push: rules outside source \"fabrikam\"'s allow.rules listen to it \
                too (other-team); the bridge answers 403 to a delivery they match, and ADO then \
                puts the subscription on probation"),
        "{out}"
    );
    assert!(!out.contains("git.pullrequest"), "{out}");
}

#[tokio::test]
async fn ado_masks_the_password_and_a_rotated_header_value_shows_as_a_change() {
    let header = "      header: {name: X-Bridge-Key, value: first-header-value-0123}\n";
    let s = setup_with(&shipped_mappings(), BRIDGE, header).await;
    s.ok(SubscriptionsCommand::Apply { recreate: false }).await;
    for sub in s.ado.subscriptions() {
        assert_eq!(sub["consumerInputs"]["basicAuthPassword"], "********");
        assert_eq!(
            sub["consumerInputs"]["httpHeaders"],
            "x-bridge-key:first-header-value-0123"
        );
    }
    let out = s.ok(plan()).await.output;
    assert!(out.contains("plan: 0 to create, 0 to replace"), "{out}");

    let text = std::fs::read_to_string(&s.config).expect("config");
    std::fs::write(
        &s.config,
        text.replace("first-header-value-0123", "second-header-value-4567"),
    )
    .expect("rotate");
    let out = s.ok(plan()).await.output;
    assert!(out.contains("plan: 0 to create, 4 to replace"), "{out}");
    assert!(
        out.contains(
            "      consumerInputs.httpHeaders (value): differs from the source's newest value (not shown)"
        ),
        "{out}"
    );
    assert!(
        !out.contains("header-value"),
        "no header value printed: {out}"
    );
}

#[tokio::test]
async fn a_replace_whose_delete_failed_is_reported_and_the_next_plan_keeps_the_new_one() {
    let s = setup(&shipped_mappings(), BRIDGE).await;
    let old = s
        .ado
        .seed(json!({"eventType": "git.push", "resourceVersion": "1.0",
        "publisherInputs": {"projectId": PROJECT_ID, "branch": "refs/heads/dev"},
        "consumerInputs": consumer_inputs(URL)}));
    let message = "Access denied: the caller cannot delete this subscription.";
    s.ado.refuse_deletes(Some((403, message)));
    let err = s
        .run(SubscriptionsCommand::Apply { recreate: false })
        .await
        .expect_err("the delete is refused");
    let pushes: Vec<String> = s
        .ado
        .subscriptions()
        .iter()
        .filter(|x| x["eventType"] == "git.push")
        .map(|x| x["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(pushes.len(), 2, "old and new: {pushes:?}");
    let new = pushes.iter().find(|id| **id != old).expect("new one");
    assert_eq!(
        err.to_string(),
        format!(
            "applied: 3 created, 0 replaced, 0 deleted; created {new} to replace {old}, but {old} \
             could not be deleted and still delivers (the bridge deduplicates what both send; the \
             next `apply` deletes it); then: DELETE /_apis/hooks/subscriptions/{old}: ADO answered \
             HTTP 403: {message}"
        )
    );

    s.ado.refuse_deletes(None);
    let out = s.ok(plan()).await.output;
    assert!(
        out.lines()
            .any(|l| l == format!("= keep    git.push in Payments (no filters), id {new}")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l == format!("- delete  git.push in {PROJECT_ID}, id {old}: duplicates {new}")),
        "{out}"
    );
    s.ok(SubscriptionsCommand::Apply { recreate: false }).await;
    let left: Vec<_> = s
        .ado
        .subscriptions()
        .iter()
        .map(|x| x["id"].clone())
        .collect();
    assert!(
        left.contains(&json!(new)) && !left.contains(&json!(old)),
        "{left:?}"
    );
}

#[tokio::test]
async fn a_subscription_of_this_url_that_cannot_be_read_is_warned_about_and_left_alone() {
    let s = setup(&shipped_mappings(), BRIDGE).await;
    // A shape this tool cannot read (probationRetries as text).
    let odd = s
        .ado
        .seed(json!({"eventType": "git.push", "probationRetries": "two",
        "publisherInputs": {"projectId": PROJECT_ID}, "consumerInputs": consumer_inputs(URL)}));
    let out = s
        .ok(SubscriptionsCommand::Apply { recreate: false })
        .await
        .output;
    let warning = out
        .lines()
        .find(|l| {
            l.starts_with(&format!(
                "warning: subscription {odd} (git.push in {PROJECT_ID})"
            ))
        })
        .unwrap_or_else(|| panic!("no warning in\n{out}"));
    assert!(
        warning.ends_with("it is left alone; no git.push subscription is created beside it"),
        "{warning}"
    );
    let pushes: Vec<_> = s
        .ado
        .subscriptions()
        .into_iter()
        .filter(|x| x["eventType"] == "git.push")
        .collect();
    assert_eq!(
        pushes.len(),
        1,
        "neither duplicated nor deleted: {pushes:?}"
    );
    assert_eq!(pushes[0]["id"], json!(odd));

    let out = s.ok(status(false, false)).await.output;
    assert!(
        out.contains(&format!(
            "warning: subscription {odd} (git.push) delivers to this URL but could not be read"
        )),
        "{out}"
    );
}

#[tokio::test]
async fn a_redelivery_leaves_out_the_messages_the_subscription_does_not_send() {
    let bridge = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_json(json!({"outcome": "accepted"})),
        )
        .mount(&bridge)
        .await;
    let s = setup(&shipped_mappings(), &bridge.uri()).await;
    let url = format!("{}/webhooks/fabrikam", bridge.uri());
    let sub = s.ado.seed(json!({"eventType": "git.push",
        "publisherInputs": {"projectId": PROJECT_ID}, "consumerInputs": consumer_inputs(&url)}));
    let mut event = published(crate::support::push_event(9));
    event["message"] = json!({"text": "Priya pushed a commit"});
    event["detailedMessage"] = json!({"text": "Priya pushed 1 commit to main"});
    s.ado.seed_failed(&sub, 9, event.clone());

    let report = s.ok(status(false, true)).await;
    assert_eq!(report.exit, 0, "{}", report.output);
    let received = bridge.received_requests().await.unwrap_or_default();
    assert_eq!(received.len(), 1);
    let body: Value = received[0].body_json().expect("JSON");
    assert!(body.get("message").is_none(), "{body}");
    assert!(body.get("detailedMessage").is_none(), "{body}");
    assert_eq!(body["subscriptionId"], json!(sub));
    assert_eq!(body["notificationId"], 9);
    assert_eq!(body["resource"], event["resource"]);
}

#[tokio::test]
async fn a_sign_in_page_with_200_is_reported_as_refused_credentials() {
    let sign_in = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_raw(
            "<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head></html>",
            "text/html; charset=utf-8",
        ))
        .mount(&sign_in)
        .await;
    let mut s = setup(&shipped_mappings(), BRIDGE).await;
    s.args.organization = Some(format!("{}/fabrikam", sign_in.uri()));
    let err = s.run(plan()).await.expect_err("not JSON");
    assert_eq!(err.exit_code(), 1);
    assert!(
        err.to_string().starts_with(
            "GET /_apis/projects/Payments: ADO did not accept the credentials (HTTP 200 with a \
             web page, likely ADO's sign-in page, instead of JSON)"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn enable_leaves_a_deliberate_disable_unless_asked_and_reports_an_ownerless_one() {
    let s = setup(&shipped_mappings(), BRIDGE).await;
    let seed = |state: &str, event: &str| {
        s.ado.seed(json!({"eventType": event, "status": state,
            "publisherInputs": {"projectId": PROJECT_ID}, "consumerInputs": consumer_inputs(URL)}))
    };
    let probation = seed("onProbation", "git.push");
    let system = seed("disabledBySystem", "build.complete");
    let user = seed("disabledByUser", "workitem.created");
    let ownerless = seed("disabledByInactiveIdentity", "workitem.updated");
    let put_ids = |requests: Vec<wiremock::Request>| -> Vec<String> {
        requests
            .iter()
            .filter(|r| r.method.as_str() == "PUT")
            .map(|r| {
                r.url
                    .path()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };

    let out = s.ok(status(true, false)).await.output;
    assert_eq!(
        put_ids(s.ado.requests().await),
        [probation.clone(), system.clone()]
    );
    assert!(
        out.ends_with(&format!(
            "enabled: {probation}, {system}\n\
             left disabledByUser {user}: a user disabled it; --include-disabled-by-user re-enables it\n\
             left disabledByInactiveIdentity {ownerless}: its owner left the organization; it needs \
             a new owner: `subscriptions apply --recreate` makes it anew under this identity"
        )),
        "{out}"
    );

    s.ado.reset_record().await;
    let with_user = SubscriptionsCommand::Status {
        enable: true,
        include_disabled_by_user: true,
        redeliver: false,
        max_notifications: 20,
    };
    let out = s.ok(with_user).await.output;
    assert_eq!(put_ids(s.ado.requests().await), [user.as_str()]);
    assert!(
        out.contains(&format!(
            "enabled: {user}\nleft disabledByInactiveIdentity {ownerless}"
        )),
        "{out}"
    );
}
