//! graphql-sse's single connection mode: one stream carries every operation of a client
//! (HTTP/1 browsers open at most six connections to a host).
//!
//! - `PUT` reserves a stream, with the credential of its `Authorization` header, and answers
//!   201 with a one-time token (256 random bits). The reservation counts as one of the
//!   address's connections from then on; one not taken within WS_INIT_TIMEOUT_MS lapses.
//! - `GET` or `POST` with `Accept: text/event-stream` and the token (the
//!   `X-GraphQL-Event-Stream-Token` header, or `?token=` for an `EventSource`) opens the
//!   stream; a second stream for the same token is 409: one stream per reservation.
//! - `POST` with the token starts an operation, named by `extensions.operationId`, on the
//!   stream: 202, and its results come as `next` events `{id, payload}`. Refusals before
//!   execution are HTTP answers, as GraphQL over HTTP says.
//! - `DELETE ?operationId=` with the token stops one: 200.
//!
//! The token is the reservation's capability: whoever holds it acts with the credential the
//! reservation was made with, as a socket's operations act with its `connection_init`; and
//! as on a socket, that credential is checked again before a new operation once the last
//! check is older than WS_AUTH_RECHECK_MS. Found gone, the operation is refused (403
//! `FORBIDDEN`) and the stream ends as a withdrawal ends it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use async_graphql::Data;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use race_office::domain::Language;
use race_office::{ClientAddress, Viewer};
use tokio::sync::{Notify, mpsc};

use super::connection::{Command, Connection, Mode, WITHDRAWN};
use super::{Asked, OperationSlot, Refused, open_connection, refuse, refused, viewer};
use crate::app::AppState;
use crate::http::auth::{HeldCredential, Holds, bearer_token};
use crate::limits::per_address::SocketSlot;
use crate::limits::window::OperationWindow;
use crate::metrics;
use crate::revocation::Registration;

/// The longest token or operation id read; ours are 43 characters, graphql-sse's ids 36.
const MAX_ID_BYTES: usize = 128;
/// Reservations kept at most on this instance (each also holds a connection slot of its
/// address): a flood of PUTs that never connect is refused beyond this.
const MAX_RESERVATIONS: usize = 100_000;

/// The reserved streams of this instance, by token.
#[derive(Default)]
pub struct Reservations {
    by_token: Mutex<HashMap<Arc<str>, Arc<Reservation>>>,
}

struct Reservation {
    /// Who its operations act as, and their session data: renewed when the credential is
    /// read again.
    acting: Mutex<(Viewer, Arc<Data>)>,
    /// The `Authorization` token (none: anonymous), checked again before new operations;
    /// an async lock, held across that check.
    credential: tokio::sync::Mutex<Option<HeldCredential>>,
    /// The stream's registration's signal: told when the credential is found gone, the
    /// stream ends as the revocation registry would end it.
    withdrawn: Option<Arc<Notify>>,
    /// What the session data is rebuilt with.
    language: Language,
    client: Option<ClientAddress>,
    made_at: Instant,
    commands: mpsc::Sender<Command>,
    /// What the stream takes when it opens; `None` once it has.
    waiting: Mutex<Option<Waiting>>,
    /// The operation ids live on the stream (or on their way to it).
    operations: Mutex<HashSet<Arc<str>>>,
    /// Operations started in the current minute (WS_MAX_OPERATIONS_PER_MINUTE).
    window: Mutex<OperationWindow>,
}

struct Waiting {
    commands: mpsc::Receiver<Command>,
    slot: Option<SocketSlot>,
    registration: Option<Registration>,
}

/// Held by a reservation's stream: tells the reservation which operations ended, and
/// forgets the reservation when the stream ends.
pub(crate) struct Ended {
    state: AppState,
    token: Arc<str>,
    reservation: Arc<Reservation>,
}

impl Ended {
    pub(crate) fn operation_ended(&self, id: &str) {
        if let Ok(mut operations) = self.reservation.operations.lock() {
            operations.remove(id);
        }
    }
}

impl Drop for Ended {
    fn drop(&mut self) {
        if let Ok(mut by_token) = self.state.reservations.by_token.lock() {
            by_token.remove(&self.token);
        }
    }
}

impl Reservations {
    fn get(&self, token: &str) -> Option<Arc<Reservation>> {
        self.by_token.lock().ok()?.get(token).cloned()
    }

    fn forget(&self, token: &str) {
        if let Ok(mut by_token) = self.by_token.lock() {
            by_token.remove(token);
        }
    }
}

