//! One delivery from verified bytes to an answer: parse, normalize,
//! evaluate, act, remember. Everything after authentication lives here, so
//! the HTTP edge stays thin and the whole path is testable without HTTP.

use std::{sync::Arc, time::SystemTime};

use serde::Serialize;
use serde_json::{Map, Value};
use tracing::Instrument;

use crate::{
    ado::{self, Envelope},
    config::{Allow, DeliveryMode},
    correlation,
    delivery_log::{DeliveryLog, Entry},
    dispatch::Dispatcher,
    mapping::{ActionKind, Evaluation, Needs, PlannedAction, RuleDecision, RuleSet, Variables},
    store::{ActionRow, Admission, DeliveryRecord, NewAction, Store, StoreError, unix_ms},
    temporal::{ActionResult, ActionStatus, CallContext, Gateway, TemporalError},
};

/// The overall result of a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Every action was accepted by Temporal.
    Accepted,
    /// No rule matched; nothing to do.
    Ignored,
    /// The same notification or event was already handled.
    Duplicate,
    /// Nothing was done because of a rule error or a permanent Temporal
    /// rejection (details per rule and action).
    Failed,
    /// Kept durably; Temporal has not confirmed every action yet. The
    /// bridge keeps delivering.
    Queued,
    /// Temporal could not be reached, or the spool is full; ADO should retry.
    Unavailable,
    /// The request was refused before evaluation (credentials, body).
    Rejected,
    /// Valid credentials used outside their grant (organization, project,
    /// rule).
    Forbidden,
    /// Dry run: decisions only, nothing sent.
    DryRun,
}

/// What happened to one action.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ActionReport {
    /// Rule that produced it.
    pub rule: String,
    /// `start`, `signal` or `signalWithStart`.
    pub action: ActionKind,
    /// Workflow id.
    pub workflow_id: String,
    /// Workflow type, for starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_type: Option<String>,
    /// Task queue, for starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_queue: Option<String>,
    /// Signal name, for signals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal_name: Option<String>,
    /// Run id, when Temporal said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Temporal's answer, when it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ActionStatus>,
    /// The error, when the action failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Link to the workflow in the Temporal Web UI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The input that was (or, in a dry run, would be) sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
}

/// The JSON body the bridge answers with.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Correlation id of this delivery.
    pub correlation_id: String,
    /// Overall outcome.
    pub outcome: Outcome,
    /// Why, in words, when not obvious.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// ADO event id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// ADO event type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// One entry per action.
    #[serde(default)]
    pub actions: Vec<ActionReport>,
    /// One entry per rule: matched or why not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleDecision>,
    /// For duplicates: the correlation id of the first delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    /// The W3C trace id of this delivery (when traces are exported, or
    /// the caller sent one): where to look in the tracing backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

/// An answer: HTTP status, body, and whether ADO should retry later.
#[derive(Clone, Debug)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// Seconds for `Retry-After`, with 503.
    pub retry_after: Option<u64>,
    /// Body.
    pub report: Report,
    /// `report` as JSON, made by the first [`Answer::body`] and shared by
    /// the response and the delivery log: the report is final by then.
    body: std::sync::OnceLock<String>,
}

impl Report {
    /// Whether a rule failed to evaluate.
    pub fn rules_failed(&self) -> bool {
        RuleDecision::any_failed(&self.rules)
    }
}

impl Answer {
    /// An answer with `status` (503 asks ADO to retry later).
    pub fn new(status: u16, report: Report) -> Self {
        Self {
            status,
            retry_after: (status == 503).then_some(RETRY_AFTER_SECS),
            report,
            body: std::sync::OnceLock::new(),
        }
    }

    /// The report as JSON, serialized once.
    pub fn body(&self) -> &str {
        self.body
            .get_or_init(|| serde_json::to_string(&self.report).unwrap_or_default())
    }

    /// Takes the JSON body (serializing the report if nobody did yet).
    pub fn into_body(self) -> String {
        self.body();
        self.body.into_inner().unwrap_or_default()
    }

