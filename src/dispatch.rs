//! Delivering spooled actions to Temporal: the fast path a delivery tries
//! before it answers, and the dispatcher that retries everything else with
//! capped exponential backoff and jitter, in arrival order per workflow id.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime},
};

use rand::Rng;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{
    config::SpoolConfig,
    mapping::PlannedAction,
    store::{ActionRow, Store, StoreError, unix_ms},
    temporal::{ActionResult, CallContext, Gateway, TemporalError},
};

/// Most actions the dispatcher sends to Temporal at once.
const CONCURRENCY: usize = 32;
/// Actions fetched per poll.
const BATCH: usize = 128;

/// Sends spooled actions to Temporal.
pub struct Dispatcher {
    metrics: Arc<crate::metrics::Metrics>,
    store: Store,
    gateway: Arc<dyn Gateway>,
    settings: SpoolConfig,
    /// Actions being attempted, with how many hold each.
    claims: Mutex<HashMap<i64, usize>>,
    wake: Notify,
    /// Attempts allowed to outlive their caller (see [`Dispatcher::attempt`]).
    detached: Arc<Semaphore>,
    /// Deliveries allowed to wait on the fast path at once.
    fast_paths: Arc<Semaphore>,
    /// Temporal is behind (see [`Dispatcher::fast_path`]).
    behind: AtomicBool,
    /// The one place on the fast path while `behind`.
    probe: Arc<Semaphore>,
    /// Whether the last poll of the spool started every action due (none
    /// waits to be sent; those in backoff or behind a dead letter are not
    /// due).
    caught_up: AtomicBool,
}

/// Most deliveries waiting for Temporal on the fast path at once. More
/// means Temporal is far behind: later deliveries are answered 202 at once
/// and their actions left to the dispatcher, instead of each holding a
/// request (and memory) open for `fastPathWait` only to time out.
pub const MAX_FAST_PATHS: usize = 64;

/// Most attempts that may run on after the fast path stopped waiting.
/// Past that (Temporal far slower than deliveries arrive) an attempt is
/// abandoned with its caller as before, so memory stays bounded; the
/// dispatcher sends it again later with the same request id.
const MAX_DETACHED_ATTEMPTS: usize = 256;

/// What one poll of the spool found.
#[derive(Default)]
struct Found {
    /// Actions it started.
    started: usize,
    /// Whether it fetched as many as it asked for: more may be due.
    more: bool,
}

/// A place on the fast path, given back on drop.
pub(crate) struct FastPath {
    _place: tokio::sync::OwnedSemaphorePermit,
    /// Taken while Temporal was behind.
    probe: bool,
}

/// Marks an action as being attempted; released on drop, also when the
/// attempt is abandoned mid-call.
pub(crate) struct Claim {
    dispatcher: Arc<Dispatcher>,
    seq: i64,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Ok(mut claims) = self.dispatcher.claims.lock()
            && let Some(holders) = claims.get_mut(&self.seq)
        {
            *holders -= 1;
            if *holders == 0 {
                claims.remove(&self.seq);
            }
        }
    }
}

