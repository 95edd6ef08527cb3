//! Receiving: the HTTP edge. Routing, request limits, authentication,
//! health, and turning answers into responses.

mod admin;
mod health;
mod response;
mod ui;
mod webhook;

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{get, post},
};
use tower_http::{catch_panic::CatchPanicLayer, timeout::TimeoutLayer, trace::TraceLayer};

use crate::{config::Config, pipeline::Bridge, temporal::Gateway};

/// Shared state of all handlers.
#[derive(Clone)]
pub struct AppState {
    /// Prometheus metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Validated configuration.
    pub config: Arc<Config>,
    /// The delivery pipeline.
    pub bridge: Arc<Bridge>,
    /// Temporal, for readiness.
    pub gateway: Arc<dyn Gateway>,
}

/// The bridge's HTTP routes with their limits. The admin API is here too
/// unless it has its own listener.
pub fn router(state: AppState) -> Router {
    let mut routes = Router::new()
        .route("/webhooks/{source}", post(webhook::receive))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    if state.config.admin_listen.is_none() {
        routes = routes
            .merge(admin_routes(&state))
            .route("/metrics", get(health::metrics));
    }
    with_layers(routes, state)
}

/// The routes served on `adminListen`.
pub fn admin_router(state: AppState) -> Router {
    let routes = admin_routes(&state)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics));
    with_layers(routes, state)
}

fn admin_routes(state: &AppState) -> Router<AppState> {
    let api = Router::new()
        .route("/admin/deliveries", get(admin::list))
        .route("/admin/deliveries/{id}", get(admin::show))
        .route("/admin/deliveries/{id}/replay", post(admin::replay))
        .route("/admin/stats", get(admin::stats))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admin::require_token,
        ));
    api.merge(ui::routes())
}

fn with_layers(routes: Router<AppState>, state: AppState) -> Router {
    let limits = &state.config.limits;
    let body_limit = limits.max_body_bytes;
    let timeout = limits.request_timeout;
    let max_concurrent = limits.max_concurrent_requests;
    // One layer stack, applied once: `Router::layer` boxes each layer it
    // is given around every route, and each box is cloned for every
    // request. Outermost first.
    let stack = tower::ServiceBuilder::new()
        // Outermost, so the timeout's and the panic handler's answers get it too.
        .layer(axum::middleware::map_response(retry_after_on_503))
        // Past the cap, requests are shed at once with 503 (ADO retries)
        // instead of queueing without bound.
        .layer(axum::error_handling::HandleErrorLayer::new(
            |_: tower::BoxError| async { http::StatusCode::SERVICE_UNAVAILABLE },
        ))
        .load_shed()
        .concurrency_limit(max_concurrent)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &http::Request<_>| {
                // The route template, never the raw path with its source name
                // or query string.
                let route = req
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map_or("unmatched", |p| p.as_str())
                    .to_owned();
                let span = tracing::debug_span!(
                    "http.request",
                    otel.name = %format!("{} {route}", req.method()),
                    otel.kind = "server",
                    http.request.method = %req.method(),
                    http.route = %route,
                );
                // The caller's trace, when it sent one (W3C `traceparent`).
                if let Some(parent) = webhook::incoming_trace(req.headers()) {
                    crate::telemetry::set_parent(&span, &parent);
                }
                span
            }),
        )
        .layer(TimeoutLayer::with_status_code(
            http::StatusCode::SERVICE_UNAVAILABLE,
            timeout.max(Duration::from_millis(100)),
        ))
        .layer(axum::middleware::from_fn(request_limits))
        .layer(DefaultBodyLimit::max(body_limit));
    routes.layer(stack).with_state(state)
}

/// Every 503 tells ADO when to retry, including the request timeout's.
async fn retry_after_on_503(mut resp: axum::response::Response) -> axum::response::Response {
    if resp.status() == http::StatusCode::SERVICE_UNAVAILABLE
        && !resp.headers().contains_key(http::header::RETRY_AFTER)
    {
        resp.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from(crate::pipeline::RETRY_AFTER_SECS),
        );
    }
    resp
}

/// A bug must not put the ADO subscription on probation: answer 503 (ADO
/// retries) rather than 500, and say nothing about the cause.
fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    tracing::error!("a request handler panicked; answered 503");
    let body = axum::Json(
        serde_json::json!({"outcome": "unavailable", "reason": "internal error; retry later"}),
    );
    axum::response::IntoResponse::into_response((http::StatusCode::SERVICE_UNAVAILABLE, body))
}

/// Longest request target (path and query) accepted.
const MAX_URI_BYTES: usize = 2048;
/// Most header bytes (names and values) accepted.
const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Most headers accepted.
const MAX_HEADERS: usize = 100;

/// Refuses absurd request targets (414) and header sections (431) before
/// any handler runs.
async fn request_limits(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if req.uri().to_string().len() > MAX_URI_BYTES {
        return (http::StatusCode::URI_TOO_LONG, "request target too long").into_response();
    }
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return (
            http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "too many or too large headers",
        )
            .into_response();
    }
    next.run(req).await
}
