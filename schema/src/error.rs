//! The race office's refusals as GraphQL errors: each `ApiError` becomes an error whose
//! `extensions.code` is its code (and `retryAfter` for a rate limit); an internal failure
//! is logged here, with its cause, and reaches the client only as `INTERNAL`.

use async_graphql::ErrorExtensions;
use race_office::error::{ApiError, retry_after_secs};

/// `?` in a resolver: `services::x(…).await.graphql()?`. The core knows nothing of
/// GraphQL, and Rust lets neither crate convert the other's error by `From`, so the
/// conversion is spelled out where a resolver calls the core.
pub trait Graphql<T> {
    fn graphql(self) -> async_graphql::Result<T>;
}

impl<T> Graphql<T> for Result<T, ApiError> {
    fn graphql(self) -> async_graphql::Result<T> {
        self.map_err(to_graphql)
    }
}

/// One refusal as a GraphQL error.
pub fn to_graphql(err: ApiError) -> async_graphql::Error {
    if let ApiError::Internal(cause) = &err {
        // The whole chain (`{:#}`): what failed and why, down to the database's words.
        tracing::error!(detail = format!("{cause:#}"), "internal error");
    }
    let code = err.code();
    let retry_after = match &err {
        ApiError::RateLimited(wait) => Some(retry_after_secs(*wait)),
        _ => None,
    };
    async_graphql::Error::new(err.message()).extend_with(|_, ext| {
        ext.set("code", code);
        if let Some(seconds) = retry_after {
            // The HTTP layer turns this into a 429 with Retry-After.
            ext.set("retryAfter", seconds);
        }
    })
}

/// A response with one error and no data, coded like every refusal: for limits met while
/// answering (a deadline, a response over its ceiling), on whichever transport.
pub fn coded_response(code: &str, message: impl Into<String>) -> async_graphql::Response {
    let mut error = async_graphql::ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
    async_graphql::Response::from_errors(vec![error])
}

/// The answer that replaces one larger than RESPONSE_MAX_BYTES.
pub fn response_too_large(limit: usize) -> async_graphql::Response {
    coded_response(
        "RESPONSE_TOO_LARGE",
        format!(
            "the answer is larger than {limit} bytes (RESPONSE_MAX_BYTES): ask for fewer \
             fields or a smaller page; a mutation's change, if any, stands"
        ),
    )
}
