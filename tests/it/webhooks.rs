//! End to end: ADO deliveries in, workflows and signals in Temporal out.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    PASSWORD, TestApp, eventually, fixture, free_port, shipped_mappings, workflow,
};

const PUSH_WORKFLOW: &str = "deploy-payments-api-546c2aad0d0cf7bbabe3f8426df2c9a870c5c912";

async fn json_body(r: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = r.status().as_u16();
    let corr = r
        .headers()
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = r.json::<Value>().await.expect("JSON body");
    (status, corr, body)
}

#[tokio::test]
async fn a_push_to_main_starts_the_deployment_workflow_with_input_and_correlation_id() {
    let app = TestApp::spawn().await;
    app.wait_ready().await;
    let push = fixture("git.push.json");
    let (status, corr, body) = json_body(app.post(&push).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "accepted", "{body}");
    let corr = corr.expect("X-Correlation-ID header");
    assert_eq!(body["correlationId"], json!(corr));
    let action = &body["actions"][0];
    assert_eq!(action["rule"], "deploy-main");
    assert_eq!(action["action"], "start");
    assert_eq!(action["workflowId"], PUSH_WORKFLOW);
    assert_eq!(action["status"], "started");
    let run_id = action["runId"].as_str().expect("runId").to_owned();
    assert!(
        action["link"]
            .as_str()
            .unwrap_or_default()
            .contains(&run_id)
    );

    let wf = workflow(&app.temporal().await, PUSH_WORKFLOW)
        .await
        .expect("workflow exists in Temporal");
    assert_eq!(wf.workflow_type, "DeployService");
    assert_eq!(wf.task_queue, "deployments");
    let input = wf.input.expect("input");
    assert_eq!(input["repository"], "payments-api");
    assert_eq!(input["commit"], "546c2aad0d0cf7bbabe3f8426df2c9a870c5c912");
    assert_eq!(input["commits"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        input["commits"][0]["message"]
            .as_str()
            .map(|m| m.starts_with("Add idempotency key")),
        Some(true)
    );
    assert_eq!(wf.memo["correlationId"], json!(corr));
    assert_eq!(wf.memo["adoEventId"], push["id"]);
    assert_eq!(wf.memo["adoEventType"], "git.push");
    assert_eq!(wf.memo["rule"], "deploy-main");
    assert_eq!(wf.header["correlationId"], json!(corr));
}

#[tokio::test]
async fn a_redelivery_is_a_duplicate_and_changes_nothing_even_after_a_restart() {
    let app = TestApp::spawn().await;
    app.wait_ready().await;
    let push = fixture("git.push.json");
    let (_, first_corr, first) = json_body(app.post(&push).await).await;
    assert_eq!(first["outcome"], "accepted");
    let run_id = first["actions"][0]["runId"].clone();

    let (status, corr, again) = json_body(app.post(&push).await).await;
    assert_eq!(status, 200);
    assert_eq!(again["outcome"], "duplicate", "{again}");
    assert_eq!(
        corr, first_corr,
        "a redelivery of the same notification keeps its correlation id"
    );
    assert_eq!(again["actions"][0]["runId"], run_id);

    // The same event through another subscription is recognised by its id.
    let mut other_sub = push.clone();
    other_sub["subscriptionId"] = json!("7f1f0f2e-0000-4000-8000-000000000001");
    other_sub["notificationId"] = json!(99);
    let (_, _, body) = json_body(app.post(&other_sub).await).await;
    assert_eq!(body["outcome"], "duplicate", "{body}");

    let app = app.restart().await;
    app.wait_ready().await;
    let (status, _, body) = json_body(app.post(&push).await).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["outcome"], "duplicate",
        "remembered across restarts: {body}"
    );

    let wf = workflow(&app.temporal().await, PUSH_WORKFLOW)
        .await
        .expect("exists");
    assert_eq!(wf.starts, 1);
}

