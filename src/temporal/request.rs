//! Building Temporal requests from planned actions (pure, no I/O).

use std::collections::HashMap;

use serde_json::{Map, Value};
use temporalio_common::protos::temporal::api::{
    common::v1::{
        Header, Memo, Payload, Payloads, SearchAttributes, WorkflowExecution, WorkflowType,
    },
    enums::v1::{TaskQueueKind, WorkflowIdConflictPolicy, WorkflowIdReusePolicy},
    taskqueue::v1::TaskQueue,
    workflowservice::v1::{
        SignalWithStartWorkflowExecutionRequest, SignalWorkflowExecutionRequest,
        StartWorkflowExecutionRequest,
    },
};
use uuid::Uuid;

use super::CallContext;
use crate::mapping::{OnConflict, PlannedAction};

/// Namespace for deterministic request ids (UUIDv5).
const REQUEST_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5c1e_7a8b_93d4_4f0e_a1b2_c3d4_e5f6_0718);

/// The request id of an action: derived from the event and the rule, so a
/// redelivery of the same event repeats the same request and Temporal
/// recognises it.
pub fn request_id(request_key: &str, rule: &str) -> String {
    Uuid::new_v5(
        &REQUEST_ID_NAMESPACE,
        format!("{request_key}\n{rule}").as_bytes(),
    )
    .to_string()
}

/// One `json/plain` payload, readable by workers in any SDK.
pub fn json_payload(v: &Value) -> Payload {
    Payload {
        metadata: HashMap::from([("encoding".to_owned(), b"json/plain".to_vec())]),
        data: serde_json::to_vec(v).unwrap_or_else(|_| b"null".to_vec()),
        ..Default::default()
    }
}

fn payloads(v: &Option<Value>) -> Option<Payloads> {
    v.as_ref().map(|v| Payloads {
        payloads: vec![json_payload(v)],
    })
}

fn memo(action: &PlannedAction, call: &CallContext) -> Memo {
    let mut fields: HashMap<String, Payload> = action
        .memo
        .iter()
        .map(|(k, v)| (k.clone(), json_payload(v)))
        .collect();
    // The bridge's own fields win over user memo fields of the same name, so
    // the correlation id in the memo can always be trusted.
    for (k, v) in [
        ("correlationId", &call.correlation_id),
        ("adoEventId", &call.event_id),
        ("adoEventType", &call.event_type),
        ("rule", &action.rule),
        ("source", &call.source),
    ] {
        fields.insert(k.to_owned(), json_payload(&Value::String(v.clone())));
    }
    Memo { fields }
}

/// The Temporal header fields every request carries.
pub fn header(call: &CallContext) -> Header {
    let mut fields = HashMap::from([
        (
            "correlationId".to_owned(),
            json_payload(&Value::String(call.correlation_id.clone())),
        ),
        (
            "adoEventId".to_owned(),
            json_payload(&Value::String(call.event_id.clone())),
        ),
    ]);
    if let Some(trace) = &call.trace {
        // The field and shape Temporal's OpenTelemetry interceptors read in
        // every SDK: a JSON map of the W3C propagation headers.
        let mut carrier = Map::new();
        carrier.insert(
            "traceparent".into(),
            Value::String(trace.traceparent.clone()),
        );
        if let Some(state) = &trace.tracestate {
            carrier.insert("tracestate".into(), Value::String(state.clone()));
        }
        fields.insert(
            "_tracer-data".to_owned(),
            json_payload(&Value::Object(carrier)),
        );
    }
    Header { fields }
}

fn search_attributes(m: &Map<String, Value>) -> Option<SearchAttributes> {
    (!m.is_empty()).then(|| SearchAttributes {
        indexed_fields: m
            .iter()
            .map(|(k, v)| (k.clone(), json_payload(v)))
            .collect(),
    })
}

fn task_queue(name: &Option<String>) -> Option<TaskQueue> {
    name.as_ref().map(|n| TaskQueue {
        name: n.clone(),
        kind: TaskQueueKind::Normal as i32,
        ..Default::default()
    })
}

/// Converts to the protobuf duration type the request field has.
fn duration<T: TryFrom<std::time::Duration>>(d: Option<std::time::Duration>) -> Option<T> {
    d.and_then(|d| T::try_from(d).ok())
}

/// StartWorkflowExecution for a `start` action.
pub fn start(
    namespace: &str,
    identity: &str,
    action: &PlannedAction,
    call: &CallContext,
    request_id: String,
) -> StartWorkflowExecutionRequest {
    let conflict = match action.on_conflict {
        OnConflict::UseExisting => WorkflowIdConflictPolicy::UseExisting,
        OnConflict::Fail => WorkflowIdConflictPolicy::Fail,
        OnConflict::TerminateExisting => WorkflowIdConflictPolicy::TerminateExisting,
    };
    StartWorkflowExecutionRequest {
        namespace: namespace.to_owned(),
        workflow_id: action.workflow_id.clone(),
        workflow_type: action
            .workflow_type
            .as_ref()
            .map(|t| WorkflowType { name: t.clone() }),
        task_queue: task_queue(&action.task_queue),
        input: payloads(&action.input),
        workflow_execution_timeout: duration(action.execution_timeout),
        identity: identity.to_owned(),
        request_id,
        workflow_id_reuse_policy: WorkflowIdReusePolicy::AllowDuplicate as i32,
        workflow_id_conflict_policy: conflict as i32,
        memo: Some(memo(action, call)),
        search_attributes: search_attributes(&action.search_attributes),
        header: Some(header(call)),
        ..Default::default()
    }
}

