//! The HTTP surface: GraphQL over HTTP and GraphiQL on /graphql, WebSockets on
//! /graphql/ws, health and readiness, and the runner page with its service worker (`web`);
//! the middleware every request passes (request id and access log, CORS, client address,
//! timeouts, body limit, JSON error bodies); the accept loop; and the operators' listener.

mod access_log;
pub mod admin;
mod auth;
mod client;
mod errors;
mod graphql;
pub mod health;
pub mod response_cache;
pub mod serve;
mod web;
pub(crate) mod ws;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware;
use axum::routing::get;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use crate::app::AppState;
use crate::settings::HttpSettings;

pub fn router(state: AppState, settings: &HttpSettings) -> Router {
    let body_limit = usize::try_from(settings.max_body_bytes).unwrap_or(usize::MAX);
    let mut router = Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphql/ws", get(ws::upgrade))
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
        .allow_methods([Method::GET, Method::POST])
        .max_age(Duration::from_secs(600))
        .expose_headers([access_log::X_REQUEST_ID, header::RETRY_AFTER]);
    if origins.contains(&"*") {
        return Some(
            layer
                .allow_origin(AllowOrigin::any())
                .allow_headers([header::CONTENT_TYPE, header::ACCEPT]),
        );
    }
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    Some(
        layer
            .allow_origin(AllowOrigin::list(allowed))
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT]),
    )
}
