//! The two GraphQL-over-WebSocket protocols: `graphql-transport-ws` (the graphql-ws
//! library's) and the legacy `graphql-ws` (subscriptions-transport-ws). A client's text
//! frame is parsed once into a [`ClientMessage`], whichever protocol it came in; the
//! session matches on variants. What the server says is a [`ServerMessage`], spelled per
//! protocol by one function ([`ServerMessage::encode`], in the manner of Apollo Router's
//! `protocols/websocket.rs`), and a socket is closed with a [`CloseCode`]: each protocol's
//! spelling lives in this file and nowhere else.

use async_graphql::ServerError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

pub const TRANSPORT_WS: &str = "graphql-transport-ws";
pub const LEGACY_WS: &str = "graphql-ws";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    TransportWs,
    Legacy,
}

impl Protocol {
    /// The protocol to speak, from the sub-protocols the client offered. No header at all
    /// means graphql-transport-ws; offers that name neither protocol are refused (`None`)
    /// rather than answered in a protocol the client did not ask for.
    pub fn negotiate(offered: &[String]) -> Option<Self> {
        if offered.is_empty() || offered.iter().any(|p| p == TRANSPORT_WS) {
            Some(Self::TransportWs)
        } else if offered.iter().any(|p| p == LEGACY_WS) {
            Some(Self::Legacy)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::TransportWs => TRANSPORT_WS,
            Self::Legacy => LEGACY_WS,
        }
    }
}

