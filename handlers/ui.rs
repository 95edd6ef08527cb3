//! The delivery page: `/admin/ui`, a static page whose script reads the
//! admin API with the admin token the user types in. The page itself holds
//! no data, so it is served without the token; every request for data
//! needs it. Off (404) when the admin API is off.

use axum::{
    Router,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

use super::AppState;

const INDEX: &str = include_str!("ui/index.html");
const SCRIPT: &str = include_str!("ui/app.js");
const STYLE: &str = include_str!("ui/app.css");

/// Scripts and styles from this origin only, no framing, no form posts
/// elsewhere: the page shows data that came from ADO and must never run it.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The page's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/ui", get(index))
        .route("/admin/ui/", get(index))
        .route("/admin/ui/app.js", get(script))
        .route("/admin/ui/app.css", get(style))
}

fn asset(state: &AppState, content_type: &'static str, body: &'static str) -> Response {
    if state.config.admin_token.is_none() {
        return (
            StatusCode::NOT_FOUND,
            "the admin API is off; set admin.token",
        )
            .into_response();
    }
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn index(State(state): State<AppState>) -> Response {
    asset(&state, "text/html; charset=utf-8", INDEX)
}

async fn script(State(state): State<AppState>) -> Response {
    asset(&state, "text/javascript; charset=utf-8", SCRIPT)
}

async fn style(State(state): State<AppState>) -> Response {
    asset(&state, "text/css; charset=utf-8", STYLE)
}
