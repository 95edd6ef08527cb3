//! Temporal without the bridge: a `temporalio-client` start loop (the
//! ceiling Temporal sets), and the check that every delivery became
//! exactly one workflow.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use ado_temporal_bridge::{
    ado::{self, Envelope},
    mapping::{RuleSet, Variables},
    temporal::json_payload,
};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Map, Value};
use temporalio_client::{
    Client, ClientOptions, Connection, ConnectionOptions, WorkflowListOptions,
    grpc::WorkflowService, tonic::IntoRequest,
};
use temporalio_common::protos::temporal::api::{
    common::v1::{Header, Memo, Payloads, WorkflowType},
    enums::v1::{TaskQueueKind, WorkflowIdConflictPolicy, WorkflowIdReusePolicy},
    taskqueue::v1::TaskQueue,
    workflowservice::v1::StartWorkflowExecutionRequest,
};

use crate::{generator::LoadResult, procs};

/// Connects a client to `namespace`.
pub async fn connect(address: &str, namespace: &str) -> Client {
    let url = temporalio_client::Url::parse(&format!("http://{address}")).expect("url");
    // As the bridges send them (`temporal.compression`).
    let mut options = ConnectionOptions::new(url)
        .identity("load-bench".to_owned())
        .build();
    options.grpc_compression = if crate::procs::compression() == "gzip" {
        temporalio_client::GrpcCompression::Gzip
    } else {
        temporalio_client::GrpcCompression::None
    };
    let conn = Connection::connect(options)
        .await
        .expect("connect to Temporal");
    Client::new(conn, ClientOptions::new(namespace.to_owned()).build()).expect("client")
}

/// The start request the bridge sends for delivery `n`: the same rule
/// evaluated in-process gives the same workflow id and input; memo and
/// header carry the same five and two fields.
fn request(
    namespace: &str,
    rules: &RuleSet,
    body: &[u8],
    workflow_type: &str,
) -> StartWorkflowExecutionRequest {
    let envelope = Envelope::parse(body).expect("envelope");
    let view = serde_json::to_value(ado::normalize(&envelope)).expect("view");
    let eval = rules.evaluate(&Variables {
        event: &envelope.raw,
        ado: &view,
        headers: &Map::new(),
        source: "bench",
        correlation_id: &envelope.id,
    });
    let action = eval.actions.first().expect("one action");
    let text = |s: &str| json_payload(&Value::String(s.to_owned()));
    let memo = [
        "correlationId",
        "adoEventId",
        "adoEventType",
        "rule",
        "source",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), text(&envelope.id)))
    .collect::<HashMap<_, _>>();
    let header = ["correlationId", "adoEventId"]
        .iter()
        .map(|k| ((*k).to_owned(), text(&envelope.id)))
        .collect::<HashMap<_, _>>();
    StartWorkflowExecutionRequest {
        namespace: namespace.to_owned(),
        workflow_id: action.workflow_id.clone(),
        workflow_type: Some(WorkflowType {
            name: workflow_type.to_owned(),
        }),
        task_queue: Some(TaskQueue {
            name: "deployments".into(),
            kind: TaskQueueKind::Normal as i32,
            ..Default::default()
        }),
        input: action.input.as_ref().map(|v| Payloads {
            payloads: vec![json_payload(v)],
        }),
        identity: "load-bench".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
        workflow_id_reuse_policy: WorkflowIdReusePolicy::AllowDuplicate as i32,
        workflow_id_conflict_policy: WorkflowIdConflictPolicy::UseExisting as i32,
        memo: Some(Memo { fields: memo }),
        header: Some(Header { fields: header }),
        ..Default::default()
    }
}

/// Starts `n` workflows with `concurrency` calls in flight. Requests are
/// built before the clock starts: this is Temporal's speed, not ours.
pub async fn start_loop(
    client: &Client,
    rules: &RuleSet,
    bodies: &crate::generator::Bodies,
    first: u64,
    n: u64,
    concurrency: usize,
    workflow_type: &str,
) -> LoadResult {
    let ns = client.options().namespace.clone();
    let requests: Arc<Vec<StartWorkflowExecutionRequest>> = Arc::new(
        (0..n)
            .map(|i| request(&ns, rules, &bodies.body(first + i), workflow_type))
            .collect(),
    );
    let next = Arc::new(AtomicU64::new(0));
    let cpu = procs::cpu_seconds("self");
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (mut c, reqs, next) = (client.clone(), Arc::clone(&requests), Arc::clone(&next));
        workers.spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("hist");
            let mut errors = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(req) = reqs.get(i) else {
                    return (hist, errors);
                };
                let began = Instant::now();
                if c.start_workflow_execution(req.clone().into_request())
                    .await
                    .is_err()
                {
                    errors += 1;
                }
                let _ = hist.record(began.elapsed().as_micros().max(1) as u64);
            }
        });
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("hist");
    let mut errors = 0;
    while let Some(done) = workers.join_next().await {
        let (h, e) = done.expect("worker");
        hist.add(&h).expect("bounds");
        errors += e;
    }
    let elapsed = start.elapsed();
    let ms = |us: u64| us as f64 / 1000.0;
    LoadResult {
        requests: n,
        seconds: elapsed.as_secs_f64(),
        per_second: n as f64 / elapsed.as_secs_f64(),
        p50_ms: ms(hist.value_at_quantile(0.5)),
        p90_ms: ms(hist.value_at_quantile(0.9)),
        p99_ms: ms(hist.value_at_quantile(0.99)),
        max_ms: ms(hist.max()),
        statuses: BTreeMap::from([("ok".into(), n - errors), ("error".into(), errors)]),
        generator_cpu_s: procs::cpu_seconds("self") - cpu,
        send_lag: None,
    }
}

/// What Temporal holds for one workflow type.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verified {
    /// Deliveries that should each have become one workflow.
    pub expected: u64,
    /// Workflows of the type (count API).
    pub counted: u64,
    /// Executions listed.
    pub listed: u64,
    /// Distinct workflow ids listed.
    pub distinct_ids: u64,
    /// `expected == counted == listed == distinct_ids`.
    pub exactly_once: bool,
}

/// Counts and lists the workflows of `workflow_type`, waiting (visibility
/// is eventually consistent) until the count reaches `expected` or stops
/// moving.
pub async fn verify(client: &Client, workflow_type: &str, expected: u64) -> Verified {
    let query = format!("WorkflowType = '{workflow_type}'");
    let mut counted = 0;
    let mut last_change = Instant::now();
    while last_change.elapsed() < Duration::from_secs(10) {
        let now = client
            .count_workflows(query.clone(), Default::default())
            .await
            .map(|c| c.count() as u64)
            .unwrap_or(0);
        if now != counted {
            counted = now;
            last_change = Instant::now();
        }
        if counted >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut ids = HashSet::new();
    let mut listed = 0u64;
    let mut stream = client.list_workflows(query, WorkflowListOptions::default());
    while let Some(item) = stream.next().await {
        let Ok(execution) = item else { break };
        listed += 1;
        ids.insert(execution.id().to_owned());
    }
    let distinct_ids = ids.len() as u64;
    Verified {
        expected,
        counted,
        listed,
        distinct_ids,
        exactly_once: counted == expected && listed == expected && distinct_ids == expected,
    }
}
