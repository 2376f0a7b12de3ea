//! GraphQL over Server-Sent Events, the graphql-sse protocol (GraphQL Yoga's default), at
//! /graphql/stream and at /graphql for a request that asks for `text/event-stream` or
//! carries a stream token:
//!
//! - distinct connections mode: one operation per stream, POST (JSON body) or GET (query
//!   string), the result(s) as `next` events and then `complete`;
//! - single connection mode ([`single`]): PUT reserves a stream and answers its token, a
//!   GET or POST with `X-GraphQL-Event-Stream-Token` and `Accept: text/event-stream` opens
//!   it, POSTs with the token start operations on it (`extensions.operationId`), DELETE
//!   `?operationId=` stops one.
//!
//! Each `next` of a subscription carries its place in the notification log as the SSE
//! `id:`; a reconnect's `Last-Event-ID` resumes after it (the fan-out replays from the log,
//! whatever the operation's `after` says). A stream lives under the WebSocket's limits and
//! counters (connections and live operations per address, upgrades per minute, operations
//! per connection), joins the same shared executions, holds its credential in the
//! revocation registry (a withdrawn one ends the stream with a FORBIDDEN `next`), sends a
//! comment every SSE_KEEPALIVE so that proxies keep an idle stream, and ends when the server
//! stops (without `complete`: the client comes back, to another instance, with its
//! `Last-Event-ID`).

mod connection;
mod event;
pub(crate) mod single;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::Data;
use async_graphql::parser::types::OperationType;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use race_office::domain::Language;
use race_office::{ClientAddress, Viewer};

use super::auth::{bearer_token, resolve_viewer};
use super::errors::Refusal;
use super::graphql::{self, Media, Params};
use super::operation::{self, Start};
use crate::app::AppState;
use crate::limits::per_address::{PerAddress, SocketSlot};
use crate::metrics;
use connection::{Connection, Mode, next_bytes, stream_response};
use event::SseEvent;

/// The single connection mode's token header (graphql-sse's `TOKEN_HEADER_KEY`).
pub const STREAM_TOKEN: HeaderName = HeaderName::from_static("x-graphql-event-stream-token");
pub const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
const EVENT_STREAM: &str = "text/event-stream";
/// How often an idle stream gets a comment: under the usual 30 to 60 s idle timeouts of
/// proxies and balancers.
pub const KEEPALIVE: Duration = Duration::from_secs(15);

/// Whether the client asks for an event stream: `text/event-stream` accepted (q above 0)
/// and listed before any JSON type it accepts. A GraphQL-over-HTTP client (which accepts
/// JSON first, or says nothing) keeps getting JSON.
pub fn wants_stream(headers: &HeaderMap) -> bool {
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for part in value.split(',') {
            let mut params = part.split(';').map(str::trim);
            let media = params.next().unwrap_or_default().to_ascii_lowercase();
            let refused = params.any(|p| {
                p.split_once('=').is_some_and(|(name, q)| {
                    name.trim().eq_ignore_ascii_case("q")
                        && q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
                })
            });
            if refused {
                continue;
            }
            match media.as_str() {
                EVENT_STREAM => return true,
                "application/json" | "application/graphql-response+json" => return false,
                _ => {}
            }
        }
    }
    false
}

/// Every graphql-sse request, by mode: a stream token (header, or `token` in the query
/// string for an `EventSource`, which cannot set headers) means single connection mode.
pub async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let asked = Asked::from_parts(&parts);
    let token = single::token_of(&parts.headers, parts.uri.query());
    match (&parts.method, token) {
        (&Method::PUT, _) => single::reserve(&state, &asked, &parts.headers).await,
        (&Method::DELETE, Some(token)) => single::stop(&state, &token, parts.uri.query()).await,
        (&Method::GET | &Method::POST, Some(token)) if wants_stream(&parts.headers) => {
            single::connect(&state, &asked, &token).await
        }
        (&Method::POST, Some(token)) => {
            single::execute(&state, &asked, &token, &parts.headers, body).await
        }
        (&Method::GET | &Method::POST, None) => {
            distinct(
                &state,
                &asked,
                &parts.method,
                &parts.headers,
                parts.uri.query(),
                body,
            )
            .await
        }
        // Without a token a DELETE names nothing here: /graphql itself takes GET and POST.
        (method, token) => {
            let message = if method == Method::DELETE && token.is_none() {
                "DELETE stops an operation of a reserved stream: send X-GraphQL-Event-Stream-Token"
            } else {
                "graphql-sse takes GET, POST, PUT and DELETE"
            };
            let mut response = refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                message,
            );
            response.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static("GET, POST, PUT, DELETE"),
            );
            response
        }
    }
}

/// Who asks, from the request's extensions (set by the middleware).
pub(crate) struct Asked {
    client: Option<ClientAddress>,
    request_id: String,
}

