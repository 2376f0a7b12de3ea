//! GraphQL subscriptions over WebSocket at /graphql/ws, speaking `graphql-transport-ws`
//! (the graphql-ws library's protocol) and the legacy `graphql-ws`
//! (subscriptions-transport-ws). Written here rather than taken from async-graphql so the
//! close codes follow the protocol: 4400 malformed message, 4401 subscribe before the
//! handshake, 4403 rejected credentials, 4408 no `connection_init` in time, 4409 duplicate
//! operation id, 4429 a second `connection_init`.
//!
//! One task per connection; its subscriptions are streams polled by that task (no task or
//! channel per subscription), which keeps a connection to a few KiB.

use std::collections::HashMap;
use std::time::Duration;

use async_graphql::Data;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderValue;
use axum::response::Response;
use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::{BoxStream, SelectAll};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};

use super::graphql::resolve_viewer;
use crate::startup::AppState;

const TRANSPORT_WS: &str = "graphql-transport-ws";
const LEGACY_WS: &str = "graphql-ws";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    TransportWs,
    Legacy,
}

pub async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let offered: Vec<String> = ws
        .requested_protocols()
        .filter_map(|p| p.to_str().ok())
        .flat_map(|p| {
            p.split(',')
                .map(|s| s.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    let protocol = if offered.iter().any(|p| p == TRANSPORT_WS) || offered.is_empty() {
        Protocol::TransportWs
    } else if offered.iter().any(|p| p == LEGACY_WS) {
        Protocol::Legacy
    } else {
        Protocol::TransportWs
    };
    let mut ws = ws
        // Small buffers: tens of thousands of idle subscribers must fit in memory.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(64 * 1024)
        .max_frame_size(64 * 1024);
    if !offered.is_empty() {
        let name = if protocol == Protocol::TransportWs {
            TRANSPORT_WS
        } else {
            LEGACY_WS
        };
        ws.set_selected_protocol(HeaderValue::from_static(name));
    }
    ws.on_upgrade(move |socket| async move {
        state.metrics.websocket_connections.inc();
        Session::new(state.clone(), protocol).run(socket).await;
        state.metrics.websocket_connections.dec();
    })
}

/// One operation's responses, tagged with its id; `None` marks its end.
type Tagged = BoxStream<'static, (String, Option<async_graphql::Response>)>;

struct Session {
    state: AppState,
    protocol: Protocol,
    data: Option<std::sync::Arc<Data>>,
    init_received: bool,
    operations: HashMap<String, AbortHandle>,
    streams: SelectAll<Tagged>,
}

enum Step {
    Continue,
    Send(Value),
    /// A frame already serialized (the hot path: one alert to every subscriber).
    SendText(String),
    Close(u16, String),
}

impl Session {
    fn new(state: AppState, protocol: Protocol) -> Self {
        Self {
            state,
            protocol,
            data: None,
            init_received: false,
            operations: HashMap::new(),
            streams: SelectAll::new(),
        }
    }

    async fn run(mut self, socket: WebSocket) {
        let (mut sink, mut incoming) = socket.split();
        let mut shutdown = self.state.shutdown.clone();
        let init_timeout = tokio::time::sleep(self.state.ws.init_timeout);
        tokio::pin!(init_timeout);
        let mut keepalive = tokio::time::interval(self.state.ws.keepalive);
        keepalive.tick().await;
        loop {
            let step = tokio::select! {
                () = &mut init_timeout, if self.data.is_none() => {
                    Step::Close(4408, "Connection initialisation timeout".into())
                }
                message = incoming.next() => match message {
                    Some(Ok(Message::Text(text))) => self.on_message(text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => Step::Close(4400, "Binary messages are not supported".into()),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => Step::Continue,
                },
                Some((id, response)) = self.streams.next(), if !self.streams.is_empty() => {
                    self.on_response(id, response)
                }
                _ = keepalive.tick(), if self.data.is_some() => match self.protocol {
                    Protocol::TransportWs => Step::Send(json!({ "type": "ping" })),
                    Protocol::Legacy => Step::Send(json!({ "type": "ka" })),
                },
                _ = shutdown.changed() => Step::Close(1001, "server shutting down".into()),
            };
            let text = match step {
                Step::Continue => continue,
                Step::Send(value) => value.to_string(),
                Step::SendText(text) => text,
                Step::Close(code, reason) => {
                    let frame = CloseFrame {
                        code,
                        reason: Utf8Bytes::from(reason),
                    };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
            };
            if sink
                .send(Message::Text(Utf8Bytes::from(text)))
                .await
                .is_err()
            {
                break;
            }
        }
        for (_, handle) in self.operations.drain() {
            handle.abort();
            self.state.metrics.subscriptions.dec();
        }
    }

    async fn on_message(&mut self, text: &str) -> Step {
        let Ok(message) = serde_json::from_str::<Value>(text) else {
            return self.malformed("Invalid message received");
        };
        let kind = message["type"].as_str().unwrap_or_default();
        match (self.protocol, kind) {
            (_, "connection_init") => self.on_init(&message["payload"]).await,
            (Protocol::TransportWs, "ping") => Step::Send(json!({ "type": "pong" })),
            (Protocol::TransportWs, "pong") => Step::Continue,
            (Protocol::TransportWs, "subscribe") | (Protocol::Legacy, "start") => {
                self.on_subscribe(&message)
            }
            (Protocol::TransportWs, "complete") | (Protocol::Legacy, "stop") => {
                let id = message["id"].as_str().unwrap_or_default();
                if let Some(handle) = self.operations.remove(id) {
                    handle.abort();
                    self.state.metrics.subscriptions.dec();
                    if self.protocol == Protocol::Legacy {
                        return Step::Send(json!({ "id": id, "type": "complete" }));
                    }
                }
                Step::Continue
            }
            (Protocol::Legacy, "connection_terminate") => Step::Close(1000, "terminated".into()),
            _ => self.malformed(&format!("Unknown message type: {kind:?}")),
        }
    }

    fn malformed(&self, reason: &str) -> Step {
        match self.protocol {
            Protocol::TransportWs => Step::Close(4400, reason.to_owned()),
            Protocol::Legacy => {
                Step::Send(json!({ "type": "error", "payload": { "message": reason } }))
            }
        }
    }

    async fn on_init(&mut self, payload: &Value) -> Step {
        if self.init_received {
            return Step::Close(4429, "Too many initialisation requests".into());
        }
        self.init_received = true;
        let token = payload["authorization"]
            .as_str()
            .or_else(|| payload["Authorization"].as_str())
            .map(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
                    .unwrap_or(value)
                    .trim()
            });
        let viewer = match resolve_viewer(&self.state, token).await {
            Ok(schema::Viewer::Anonymous) if token.is_some() => None,
            Ok(viewer) => Some(viewer),
            Err(_) => None,
        };
        let Some(viewer) = viewer else {
            return match self.protocol {
                Protocol::TransportWs => Step::Close(4403, "Forbidden".into()),
                Protocol::Legacy => Step::Send(
                    json!({ "type": "connection_error", "payload": { "message": "Forbidden" } }),
                ),
            };
        };
        let mut data = Data::default();
        data.insert(viewer);
        self.data = Some(std::sync::Arc::new(data));
        Step::Send(json!({ "type": "connection_ack" }))
    }

    fn on_subscribe(&mut self, message: &Value) -> Step {
        let Some(data) = self.data.clone() else {
            return match self.protocol {
                Protocol::TransportWs => Step::Close(4401, "Unauthorized".into()),
                Protocol::Legacy => Step::Send(
                    json!({ "type": "error", "payload": { "message": "connection_init first" } }),
                ),
            };
        };
        let Some(id) = message["id"]
            .as_str()
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
        else {
            return self.malformed("An operation needs an id");
        };
        if self.operations.contains_key(&id) {
            return match self.protocol {
                Protocol::TransportWs => {
                    Step::Close(4409, format!("Subscriber for {id} already exists"))
                }
                Protocol::Legacy => Step::Send(
                    json!({ "id": id, "type": "error", "payload": { "message": "duplicate id" } }),
                ),
            };
        }
        let request: async_graphql::Request =
            match serde_json::from_value(message["payload"].clone()) {
                Ok(request) => request,
                Err(e) => return self.malformed(&format!("Invalid subscribe payload: {e}")),
            };
        let responses = self
            .state
            .schema
            .execute_stream_with_session_data(request, data);
        let (handle, registration) = AbortHandle::new_pair();
        let tag = id.clone();
        let end = id.clone();
        let stream = Abortable::new(responses, registration)
            .map(move |response| (tag.clone(), Some(response)))
            .chain(futures_util::stream::once(async move { (end, None) }));
        self.streams.push(stream.boxed());
        self.operations.insert(id, handle);
        self.state.metrics.subscriptions.inc();
        Step::Continue
    }

    fn on_response(&mut self, id: String, response: Option<async_graphql::Response>) -> Step {
        let Some(response) = response else {
            // The stream ended by itself (not by the client's complete): say so.
            if self.operations.remove(&id).is_some() {
                self.state.metrics.subscriptions.dec();
                return Step::Send(json!({ "id": id, "type": "complete" }));
            }
            return Step::Continue;
        };
        let failed_before_start =
            response.data == async_graphql::Value::Null && !response.errors.is_empty();
        if failed_before_start {
            if let Some(handle) = self.operations.remove(&id) {
                handle.abort();
                self.state.metrics.subscriptions.dec();
            }
            let errors = serde_json::to_value(&response.errors).unwrap_or(Value::Null);
            return match self.protocol {
                Protocol::TransportWs => {
                    Step::Send(json!({ "id": id, "type": "error", "payload": errors }))
                }
                Protocol::Legacy => Step::Send(
                    json!({ "id": id, "type": "error", "payload": { "errors": errors } }),
                ),
            };
        }
        let kind = if self.protocol == Protocol::TransportWs {
            "next"
        } else {
            "data"
        };
        // Serialized straight into the frame, without an intermediate JSON tree.
        match (serde_json::to_string(&id), serde_json::to_string(&response)) {
            (Ok(id), Ok(payload)) => Step::SendText(format!(
                r#"{{"id":{id},"type":"{kind}","payload":{payload}}}"#
            )),
            _ => Step::Close(1011, "could not encode a response".into()),
        }
    }
}

/// Timings of the WebSocket protocol.
#[derive(Clone, Copy, Debug)]
pub struct WsSettings {
    pub init_timeout: Duration,
    pub keepalive: Duration,
}
