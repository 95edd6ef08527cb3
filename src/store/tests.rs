use super::*;

fn rec(event: &str, key: Option<&str>, at: i64) -> DeliveryRecord {
    DeliveryRecord {
        event_id: event.into(),
        notification_key: key.map(str::to_owned),
        correlation_id: format!("c-{event}"),
        source: "s".into(),
        event_type: "git.push".into(),
        status: 202,
        outcome: "queued".into(),
        response: "{}".into(),
        received_at_ms: at,
        reason_code: String::new(),
        remembered: true,
    }
}

/// A second connection to a store's database, beside its writer's.
fn raw(dir: &std::path::Path) -> Connection {
    Connection::open(dir.join(DB_FILE)).expect("sqlite")
}

/// The size of a store's WAL file, in pages (of 4 KiB, frame headers
/// aside).
fn wal_pages(dir: &std::path::Path) -> u64 {
    std::fs::metadata(dir.join(format!("{DB_FILE}-wal")))
        .expect("wal")
        .len()
        / 4096
}

/// Actions in a store, read beside its writer.
fn count_actions(dir: &std::path::Path) -> i64 {
    raw(dir)
        .query_row("SELECT COUNT(*) FROM actions", [], |r| r.get(0))
        .expect("count")
}

fn action(wf: &str) -> NewAction {
    NewAction {
        workflow_id: wf.into(),
        rule: "r".into(),
        kind: "start".into(),
        action: "{}".into(),
        call: "{}".into(),
        request_key: "k".into(),
    }
}

/// Admits delivery `e{i}` with one action, for workflow `w{i}`.
pub(crate) async fn admit_nth(s: &Store, i: i64) -> Result<Admission, StoreError> {
    s.admit(
        rec(&format!("e{i}"), None, i),
        vec![action(&format!("w{i}"))],
        None,
        0,
    )
    .await
}

/// Keeps the store's writer busy until the sender returned is dropped:
/// every job queued meanwhile waits.
pub(crate) fn block_writer(s: &Store) -> std::sync::mpsc::Sender<()> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    s.submit_then(
        false,
        move |_, _| {
            let _ = rx.recv();
            Ok(())
        },
        |_| {},
    );
    tx
}

/// The delivery log's newest ten entries.
async fn newest(s: &Store) -> Result<Vec<DeliverySummary>, StoreError> {
    s.list(DeliveryFilter {
        limit: 10,
        ..Default::default()
    })
    .await
}

fn seqs(a: Admission) -> Vec<i64> {
    match a {
        Admission::Admitted { seqs, .. } => seqs,
        Admission::Duplicate(..) => panic!("unexpected duplicate"),
    }
}

#[tokio::test]
async fn remembers_across_reopen_and_matches_either_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let s = Store::open(dir.path()).expect("open");
        s.admit(rec("e1", Some("sub/1"), 10), vec![action("w")], None, 0)
            .await
            .expect("admit");
    }
    let s = Store::open(dir.path()).expect("reopen");
    assert_eq!(s.pending(), 1, "pending count survives a restart");
    let found = s.find("e1", "s", None).await.expect("find").expect("known");
    assert_eq!(found.0.correlation_id, "c-e1");
    assert_eq!(found.1.len(), 1);
    assert!(
        s.find("other", "s", Some("sub/1"))
            .await
            .expect("find")
            .is_some()
    );
    assert!(
        s.find("other", "s", Some("sub/2"))
            .await
            .expect("find")
            .is_none()
    );
    assert!(matches!(
        s.admit(rec("e1", Some("sub/9"), 11), vec![action("w")], None, 0)
            .await
            .expect("admit"),
        Admission::Duplicate(..)
    ));
    assert_eq!(s.pending(), 1);
}

