//! Durable delivery: outages, back-pressure, dead letters and replay.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{
    ADMIN_TOKEN, OwnDevServer, TestApp, eventually, fixture, free_port, push_event,
    shipped_mappings, temporal_client, workflow,
};

fn build_event(n: usize, result: &str) -> Value {
    let mut b = fixture("build.complete.v2.json");
    b["id"] = json!(format!("0d6f5a10-0000-4000-8000-{n:012}"));
    b["notificationId"] = json!(9000 + n);
    b["resource"]["result"] = json!(result);
    b
}

#[tokio::test]
async fn a_temporal_outage_costs_only_latency_and_keeps_per_workflow_order() {
    let mut temporal = OwnDevServer::start();
    let app = TestApp::spawn_with(&temporal.address, "default", &shipped_mappings()).await;
    app.wait_ready().await;
    let first = app.post(&push_event(1)).await;
    // 200 unless the machine is too busy for the fast path (then 202 and
    // the dispatcher delivers it); either way in Temporal before the outage.
    assert!(matches!(first.status().as_u16(), 200 | 202));
    let client = temporal_client(&temporal.address, "default").await;
    let first_id = format!("deploy-payments-api-{:040x}", 1);
    eventually("the first delivery", Duration::from_secs(20), || async {
        workflow(&client, &first_id).await
    })
    .await;

    temporal.stop();
    let r = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .expect("readyz");
    assert_eq!(
        r.status(),
        200,
        "durable mode stays ready while Temporal is away"
    );

    // During the outage: answered fast with 202, nothing lost.
    let mut sent = vec![push_event(2), push_event(3)];
    for (i, result) in ["r1", "r2", "r3", "r4"].iter().enumerate() {
        sent.push(build_event(i, result));
    }
    for body in &sent {
        let started = Instant::now();
        let r = app.post(body).await;
        assert_eq!(r.status(), 202);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "answered within the fast-path wait"
        );
        let b: Value = r.json().await.expect("json");
        assert_eq!(b["outcome"], "queued");
    }
    // ADO's retry of a queued delivery is a duplicate, not a second action.
    let again: Value = app.post(&sent[2]).await.json().await.expect("json");
    assert_eq!(again["outcome"], "duplicate");

    temporal.resume();
    let client = temporal_client(&temporal.address, "default").await;
    let wf = eventually("the backlog to drain", Duration::from_secs(60), || async {
        workflow(&client, "build-20417")
            .await
            .filter(|w| w.signals.len() >= 4)
    })
    .await;
    let results: Vec<Value> = wf
        .signals
        .iter()
        .map(|s| s.1.clone().unwrap_or_default()["result"].clone())
        .collect();
    assert_eq!(
        results,
        vec![json!("r1"), json!("r2"), json!("r3"), json!("r4")],
        "in arrival order, once each"
    );
    assert_eq!(wf.starts, 1);
    for n in [1, 2, 3] {
        let id = format!("deploy-payments-api-{n:040x}");
        let wf = workflow(&client, &id)
            .await
            .unwrap_or_else(|| panic!("{id} was delivered"));
        assert_eq!(wf.starts, 1);
    }
    let spool: Value = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(spool["spool"]["pending"], 0, "{spool}");
}

#[tokio::test]
async fn a_full_spool_answers_503_with_retry_after_instead_of_accepting() {
    let dead = format!("127.0.0.1:{}", free_port());
    let app = TestApp::spawn_configured(
        &dead,
        "default",
        &shipped_mappings(),
        "spool: {maxPending: 2}\n",
    )
    .await;
    for n in 1..3 {
        let r = app.post(&push_event(n)).await;
        assert_eq!(r.status(), 202, "{:?}", r.text().await);
    }
    let r = app.post(&push_event(3)).await;
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("10")
    );
    let b: Value = r.json().await.expect("json");
    assert!(
        b["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("spool is full"),
        "{b}"
    );
    let r = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .expect("readyz");
    assert_eq!(r.status(), 503, "not ready while full");
    // Deliveries that need no action are still answered.
    assert_eq!(
        app.post(&fixture("workitem.updated.json")).await.status(),
        200
    );
}

