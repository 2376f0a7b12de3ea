//! GraphQL over WebSocket at /graphql/ws, in either protocol of [`protocol`]. Written here
//! rather than taken from async-graphql so that the close codes follow the protocols
//! ([`CloseCode`]: 4400 malformed message, 4401 subscribe before the handshake, 4403
//! rejected or withdrawn credentials, 4408 no `connection_init` in time, 4409 duplicate
//! operation id, 4429 a second `connection_init`, 1009 a message over the size limit, 1001
//! the server stopping) and so that subscribers share executions
//! ([`crate::alerts::fanout`]). Every frame sent is a [`ServerMessage`].
//!
//! One task per connection; its operations are streams polled by that task. A socket's
//! credential is re-checked before a new operation once it is older than
//! WS_AUTH_RECHECK_MS, and a withdrawn credential (sign-out, password reset, key
//! revocation) closes the socket at once through the revocation registry.

pub(crate) mod protocol;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::Data;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::{BoxStream, SelectAll};
use futures_util::{SinkExt, StreamExt};
use race_office::{ClientAddress, Viewer};
use serde_json::Value;

use super::access_log::RequestId;
use super::auth::{HeldCredential, Holds, resolve_viewer};
use super::errors::Refusal;
use super::operation::{self, Event, Start};
use crate::alerts::fanout::Out;
use crate::app::AppState;
use crate::documents::Asked;
use crate::limits::window::OperationWindow;
use crate::metrics;
use crate::revocation::Registration;
use protocol::{ClientMessage, CloseCode, Protocol, ServerMessage, failed_before_start};