impl Asked {
    fn from_parts(parts: &axum::http::request::Parts) -> Self {
        Self {
            client: parts.extensions.get::<ClientAddress>().copied(),
            request_id: parts
                .extensions
                .get::<super::access_log::RequestId>()
                .map_or_else(|| "-".to_owned(), |id| id.0.clone()),
        }
    }
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    Refusal::new(status, code, message).into_response()
}

/// A request refused before its stream opens: the HTTP answer, boxed (an answer is large,
/// and the checks that return one mostly pass).
type Refused = Box<Response>;

fn refused(status: StatusCode, code: &str, message: &str) -> Refused {
    Box::new(refuse(status, code, message))
}

/// A new connection from `client`, under the WebSocket's limits: the upgrade rate
/// (RATE_WS_UPGRADES_PER_ADDRESS) and the connections an address may hold
/// (WS_MAX_SOCKETS_PER_ADDRESS), counted with its WebSockets.
fn open_connection(
    state: &AppState,
    client: Option<ClientAddress>,
) -> Result<Option<SocketSlot>, Refused> {
    let Some(ClientAddress(address)) = client else {
        return Ok(None);
    };
    if let Err(wait) = state.ws_upgrades.check(address) {
        metrics::rate_limited("ws_upgrades_per_address");
        return Err(Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "too many connections from this address: try again later",
        )
        .retry_after(Some(race_office::error::retry_after_secs(wait)))
        .into_response()
        .into());
    }
    match state
        .per_address
        .open_socket(address, state.ws.max_sockets_per_address)
    {
        Some(slot) => Ok(Some(slot)),
        None => {
            metrics::rate_limited("ws_sockets_per_address");
            Err(refused(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_CONNECTIONS",
                "this address holds as many connections (WebSockets and event streams) as it \
                 may (WS_MAX_SOCKETS_PER_ADDRESS): close one first",
            ))
        }
    }
}

/// A live operation counted against its address (WS_MAX_SUBSCRIPTIONS_PER_ADDRESS) and
/// in the metrics until dropped: whether it ends, is stopped, or its stream is cut.
pub(crate) struct OperationSlot {
    per_address: Arc<PerAddress>,
    address: Option<std::net::IpAddr>,
}

impl OperationSlot {
    fn take(state: &AppState, client: Option<ClientAddress>) -> Result<Self, Refused> {
        let address = client.map(|ClientAddress(address)| address);
        if let Some(address) = address
            && !state
                .per_address
                .start_operation(address, state.ws.max_subscriptions_per_address)
        {
            metrics::rate_limited("ws_subscriptions_per_address");
            return Err(refused(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_SUBSCRIPTIONS",
                "this address holds as many live operations as it may \
                 (WS_MAX_SUBSCRIPTIONS_PER_ADDRESS)",
            ));
        }
        metrics::subscriptions_started(1);
        Ok(Self {
            per_address: state.per_address.clone(),
            address,
        })
    }
}

impl Drop for OperationSlot {
    fn drop(&mut self) {
        metrics::subscriptions_ended(1);
        if let Some(address) = self.address {
            self.per_address.end_operations(address, 1);
        }
    }
}

/// The viewer of a request's bearer token (unknown or expired: anonymous, as over HTTP),
/// with its session data.
async fn viewer(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<ClientAddress>,
) -> Result<(Viewer, Arc<Data>), Refused> {
    let viewer = resolve_viewer(state, bearer_token(headers))
        .await
        .map_err(|error| {
            tracing::error!(%error, "could not look the bearer token up");
            refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "could not check the credential: try again",
            )
        })?;
    let data = session_data(&viewer, language(headers), client);
    Ok((viewer, data))
}

/// The language a request prefers (`Accept-Language`).
fn language(headers: &HeaderMap) -> Language {
    Language::negotiate(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

/// What a stream's operations run with: who asks, in which language, from where.
fn session_data(viewer: &Viewer, language: Language, client: Option<ClientAddress>) -> Arc<Data> {
    let mut data = Data::default();
    data.insert(viewer.clone());
    data.insert(race_office::PreferredLanguage(language));
    if let Some(client) = client {
        data.insert(client);
    }
    Arc::new(data)
}

/// A request's GraphQL parameters: the query string of a GET, the JSON body of a POST.
async fn params(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Body,
) -> Result<Params, Refused> {
    if method == Method::GET {
        return graphql::serde_urlencoded_params(query.unwrap_or_default())
            .map_err(|why| refused(StatusCode::BAD_REQUEST, "BAD_REQUEST", &why.to_string()));
    }
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if essence.as_deref() != Some("application/json") {
        return Err(refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the request as application/json",
        ));
    }
    let bytes = axum::body::to_bytes(body, state.max_body_bytes)
        .await
        .map_err(|error| Box::new(graphql::body_error(&error, Media::Json)))?;
    serde_json::from_slice(&bytes).map_err(|error| {
        refused(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            &format!("the body is not a GraphQL request: {error}"),
        )
    })
}

/// Why a `Last-Event-ID` is no cursor of ours.
#[derive(Debug, thiserror::Error)]
#[error("Last-Event-ID is not an event id of this server (a notification id, up to 19 digits)")]
struct BadLastEventId;

/// The `Last-Event-ID` a reconnecting client sends: the id of the last event it received,
/// a notice id. Empty (the spec's "reset") is none.
fn last_event_id(headers: &HeaderMap) -> Result<Option<i64>, BadLastEventId> {
    let Some(value) = headers.get(LAST_EVENT_ID) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| BadLastEventId)?.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BadLastEventId);
    }
    text.parse().map(Some).map_err(|_| BadLastEventId)
}

