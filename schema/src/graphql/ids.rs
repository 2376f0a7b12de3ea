//! IDs are opaque strings to clients; inside they are database keys. Parsing one that is
//! malformed answers NOT_FOUND, as an unknown one would.

use async_graphql::ID;
use chrono::{DateTime, Utc};

use race_office::error::ApiError;

/// Digits of the largest i64: a longer ID is no key of ours, whatever it holds.
const ID_MAX_BYTES: usize = 19;

pub fn parse_id(id: &ID, what: &'static str) -> Result<i64, ApiError> {
    if id.len() > ID_MAX_BYTES {
        return Err(ApiError::NotFound(what));
    }
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(ApiError::NotFound(what))
}

pub fn to_id(id: i64) -> ID {
    ID(id.to_string())
}

/// A connection cursor: opaque to clients (base64url), plain text inside.
pub fn cursor(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// The text inside a cursor of ours; refused before decoding if longer than any of ours
/// (`max`, encoded).
pub fn cursor_text(cursor: &str, max: usize) -> Result<String, ApiError> {
    use base64::Engine;
    let invalid = || ApiError::bad_input("after is not a cursor from this connection");
    let cursor = race_office::domain::token("after", cursor, max).map_err(|_| invalid())?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(invalid)
}

/// A cursor for connections ordered by id.
pub fn id_cursor(id: i64) -> String {
    cursor(&format!("id:{id}"))
}

pub fn parse_id_cursor(cursor: &str) -> Result<i64, ApiError> {
    // Ours are at most 31 characters ("id:" and an i64, in base64url).
    cursor_text(cursor, 32)?
        .strip_prefix("id:")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| ApiError::bad_input("after is not a cursor from this connection"))
}

/// A cursor for the events connection, ordered by (start, id).
pub fn start_cursor(starts_at: DateTime<Utc>, id: i64) -> String {
    cursor(&format!("{}:{id}", starts_at.timestamp_micros()))
}

pub fn parse_start_cursor(cursor: &str) -> Result<(DateTime<Utc>, i64), ApiError> {
    let invalid = || ApiError::bad_input("after is not a cursor from this connection");
    // Ours are at most 56 characters (two i64s in base64url).
    let text = cursor_text(cursor, 64)?;
    let (micros, id) = text.split_once(':').ok_or_else(invalid)?;
    let micros: i64 = micros.parse().map_err(|_| invalid())?;
    let id: i64 = id.parse().map_err(|_| invalid())?;
    let at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
    Ok((at, id))
}

/// A subscription's `after`: an id of the notification log as this API gave it out (the
/// field's own id space), not encoded, since clients store and compare them.
pub fn parse_log_cursor(after: Option<String>) -> Result<Option<i64>, ApiError> {
    after
        .map(|a| {
            let invalid = || ApiError::bad_input("after must be an id this API gave out");
            if a.len() > ID_MAX_BYTES {
                return Err(invalid());
            }
            a.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(invalid)
        })
        .transpose()
}

/// What a page costs in the complexity limit: what one item costs, times the items asked
/// for, so that a large page costs what it returns. (`first` outside 1..=100 is refused by
/// the resolver; it is counted here as its nearest bound.)
pub fn page_complexity(first: Option<i32>, child_complexity: usize) -> usize {
    let items = first.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    usize::try_from(items)
        .unwrap_or(1)
        .saturating_mul(child_complexity)
}

const DEFAULT_PAGE: i32 = 20;
const MAX_PAGE: i32 = 100;

/// Checks `first` (1 to 100, default 20) for a connection.
pub fn page_size(first: Option<i32>) -> Result<u64, ApiError> {
    let first = first.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&first) {
        return Err(ApiError::bad_input("first must be between 1 and 100"));
    }
    Ok(first as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_cursors_are_bounded() {
        assert_eq!(
            parse_id(&ID("42".into()), "event").map_err(|e| e.code()),
            Ok(42)
        );
        assert_eq!(
            parse_id(&ID("9223372036854775807".into()), "event").map_err(|e| e.code()),
            Ok(i64::MAX)
        );
        for bad in ["0", "-1", "x", "4\u{0}2", "00000000000000000042"] {
            assert_eq!(
                parse_id(&ID(bad.into()), "event").map_err(|e| (e.code(), e.message())),
                Err(("NOT_FOUND", "event not found".to_owned())),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_id_cursor(&id_cursor(i64::MAX)).map_err(|e| e.code()),
            Ok(i64::MAX)
        );
        assert!(parse_id_cursor(&"QUJD".repeat(100)).is_err());
        assert!(parse_id_cursor("aWQ6\u{0}").is_err());
    }
}
