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
