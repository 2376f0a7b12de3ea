//! IDs are opaque strings to clients; inside they are database keys. Parsing one that is
//! malformed answers NOT_FOUND, as an unknown one would.

use async_graphql::ID;

use crate::error::ApiError;

pub fn parse_id(id: &ID, what: &'static str) -> Result<i64, ApiError> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(ApiError::NotFound(what))
}

pub fn to_id(id: i64) -> ID {
    ID(id.to_string())
}

/// An opaque cursor for connections ordered by id.
pub fn id_cursor(id: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("id:{id}"))
}

pub fn parse_id_cursor(cursor: &str) -> Result<i64, ApiError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("id:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| ApiError::bad_input("after is not a cursor from this connection"))
}

/// Checks `first` (1 to 100, default 20) for a connection.
pub fn page_size(first: Option<i32>) -> Result<u64, ApiError> {
    let first = first.unwrap_or(20);
    if !(1..=100).contains(&first) {
        return Err(ApiError::bad_input("first must be between 1 and 100"));
    }
    Ok(first as u64)
}
