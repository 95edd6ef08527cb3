//! The pipeline without HTTP: where rules are evaluated.

use std::{path::Path, sync::Arc, time::Duration};

use super::*;
use crate::{
    config::SpoolConfig,
    dispatch::tests::{Accepting, Reachable},
    mapping::tests::{fixture_body, rule_set},
};

const RULES: &str = "version: 1
rules:
  - name: plain
    events: [git.push]
    when: ado.branch == 'main'
    start: {workflowType: W, taskQueue: q, workflowId: 'w-${{ ado.commit.id }}'}
  - name: iterating
    events: [git.pullrequest.created]
    when: event.resource.reviewers.exists(r, r.displayName != '')
    signal: {workflowId: w, signalName: s}
";

fn bridge(dir: &Path) -> Bridge {
    // These deliveries are dry runs: Temporal is never asked.
    bridge_to(dir, Arc::new(Reachable(false.into())))
}

fn bridge_to(dir: &Path, gateway: Arc<dyn Gateway>) -> Bridge {
    let rules = rule_set(RULES);
    let store = Store::open(dir).expect("store");
    let metrics = Arc::new(crate::metrics::Metrics::default());
    Bridge {
        rules: Arc::new(rules),
        dispatcher: Dispatcher::new(
            store.clone(),
            Arc::clone(&gateway),
            SpoolConfig::default(),
            Arc::clone(&metrics),
        ),
        gateway,
        log: DeliveryLog::new(store.clone()),
        store,
        mode: DeliveryMode::Durable,
        rule_timeout: Duration::from_secs(5),
        evaluators: crate::workers::Workers::new("test-rules", 2),
        metrics,
    }
}

fn dry_run(fixture: &str) -> Delivery {
    Delivery {
        dry_run: true,
        ..delivery(fixture)
    }
}

fn delivery(fixture: &str) -> Delivery {
    Delivery {
        source: "fabrikam".into(),
        allow: Allow::default(),
        key_ids: String::new(),
        headers: Map::new(),
        correlation_header: None,
        trace: None,
        body: fixture_body(fixture).into(),
        dry_run: false,
    }
}

#[tokio::test]
async fn rules_without_comprehensions_are_evaluated_on_the_request_and_others_apart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = bridge(dir.path());

    let ans = b.handle(dry_run("git.push.json")).await;
    assert_eq!(ans.report.outcome, Outcome::DryRun, "{:?}", ans.report);
    assert_eq!(ans.report.actions.len(), 1, "`plain` matched");
    assert_eq!(b.evaluators.kept(), 0, "no evaluation thread was needed");

    let ans = b.handle(dry_run("git.pullrequest.created.json")).await;
    assert_eq!(ans.report.outcome, Outcome::DryRun, "{:?}", ans.report);
    assert_eq!(ans.report.actions.len(), 1, "`iterating` matched");
    // The thread that evaluated it joins the pool once its job is done.
    let waited = std::time::Instant::now();
    while b.evaluators.kept() == 0 && waited.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        b.evaluators.kept(),
        1,
        "a comprehension runs on its own thread"
    );
}

#[tokio::test]
async fn only_an_answer_that_relies_on_the_spool_waits_for_the_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = bridge_to(dir.path(), Arc::new(Accepting(0.into(), Duration::ZERO)));
    let ans = b.handle(delivery("git.push.json")).await;
    assert_eq!(ans.status, 200, "{:?}", ans.report);
    assert_eq!(b.store.disk_syncs(), 0, "Temporal has it: no fsync");

    // A redelivery is answered as kept, so what it found is synced first.
    let ans = b.handle(delivery("git.push.json")).await;
    assert_eq!(ans.report.outcome, Outcome::Duplicate, "{:?}", ans.report);
    assert_eq!(b.store.disk_syncs(), 1, "the duplicate's answer waited");

    let dir = tempfile::tempdir().expect("tempdir");
    // Reachable, and refuses every action.
    let b = bridge_to(dir.path(), Arc::new(Reachable(true.into())));
    let ans = b.handle(delivery("git.push.json")).await;
    assert_eq!(ans.status, 202, "{:?}", ans.report);
    assert_eq!(b.store.disk_syncs(), 1, "a 202 waits for the disk");
    assert_eq!(b.store.pending(), 1, "the action is spooled");
}
