//! Acting: the only module that knows the Temporal client.
//!
//! The rest of the bridge talks to a [`Gateway`]: "carry out this planned
//! action for this delivery". [`TemporalGateway`] is the real one; tests of
//! the HTTP edge can use a fake.

mod client;
mod request;

use futures_util::future::BoxFuture;
use serde::Serialize;

pub use client::TemporalGateway;
pub use request::{json_payload, request_id};

use crate::mapping::PlannedAction;

/// Facts about the delivery an action came from, carried into Temporal's
/// memo and headers.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallContext {
    /// Correlation id of the delivery.
    pub correlation_id: String,
    /// ADO event id (`id`).
    pub event_id: String,
    /// ADO event type.
    pub event_type: String,
    /// Source name.
    pub source: String,
    /// When the delivery was received (ms since the epoch), for latency.
    #[serde(default)]
    pub received_ms: i64,
    /// The caller's W3C trace context (`traceparent`, `tracestate`), passed
    /// on in Temporal's `_tracer-data` header so the workflow joins the trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceContext>,
}

/// A validated W3C trace context.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TraceContext {
    /// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
    pub traceparent: String,
    /// Vendor state, passed through when short and printable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// The 32-hex-digit trace id.
    pub fn trace_id(&self) -> &str {
        self.traceparent.get(3..35).unwrap_or_default()
    }

    /// Accepts a `traceparent` only in the W3C format (version 00, non-zero
    /// ids), so nothing else is forwarded into workflow headers.
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<Self> {
        let parts: Vec<&str> = traceparent.trim().split('-').collect();
        let hex = |s: &str, n: usize| {
            s.len() == n
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let ok = parts.len() == 4
            && parts[0] == "00"
            && hex(parts[1], 32)
            && hex(parts[2], 16)
            && hex(parts[3], 2)
            && parts[1].bytes().any(|b| b != b'0')
            && parts[2].bytes().any(|b| b != b'0');
        ok.then(|| Self {
            traceparent: parts.join("-"),
            tracestate: tracestate
                .map(str::trim)
                .filter(|s| {
                    !s.is_empty() && s.len() <= 512 && s.bytes().all(|b| (0x20..0x7f).contains(&b))
                })
                .map(str::to_owned),
        })
    }
}

/// What Temporal did with an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ActionStatus {
    /// A new workflow run started.
    Started,
    /// The workflow was already running (`onConflict: use-existing`, or a
    /// repeated request); nothing new started.
    AlreadyRunning,
    /// `onConflict: fail` and the workflow was already running.
    Conflict,
    /// The signal was delivered.
    Signaled,
    /// Signal-with-start found no running workflow and started one.
    SignaledAndStarted,
}

impl ActionStatus {
    /// Parses [`ActionStatus::as_str`] output.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Started,
            Self::AlreadyRunning,
            Self::Conflict,
            Self::Signaled,
            Self::SignaledAndStarted,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// Name used in responses and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::AlreadyRunning => "alreadyRunning",
            Self::Conflict => "conflict",
            Self::Signaled => "signaled",
            Self::SignaledAndStarted => "signaledAndStarted",
        }
    }
}

/// Temporal's answer to an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionResult {
    /// What happened.
    pub status: ActionStatus,
    /// Run id, when Temporal says.
    pub run_id: Option<String>,
}

/// Why an action failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemporalError {
    /// Temporal is unreachable, overloaded or timed out; the same action may
    /// succeed later (and is safe to repeat).
    #[error("Temporal unavailable: {0}")]
    Unavailable(String),
    /// The signal's workflow does not exist (and the rule does not start it).
    #[error("workflow not found: {0}")]
    WorkflowNotFound(String),
    /// Temporal refused the request as it is (unknown namespace, invalid
    /// search attribute, payload too large ...); repeating it will not help.
    #[error("rejected by Temporal: {0}")]
    Rejected(String),
}

impl TemporalError {
    /// Whether retrying the same action later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// Carries out planned actions in Temporal.
pub trait Gateway: Send + Sync + 'static {
    /// Executes one action. Repeating a call with the same action and
    /// context never has a second effect.
    fn execute<'a>(
        &'a self,
        action: &'a PlannedAction,
        call: &'a CallContext,
        request_key: &'a str,
    ) -> BoxFuture<'a, Result<ActionResult, TemporalError>>;

    /// Whether Temporal answered the last health check.
    fn is_ready(&self) -> bool;

    /// A link to the workflow in the Temporal Web UI, if configured.
    fn workflow_link(&self, _workflow_id: &str, _run_id: Option<&str>) -> Option<String> {
        None
    }
}

/// The Temporal Web UI page of a workflow (of one run, when known).
pub fn web_ui_link(base: &str, namespace: &str, workflow_id: &str, run_id: Option<&str>) -> String {
    let base = base.trim_end_matches('/');
    let ns = urlencode(namespace);
    let wf = urlencode(workflow_id);
    match run_id {
        Some(r) => format!(
            "{base}/namespaces/{ns}/workflows/{wf}/{}/history",
            urlencode(r)
        ),
        None => format!("{base}/namespaces/{ns}/workflows/{wf}"),
    }
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