pub async fn upgrade(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddress>>,
    request_id: Option<Extension<RequestId>>,
    ws: WebSocketUpgrade,
) -> Response {
    let client = client.map(|Extension(c)| c);
    if let Some(ClientAddress(address)) = client
        && let Err(wait) = state.ws_upgrades.check(address)
    {
        metrics::rate_limited("ws_upgrades_per_address");
        return Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "too many WebSocket connections from this address: try again later",
        )
        .retry_after(Some(race_office::error::retry_after_secs(wait)))
        .into_response();
    }
    let slot = match client {
        Some(ClientAddress(address)) => {
            match state
                .per_address
                .open_socket(address, state.ws.max_sockets_per_address)
            {
                Some(slot) => Some(slot),
                None => {
                    metrics::rate_limited("ws_sockets_per_address");
                    return Refusal::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "TOO_MANY_CONNECTIONS",
                        "this address holds as many WebSockets as it may (WS_MAX_SOCKETS_PER_ADDRESS): close one first",
                    )
                    .into_response();
                }
            }
        }
        None => None,
    };
    let offered: Vec<String> = ws
        .requested_protocols()
        .filter_map(|p| p.to_str().ok())
        .flat_map(|p| {
            p.split(',')
                .map(|s| s.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    let Some(protocol) = Protocol::negotiate(&offered) else {
        return Refusal::new(
            StatusCode::BAD_REQUEST,
            "UNSUPPORTED_PROTOCOL",
            "offer the graphql-transport-ws (or legacy graphql-ws) sub-protocol",
        )
        .into_response();
    };
    let limit = state.ws.max_message_bytes as usize;
    let mut ws = ws
        // Small buffers: tens of thousands of idle subscribers must fit in memory, and
        // what clients send is small (a longer message is read in several passes).
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_message_size(limit)
        .max_frame_size(limit);
    if !offered.is_empty() {
        ws.set_selected_protocol(HeaderValue::from_static(protocol.name()));
    }
    let request_id = request_id.map_or_else(|| "-".to_owned(), |Extension(id)| id.0);
    let (tasks, sockets) = (state.tasks.clone(), state.sockets.clone());
    ws.on_upgrade(move |socket| {
        tasks.track_future(sockets.track_future(async move {
            // Counted against its address until the session ends.
            let _slot = slot;
            metrics::websocket_opened();
            Session::new(state, protocol, client, request_id)
                .run(socket)
                .await;
            metrics::websocket_closed();
        }))
    })
}

type Tagged = BoxStream<'static, (Arc<str>, Event)>;

struct Session {
    state: AppState,
    protocol: Protocol,
    client: Option<ClientAddress>,
    request_id: String,
    opened_at: Instant,
    /// The `connection_init` token, checked again before new operations.
    credential: Option<HeldCredential>,
    viewer: Viewer,
    data: Option<Arc<Data>>,
    /// Present while the socket holds a withdrawable credential.
    registration: Option<Registration>,
    init_received: bool,
    operations: HashMap<Arc<str>, AbortHandle>,
    streams: SelectAll<Tagged>,
    /// Operations started in the current minute (WS_MAX_OPERATIONS_PER_MINUTE).
    window: OperationWindow,
    /// Operations started in all, for the session's log line.
    started: u64,
}

enum Step {
    Continue,
    /// A frame of this socket's own.
    Send(String),
    /// A frame shared with other sockets (the same bytes, by reference count: the hot
    /// path, one alert to every subscriber).
    SendShared(Utf8Bytes),
    Close(CloseCode, String),
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

impl Session {
    fn new(
        state: AppState,
        protocol: Protocol,
        client: Option<ClientAddress>,
        request_id: String,
    ) -> Self {
        let window = OperationWindow::new(state.ws.max_operations_per_minute);
        Self {
            state,
            protocol,
            client,
            request_id,
            opened_at: Instant::now(),
            credential: None,
            viewer: Viewer::Anonymous,
            data: None,
            registration: None,
            init_received: false,
            operations: HashMap::new(),
            streams: SelectAll::new(),
            window,
            started: 0,
        }
    }

    async fn run(mut self, socket: WebSocket) {
        tracing::info!(request_id = %self.request_id, protocol = self.protocol.name(), "websocket opened");
        let (mut sink, mut incoming) = socket.split();
        let shutdown = self.state.shutdown.clone();
        let init_timeout = tokio::time::sleep(self.state.ws.init_timeout);
        tokio::pin!(init_timeout);
        // Each socket's keep-alives start at its own moment in the first interval: sockets
        // opened in the same second must not all ping (and be answered) in the same second
        // ever after.
        let every = self.state.ws.keepalive;
        let mut keepalive = tokio::time::interval_at(
            tokio::time::Instant::now() + every.mul_f64(0.5 + rand::random::<f64>() / 2.0),
            every,
        );
        // Set when the server stops: each socket closes at its own moment in the window.
        let closing_at = tokio::time::sleep(Duration::MAX);
        tokio::pin!(closing_at);
        let mut stopping = shutdown.is_cancelled();
        if stopping {
            closing_at.as_mut().reset(tokio::time::Instant::now());
        }
        let close_code: u16;
        loop {
            let revoked = async {
                match &self.registration {
                    Some(registration) => registration.revoked.notified().await,
                    None => std::future::pending().await,
                }
            };
            let step = tokio::select! {
                () = &mut init_timeout, if self.data.is_none() => {
                    Step::Close(CloseCode::InitTimeout, "Connection initialisation timeout".into())
                }
                message = incoming.next() => match message {
                    // Boxed: the subscribe path's state lives only while a message is
                    // handled, not in every idle socket's task.
                    Some(Ok(Message::Text(text))) => Box::pin(self.on_text(text.as_str())).await,
                    Some(Ok(Message::Binary(_))) => Step::Close(CloseCode::BadRequest, "Binary messages are not supported".into()),
                    Some(Ok(Message::Close(frame))) => {
                        // Answer the client's close (RFC 6455 5.5.1): the reply is queued by
                        // the protocol and sent by this flush.
                        let _ = sink.close().await;
                        close_code = frame.map_or(CloseCode::NoStatus.into(), |f| f.code);
                        break;
                    }
                    Some(Ok(_)) => Step::Continue,
                    Some(Err(error)) if too_big(&error) => Step::Close(
                        CloseCode::TooBig,
                        format!("messages are limited to {} bytes", self.state.ws.max_message_bytes),
                    ),
                    Some(Err(_)) | None => {
                        close_code = CloseCode::Abnormal.into();
                        break;
                    }
                },
                Some((id, event)) = self.streams.next(), if !self.streams.is_empty() => {
                    self.on_event(id, event)
                }
                () = revoked => Step::Close(CloseCode::Forbidden, "Forbidden: the credential was withdrawn".into()),
                _ = keepalive.tick(), if self.data.is_some() => self.send(ServerMessage::KeepAlive),
                () = shutdown.cancelled(), if !stopping => {
                    stopping = true;
                    let spread = self.state.stopping.ws_spread;
                    let wait = spread.mul_f64(rand::random::<f64>());
                    closing_at.as_mut().reset(tokio::time::Instant::now() + wait);
                    Step::Continue
                }
                () = &mut closing_at => Step::Close(CloseCode::GoingAway, "server shutting down".into()),
            };
            let text = match step {
                Step::Continue => continue,
                Step::Send(text) => Utf8Bytes::from(text),
                Step::SendShared(bytes) => bytes,
                Step::Close(code, reason) => {
                    let frame = CloseFrame {
                        code: code.into(),
                        reason: Utf8Bytes::from(close_reason(reason)),
                    };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    if code == CloseCode::TooBig {
                        // The client may still be writing its oversized message; give it a
                        // moment to read the close before the connection is dropped.
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    close_code = code.into();
                    break;
                }
            };
            if sink.send(Message::Text(text)).await.is_err() {
                close_code = CloseCode::Abnormal.into();
                break;
            }
        }
        let live = self.operations.len();
        for (_, handle) in self.operations.drain() {
            handle.abort();
        }
        self.operations_ended(live);
        tracing::info!(
            request_id = %self.request_id,
            close_code,
            duration_ms = self.opened_at.elapsed().as_millis() as u64,
            operations = self.started,
            "websocket closed"
        );
    }

    async fn on_text(&mut self, text: &str) -> Step {
        let message = match ClientMessage::parse(self.protocol, text) {
            Ok(message) => message,
            Err(reason) => return self.malformed(reason.to_string()),
        };
        match message {
            ClientMessage::ConnectionInit { payload } => self.on_init(payload.as_ref()).await,
            ClientMessage::Ping => self.send(ServerMessage::Pong),
            ClientMessage::Pong => Step::Continue,
            ClientMessage::Subscribe { id, request, named } => {
                self.on_subscribe(id, *request, named).await
            }
            ClientMessage::Complete { id } => {
                if let Some(handle) = self.operations.remove(id.as_str()) {
                    handle.abort();
                    self.operations_ended(1);
                    if self.protocol == Protocol::Legacy {
                        return self.send(ServerMessage::Complete { id: &id });
                    }
                }
                Step::Continue
            }
            ClientMessage::Terminate => Step::Close(CloseCode::Normal, "terminated".into()),
        }
    }

    /// Sends `message`, spelled in this socket's protocol.
    fn send(&self, message: ServerMessage<'_>) -> Step {
        match message.encode(self.protocol) {
            Ok(text) => Step::Send(text),
            Err(_) => Step::Close(
                CloseCode::InternalError,
                "could not encode a response".into(),
            ),
        }
    }

    /// A message we cannot read: graphql-transport-ws closes, the legacy protocol says so.
    fn malformed(&self, reason: String) -> Step {
        match self.protocol {
            Protocol::TransportWs => Step::Close(CloseCode::BadRequest, reason),
            Protocol::Legacy => self.send(ServerMessage::ProtocolError { message: &reason }),
        }
    }

    fn forbidden(&self) -> Step {
        match self.protocol {
            Protocol::TransportWs => Step::Close(CloseCode::Forbidden, "Forbidden".into()),
            Protocol::Legacy => self.send(ServerMessage::ConnectionError {
                message: "Forbidden",
            }),
        }
    }

    async fn on_init(&mut self, payload: Option<&Value>) -> Step {
        if self.init_received {
            return Step::Close(
                CloseCode::TooManyInitRequests,
                "Too many initialisation requests".into(),
            );
        }
        self.init_received = true;
        // With or without the `Bearer ` scheme.
        let token = protocol::init_authorization(payload)
            .and_then(super::auth::bearer_or_bare)
            .map(str::to_owned);
        let viewer = match resolve_viewer(&self.state, token.as_deref()).await {
            Ok(Viewer::Anonymous) if token.is_some() => None,
            Ok(viewer) => Some(viewer),
            Err(error) => {
                // Our failure, not the client's credential: 1011 tells it to come back.
                tracing::error!(%error, "could not look the connection's token up");
                return Step::Close(
                    CloseCode::InternalError,
                    "could not check the credential: try again".into(),
                );
            }
        };
        let Some(viewer) = viewer else {
            return self.forbidden();
        };
        self.credential = token.map(HeldCredential::new);
        self.set_viewer(viewer);
        self.send(ServerMessage::ConnectionAck)
    }

    fn set_viewer(&mut self, viewer: Viewer) {
        self.registration = self.state.revocations.register(&viewer);
        let mut data = Data::default();
        data.insert(viewer.clone());
        if let Some(client) = self.client {
            data.insert(client);
        }
        self.viewer = viewer;
        self.data = Some(Arc::new(data));
    }

    /// Whether the credential still holds ([`HeldCredential::check`]).
    async fn credential_holds(&mut self) -> bool {
        let Some(credential) = &mut self.credential else {
            return true;
        };
        match credential.check(&self.state).await {
            Holds::Still => true,
            Holds::Renewed(viewer) => {
                self.set_viewer(viewer);
                true
            }
            Holds::Gone => false,
        }
    }

    /// An `error` for one operation, with a code.
    fn refuse(&self, id: &str, code: &str, message: &str) -> Step {
        let errors = schema::error::coded_response(code, message).errors;
        self.send(ServerMessage::Error {
            id,
            errors: &errors,
        })
    }

    async fn on_subscribe(
        &mut self,
        id: String,
        mut request: async_graphql::Request,
        named: protocol::Named,
    ) -> Step {
        // "From now" is now: the moment the message arrived.
        let baseline = self.state.fanout.hub().last_seen();
        let Some(data) = self.data.clone() else {
            return match self.protocol {
                Protocol::TransportWs => {
                    Step::Close(CloseCode::Unauthorized, "Unauthorized".into())
                }
                Protocol::Legacy => self.send(ServerMessage::ProtocolError {
                    message: "connection_init first",
                }),
            };
        };
        if self.operations.contains_key(id.as_str()) {
            return match self.protocol {
                Protocol::TransportWs => Step::Close(
                    CloseCode::SubscriberExists,
                    format!("Subscriber for {id} already exists"),
                ),
                Protocol::Legacy => self.refuse(
                    &id,
                    "BAD_USER_INPUT",
                    "an operation with this id is running",
                ),
            };
        }
        if self.operations.len() >= self.state.ws.max_subscriptions as usize {
            metrics::rate_limited("ws_subscriptions");
            return self.refuse(
                &id,
                "TOO_MANY_SUBSCRIPTIONS",
                &format!(
                    "a socket may hold {} subscriptions at once (WS_MAX_SUBSCRIPTIONS)",
                    self.state.ws.max_subscriptions
                ),
            );
        }
        if !self.window.take() {
            metrics::rate_limited("ws_operations");
            return self.refuse(
                &id,
                "RATE_LIMITED",
                "too many operations on this socket: try again in a minute",
            );
        }
        // The document named by hash, and TRUSTED_DOCUMENTS for this socket's viewer; a text
        // sent with its APQ hash is registered once it has run, as over HTTP.
        let asked = Asked {
            query: Some(&request.query),
            document_id: named.document_id.as_deref(),
            persisted_query: named.persisted_query.as_ref(),
        };
        let resolved = self.state.documents.resolve(&asked).and_then(|resolved| {
            self.state.documents.admits(&resolved, &self.viewer)?;
            Ok(resolved)
        });
        let register = match resolved {
            Ok(resolved) => {
                if *resolved.text != *request.query {
                    request.query = resolved.text.to_string();
                }
                resolved.unregistered()
            }
            Err(refusal) => return self.refuse(&id, refusal.code(), &refusal.message()),
        };
        // Measured before anything parses it.
        if let Err(refusal) =
            schema::graphql::document_guard::check(&request.query, &self.state.limits)
        {
            return self.send(ServerMessage::Error {
                id: &id,
                errors: &[refusal.to_server_error()],
            });
        }
        if !self.credential_holds().await {
            return self.forbidden();
        }
        // Counted against the address from here until the operation ends.
        if let Some(ClientAddress(address)) = self.client
            && !self
                .state
                .per_address
                .start_operation(address, self.state.ws.max_subscriptions_per_address)
        {
            metrics::rate_limited("ws_subscriptions_per_address");
            return self.refuse(
                &id,
                "TOO_MANY_SUBSCRIPTIONS",
                "this address holds as many live operations as it may \
                 (WS_MAX_SUBSCRIPTIONS_PER_ADDRESS)",
            );
        }
        let data = self.data.clone().unwrap_or(data);
        self.started += 1;
        let tag: Arc<str> = Arc::from(id.as_str());
        let start = Start {
            baseline,
            resume: None,
        };
        let events =
            operation::start(&self.state, data, &self.viewer, request, start, register).await;
        let (handle, registration) = AbortHandle::new_pair();
        let (end, end_tag) = (tag.clone(), tag.clone());
        let stream = Abortable::new(events, registration)
            .map(move |event| (tag.clone(), event))
            // Aborted by the client's `complete`: the end is still told to the loop.
            .chain(futures_util::stream::once(async move { (end, Event::End) }));
        self.streams.push(stream.boxed());
        self.operations.insert(end_tag, handle);
        metrics::subscriptions_started(1);
        Step::Continue
    }

    /// `n` operations ended: counted off the metrics and the address.
    fn operations_ended(&self, n: usize) {
        metrics::subscriptions_ended(n);
        if let Some(ClientAddress(address)) = self.client {
            self.state.per_address.end_operations(address, n);
        }
    }

    fn on_event(&mut self, id: Arc<str>, event: Event) -> Step {
        match event {
            Event::End => {
                // The stream ended by itself (not by the client's complete): say so.
                if self.operations.remove(&id).is_some() {
                    self.operations_ended(1);
                    return self.send(ServerMessage::Complete { id: &id });
                }
                Step::Continue
            }
            Event::Out(Out::Shared(frame)) => {
                let delay = (chrono::Utc::now() - frame.committed_at)
                    .to_std()
                    .unwrap_or_default();
                metrics::alert_reached("websocket", delay);
                match frame.message(self.protocol, &id) {
                    Ok(bytes) => Step::SendShared(bytes),
                    Err(_) => Step::Close(
                        CloseCode::InternalError,
                        "could not encode a response".into(),
                    ),
                }
            }
            Event::Out(Out::Own(response, _)) | Event::Single(response)
                if !failed_before_start(&response) =>
            {
                match serde_json::value::to_raw_value(&response) {
                    Ok(payload) if payload.get().len() > self.state.response_max_bytes => {
                        let limit = self.state.response_max_bytes;
                        self.on_event(
                            id,
                            Event::Out(Out::Failed(schema::error::response_too_large(limit))),
                        )
                    }
                    Ok(payload) => self.send(ServerMessage::Next {
                        id: &id,
                        payload: &payload,
                    }),
                    Err(_) => Step::Close(
                        CloseCode::InternalError,
                        "could not encode a response".into(),
                    ),
                }
            }
            Event::Out(Out::Own(response, _) | Out::Failed(response)) | Event::Single(response) => {
                // Failed before it started: an `error`, and the operation is over.
                if let Some(handle) = self.operations.remove(&id) {
                    handle.abort();
                    self.operations_ended(1);
                }
                self.send(ServerMessage::Error {
                    id: &id,
                    errors: &response.errors,
                })
            }
        }
    }
}

/// Whether a read failed because the client's message is over the size limit.
fn too_big(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(tungstenite::Error::Capacity(_)) = cause.downcast_ref::<tungstenite::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}
