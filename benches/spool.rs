//! The cost of durability: deliveries per second admitted to the spool
//! (fsync'ed before the answer), with and without group commit, at several
//! concurrencies. Run with `cargo bench --bench spool`.
//!
//! Each admission is what one matching delivery writes: its record plus one
//! spooled action (~3 KB of JSON), committed with `synchronous=FULL`.

use std::time::Instant;

use ado_temporal_bridge::store::{DeliveryRecord, NewAction, Store, StoreOptions};

const DELIVERIES: usize = 2_000;

fn record(i: usize) -> DeliveryRecord {
    DeliveryRecord {
        event_id: format!("bench-event-{i}"),
        notification_key: Some(format!("bench-subscription/{i}")),
        correlation_id: format!("bench-correlation-{i}"),
        source: "bench".into(),
        event_type: "git.push".into(),
        status: 202,
        outcome: "queued".into(),
        response: "x".repeat(1_000),
        received_at_ms: i64::try_from(i).unwrap_or(0),
        reason_code: String::new(),
        remembered: true,
    }
}

fn action(i: usize) -> NewAction {
    NewAction {
        workflow_id: format!("deploy-{i}"),
        rule: "deploy-main".into(),
        kind: "start".into(),
        action: "y".repeat(2_000),
        call: "{}".into(),
        request_key: format!("bench-event-{i}"),
    }
}

async fn run(group_commit: bool, concurrency: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_with(dir.path(), StoreOptions { group_commit }).expect("open");
    let start = Instant::now();
    let mut next = 0usize;
    let mut tasks = tokio::task::JoinSet::new();
    while next < DELIVERIES || !tasks.is_empty() {
        while next < DELIVERIES && tasks.len() < concurrency {
            let s = store.clone();
            let i = next;
            tasks.spawn(async move { s.admit(record(i), vec![action(i)], None, 0).await });
            next += 1;
        }
        if let Some(done) = tasks.join_next().await {
            done.expect("join").expect("admit");
        }
    }
    DELIVERIES as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    println!(
        "| concurrency | group commit (deliveries/s) | one fsync each (deliveries/s) | speed-up |"
    );
    println!("|---:|---:|---:|---:|");
    for concurrency in [1, 16, 64] {
        let grouped = rt.block_on(run(true, concurrency));
        let single = rt.block_on(run(false, concurrency));
        println!(
            "| {concurrency} | {grouped:.0} | {single:.0} | {:.1}x |",
            grouped / single
        );
    }
}
