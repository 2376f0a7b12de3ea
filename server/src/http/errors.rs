//! Answers that never reached GraphQL (no such path, wrong method, body too large, too
//! slow) still come back as GraphQL-shaped JSON with an `extensions.code`, so a client
//! reads every failure the same way. Responses that already carry a body type are left
//! alone.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

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