    /// A refusal before evaluation (400/401/404/413 ...).
    pub fn rejected(status: u16, correlation_id: String, reason: impl Into<String>) -> Self {
        Self::new(
            status,
            Report {
                correlation_id,
                outcome: Outcome::Rejected,
                reason: Some(reason.into()),
                event_id: None,
                event_type: None,
                actions: vec![],
                rules: vec![],
                duplicate_of: None,
                trace_id: None,
            },
        )
    }
}

/// A verified delivery, ready for processing.
pub struct Delivery {
    /// Source the credentials belong to.
    pub source: String,
    /// What that source may trigger.
    pub allow: crate::config::Allow,
    /// Which secret of each scheme matched (key ids, for the log).
    pub key_ids: String,
    /// Request headers, lower-cased, credentials already removed.
    pub headers: Map<String, Value>,
    /// The caller's `X-Correlation-ID`, if safe.
    pub correlation_header: Option<String>,
    /// The caller's W3C trace context, if valid.
    pub trace: Option<crate::temporal::TraceContext>,
    /// The raw body.
    pub body: bytes::Bytes,
    /// Decide only; send nothing.
    pub dry_run: bool,
}

/// Everything a delivery needs: rules, Temporal, the store.
pub struct Bridge {
    /// Compiled rules.
    pub rules: Arc<RuleSet>,
    /// Where actions go.
    pub gateway: Arc<dyn Gateway>,
    /// Redelivery memory and spool.
    pub store: Store,
    /// Durable or direct.
    pub mode: DeliveryMode,
    /// Delivers spooled actions.
    pub dispatcher: Arc<Dispatcher>,
    /// Longest rule evaluation.
    pub rule_timeout: std::time::Duration,
    /// Threads rule evaluations run on.
    pub evaluators: crate::workers::Workers,
    /// Metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Log-only entries (refusals, duplicates, rule errors).
    pub log: DeliveryLog,
}

/// An evaluation that produced nothing, for a reason that concerns all
/// rules.
fn evaluation_failed(reason: &str, error: String) -> Evaluation {
    Evaluation {
        decisions: vec![RuleDecision {
            rule: "*".into(),
            matched: false,
            reason: reason.into(),
            error: Some(error),
        }],
        actions: vec![],
    }
}

/// Seconds ADO is told to wait when Temporal is unavailable.
pub const RETRY_AFTER_SECS: u64 = 10;

impl ActionReport {
    fn planned(a: &PlannedAction) -> Self {
        Self {
            rule: a.rule.clone(),
            action: a.kind,
            workflow_id: a.workflow_id.clone(),
            workflow_type: a.workflow_type.clone(),
            task_queue: a.task_queue.clone(),
            signal_name: a.signal_name.clone(),
            run_id: None,
            status: None,
            error: None,
            link: None,
            input: None,
        }
    }

    fn from_row(row: &ActionRow, gateway: &dyn Gateway) -> Self {
        let planned: Option<PlannedAction> = serde_json::from_str(&row.action).ok();
        let mut r = match &planned {
            Some(p) => Self::planned(p),
            None => Self {
                rule: row.rule.clone(),
                action: ActionKind::Start,
                workflow_id: row.workflow_id.clone(),
                workflow_type: None,
                task_queue: None,
                signal_name: None,
                run_id: None,
                status: None,
                error: None,
                link: None,
                input: None,
            },
        };
        r.run_id = row.run_id.clone();
        r.status = row.result.as_deref().and_then(ActionStatus::parse);
        r.error = row.last_error.clone();
        if row.state == "done" {
            r.link = gateway.workflow_link(&row.workflow_id, row.run_id.as_deref());
        }
        r
    }

