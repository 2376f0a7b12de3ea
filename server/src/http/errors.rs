//! Answers that never reached GraphQL (no such path, wrong method, body too large, too
//! slow) still come back as GraphQL-shaped JSON with an `extensions.code`, so a client
//! reads every failure the same way. Responses that already carry a body type are left
//! alone.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;

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
    let (mut parts, _) = response.into_parts();
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    (parts, Body::from(body.to_string())).into_response()
}

/// axum's own rejections (413 from the body limit) are plain text.
fn is_plain_text(value: Option<&HeaderValue>) -> bool {
    value
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"))
}
