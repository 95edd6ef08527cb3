//! `/metrics` changes by exactly the expected amounts after a known
//! sequence of deliveries.

use crate::support::{PASSWORD, TestApp, fixture, metric_value as value};

#[tokio::test]
async fn counters_move_by_exactly_what_happened() {
    let app = TestApp::spawn().await;
    app.wait_ready().await;
    let push = fixture("git.push.json");
    assert_eq!(app.post(&push).await.status(), 200);
    assert_eq!(app.post(&push).await.status(), 200); // duplicate
    assert_eq!(
        app.post(&fixture("git.push.skip-deploy.json"))
            .await
            .status(),
        200
    ); // ignored
    assert_eq!(
        app.post(&fixture("build.complete.v2.json")).await.status(),
        200
    ); // signal-with-start
    let body = serde_json::to_vec(&push).expect("json");
    assert_eq!(
        app.post_raw("fabrikam", body, Some(("ado-hooks", "wrong-one")), &[])
            .await
            .status(),
        401
    );
    assert_eq!(
        app.post_raw(
            "fabrikam",
            b"nope".to_vec(),
            Some(("ado-hooks", PASSWORD)),
            &[]
        )
        .await
        .status(),
        400
    );

    let text = app.metrics().await;
    let push_labels = r#"{source="fabrikam",event_type="git.push"}"#;
    assert_eq!(
        value(
            &text,
            &format!("ado_bridge_deliveries_received_total{push_labels}")
        ),
        3.0,
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            &format!("ado_bridge_deliveries_ignored_total{push_labels}")
        ),
        1.0
    );
    assert_eq!(value(&text, "ado_bridge_deliveries_duplicate_total"), 1.0);
    assert_eq!(
        value(
            &text,
            r#"ado_bridge_deliveries_rejected_total{reason="auth"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"ado_bridge_deliveries_rejected_total{reason="malformed"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"ado_bridge_actions_total{kind="start",outcome="started"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"ado_bridge_actions_total{kind="signalWithStart",outcome="signaledAndStarted"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"ado_bridge_temporal_call_duration_seconds_count{kind="start"}"#
        ),
        1.0
    );
    assert_eq!(
        value(&text, "ado_bridge_delivery_to_acceptance_seconds_count"),
        2.0
    );
    assert_eq!(value(&text, "ado_bridge_spool_pending_actions"), 0.0);
    assert!(
        !text.contains(PASSWORD) && !text.contains("/webhooks/"),
        "no secrets or raw paths"
    );
}