#[tokio::test]
async fn a_lost_answer_retried_without_memory_still_starts_one_run() {
    // ADO timed out before the bridge answered and the bridge crashed before
    // recording: the retry reaches Temporal again. The deterministic request
    // id makes Temporal return the same run.
    let app = TestApp::spawn().await;
    app.wait_ready().await;
    let push = fixture("git.push.json");
    let (_, _, first) = json_body(app.post(&push).await).await;
    let data_dir = app.data_dir.clone();
    let app = {
        app.shutdown.cancel();
        tokio::time::sleep(Duration::from_millis(200)).await;
        std::fs::remove_dir_all(&data_dir).expect("forget everything");
        app.restart().await
    };
    app.wait_ready().await;
    let (status, _, body) = json_body(app.post(&push).await).await;
    assert_eq!(status, 200);
    assert_eq!(body["outcome"], "accepted", "{body}");
    assert_eq!(
        body["actions"][0]["runId"], first["actions"][0]["runId"],
        "same run"
    );
    let wf = workflow(&app.temporal().await, PUSH_WORKFLOW)
        .await
        .expect("exists");
    assert_eq!(wf.starts, 1);
}

#[tokio::test]
async fn a_build_completion_signals_with_start_once() {
    let app = TestApp::spawn().await;
    app.wait_ready().await;
    let build = fixture("build.complete.v2.json");
    let (status, corr, body) = json_body(app.post(&build).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "accepted");
    assert_eq!(body["actions"][0]["action"], "signalWithStart");
    assert_eq!(body["actions"][0]["status"], "signaledAndStarted");

    let client = app.temporal().await;
    let wf = workflow(&client, "build-20417").await.expect("started");
    assert_eq!(wf.workflow_type, "BuildFollowUp");
    assert_eq!(wf.task_queue, "builds");
    assert_eq!(
        wf.input, None,
        "no startIfMissing.input: started without arguments"
    );
    assert_eq!(
        wf.memo["correlationId"],
        json!(corr.clone().expect("header"))
    );
    assert_eq!(wf.signals.len(), 1);
    let (name, input, header) = &wf.signals[0];
    assert_eq!(name, "buildCompleted");
    assert_eq!(
        input,
        &Some(json!({"result": "succeeded", "branch": "main"}))
    );
    assert_eq!(header["correlationId"], json!(corr.expect("header")));

    // Redelivered, also as a different notification of the same event.
    let (_, _, again) = json_body(app.post(&build).await).await;
    assert_eq!(again["outcome"], "duplicate");
    let wf = workflow(&client, "build-20417").await.expect("exists");
    assert_eq!(wf.signals.len(), 1, "no second signal");
}

#[tokio::test]
async fn a_production_approval_signals_the_running_release_workflow() {
    let app = TestApp::spawn().await;
    app.wait_ready().await;
    let client = app.temporal().await;
    start_workflow(&client, "release-87", "ReleaseWorkflow", "releases").await;
    let approval = fixture("ms.vss-release.deployment-approval-completed-event.json");
    let (status, _, body) = json_body(app.post(&approval).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "accepted", "{body}");
    assert_eq!(body["actions"][0]["status"], "signaled");

    let wf = workflow(&client, "release-87").await.expect("exists");
    assert_eq!(wf.signals.len(), 1);
    let (name, input, _) = &wf.signals[0];
    assert_eq!(name, "approval");
    let input = input.as_ref().expect("signal input");
    assert_eq!(
        input, &approval["resource"]["approval"],
        "the raw approval object"
    );
    assert_eq!(input["status"], "approved");
}

#[tokio::test]
async fn an_approval_for_a_workflow_not_yet_running_is_kept_and_delivered_once_it_runs() {
    let app = TestApp::spawn().await;
    app.wait_ready().await;
    let approval = fixture("ms.vss-release.deployment-approval-pending-event.json");
    let (status, _, body) = json_body(app.post(&approval).await).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["outcome"], "queued");
    assert!(
        body["actions"][0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("not found"),
        "{body}"
    );

    let client = app.temporal().await;
    start_workflow(&client, "release-87", "ReleaseWorkflow", "releases").await;
    let wf = eventually("the retried signal", Duration::from_secs(20), || async {
        workflow(&client, "release-87")
            .await
            .filter(|w| !w.signals.is_empty())
    })
    .await;
    assert_eq!(wf.signals.len(), 1);
    assert_eq!(
        wf.signals[0].1.as_ref().map(|v| v["status"].clone()),
        Some(json!("pending"))
    );
}

