//! The delivery log explains every answer: found by correlation id, with a
//! reason code and each rule's decision.

use std::time::Duration;

use serde_json::Value;

use crate::support::{ADMIN_TOKEN, TestApp, dev_server, eventually, fixture, fresh_namespace};

/// `deploy-release` never matches the fixtures' push to main; `broken`
/// fails on every build (no such field).
const RULES: &str = r#"version: 1
rules:
  - name: deploy-release
    events: [git.push]
    when: ado.branch == "release"
    start:
      workflowType: DeployService
      taskQueue: deployments
      workflowId: deploy-${{ ado.commit.id }}
  - name: broken
    events: [build.complete]
    when: event.resource.noSuchField.deeper == "x"
    start:
      workflowType: Never
      taskQueue: never
      workflowId: never
"#;

async fn app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rules.yaml"), RULES).expect("rules");
    let extra = format!("admin: {{token: {ADMIN_TOKEN}}}\n");
    let app = TestApp::spawn_configured(
        &dev_server().address,
        &fresh_namespace(),
        dir.path(),
        &extra,
    )
    .await;
    app.wait_ready().await;
    (app, dir)
}

fn correlation_id(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .expect("X-Correlation-ID")
        .to_owned()
}

/// The log entry for a correlation id (written just after answering).
async fn entry(app: &TestApp, correlation_id: &str) -> Value {
    let path = format!("/admin/deliveries?correlationId={correlation_id}");
    let found = eventually("the log entry", Duration::from_secs(10), || async {
        let list = app.admin_get(&path).await;
        list["deliveries"]
            .as_array()
            .and_then(|d| d.first())
            .cloned()
    })
    .await;
    let id = found["id"].as_i64().expect("id");
    app.admin_get(&format!("/admin/deliveries/{id}")).await
}

