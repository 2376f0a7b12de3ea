//! The two GraphQL-over-WebSocket protocols: `graphql-transport-ws` (the graphql-ws
//! library's) and the legacy `graphql-ws` (subscriptions-transport-ws). A client's text
//! frame is parsed once into a [`ClientMessage`], whichever protocol it came in; the
//! session matches on variants. Frames to the client are built here too, so each
//! protocol's spelling lives in one place.

use serde::Deserialize;
use serde_json::{Value, json};

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

impl ClientMessage {
    /// Parses a text frame; the error is the reason to give the client.
    pub fn parse(protocol: Protocol, text: &str) -> Result<Self, String> {
        let message = match protocol {
            Protocol::TransportWs => match serde_json::from_str(text) {
                Ok(TransportWsMessage::ConnectionInit { payload }) => {
                    Self::ConnectionInit { payload }
                }
                Ok(TransportWsMessage::Ping {}) => Self::Ping,
                Ok(TransportWsMessage::Pong {}) => Self::Pong,
                Ok(TransportWsMessage::Subscribe { id, payload }) => subscribe(id, payload)?,
                Ok(TransportWsMessage::Complete { id }) => Self::Complete { id },
                Err(error) => return Err(format!("Invalid message received: {error}")),
            },
            Protocol::Legacy => match serde_json::from_str(text) {
                Ok(LegacyMessage::ConnectionInit { payload }) => Self::ConnectionInit { payload },
                Ok(LegacyMessage::Start { id, payload }) => subscribe(id, payload)?,
                Ok(LegacyMessage::Stop { id }) => Self::Complete { id },
                Ok(LegacyMessage::ConnectionTerminate {}) => Self::Terminate,
                Err(error) => return Err(format!("Invalid message received: {error}")),
            },
        };
        Ok(message)
    }
}

fn subscribe(id: String, payload: Value) -> Result<ClientMessage, String> {
    if id.is_empty() {
        return Err("An operation needs an id".into());
    }
    let request: async_graphql::Request =
        serde_json::from_value(payload).map_err(|e| format!("Invalid subscribe payload: {e}"))?;
    Ok(ClientMessage::Subscribe {
        id,
        request: Box::new(request),
    })
}

/// The bearer token in a `connection_init` payload (`authorization` or `Authorization`,
/// with or without the `Bearer ` scheme).
pub fn init_token(payload: Option<&Value>) -> Option<&str> {
    let payload = payload?;
    let value = payload["authorization"]
        .as_str()
        .or_else(|| payload["Authorization"].as_str())?;
    super::super::auth::bearer_or_bare(value)
}

/// Frames to the client, spelled per protocol.
impl Protocol {
    pub fn connection_ack(self) -> Value {
        json!({ "type": "connection_ack" })
    }

    /// The server's keep-alive: a ping (graphql-transport-ws) or `ka` (legacy).
    pub fn keepalive(self) -> Value {
        match self {
            Self::TransportWs => json!({ "type": "ping" }),
            Self::Legacy => json!({ "type": "ka" }),
        }
    }

    pub fn pong(self) -> Value {
        json!({ "type": "pong" })
    }

    pub fn complete(self, id: &str) -> Value {
        json!({ "id": id, "type": "complete" })
    }

    /// An operation's errors (it ends).
    pub fn error(self, id: &str, errors: Value) -> Value {
        match self {
            Self::TransportWs => json!({ "id": id, "type": "error", "payload": errors }),
            Self::Legacy => json!({ "id": id, "type": "error", "payload": { "errors": errors } }),
        }
    }

    /// The `type` of a result frame.
    pub fn next_type(self) -> &'static str {
        match self {
            Self::TransportWs => "next",
            Self::Legacy => "data",
        }
    }
}