async fn start_workflow(client: &temporalio_client::Client, id: &str, wf_type: &str, queue: &str) {
    use temporalio_client::{UntypedWorkflow, WorkflowStartOptions};
    use temporalio_common::data_converters::RawValue;
    client
        .start_workflow(
            UntypedWorkflow::new(wf_type),
            RawValue::new(vec![]),
            WorkflowStartOptions::new(queue, id).build(),
        )
        .await
        .expect("start workflow");
}

#[tokio::test]
async fn wrong_or_missing_credentials_get_401_and_change_nothing() {
    let app = TestApp::spawn().await;
    app.wait_ready().await;
    let body = serde_json::to_vec(&fixture("git.push.json")).expect("json");
    for auth in [
        None,
        Some(("ado-hooks", "wrong-password")),
        Some(("intruder", PASSWORD)),
    ] {
        let r = app.post_raw("fabrikam", body.clone(), auth, &[]).await;
        assert_eq!(r.status(), 401, "{auth:?}");
        assert!(r.headers().contains_key("www-authenticate"));
        let b: Value = r.json().await.expect("json");
        assert_eq!(b["outcome"], "rejected");
    }
    assert!(
        workflow(&app.temporal().await, PUSH_WORKFLOW)
            .await
            .is_none(),
        "nothing started"
    );
    // A later correct delivery is not mistaken for a duplicate.
    let (_, _, ok) = json_body(app.post(&fixture("git.push.json")).await).await;
    assert_eq!(ok["outcome"], "accepted");
}

#[tokio::test]
async fn bad_bodies_get_short_reasons_and_unknown_sources_404() {
    let app = TestApp::spawn().await;
    let auth = Some(("ado-hooks", PASSWORD));
    for (body, status, needle) in [
        (b"not json".to_vec(), 400, "not valid JSON"),
        (b"{\"id\":\"x\"".to_vec(), 400, "not valid JSON"),
        (vec![0xff, 0xfe, 0x00], 400, "not valid JSON"),
        (b"[]".to_vec(), 400, "not a JSON object"),
        (br#"{"id":"x","resource":{}}"#.to_vec(), 400, "eventType"),
        (vec![b' '; 70_000], 413, "larger than"),
    ] {
        let r = app.post_raw("fabrikam", body, auth, &[]).await;
        assert_eq!(r.status(), status);
        let b: Value = r.json().await.expect("json");
        assert!(
            b["reason"].as_str().unwrap_or_default().contains(needle),
            "{b}"
        );
    }
    let r = app.post_raw("nobody", b"{}".to_vec(), auth, &[]).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn an_event_no_rule_wants_is_ignored_with_the_reasons() {
    let app = TestApp::spawn().await;
    app.wait_ready().await;
    let (status, _, body) = json_body(app.post(&fixture("git.push.skip-deploy.json")).await).await;
    assert_eq!(status, 200);
    assert_eq!(body["outcome"], "ignored");
    assert_eq!(body["reason"], "no rule matched");
    let deploy = body["rules"]
        .as_array()
        .and_then(|r| r.iter().find(|d| d["rule"] == "deploy-main"))
        .expect("decision");
    assert_eq!(deploy["matched"], false);
    assert!(
        deploy["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("skip deploy"),
        "{deploy}"
    );
}

#[tokio::test]
async fn a_dry_run_answers_with_decisions_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.wait_ready().await;
    let body = serde_json::to_vec(&fixture("git.push.json")).expect("json");
    let r = app
        .post_raw(
            "fabrikam",
            body.clone(),
            Some(("ado-hooks", PASSWORD)),
            &[("x-dry-run", "true")],
        )
        .await;
    let b: Value = r.json().await.expect("json");
    assert_eq!(b["outcome"], "dryRun");
    assert_eq!(b["actions"][0]["workflowId"], PUSH_WORKFLOW);
    assert_eq!(b["actions"][0]["input"]["repository"], "payments-api");
    assert!(
        workflow(&app.temporal().await, PUSH_WORKFLOW)
            .await
            .is_none()
    );
    // Dry runs need credentials too.
    let r = app
        .post_raw("fabrikam", body, None, &[("x-dry-run", "true")])
        .await;
    assert_eq!(r.status(), 401);
    // And leave no memory: the real delivery is not a duplicate.
    let (_, _, real) = json_body(app.post(&fixture("git.push.json")).await).await;
    assert_eq!(real["outcome"], "accepted");
}

#[tokio::test]
async fn a_safe_correlation_id_from_the_caller_is_kept() {
    let app = TestApp::spawn().await;
    app.wait_ready().await;
    let body = serde_json::to_vec(&fixture("build.complete.v2-failed.json")).expect("json");
    let r = app
        .post_raw(
            "fabrikam",
            body,
            Some(("ado-hooks", PASSWORD)),
            &[("x-correlation-id", "trace-from-relay-42")],
        )
        .await;
    let (_, corr, b) = json_body(r).await;
    assert_eq!(corr.as_deref(), Some("trace-from-relay-42"));
    assert_eq!(b["correlationId"], "trace-from-relay-42");
    let wf = workflow(&app.temporal().await, "build-20452")
        .await
        .expect("exists");
    assert_eq!(wf.memo["correlationId"], "trace-from-relay-42");
}

#[tokio::test]
async fn direct_mode_answers_503_with_retry_after_when_temporal_is_unreachable() {
    let dead = format!("127.0.0.1:{}", free_port());
    let app =
        TestApp::spawn_configured(&dead, "default", &shipped_mappings(), "delivery: direct\n")
            .await;
    let r = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .expect("readyz");
    assert_eq!(
        r.status(),
        503,
        "direct mode cannot keep deliveries without Temporal"
    );
    let r = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), 200);
    let r = app.post(&fixture("git.push.json")).await;
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("10")
    );
    let b: Value = r.json().await.expect("json");
    assert_eq!(b["outcome"], "unavailable");
    // Not remembered: the retry must really be tried again.
    let r = app.post(&fixture("git.push.json")).await;
    assert_eq!(r.status(), 503);
}

