//! Traces: the real binary exports a span tree per delivery over OTLP
//! (HTTP, protobuf) to a receiver started here, and the workflow's start
//! header carries the context of the bridge's own Temporal span.

use std::{
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, routing::post};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::any_value::Value as AnyValue,
    trace::v1::Span,
};
use prost::Message;
use serde_json::Value;

use crate::support::{
    PASSWORD, dev_server, eventually, fixture, free_port, fresh_namespace, shipped_mappings,
    temporal_client, workflow,
};

const BIN: &str = env!("CARGO_BIN_EXE_ado-temporal-bridge");

/// Spans received, with the service name of their resource.
type Received = Arc<Mutex<Vec<(String, Span)>>>;

/// An OTLP/HTTP trace receiver: decodes each export request as the
/// collector does and answers with an empty export response.
async fn otlp_receiver() -> (String, Received) {
    async fn export(State(spans): State<Received>, body: Bytes) -> Vec<u8> {
        let req = ExportTraceServiceRequest::decode(body).expect("valid OTLP protobuf");
        let mut out = spans.lock().expect("lock");
        for rs in req.resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref()?.value.as_ref())
                .map(|v| match v {
                    AnyValue::StringValue(s) => s.clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for span in ss.spans {
                    out.push((service.clone(), span));
                }
            }
        }
        ExportTraceServiceResponse::default().encode_to_vec()
    }
    let spans: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new()
        .route("/v1/traces", post(export))
        .with_state(Arc::clone(&spans));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), spans)
}

fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            AnyValue::StringValue(s) => s.clone(),
            AnyValue::IntValue(i) => i.to_string(),
            AnyValue::BoolValue(b) => b.to_string(),
            other => format!("{other:?}"),
        })
}

