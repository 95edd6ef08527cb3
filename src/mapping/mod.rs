//! Deciding: rule files are loaded and compiled once, then evaluated against
//! each delivery. Pure and synchronous: no I/O happens here after loading.

mod celval;
mod spec;
mod template;

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use serde::Serialize;
use serde_json::{Map, Value};

pub use celval::{ADO_FIELDS, EVENT_FIELDS, Fields, Reads, VARIABLE_NAMES, Variables, to_cel};
pub use spec::OnConflict;
pub use template::{Expr, Guard, GuardTest, GuardVar, NullText, Template};
pub(crate) use template::{children as expr_children, select_path};

use spec::{RuleFileSpec, RuleSpec};

/// A rule file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// I/O.
    #[error("cannot read {path}: {source}")]
    Read {
        /// File or directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// YAML or schema error (with line and column).
    #[error("{path}: {message}")]
    Syntax {
        /// File.
        path: PathBuf,
        /// Message.
        message: String,
    },
    /// A rule is invalid.
    #[error("{path}: rule {rule:?}: {field}: {message}")]
    Rule {
        /// File.
        path: PathBuf,
        /// Rule name.
        rule: String,
        /// Field within the rule.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Kind of Temporal action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ActionKind {
    /// StartWorkflowExecution.
    Start,
    /// SignalWorkflowExecution.
    Signal,
    /// SignalWithStartWorkflowExecution.
    SignalWithStart,
}

impl ActionKind {
    /// Name used in responses, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Signal => "signal",
            Self::SignalWithStart => "signalWithStart",
        }
    }
}

/// All rules, in evaluation order.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    /// [`RuleSet::needs`] of every event type the bridge knows, worked out
    /// at load instead of for each delivery.
    known: HashMap<&'static str, Needs>,
}

/// A compiled rule.
#[derive(Debug)]
pub struct Rule {
    /// Unique name (shared with each of its decisions).
    pub name: Arc<str>,
    /// File it came from.
    pub file: PathBuf,
    /// Free text for humans.
    pub description: Option<String>,
    /// Event type patterns.
    pub events: Vec<EventPattern>,
    /// Compiled condition.
    pub when: Option<Expr>,
    /// What to do when it matches.
    pub action: ActionTemplate,
    /// What its expressions read, and whether one holds a comprehension
    /// ([`Expr::iterates`]), so that its evaluation needs a deadline.
    needs: Needs,
    /// The comparison `when` must pass first, checked without CEL.
    guard: Option<Guard>,
    /// The end of its decision's reason for a delivery it does not listen
    /// to, and the reason when `when` is false: the same for every delivery,
    /// so written once.
    reasons: Reasons,
}

#[derive(Debug, Default)]
struct Reasons {
    not_listening: String,
    when_false: Arc<str>,
}

/// What evaluating a delivery of one event type takes
/// ([`RuleSet::needs`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// The variables the listening rules read: the only ones to build.
    pub reads: Reads,
    /// The top-level fields of `ado` they read: the only ones to convert.
    pub ado: Fields,
    /// The top-level fields of `event` they read.
    pub event: Fields,
    /// Whether a listening rule holds a comprehension: only then can
    /// evaluation take longer than a few passes over the delivery, so only
    /// then does it need a thread of its own and a deadline
    /// (`limits.ruleTimeout`).
    pub iterates: bool,
}

impl Needs {
    /// Everything: every variable, whole.
    pub const ALL: Self = Self {
        reads: Reads::ALL,
        ado: Fields::ALL,
        event: Fields::ALL,
        iterates: true,
    };

    /// What `exprs` need.
    fn of(exprs: &[&Expr]) -> Self {
        exprs.iter().fold(Self::default(), |n, e| {
            n.and(Self {
                reads: Reads::of(e.variables().iter().map(String::as_str)),
                ado: e.fields_of("ado", ADO_FIELDS),
                event: e.fields_of("event", EVENT_FIELDS),
                iterates: e.iterates(),
            })
        })
    }