#[tokio::test]
async fn delivers_in_order_per_workflow_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    let a = seqs(
        s.admit(
            rec("e1", None, 1),
            vec![action("w1"), action("w2")],
            None,
            0,
        )
        .await
        .expect("admit"),
    );
    let b = seqs(
        s.admit(rec("e2", None, 2), vec![action("w1")], None, 0)
            .await
            .expect("admit"),
    );
    let due: Vec<i64> = s
        .due(i64::MAX, 10)
        .await
        .expect("due")
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(
        due,
        vec![a[0], a[1]],
        "the second w1 action waits for the first"
    );
    assert!(!s.is_head(b[0]).await.expect("head"));
    assert!(
        s.complete(a[0], "started", Some("run".into()))
            .await
            .expect("complete"),
        "a later w1 action waits for it"
    );
    assert!(s.is_head(b[0]).await.expect("head"));
    let due: Vec<i64> = s
        .due(i64::MAX, 10)
        .await
        .expect("due")
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(due, vec![a[1], b[0]]);
    assert_eq!(s.pending(), 2);
    assert!(
        !s.complete(a[1], "started", None).await.expect("complete"),
        "nothing of w2 waits"
    );
}

#[tokio::test]
async fn failures_back_off_dead_letters_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    let a = seqs(
        s.admit(rec("e1", None, 1), vec![action("w")], None, 0)
            .await
            .expect("admit"),
    );
    s.fail(a[0], "unavailable".into(), 5_000, false)
        .await
        .expect("fail");
    assert!(
        s.due(4_999, 10).await.expect("due").is_empty(),
        "not before its time"
    );
    assert_eq!(s.due(5_000, 10).await.expect("due").len(), 1);
    s.fail(a[0], "InvalidArgument".into(), 0, true)
        .await
        .expect("dead");
    assert_eq!(s.pending(), 0);
    assert!(s.due(i64::MAX, 10).await.expect("due").is_empty());
    let dead = s
        .list(DeliveryFilter {
            outcome: Some("dead".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].dead, 1);
    let (_, rows) = s.show(dead[0].id).await.expect("show").expect("exists");
    assert_eq!(rows[0].state, "dead");
    assert_eq!(rows[0].attempts, 2);
    assert_eq!(rows[0].last_error.as_deref(), Some("InvalidArgument"));
    assert_eq!(s.replay(dead[0].id).await.expect("replay"), 1);
    assert_eq!(s.pending(), 1);
    assert_eq!(s.due(0, 10).await.expect("due").len(), 1);
}

#[tokio::test]
async fn refuses_when_full_without_storing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    s.admit(
        rec("e1", None, 1),
        vec![action("a"), action("b")],
        Some(2),
        0,
    )
    .await
    .expect("fits");
    let err = s
        .admit(rec("e2", None, 2), vec![action("c")], Some(2), 0)
        .await
        .expect_err("full");
    assert!(matches!(err, StoreError::Full(2)), "{err}");
    assert!(
        s.find("e2", "s", None).await.expect("find").is_none(),
        "nothing kept"
    );
    // Deliveries without actions (ignored) are still remembered.
    s.admit(rec("e3", None, 3), vec![], Some(2), 0)
        .await
        .expect("no actions fit");
}

#[tokio::test]
async fn prunes_only_finished_old_deliveries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    s.admit(rec("old-ignored", None, 1_000), vec![], None, 0)
        .await
        .expect("admit");
    let done = seqs(
        s.admit(rec("old-done", None, 1_000), vec![action("w1")], None, 0)
            .await
            .expect("admit"),
    );
    s.complete(done[0], "started", None)
        .await
        .expect("complete");
    s.admit(rec("old-pending", None, 1_000), vec![action("w2")], None, 0)
        .await
        .expect("admit");
    s.admit(rec("new", None, 5_000), vec![], None, 0)
        .await
        .expect("admit");
    let cutoff = UNIX_EPOCH + Duration::from_millis(2_000);
    assert_eq!(s.prune(cutoff, LOG_ONLY_KEPT).await.expect("prune"), 2);
    assert!(
        s.find("old-pending", "s", None)
            .await
            .expect("find")
            .is_some(),
        "pending work is kept"
    );
    assert!(s.find("old-done", "s", None).await.expect("find").is_none());
    assert_eq!(s.count().await.expect("count"), 2);
}

