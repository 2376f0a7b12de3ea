//! The state every request handler shares: one `App` behind an `Arc`, built once by
//! `Application::build` and handed to the router.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::settings::WebSocketSettings;

pub struct App {
    /// The GraphQL schema with its data (database, clock, mailer, loaders, bus).
    pub schema: schema::ApiSchema,
    /// The pool, for health checks and token lookup before GraphQL runs.
    pub db: DatabaseConnection,
    /// Redis, when configured: /readyz pings it.
    pub redis: Option<redis::Client>,
    /// The clock tokens are judged against.
    pub clock: Arc<dyn schema::Clock>,
    /// Served on /metrics.
    pub metrics: Arc<Metrics>,
    /// Flips to true on shutdown; WebSocket sessions close when it does.
    pub shutdown: watch::Receiver<bool>,
    /// WebSocket protocol timings.
    pub ws: WebSocketSettings,
}

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}
