//! `GET /healthz` (the process is up) and `GET /readyz` (deliveries can be
//! accepted).

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use serde_json::json;

use std::time::Duration;

use super::AppState;
use crate::config::DeliveryMode;

/// Liveness: answers while the process runs.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Readiness: the configuration is loaded (it is, or the process would not
/// serve) and deliveries can be kept: in durable mode the spool answers and
/// has room (Temporal may be away, the spool keeps deliveries meanwhile); in
/// direct mode Temporal answers health checks, because nothing else could
/// keep a delivery.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let temporal = state.gateway.is_ready();
    let durable = state.config.delivery == DeliveryMode::Durable;
    let spool = if durable {
        match tokio::time::timeout(Duration::from_secs(2), state.bridge.store.stats()).await {
            Ok(Ok(stats)) => Some(stats),
            _ => None,
        }
    } else {
        None
    };
    let spool_ok = spool.is_some_and(|s| s.pending < state.config.spool.max_pending);
    let ready = if durable { spool_ok } else { temporal };
    let body = Json(json!({
        "status": if ready { "ready" } else { "not ready" },
        "config": "loaded",
        "delivery": state.config.delivery,
        "temporal": if temporal { "reachable" } else { "unreachable" },
        "spool": spool,
        "rules": state.bridge.rules.rules().len(),
    }));
    if ready {
        (StatusCode::OK, body)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, body)
    }
}

/// `GET /metrics`: Prometheus text format. Spool gauges are read at scrape
/// time. Labels carry no secrets and no raw paths.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let m = &state.metrics;
    if let Ok(Ok(stats)) =
        tokio::time::timeout(Duration::from_secs(2), state.bridge.store.stats()).await
    {
        m.spool_pending.set(stats.pending);
        let age = stats
            .oldest_pending_ms
            .map(|t| {
                (crate::store::unix_ms(std::time::SystemTime::now()) - t).max(0) as f64 / 1000.0
            })
            .unwrap_or(0.0);
        m.spool_oldest_age.set(age);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.render(),
    )
}