#[tokio::test]
async fn an_ignored_delivery_shows_every_rule_and_why_it_did_not_match() {
    let (app, _dir) = app().await;
    let r = app.post(&fixture("git.push.json")).await;
    assert_eq!(r.status(), 200);
    let shown = entry(&app, &correlation_id(&r)).await;
    assert_eq!(shown["reasonCode"], "NO_RULE_MATCHED", "{shown}");
    assert_eq!(shown["status"], 200);
    assert_eq!(shown["eventType"], "git.push");
    let rules = shown["response"]["rules"].as_array().expect("rules");
    let release = rules
        .iter()
        .find(|d| d["rule"] == "deploy-release")
        .expect("deploy-release decision");
    assert_eq!(release["matched"], false);
    assert!(
        release["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("when"),
        "{release}"
    );
    let broken = rules
        .iter()
        .find(|d| d["rule"] == "broken")
        .expect("broken decision");
    assert_eq!(broken["matched"], false, "other event types are listed too");
}

#[tokio::test]
async fn a_cel_error_is_logged_with_the_error_and_not_remembered() {
    let (app, rules_dir) = app().await;
    let build = fixture("build.complete.v2.json");
    let r = app.post(&build).await;
    assert_eq!(r.status(), 200);
    let corr = correlation_id(&r);
    let shown = entry(&app, &corr).await;
    assert_eq!(shown["reasonCode"], "RULE_ERROR", "{shown}");
    assert_eq!(shown["remembered"], false);
    let broken = shown["response"]["rules"]
        .as_array()
        .and_then(|r| r.iter().find(|d| d["rule"] == "broken"))
        .cloned()
        .expect("broken decision");
    assert!(
        broken["error"]
            .as_str()
            .unwrap_or_default()
            .contains("noSuchField"),
        "the CEL error names the missing field: {broken}"
    );
    // ADO's redelivery is evaluated again, not answered as a duplicate.
    let again: Value = app.post(&build).await.json().await.expect("json");
    assert_eq!(again["outcome"], "failed", "{again}");
    // The command line tells the same story, beside the running bridge.
    let config = app.data_dir.with_file_name("cli.yaml");
    std::fs::write(
        &config,
        format!(
            "dataDir: {}\nmappings: [{}]\nsources:\n  - name: s\n    auth: {{basic: {{username: u, password: long-enough-pw}}}}\n",
            app.data_dir.display(),
            rules_dir.path().display()
        ),
    )
    .expect("cli config");
    let id = shown["id"].to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ado-temporal-bridge"))
        .args(["deliveries", "show", &id, "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("delivery {id}: RULE_ERROR")),
        "{text}"
    );
    assert!(text.contains(&format!("correlation  {corr}")), "{text}");
    assert!(text.contains("- broken: `when` failed"), "{text}");
    assert!(
        text.contains("error: ") && text.contains("noSuchField"),
        "{text}"
    );

    let path = format!("/admin/deliveries?correlationId={corr}&reasonCode=RULE_ERROR");
    eventually("both attempts logged", Duration::from_secs(10), || async {
        let list = app.admin_get(&path).await;
        (list["deliveries"].as_array().map_or(0, Vec::len) == 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn refusals_are_logged_with_their_reason_and_never_block_a_good_delivery() {
    let (app, _dir) = app().await;
    let push = serde_json::to_vec(&fixture("git.push.json")).expect("json");
    let r = app
        .post_raw("fabrikam", push.clone(), Some(("ado-hooks", "wrong")), &[])
        .await;
    assert_eq!(r.status(), 401);
    let refused_id = correlation_id(&r);
    let shown = entry(&app, &refused_id).await;
    assert_eq!(shown["reasonCode"], "VERIFICATION_FAILED", "{shown}");
    assert_eq!(shown["remembered"], false);
    assert_eq!(shown["source"], "fabrikam");
    assert!(
        shown["response"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("basic"),
        "{shown}"
    );

    let r = app
        .post_raw(
            "fabrikam",
            b"{not json".to_vec(),
            None,
            &[("x-correlation-id", refused_id.as_str())],
        )
        .await;
    assert_eq!(r.status(), 401, "credentials are checked before the body");
    assert_ne!(
        correlation_id(&r),
        refused_id,
        "an unauthenticated caller cannot file entries under another delivery's id"
    );
    let r = app
        .post_raw(
            "fabrikam",
            b"{not json".to_vec(),
            Some(("ado-hooks", crate::support::PASSWORD)),
            &[],
        )
        .await;
    assert_eq!(r.status(), 400);
    let shown = entry(&app, &correlation_id(&r)).await;
    assert_eq!(shown["reasonCode"], "MALFORMED", "{shown}");

    // The real delivery is processed.
    let r = app.post(&fixture("git.push.json")).await;
    let b: Value = r.json().await.expect("json");
    assert_eq!(b["outcome"], "ignored", "{b}");
}

/// The rules the fixture's push to main matches.
const FIXED_RULES: &str = r#"version: 1
rules:
  - name: deploy-main
    events: [git.push]
    when: ado.branch == "main"
    start:
      workflowType: DeployService
      taskQueue: deployments
      workflowId: deploy-${{ ado.commit.id }}
"#;

#[tokio::test]
async fn a_redelivery_is_evaluated_again_until_a_rule_acted_on_the_event() {
    let (app, dir) = app().await;
    let push = fixture("git.push.json");
    let (mut corr, mut outcomes) = (String::new(), vec![]);
    for _ in 0..2 {
        let r = app.post(&push).await;
        corr = correlation_id(&r);
        let b: Value = r.json().await.expect("json");
        outcomes.push(b["outcome"].clone());
    }
    assert_eq!(
        outcomes,
        ["ignored", "ignored"],
        "nothing was done, so nothing is remembered"
    );
    let path = format!("/admin/deliveries?correlationId={corr}&reasonCode=NO_RULE_MATCHED");
    eventually("both logged", Duration::from_secs(10), || async {
        let list = app.admin_get(&path).await;
        (list["deliveries"].as_array().map_or(0, Vec::len) == 2).then_some(())
    })
    .await;

    // The operator fixes the rules and has ADO send the notification again.
    std::fs::write(dir.path().join("rules.yaml"), FIXED_RULES).expect("rules");
    let app = app.restart().await;
    app.wait_ready().await;
    let b: Value = app.post(&push).await.json().await.expect("json");
    assert_eq!(b["outcome"], "accepted", "{b}");
    assert_eq!(b["actions"][0]["status"], "started", "{b}");

    // Now that a rule acted, a redelivery is a duplicate, and logged as one.
    let r = app.post(&push).await;
    let b: Value = r.json().await.expect("json");
    assert_eq!(b["outcome"], "duplicate", "{b}");
    let path = format!("/admin/deliveries?correlationId={corr}&reasonCode=DUPLICATE");
    let dups = eventually("the duplicate logged", Duration::from_secs(10), || async {
        let list = app.admin_get(&path).await;
        list["deliveries"]
            .as_array()
            .filter(|d| !d.is_empty())
            .cloned()
    })
    .await;
    assert_eq!(dups.len(), 1);
}
