//! The delivery log: every delivery the bridge answered, with a stable
//! reason code saying why, kept in the store (`deliveries` table) with the
//! full answer (rule decisions, actions). Answers the operator's question
//! "why didn't my workflow start?" from nothing but a correlation id.
//!
//! Deliveries that change state (accepted, queued, ignored) are also the
//! redelivery memory. Entries kept only for the log (refusals, duplicates,
//! rule errors, 503s) are written after answering and never make a later
//! delivery a duplicate.

use std::{
    sync::Mutex,
    time::{Duration, Instant, SystemTime},
};

use crate::{
    pipeline::{Answer, Outcome},
    store::{DeliveryRecord, Store, unix_ms},
    temporal::ActionStatus,
};

/// The reason code of an answer: stable, upper-case, for filters and
/// alerts. A spooled delivery's code then follows its actions (`QUEUED`
/// becomes `STARTED`, `SIGNALED` or `DEAD_LETTER`; see the store).
pub fn reason_code(ans: &Answer) -> &'static str {
    let report = &ans.report;
    match report.outcome {
        Outcome::Rejected => match ans.status {
            401 => "VERIFICATION_FAILED",
            404 => "UNKNOWN_SOURCE",
            413 => "TOO_LARGE",
            _ => "MALFORMED",
        },
        Outcome::Forbidden => "FORBIDDEN",
        Outcome::Ignored => "NO_RULE_MATCHED",
        Outcome::Duplicate => "DUPLICATE",
        Outcome::Queued => "QUEUED",
        Outcome::Unavailable => "UNAVAILABLE",
        Outcome::DryRun => "DRY_RUN",
        Outcome::Failed if report.rules.iter().any(|r| r.error.is_some()) => "RULE_ERROR",
        Outcome::Failed => "TEMPORAL_REJECTED",
        Outcome::Accepted => {
            let statuses: Vec<ActionStatus> =
                report.actions.iter().filter_map(|a| a.status).collect();
            let any = |s: &[ActionStatus]| statuses.iter().any(|x| s.contains(x));
            if any(&[ActionStatus::Started, ActionStatus::SignaledAndStarted]) {
                "STARTED"
            } else if any(&[ActionStatus::Signaled]) {
                "SIGNALED"
            } else if any(&[ActionStatus::Conflict]) {
                "CONFLICT"
            } else {
                "ALREADY_RUNNING"
            }
        }
    }
}

/// What is known of a delivery when it is answered.
#[derive(Clone, Debug, Default)]
pub struct Entry {
    /// Source name (as in the URL, when the source is unknown).
    pub source: String,
    /// ADO event id, once parsed.
    pub event_id: String,
    /// ADO event type, once parsed.
    pub event_type: String,
    /// `subscriptionId/notificationId`, once parsed.
    pub notification_key: Option<String>,
    /// When it arrived.
    pub received: Option<SystemTime>,
}

impl Entry {
    /// The store record for this entry and its answer.
    pub fn record(self, ans: &Answer, remembered: bool) -> DeliveryRecord {
        DeliveryRecord {
            event_id: self.event_id,
            notification_key: self.notification_key,
            correlation_id: ans.report.correlation_id.clone(),
            source: self.source,
            event_type: self.event_type,
            status: ans.status,
            outcome: crate::pipeline::outcome_name(ans.report.outcome),
            response: serde_json::to_string(&ans.report).unwrap_or_default(),
            received_at_ms: unix_ms(self.received.unwrap_or_else(SystemTime::now)),
            reason_code: reason_code(ans).to_owned(),
            remembered,
        }
    }
}

/// Log-only entries written per second at most, so a flood of refused
/// requests cannot fill the disk; the rest are counted in the metrics and
/// the logs only.
const LOG_ONLY_PER_SECOND: u32 = 200;

/// Writes log-only entries in the background, at a bounded rate.
#[derive(Debug)]
pub struct DeliveryLog {
    store: Store,
    window: Mutex<(Instant, u32)>,
}

impl DeliveryLog {
    /// A log writing to `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            window: Mutex::new((Instant::now(), 0)),
        }
    }

    fn admit_one(&self) -> bool {
        let Ok(mut w) = self.window.lock() else {
            return false;
        };
        let now = Instant::now();
        if now.duration_since(w.0) >= Duration::from_secs(1) {
            *w = (now, 0);
        }
        w.1 += 1;
        if w.1 == LOG_ONLY_PER_SECOND + 1 {
            tracing::warn!(
                "more than {LOG_ONLY_PER_SECOND} refused or repeated deliveries this second; \
                 the delivery log skips the rest (metrics still count them)"
            );
        }
        w.1 <= LOG_ONLY_PER_SECOND
    }

    /// Records an answer that must not count for redelivery detection,
    /// without delaying it.
    pub fn log_only(&self, entry: Entry, ans: &Answer) {
        if !self.admit_one() {
            return;
        }
        let record = entry.record(ans, false);
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.admit(record, vec![], None, 0).await {
                tracing::warn!(error = %e, "could not write the delivery log");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, outcome: Outcome) -> Answer {
        let mut a = Answer::rejected(status, "c".into(), "r");
        a.report.outcome = outcome;
        a
    }

    #[test]
    fn refusals_are_told_apart_by_status() {
        assert_eq!(
            reason_code(&answer(401, Outcome::Rejected)),
            "VERIFICATION_FAILED"
        );
        assert_eq!(
            reason_code(&answer(404, Outcome::Rejected)),
            "UNKNOWN_SOURCE"
        );
        assert_eq!(reason_code(&answer(413, Outcome::Rejected)), "TOO_LARGE");
        assert_eq!(reason_code(&answer(400, Outcome::Rejected)), "MALFORMED");
        assert_eq!(reason_code(&answer(403, Outcome::Forbidden)), "FORBIDDEN");
    }

    #[test]
    fn failures_say_whether_rules_or_temporal_failed() {
        let mut a = answer(200, Outcome::Failed);
        assert_eq!(reason_code(&a), "TEMPORAL_REJECTED");
        a.report.rules.push(crate::mapping::RuleDecision {
            rule: "r".into(),
            matched: false,
            reason: "when failed".into(),
            error: Some("no such key".into()),
        });
        assert_eq!(reason_code(&a), "RULE_ERROR");
    }

    #[test]
    fn accepted_deliveries_name_what_temporal_did() {
        let mut a = answer(200, Outcome::Accepted);
        let action = |s| {
            let mut r: crate::pipeline::ActionReport = serde_json::from_value(serde_json::json!({
                "rule": "r", "action": "start", "workflowId": "w"
            }))
            .expect("action");
            r.status = Some(s);
            r
        };
        a.report.actions = vec![action(ActionStatus::AlreadyRunning)];
        assert_eq!(reason_code(&a), "ALREADY_RUNNING");
        a.report.actions.push(action(ActionStatus::Signaled));
        assert_eq!(reason_code(&a), "SIGNALED");
        a.report
            .actions
            .push(action(ActionStatus::SignaledAndStarted));
        assert_eq!(reason_code(&a), "STARTED");
    }
}