/// What a client said.
#[derive(Debug)]
pub enum ClientMessage {
    ConnectionInit {
        payload: Option<Value>,
    },
    Ping,
    Pong,
    Subscribe {
        id: String,
        request: Box<async_graphql::Request>,
        /// What names the document besides its text: `documentId` and
        /// `extensions.persistedQuery` (see `crate::documents`).
        named: Named,
    },
    /// `complete` (graphql-transport-ws) or `stop` (legacy): the client ends an operation.
    Complete {
        id: String,
    },
    /// Legacy `connection_terminate`.
    Terminate,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum TransportWsMessage {
    ConnectionInit { payload: Option<Value> },
    Ping {},
    Pong {},
    Subscribe { id: String, payload: Value },
    Complete { id: String },
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum LegacyMessage {
    ConnectionInit { payload: Option<Value> },
    Start { id: String, payload: Value },
    Stop { id: String },
    ConnectionTerminate {},
}

/// Why a client's text frame is no message of its protocol: the reason the socket closes
/// with (4400), in the words graphql-ws clients know.
#[derive(Debug, thiserror::Error)]
pub enum BadMessage {
    #[error("Invalid message received: {0}")]
    Invalid(serde_json::Error),
    #[error("An operation needs an id")]
    NoId,
    #[error("Invalid subscribe payload: {0}")]
    Payload(serde_json::Error),
}

impl ClientMessage {
    /// Parses a text frame.
    pub fn parse(protocol: Protocol, text: &str) -> Result<Self, BadMessage> {
        let message = match protocol {
            Protocol::TransportWs => match serde_json::from_str(text) {
                Ok(TransportWsMessage::ConnectionInit { payload }) => {
                    Self::ConnectionInit { payload }
                }
                Ok(TransportWsMessage::Ping {}) => Self::Ping,
                Ok(TransportWsMessage::Pong {}) => Self::Pong,
                Ok(TransportWsMessage::Subscribe { id, payload }) => subscribe(id, payload)?,
                Ok(TransportWsMessage::Complete { id }) => Self::Complete { id },
                Err(error) => return Err(BadMessage::Invalid(error)),
            },
            Protocol::Legacy => match serde_json::from_str(text) {
                Ok(LegacyMessage::ConnectionInit { payload }) => Self::ConnectionInit { payload },
                Ok(LegacyMessage::Start { id, payload }) => subscribe(id, payload)?,
                Ok(LegacyMessage::Stop { id }) => Self::Complete { id },
                Ok(LegacyMessage::ConnectionTerminate {}) => Self::Terminate,
                Err(error) => return Err(BadMessage::Invalid(error)),
            },
        };
        Ok(message)
    }
}

/// A subscribe payload's names for its document, besides the text.
#[derive(Debug, Default)]
pub struct Named {
    /// `documentId`, when a string (anything else is no request of ours: 4400).
    pub document_id: Option<String>,
    /// `extensions.persistedQuery`, as sent.
    pub persisted_query: Option<Value>,
}

fn subscribe(id: String, payload: Value) -> Result<ClientMessage, BadMessage> {
    if id.is_empty() {
        return Err(BadMessage::NoId);
    }
    let document_id = match payload.get("documentId") {
        None | Some(Value::Null) => None,
        Some(value) => Some(String::deserialize(value).map_err(BadMessage::Payload)?),
    };
    let named = Named {
        document_id,
        persisted_query: payload
            .get("extensions")
            .and_then(|e| e.get("persistedQuery"))
            .cloned(),
    };
    let request: async_graphql::Request =
        serde_json::from_value(payload).map_err(BadMessage::Payload)?;
    Ok(ClientMessage::Subscribe {
        id,
        request: Box::new(request),
        named,
    })
}

/// The credential a `connection_init` payload carries (`authorization` or
/// `Authorization`), as written: the session reads the token out of it as HTTP does.
pub fn init_authorization(payload: Option<&Value>) -> Option<&str> {
    let payload = payload?;
    payload["authorization"]
        .as_str()
        .or_else(|| payload["Authorization"].as_str())
}

/// What the server says to a client, whichever protocol it speaks; [`ServerMessage::encode`]
/// spells it in that protocol. Every frame the server sends is one of these.
#[derive(Debug, Clone, Copy)]
pub enum ServerMessage<'a> {
    /// The handshake's answer to `connection_init`.
    ConnectionAck,
    /// The server's keep-alive: `ping` (graphql-transport-ws) or `ka` (legacy).
    KeepAlive,
    /// The answer to a client's `ping`.
    Pong,
    /// One result of an operation: `next` (graphql-transport-ws) or `data` (legacy). The
    /// payload is an answer serialized once, perhaps shared by many sockets.
    Next { id: &'a str, payload: &'a RawValue },
    /// An operation's errors; the operation is over. The payload is the list of errors
    /// (graphql-transport-ws) or an object holding it (legacy).
    Error {
        id: &'a str,
        errors: &'a [ServerError],
    },
    /// The operation is over.
    Complete { id: &'a str },
    /// Legacy only (graphql-transport-ws closes with [`CloseCode::Forbidden`] instead): the
    /// handshake was refused.
    ConnectionError { message: &'a str },
    /// Legacy only (graphql-transport-ws closes instead): a message the server could not
    /// take, outside any operation.
    ProtocolError { message: &'a str },
}

/// A frame on the wire: `id`, `type`, `payload`, in that order, the optional ones left out.
#[derive(Serialize)]
struct Wire<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<Payload<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Payload<'a> {
    Raw(&'a RawValue),
    Errors(&'a [ServerError]),
    WrappedErrors { errors: &'a [ServerError] },
    Message { message: &'a str },
}

impl ServerMessage<'_> {
    /// The frame's text in `protocol`'s spelling: the one place either protocol's outgoing
    /// messages are written.
    pub fn encode(self, protocol: Protocol) -> Result<String, serde_json::Error> {
        use Protocol::{Legacy, TransportWs};
        let (id, kind, payload) = match (self, protocol) {
            (Self::ConnectionAck, _) => (None, "connection_ack", None),
            (Self::KeepAlive, TransportWs) => (None, "ping", None),
            (Self::KeepAlive, Legacy) => (None, "ka", None),
            (Self::Pong, _) => (None, "pong", None),
            (Self::Next { id, payload }, TransportWs) => {
                (Some(id), "next", Some(Payload::Raw(payload)))
            }
            (Self::Next { id, payload }, Legacy) => (Some(id), "data", Some(Payload::Raw(payload))),
            (Self::Error { id, errors }, TransportWs) => {
                (Some(id), "error", Some(Payload::Errors(errors)))
            }
            (Self::Error { id, errors }, Legacy) => {
                (Some(id), "error", Some(Payload::WrappedErrors { errors }))
            }
            (Self::Complete { id }, _) => (Some(id), "complete", None),
            (Self::ConnectionError { message }, _) => {
                (None, "connection_error", Some(Payload::Message { message }))
            }
            (Self::ProtocolError { message }, _) => {
                (None, "error", Some(Payload::Message { message }))
            }
        };
        serde_json::to_string(&Wire { id, kind, payload })
    }
}

/// The codes a socket is closed with: the protocols' own (4400 to 4429) and RFC 6455's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum CloseCode {
    /// The legacy client's `connection_terminate` was honoured.
    Normal = 1000,
    /// The server is stopping.
    GoingAway = 1001,
    /// A close frame without a code (received, never sent).
    NoStatus = 1005,
    /// The connection ended without a close frame (recorded, never sent).
    Abnormal = 1006,
    /// A message over WS_MAX_MESSAGE_BYTES.
    TooBig = 1009,
    /// Our failure (the database away, an answer that cannot be encoded): come back.
    InternalError = 1011,
    /// A message that is not one of the protocol's, or a binary one.
    BadRequest = 4400,
    /// `subscribe` before the handshake.
    Unauthorized = 4401,
    /// Rejected or withdrawn credentials.
    Forbidden = 4403,
    /// No `connection_init` within WS_INIT_TIMEOUT_MS.
    InitTimeout = 4408,
    /// An operation id already in use on this socket.
    SubscriberExists = 4409,
    /// A second `connection_init`.
    TooManyInitRequests = 4429,
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code as u16
    }
}

/// An answer with errors and no data: the operation did not start, and the protocols say
/// so with an `error` message rather than a `next`.
pub fn failed_before_start(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null && !response.errors.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors() -> Vec<ServerError> {
        schema::error::coded_response("RATE_LIMITED", "slow down").errors
    }

    #[test]
    fn each_protocol_spells_the_servers_messages_its_own_way() {
        let payload = RawValue::from_string(r#"{"data":{"x":1}}"#.to_owned()).unwrap();
        let errors = errors();
        let cases = [
            (
                ServerMessage::ConnectionAck,
                r#"{"type":"connection_ack"}"#,
                r#"{"type":"connection_ack"}"#,
            ),
            (
                ServerMessage::KeepAlive,
                r#"{"type":"ping"}"#,
                r#"{"type":"ka"}"#,
            ),
            (
                ServerMessage::Pong,
                r#"{"type":"pong"}"#,
                r#"{"type":"pong"}"#,
            ),
            (
                ServerMessage::Next {
                    id: "1",
                    payload: &payload,
                },
                r#"{"id":"1","type":"next","payload":{"data":{"x":1}}}"#,
                r#"{"id":"1","type":"data","payload":{"data":{"x":1}}}"#,
            ),
            (
                ServerMessage::Error {
                    id: "a\"b",
                    errors: &errors,
                },
                r#"{"id":"a\"b","type":"error","payload":[{"message":"slow down","extensions":{"code":"RATE_LIMITED"}}]}"#,
                r#"{"id":"a\"b","type":"error","payload":{"errors":[{"message":"slow down","extensions":{"code":"RATE_LIMITED"}}]}}"#,
            ),
            (
                ServerMessage::Complete { id: "1" },
                r#"{"id":"1","type":"complete"}"#,
                r#"{"id":"1","type":"complete"}"#,
            ),
        ];
        for (message, transport_ws, legacy) in cases {
            assert_eq!(message.encode(Protocol::TransportWs).unwrap(), transport_ws);
            assert_eq!(message.encode(Protocol::Legacy).unwrap(), legacy);
        }
        assert_eq!(
            ServerMessage::ConnectionError {
                message: "Forbidden"
            }
            .encode(Protocol::Legacy)
            .unwrap(),
            r#"{"type":"connection_error","payload":{"message":"Forbidden"}}"#
        );
        assert_eq!(
            ServerMessage::ProtocolError {
                message: "connection_init first"
            }
            .encode(Protocol::Legacy)
            .unwrap(),
            r#"{"type":"error","payload":{"message":"connection_init first"}}"#
        );
    }

    #[test]
    fn close_codes_are_the_protocols_numbers() {
        let codes = [
            (CloseCode::Normal, 1000),
            (CloseCode::GoingAway, 1001),
            (CloseCode::TooBig, 1009),
            (CloseCode::InternalError, 1011),
            (CloseCode::BadRequest, 4400),
            (CloseCode::Unauthorized, 4401),
            (CloseCode::Forbidden, 4403),
            (CloseCode::InitTimeout, 4408),
            (CloseCode::SubscriberExists, 4409),
            (CloseCode::TooManyInitRequests, 4429),
        ];
        for (code, number) in codes {
            assert_eq!(u16::from(code), number);
        }
    }
}