impl Reservation {
    /// Who the next operation acts as, once the credential is checked again
    /// ([`HeldCredential::check`]); `None` when it is gone: then the reservation is
    /// forgotten and its stream ends, each operation told FORBIDDEN.
    async fn act_as(&self, state: &AppState, token: &str) -> Option<(Viewer, Arc<Data>)> {
        let holds = match self.credential.lock().await.as_mut() {
            Some(credential) => credential.check(state).await,
            None => Holds::Still,
        };
        // A panic elsewhere leaves a viewer that is still whole.
        let mut acting = self.acting.lock().unwrap_or_else(PoisonError::into_inner);
        match holds {
            Holds::Still => {}
            Holds::Renewed(viewer) => {
                let data = super::session_data(&viewer, self.language, self.client);
                *acting = (viewer, data);
            }
            Holds::Gone => {
                drop(acting);
                state.reservations.forget(token);
                if let Some(withdrawn) = &self.withdrawn {
                    // Kept as a permit: a stream opening meanwhile ends at once.
                    withdrawn.notify_one();
                }
                return None;
            }
        }
        Some(acting.clone())
    }
}

/// The stream token of a request: the header, or `token` in the query string.
pub(super) fn token_of(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(value) = headers.get(super::STREAM_TOKEN) {
        return Some(value.to_str().unwrap_or_default().to_owned());
    }
    query_parameter(query, "token")
}

fn query_parameter(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// A token or operation id within bounds, or the refusal.
fn bounded<'a>(value: &'a str, what: &str) -> Result<&'a str, Refused> {
    if value.is_empty() || value.len() > MAX_ID_BYTES {
        return Err(refused(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            &format!("{what} must be 1 to {MAX_ID_BYTES} bytes"),
        ));
    }
    Ok(value)
}

fn reservation(state: &AppState, token: &str) -> Result<Arc<Reservation>, Refused> {
    let token = bounded(token, "the stream token")?;
    state.reservations.get(token).ok_or_else(|| {
        refused(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no such stream reservation (it lapsed, or its stream ended): reserve again with PUT",
        )
    })
}

/// PUT: a reservation and its token.
pub(super) async fn reserve(state: &AppState, asked: &Asked, headers: &HeaderMap) -> Response {
    let slot = match open_connection(state, asked.client) {
        Ok(slot) => slot,
        Err(refused) => return *refused,
    };
    let (viewer, data) = match viewer(state, headers, asked.client).await {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    // An unknown token reads as none, as over HTTP: nothing to check again.
    let credential = match viewer {
        Viewer::Anonymous => None,
        _ => bearer_token(headers).map(|token| HeldCredential::new(token.to_owned())),
    };
    let registration = state.revocations.register(&viewer);
    let token: Arc<str> = Arc::from(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(rand::random::<[u8; 32]>())
            .as_str(),
    );
    let (commands, receiver) = mpsc::channel(state.ws.max_subscriptions as usize);
    let reservation = Arc::new(Reservation {
        withdrawn: registration.as_ref().map(|r| r.revoked.clone()),
        acting: Mutex::new((viewer, data)),
        credential: tokio::sync::Mutex::new(credential),
        language: super::language(headers),
        client: asked.client,
        made_at: Instant::now(),
        commands,
        waiting: Mutex::new(Some(Waiting {
            commands: receiver,
            slot,
            registration,
        })),
        operations: Mutex::new(HashSet::new()),
        window: Mutex::new(OperationWindow::new(state.ws.max_operations_per_minute)),
    });
    {
        let Ok(mut by_token) = state.reservations.by_token.lock() else {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error",
            );
        };
        // Lapsed reservations go first (each drops its connection slot).
        let lapse = state.ws.init_timeout;
        by_token.retain(|_, reservation| {
            reservation.made_at.elapsed() < lapse
                || reservation.waiting.lock().is_ok_and(|w| w.is_none())
        });
        if by_token.len() >= MAX_RESERVATIONS {
            metrics::rate_limited("sse_reservations");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "TOO_MANY_CONNECTIONS",
                "this instance holds as many stream reservations as it may: try again later",
            );
        }
        by_token.insert(token.clone(), reservation);
    }
    (StatusCode::CREATED, token.to_string()).into_response()
}