impl Dispatcher {
    /// Creates a dispatcher (not yet running).
    pub fn new(
        store: Store,
        gateway: Arc<dyn Gateway>,
        settings: SpoolConfig,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            metrics,
            store,
            gateway,
            settings,
            claims: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            detached: Arc::new(Semaphore::new(MAX_DETACHED_ATTEMPTS)),
            fast_paths: Arc::new(Semaphore::new(MAX_FAST_PATHS)),
            behind: AtomicBool::new(false),
            probe: Arc::new(Semaphore::new(1)),
            caught_up: AtomicBool::new(true),
        })
    }

    /// A place on the fast path, while Temporal is reachable and keeps up
    /// (see [`MAX_FAST_PATHS`]); `None` when there is no fast path to take.
    ///
    /// When a wait runs out or every place is taken, Temporal is behind:
    /// from then on one delivery at a time tries the fast path (a probe)
    /// and the others are answered 202 at once. The fast path opens again
    /// when a probe is answered in time and the dispatcher has caught up
    /// (every action due is being sent). Without this, a burst
    /// Temporal cannot keep up with keeps every place taken, and a steady
    /// share of deliveries waits the whole `fastPathWait` for nothing.
    pub(crate) fn fast_path(&self) -> Option<FastPath> {
        if self.settings.fast_path_wait.is_zero() || !self.gateway.is_ready() {
            return None;
        }
        if !self.behind.load(Ordering::Acquire) {
            if let Ok(place) = Arc::clone(&self.fast_paths).try_acquire_owned() {
                return Some(FastPath {
                    _place: place,
                    probe: false,
                });
            }
            self.set_behind(true);
        }
        let place = Arc::clone(&self.probe).try_acquire_owned().ok()?;
        Some(FastPath {
            _place: place,
            probe: true,
        })
    }

    /// Tells how a fast path ended: answered within `fastPathWait`
    /// (whatever Temporal said), or its wait ran out.
    pub(crate) fn fast_path_ended(&self, path: &FastPath, in_time: bool) {
        if !in_time {
            self.set_behind(true);
        } else if path.probe && self.caught_up.load(Ordering::Acquire) {
            self.set_behind(false);
        }
    }

    fn set_behind(&self, behind: bool) {
        if self.behind.swap(behind, Ordering::AcqRel) != behind {
            if behind {
                tracing::info!(
                    "Temporal is behind; deliveries are answered 202 at once while one at a time tries the fast path"
                );
            } else {
                tracing::info!("Temporal has caught up; the fast path is open again");
            }
        }
    }

    /// Spool settings.
    pub fn settings(&self) -> &SpoolConfig {
        &self.settings
    }

    /// Asks the dispatcher to look for due work now.
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    /// Claims an action for one attempt; `None` if someone else has it.
    pub(crate) fn claim(self: &Arc<Self>, seq: i64) -> Option<Claim> {
        let inserted = {
            let mut claims = self.claims.lock().ok()?;
            let free = !claims.contains_key(&seq);
            if free {
                claims.insert(seq, 1);
            }
            free
        };
        // Build the claim only after the lock is released: dropping one
        // takes the lock again.
        inserted.then(|| Claim {
            dispatcher: Arc::clone(self),
            seq,
        })
    }

    /// One more hold on an action already claimed, for an attempt that
    /// outlives its caller's claim.
    fn hold(self: &Arc<Self>, seq: i64) -> Claim {
        if let Ok(mut claims) = self.claims.lock() {
            *claims.entry(seq).or_insert(0) += 1;
        }
        Claim {
            dispatcher: Arc::clone(self),
            seq,
        }
    }

    fn claimed(&self) -> HashSet<i64> {
        self.claims
            .lock()
            .map(|c| c.keys().copied().collect())
            .unwrap_or_default()
    }

    /// The wait before attempt number `attempts + 1`: doubling from 1 s,
    /// capped, with ±20 % jitter so a backlog does not retry in lockstep.
    pub fn backoff(&self, attempts: i64) -> Duration {
        let exp = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
        let base = Duration::from_secs(1).saturating_mul(2u32.saturating_pow(exp));
        let capped = base.min(self.settings.max_backoff);
        let jitter = rand::rng().random_range(0.8..1.2);
        capped.mul_f64(jitter)
    }

    /// Attempts one action and records the result. Transient failures are
    /// retried forever; rejections are dead-lettered after `maxAttempts`.
    ///
    /// The attempt runs to its end even when the caller stops waiting (the
    /// fast path's `fastPathWait`): a call dropped half-way may already be
    /// executing in Temporal, and abandoning it only made the dispatcher
    /// send it again, a second start for Temporal to process while it is
    /// the bottleneck. At most [`MAX_DETACHED_ATTEMPTS`] do so at a time.
    pub async fn attempt(
        self: &Arc<Self>,
        seq: i64,
        attempts_so_far: i64,
        action: &PlannedAction,
        call: &CallContext,
        request_key: &str,
    ) -> Result<ActionResult, TemporalError> {
        let Ok(permit) = Arc::clone(&self.detached).try_acquire_owned() else {
            return self
                .attempt_to_end(seq, attempts_so_far, action, call, request_key)
                .await;
        };
        let me = Arc::clone(self);
        let (action, call, key) = (action.clone(), call.clone(), request_key.to_owned());
        // Held until the call ends, so the dispatcher does not send the
        // action again while this attempt is still in flight.
        let hold = self.hold(seq);
        let attempt = async move {
            let result = me
                .attempt_to_end(seq, attempts_so_far, &action, &call, &key)
                .await;
            drop(hold);
            drop(permit);
            result
        };
        tokio::spawn(attempt.in_current_span())
            .await
            .unwrap_or_else(|e| Err(TemporalError::Unavailable(format!("attempt failed: {e}"))))
    }

    async fn attempt_to_end(
        self: &Arc<Self>,
        seq: i64,
        attempts_so_far: i64,
        action: &PlannedAction,
        call: &CallContext,
        request_key: &str,
    ) -> Result<ActionResult, TemporalError> {
        let started = std::time::Instant::now();
        let result = self.gateway.execute(action, call, request_key).await;
        let kind = action.kind.as_str();
        self.metrics
            .temporal_call(kind, started.elapsed().as_secs_f64());
        tracing::debug!(seq, ok = result.is_ok(), "attempt finished");
        let store_result = match &result {
            Ok(r) => {
                tracing::info!(seq, rule = %action.rule, workflow_id = %action.workflow_id, run_id = r.run_id.as_deref().unwrap_or(""), status = r.status.as_str(), "Temporal accepted the action");
                self.metrics.action(kind, r.status.as_str());
                if call.received_ms > 0 {
                    let waited = unix_ms(SystemTime::now()).saturating_sub(call.received_ms);
                    self.metrics
                        .end_to_end_latency
                        .observe(waited as f64 / 1000.0);
                }
                // Not waited for: Temporal has the action, and a power cut
                // may lose this write anyway (the next attempt's request id
                // is the same). The action stays claimed until it is
                // written, so the dispatcher does not send it again.
                let hold = self.hold(seq);
                self.store
                    .complete_then(seq, r.status.as_str(), r.run_id.clone(), move |done| {
                        match done {
                            // The workflow's next action may go now.
                            Ok(true) => hold.dispatcher.nudge(),
                            Ok(false) => {}
                            Err(e) => {
                                // The action stays pending; a later attempt
                                // repeats it harmlessly.
                                tracing::error!(seq, error = %e, "could not record an attempt");
                            }
                        }
                    });
                Ok(())
            }
            Err(e) => {
                let attempts = attempts_so_far + 1;
                let dead = !e.is_transient() && attempts >= self.settings.max_attempts;
                let next = SystemTime::now() + self.backoff(attempts_so_far);
                self.metrics
                    .action(kind, if dead { "deadLettered" } else { "failed" });
                if dead {
                    tracing::error!(seq, rule = %action.rule, workflow_id = %action.workflow_id, attempts, error = %e, "action dead-lettered");
                } else if e.is_transient() {
                    tracing::warn!(seq, rule = %action.rule, workflow_id = %action.workflow_id, attempts, error = %e, "Temporal unavailable; will retry");
                } else {
                    tracing::warn!(seq, rule = %action.rule, workflow_id = %action.workflow_id, attempts, error = %e, "Temporal rejected the action; will retry");
                }
                self.store
                    .fail(seq, e.to_string(), unix_ms(next), dead)
                    .await
            }
        };
        if let Err(e) = store_result {
            // The effect in Temporal stands; the action stays pending and a
            // later attempt repeats it harmlessly (same request id).
            tracing::error!(seq, error = %e, "could not record an attempt");
        }
        result
    }

    /// Waits, up to `limit`, until no attempt of the fast path that
    /// outlived its request is running: their results are queued for the
    /// store by then.
    pub async fn detached_attempts_ended(&self, limit: Duration) {
        let all = u32::try_from(MAX_DETACHED_ATTEMPTS).unwrap_or(u32::MAX);
        if tokio::time::timeout(limit, self.detached.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!(
                ?limit,
                "attempts of the fast path still running; the dispatcher sends them again after the restart"
            );
        }
    }

    /// Runs the dispatcher until `shutdown`.
    pub fn spawn(self: &Arc<Self>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let me = Arc::clone(self);
        tokio::spawn(async move { me.run(shutdown).await })
    }

    async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let permits = Arc::new(Semaphore::new(CONCURRENCY));
        let mut was_ready = self.gateway.is_ready();
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let ready = self.gateway.is_ready();
            if ready && !was_ready {
                // Temporal is back: don't let a backlog sit out its backoff.
                match self.store.wake_all().await {
                    Ok(n) if n > 0 => tracing::info!(
                        actions = n,
                        "Temporal reachable again; delivering the backlog"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not reschedule the backlog"),
                }
            }
            was_ready = ready;
            let mut found = Found::default();
            if ready {
                match self.poll(&permits).await {
                    Ok(f) => found = f,
                    Err(e) => tracing::warn!(error = %e, "spool read failed"),
                }
            }
            if found.more && found.started > 0 {
                // A backlog: the next rows are due already.
                continue;
            }
            let idle = if found.started > 0 {
                Duration::from_millis(20)
            } else {
                Duration::from_millis(500)
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(idle) => {}
            }
        }
        // Let attempts in flight finish so their results are recorded.
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            permits.acquire_many(u32::try_from(CONCURRENCY).unwrap_or(u32::MAX)),
        )
        .await;
        tracing::info!("dispatcher stopped");
    }

    async fn poll(self: &Arc<Self>, permits: &Arc<Semaphore>) -> Result<Found, StoreError> {
        let claimed = self.claimed();
        // Rounded up, so the store prepares the query for a handful of
        // limits instead of one per number of claims.
        let limit = (BATCH + claimed.len()).next_power_of_two();
        let rows = self.store.due(unix_ms(SystemTime::now()), limit).await?;
        let more = rows.len() == limit;
        let waiting = rows.iter().any(|r| !claimed.contains(&r.seq));
        self.caught_up.store(!waiting && !more, Ordering::Release);
        let mut started = 0;
        for row in rows.into_iter().filter(|r| !claimed.contains(&r.seq)) {
            let Ok(permit) = Arc::clone(permits).acquire_owned().await else {
                break;
            };
            // Claimed before the task starts, so the next poll skips it.
            let Some(claim) = self.claim(row.seq) else {
                continue;
            };
            let me = Arc::clone(self);
            started += 1;
            tokio::spawn(async move {
                let _permit = permit;
                let _claim = claim;
                me.dispatch_row(row).await;
            });
        }
        // Everything fetched is being sent; more may be due.
        self.caught_up.store(!more, Ordering::Release);
        Ok(Found { started, more })
    }

    async fn dispatch_row(self: &Arc<Self>, row: ActionRow) {
        tracing::debug!(seq = row.seq, attempts = row.attempts, "dispatching");
        let decoded: Result<(PlannedAction, CallContext), serde_json::Error> =
            serde_json::from_str(&row.action)
                .and_then(|a| Ok((a, serde_json::from_str(&row.call)?)));
        let (action, call) = match decoded {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(seq = row.seq, error = %e, "unreadable spool entry; dead-lettered");
                let _ = self
                    .store
                    .fail(row.seq, format!("unreadable spool entry: {e}"), 0, true)
                    .await;
                return;
            }
        };
        let span = tracing::info_span!(
            "dispatch.attempt",
            correlation_id = %call.correlation_id,
            ado.event.id = %call.event_id,
            rule = %action.rule,
            workflow.id = %action.workflow_id,
            attempt = row.attempts + 1,
        );
        if let Some(trace) = &call.trace {
            crate::telemetry::set_parent(&span, trace);
        }
        // Nothing abandons this call: no need for `attempt`'s own task.
        let _ = self
            .attempt_to_end(row.seq, row.attempts, &action, &call, &row.request_key)
            .instrument(span)
            .await;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::store::{
        Admission,
        tests::{admit_nth, block_writer},
    };

    /// A Temporal that is reachable or not, and sends nothing.
    pub(crate) struct Reachable(pub AtomicBool);

    impl Gateway for Reachable {
        fn execute<'a>(
            &'a self,
            _: &'a PlannedAction,
            _: &'a CallContext,
            _: &'a str,
        ) -> futures_util::future::BoxFuture<'a, Result<ActionResult, TemporalError>> {
            Box::pin(async { Err(TemporalError::Unavailable("not in this test".into())) })
        }

        fn is_ready(&self) -> bool {
            self.0.load(Ordering::Acquire)
        }
    }

    fn dispatcher(
        dir: &std::path::Path,
        fast_path_wait: Duration,
    ) -> (Arc<Dispatcher>, Arc<Reachable>) {
        let gateway = Arc::new(Reachable(AtomicBool::new(true)));
        let d = Dispatcher::new(
            Store::open(dir).expect("store"),
            Arc::clone(&gateway) as Arc<dyn Gateway>,
            SpoolConfig {
                fast_path_wait,
                ..SpoolConfig::default()
            },
            Arc::new(crate::metrics::Metrics::default()),
        );
        (d, gateway)
    }

    #[tokio::test]
    async fn the_fast_path_is_taken_only_while_temporal_keeps_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (d, temporal) = dispatcher(dir.path(), Duration::from_millis(300));
        assert!(d.fast_path().is_some(), "Temporal reachable: a place");
        temporal.0.store(false, Ordering::Release);
        assert!(d.fast_path().is_none(), "Temporal unreachable: no wait");

        let zero = tempfile::tempdir().expect("tempdir");
        assert!(
            dispatcher(zero.path(), Duration::ZERO)
                .0
                .fast_path()
                .is_none(),
            "fastPathWait: 0 has no fast path"
        );
    }

    #[tokio::test]
    async fn once_temporal_is_behind_one_delivery_at_a_time_tries_the_fast_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (d, _) = dispatcher(dir.path(), Duration::from_millis(300));
        let first = d.fast_path().expect("open");
        assert!(!first.probe);
        // Its wait ran out.
        d.fast_path_ended(&first, false);
        drop(first);
        let probe = d.fast_path().expect("a probe");
        assert!(probe.probe);
        assert!(d.fast_path().is_none(), "the others do not wait");
        // A probe whose wait ran out leaves it so.
        d.fast_path_ended(&probe, false);
        drop(probe);
        let probe = d.fast_path().expect("the next probe");
        assert!(d.fast_path().is_none(), "still one at a time");
        // Answered in time with nothing left in the spool: open again.
        d.fast_path_ended(&probe, true);
        drop(probe);
        let places: Vec<_> = (0..MAX_FAST_PATHS)
            .map(|_| d.fast_path().expect("open again"))
            .collect();
        assert!(places.iter().all(|p| !p.probe));
        // Every place taken: behind, and the next delivery is a probe.
        let probe = d.fast_path().expect("a probe");
        assert!(probe.probe);
        drop(places);
        assert!(
            d.fast_path().is_none(),
            "behind until a probe says otherwise"
        );
    }

    /// A Temporal that starts every workflow, after `.1`; `.0` counts the
    /// calls.
    pub(crate) struct Accepting(pub std::sync::atomic::AtomicUsize, pub Duration);

    impl Gateway for Accepting {
        fn execute<'a>(
            &'a self,
            _: &'a PlannedAction,
            _: &'a CallContext,
            _: &'a str,
        ) -> futures_util::future::BoxFuture<'a, Result<ActionResult, TemporalError>> {
            self.0.fetch_add(1, Ordering::AcqRel);
            Box::pin(async {
                tokio::time::sleep(self.1).await;
                Ok(ActionResult {
                    status: crate::temporal::ActionStatus::Started,
                    run_id: Some("run-1".into()),
                })
            })
        }

        fn is_ready(&self) -> bool {
            true
        }
    }

    /// A dispatcher sending to `temporal`, and the first action it has.
    async fn with_one_action(
        dir: &std::path::Path,
        temporal: &Arc<Accepting>,
    ) -> (Arc<Dispatcher>, i64, PlannedAction, CallContext) {
        let d = Dispatcher::new(
            Store::open(dir).expect("store"),
            Arc::clone(temporal) as Arc<dyn Gateway>,
            SpoolConfig::default(),
            Arc::new(crate::metrics::Metrics::default()),
        );
        let Admission::Admitted { seqs, .. } = admit_nth(&d.store, 0).await.expect("admit") else {
            panic!("admitted");
        };
        let action: PlannedAction = serde_json::from_value(serde_json::json!({
            "rule": "r", "kind": "start", "workflowId": "w0", "workflowType": "W",
            "taskQueue": "q", "signalName": null, "input": null, "startInput": null,
            "memo": {}, "searchAttributes": {}, "onConflict": "use-existing"
        }))
        .expect("action");
        let call = CallContext {
            correlation_id: "c".into(),
            event_id: "e0".into(),
            event_type: "git.push".into(),
            source: "s".into(),
            received_ms: 0,
            trace: None,
        };
        (d, seqs[0], action, call)
    }

    #[tokio::test]
    async fn an_action_stays_claimed_until_it_is_recorded_as_delivered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let temporal = Arc::new(Accepting(0.into(), Duration::ZERO));
        let (d, seq, action, call) = with_one_action(dir.path(), &temporal).await;
        let writer = block_writer(&d.store);
        let claim = d.claim(seq).expect("claim");
        let sent = d.attempt(seq, 0, &action, &call, "k").await;
        assert!(sent.is_ok(), "{sent:?}");
        drop(claim);
        // Temporal has it; the store does not yet.
        assert_eq!(d.store.pending(), 1);
        assert!(d.claimed().contains(&seq), "still claimed");
        assert!(d.claim(seq).is_none(), "so the dispatcher skips it");
        drop(writer);
        d.store.sync().await.expect("after the record");
        assert_eq!(d.store.pending(), 0, "recorded as delivered");
        assert!(d.claimed().is_empty(), "and let go");
        assert_eq!(temporal.0.load(Ordering::Acquire), 1, "one call");
    }

    /// A dispatcher with one action whose fast-path attempt is still
    /// running: the caller stopped waiting for it after 20 ms, before
    /// `Accepting` answers (after `delay`).
    async fn an_attempt_left_running(
        dir: &std::path::Path,
        delay: Duration,
    ) -> (Arc<Dispatcher>, Arc<Accepting>, i64) {
        let temporal = Arc::new(Accepting(0.into(), delay));
        let (d, seq, action, call) = with_one_action(dir, &temporal).await;
        let claim = d.claim(seq).expect("claim");
        let waited = tokio::time::timeout(
            Duration::from_millis(20),
            d.attempt(seq, 0, &action, &call, "k"),
        )
        .await;
        assert!(waited.is_err(), "the caller stopped waiting");
        drop(claim);
        (d, temporal, seq)
    }

    #[tokio::test]
    async fn shutdown_can_wait_for_the_attempts_that_outlived_their_request() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (d, _, _) = an_attempt_left_running(dir.path(), Duration::from_millis(300)).await;
        d.detached_attempts_ended(Duration::from_secs(5)).await;
        // The barrier comes after the completion the attempt queued.
        d.store.sync().await.expect("sync");
        assert_eq!(d.store.pending(), 0, "recorded before shutdown goes on");
    }

    #[tokio::test]
    async fn an_attempt_whose_caller_stops_waiting_ends_on_its_own() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (d, temporal, seq) =
            an_attempt_left_running(dir.path(), Duration::from_millis(200)).await;
        assert_eq!(d.store.pending(), 1);
        assert!(d.claimed().contains(&seq), "held while the call runs");
        let began = std::time::Instant::now();
        while (d.store.pending() > 0 || !d.claimed().is_empty())
            && began.elapsed() < Duration::from_secs(5)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(d.store.pending(), 0, "the attempt recorded its start");
        assert!(d.claimed().is_empty(), "and let go of the action");
        assert_eq!(temporal.0.load(Ordering::Acquire), 1, "one call");
        assert!(d.store.due(i64::MAX, 10).await.expect("due").is_empty());
    }

    #[tokio::test]
    async fn the_fast_path_opens_again_once_the_dispatcher_has_caught_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (d, _) = dispatcher(dir.path(), Duration::from_millis(300));
        // More actions due than one poll fetches.
        for i in 0..200 {
            admit_nth(&d.store, i).await.expect("admitted");
        }
        let first = d.fast_path().expect("open");
        d.fast_path_ended(&first, false);
        let permits = Arc::new(Semaphore::new(CONCURRENCY));
        let found = d.poll(&permits).await.expect("poll");
        assert!(found.more, "a backlog");
        // Temporal answered the probe in time, but actions still wait.
        let probe = d.fast_path().expect("a probe");
        d.fast_path_ended(&probe, true);
        drop(probe);
        let probe = d.fast_path().expect("a probe");
        assert!(probe.probe, "still behind while the backlog waits");
        // The rest go out; the failed ones wait out their backoff, which
        // is not a backlog.
        let found = d.poll(&permits).await.expect("poll");
        assert!(!found.more && found.started > 0);
        d.fast_path_ended(&probe, true);
        drop(probe);
        assert!(!d.fast_path().expect("open").probe);
    }
}