#[tokio::test]
async fn direct_mode_delivers_and_remembers_like_durable_mode() {
    let server = crate::support::dev_server();
    let app = TestApp::spawn_configured(
        &server.address,
        &crate::support::fresh_namespace(),
        &shipped_mappings(),
        "delivery: direct\n",
    )
    .await;
    app.wait_ready().await;
    let (status, _, body) = json_body(app.post(&fixture("git.push.json")).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "accepted");
    let (_, _, again) = json_body(app.post(&fixture("git.push.json")).await).await;
    assert_eq!(again["outcome"], "duplicate");
    assert_eq!(again["actions"][0]["runId"], body["actions"][0]["runId"]);
}

#[tokio::test]
async fn an_incoming_trace_context_is_passed_into_the_workflow_header() {
    let app = TestApp::spawn().await;
    app.wait_ready().await;
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let body = serde_json::to_vec(&fixture("git.push.json")).expect("json");
    let r = app
        .post_raw(
            "fabrikam",
            body,
            Some(("ado-hooks", PASSWORD)),
            &[("traceparent", tp), ("tracestate", "vendor=1")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let wf = workflow(&app.temporal().await, PUSH_WORKFLOW)
        .await
        .expect("started");
    assert_eq!(
        wf.header["_tracer-data"],
        json!({"traceparent": tp, "tracestate": "vendor=1"})
    );

    // A malformed trace context is not forwarded.
    let build = serde_json::to_vec(&fixture("build.complete.v2.json")).expect("json");
    let r = app
        .post_raw(
            "fabrikam",
            build,
            Some(("ado-hooks", PASSWORD)),
            &[("traceparent", "00-zz-not-a-trace-01")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let wf = workflow(&app.temporal().await, "build-20417")
        .await
        .expect("started");
    assert!(wf.header.get("_tracer-data").is_none());
    assert!(wf.signals[0].2.get("_tracer-data").is_none());
}
