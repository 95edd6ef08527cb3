//! The admin API: the delivery log, dead letters and replay. Protected by
//! its own bearer token (`admin.token`), separate from webhook credentials;
//! off when no token is configured.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::store::DeliveryFilter;

/// Lets a request through only with the admin token: 404 when the admin
/// API is off (no token configured), 401 without the right token. Layered
/// on every admin route, so no handler can forget it.
pub async fn require_token(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(token) = &state.config.admin_token else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "the admin API is off; set admin.token"})),
        )
            .into_response();
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    match presented {
        Some(p) if token.matches(p) => next.run(req).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"ado-temporal-bridge admin\"",
            )],
            Json(json!({"error": "admin token required"})),
        )
            .into_response(),
    }
}

fn store_error(e: impl std::fmt::Display) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"error": e.to_string()})),
    )
        .into_response()
}

/// Query parameters of the delivery list.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    source: Option<String>,
    event_type: Option<String>,
    outcome: Option<String>,
    correlation_id: Option<String>,
    reason_code: Option<String>,
    limit: Option<usize>,
}

/// `GET /admin/deliveries`: newest first, filtered.
pub async fn list(State(state): State<AppState>, Query(q): Query<ListQuery>) -> Response {
    let filter = DeliveryFilter {
        source: q.source,
        event_type: q.event_type,
        outcome: q.outcome,
        correlation_id: q.correlation_id,
        reason_code: q.reason_code,
        limit: q.limit.unwrap_or(100),
    };
    match state.bridge.store.list(filter).await {
        Ok(rows) => Json(json!({"deliveries": rows})).into_response(),
        Err(e) => store_error(e),
    }
}

/// `GET /admin/deliveries/{id}`: the answer given and every action's state.
pub async fn show(State(state): State<AppState>, Path(id): Path<i64>) -> Response {
    match state.bridge.store.show(id).await {
        Ok(Some((rec, actions))) => Json(crate::store::detail(id, &rec, &actions, |row| {
            state
                .gateway
                .workflow_link(&row.workflow_id, row.run_id.as_deref())
        }))
        .into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such delivery"})),
        )
            .into_response(),
        Err(e) => store_error(e),
    }
}

/// `POST /admin/deliveries/{id}/replay`: dead-lettered actions go again.
pub async fn replay(State(state): State<AppState>, Path(id): Path<i64>) -> Response {
    match state.bridge.store.replay(id).await {
        Ok(n) => {
            tracing::info!(delivery = id, actions = n, "replay requested");
            state.bridge.dispatcher.nudge();
            Json(json!({"replayed": n})).into_response()
        }
        Err(e) => store_error(e),
    }
}

/// `GET /admin/stats`: refusals by reason since start, and the spool.
pub async fn stats(State(state): State<AppState>) -> Response {
    let m = &state.metrics;
    let spool = state.bridge.store.stats().await.ok();
    Json(json!({
        "refused": {
            "verificationFailed": m.rejected_count("auth"),
            "forbidden": m.rejected_count("forbidden"),
            "malformed": m.rejected_count("malformed"),
            "tooLarge": m.rejected_count("too_large"),
            "unknownSource": m.rejected_count("unknown_source"),
        },
        "spool": spool,
    }))
    .into_response()
}