    /// What either needs.
    #[must_use]
    fn and(self, other: Self) -> Self {
        Self {
            reads: self.reads.and(other.reads),
            ado: self.ado.and(other.ado),
            event: self.event.and(other.event),
            iterates: self.iterates || other.iterates,
        }
    }
}

/// An `events:` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventPattern {
    /// Exact event type.
    Exact(String),
    /// Prefix (written with a trailing `*`).
    Prefix(String),
}

impl EventPattern {
    fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty event type".into());
        }
        match s.strip_suffix('*') {
            Some(prefix) if prefix.contains('*') => {
                Err(format!("{s:?}: `*` may only end a pattern"))
            }
            Some(prefix) => Ok(Self::Prefix(prefix.to_owned())),
            None if s.contains('*') => Err(format!("{s:?}: `*` may only end a pattern")),
            None => Ok(Self::Exact(s.to_owned())),
        }
    }

    /// Whether `event_type` matches.
    pub fn matches(&self, event_type: &str) -> bool {
        match self {
            Self::Exact(e) => e == event_type,
            Self::Prefix(p) => event_type.starts_with(p.as_str()),
        }
    }

    /// The pattern as written.
    pub fn as_written(&self) -> String {
        match self {
            Self::Exact(e) => e.clone(),
            Self::Prefix(p) => format!("{p}*"),
        }
    }
}

impl Rule {
    /// Whether one of its event patterns matches `event_type`.
    pub fn listens_to(&self, event_type: &str) -> bool {
        self.events.iter().any(|p| p.matches(event_type))
    }

    fn decision(&self, matched: bool, reason: Arc<str>, error: Option<String>) -> RuleDecision {
        RuleDecision {
            rule: Arc::clone(&self.name),
            matched,
            reason,
            error,
        }
    }

    /// Every expression of the rule: `when` and all templates.
    pub fn exprs(&self) -> Vec<&Expr> {
        exprs_of(self.when.as_ref(), &self.action)
    }
}

/// `when` and every template expression of `a`.
fn exprs_of<'r>(when: Option<&'r Expr>, a: &'r ActionTemplate) -> Vec<&'r Expr> {
    let templates = [
        Some(&a.workflow_id),
        a.workflow_type.as_ref(),
        a.task_queue.as_ref(),
        a.signal_name.as_ref(),
        a.input.as_ref(),
        a.start_input.as_ref(),
        a.memo.as_ref(),
        a.search_attributes.as_ref(),
    ];
    when.into_iter()
        .chain(templates.into_iter().flatten().flat_map(Template::exprs))
        .collect()
}

/// The compiled action of a rule.
#[derive(Debug)]
pub struct ActionTemplate {
    /// Start, signal or signal-with-start.
    pub kind: ActionKind,
    /// Workflow id.
    pub workflow_id: Template,
    /// Workflow type (start and signal-with-start).
    pub workflow_type: Option<Template>,
    /// Task queue (start and signal-with-start).
    pub task_queue: Option<Template>,
    /// Signal name (signal and signal-with-start).
    pub signal_name: Option<Template>,
    /// Start input, or signal input for signals.
    pub input: Option<Template>,
    /// Workflow input for signal-with-start.
    pub start_input: Option<Template>,
    /// Memo.
    pub memo: Option<Template>,
    /// Search attributes.
    pub search_attributes: Option<Template>,
    /// Execution timeout.
    pub execution_timeout: Option<Duration>,
    /// Conflict policy for start.
    pub on_conflict: OnConflict,
}

