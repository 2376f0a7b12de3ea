//! The HTTP surface: GraphQL over HTTP and GraphiQL on /graphql, WebSockets on /graphql/ws
//! and on /graphql (an upgrade request), graphql-sse event streams on /graphql/stream and
//! on /graphql (a request that asks for `text/event-stream` or names a stream), health and readiness, and the runner page with its service worker (`web`);
//! the middleware every request passes (request id and access log, CORS, client address,
//! timeouts, body limit, JSON error bodies); the accept loop; and the operators' listener.

mod access_log;
pub mod admin;
mod auth;
mod client;
mod errors;
mod graphql;
pub mod health;
mod operation;
pub mod response_cache;
pub mod serve;
pub mod sse;
mod web;
pub(crate) mod ws;

use std::time::Duration;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, Extension, FromRequestParts, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use race_office::ClientAddress;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use crate::app::AppState;
use crate::settings::HttpSettings;

pub fn router(state: AppState, settings: &HttpSettings) -> Router {
    let body_limit = usize::try_from(settings.max_body_bytes).unwrap_or(usize::MAX);
    let mut router = Router::new()
        .route(
            "/graphql",
            get(graphql_get)
                .post(graphql_post)
                .put(sse::handle)
                .delete(sse::handle),
        )
        .route("/graphql/ws", get(ws::upgrade))
        .route("/graphql/stream", any(sse::handle))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz_public))
        .merge(web::routes(state.introspection))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            errors::refuse_declared_oversize,
        ))
        .layer(RequestBodyTimeoutLayer::new(settings.body_timeout))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            settings.request_timeout,
        ))
        .layer(middleware::from_fn(errors::as_json))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            client::identify,
        ));
    if let Some(cors) = cors(&settings.cors_allowed_origins) {
        router = router.layer(cors);
    }
    router
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .layer(access_log::layer())
        .layer(middleware::from_fn(access_log::request_id))
        .with_state(state)
}

/// Whether a request asks to become a WebSocket (`Upgrade: websocket`).
fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
        })
}

/// Whether a request is for graphql-sse: it asks for an event stream, or names one.
fn is_event_stream(headers: &HeaderMap) -> bool {
    sse::wants_stream(headers) || headers.contains_key(sse::STREAM_TOKEN)
}

/// GET /graphql, one URL for every transport (as GraphQL Yoga, Hasura and Apollo serve): an
/// upgrade becomes a WebSocket, a request for an event stream is graphql-sse, anything else
/// is GraphQL over HTTP (or GraphiQL for a browser).
async fn graphql_get(State(state): State<AppState>, request: Request) -> Response {
    if is_websocket_upgrade(request.headers()) {
        let (mut parts, _) = request.into_parts();
        let client = parts
            .extensions
            .get::<ClientAddress>()
            .copied()
            .map(Extension);
        let request_id = parts
            .extensions
            .get::<access_log::RequestId>()
            .cloned()
            .map(Extension);
        return match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(upgrade) => ws::upgrade(State(state), client, request_id, upgrade).await,
            Err(rejection) => rejection.into_response(),
        };
    }
    if is_event_stream(request.headers()) {
        return sse::handle(State(state), request).await;
    }
    let (parts, _) = request.into_parts();
    let client = parts
        .extensions
        .get::<ClientAddress>()
        .copied()
        .map(Extension);
    let query = RawQuery(parts.uri.query().map(str::to_owned));
    graphql::get(State(state), client, parts.headers, query).await
}

/// POST /graphql: graphql-sse when the request asks for an event stream or names one,
/// else GraphQL over HTTP.
async fn graphql_post(State(state): State<AppState>, request: Request) -> Response {
    if is_event_stream(request.headers()) {
        return sse::handle(State(state), request).await;
    }
    let (parts, body) = request.into_parts();
    let client = parts
        .extensions
        .get::<ClientAddress>()
        .copied()
        .map(Extension);
    graphql::post(State(state), client, parts.headers, body).await
}

/// CORS for SPAs on other origins. Empty: none (same origin only). `*`: any origin, but
/// without Authorization, so only public queries work cross-origin.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<&str> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    if origins.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        // PUT and DELETE: graphql-sse's reservations and stops.
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .max_age(Duration::from_secs(600))
        .expose_headers([access_log::X_REQUEST_ID, header::RETRY_AFTER]);
    if origins.contains(&"*") {
        return Some(layer.allow_origin(AllowOrigin::any()).allow_headers([
            header::CONTENT_TYPE,
            header::ACCEPT,
            sse::LAST_EVENT_ID,
            sse::STREAM_TOKEN,
        ]));
    }
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    Some(
        layer
            .allow_origin(AllowOrigin::list(allowed))
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                sse::LAST_EVENT_ID,
                sse::STREAM_TOKEN,
            ]),
    )
}