#[tokio::test]
async fn concurrent_admissions_share_commits_and_all_survive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    let mut tasks = Vec::new();
    for i in 0..200 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move { admit_nth(&s, i).await }));
    }
    for t in tasks {
        assert!(matches!(
            t.await.expect("join").expect("admit"),
            Admission::Admitted { .. }
        ));
    }
    drop(s);
    let s = Store::open(dir.path()).expect("reopen");
    assert_eq!(s.pending(), 200);
    assert_eq!(s.stats().await.expect("stats").pending, 200);
}

#[tokio::test]
async fn an_admission_that_fails_half_way_leaves_nothing_and_spares_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    // A spool that refuses one workflow id, after the delivery's row and
    // its first action went in.
    raw(dir.path())
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON actions WHEN NEW.workflow_id = 'refused'
             BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .expect("trigger");
    let mut tasks = Vec::new();
    for i in 0..50 {
        let s = s.clone();
        let actions = if i == 25 {
            vec![action("w25"), action("refused")]
        } else {
            vec![action(&format!("w{i}"))]
        };
        tasks.push(tokio::spawn(async move {
            s.admit(rec(&format!("e{i}"), None, i), actions, None, 0)
                .await
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let admitted = t.await.expect("join");
        if i == 25 {
            let err = admitted.expect_err("refused");
            assert!(err.to_string().contains("refused"), "{err}");
        } else {
            assert!(matches!(admitted, Ok(Admission::Admitted { .. })), "e{i}");
        }
    }
    assert!(s.find("e25", "s", None).await.expect("find").is_none());
    assert_eq!(s.count().await.expect("count"), 49);
    drop(s);
    let s = Store::open(dir.path()).expect("reopen");
    assert_eq!(s.pending(), 49, "w25's first action went with its delivery");
    // Once the cause is gone, ADO's retry is admitted whole.
    raw(dir.path())
        .execute_batch("DROP TRIGGER refuse")
        .expect("drop");
    let retried = s
        .admit(
            rec("e25", None, 25),
            vec![action("w25"), action("refused")],
            None,
            0,
        )
        .await
        .expect("admitted");
    assert_eq!(seqs(retried).len(), 2);
}

#[tokio::test]
async fn the_pending_count_follows_the_database_when_callers_give_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    let mut seqs_all = Vec::new();
    for i in 0..20 {
        seqs_all.extend(seqs(admit_nth(&s, i).await.expect("admit")));
    }
    // Callers that stop waiting right after sending (a timed-out fast path,
    // a dropped request): the work is still done, and counted.
    for (i, seq) in seqs_all.iter().enumerate() {
        let fut = s.complete(*seq, "started", None);
        let _ = tokio::time::timeout(Duration::ZERO, fut).await;
        if i % 2 == 0 {
            let admit = s.admit(rec(&format!("x{i}"), None, 0), vec![action("wx")], None, 0);
            let _ = tokio::time::timeout(Duration::ZERO, admit).await;
        }
    }
    // Jobs run in order: once this answers, the abandoned ones have run.
    let stats = s.stats().await.expect("stats");
    assert_eq!(stats.pending, 10);
    let in_db: i64 = raw(dir.path())
        .query_row(
            "SELECT COUNT(*) FROM actions WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(s.pending(), in_db);
}

#[tokio::test]
async fn the_spool_stats_count_pending_and_dead_and_date_the_oldest_pending() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    let none = s.stats().await.expect("stats");
    assert_eq!(
        (none.pending, none.dead, none.oldest_pending_ms),
        (0, 0, None)
    );
    let mut all = Vec::new();
    for (i, wf) in ["a", "b", "c", "d"].into_iter().enumerate() {
        let admitted = s.admit(rec(&format!("e{i}"), None, 1), vec![action(wf)], None, 0);
        all.extend(seqs(admitted.await.expect("admit")));
    }
    // Creation times apart, newest first, so that only the right row
    // gives the right answer.
    raw(dir.path())
        .execute("UPDATE actions SET created_ms = 1000000 - seq", [])
        .expect("dates");
    s.complete(all[0], "started", None).await.expect("done");
    s.fail(all[1], "InvalidArgument".into(), 0, true)
        .await
        .expect("dead");
    let stats = s.stats().await.expect("stats");
    assert_eq!((stats.pending, stats.dead), (2, 1));
    assert_eq!(stats.oldest_pending_ms, Some(1_000_000 - all[3]));
}

/// A replay from the command line is a second store on the same files: the
/// running bridge's stats (readiness, metrics) count it, and set its
/// pending count right.
#[tokio::test]
async fn the_spool_stats_count_what_another_process_replayed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    let Admission::Admitted {
        delivery_id, seqs, ..
    } = s
        .admit(rec("e1", None, 1), vec![action("w")], None, 0)
        .await
        .expect("admit")
    else {
        panic!("not admitted");
    };
    s.fail(seqs[0], "InvalidArgument".into(), 0, true)
        .await
        .expect("dead");
    let cli = Store::open(dir.path()).expect("a second store");
    assert_eq!(cli.replay(delivery_id).await.expect("replay"), 1);
    drop(cli);
    assert_eq!(s.pending(), 0, "not known yet");
    let stats = s.stats().await.expect("stats");
    assert_eq!((stats.pending, stats.dead), (1, 0));
    assert_eq!(s.pending(), 1);
    s.complete(seqs[0], "started", None).await.expect("done");
    assert_eq!(s.pending(), 0);
}

