//! `POST /webhooks/{source}`: verify, then hand the raw bytes to the
//! pipeline.

use axum::{
    body::Body,
    extract::{Path, State},
    http::HeaderMap,
};
use serde_json::{Map, Value};

use super::{AppState, AuthError, response::CORRELATION_HEADER, verify_basic};
use crate::{
    correlation,
    pipeline::{Answer, Delivery},
};

/// Headers never shown to rules, stored or forwarded.
const HIDDEN_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// Receives one ADO delivery.
pub async fn receive(
    State(state): State<AppState>,
    Path(source_name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let correlation_header = headers
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(correlation::from_header);
    let early_id = || {
        correlation_header
            .clone()
            .unwrap_or_else(correlation::random)
    };

    let Some(source) = state.config.source(&source_name) else {
        return Answer::rejected(404, early_id(), "unknown source");
    };
    // Credentials first: an unauthenticated request costs a header lookup,
    // never a body read or a JSON parse.
    let verified = match verify_basic(source, &headers) {
        Ok(v) => v,
        Err(e) => {
            let id = early_id();
            tracing::warn!(correlation_id = %id, source = %source.name, reason = %e, "delivery refused: verification failed");
            let reason = match e {
                AuthError::Missing => "credentials required",
                AuthError::Invalid => "invalid credentials",
            };
            return Answer::rejected(401, id, reason);
        }
    };
    let body = match axum::body::to_bytes(body, state.config.limits.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            let id = early_id();
            tracing::warn!(correlation_id = %id, source = %verified.name(), "delivery refused: body too large or unreadable");
            return Answer::rejected(
                413,
                id,
                format!(
                    "body larger than {} bytes or unreadable",
                    state.config.limits.max_body_bytes
                ),
            );
        }
    };
    let dry_run = headers
        .get("x-dry-run")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    state
        .bridge
        .handle(Delivery {
            source: verified.name().to_owned(),
            headers: visible_headers(&headers),
            correlation_header,
            body,
            dry_run,
        })
        .await
}

/// Headers as rules see them: lower-cased names, credentials removed,
/// repeated headers joined with `, `.
fn visible_headers(headers: &HeaderMap) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, value) in headers {
        let name = name.as_str();
        if HIDDEN_HEADERS.contains(&name) {
            continue;
        }
        let Ok(value) = value.to_str() else { continue };
        match out.get_mut(name) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(value);
            }
            _ => {
                out.insert(name.to_owned(), Value::String(value.to_owned()));
            }
        }
    }
    out
}