/// One rendered action, ready for Temporal.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedAction {
    /// Rule that produced it.
    pub rule: String,
    /// Kind.
    pub kind: ActionKind,
    /// Workflow id.
    pub workflow_id: String,
    /// Workflow type (start, signal-with-start).
    pub workflow_type: Option<String>,
    /// Task queue (start, signal-with-start).
    pub task_queue: Option<String>,
    /// Signal name (signal, signal-with-start).
    pub signal_name: Option<String>,
    /// Input of the start or the signal.
    pub input: Option<Value>,
    /// Workflow input of a signal-with-start.
    pub start_input: Option<Value>,
    /// User memo fields.
    pub memo: Map<String, Value>,
    /// Search attributes.
    pub search_attributes: Map<String, Value>,
    /// Execution timeout, e.g. `2h`.
    #[serde(with = "opt_secs", default)]
    pub execution_timeout: Option<Duration>,
    /// Conflict policy (start only).
    pub on_conflict: OnConflict,
}

mod opt_secs {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| humantime::parse_duration(&s).map_err(D::Error::custom))
            .transpose()
    }
}

/// What happened to one rule for one delivery.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleDecision {
    /// Rule name.
    pub rule: Arc<str>,
    /// Whether it produced an action.
    pub matched: bool,
    /// Why or why not, in words. (Shared: most reasons are the same for
    /// every delivery, and a delivery has one decision per rule.)
    pub reason: Arc<str>,
    /// The CEL or template error, if evaluation failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RuleDecision {
    /// Whether one of `decisions` failed to evaluate.
    pub fn any_failed(decisions: &[Self]) -> bool {
        decisions.iter().any(|d| d.error.is_some())
    }
}

/// The result of evaluating every rule against one delivery.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Evaluation {
    /// One decision per rule, in order.
    pub decisions: Vec<RuleDecision>,
    /// Actions of the rules that matched, in rule order.
    pub actions: Vec<PlannedAction>,
}

impl Evaluation {
    /// Whether any rule failed to evaluate.
    pub fn has_errors(&self) -> bool {
        RuleDecision::any_failed(&self.decisions)
    }
}

impl RuleSet {
    /// Loads every rule file in `paths` (files, or directories of `*.yaml` /
    /// `*.yml`, excluding `*.test.yaml`), in order.
    pub fn load(paths: &[PathBuf]) -> Result<Self, RuleError> {
        let mut set = RuleSet::default();
        let mut names = HashSet::new();
        for path in paths {
            for file in rule_files(path)? {
                let text = std::fs::read_to_string(&file).map_err(|source| RuleError::Read {
                    path: file.clone(),
                    source,
                })?;
                for rule in Self::parse_file(&file, &text)? {
                    if !names.insert(rule.name.clone()) {
                        return Err(RuleError::Rule {
                            path: file.clone(),
                            rule: rule.name.to_string(),
                            field: "name".into(),
                            message: "another rule already has this name".into(),
                        });
                    }
                    set.rules.push(rule);
                }
            }
        }
        Ok(set)
    }