/// Distinct connections mode: this request's one operation, streamed.
async fn distinct(
    state: &AppState,
    asked: &Asked,
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Body,
) -> Response {
    // "From now" is now: the moment the request arrived.
    let baseline = state.fanout.hub().last_seen();
    let params = match params(state, method, headers, query, body).await {
        Ok(params) => params,
        Err(refused) => return *refused,
    };
    // The same TRUSTED_DOCUMENTS rule as POST and GET; the viewer is looked up first only
    // when the rule depends on it.
    let (mut request, register) = match graphql::resolve(state, &params, Media::Json) {
        Ok(resolved) if state.documents.admits_anyone(&resolved) => {
            let register = resolved.unregistered();
            (params.into_request(&resolved.text), register)
        }
        Ok(_) => match viewer(state, headers, asked.client).await {
            Ok((viewer, _)) => match graphql::admitted(state, params, &viewer, Media::Json) {
                Ok(admitted) => admitted,
                Err(refused) => return *refused,
            },
            Err(refused) => return *refused,
        },
        Err(refused) => return *refused,
    };
    // Measured before anything parses it; a refusal is told on the stream, as graphql-sse
    // asks of every check made before execution (an EventSource reads no error body).
    if let Err(refusal) = schema::graphql::document_guard::check(&request.query, &state.limits) {
        return told(async_graphql::Response::from_errors(vec![
            refusal.to_server_error(),
        ]));
    }
    if method == Method::GET
        && matches!(
            graphql::operation(&mut request),
            Some((_, OperationType::Mutation))
        )
    {
        return graphql::mutation_over_get(Media::Json);
    }
    let resume = match last_event_id(headers) {
        Ok(resume) => resume,
        Err(bad) => {
            return told(schema::error::coded_response(
                "BAD_USER_INPUT",
                bad.to_string(),
            ));
        }
    };
    let slot = match open_connection(state, asked.client) {
        Ok(slot) => slot,
        Err(refused) => return *refused,
    };
    let (viewer, data) = match viewer(state, headers, asked.client).await {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    let live = match OperationSlot::take(state, asked.client) {
        Ok(live) => live,
        Err(refused) => return *refused,
    };
    let registration = state.revocations.register(&viewer);
    let start = Start { baseline, resume };
    let events = operation::start(state, data, &viewer, request, start, register).await;
    let mut connection = Connection::new(state, asked, Mode::Distinct, slot, registration, None);
    connection.add(Arc::from(""), events, live);
    connection.into_response()
}

/// A stream that tells one answer and completes: a check before execution that failed.
fn told(response: async_graphql::Response) -> Response {
    let bytes = next_bytes(None, &response, None)
        .into_iter()
        .chain(SseEvent::Complete { operation: None }.encode().ok());
    let body = futures_util::stream::iter(bytes.map(Ok::<_, Infallible>));
    stream_response(Body::from_stream(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn a_stream_is_for_whoever_prefers_it_and_json_stays_json() {
        assert!(wants_stream(&accept("text/event-stream")));
        assert!(wants_stream(&accept("Text/Event-Stream; charset=utf-8")));
        assert!(wants_stream(&accept(
            "text/html, text/event-stream, application/json"
        )));
        assert!(!wants_stream(&accept(
            "application/json, text/event-stream"
        )));
        assert!(!wants_stream(&accept(
            "text/event-stream;q=0, application/json"
        )));
        assert!(!wants_stream(&accept("application/graphql-response+json")));
        assert!(!wants_stream(&accept("*/*")));
        assert!(!wants_stream(&HeaderMap::new()));
    }

    #[test]
    fn last_event_id_is_a_bounded_notice_id_or_nothing() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(LAST_EVENT_ID, HeaderValue::from_str(value).unwrap());
            last_event_id(&headers)
        };
        assert_eq!(last_event_id(&HeaderMap::new()).unwrap(), None);
        assert_eq!(with("").unwrap(), None);
        assert_eq!(with("42").unwrap(), Some(42));
        assert!(with("-1").is_err());
        assert!(with("4a").is_err());
        assert!(with("99999999999999999999").is_err());
        assert!(with("9223372036854775808").is_err());
    }
}