const SA_RULES: &str = "version: 1
rules:
  - name: deploy-with-sa
    events: [git.push]
    start:
      workflowType: DeployService
      taskQueue: deployments
      workflowId: deploy-${{ ado.commit.id }}
      searchAttributes:
        AdoRepository: ${{ ado.repository.name }}
";

#[tokio::test]
async fn rejected_actions_are_dead_lettered_listed_and_replayed_once_fixed() {
    let temporal = OwnDevServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rules.yaml"), SA_RULES).expect("write rules");
    let extra =
        format!("spool: {{maxAttempts: 2, maxBackoff: 1s}}\nadmin: {{token: {ADMIN_TOKEN}}}\n");
    let app = TestApp::spawn_configured(&temporal.address, "default", dir.path(), &extra).await;
    app.wait_ready().await;

    let r = app.post(&push_event(7)).await;
    assert_eq!(r.status(), 202);
    let b: Value = r.json().await.expect("json");
    assert!(
        b["actions"][0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("AdoRepository"),
        "{b}"
    );

    let dead = eventually("the dead letter", Duration::from_secs(20), || async {
        let list = app.admin_get("/admin/deliveries?outcome=dead").await;
        list["deliveries"]
            .as_array()
            .filter(|d| !d.is_empty())
            .cloned()
    })
    .await;
    let id = dead[0]["id"].as_i64().expect("id");
    assert_eq!(dead[0]["reasonCode"], "DEAD_LETTER");
    let by_code = app
        .admin_get("/admin/deliveries?reasonCode=DEAD_LETTER")
        .await;
    assert_eq!(by_code["deliveries"][0]["id"], id);
    let shown = app.admin_get(&format!("/admin/deliveries/{id}")).await;
    assert_eq!(shown["reasonCode"], "DEAD_LETTER");
    assert_eq!(
        shown["outcome"], "queued",
        "the answer given stays as it was"
    );
    assert_eq!(shown["actions"][0]["state"], "dead");
    assert_eq!(shown["actions"][0]["attempts"], 2);
    assert!(
        shown["actions"][0]["lastError"]
            .as_str()
            .unwrap_or_default()
            .contains("InvalidArgument"),
        "{shown}"
    );

    // Without the token: refused.
    let r = app
        .http
        .get(format!("{}/admin/deliveries", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 401);

    // Fix the cause (register the search attribute), then replay.
    register_keyword(&temporal.address, "AdoRepository").await;
    let replayed = app
        .admin_post(&format!("/admin/deliveries/{id}/replay"))
        .await;
    assert_eq!(replayed["replayed"], 1);
    let client = temporal_client(&temporal.address, "default").await;
    let wf_id = format!("deploy-{:040x}", 7);
    let wf = eventually("the replayed start", Duration::from_secs(20), || async {
        workflow(&client, &wf_id).await
    })
    .await;
    assert_eq!(wf.starts, 1);
    // Temporal has it first; the spool records it right after.
    eventually(
        "the action recorded as done",
        Duration::from_secs(10),
        || async {
            let shown = app.admin_get(&format!("/admin/deliveries/{id}")).await;
            (shown["actions"][0]["state"] == "done").then_some(shown)
        },
    )
    .await;
    let shown = app.admin_get(&format!("/admin/deliveries/{id}")).await;
    assert_eq!(shown["reasonCode"], "STARTED", "{shown}");
    let link = shown["actions"][0]["link"].as_str().expect("a Web UI link");
    assert!(
        link.starts_with("http://localhost:8233/namespaces/default/workflows/deploy-"),
        "{link}"
    );
}

async fn register_keyword(address: &str, name: &str) {
    use std::collections::HashMap;
    use temporalio_client::{grpc::OperatorService, tonic::IntoRequest};
    use temporalio_common::protos::temporal::api::{
        enums::v1::IndexedValueType, operatorservice::v1::AddSearchAttributesRequest,
    };
    let mut c = temporal_client(address, "default").await;
    OperatorService::add_search_attributes(
        &mut c,
        AddSearchAttributesRequest {
            namespace: "default".into(),
            search_attributes: HashMap::from([(name.to_owned(), IndexedValueType::Keyword as i32)]),
        }
        .into_request(),
    )
    .await
    .expect("search attribute registered");
}
