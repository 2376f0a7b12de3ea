//! GraphQL subscriptions over WebSocket at /graphql/ws, in either protocol of
//! [`protocol`]. Written here rather than taken from async-graphql so the close codes
//! follow the protocol: 4400 malformed message, 4401 subscribe before the handshake, 4403
//! rejected credentials, 4408 no `connection_init` in time, 4409 duplicate operation id,
//! 4429 a second `connection_init`.
//!
//! One task per connection; its subscriptions are streams polled by that task (no task or
//! channel per subscription), which keeps a connection to a few KiB.

mod protocol;

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Data;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderValue;
use axum::response::Response;
use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::{BoxStream, SelectAll};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;

use super::auth::resolve_viewer;
use crate::app::AppState;
use protocol::{ClientMessage, Protocol};

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
    let protocol = Protocol::negotiate(&offered);
    let mut ws = ws
        // Small buffers: tens of thousands of idle subscribers must fit in memory.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(64 * 1024)
        .max_frame_size(64 * 1024);
    if !offered.is_empty() {
        ws.set_selected_protocol(HeaderValue::from_static(protocol.name()));
    }
    ws.on_upgrade(move |socket| async move {
        state.metrics.websocket_connections.inc();
        Session::new(state.clone(), protocol).run(socket).await;
        state.metrics.websocket_connections.dec();
    })
}

/// A close frame's reason may hold at most 123 bytes (RFC 6455 5.5): longer, and the
/// frame cannot be sent at all.
fn close_reason(mut reason: String) -> String {
    const MAX: usize = 123;
    if reason.len() > MAX {
        let mut end = MAX;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

/// One operation's responses, tagged with its id; `None` marks its end.
type Tagged = BoxStream<'static, (String, Option<async_graphql::Response>)>;

struct Session {
    state: AppState,
    protocol: Protocol,
    data: Option<Arc<Data>>,
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
                    Some(Ok(Message::Text(text))) => self.on_text(text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => Step::Close(4400, "Binary messages are not supported".into()),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => Step::Continue,
                },
                Some((id, response)) = self.streams.next(), if !self.streams.is_empty() => {
                    self.on_response(id, response)
                }
                _ = keepalive.tick(), if self.data.is_some() => Step::Send(self.protocol.keepalive()),
                _ = shutdown.changed() => Step::Close(1001, "server shutting down".into()),
            };
            let text = match step {
                Step::Continue => continue,
                Step::Send(value) => value.to_string(),
                Step::SendText(text) => text,
                Step::Close(code, reason) => {
                    let frame = CloseFrame {
                        code,
                        reason: Utf8Bytes::from(close_reason(reason)),
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

    async fn on_text(&mut self, text: &str) -> Step {
        let message = match ClientMessage::parse(self.protocol, text) {
            Ok(message) => message,
            Err(reason) => return self.malformed(reason),
        };
        match message {
            ClientMessage::ConnectionInit { payload } => self.on_init(payload.as_ref()).await,
            ClientMessage::Ping => Step::Send(self.protocol.pong()),
            ClientMessage::Pong => Step::Continue,
            ClientMessage::Subscribe { id, request } => self.on_subscribe(id, *request),
            ClientMessage::Complete { id } => {
                if let Some(handle) = self.operations.remove(&id) {
                    handle.abort();
                    self.state.metrics.subscriptions.dec();
                    if self.protocol == Protocol::Legacy {
                        return Step::Send(self.protocol.complete(&id));
                    }
                }
                Step::Continue
            }
            ClientMessage::Terminate => Step::Close(1000, "terminated".into()),
        }
    }

    /// A message we cannot read: graphql-transport-ws closes, the legacy protocol says so.
    fn malformed(&self, reason: String) -> Step {
        match self.protocol {
            Protocol::TransportWs => Step::Close(4400, reason),
            Protocol::Legacy => {
                Step::Send(serde_json::json!({ "type": "error", "payload": { "message": reason } }))
            }
        }
    }

    async fn on_init(&mut self, payload: Option<&Value>) -> Step {
        if self.init_received {
            return Step::Close(4429, "Too many initialisation requests".into());
        }
        self.init_received = true;
        let token = protocol::init_token(payload);
        let viewer = match resolve_viewer(&self.state, token).await {
            Ok(schema::Viewer::Anonymous) if token.is_some() => None,
            Ok(viewer) => Some(viewer),
            Err(error) => {
                tracing::error!(%error, "could not look the connection's token up");
                None
            }
        };
        let Some(viewer) = viewer else {
            return match self.protocol {
                Protocol::TransportWs => Step::Close(4403, "Forbidden".into()),
                Protocol::Legacy => Step::Send(
                    serde_json::json!({ "type": "connection_error", "payload": { "message": "Forbidden" } }),
                ),
            };
        };
        let mut data = Data::default();
        data.insert(viewer);
        self.data = Some(Arc::new(data));
        Step::Send(self.protocol.connection_ack())
    }

    fn on_subscribe(&mut self, id: String, request: async_graphql::Request) -> Step {
        let Some(data) = self.data.clone() else {
            return match self.protocol {
                Protocol::TransportWs => Step::Close(4401, "Unauthorized".into()),
                Protocol::Legacy => Step::Send(
                    serde_json::json!({ "type": "error", "payload": { "message": "connection_init first" } }),
                ),
            };
        };
        if self.operations.contains_key(&id) {
            return match self.protocol {
                Protocol::TransportWs => {
                    Step::Close(4409, format!("Subscriber for {id} already exists"))
                }
                Protocol::Legacy => Step::Send(
                    self.protocol
                        .error(&id, serde_json::json!([{ "message": "duplicate id" }])),
                ),
            };
        }
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
                return Step::Send(self.protocol.complete(&id));
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
            return Step::Send(self.protocol.error(&id, errors));
        }
        // Serialized straight into the frame, without an intermediate JSON tree.
        let kind = self.protocol.next_type();
        match (serde_json::to_string(&id), serde_json::to_string(&response)) {
            (Ok(id), Ok(payload)) => Step::SendText(format!(
                r#"{{"id":{id},"type":"{kind}","payload":{payload}}}"#
            )),
            _ => Step::Close(1011, "could not encode a response".into()),
        }
    }
}
