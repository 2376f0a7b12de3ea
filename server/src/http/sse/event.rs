//! What the server writes on a graphql-sse stream, typed: every event a stream carries is
//! an [`SseEvent`], spelled by [`SseEvent::encode`] and nowhere else. The two modes differ
//! only in `data`: the execution result itself (distinct connections) or `{id, payload}`
//! (single connection, the operation's id beside the result).

use axum::body::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;

/// One event of a graphql-sse stream.
#[derive(Debug, Clone, Copy)]
pub enum SseEvent<'a> {
    /// One result of an operation. `cursor` is the subscription's place in the notification
    /// log (the SSE `id:`, sent back as `Last-Event-ID`); a query's or a mutation's result,
    /// or an error, has none.
    Next {
        operation: Option<&'a str>,
        payload: &'a RawValue,
        cursor: Option<i64>,
    },
    /// The operation is over.
    Complete { operation: Option<&'a str> },
    /// A comment, which every SSE reader ignores: keeps proxies from cutting an idle stream,
    /// and the first one tells the client its subscription is in place.
    KeepAlive,
}

/// The single connection mode's `data`: the operation's id and its result.
#[derive(Serialize)]
struct ForOperation<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a RawValue>,
}

impl SseEvent<'_> {
    /// The event's bytes on the wire.
    pub fn encode(self) -> Result<Bytes, serde_json::Error> {
        let (name, data, cursor) = match self {
            Self::KeepAlive => return Ok(Bytes::from_static(b":\n\n")),
            Self::Next {
                operation: None,
                payload,
                cursor,
            } => ("next", payload.get().to_owned(), cursor),
            Self::Next {
                operation: Some(id),
                payload,
                cursor,
            } => (
                "next",
                serde_json::to_string(&ForOperation {
                    id,
                    payload: Some(payload),
                })?,
                cursor,
            ),
            Self::Complete { operation: None } => ("complete", String::new(), None),
            Self::Complete {
                operation: Some(id),
            } => (
                "complete",
                serde_json::to_string(&ForOperation { id, payload: None })?,
                None,
            ),
        };
        let mut text = String::with_capacity(data.len() + 32);
        text.push_str("event: ");
        text.push_str(name);
        text.push('\n');
        if let Some(cursor) = cursor {
            text.push_str("id: ");
            text.push_str(&cursor.to_string());
            text.push('\n');
        }
        // Compact JSON has no line break; were one there, each line is a `data:` line of its
        // own, which the reader joins back with `\n`.
        if data.is_empty() {
            text.push_str("data:\n");
        }
        for line in data.lines() {
            text.push_str("data: ");
            text.push_str(line);
            text.push('\n');
        }
        text.push('\n');
        Ok(Bytes::from(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(event: SseEvent<'_>) -> String {
        String::from_utf8(event.encode().unwrap().to_vec()).unwrap()
    }

    #[test]
    fn each_mode_spells_its_events_as_graphql_sse_reads_them() {
        let payload = RawValue::from_string(r#"{"data":{"x":1}}"#.to_owned()).unwrap();
        assert_eq!(
            text(SseEvent::Next {
                operation: None,
                payload: &payload,
                cursor: Some(42),
            }),
            "event: next\nid: 42\ndata: {\"data\":{\"x\":1}}\n\n"
        );
        assert_eq!(
            text(SseEvent::Next {
                operation: Some("op\"1"),
                payload: &payload,
                cursor: None,
            }),
            "event: next\ndata: {\"id\":\"op\\\"1\",\"payload\":{\"data\":{\"x\":1}}}\n\n"
        );
        assert_eq!(
            text(SseEvent::Complete { operation: None }),
            "event: complete\ndata:\n\n"
        );
        assert_eq!(
            text(SseEvent::Complete {
                operation: Some("a")
            }),
            "event: complete\ndata: {\"id\":\"a\"}\n\n"
        );
        assert_eq!(text(SseEvent::KeepAlive), ":\n\n");
    }

    #[test]
    fn a_line_break_in_the_data_becomes_data_lines() {
        let payload = RawValue::from_string("{\"a\":\n1}".to_owned()).unwrap();
        assert_eq!(
            text(SseEvent::Next {
                operation: None,
                payload: &payload,
                cursor: None,
            }),
            "event: next\ndata: {\"a\":\ndata: 1}\n\n"
        );
    }
}