/// SignalWorkflowExecution for a `signal` action.
pub fn signal(
    namespace: &str,
    identity: &str,
    action: &PlannedAction,
    call: &CallContext,
    request_id: String,
) -> SignalWorkflowExecutionRequest {
    SignalWorkflowExecutionRequest {
        namespace: namespace.to_owned(),
        workflow_execution: Some(WorkflowExecution {
            workflow_id: action.workflow_id.clone(),
            run_id: String::new(),
        }),
        signal_name: action.signal_name.clone().unwrap_or_default(),
        input: payloads(&action.input),
        identity: identity.to_owned(),
        request_id,
        header: Some(header(call)),
        ..Default::default()
    }
}

/// SignalWithStartWorkflowExecution for a `signal` with `startIfMissing`.
pub fn signal_with_start(
    namespace: &str,
    identity: &str,
    action: &PlannedAction,
    call: &CallContext,
    request_id: String,
) -> SignalWithStartWorkflowExecutionRequest {
    SignalWithStartWorkflowExecutionRequest {
        namespace: namespace.to_owned(),
        workflow_id: action.workflow_id.clone(),
        workflow_type: action
            .workflow_type
            .as_ref()
            .map(|t| WorkflowType { name: t.clone() }),
        task_queue: task_queue(&action.task_queue),
        input: payloads(&action.start_input),
        workflow_execution_timeout: duration(action.execution_timeout),
        identity: identity.to_owned(),
        request_id,
        // Fail is not allowed for signal-with-start; a running workflow just
        // gets the signal.
        workflow_id_reuse_policy: WorkflowIdReusePolicy::AllowDuplicate as i32,
        workflow_id_conflict_policy: WorkflowIdConflictPolicy::UseExisting as i32,
        signal_name: action.signal_name.clone().unwrap_or_default(),
        signal_input: payloads(&action.input),
        memo: Some(memo(action, call)),
        search_attributes: search_attributes(&action.search_attributes),
        header: Some(header(call)),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::ActionKind;
    use serde_json::json;

    fn call() -> CallContext {
        CallContext {
            correlation_id: "corr-1".into(),
            event_id: "ev-1".into(),
            event_type: "git.push".into(),
            source: "fabrikam".into(),
            received_ms: 0,
            trace: None,
        }
    }

    fn action() -> PlannedAction {
        PlannedAction {
            rule: "deploy-main".into(),
            kind: ActionKind::Start,
            workflow_id: "deploy-x".into(),
            workflow_type: Some("DeployService".into()),
            task_queue: Some("deployments".into()),
            signal_name: None,
            input: Some(json!({"a": 1})),
            start_input: None,
            memo: Map::from_iter([
                ("correlationId".to_owned(), json!("spoofed")),
                ("team".to_owned(), json!("payments")),
            ]),
            search_attributes: Map::new(),
            execution_timeout: Some(std::time::Duration::from_secs(3600)),
            on_conflict: OnConflict::UseExisting,
        }
    }

    fn text(p: &Payload) -> String {
        String::from_utf8_lossy(&p.data).into_owned()
    }

    #[test]
    fn request_ids_are_deterministic_per_event_and_rule() {
        assert_eq!(request_id("ev-1", "r"), request_id("ev-1", "r"));
        assert_ne!(request_id("ev-1", "r"), request_id("ev-2", "r"));
        assert_ne!(request_id("ev-1", "r"), request_id("ev-1", "s"));
    }

    #[test]
    fn start_carries_memo_header_and_json_input() {
        let req = start("default", "me", &action(), &call(), "rid".into());
        assert_eq!(req.request_id, "rid");
        assert_eq!(
            req.workflow_id_conflict_policy,
            WorkflowIdConflictPolicy::UseExisting as i32
        );
        let input = &req.input.expect("input").payloads[0];
        assert_eq!(
            input.metadata.get("encoding").map(Vec::as_slice),
            Some(&b"json/plain"[..])
        );
        assert_eq!(text(input), r#"{"a":1}"#);
        let memo = req.memo.expect("memo").fields;
        assert_eq!(
            text(&memo["correlationId"]),
            "\"corr-1\"",
            "bridge fields win"
        );
        assert_eq!(text(&memo["team"]), "\"payments\"");
        assert_eq!(text(&memo["rule"]), "\"deploy-main\"");
        let header = req.header.expect("header").fields;
        assert_eq!(text(&header["correlationId"]), "\"corr-1\"");
        assert_eq!(
            req.workflow_execution_timeout.map(|d| d.seconds),
            Some(3600)
        );
    }

    #[test]
    fn trace_context_is_validated_before_it_is_forwarded() {
        use crate::temporal::TraceContext;
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert!(TraceContext::parse(tp, None).is_some());
        for bad in [
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f-00f067aa0ba902b7-01",
            "",
        ] {
            assert!(TraceContext::parse(bad, None).is_none(), "{bad}");
        }
        let mut c = call();
        c.trace = TraceContext::parse(tp, Some("a=1\nb"));
        let h = header(&c).fields;
        assert_eq!(
            text(&h["_tracer-data"]),
            format!("{{\"traceparent\":\"{tp}\"}}"),
            "bad tracestate dropped"
        );
    }

    #[test]
    fn signal_with_start_splits_inputs() {
        let mut a = action();
        a.kind = ActionKind::SignalWithStart;
        a.signal_name = Some("buildCompleted".into());
        a.start_input = None;
        let req = signal_with_start("default", "me", &a, &call(), "rid".into());
        assert!(req.input.is_none(), "no start input means no arguments");
        assert_eq!(
            text(&req.signal_input.expect("signal input").payloads[0]),
            r#"{"a":1}"#
        );
        assert_eq!(req.signal_name, "buildCompleted");
    }
}
