//! One delivery from verified bytes to an answer: parse, normalize,
//! evaluate, act, remember. Everything after authentication lives here, so
//! the HTTP edge stays thin and the whole path is testable without HTTP.

use std::{sync::Arc, time::SystemTime};

use serde::Serialize;
use serde_json::{Map, Value};
use tracing::Instrument;

use crate::{
    ado::{self, Envelope},
    correlation,
    mapping::{ActionKind, RuleDecision, RuleSet, Variables},
    store::{DeliveryRecord, Store, unix_ms},
    temporal::{ActionStatus, CallContext, Gateway, TemporalError},
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
    /// Temporal could not be reached; ADO should retry.
    Unavailable,
    /// The request was refused before evaluation (credentials, body).
    Rejected,
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
    pub actions: Vec<ActionReport>,
    /// One entry per rule: matched or why not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleDecision>,
    /// For duplicates: the correlation id of the first delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
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
}

impl Answer {
    /// A refusal before evaluation (400/401/404/413 ...).
    pub fn rejected(status: u16, correlation_id: String, reason: impl Into<String>) -> Self {
        Self {
            status,
            retry_after: None,
            report: Report {
                correlation_id,
                outcome: Outcome::Rejected,
                reason: Some(reason.into()),
                event_id: None,
                event_type: None,
                actions: vec![],
                rules: vec![],
                duplicate_of: None,
            },
        }
    }
}

/// A verified delivery, ready for processing.
pub struct Delivery {
    /// Source the credentials belong to.
    pub source: String,
    /// Request headers, lower-cased, credentials already removed.
    pub headers: Map<String, Value>,
    /// The caller's `X-Correlation-ID`, if safe.
    pub correlation_header: Option<String>,
    /// The raw body.
    pub body: bytes::Bytes,
    /// Decide only; send nothing.
    pub dry_run: bool,
}

/// Everything a delivery needs: rules, Temporal, memory.
pub struct Bridge {
    /// Compiled rules.
    pub rules: Arc<RuleSet>,
    /// Where actions go.
    pub gateway: Arc<dyn Gateway>,
    /// Redelivery memory.
    pub store: Store,
}

/// Seconds ADO is told to wait when Temporal is unavailable.
pub const RETRY_AFTER_SECS: u64 = 10;

impl Bridge {
    /// Processes one verified delivery.
    pub async fn handle(&self, delivery: Delivery) -> Answer {
        let received = SystemTime::now();
        let envelope = match Envelope::parse(&delivery.body) {
            Ok(e) => e,
            Err(e) => {
                let id = delivery.correlation_header.clone().unwrap_or_else(correlation::random);
                tracing::warn!(correlation_id = %id, source = %delivery.source, reason = %e, "malformed delivery");
                return Answer::rejected(400, id, e.to_string());
            }
        };
        let correlation_id = delivery
            .correlation_header
            .clone()
            .unwrap_or_else(|| correlation::derive(&envelope));
        let span = tracing::info_span!(
            "delivery",
            correlation_id = %correlation_id,
            source = %delivery.source,
            ado.event.id = %envelope.id,
            ado.event.type = %envelope.event_type,
        );
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
        let notification_key = envelope.notification_key();
        let mut report = Report {
            correlation_id: correlation_id.clone(),
            outcome: Outcome::Ignored,
            reason: None,
            event_id: Some(envelope.id.clone()),
            event_type: Some(envelope.event_type.clone()),
            actions: vec![],
            rules: vec![],
            duplicate_of: None,
        };

        if !delivery.dry_run {
            match self.store.find(&envelope.id, notification_key.as_deref()).await {
                Ok(Some(earlier)) => {
                    tracing::info!(first_correlation_id = %earlier.correlation_id, "redelivery recognised; nothing to do");
                    let first: Option<Report> = serde_json::from_str(&earlier.response).ok();
                    report.outcome = Outcome::Duplicate;
                    report.reason = Some(format!(
                        "event {} was already handled (first delivery {})",
                        envelope.id, earlier.correlation_id
                    ));
                    report.actions = first.map(|f| f.actions).unwrap_or_default();
                    report.duplicate_of = Some(earlier.correlation_id);
                    return Answer { status: 200, retry_after: None, report };
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "delivery store unavailable");
                    report.outcome = Outcome::Unavailable;
                    report.reason = Some("the bridge cannot read its delivery store".into());
                    return Answer { status: 503, retry_after: Some(RETRY_AFTER_SECS), report };
                }
            }
        }