/// GET or POST with `Accept: text/event-stream`: the reserved stream opens.
pub(super) async fn connect(state: &AppState, asked: &Asked, token: &str) -> Response {
    let reservation = match reservation(state, token) {
        Ok(reservation) => reservation,
        Err(refused) => return *refused,
    };
    let waiting = reservation.waiting.lock().ok().and_then(|mut w| w.take());
    let Some(Waiting {
        commands,
        slot,
        registration,
    }) = waiting
    else {
        return refuse(
            StatusCode::CONFLICT,
            "CONFLICT",
            "this reservation's stream is open already: one stream per reservation",
        );
    };
    let mut connection = Connection::new(
        state,
        asked,
        Mode::Single,
        slot,
        registration,
        Some(commands),
    );
    connection.on_end = Some(Ended {
        state: state.clone(),
        token: Arc::from(token),
        reservation,
    });
    connection.into_response()
}

/// POST with the token: an operation on the stream.
pub(super) async fn execute(
    state: &AppState,
    asked: &Asked,
    token: &str,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    // "From now" is now: the moment the request arrived.
    let baseline = state.fanout.hub().last_seen();
    let reservation = match reservation(state, token) {
        Ok(reservation) => reservation,
        Err(refused) => return *refused,
    };
    let params = match super::params(state, &axum::http::Method::POST, headers, None, body).await {
        Ok(params) => params,
        Err(refused) => return *refused,
    };
    let id = match params
        .extensions
        .as_ref()
        .and_then(|extensions| extensions.get("operationId"))
        .and_then(|id| id.as_str())
    {
        Some(id) => match bounded(id, "extensions.operationId") {
            Ok(id) => Arc::<str>::from(id),
            Err(refused) => return *refused,
        },
        None => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "an operation on a reserved stream names itself in extensions.operationId",
            );
        }
    };
    let Some((viewer, data)) = reservation.act_as(state, token).await else {
        return refuse(StatusCode::FORBIDDEN, "FORBIDDEN", WITHDRAWN);
    };
    let (request, register) =
        match super::graphql::admitted(state, params, &viewer, super::Media::Json) {
            Ok(admitted) => admitted,
            Err(refused) => return *refused,
        };
    if let Err(refusal) = schema::graphql::document_guard::check(&request.query, &state.limits) {
        let body = async_graphql::Response::from_errors(vec![refusal.to_server_error()]);
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::to_value(&body).unwrap_or_default()),
        )
            .into_response();
    }
    {
        let Ok(mut operations) = reservation.operations.lock() else {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error",
            );
        };
        if operations.contains(&id) {
            return refuse(
                StatusCode::CONFLICT,
                "CONFLICT",
                "an operation with this operationId is running on the stream",
            );
        }
        if operations.len() >= state.ws.max_subscriptions as usize {
            metrics::rate_limited("ws_subscriptions");
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_SUBSCRIPTIONS",
                &format!(
                    "a stream may hold {} operations at once (WS_MAX_SUBSCRIPTIONS)",
                    state.ws.max_subscriptions
                ),
            );
        }
        if !reservation.window.lock().is_ok_and(|mut w| w.take()) {
            metrics::rate_limited("ws_operations");
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "too many operations on this stream: try again in a minute",
            );
        }
        operations.insert(id.clone());
    }
    let live = match OperationSlot::take(state, asked.client) {
        Ok(live) => live,
        Err(refused) => {
            forget(&reservation, &id);
            return *refused;
        }
    };
    let start = super::Start {
        baseline,
        resume: None,
    };
    let events = super::operation::start(state, data, &viewer, request, start, register).await;
    let command = Command::Start {
        id: id.clone(),
        events,
        live,
    };
    if reservation.commands.send(command).await.is_err() {
        forget(&reservation, &id);
        return refuse(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "the reservation's stream has ended: reserve again with PUT",
        );
    }
    StatusCode::ACCEPTED.into_response()
}

fn forget(reservation: &Reservation, id: &str) {
    if let Ok(mut operations) = reservation.operations.lock() {
        operations.remove(id);
    }
}

/// DELETE with the token: stops an operation (done already: nothing to stop, still 200).
pub(super) async fn stop(state: &AppState, token: &str, query: Option<&str>) -> Response {
    let reservation = match reservation(state, token) {
        Ok(reservation) => reservation,
        Err(refused) => return *refused,
    };
    let Some(id) = query_parameter(query, "operationId") else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "name the operation to stop: ?operationId=",
        );
    };
    let id = match bounded(&id, "operationId") {
        Ok(id) => Arc::<str>::from(id),
        Err(refused) => return *refused,
    };
    // The stream gone, there is nothing left to stop.
    let _ = reservation.commands.send(Command::Stop { id }).await;
    StatusCode::OK.into_response()
}
