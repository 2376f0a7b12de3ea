//! One log line per HTTP request (method, path, status, latency, bytes, and for GraphQL the
//! operation's name and type), every line of a request carrying its request id: taken
//! from `x-request-id` when the client sent a sane one, made otherwise, and returned in
//! the response. The query string, the body, variables and the Authorization header never
//! reach the log.

use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Response};
use axum::middleware::Next;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, OnResponse, TraceLayer};
use tracing::Span;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, in its extensions (the WebSocket session logs with it too).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Takes the client's `x-request-id` if it is short and plain, else makes one; puts it on
/// the request (for the span) and on the response.
pub async fn request_id(mut request: Request, next: Next) -> axum::response::Response {
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| plain(id))
        .map(str::to_owned)
        .unwrap_or_else(new_id);
    if let Ok(value) = HeaderValue::from_str(&id) {
        request.headers_mut().insert(X_REQUEST_ID, value.clone());
        request.extensions_mut().insert(RequestId(id));
        let mut response = next.run(request).await;
        response.headers_mut().insert(X_REQUEST_ID, value);
        return response;
    }
    next.run(request).await
}

/// What a client may choose as its request id: it goes into logs, so nothing that could
/// forge or break a line.
fn plain(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

pub fn layer()
-> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RequestSpan, (), Logged, (), (), ()> {
    TraceLayer::new_for_http()
        .make_span_with(RequestSpan)
        .on_request(())
        .on_response(Logged)
        .on_body_chunk(())
        .on_eos(())
        .on_failure(())
}

#[derive(Clone, Copy)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &axum::http::Request<B>) -> Span {
        let id = request
            .headers()
            .get(&X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!(
            "request",
            request_id = %id,
            method = %request.method(),
            path = %request.uri().path(),
            // Filled in by the GraphQL handler.
            operation = tracing::field::Empty,
            kind = tracing::field::Empty,
        )
    }
}

#[derive(Clone, Copy)]
pub struct Logged;

impl<B: http_body::Body> OnResponse<B> for Logged {
    fn on_response(self, response: &Response<B>, latency: Duration, _span: &Span) {
        crate::metrics::http_response(response.status().as_u16());
        tracing::info!(
            status = response.status().as_u16(),
            latency_ms = latency.as_secs_f64() * 1000.0,
            bytes = response.body().size_hint().exact(),
            "request"
        );
    }
}
