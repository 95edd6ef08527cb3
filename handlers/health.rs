//! `GET /healthz` (the process is up) and `GET /readyz` (deliveries can be
//! accepted).

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use serde_json::json;

use super::AppState;

/// Liveness: answers while the process runs.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Readiness: the configuration is loaded (it is, or the process would not
/// serve) and, in direct delivery mode, Temporal answers health checks,
/// because nothing else could keep a delivery.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let temporal = state.gateway.is_ready();
    let body = Json(json!({
        "status": if temporal { "ready" } else { "not ready" },
        "config": "loaded",
        "temporal": if temporal { "reachable" } else { "unreachable" },
        "rules": state.bridge.rules.rules().len(),
    }));
    if temporal {
        (StatusCode::OK, body)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, body)
    }
}