/// Readiness probes and metrics scrapes read the stats on the writer
/// thread: they must not scan the actions kept (every action ever, with
/// its payload, until pruned).
#[tokio::test]
async fn the_spool_stats_read_indexes_not_the_actions_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    for sql in [STATS_DEAD, STATS_PENDING, STATS_OLDEST_PENDING] {
        let plan = plan_of(&s, sql.into(), Vec::new()).await;
        assert!(plan.contains("USING COVERING INDEX"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }
}

#[tokio::test]
async fn a_dead_letter_blocks_later_actions_of_its_workflow_until_replayed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    let start = seqs(
        s.admit(rec("e1", None, 1), vec![action("w")], None, 0)
            .await
            .expect("admit"),
    );
    s.fail(start[0], "InvalidArgument".into(), 0, true)
        .await
        .expect("dead");
    let admitted = s
        .admit(
            rec("e2", None, 2),
            vec![action("w"), action("other")],
            None,
            0,
        )
        .await
        .expect("admit");
    let Admission::Admitted {
        seqs: later, heads, ..
    } = admitted
    else {
        panic!("duplicate")
    };
    assert_eq!(
        heads,
        vec![false, true],
        "the signal may not overtake its dead start"
    );
    let due: Vec<i64> = s
        .due(i64::MAX, 10)
        .await
        .expect("due")
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(due, vec![later[1]]);
    let summaries = newest(&s).await.expect("list");
    let first = summaries
        .iter()
        .find(|d| d.event_id == "e1")
        .expect("listed");
    s.replay(first.id).await.expect("replay");
    let due: Vec<i64> = s
        .due(i64::MAX, 10)
        .await
        .expect("due")
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(
        due,
        vec![start[0], later[1]],
        "replayed start first; its successor waits for it"
    );
}

#[tokio::test]
async fn the_same_event_from_another_source_is_not_a_duplicate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    s.admit(rec("e1", Some("sub/1"), 1), vec![], None, 0)
        .await
        .expect("admit");
    assert!(s.find("e1", "s", None).await.expect("find").is_some());
    assert!(
        s.find("e1", "another-source", None)
            .await
            .expect("find")
            .is_none()
    );
    assert!(
        s.find("e1", "another-source", Some("sub/1"))
            .await
            .expect("find")
            .is_some(),
        "same notification"
    );
}