    fn record(&mut self, result: &Result<ActionResult, TemporalError>, gateway: &dyn Gateway) {
        match result {
            Ok(r) => {
                self.link = gateway.workflow_link(&self.workflow_id, r.run_id.as_deref());
                self.status = Some(r.status);
                self.run_id = r.run_id.clone();
                self.error = None;
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }
}

impl Report {
    fn new(correlation_id: &str, envelope: &Envelope) -> Self {
        Self {
            correlation_id: correlation_id.to_owned(),
            outcome: Outcome::Ignored,
            reason: None,
            event_id: Some(envelope.id.clone()),
            event_type: Some(envelope.event_type.clone()),
            actions: vec![],
            rules: vec![],
            duplicate_of: None,
            trace_id: None,
        }
    }
}

impl Bridge {
    /// Processes one verified delivery.
    pub async fn handle(&self, delivery: Delivery) -> Answer {
        let received = SystemTime::now();
        let parsed =
            tracing::debug_span!("delivery.parse").in_scope(|| Envelope::parse(&delivery.body));
        let envelope = match parsed {
            Ok(e) => e,
            Err(e) => {
                let id = delivery
                    .correlation_header
                    .clone()
                    .unwrap_or_else(correlation::random);
                tracing::warn!(correlation_id = %id, source = %delivery.source, reason = %e, "malformed delivery");
                let ans = Answer::rejected(400, id, e.to_string());
                let entry = Entry {
                    source: delivery.source,
                    received: Some(received),
                    ..Entry::default()
                };
                self.log.log_only(entry, &ans);
                return ans;
            }
        };
        let correlation_id = delivery
            .correlation_header
            .clone()
            .unwrap_or_else(|| correlation::derive(&envelope));
        // The HTTP edge opened the delivery's span; a caller without one
        // (tools, tests) gets its own.
        let mut span = tracing::Span::current();
        if span.metadata().is_none_or(|m| m.name() != "delivery") {
            span = tracing::info_span!(
                "delivery",
                source = %delivery.source,
                correlation_id = tracing::field::Empty,
                ado.event.id = tracing::field::Empty,
                ado.event.type = tracing::field::Empty,
            );
        }
        // One record for the three: the log formatter re-reads a span's
        // fields on every record.
        tracing::record_all!(
            span,
            correlation_id = correlation_id.as_str(),
            ado.event.id = envelope.id.as_str(),
            ado.event.type = envelope.event_type.as_str()
        );
        tracing::debug!(keys = %delivery.key_ids, "delivery parsed");
        self.process(delivery, envelope, correlation_id, received)
            .instrument(span)
            .await
    }

    async fn process(
        &self,
        delivery: Delivery,
        envelope: Envelope,
        correlation_id: String,
        received: SystemTime,
    ) -> Answer {
        let mut report = Report::new(&correlation_id, &envelope);
        let trace = crate::telemetry::current_trace().or_else(|| delivery.trace.clone());
        report.trace_id = trace.as_ref().map(|t| t.trace_id().to_owned());
        let entry = Entry {
            source: delivery.source.clone(),
            event_id: envelope.id.clone(),
            event_type: envelope.event_type.clone(),
            notification_key: envelope.notification_key(),
            received: Some(received),
        };
        let labels = crate::metrics::Metrics::delivery(&delivery.source, &envelope.event_type);
        self.metrics.received.get_or_create(&labels).inc();
        let allow = &delivery.allow;
        if !Allow::permits(&allow.organizations, envelope.container_id("account"))
            || !Allow::permits(&allow.projects, envelope.container_id("project"))
        {
            tracing::warn!("delivery refused: organization or project outside the source's grant");
            report.outcome = Outcome::Forbidden;
            report.reason =
                Some("this source may not deliver events of this organization or project".into());
            return self.log_only(entry, Answer::new(403, report));
        }
        let mut evaluation = self.evaluate(&delivery, &envelope, &correlation_id).await;
        // The answer owns the decisions from here on.
        report.rules = std::mem::take(&mut evaluation.decisions);
        if let Some(rule) = evaluation
            .actions
            .iter()
            .find(|a| !delivery.allow.permits_rule(&a.rule))
        {
            tracing::warn!(rule = %rule.rule, "delivery refused: rule outside the source's grant");
            report.outcome = Outcome::Forbidden;
            report.reason = Some(format!("this source may not trigger rule {:?}", rule.rule));
            return self.log_only(entry, Answer::new(403, report));
        }
        if delivery.dry_run {
            report.outcome = Outcome::DryRun;
            report.actions = evaluation
                .actions
                .iter()
                .map(|a| ActionReport {
                    input: a.input.clone(),
                    ..ActionReport::planned(a)
                })
                .collect();
            return Answer::new(200, report);
        }
        let call = CallContext {
            correlation_id: correlation_id.clone(),
            event_id: envelope.id.clone(),
            event_type: envelope.event_type.clone(),
            source: delivery.source.clone(),
            received_ms: unix_ms(received),
            // Spooled actions continue this delivery's trace when they go.
            trace,
        };
        if evaluation.actions.is_empty() {
            return self.finish_without_actions(report, entry).await;
        }
        // Only deliveries with actions can be duplicates (as in durable
        // mode, a redelivery after the rules changed is answered by the
        // rules of now). Direct mode sends before it records, so it asks
        // now; durable mode's admission finds earlier deliveries in the
        // same step that records this one.
        if self.mode == DeliveryMode::Direct {
            match self
                .store
                .find(
                    &envelope.id,
                    &delivery.source,
                    envelope.notification_key().as_deref(),
                )
                .await
            {
                Ok(Some((earlier, rows))) => {
                    let ans = self.duplicate(report, &envelope.id, earlier, &rows);
                    return self.log_only(entry, ans);
                }
                Ok(None) => {}
                Err(e) => return self.log_only(entry, self.store_unavailable(report, &e)),
            }
        }
        let ans = match self.mode {
            DeliveryMode::Direct => {
                self.deliver_direct(report, &evaluation, call, entry.clone())
                    .await
            }
            DeliveryMode::Durable => {
                self.deliver_durable(report, &evaluation, call, entry.clone())
                    .await
            }
        };
        // Answers that kept nothing (503s, duplicates found at admission)
        // still belong in the log.
        if ans.status == 503 || ans.report.outcome == Outcome::Duplicate {
            self.log.log_only(entry, &ans);
        }
        ans
    }

    /// Logs an answer that changes nothing, then returns it.
    fn log_only(&self, entry: Entry, ans: Answer) -> Answer {
        self.log.log_only(entry, &ans);
        ans
    }

    /// Evaluates the rules. Rules without comprehensions cost a few passes
    /// over the delivery at most and run right here; when a rule for this
    /// event type holds one, evaluation runs on a thread of its own,
    /// bounded in time: a rule that runs too long (a comprehension over a
    /// huge list) fails the delivery instead of holding a server thread.
    async fn evaluate(
        &self,
        delivery: &Delivery,
        envelope: &Envelope,
        correlation_id: &str,
    ) -> Evaluation {
        let span = tracing::debug_span!("delivery.evaluate", rules = self.rules.rules().len());
        let needs = self.rules.needs(&envelope.event_type);
        // The normalized view, as JSON, only for rules that read it.
        let ado = if needs.reads.has("ado") {
            serde_json::to_value(ado::normalize(envelope)).unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        let evaluation = if needs.iterates {
            self.evaluate_apart(delivery, envelope, ado, needs, correlation_id, span)
                .await
        } else {
            // A panic (a bug in CEL, say) fails this delivery as it would
            // on the pool, instead of answering 503 to every redelivery.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                span.in_scope(|| {
                    self.rules.evaluate_reading(
                        &Variables {
                            event: &envelope.raw,
                            ado: &ado,
                            headers: &delivery.headers,
                            source: &delivery.source,
                            correlation_id,
                        },
                        needs,
                    )
                })
            }))
            .unwrap_or_else(|_| {
                evaluation_failed("rule evaluation failed", "rule evaluation panicked".into())
            })
        };
        for d in &evaluation.decisions {
            match &d.error {
                Some(err) => {
                    tracing::warn!(rule = %d.rule, error = %err, "rule failed to evaluate")
                }
                None => {
                    tracing::debug!(rule = %d.rule, matched = d.matched, reason = %d.reason, "rule evaluated")
                }
            }
        }
        evaluation
    }

    /// Evaluates on a thread of the evaluators' pool within `rule_timeout`.
    async fn evaluate_apart(
        &self,
        delivery: &Delivery,
        envelope: &Envelope,
        ado: Value,
        needs: Needs,
        correlation_id: &str,
        span: tracing::Span,
    ) -> Evaluation {
        let rules = Arc::clone(&self.rules);
        let event = envelope.raw.clone();
        let headers = delivery.headers.clone();
        let source = delivery.source.clone();
        let correlation = correlation_id.to_owned();
        // Not the blocking pool: an evaluation that overruns is abandoned
        // (CEL cannot be interrupted) and must not hold up anything else,
        // shutdown included (see `workers`).
        let (tx, rx) = tokio::sync::oneshot::channel();
        let spawned = self.evaluators.run(move || {
            let _entered = span.enter();
            let vars = Variables {
                event: &event,
                ado: &ado,
                headers: &headers,
                source: &source,
                correlation_id: &correlation,
            };
            let _ = tx.send(rules.evaluate_reading(&vars, needs));
        });
        match spawned {
            Err(e) => evaluation_failed(
                "rule evaluation failed",
                format!("cannot start rule evaluation: {e}"),
            ),
            Ok(_) => match tokio::time::timeout(self.rule_timeout, rx).await {
                Ok(Ok(e)) => e,
                Ok(Err(_)) => {
                    evaluation_failed("rule evaluation failed", "rule evaluation panicked".into())
                }
                Err(_) => evaluation_failed(
                    "rule evaluation timed out",
                    format!(
                        "rules took longer than {:?} (limits.ruleTimeout)",
                        self.rule_timeout
                    ),
                ),
            },
        }
    }

    fn duplicate(
        &self,
        mut report: Report,
        event_id: &str,
        earlier: DeliveryRecord,
        rows: &[ActionRow],
    ) -> Answer {
        tracing::info!(first_correlation_id = %earlier.correlation_id, "redelivery recognised; nothing to do");
        self.metrics.duplicates.inc();
        report.outcome = Outcome::Duplicate;
        report.reason = Some(format!(
            "event {event_id} was already handled (first delivery {})",
            earlier.correlation_id
        ));
        report.actions = if rows.is_empty() {
            serde_json::from_str::<Report>(&earlier.response)
                .map(|r| r.actions)
                .unwrap_or_default()
        } else {
            rows.iter()
                .map(|r| ActionReport::from_row(r, self.gateway.as_ref()))
                .collect()
        };
        report.duplicate_of = Some(earlier.correlation_id);
        Answer::new(200, report)
    }

    fn store_unavailable(&self, mut report: Report, e: &StoreError) -> Answer {
        report.outcome = Outcome::Unavailable;
        report.reason = Some(match e {
            StoreError::Full(n) => {
                tracing::warn!(
                    pending = n,
                    "spool full; refusing deliveries until it drains"
                );
                format!("the spool is full ({n} actions waiting for Temporal); retry later")
            }
            other => {
                tracing::error!(error = %other, "delivery store unavailable");
                "the bridge cannot write to its delivery store; retry later".to_owned()
            }
        });
        Answer::new(503, report)
    }

    async fn finish_without_actions(&self, mut report: Report, entry: Entry) -> Answer {
        if report.rules_failed() {
            report.outcome = Outcome::Failed;
            report.reason = Some("a rule failed to evaluate; see rules".into());
            tracing::warn!("a rule failed to evaluate; nothing done");
            // Logged, not remembered: once the rules are fixed, ADO's
            // redelivery is processed again.
            return self.log_only(entry, Answer::new(200, report));
        } else {
            report.reason = Some("no rule matched".into());
            tracing::info!("no rule matched; ignored");
            self.metrics
                .ignored
                .get_or_create(&crate::metrics::Metrics::delivery(
                    &entry.source,
                    &entry.event_type,
                ))
                .inc();
        }
        // Logged, not remembered, like a rule error: a redelivery after the
        // rules changed may match.
        let ans = Answer::new(200, report);
        self.log.ignored(entry, &ans).await;
        ans
    }

    async fn deliver_direct(
        &self,
        mut report: Report,
        evaluation: &Evaluation,
        call: CallContext,
        entry: Entry,
    ) -> Answer {
        let mut transient = false;
        let mut rejected = false;
        for action in &evaluation.actions {
            let span = tracing::info_span!("temporal.action", rule = %action.rule, action = action.kind.as_str(), workflow.id = %action.workflow_id);
            let started = std::time::Instant::now();
            let result = self
                .gateway
                .execute(action, &call, &call.event_id)
                .instrument(span)
                .await;
            self.metrics
                .temporal_call(action.kind.as_str(), started.elapsed().as_secs_f64());
            match &result {
                Ok(r) => {
                    self.metrics.action(action.kind.as_str(), r.status.as_str());
                    self.metrics.end_to_end_latency.observe(
                        unix_ms(SystemTime::now()).saturating_sub(call.received_ms) as f64 / 1000.0,
                    );
                }
                Err(_) => self.metrics.action(action.kind.as_str(), "failed"),
            }
            let mut entry = ActionReport::planned(action);
            entry.record(&result, self.gateway.as_ref());
            report.actions.push(entry);
            match result {
                Ok(r) => {
                    tracing::info!(rule = %action.rule, workflow_id = %action.workflow_id, run_id = r.run_id.as_deref().unwrap_or(""), status = r.status.as_str(), "Temporal accepted the action")
                }
                Err(e) if e.is_transient() => {
                    tracing::warn!(rule = %action.rule, workflow_id = %action.workflow_id, error = %e, "Temporal unavailable; ADO will retry");
                    // Later actions may depend on this one (a signal after
                    // its start): stop and let ADO retry the lot.
                    transient = true;
                    break;
                }
                Err(e) => {
                    tracing::error!(rule = %action.rule, workflow_id = %action.workflow_id, error = %e, "Temporal rejected the action");
                    rejected = true;
                }
            }
        }
        if transient {
            report.outcome = Outcome::Unavailable;
            report.reason =
                Some("Temporal is unavailable; nothing was kept, ADO should retry".into());
            return Answer::new(503, report);
        }
        (report.outcome, report.reason) = if rejected {
            (
                Outcome::Failed,
                Some("Temporal rejected an action; see actions".into()),
            )
        } else {
            (Outcome::Accepted, None)
        };
        self.remember(entry, Answer::new(200, report)).await
    }

    /// Records a final answer for redelivery detection and the delivery log.
    async fn remember(&self, entry: Entry, ans: Answer) -> Answer {
        if let Err(e) = self.store.remember(entry.record(&ans, true)).await {
            // Temporal has the effect (if any); a redelivery repeats the same
            // requests harmlessly. Only its `duplicate` label is lost.
            tracing::warn!(error = %e, "could not record the delivery");
        }
        ans
    }

    async fn deliver_durable(
        &self,
        mut report: Report,
        evaluation: &Evaluation,
        call: CallContext,
        entry: Entry,
    ) -> Answer {
        let settings = self.dispatcher.settings();
        let call_json = serde_json::to_string(&call).unwrap_or_default();
        let spooled: Vec<NewAction> = evaluation
            .actions
            .iter()
            .map(|a| NewAction {
                workflow_id: a.workflow_id.clone(),
                rule: a.rule.clone(),
                kind: a.kind.as_str().to_owned(),
                action: serde_json::to_string(a).unwrap_or_default(),
                call: call_json.clone(),
                request_key: call.event_id.clone(),
            })
            .collect();
        report.actions = evaluation
            .actions
            .iter()
            .map(ActionReport::planned)
            .collect();
        report.outcome = Outcome::Queued;
        let record = entry.record(&Answer::new(202, report.clone()), true);
        // Without a place on the fast path (Temporal far behind, or
        // `fastPathWait: 0`) the answer is 202 at once and the dispatcher
        // may take the actions now; with one, it leaves them to the fast
        // path until then.
        let fast_path = self.dispatcher.fast_path();
        let hold = match &fast_path {
            Some(_) => {
                SystemTime::now() + settings.fast_path_wait + std::time::Duration::from_secs(2)
            }
            None => SystemTime::now(),
        };
        // With a place on the fast path the admission does not wait for
        // the disk: an answer of 200 comes from Temporal, which keeps the
        // actions by then. Only a 202 needs the spool on disk first.
        let unsynced = fast_path.is_some();
        let admitted = self
            .store
            .admit_with(
                !unsynced,
                record,
                spooled,
                Some(settings.max_pending),
                unix_ms(hold),
            )
            .instrument(tracing::info_span!("spool.write"))
            .await;
        let (delivery_id, seqs, heads) = match admitted {
            Ok(Admission::Admitted {
                delivery_id,
                seqs,
                heads,
            }) => (delivery_id, seqs, heads),
            Ok(Admission::Duplicate(earlier, rows)) => {
                report.actions.clear();
                // The delivery found may still be on its fast path, with
                // its spool not yet on disk; this answer says it is kept.
                // (A synced admission that finds it syncs by itself.)
                if unsynced && let Err(e) = self.store.sync().await {
                    return self.store_unavailable(report, &e);
                }
                return self.duplicate(report, &call.event_id, earlier, &rows);
            }
            Err(e) => return self.store_unavailable(report, &e),
        };

        // Fast path: try now, for a short while, in order; whatever does not
        // finish is the dispatcher's.
        let done = match fast_path {
            Some(place) => {
                let tried = tokio::time::timeout(
                    settings.fast_path_wait,
                    self.try_now(evaluation, &heads, &seqs, &call, &mut report),
                )
                .await;
                // A fast path that sent nothing (the workflow's earlier
                // action still pending) says nothing about Temporal.
                let answered = report
                    .actions
                    .iter()
                    .any(|a| a.status.is_some() || a.error.is_some());
                if tried.is_err() || answered {
                    self.dispatcher.fast_path_ended(&place, tried.is_ok());
                }
                tried.unwrap_or(0)
            }
            None => 0,
        };
        let all_done =
            done == evaluation.actions.len() && report.actions.iter().all(|a| a.status.is_some());
        if report.rules_failed() {
            report.reason = Some("some rules failed to evaluate; see rules".into());
        }
        let status = if all_done {
            report.outcome = Outcome::Accepted;
            200
        } else {
            if unsynced && let Err(e) = self.store.sync().await {
                return self.store_unavailable(report, &e);
            }
            report.reason =
                Some("kept durably; the bridge delivers it to Temporal as soon as it can".into());
            tracing::info!("queued for delivery");
            202
        };
        let ans = Answer::new(status, report);
        if all_done {
            self.store.set_answer(
                delivery_id,
                200,
                outcome_name(Outcome::Accepted),
                ans.body().to_owned(),
            );
        } else {
            self.dispatcher.nudge();
        }
        ans
    }

    /// The fast path: sends a freshly spooled delivery's actions now, in
    /// order, recording each answer in `report`, until one fails or must
    /// wait for an earlier delivery's action. Returns how many went.
    async fn try_now(
        &self,
        evaluation: &Evaluation,
        heads: &[bool],
        seqs: &[i64],
        call: &CallContext,
        report: &mut Report,
    ) -> usize {
        let mut done = 0usize;
        for (i, action) in evaluation.actions.iter().enumerate() {
            let earlier_same_wf_pending = evaluation.actions[..i]
                .iter()
                .enumerate()
                .any(|(j, a)| a.workflow_id == action.workflow_id && !report_done(report, j));
            if !heads[i] || earlier_same_wf_pending {
                break;
            }
            // The dispatcher skips claimed actions, so an action is never
            // sent twice at once.
            let Some(_claim) = self.dispatcher.claim(seqs[i]) else {
                break;
            };
            let span = tracing::info_span!("temporal.action", rule = %action.rule, action = action.kind.as_str(), workflow.id = %action.workflow_id);
            let result = self
                .dispatcher
                .attempt(seqs[i], 0, action, call, &call.event_id)
                .instrument(span)
                .await;
            let ok = result.is_ok();
            report.actions[i].record(&result, self.gateway.as_ref());
            if !ok {
                break;
            }
            done += 1;
        }
        done
    }
}

fn report_done(report: &Report, i: usize) -> bool {
    report.actions.get(i).is_some_and(|a| a.status.is_some())
}

/// The wire name of an outcome.
pub fn outcome_name(o: Outcome) -> String {
    serde_json::to_value(o)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
