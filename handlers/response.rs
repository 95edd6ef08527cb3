//! Turning an [`Answer`] into an HTTP response ADO understands.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::pipeline::Answer;

/// Response header carrying the correlation id.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let correlation = HeaderValue::from_str(&self.report.correlation_id).ok();
        let retry_after = self.retry_after;
        let json = HeaderValue::from_static("application/json");
        let mut resp = (status, [(header::CONTENT_TYPE, json)], self.into_body()).into_response();
        let h = resp.headers_mut();
        if let Some(v) = correlation {
            h.insert(CORRELATION_HEADER, v);
        }
        if let Some(secs) = retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"ado-temporal-bridge\""),
            );
        }
        resp
    }
}
