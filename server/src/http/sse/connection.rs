//! One open event stream: the operations it carries, polled by the response body itself,
//! and what it writes (results, completions, keep-alives) until it ends: its last operation
//! done (distinct connections mode), its credential withdrawn, the server stopping, or the
//! client gone (the body dropped, and with it the operations, their counts and the
//! stream's registration).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::{BoxStream, SelectAll};
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_util::task::task_tracker::TaskTrackerToken;

use super::event::SseEvent;
use super::{Asked, KEEPALIVE, OperationSlot, single};
use crate::alerts::fanout::Out;
use crate::app::AppState;
use crate::http::operation::Event;
use crate::http::ws::protocol::failed_before_start;
use crate::limits::per_address::SocketSlot;
use crate::metrics;
use crate::revocation::Registration;

/// What an operation is told when the stream's credential is withdrawn.
pub(super) const WITHDRAWN: &str = "Forbidden: the credential was withdrawn";

pub(super) fn next_bytes(
    operation: Option<&str>,
    response: &async_graphql::Response,
    cursor: Option<i64>,
) -> Option<Bytes> {
    let payload = serde_json::value::to_raw_value(response).ok()?;
    SseEvent::Next {
        operation,
        payload: &payload,
        cursor,
    }
    .encode()
    .ok()
}

pub(super) fn stream_response(body: Body) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx buffers a response unless told not to; an alert must not wait in a buffer.
    headers.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    response
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// One operation; its events' data is the result itself.
    Distinct,
    /// Many operations, by id; the stream stays open between them.
    Single,
}

/// What a single connection mode request asks of its stream.
pub(crate) enum Command {
    Start {
        id: Arc<str>,
        events: BoxStream<'static, Event>,
        live: OperationSlot,
    },
    Stop {
        id: Arc<str>,
    },
}

/// An operation's events, tagged with its id and the serial of its start: a late word of a
/// stopped operation is not taken for one of a new operation under the same id.
type Tagged = BoxStream<'static, ((u64, Arc<str>), Event)>;

/// One open stream: its operations' streams polled by the response body itself (no task
/// of its own: the connection's task drives it, and a client that goes away drops it,
/// and with it its operations, their counts and its registration).
pub(super) struct Connection {
    state: AppState,
    mode: Mode,
    request_id: String,
    /// Counted against its address until the stream ends.
    _slot: Option<SocketSlot>,
    /// Present while the stream holds a withdrawable credential.
    registration: Option<Registration>,
    operations: HashMap<Arc<str>, (u64, AbortHandle, OperationSlot)>,
    /// Operations started on the stream so far (the serial of the next).
    started: u64,
    streams: SelectAll<Tagged>,
    commands: Option<mpsc::Receiver<Command>>,
    /// Dropped when the stream ends: a stop waits for every stream as for every socket.
    _tracked: (TaskTrackerToken, TaskTrackerToken),
    /// Told to the reservation when the stream ends (single connection mode).
    pub(super) on_end: Option<single::Ended>,
}

/// What the loop does next.
enum Step {
    Continue,
    Send(Vec<Bytes>),
    /// Send these, then end the stream.
    End(Vec<Bytes>),
}

impl Connection {
    pub(super) fn new(
        state: &AppState,
        asked: &Asked,
        mode: Mode,
        slot: Option<SocketSlot>,
        registration: Option<Registration>,
        commands: Option<mpsc::Receiver<Command>>,
    ) -> Self {
        Self {
            state: state.clone(),
            mode,
            request_id: asked.request_id.clone(),
            _slot: slot,
            registration,
            operations: HashMap::new(),
            started: 0,
            streams: SelectAll::new(),
            commands,
            _tracked: (state.tasks.token(), state.sockets.token()),
            on_end: None,
        }
    }

    pub(super) fn add(
        &mut self,
        id: Arc<str>,
        events: BoxStream<'static, Event>,
        live: OperationSlot,
    ) {
        let (handle, registration) = AbortHandle::new_pair();
        let serial = self.started;
        self.started += 1;
        let (tag, end) = ((serial, id.clone()), (serial, id.clone()));
        let stream = Abortable::new(events, registration)
            .map(move |event| (tag.clone(), event))
            .chain(futures_util::stream::once(async move { (end, Event::End) }));
        self.streams.push(stream.boxed());
        if let Some((_, replaced, _)) = self.operations.insert(id, (serial, handle, live)) {
            replaced.abort();
        }
    }