struct Bridge(Child);

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_delivery_is_one_span_tree_that_continues_into_the_workflow() {
    let (endpoint, spans) = otlp_receiver().await;
    let server = dev_server();
    let namespace = fresh_namespace();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = format!(
        "listen: 127.0.0.1:{port}\ntemporal: {{address: {}, namespace: {namespace}}}\nmappings: [{}]\ndataDir: ./data\nsources:\n  - name: fabrikam\n    auth:\n      basic: {{username: ado-hooks, password: {PASSWORD}}}\n",
        server.address,
        shipped_mappings().display()
    );
    std::fs::write(dir.path().join("bridge.yaml"), config).expect("write");
    let mut bridge = Bridge(
        Command::new(BIN)
            .args(["serve", "--config", "bridge.yaml"])
            .current_dir(dir.path())
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
            .env("OTEL_SERVICE_NAME", "bridge-under-test")
            // Export at once, not after the default 5 s.
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env("BRIDGE_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawns"),
    );
    let logs = read_lines(bridge.0.stderr.take().expect("stderr"));
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    loop {
        let ready = http.get(format!("{base}/readyz")).send().await;
        if let Ok(r) = ready
            && r.status() == 200
            && r.json::<Value>()
                .await
                .is_ok_and(|b| b["temporal"] == "reachable")
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "bridge not ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // ADO sends no traceparent: the delivery starts a trace of its own.
    let r = http
        .post(format!("{base}/webhooks/fabrikam"))
        .basic_auth("ado-hooks", Some(PASSWORD))
        .json(&fixture("git.push.json"))
        .send()
        .await
        .expect("delivery");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    let correlation_id = body["correlationId"].as_str().expect("id").to_owned();
    let workflow_id = body["actions"][0]["workflowId"]
        .as_str()
        .expect("workflow id")
        .to_owned();

    let tree = eventually("the delivery's spans", Duration::from_secs(20), || async {
        let all = spans.lock().expect("lock").clone();
        let root = all
            .iter()
            .find(|(_, s)| s.name == "delivery")
            .map(|(_, s)| s.clone())?;
        let tree: Vec<(String, Span)> = all
            .into_iter()
            .filter(|(_, s)| s.trace_id == root.trace_id)
            .collect();
        // The request's span ends after the answer is written, so it may
        // come in a later export than the rest.
        let complete = ["temporal.start", "POST /webhooks/{source}"]
            .iter()
            .all(|name| tree.iter().any(|(_, s)| s.name == *name));
        complete.then_some(tree)
    })
    .await;
    let by_name = |name: &str| {
        tree.iter()
            .find(|(_, s)| s.name == name)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("no {name} span in {:?}", names(&tree)))
    };
    let request = by_name("POST /webhooks/{source}");
    assert_eq!(
        body["traceId"].as_str(),
        Some(hex::encode(&request.trace_id).as_str()),
        "the answer (and so the delivery log) names the trace"
    );
    assert!(request.parent_span_id.is_empty(), "a trace of its own");
    assert_eq!(
        attr(&request, "http.route").as_deref(),
        Some("/webhooks/{source}")
    );
    let root = by_name("delivery");
    assert_eq!(root.parent_span_id, request.span_id);
    assert!(tree.iter().all(|(svc, _)| svc == "bridge-under-test"));
    assert_eq!(
        attr(&root, "correlation_id").as_deref(),
        Some(correlation_id.as_str())
    );
    assert_eq!(attr(&root, "ado.event.type").as_deref(), Some("git.push"));
    assert_eq!(
        attr(&root, "http.response.status_code").as_deref(),
        Some("200")
    );
    for child in ["delivery.verify", "delivery.parse", "delivery.evaluate"] {
        assert_eq!(
            by_name(child).parent_span_id,
            root.span_id,
            "{child} under delivery"
        );
    }
    let rule = by_name("rule.evaluate");
    assert_eq!(rule.parent_span_id, by_name("delivery.evaluate").span_id);
    assert_eq!(attr(&rule, "rule").as_deref(), Some("deploy-main"));
    assert_eq!(attr(&rule, "rule.matched").as_deref(), Some("true"));
    let start = by_name("temporal.start");
    assert_eq!(
        attr(&start, "rpc.method").as_deref(),
        Some("StartWorkflowExecution")
    );
    assert_eq!(
        attr(&start, "temporal.workflow.id").as_deref(),
        Some(workflow_id.as_str())
    );
    let mut ancestor = start.parent_span_id.clone();
    while ancestor != root.span_id {
        let parent = tree
            .iter()
            .find(|(_, s)| s.span_id == ancestor)
            .unwrap_or_else(|| panic!("temporal.start is outside the delivery's tree"));
        ancestor = parent.1.parent_span_id.clone();
    }

    // Its log lines name the trace too.
    let trace_id = hex::encode(&request.trace_id);
    let line = eventually(
        "the delivery's log line",
        Duration::from_secs(10),
        || async {
            logs.lock()
                .expect("lock")
                .iter()
                .find(|l| l["span"]["correlation_id"] == correlation_id.as_str())
                .cloned()
        },
    )
    .await;
    assert_eq!(
        line["openTelemetry"]["traceId"],
        trace_id.as_str(),
        "{line}"
    );

    joins_the_callers_trace(&http, &base, &spans).await;

    // The workflow's start header carries the bridge's Temporal span as
    // the parent, in the format Temporal's OpenTelemetry interceptors read.
    let client = temporal_client(&server.address, &namespace).await;
    let wf = workflow(&client, &workflow_id).await.expect("workflow");
    let traceparent = wf.header["_tracer-data"]["traceparent"]
        .as_str()
        .expect("traceparent in _tracer-data")
        .to_owned();
    assert_eq!(
        traceparent,
        format!(
            "00-{}-{}-01",
            hex::encode(&start.trace_id),
            hex::encode(&start.span_id)
        )
    );
}

/// A caller that sends `traceparent` gets the delivery in its own trace.
async fn joins_the_callers_trace(http: &reqwest::Client, base: &str, spans: &Received) {
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let r = http
        .post(format!("{base}/webhooks/fabrikam"))
        .basic_auth("ado-hooks", Some(PASSWORD))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .json(&crate::support::push_event(77))
        .send()
        .await
        .expect("delivery");
    assert_eq!(r.status(), 200);
    let request = eventually("the caller's trace", Duration::from_secs(20), || async {
        spans
            .lock()
            .expect("lock")
            .iter()
            .find(|(_, s)| hex::encode(&s.trace_id) == trace_id && s.name.starts_with("POST "))
            .map(|(_, s)| s.clone())
    })
    .await;
    assert_eq!(hex::encode(&request.parent_span_id), caller_span);
}

/// Collects the JSON lines `from` writes, as they come.
fn read_lines(from: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<Value>>> {
    let lines: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(from).lines().map_while(Result::ok) {
            let parsed = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"));
            sink.lock().expect("lock").push(parsed);
        }
    });
    lines
}

fn names(tree: &[(String, Span)]) -> Vec<&str> {
    tree.iter().map(|(_, s)| s.name.as_str()).collect()
}
