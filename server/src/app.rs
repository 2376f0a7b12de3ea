//! The state every request handler shares: one `App` behind an `Arc`, built once by
//! `Application::build` and handed to the router.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alerts::fanout::Fanout;
use crate::limits::per_address::PerAddress;
use crate::limits::upgrades::Upgrades;
use crate::revocation::Registry;
use crate::settings::{IpRange, ShutdownSettings, WebSocketSettings};

pub struct App {
    /// This process's name (INSTANCE_ID, or pid and start time): in the relay lease and in
    /// /healthz, so that whoever started an instance can tell its answer from another's.
    pub instance: String,
    /// The GraphQL schema with its data (database, clock, mailer, loaders, bus).
    pub schema: schema::ApiSchema,
    /// The pool, for health checks and token lookup before GraphQL runs.
    pub db: DatabaseConnection,
    /// Redis, when configured: /readyz pings it over this one kept connection (a new
    /// connection per probe would cost Redis a connection per load-balancer check).
    pub redis: Option<redis::aio::ConnectionManager>,
    /// What the last background check of the database and Redis found (`/readyz`).
    pub readiness: crate::readiness::Readiness,
    /// The clock tokens are judged against.
    pub clock: Arc<dyn race_office::Clock>,
    /// Sessions read from the database, one query for the tokens asked at the same
    /// moment (a dead instance's runners arriving here at once).
    pub sessions: crate::sessions::SessionReads,
    /// Set on SIGTERM: /readyz answers 503 from then on.
    pub draining: AtomicBool,
    /// Cancelled when the stop begins (after the readiness delay): the listeners close,
    /// WebSocket sessions close over their window, and the workers stop.
    pub shutdown: CancellationToken,
    /// Every WebSocket session and background worker, so that a stop can wait for them.
    pub tasks: TaskTracker,
    /// The WebSocket sessions alone (tracked in `tasks` too): the live feed keeps going
    /// until every one of them has closed.
    pub sockets: TaskTracker,
    /// WebSocket limits and timings.
    pub ws: WebSocketSettings,
    /// How a stop closes WebSockets.
    pub stopping: ShutdownSettings,
    /// Open WebSockets and live operations per client address.
    pub per_address: Arc<PerAddress>,
    /// WebSocket upgrades (and event streams opened) per client address.
    pub ws_upgrades: Arc<Upgrades>,
    /// graphql-sse streams reserved (single connection mode), by token.
    pub reservations: crate::http::sse::single::Reservations,
    /// Proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Vec<IpRange>,
    /// Whether GET /graphql serves GraphiQL to browsers.
    pub graphiql: bool,
    /// Whether the schema may be read (introspection, and the SDL file GraphiQL loads).
    pub introspection: bool,
    /// How long a query or mutation may run, over HTTP and over a WebSocket alike
    /// (HTTP_REQUEST_TIMEOUT_MS).
    pub request_timeout: std::time::Duration,
    /// The largest request body read (MAX_BODY_BYTES).
    pub max_body_bytes: usize,
    /// The largest answer sent, on every transport (RESPONSE_MAX_BYTES).
    pub response_max_bytes: usize,
    /// Shared subscription executions.
    pub fanout: Arc<Fanout>,
    /// Sockets that hold a withdrawable credential.
    pub revocations: Arc<Registry>,
    /// Answers to public reads.
    pub response_cache: Arc<crate::http::response_cache::ResponseCache>,
    /// Document limits, for the handlers that parse a document themselves (GET, and the
    /// WebSocket's subscribe path) and must measure it first.
    pub limits: schema::Limits,
    /// The page's registered documents, the APQ texts learnt here, and TRUSTED_DOCUMENTS.
    pub documents: crate::documents::Documents,
}

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}
