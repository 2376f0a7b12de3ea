//! Building and running the service. `Application::build` connects, migrates, seeds if
//! asked, and binds (port 0 in tests); `run_until_stopped` serves until the shutdown
//! future resolves, then drains in-flight requests.

use std::future::Future;
use std::sync::Arc;

use schema::{ApiContext, Limits, SystemClock};
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::alerts::hub::Hub;
use crate::alerts::redis_bus::{self, RedisPublisher};
use crate::alerts::relay::{self, RelayConfig};
use crate::alerts::{InProcess, Publisher};
use crate::config::Settings;
use crate::http::WsSettings;
use crate::metrics::Metrics;
use crate::push::sender::Sender;
use crate::push::vapid::{self, VapidSigner};
use crate::{database, http, mailer, push};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// What every request handler shares.
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
    pub ws: WsSettings,
    /// Document limits, for the GET handler, which parses a document itself.
    pub limits: Limits,
}

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    settings: Settings,
    /// Background work (relay, Redis listener) that drains on shutdown.
    workers: Vec<tokio::task::JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, String> {
        let db = database::connect(&settings.database_url(), settings.database_max_connections)
            .await
            .map_err(|e| format!("connecting to the database: {e}"))?;
        database::migrate(&db)
            .await
            .map_err(|e| format!("migrating: {e}"))?;
        if settings.seed_demo_on_empty() {
            let organizations = entities::organization::Entity::find()
                .count(&db)
                .await
                .map_err(|e| format!("checking for demo data: {e}"))?;
            if organizations == 0 {
                let report = schema::services::demo::seed_demo(&db)
                    .await
                    .map_err(|e| format!("seeding demo data: {}", e.message()))?;
                tracing::info!(?report, "seeded the 2020 demo data");
            }
        }
        let redis = match &settings.redis_url {
            Some(url) => Some(
                redis::Client::open(url.expose_secret()).map_err(|e| format!("REDIS_URL: {e}"))?,
            ),
            None => None,
        };
        let clock: Arc<dyn schema::Clock> = Arc::new(SystemClock);
        let metrics = Arc::new(Metrics::default());
        let (stop, shutdown) = watch::channel(false);
        let hub = Hub::start(db.clone(), settings.hub_buffer, metrics.clone())
            .await
            .map_err(|e| format!("starting the hub: {}", e.message()))?;
        let outbox = Arc::new(Notify::new());
        let push_wake = Arc::new(Notify::new());
        let mut workers = Vec::new();
        let publisher: Arc<dyn Publisher> = match &redis {
            Some(client) => {
                workers.push(tokio::spawn(redis_bus::listen(
                    client.clone(),
                    settings.redis_channel_prefix.clone(),
                    hub.clone(),
                    shutdown.clone(),
                )));
                Arc::new(RedisPublisher::new(
                    client.clone(),
                    &settings.redis_channel_prefix,
                ))
            }
            None => Arc::new(InProcess(hub.clone())),
        };
        let instance = settings
            .instance_id
            .clone()
            .unwrap_or_else(default_instance_id);
        if settings.relay_enabled {
            let config = RelayConfig {
                instance: instance.clone(),
                poll: Duration::from_millis(settings.relay_poll_ms),
                lease: Duration::from_millis(settings.relay_lease_ms),
                push_wake: push_wake.clone(),
            };
            workers.push(tokio::spawn(relay::run(
                db.clone(),
                publisher,
                config,
                outbox.clone(),
                metrics.clone(),
                shutdown.clone(),
            )));
        }
        let push_context = Arc::new(
            start_push(
                &db,
                &settings,
                instance,
                push_wake,
                metrics.clone(),
                &shutdown,
                &mut workers,
            )
            .await?,
        );
        let api = ApiContext {
            db: db.clone(),
            clock: clock.clone(),
            mailer: mailer::from_settings(&settings)?,
            public_url: settings.public_url.clone(),
            bus: hub,
            outbox,
            push: push_context,
        };
        let limits = Limits {
            depth: settings.query_depth_limit,
            complexity: settings.query_complexity_limit,
            nesting: settings.query_nesting_limit,
            tokens: settings.query_token_limit,
            aliases: settings.query_alias_limit,
            directives: settings.query_directive_limit,
            fragment_spreads: settings.query_fragment_spread_limit,
            expanded_selections: settings.query_expanded_selection_limit,
        };
        let schema = schema::build_schema(api, limits);
        let listener = TcpListener::bind(settings.bind)
            .await
            .map_err(|e| format!("binding {}: {e}", settings.bind))?;
        let ws = WsSettings {
            init_timeout: Duration::from_millis(settings.ws_init_timeout_ms),
            keepalive: Duration::from_secs(settings.ws_keepalive_secs.max(1)),
        };
        let state = AppState(Arc::new(App {
            schema,
            db,
            redis,
            clock,
            metrics,
            shutdown,
            ws,
            limits,
        }));
        Ok(Self {
            listener,
            state,
            settings,
            workers,
            stop,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), String> {
        let address = self.listener.local_addr().map_err(|e| e.to_string())?;
        tracing::info!("GraphiQL on http://{address}/graphql");
        let router = http::router(self.state, &self.settings);
        let stop = self.stop;
        let served = axum::serve(self.listener, router)
            .with_graceful_shutdown(async move {
                shutdown.await;
                // WebSocket sessions and background workers watch this.
                let _ = stop.send(true);
            })
            .await
            .map_err(|e| format!("serving: {e}"));
        for worker in self.workers {
            let _ = tokio::time::timeout(Duration::from_secs(5), worker).await;
        }
        served
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

/// Loads (or creates) the VAPID key and, when enabled, starts this instance's push worker.
async fn start_push(
    db: &DatabaseConnection,
    settings: &Settings,
    instance: String,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    shutdown: &watch::Receiver<bool>,
    workers: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<schema::PushContext, String> {
    if !(settings.vapid_subject.starts_with("mailto:")
        || settings.vapid_subject.starts_with("https:"))
    {
        return Err("VAPID_SUBJECT must be a mailto: or https: URL".into());
    }
    let (private, public_key) =
        vapid::load_or_create(db, settings.vapid_private_key.as_ref()).await?;
    let policy = schema::domain::PushPolicy {
        allowed_hosts: settings.push_allowed_hosts.clone(),
        trusted_origins: settings.push_trusted_origins.clone(),
    };
    if settings.push_enabled {
        let signer = VapidSigner::new(&private, settings.vapid_subject.clone())?;
        let sender = Sender::new(
            Arc::new(policy.clone()),
            signer,
            Duration::from_millis(settings.push_timeout_ms),
            settings.push_concurrency.max(1),
        )?;
        let config = push::WorkerConfig {
            instance,
            concurrency: settings.push_concurrency.max(1),
            batch: settings.push_batch.max(1),
            lease: Duration::from_millis(settings.push_lease_ms),
            poll: Duration::from_millis(settings.push_poll_ms),
            max_attempts: settings.push_max_attempts.max(1),
            retry_base: Duration::from_millis(settings.push_retry_base_ms),
            public_url: settings.public_url.clone(),
        };
        workers.push(tokio::spawn(push::run(
            db.clone(),
            Arc::new(sender),
            config,
            wake,
            metrics,
            shutdown.clone(),
        )));
    }
    Ok(schema::PushContext { policy, public_key })
}

/// A name for this process in the relay lease: pid plus start time.
fn default_instance_id() -> String {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("gateway-{}-{started}", std::process::id())
}
