//! Rule files exactly as written (serde shapes; unknown fields are errors).

use serde::Deserialize;
use serde_json::{Map, Value};

/// One rule file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFileSpec {
    /// Format version; only `1` exists.
    pub version: u32,
    /// Rules, evaluated in order.
    pub rules: Vec<RuleSpec>,
    /// Example deliveries with expected actions; read by `check --run-tests`
    /// (`crate::ruletests`), accepted and skipped here.
    #[serde(default)]
    #[expect(dead_code, reason = "parsed by ruletests, only allowed here")]
    pub tests: Option<serde_yaml_ng::Value>,
}

/// One rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleSpec {
    /// Unique name across all files.
    pub name: String,
    /// Free text for humans.
    #[serde(default)]
    pub description: Option<String>,
    /// Event types this rule applies to; an entry may end in `*`.
    pub events: Vec<String>,
    /// CEL condition; the rule matches when it is `true`.
    #[serde(default)]
    pub when: Option<String>,
    /// Start a workflow.
    #[serde(default)]
    pub start: Option<StartSpec>,
    /// Signal a workflow (with `startIfMissing`: signal-with-start).
    #[serde(default)]
    pub signal: Option<SignalSpec>,
}

/// `start:` action.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StartSpec {
    /// Workflow type name.
    pub workflow_type: String,
    /// Task queue.
    pub task_queue: String,
    /// Workflow id template.
    pub workflow_id: String,
    /// Workflow input (one JSON payload).
    #[serde(default)]
    pub input: Option<Value>,
    /// Extra memo fields.
    #[serde(default)]
    pub memo: Option<Map<String, Value>>,
    /// Search attributes (must be registered in the namespace).
    #[serde(default)]
    pub search_attributes: Option<Map<String, Value>>,
    /// Workflow execution timeout, e.g. `24h`.
    #[serde(default)]
    pub execution_timeout: Option<String>,
    /// What to do when a workflow with this id is already running.
    #[serde(default)]
    pub on_conflict: Option<OnConflict>,
}

/// `signal:` action.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignalSpec {
    /// Workflow id template.
    pub workflow_id: String,
    /// Signal name.
    pub signal_name: String,
    /// Signal input (one JSON payload).
    #[serde(default)]
    pub input: Option<Value>,
    /// Start the workflow when it is not running (signal-with-start).
    #[serde(default)]
    pub start_if_missing: Option<StartIfMissingSpec>,
    /// Memo for a workflow this signal starts.
    #[serde(default)]
    pub memo: Option<Map<String, Value>>,
    /// Search attributes for a workflow this signal starts.
    #[serde(default)]
    pub search_attributes: Option<Map<String, Value>>,
    /// Execution timeout for a workflow this signal starts.
    #[serde(default)]
    pub execution_timeout: Option<String>,
}

/// `signal.startIfMissing:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StartIfMissingSpec {
    /// Workflow type to start.
    pub workflow_type: String,
    /// Task queue.
    pub task_queue: String,
    /// Workflow input when started; without it the workflow starts with no arguments.
    #[serde(default)]
    pub input: Option<Value>,
}

/// Workflow-id conflict handling for `start`.
#[derive(Clone, Copy, Debug, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OnConflict {
    /// Keep the running workflow and report it.
    #[default]
    UseExisting,
    /// Report a conflict; start nothing.
    Fail,
    /// Terminate the running workflow and start a new one.
    TerminateExisting,
}
