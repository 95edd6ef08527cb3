//! `POST /webhooks/{source}`: verify, then hand the raw bytes to the
//! pipeline.

use std::time::SystemTime;

use axum::{
    body::Body,
    extract::{Path, State},
    http::HeaderMap,
};
use serde_json::{Map, Value};
use tracing::Instrument;

use super::{AppState, response::CORRELATION_HEADER};
use crate::{
    correlation,
    pipeline::{Answer, Delivery},
    verify::AuthError,
};

/// Headers never shown to rules, stored or forwarded, whatever the source.
const HIDDEN_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie"];

fn refused(source: &str, correlation_id: String, e: &AuthError) -> Answer {
    tracing::warn!(correlation_id = %correlation_id, source, scheme = e.scheme(), reason = %e, "delivery refused: verification failed");
    Answer::rejected(401, correlation_id, e.to_string())
}

/// Receives one ADO delivery.
pub async fn receive(
    State(state): State<AppState>,
    Path(source_name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let received = SystemTime::now();
    let metrics = std::sync::Arc::clone(&state.metrics);
    let bridge = std::sync::Arc::clone(&state.bridge);
    let logged_name = log_safe(&source_name);
    // Under the request's span, which joined the caller's trace if any.
    let span = tracing::info_span!(
        "delivery",
        source = %logged_name,
        correlation_id = tracing::field::Empty,
        ado.event.id = tracing::field::Empty,
        ado.event.type = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    );
    let answer = receive_inner(state, source_name, headers, body)
        .instrument(span.clone())
        .await;
    // The pipeline recorded the id of every delivery it parsed (each
    // record costs the log formatter a pass over the span's fields).
    if answer.report.event_id.is_none() {
        span.record("correlation_id", answer.report.correlation_id.as_str());
    }
    span.record("http.response.status_code", answer.status);
    metrics.count_refusal(answer.status);
    // Refusals before the pipeline (it logs its own).
    if matches!(answer.status, 401 | 404 | 413) {
        let entry = crate::delivery_log::Entry {
            source: logged_name,
            received: Some(received),
            ..Default::default()
        };
        bridge.log.log_refusal(entry, &answer);
    }
    answer
}

/// The caller's W3C trace context, if valid.
pub(super) fn incoming_trace(headers: &HeaderMap) -> Option<crate::temporal::TraceContext> {
    let traceparent = headers.get("traceparent")?.to_str().ok()?;
    crate::temporal::TraceContext::parse(
        traceparent,
        headers.get("tracestate").and_then(|v| v.to_str().ok()),
    )
}

/// A source name from the URL as the log may keep it: it can be anything
/// an unauthenticated caller sent.
fn log_safe(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}

async fn receive_inner(
    state: AppState,
    source_name: String,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let correlation_header = headers
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(correlation::from_header);
    // Before authentication the caller's id is not trusted: it could name
    // a real delivery and clutter its entry in the log.
    let early_id = correlation::random;

    let Some(source) = state.config.source(&source_name) else {
        return Answer::rejected(404, early_id(), "unknown source");
    };
    // Header credentials first: an unauthenticated request costs a header
    // lookup, never a body read or a JSON parse.
    let verify_span = tracing::debug_span!("delivery.verify", auth.keys = tracing::field::Empty);
    let verify_guard = verify_span.enter();
    let mut matched = match source.verifier.verify_headers(&headers) {
        Ok(m) => m,
        Err(e) => return refused(&source.name, early_id(), &e),
    };
    drop(verify_guard);
    let body = match axum::body::to_bytes(body, state.config.limits.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            let id = early_id();
            tracing::warn!(correlation_id = %id, source = %source.name, "delivery refused: body too large or unreadable");
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
    // Signatures over the raw bytes, before anything parses them.
    match verify_span.in_scope(|| {
        source
            .verifier
            .verify_body(&headers, &body, SystemTime::now())
    }) {
        Ok(m) => matched.0.extend(m.0),
        Err(e) => return refused(&source.name, early_id(), &e),
    }
    verify_span.record("auth.keys", matched.to_string());
    tracing::debug!(source = %source.name, keys = %matched, "delivery verified");
    let dry_run = headers
        .get("x-dry-run")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    let hidden = source.verifier.secret_headers();
    state
        .bridge
        .handle(Delivery {
            source: source.name.clone(),
            allow: source.allow.clone(),
            key_ids: matched.to_string(),
            headers: visible_headers(&headers, &hidden),
            correlation_header,
            trace: incoming_trace(&headers),
            body,
            dry_run,
        })
        .await
}

/// Headers as rules see them: lower-cased names, credentials and signature
/// headers removed, repeated headers joined with `, `.
fn visible_headers(headers: &HeaderMap, hidden: &[String]) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, value) in headers {
        let name = name.as_str();
        if HIDDEN_HEADERS.contains(&name) || hidden.iter().any(|h| h == name) {
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
