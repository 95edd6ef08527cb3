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