    /// Parses and compiles one rule file's text.
    pub fn parse_file(path: &Path, text: &str) -> Result<Vec<Rule>, RuleError> {
        let spec: RuleFileSpec = serde_yaml_ng::from_str(text).map_err(|e| RuleError::Syntax {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        if spec.version != 1 {
            return Err(RuleError::Syntax {
                path: path.to_owned(),
                message: format!(
                    "version {} is not supported; use `version: 1`",
                    spec.version
                ),
            });
        }
        spec.rules
            .into_iter()
            .map(|r| compile_rule(path, r))
            .collect()
    }

    /// Builds a set from compiled rules (tests, benchmarks).
    pub fn from_rules(rules: Vec<Rule>) -> Self {
        let mut set = Self {
            rules,
            known: HashMap::new(),
        };
        set.known = crate::ado::KNOWN_EVENT_TYPES
            .iter()
            .map(|t| (*t, set.needs_of(t)))
            .collect();
        set
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// What a delivery of `event_type` needs from the rules that listen to
    /// it.
    pub fn needs(&self, event_type: &str) -> Needs {
        self.known
            .get(event_type)
            .copied()
            .unwrap_or_else(|| self.needs_of(event_type))
    }

    /// [`RuleSet::needs`], in one pass over the rules.
    fn needs_of(&self, event_type: &str) -> Needs {
        self.rules
            .iter()
            .filter(|r| r.listens_to(event_type))
            .fold(Needs::default(), |n, r| n.and(r.needs))
    }

    /// Evaluates every rule against one delivery.
    pub fn evaluate(&self, vars: &Variables<'_>) -> Evaluation {
        self.evaluate_reading(vars, self.needs(event_type(vars)))
    }

    /// [`RuleSet::evaluate`] for a caller that already knows what the
    /// listening rules read ([`RuleSet::needs`]).
    pub fn evaluate_reading(&self, vars: &Variables<'_>, needs: Needs) -> Evaluation {
        let event_type = event_type(vars);
        // Built for the first rule its guard does not rule out: when every
        // listening rule is ruled out, no CEL value is made at all.
        let mut ctx = None;
        let mut eval = Evaluation::default();
        let not_listening = format!("event type {event_type}");
        for rule in &self.rules {
            if !rule.listens_to(event_type) {
                let reason = [not_listening.as_str(), &rule.reasons.not_listening].concat();
                eval.decisions
                    .push(rule.decision(false, reason.into(), None));
                continue;
            }
            let span = tracing::debug_span!(
                "rule.evaluate",
                rule = %rule.name,
                rule.matched = tracing::field::Empty,
                rule.error = tracing::field::Empty,
            );
            let ruled_out = rule.guard.as_ref().is_some_and(|g| g.rules_out_in(vars));
            let (decision, action) = if ruled_out {
                let reason = Arc::clone(&rule.reasons.when_false);
                (rule.decision(false, reason, None), None)
            } else {
                let ctx = ctx.get_or_insert_with(|| vars.context_reading(&needs));
                span.in_scope(|| decide(rule, ctx))
            };
            span.record("rule.matched", decision.matched);
            if let Some(e) = &decision.error {
                span.record("rule.error", e.as_str());
            }
            eval.decisions.push(decision);
            eval.actions.extend(action);
        }
        eval
    }
}

/// The event type of the delivery `vars` hold.
fn event_type<'v>(vars: &Variables<'v>) -> &'v str {
    vars.event
        .get("eventType")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn rule_files(path: &Path) -> Result<Vec<PathBuf>, RuleError> {
    let meta = std::fs::metadata(path).map_err(|source| RuleError::Read {
        path: path.to_owned(),
        source,
    })?;
    if meta.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|source| RuleError::Read {
            path: path.to_owned(),
            source,
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            (name.ends_with(".yaml") || name.ends_with(".yml"))
                && !name.ends_with(".test.yaml")
                && !name.ends_with(".test.yml")
                && !name.starts_with('.')
                && p.is_file()
        })
        .collect();
    files.sort();
    Ok(files)
}

fn compile_rule(path: &Path, spec: RuleSpec) -> Result<Rule, RuleError> {
    let name = spec.name.clone();
    let err = |field: &str, message: String| RuleError::Rule {
        path: path.to_owned(),
        rule: name.clone(),
        field: field.to_owned(),
        message,
    };
    if name.is_empty()
        || name.len() > 100
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(err(
            "name",
            "use 1-100 characters of A-Z, a-z, 0-9, '-', '_', '.'".into(),
        ));
    }
    if spec.events.is_empty() {
        return Err(err("events", "list at least one event type".into()));
    }
    let events = spec
        .events
        .iter()
        .map(|e| EventPattern::parse(e))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| err("events", m))?;
    let when = spec
        .when
        .as_deref()
        .map(Expr::compile)
        .transpose()
        .map_err(|m| err("when", m))?;
    if let Some(w) = &when {
        check_variables(w).map_err(|m| err("when", m))?;
    }
    let tpl = |field: &str, v: &Value| -> Result<Template, RuleError> {
        let t = Template::compile(v).map_err(|m| err(field, m))?;
        for e in t.exprs() {
            check_variables(e).map_err(|m| err(field, m))?;
        }
        Ok(t)
    };
    let tpl_str = |field: &str, s: &str| tpl(field, &Value::String(s.to_owned()));
    let tpl_map = |field: &str, m: &Option<Map<String, Value>>| {
        m.as_ref()
            .map(|m| tpl(field, &Value::Object(m.clone())))
            .transpose()
    };
    let timeout = |field: &str, t: &Option<String>| {
        t.as_deref()
            .map(|t| {
                humantime::parse_duration(t.trim())
                    .map_err(|e| err(field, format!("invalid duration {t:?}: {e}")))
            })
            .transpose()
    };

    let action = match (spec.start, spec.signal) {
        (Some(_), Some(_)) => {
            return Err(err(
                "start",
                "a rule has either `start` or `signal`, not both".into(),
            ));
        }
        (None, None) => return Err(err("start", "a rule needs `start` or `signal`".into())),
        (Some(s), None) => ActionTemplate {
            kind: ActionKind::Start,
            workflow_id: tpl_str("start.workflowId", &s.workflow_id)?,
            workflow_type: Some(tpl_str("start.workflowType", &s.workflow_type)?),
            task_queue: Some(tpl_str("start.taskQueue", &s.task_queue)?),
            signal_name: None,
            input: s
                .input
                .as_ref()
                .map(|v| tpl("start.input", v))
                .transpose()?,
            start_input: None,
            memo: tpl_map("start.memo", &s.memo)?,
            search_attributes: tpl_map("start.searchAttributes", &s.search_attributes)?,
            execution_timeout: timeout("start.executionTimeout", &s.execution_timeout)?,
            on_conflict: s.on_conflict.unwrap_or_default(),
        },
        (None, Some(s)) => {
            let starts = s.start_if_missing.is_some();
            if !starts
                && (s.memo.is_some()
                    || s.search_attributes.is_some()
                    || s.execution_timeout.is_some())
            {
                return Err(err(
                    "signal",
                    "memo, searchAttributes and executionTimeout apply only when the signal may start the workflow (add startIfMissing)".into(),
                ));
            }
            let sim = s.start_if_missing.as_ref();
            ActionTemplate {
                kind: if starts {
                    ActionKind::SignalWithStart
                } else {
                    ActionKind::Signal
                },
                workflow_id: tpl_str("signal.workflowId", &s.workflow_id)?,
                workflow_type: sim
                    .map(|m| tpl_str("signal.startIfMissing.workflowType", &m.workflow_type))
                    .transpose()?,
                task_queue: sim
                    .map(|m| tpl_str("signal.startIfMissing.taskQueue", &m.task_queue))
                    .transpose()?,
                signal_name: Some(tpl_str("signal.signalName", &s.signal_name)?),
                input: s
                    .input
                    .as_ref()
                    .map(|v| tpl("signal.input", v))
                    .transpose()?,
                start_input: sim
                    .and_then(|m| m.input.as_ref())
                    .map(|v| tpl("signal.startIfMissing.input", v))
                    .transpose()?,
                memo: tpl_map("signal.memo", &s.memo)?,
                search_attributes: tpl_map("signal.searchAttributes", &s.search_attributes)?,
                execution_timeout: timeout("signal.executionTimeout", &s.execution_timeout)?,
                on_conflict: OnConflict::UseExisting,
            }
        }
    };
    let listed: Vec<_> = events.iter().map(EventPattern::as_written).collect();
    let reasons = Reasons {
        not_listening: format!(" is not in events {listed:?}"),
        when_false: when
            .as_ref()
            .map(|w| format!("`when` is false: {}", w.source))
            .unwrap_or_default()
            .into(),
    };
    let needs = Needs::of(&exprs_of(when.as_ref(), &action));
    let guard = when.as_ref().and_then(Expr::guard);
    Ok(Rule {
        name: spec.name.into(),
        description: spec.description,
        file: path.to_owned(),
        events,
        when,
        action,
        needs,
        guard,
        reasons,
    })
}

