//! The HTTP surface: GraphQL over HTTP and GraphiQL on /graphql, health and readiness.

mod auth;
mod graphql;
mod health;
mod ws;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

use crate::app::AppState;
use crate::settings::Settings;

pub fn router(state: AppState, settings: &Settings) -> Router {
    Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphql/ws", get(ws::upgrade))
        .route("/metrics", get(health::metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .layer(DefaultBodyLimit::max(
            usize::try_from(settings.http.max_body_bytes).unwrap_or(usize::MAX),
        ))
        .with_state(state)
}