#[tokio::test]
async fn log_only_entries_are_capped_and_never_found_as_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    let now = unix_ms(SystemTime::now());
    for i in 0..5 {
        let mut r = rec("same-event", Some("sub/1"), now + i);
        r.remembered = false;
        r.reason_code = "RULE_ERROR".into();
        assert!(matches!(
            s.admit(r, vec![], None, 0).await.expect("admit"),
            Admission::Admitted { .. }
        ));
    }
    assert!(
        s.find("same-event", "s", Some("sub/1"))
            .await
            .expect("find")
            .is_none(),
        "log-only entries are not redelivery memory"
    );
    let remembered = rec("same-event", Some("sub/1"), now + 10);
    s.admit(remembered, vec![], None, 0).await.expect("admit");
    assert!(
        s.find("same-event", "s", Some("sub/1"))
            .await
            .expect("find")
            .is_some()
    );

    let pruned = s.prune(SystemTime::UNIX_EPOCH, 2).await.expect("prune");
    assert_eq!(pruned, 3, "the three oldest log-only entries go");
    let left = newest(&s).await.expect("list");
    assert_eq!(left.len(), 3, "two log-only entries and the remembered one");
    assert_eq!(
        left.iter()
            .filter(|d| d.reason_code == "RULE_ERROR")
            .count(),
        2
    );
}

fn ignored(event: &str, at: i64) -> DeliveryRecord {
    DeliveryRecord {
        status: 200,
        outcome: "ignored".into(),
        reason_code: "NO_RULE_MATCHED".into(),
        ..rec(event, Some(&format!("sub/{event}")), at)
    }
}

#[tokio::test]
async fn logged_entries_are_seen_at_once_and_ignored_ones_outlive_the_cap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    let now = unix_ms(SystemTime::now());
    for i in 0..3 {
        s.log(ignored(&format!("ignored-{i}"), now + i))
            .expect("room in the queue");
        let mut r = rec(&format!("failed-{i}"), None, now + 10 + i);
        r.reason_code = "RULE_ERROR".into();
        s.log(r).expect("room in the queue");
    }
    // Not awaited, but queued before the next call: already there.
    assert_eq!(newest(&s).await.expect("list").len(), 6);
    assert!(
        s.find("ignored-0", "s", Some("sub/ignored-0"))
            .await
            .expect("find")
            .is_none(),
        "a logged entry is never redelivery memory"
    );

    assert_eq!(s.prune(SystemTime::UNIX_EPOCH, 1).await.expect("prune"), 2);
    let left = newest(&s).await.expect("list");
    let codes = |code: &str| left.iter().filter(|d| d.reason_code == code).count();
    assert_eq!(codes("RULE_ERROR"), 1, "the newest log-only entry is kept");
    assert_eq!(
        codes("NO_RULE_MATCHED"),
        3,
        "ignored deliveries are not capped"
    );
}

#[tokio::test]
async fn deliveries_ignored_before_the_upgrade_stop_being_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let s = Store::open(dir.path()).expect("open");
        s.admit(ignored("old", 1), vec![], None, 0)
            .await
            .expect("admit");
        s.admit(rec("acted", None, 2), vec![action("wf")], None, 0)
            .await
            .expect("admit");
    }
    // As an earlier version left it.
    let c = raw(dir.path());
    c.execute_batch("PRAGMA user_version = 0; UPDATE deliveries SET remembered = 1")
        .expect("downgrade");
    drop(c);
    let s = Store::open(dir.path()).expect("reopen");
    assert!(
        s.find("old", "s", Some("sub/old"))
            .await
            .expect("find")
            .is_none()
    );
    assert!(s.find("acted", "s", None).await.expect("find").is_some());
}

