//! The HTTP surface: GraphQL over HTTP and GraphiQL on /graphql, health and readiness,
//! and the runner page with its service worker (`web`).

mod graphql;
mod health;
mod web;
mod ws;

pub use ws::WsSettings;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

use crate::config::Settings;
use crate::startup::AppState;

pub fn router(state: AppState, settings: &Settings) -> Router {
    Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphql/ws", get(ws::upgrade))
        .route("/metrics", get(health::metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(web::routes())
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .with_state(state)
}