    /// The id as the events spell it: none in distinct connections mode.
    fn spelled<'a>(&self, id: &'a str) -> Option<&'a str> {
        match self.mode {
            Mode::Distinct => None,
            Mode::Single => Some(id),
        }
    }

    /// The event id of a result at `notice`: only in distinct connections mode, where one
    /// stream is one subscription (a single stream's subscriptions have a cursor each, and
    /// SSE has one `Last-Event-ID`).
    fn cursor(&self, notice: Option<i64>) -> Option<i64> {
        match self.mode {
            Mode::Distinct => notice,
            Mode::Single => None,
        }
    }

    /// Ends operation `id`: its `complete` event.
    fn complete(&mut self, id: &Arc<str>) -> Option<Bytes> {
        if let Some((_, handle, _live)) = self.operations.remove(id) {
            handle.abort();
        }
        if let Some(ended) = &self.on_end {
            ended.operation_ended(id);
        }
        SseEvent::Complete {
            operation: self.spelled(id),
        }
        .encode()
        .ok()
    }

    /// `events` sent, and the stream ends with its last operation in distinct connections
    /// mode.
    fn after_ending(&self, events: Vec<Bytes>) -> Step {
        if self.mode == Mode::Distinct && self.operations.is_empty() {
            Step::End(events)
        } else {
            Step::Send(events)
        }
    }

    /// An answer with errors, and the operation is over.
    fn failed(&mut self, id: &Arc<str>, response: &async_graphql::Response) -> Step {
        let mut events: Vec<Bytes> = next_bytes(self.spelled(id), response, None)
            .into_iter()
            .collect();
        events.extend(self.complete(id));
        self.after_ending(events)
    }

    fn send(&self, event: SseEvent<'_>) -> Step {
        match event.encode() {
            Ok(bytes) => Step::Send(vec![bytes]),
            // Nothing of ours fails to encode; were it to, the client comes back.
            Err(_) => Step::End(Vec::new()),
        }
    }

    fn on_event(&mut self, (serial, id): (u64, Arc<str>), event: Event) -> Step {
        if self
            .operations
            .get(&id)
            .is_none_or(|(current, ..)| *current != serial)
        {
            // Stopped or failed already: its stream's last words are not sent.
            return Step::Continue;
        }
        let (response, cursor) = match event {
            Event::End => {
                let events = self.complete(&id).into_iter().collect();
                return self.after_ending(events);
            }
            Event::Out(Out::Shared(frame)) => {
                let delay = (chrono::Utc::now() - frame.committed_at)
                    .to_std()
                    .unwrap_or_default();
                metrics::alert_reached("sse", delay);
                // The payload was serialised once for every subscriber; only the event's
                // few framing bytes are this stream's own.
                return self.send(SseEvent::Next {
                    operation: self.spelled(&id),
                    payload: &frame.payload,
                    cursor: self.cursor(Some(frame.notice_id)),
                });
            }
            Event::Out(Out::Failed(response)) => return self.failed(&id, &response),
            Event::Out(Out::Own(response, _)) if failed_before_start(&response) => {
                return self.failed(&id, &response);
            }
            Event::Out(Out::Own(response, cursor)) => (response, self.cursor(cursor)),
            // A query's or a mutation's one answer, errors and all (End follows).
            Event::Single(response) => (response, None),
        };
        match serde_json::value::to_raw_value(&response) {
            Ok(payload) if payload.get().len() > self.state.response_max_bytes => {
                let limit = self.state.response_max_bytes;
                self.failed(&id, &schema::error::response_too_large(limit))
            }
            Ok(payload) => self.send(SseEvent::Next {
                operation: self.spelled(&id),
                payload: &payload,
                cursor,
            }),
            Err(_) => Step::End(Vec::new()),
        }
    }

    /// The credential was withdrawn: every operation is told FORBIDDEN and completed (the
    /// client does not come back with it), and the stream ends.
    fn revoked(&mut self) -> Step {
        let forbidden = schema::error::coded_response("FORBIDDEN", WITHDRAWN);
        let ids: Vec<Arc<str>> = self.operations.keys().cloned().collect();
        let mut events = Vec::new();
        for id in ids {
            events.extend(next_bytes(self.spelled(&id), &forbidden, None));
            events.extend(self.complete(&id));
        }
        Step::End(events)
    }

    pub(super) fn into_response(self) -> Response {
        stream_response(Body::from_stream(self.run()))
    }

    fn run(mut self) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
        async_stream::stream! {
            tracing::info!(request_id = %self.request_id, "event stream opened");
            let shutdown = self.state.shutdown.clone();
            // The first comment at once: the stream is open and its operation in place.
            yield Ok(Bytes::from_static(b":\n\n"));
            let mut keepalive = tokio::time::interval_at(
                tokio::time::Instant::now() + KEEPALIVE,
                KEEPALIVE,
            );
            // Set when the server stops: each stream ends at its own moment in the window,
            // as sockets close, so that the clients do not all come back at once.
            let closing_at = tokio::time::sleep(Duration::MAX);
            tokio::pin!(closing_at);
            let mut stopping = shutdown.is_cancelled();
            if stopping {
                closing_at.as_mut().reset(tokio::time::Instant::now());
            }
            let mut commands = self.commands.take();
            loop {
                let revoked = async {
                    match &self.registration {
                        Some(registration) => registration.revoked.notified().await,
                        None => std::future::pending().await,
                    }
                };
                let command = async {
                    match &mut commands {
                        Some(commands) => commands.recv().await,
                        None => std::future::pending().await,
                    }
                };
                let step = tokio::select! {
                    Some((id, event)) = self.streams.next(), if !self.streams.is_empty() => {
                        self.on_event(id, event)
                    }
                    command = command => match command {
                        Some(Command::Start { id, events, live }) => {
                            self.add(id, events, live);
                            Step::Continue
                        }
                        Some(Command::Stop { id }) => {
                            if self.operations.contains_key(&id) {
                                let events = self.complete(&id).into_iter().collect();
                                self.after_ending(events)
                            } else {
                                Step::Continue
                            }
                        }
                        // The reservation is gone (it cannot be while the stream holds it).
                        None => Step::End(Vec::new()),
                    },
                    () = revoked => self.revoked(),
                    _ = keepalive.tick() => self.send(SseEvent::KeepAlive),
                    () = shutdown.cancelled(), if !stopping => {
                        stopping = true;
                        let wait = self.state.stopping.ws_spread.mul_f64(rand::random::<f64>());
                        closing_at.as_mut().reset(tokio::time::Instant::now() + wait);
                        Step::Continue
                    }
                    () = &mut closing_at => Step::End(Vec::new()),
                };
                match step {
                    Step::Continue => {}
                    Step::Send(events) => {
                        for bytes in events {
                            yield Ok(bytes);
                        }
                    }
                    Step::End(last) => {
                        for bytes in last {
                            yield Ok(bytes);
                        }
                        break;
                    }
                }
            }
            tracing::info!(request_id = %self.request_id, operations = self.operations.len(), "event stream closed");
        }
    }
}