#[tokio::test]
async fn only_batches_with_something_to_keep_wait_for_the_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    let level = |c: &Connection| c.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0));
    // 1 = NORMAL (no fsync at commit), 2 = FULL.
    assert_eq!(s.call_relaxed(level).await.expect("relaxed"), 1);
    assert_eq!(
        s.call_counted(move |c, _| level(c)).await.expect("durable"),
        2
    );
    assert_eq!(s.call_relaxed(level).await.expect("relaxed"), 1);
}

#[tokio::test]
async fn a_barrier_syncs_what_went_unsynced_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    let unsynced = |i: i64| {
        s.admit_with(
            false,
            rec(&format!("u{i}"), None, i),
            vec![action(&format!("u{i}"))],
            None,
            0,
        )
    };
    assert_eq!(s.disk_syncs(), 0);
    unsynced(1).await.expect("admit");
    assert_eq!(s.disk_syncs(), 0, "an unsynced admission waits for nothing");
    s.sync().await.expect("sync");
    assert_eq!(s.disk_syncs(), 1, "the barrier synced the WAL");
    s.sync().await.expect("sync");
    assert_eq!(s.disk_syncs(), 1, "nothing left to sync");

    admit_nth(&s, 1).await.expect("admit");
    assert_eq!(s.disk_syncs(), 2, "a synced admission waits for the disk");
    s.sync().await.expect("sync");
    assert_eq!(s.disk_syncs(), 2, "it synced all before it");

    // A synced admission that finds a duplicate writes nothing; it syncs
    // the unsynced delivery it found.
    unsynced(2).await.expect("admit");
    let dup = s
        .admit(rec("u2", None, 2), vec![action("u2")], None, 0)
        .await
        .expect("admit");
    assert!(matches!(dup, Admission::Duplicate(..)));
    assert_eq!(s.disk_syncs(), 3, "the duplicate's admission synced it");
    assert_eq!(count_actions(dir.path()), 3);
}

#[tokio::test]
async fn log_only_rows_stay_out_of_the_redelivery_indexes_which_lookups_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let s = Store::open(dir.path()).expect("open");
        s.admit(rec("acted", Some("sub/1"), 1), vec![action("wf")], None, 0)
            .await
            .expect("admit");
        s.log_when_room(ignored("skipped", 2)).await;
        assert!(s.find("skipped", "s", None).await.expect("find").is_none());
    }
    // As version 1 left it: the full indexes.
    let c = raw(dir.path());
    c.execute_batch(
        "PRAGMA user_version = 1;
         CREATE INDEX deliveries_event_id ON deliveries(event_id);
         CREATE INDEX deliveries_notification_key ON deliveries(notification_key);",
    )
    .expect("downgrade");
    drop(c);
    let s = Store::open(dir.path()).expect("reopen");
    let c = raw(dir.path());
    // Only the delivery that acted is in them.
    let rows_in = |index: &str| -> i64 {
        c.query_row(
            &format!(
                "SELECT COUNT(*) FROM deliveries INDEXED BY {index}
                 WHERE remembered = 1 AND event_id IS NOT NULL AND notification_key IS NOT NULL"
            ),
            [],
            |r| r.get(0),
        )
        .expect("count")
    };
    assert_eq!(rows_in("deliveries_remembered_event_id"), 1);
    assert_eq!(rows_in("deliveries_remembered_notification_key"), 1);
    let names: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'deliveries' ORDER BY name")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("names");
    assert!(
        !names.contains(&"deliveries_event_id".to_owned()),
        "{names:?}"
    );
    assert!(
        !names.contains(&"deliveries_notification_key".to_owned()),
        "{names:?}"
    );
    let plan: Vec<String> = c
        .prepare(&format!("EXPLAIN QUERY PLAN {}", *FIND_SQL))
        .expect("plan")
        .query_map(params!["e", "k", "s"], |r| r.get(3))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("plan rows");
    let plan = plan.join("\n");
    assert!(plan.contains("deliveries_remembered_event_id"), "{plan}");
    assert!(
        plan.contains("deliveries_remembered_notification_key"),
        "{plan}"
    );
    assert!(!plan.contains("SCAN deliveries"), "{plan}");
    assert!(s.find("acted", "s", None).await.expect("find").is_some());
    assert!(
        s.find("x", "s", Some("sub/1"))
            .await
            .expect("find")
            .is_some()
    );
}

