//! The delivery log: every delivery the bridge answered, with a stable
//! reason code saying why, kept in the store (`deliveries` table) with the
//! full answer (rule decisions, actions). Answers the operator's question
//! "why didn't my workflow start?" from nothing but a correlation id.
//!
//! Deliveries that acted (accepted, queued) are also the redelivery
//! memory. Entries kept only for the log (ignored deliveries, refusals,
//! duplicates, rule errors, 503s) are written after answering and never
//! make a later delivery a duplicate: once the rules change, ADO's
//! redelivery of an event that did nothing is evaluated again.

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
        // Actions were sent: Temporal refused one (direct mode). None:
        // the rules failed before anything could be sent.
        Outcome::Failed if !report.actions.is_empty() => "TEMPORAL_REJECTED",
        Outcome::Failed => "RULE_ERROR",
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
            response: ans.body().to_owned(),
            received_at_ms: unix_ms(self.received.unwrap_or_else(SystemTime::now)),
            reason_code: reason_code(ans).to_owned(),
            remembered,
        }
    }
}

/// Log-only entries of authenticated deliveries written per second at most.
const LOG_ONLY_PER_SECOND: u32 = 200;
/// Refusals of unauthenticated requests (401, 404, 413) written per second
/// at most: anyone can send those.
const REFUSALS_PER_SECOND: u32 = 20;

/// A per-second budget of writes.
#[derive(Debug)]
struct Budget {
    per_second: u32,
    what: &'static str,
    window: Mutex<(Instant, u32)>,
}

impl Budget {
    fn new(per_second: u32, what: &'static str) -> Self {
        Self {
            per_second,
            what,
            window: Mutex::new((Instant::now(), 0)),
        }
    }

    fn take(&self) -> bool {
        let Ok(mut w) = self.window.lock() else {
            return false;
        };
        let now = Instant::now();
        if now.duration_since(w.0) >= Duration::from_secs(1) {
            *w = (now, 0);
        }
        w.1 += 1;
        if w.1 == self.per_second + 1 {
            tracing::warn!(
                "more than {} {} this second; the delivery log skips the rest (metrics still count them)",
                self.per_second,
                self.what
            );
        }
        w.1 <= self.per_second
    }
}

/// Writes log-only entries in the background, within per-second budgets
/// (the store also keeps at most [`crate::store::LOG_ONLY_KEPT`] of them),
/// so a flood of bad requests can neither fill the disk nor crowd out the
/// entries of real deliveries.
#[derive(Debug)]
pub struct DeliveryLog {
    store: Store,
    delivered: Budget,
    refused: Budget,
}

impl DeliveryLog {
    /// A log writing to `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            delivered: Budget::new(
                LOG_ONLY_PER_SECOND,
                "repeated, refused or failed deliveries",
            ),
            refused: Budget::new(REFUSALS_PER_SECOND, "unauthenticated requests"),
        }
    }

    /// Records an authenticated delivery's answer that must not count for
    /// redelivery detection, without delaying it.
    pub fn log_only(&self, entry: Entry, ans: &Answer) {
        if self.delivered.take() {
            self.write(entry.record(ans, false));
        }
    }

    /// Records the refusal of a request that did not authenticate.
    pub fn log_refusal(&self, entry: Entry, ans: &Answer) {
        if self.refused.take() {
            self.write(entry.record(ans, false));
        }
    }

    /// Records a delivery no rule matched, without waiting for the disk:
    /// the answer promises nothing a crash could break (a redelivery is
    /// simply evaluated again). Only a writer far behind makes it wait.
    pub async fn ignored(&self, entry: Entry, ans: &Answer) {
        self.store.log_when_room(entry.record(ans, false)).await;
    }

    fn write(&self, record: DeliveryRecord) {
        if let Err(record) = self.store.log(record) {
            let store = self.store.clone();
            tokio::spawn(async move { store.log_when_room(*record).await });
        }
    }
}

/// Gives deliveries recorded before reason codes existed theirs, from
/// their actions or their stored answer; a code that cannot be worked out
/// becomes `UNKNOWN` (the answer is still shown).
pub async fn backfill_reason_codes(store: &Store) -> Result<usize, crate::store::StoreError> {
    let mut done = 0;
    loop {
        let rows = store.without_reason_code(1000).await?;
        if rows.is_empty() {
            return Ok(done);
        }
        done += rows.len();
        let codes = rows
            .into_iter()
            .map(|(id, status, response)| {
                let code = serde_json::from_str::<crate::pipeline::Report>(&response)
                    .map(|report| reason_code(&Answer::new(status, report)))
                    .unwrap_or("UNKNOWN");
                (id, code.to_owned())
            })
            .collect();
        store.set_reason_codes(codes).await?;
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
        a.report.rules.push(crate::mapping::RuleDecision {
            rule: "r".into(),
            matched: false,
            reason: "when failed".into(),
            error: Some("no such key".into()),
        });
        assert_eq!(reason_code(&a), "RULE_ERROR");
        // Another rule matched and Temporal refused its action.
        a.report.actions.push(
            serde_json::from_value(serde_json::json!({
                "rule": "s", "action": "start", "workflowId": "w", "error": "InvalidArgument"
            }))
            .expect("action"),
        );
        assert_eq!(reason_code(&a), "TEMPORAL_REJECTED");
    }

    #[tokio::test]
    async fn deliveries_from_before_reason_codes_get_theirs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let mut ignored = Answer::rejected(200, "c1".into(), "no rule matched");
        ignored.report.outcome = Outcome::Ignored;
        let old = |n: &str, response: String| DeliveryRecord {
            event_id: n.into(),
            notification_key: None,
            correlation_id: n.into(),
            source: "s".into(),
            event_type: "git.push".into(),
            status: 200,
            outcome: "ignored".into(),
            response,
            received_at_ms: 1,
            reason_code: String::new(),
            remembered: true,
        };
        let json = serde_json::to_string(&ignored.report).expect("json");
        for rec in [old("e1", json), old("e2", "not json".into())] {
            store.admit(rec, vec![], None, 0).await.expect("admit");
        }
        assert_eq!(backfill_reason_codes(&store).await.expect("backfill"), 2);
        let list = store
            .list(crate::store::DeliveryFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("list");
        let code = |id: &str| {
            list.iter()
                .find(|d| d.event_id == id)
                .map(|d| d.reason_code.clone())
        };
        assert_eq!(code("e1").as_deref(), Some("NO_RULE_MATCHED"));
        assert_eq!(code("e2").as_deref(), Some("UNKNOWN"));
        assert_eq!(backfill_reason_codes(&store).await.expect("again"), 0);
    }

    #[test]
    fn a_budget_refuses_past_its_rate_and_refills() {
        let b = Budget::new(3, "test");
        assert!((0..3).all(|_| b.take()));
        assert!(!b.take());
        if let Ok(mut w) = b.window.lock() {
            w.0 = Instant::now() - Duration::from_secs(2);
        }
        assert!(b.take());
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
