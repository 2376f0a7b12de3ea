//! Answers that never reached GraphQL (no such path, wrong method, body too large, too
//! slow, a transport error, a limit before the WebSocket upgrade) still come back as
//! GraphQL-shaped JSON with an `extensions.code`, so a client reads every failure the same
//! way. [`Refusal`] is the one builder of such an answer (status, code, message, and
//! `Retry-After` when the client may come back); [`as_json`] dresses the router's own bare
//! answers with it. Responses that already carry a body type are left alone.

use async_graphql::ServerError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::app::AppState;

const JSON: &str = "application/json; charset=utf-8";

/// A request refused outside GraphQL execution: `{"errors":[{"message","extensions":{"code"}}]}`
/// with its status, as `application/json` unless told otherwise.
pub struct Refusal<'a> {
    status: StatusCode,
    code: &'a str,
    message: &'a str,
    retry_after: Option<u64>,
    content_type: HeaderValue,
}

impl<'a> Refusal<'a> {
    pub fn new(status: StatusCode, code: &'a str, message: &'a str) -> Self {
        Self {
            status,
            code,
            message,
            retry_after: None,
            content_type: HeaderValue::from_static(JSON),
        }
    }

    /// The seconds after which the client may try again (`Retry-After`).
    pub fn retry_after(mut self, seconds: Option<u64>) -> Self {
        self.retry_after = seconds;
        self
    }

    /// The media type the client negotiated, when it is not plain JSON.
    pub fn content_type(mut self, content_type: HeaderValue) -> Self {
        self.content_type = content_type;
        self
    }

    /// This refusal over a response's head, the head's other headers kept.
    fn over(self, mut parts: axum::http::response::Parts) -> Response {
        #[derive(Serialize)]
        struct Errors {
            errors: Vec<ServerError>,
        }
        let errors = schema::error::coded_response(self.code, self.message).errors;
        let body = serde_json::to_string(&Errors { errors }).unwrap_or_default();
        parts.status = self.status;
        parts
            .headers
            .insert(header::CONTENT_TYPE, self.content_type);
        parts.headers.remove(header::CONTENT_LENGTH);
        if let Some(seconds) = self.retry_after {
            set_retry_after(&mut parts.headers, seconds);
        }
        (parts, Body::from(body)).into_response()
    }
}

impl IntoResponse for Refusal<'_> {
    fn into_response(self) -> Response {
        let (parts, _) = Response::new(Body::empty()).into_parts();
        self.over(parts)
    }
}

/// `Retry-After` in whole seconds, on any answer that asks the client to wait (a refusal
/// here, or GraphQL's `RATE_LIMITED`).
pub fn set_retry_after(headers: &mut HeaderMap, seconds: u64) {
    headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
}

/// A body whose declared length is already over MAX_BODY_BYTES is refused from its
/// header, before a byte of it is read (and, with `Expect: 100-continue`, before the client
/// is told to send it). The accept loop then closes the connection.
pub async fn refuse_declared_oversize(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared
        .is_some_and(|length| length > u64::try_from(state.max_body_bytes).unwrap_or(u64::MAX))
    {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    next.run(request).await
}

pub async fn as_json(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let has_type = response.headers().contains_key(header::CONTENT_TYPE)
        && !is_plain_text(response.headers().get(header::CONTENT_TYPE));
    if has_type {
        return response;
    }
    let (code, message) = match response.status() {
        StatusCode::NOT_FOUND => ("NOT_FOUND", "no such path: GraphQL is at /graphql"),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("METHOD_NOT_ALLOWED", "this path does not take that method")
        }
        StatusCode::PAYLOAD_TOO_LARGE => (
            "PAYLOAD_TOO_LARGE",
            "the request body is larger than MAX_BODY_BYTES",
        ),
        StatusCode::REQUEST_TIMEOUT => ("REQUEST_TIMEOUT", "the request was not received in time"),
        StatusCode::SERVICE_UNAVAILABLE => (
            "TIMEOUT",
            "the request took longer than HTTP_REQUEST_TIMEOUT_MS",
        ),
        _ => return response,
    };
    let (parts, _) = response.into_parts();
    let status = parts.status;
    Refusal::new(status, code, message).over(parts)
}

/// axum's own rejections (413 from the body limit) are plain text.
fn is_plain_text(value: Option<&HeaderValue>) -> bool {
    value
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refusal_is_a_graphql_error_with_its_code_and_perhaps_a_wait() {
        let response = Refusal::new(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", "later")
            .retry_after(Some(7))
            .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(
            body,
            r#"{"errors":[{"message":"later","extensions":{"code":"RATE_LIMITED"}}]}"#
        );
        let plain = Refusal::new(StatusCode::BAD_REQUEST, "X", "y").into_response();
        assert!(!plain.headers().contains_key(header::RETRY_AFTER));
    }
}