#[tokio::test]
async fn commits_reach_the_database_file_by_a_checkpoint_of_their_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    let db = dir.path().join(DB_FILE);
    let before = std::fs::metadata(&db).expect("db").len();
    for i in 0..40 {
        seqs(admit_nth(&s, i).await.expect("admit"));
    }
    // A few hundred pages: below the point where SQLite (1,000 pages by
    // default), or the writer, would checkpoint by itself.
    let wal_pages = wal_pages(dir.path());
    assert!(wal_pages < 1_000, "{wal_pages} pages");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut after = before;
    while after <= before && std::time::Instant::now() < deadline {
        tokio::time::sleep(checkpoint::INTERVAL).await;
        after = std::fs::metadata(&db).expect("db").len();
    }
    assert!(
        after > before,
        "the database file stayed at {before} bytes: nothing was checkpointed"
    );
    // Everything written is there, read from the file and the WAL alike.
    assert_eq!(count_actions(dir.path()), 40);
}

#[tokio::test]
async fn the_wal_starts_over_under_a_steady_stream_of_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    // A transaction each, several pages each: a few times the pages at
    // which the writer checkpoints by itself.
    for i in 0..3000 {
        seqs(admit_nth(&s, i).await.expect("admit"));
    }
    assert_eq!(count_actions(dir.path()), 3000);
    // The file keeps the size of the longest WAL since it started over.
    let wal_pages = wal_pages(dir.path());
    assert!(
        wal_pages <= u64::from(checkpoint::WRITER_PAGES) + 1_000,
        "the WAL grew to {wal_pages} pages"
    );
}

/// At a steady rate with pauses between commits the writer checkpoints
/// while idle, once the WAL is long: it never reaches the length at which
/// the writer checkpoints by itself, with a commit waiting.
#[tokio::test]
async fn an_idle_writer_lets_the_wal_start_over_before_it_must() {
    const N: i64 = 1_200;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    // A commit about every millisecond, as at 1,000 deliveries a second:
    // commits come during the checkpoint thread's own checkpoints, so the
    // WAL does not start over by itself. Several pages each: a few times
    // the pages at which the writer checkpoints by itself.
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for i in 0..N {
        tick.tick().await;
        seqs(admit_nth(&s, i).await.expect("admit"));
    }
    assert_eq!(count_actions(dir.path()), N);
    // The file keeps the size of the longest WAL since it started over.
    let wal_pages = wal_pages(dir.path());
    assert!(
        wal_pages < u64::from(checkpoint::WRITER_PAGES),
        "the WAL grew to {wal_pages} pages"
    );
}

/// A lookup by correlation id ("why didn't my workflow start?") or reason
/// code, or of dead letters, answers at once however long the log: it
/// must not read the whole log.
#[tokio::test]
async fn delivery_log_lookups_read_indexes_not_the_whole_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    let by_correlation = DeliveryFilter {
        correlation_id: Some("c".into()),
        ..Default::default()
    };
    let lookups = [
        (by_correlation.clone(), "deliveries_correlation_id"),
        (
            DeliveryFilter {
                reason_code: Some("STARTED".into()),
                source: Some("s".into()),
                ..by_correlation
            },
            "deliveries_correlation_id",
        ),
        (
            DeliveryFilter {
                reason_code: Some("DEAD_LETTER".into()),
                source: Some("s".into()),
                ..Default::default()
            },
            "deliveries_reason_code",
        ),
        (
            DeliveryFilter {
                outcome: Some("dead".into()),
                ..Default::default()
            },
            "rowid=?",
        ),
    ];
    for (filter, index) in lookups {
        let (sql, args) = list_query(filter.clone());
        let plan = plan_of(&s, sql, args).await;
        assert!(plan.contains(index), "{filter:?}: {plan}");
        assert!(!plan.contains("SCAN d"), "{filter:?}: {plan}");
    }
}