/// Rejects expressions that read variables rules never get, so a typo like
/// `ado_branch` fails at load instead of on every delivery.
fn check_variables(expr: &Expr) -> Result<(), String> {
    for var in expr.variables() {
        if !VARIABLE_NAMES.contains(&var.as_str()) && !is_bound_by_macro(&expr.source, &var) {
            return Err(format!(
                "`{}` reads unknown variable `{var}`; rules see {}",
                expr.source,
                VARIABLE_NAMES.join(", ")
            ));
        }
    }
    Ok(())
}

/// Whether `var` is a comprehension variable, e.g. `c` in `x.exists(c, ...)`.
fn is_bound_by_macro(source: &str, var: &str) -> bool {
    ["all", "exists", "exists_one", "map", "filter"]
        .iter()
        .any(|m| {
            source.match_indices(&format!("{m}(")).any(|(i, _)| {
                source[i + m.len() + 1..]
                    .trim_start()
                    .strip_prefix(var)
                    .is_some_and(|rest| rest.trim_start().starts_with(','))
            })
        })
}

/// One rule that listens to the event: its `when`, then its action.
fn decide(rule: &Rule, ctx: &cel::Context) -> (RuleDecision, Option<PlannedAction>) {
    let decision = |matched, reason, error| rule.decision(matched, reason, error);
    if let Some(when) = &rule.when {
        match when.eval(ctx) {
            Ok(cel::Value::Bool(true)) => {}
            Ok(cel::Value::Bool(false)) => {
                return (
                    decision(false, Arc::clone(&rule.reasons.when_false), None),
                    None,
                );
            }
            Ok(other) => {
                let msg = format!("`when` must be a bool, got {:?}", other.type_of());
                return (decision(false, "`when` failed".into(), Some(msg)), None);
            }
            Err(e) => return (decision(false, "`when` failed".into(), Some(e)), None),
        }
    }
    match render(rule, ctx) {
        Ok(action) => (decision(true, "matched".into(), None), Some(action)),
        Err(e) => (
            decision(true, "action failed to render".into(), Some(e)),
            None,
        ),
    }
}

