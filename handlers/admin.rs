//! The admin API: the delivery log, dead letters and replay. Protected by
//! its own bearer token (`admin.token`), separate from webhook credentials;
//! off when no token is configured.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::store::DeliveryFilter;

/// `None` when the request carries the admin token, else the refusal.
fn refusal(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = &state.config.admin_token else {
        return Some(
            (
                StatusCode::NOT_FOUND,
                Json(json!({"error": "the admin API is off; set admin.token"})),
            )
                .into_response(),
        );
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    match presented {
        Some(p) if token.matches(p) => None,
        _ => Some(
            (
                StatusCode::UNAUTHORIZED,
                [(
                    header::WWW_AUTHENTICATE,
                    "Bearer realm=\"ado-temporal-bridge admin\"",
                )],
                Json(json!({"error": "admin token required"})),
            )
                .into_response(),
        ),
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
    limit: Option<usize>,
}

/// `GET /admin/deliveries`: newest first, filtered.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    if let Some(r) = refusal(&state, &headers) {
        return r;
    }
    let filter = DeliveryFilter {
        source: q.source,
        event_type: q.event_type,
        outcome: q.outcome,
        correlation_id: q.correlation_id,
        limit: q.limit.unwrap_or(100),
    };
    match state.bridge.store.list(filter).await {
        Ok(rows) => Json(json!({"deliveries": rows})).into_response(),
        Err(e) => store_error(e),
    }
}

/// `GET /admin/deliveries/{id}`: the answer given and every action's state.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    if let Some(r) = refusal(&state, &headers) {
        return r;
    }
    match state.bridge.store.show(id).await {
        Ok(Some((rec, actions))) => Json(crate::store::detail(id, &rec, &actions)).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such delivery"})),
        )
            .into_response(),
        Err(e) => store_error(e),
    }
}

/// `POST /admin/deliveries/{id}/replay`: dead-lettered actions go again.
pub async fn replay(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    if let Some(r) = refusal(&state, &headers) {
        return r;
    }
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
pub async fn stats(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(r) = refusal(&state, &headers) {
        return r;
    }
    use std::sync::atomic::Ordering::Relaxed;
    let r = &state.refusals;
    let spool = state.bridge.store.stats().await.ok();
    Json(json!({
        "refused": {
            "verificationFailed": r.verification_failed.load(Relaxed),
            "forbidden": r.forbidden.load(Relaxed),
            "malformed": r.malformed.load(Relaxed),
            "tooLarge": r.too_large.load(Relaxed),
            "unknownSource": r.unknown_source.load(Relaxed),
        },
        "spool": spool,
    }))
    .into_response()
}