/// The pruner runs on the writer thread, where every delivery waits behind
/// it: it must read only what it may delete.
#[tokio::test]
async fn pruning_reads_what_it_may_delete_not_the_whole_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    for sql in [PRUNE_LOG_ONLY, PRUNE_ACTIONS, PRUNE_DELIVERIES] {
        let plan = plan_of(&s, sql.into(), vec![rusqlite::types::Value::Integer(1)]).await;
        assert!(!scans_a_table(&plan), "{plan}");
    }
}

/// SQLite's plan for `sql` with `args`, its steps joined by `; `.
async fn plan_of(s: &Store, sql: String, args: Vec<rusqlite::types::Value>) -> String {
    s.call_relaxed(move |c| {
        let mut plan = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let steps = plan
            .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(steps.join("; "))
    })
    .await
    .expect("plan")
}

/// Whether a plan reads a whole table rather than a range of an index.
fn scans_a_table(plan: &str) -> bool {
    plan.split("; ")
        .any(|step| step.starts_with("SCAN") && !step.contains("INDEX"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_log_lookup_under_way_holds_up_no_delivery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    admit_nth(&s, 1).await.expect("admit");
    // A lookup that has read once and reads again when told to.
    let count = |c: &Connection| {
        c.query_row("SELECT COUNT(*) FROM deliveries", [], |r| {
            r.get::<_, i64>(0)
        })
    };
    let (read, first) = std::sync::mpsc::channel::<i64>();
    let (again, wait) = std::sync::mpsc::channel::<()>();
    let reader = Arc::clone(&s.reader);
    let lookup = tokio::spawn(async move {
        reader
            .read(move |c| {
                let _ = read.send(count(c)?);
                let _ = wait.recv();
                count(c)
            })
            .await
    });
    let before = tokio::task::spawn_blocking(move || first.recv().expect("the first read"))
        .await
        .expect("first read");
    assert_eq!(before, 1);
    tokio::time::timeout(Duration::from_secs(10), admit_nth(&s, 2))
        .await
        .expect("a delivery admitted while the lookup reads")
        .expect("admitted");
    assert!(!lookup.is_finished(), "the lookup is still reading");
    again.send(()).expect("the lookup waits");
    let after = lookup.await.expect("lookup").expect("count");
    assert_eq!(after, 1, "one lookup reads one moment");
    let listed = newest(&s).await.expect("list");
    assert_eq!(listed.len(), 2, "a later lookup sees the delivery");
    let (rec, actions) = s.show(listed[0].id).await.expect("show").expect("there");
    assert_eq!((rec.event_id.as_str(), actions.len()), ("e2", 1));
}

#[tokio::test]
async fn a_delivery_log_lookup_sees_what_was_queued_before_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    let hold = block_writer(&s);
    s.log(rec("logged", None, 1)).expect("room in the queue");
    let store = s.clone();
    let lookup = tokio::spawn(async move { newest(&store).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !lookup.is_finished(),
        "the lookup waits for the writes queued before it"
    );
    drop(hold);
    let listed = lookup.await.expect("lookup").expect("list");
    assert_eq!(
        listed
            .iter()
            .map(|d| d.event_id.as_str())
            .collect::<Vec<_>>(),
        ["logged"]
    );
}

#[tokio::test]
async fn delivery_log_lookups_cannot_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).expect("open");
    let wrote = s
        .reader
        .read(|c| c.execute("DELETE FROM deliveries", []))
        .await;
    assert!(
        matches!(wrote, Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))) if e.code == rusqlite::ErrorCode::ReadOnly),
        "{wrote:?}"
    );
}