fn render(rule: &Rule, ctx: &cel::Context) -> Result<PlannedAction, String> {
    let a = &rule.action;
    let name = |field: &str, t: &Option<Template>| {
        t.as_ref()
            .map(|t| t.render_name(ctx).map_err(|e| format!("{field}: {e}")))
            .transpose()
    };
    let value = |field: &str, t: &Option<Template>| {
        t.as_ref()
            .map(|t| {
                t.render(ctx, NullText::Empty)
                    .map_err(|e| format!("{field}: {e}"))
            })
            .transpose()
    };
    let map = |field: &str, t: &Option<Template>| -> Result<Map<String, Value>, String> {
        match value(field, t)? {
            None => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m),
            Some(other) => Err(format!("{field}: must be an object, got {other}")),
        }
    };
    Ok(PlannedAction {
        rule: rule.name.to_string(),
        kind: a.kind,
        workflow_id: a
            .workflow_id
            .render_name(ctx)
            .map_err(|e| format!("workflowId: {e}"))?,
        workflow_type: name("workflowType", &a.workflow_type)?,
        task_queue: name("taskQueue", &a.task_queue)?,
        signal_name: name("signalName", &a.signal_name)?,
        input: value("input", &a.input)?,
        start_input: value("startIfMissing.input", &a.start_input)?,
        memo: map("memo", &a.memo)?,
        search_attributes: map("searchAttributes", &a.search_attributes)?,
        execution_timeout: a.execution_timeout,
        on_conflict: a.on_conflict,
    })
}

#[cfg(test)]
pub(crate) mod tests;