        let view = ado::normalize(&envelope);
        let ado_json = serde_json::to_value(&view).unwrap_or(Value::Null);
        let vars = Variables {
            event: &envelope.raw,
            ado: &ado_json,
            headers: &delivery.headers,
            source: &delivery.source,
            correlation_id: &correlation_id,
        };
        let evaluation = self.rules.evaluate(&vars);
        for d in &evaluation.decisions {
            match &d.error {
                Some(err) => tracing::warn!(rule = %d.rule, error = %err, "rule failed to evaluate"),
                None => tracing::debug!(rule = %d.rule, matched = d.matched, reason = %d.reason, "rule evaluated"),
            }
        }
        report.rules = evaluation.decisions.clone();

        if delivery.dry_run {
            report.outcome = Outcome::DryRun;
            report.actions = evaluation
                .actions
                .iter()
                .map(|a| ActionReport {
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
                    input: a.input.clone(),
                })
                .collect();
            return Answer { status: 200, retry_after: None, report };
        }

        let call = CallContext {
            correlation_id: correlation_id.clone(),
            event_id: envelope.id.clone(),
            event_type: envelope.event_type.clone(),
            source: delivery.source.clone(),
        };
        let mut transient = false;
        let mut permanent = false;
        for action in &evaluation.actions {
            let span = tracing::info_span!(
                "temporal.action",
                rule = %action.rule,
                action = action.kind.as_str(),
                workflow.id = %action.workflow_id,
            );
            let result = self
                .gateway
                .execute(action, &call, &envelope.id)
                .instrument(span)
                .await;
            let mut entry = ActionReport {
                rule: action.rule.clone(),
                action: action.kind,
                workflow_id: action.workflow_id.clone(),
                workflow_type: action.workflow_type.clone(),
                task_queue: action.task_queue.clone(),
                signal_name: action.signal_name.clone(),
                run_id: None,
                status: None,
                error: None,
                link: None,
                input: None,
            };
            match result {
                Ok(r) => {
                    tracing::info!(rule = %action.rule, action = action.kind.as_str(), workflow_id = %action.workflow_id, run_id = r.run_id.as_deref().unwrap_or(""), status = r.status.as_str(), "Temporal accepted the action");
                    entry.link = self.gateway.workflow_link(&action.workflow_id, r.run_id.as_deref());
                    entry.status = Some(r.status);
                    entry.run_id = r.run_id;
                }
                Err(e) => {
                    if e.is_transient() {
                        transient = true;
                        tracing::warn!(rule = %action.rule, workflow_id = %action.workflow_id, error = %e, "Temporal unavailable; ADO will retry");
                    } else {
                        permanent = true;
                        tracing::error!(rule = %action.rule, workflow_id = %action.workflow_id, error = %e, "Temporal rejected the action");
                    }
                    entry.error = Some(e.to_string());
                    if matches!(e, TemporalError::Unavailable(_)) {
                        // Later actions may depend on this one (a signal after
                        // its start); stop here and let ADO retry the lot.
                        report.actions.push(entry);
                        break;
                    }
                }
            }
            report.actions.push(entry);
        }

        if transient {
            report.outcome = Outcome::Unavailable;
            report.reason = Some("Temporal is unavailable; the delivery was not completed and is safe to retry".into());
            return Answer { status: 503, retry_after: Some(RETRY_AFTER_SECS), report };
        }
        let rule_errors = evaluation.has_errors();
        (report.outcome, report.reason) = match (report.actions.is_empty(), permanent, rule_errors) {
            (true, _, false) => (Outcome::Ignored, Some("no rule matched".into())),
            (true, _, true) => (Outcome::Failed, Some("a rule failed to evaluate; see rules".into())),
            (false, true, _) => (Outcome::Failed, Some("Temporal rejected an action; see actions".into())),
            (false, false, _) => (Outcome::Accepted, None),
        };
        if report.outcome == Outcome::Ignored {
            tracing::info!("no rule matched; ignored");
        }
        let answer = Answer { status: 200, retry_after: None, report };
        let record = DeliveryRecord {
            event_id: envelope.id.clone(),
            notification_key,
            correlation_id,
            source: delivery.source,
            event_type: envelope.event_type.clone(),
            status: answer.status,
            response: serde_json::to_string(&answer.report).unwrap_or_default(),
            received_at_ms: unix_ms(received),
        };
        if let Err(e) = self.store.record(record).await {
            // Temporal already has the effect and a retry is harmless (same
            // request ids), so answer success; only the duplicate label of a
            // later redelivery is lost.
            tracing::error!(error = %e, "could not record the delivery");
        }
        answer
    }
}
