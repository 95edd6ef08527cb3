//! Receiving: the HTTP edge. Routing, request limits, authentication,
//! health, and turning answers into responses.

mod auth;
mod health;
mod response;
mod webhook;

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{get, post},
};
use tower_http::{catch_panic::CatchPanicLayer, timeout::TimeoutLayer, trace::TraceLayer};

use crate::{config::Config, pipeline::Bridge, temporal::Gateway};

pub use auth::{AuthError, VerifiedSource, verify_basic};

/// Shared state of all handlers.
#[derive(Clone)]
pub struct AppState {
    /// Validated configuration.
    pub config: Arc<Config>,
    /// The delivery pipeline.
    pub bridge: Arc<Bridge>,
    /// Temporal, for readiness.
    pub gateway: Arc<dyn Gateway>,
}

/// The bridge's HTTP routes with their limits.
pub fn router(state: AppState) -> Router {
    let limits = &state.config.limits;
    let body_limit = limits.max_body_bytes;
    let timeout = limits.request_timeout;
    Router::new()
        .route("/webhooks/{source}", post(webhook::receive))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(
            http::StatusCode::SERVICE_UNAVAILABLE,
            timeout.max(Duration::from_millis(100)),
        ))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &http::Request<_>| {
            // The route template, never the raw path with its source name
            // or query string.
            let route = req
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map_or("unmatched", |p| p.as_str())
                .to_owned();
            tracing::debug_span!("http.request", http.request.method = %req.method(), http.route = %route)
        }))
        .layer(CatchPanicLayer::new())
        .with_state(state)
}
