//! Building and running the service. `Application::build` connects, migrates, seeds if
//! asked, starts the alert pipeline and the push worker, and binds (port 0 in tests);
//! `run_until_stopped` serves until the shutdown future resolves, then drains.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use schema::{ApiContext, OutboxBell, SystemClock};
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::alerts::hub::Hub;
use crate::alerts::redis_bus::{Listener, RedisPublisher};
use crate::alerts::relay::Relay;
use crate::alerts::{InProcess, Publisher};
use crate::app::{App, AppState};
use crate::metrics::Metrics;
use crate::push::sender::Sender;
use crate::push::vapid::{self, VapidSigner};
use crate::push::{Worker, WorkerConfig};
use crate::settings::Settings;
use crate::{database, http, mailer};

pub struct Application {
    listener: TcpListener,
    state: AppState,
    settings: Settings,
    pipeline: Pipeline,
    /// Background work (relay, Redis listener, push worker) that drains on shutdown.
    workers: Vec<tokio::task::JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

/// The alert pipeline's workers, callable one step at a time (tests turn the background
/// loops off with RELAY_ENABLED=false and PUSH_ENABLED=false and drive these instead).
#[derive(Clone)]
pub struct Pipeline {
    pub relay: Arc<Relay>,
    /// Absent when the VAPID key is unusable for signing (the API still answers).
    pub push: Option<Arc<Worker>>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = database::connect(&settings.database.url(), settings.database.max_connections)
            .await
            .context("connecting to the database")?;
        database::migrate(&db)
            .await
            .context("migrating the database")?;
        if settings.database.seed_demo_on_empty() {
            seed_demo_if_empty(&db).await?;
        }
        let redis = match &settings.bus.redis_url {
            Some(url) => Some(redis::Client::open(url.expose_secret()).context("REDIS_URL")?),
            None => None,
        };
        let clock: Arc<dyn schema::Clock> = Arc::new(SystemClock);
        let metrics = Arc::new(Metrics::default());
        let (stop, shutdown) = watch::channel(false);
        let bell = Arc::new(OutboxBell::default());
        let hub = Hub::start(
            db.clone(),
            settings.bus.hub_buffer as usize,
            bell.clone(),
            metrics.clone(),
        )
        .await
        .context("starting the hub")?;
        let mut workers = Vec::new();
        let publisher: Arc<dyn Publisher> = match &redis {
            Some(client) => {
                let listener = Listener {
                    client: client.clone(),
                    prefix: settings.bus.redis_channel_prefix.clone(),
                    poll: settings.bus.hub_poll,
                    outage_poll: settings.bus.hub_outage_poll,
                };
                workers.push(tokio::spawn(listener.run(hub.clone(), shutdown.clone())));
                Arc::new(RedisPublisher::new(
                    client.clone(),
                    &settings.bus.redis_channel_prefix,
                )?)
            }
            None => Arc::new(InProcess(hub.clone())),
        };
        let instance = settings
            .instance_id
            .clone()
            .unwrap_or_else(default_instance_id);
        let relay = Arc::new(Relay::new(
            db.clone(),
            publisher,
            instance.clone(),
            settings.bus.relay_lease,
            metrics.clone(),
        ));
        if settings.bus.relay_enabled {
            workers.push(tokio::spawn(relay.clone().run(
                bell.clone(),
                settings.bus.relay_poll,
                shutdown.clone(),
            )));
        }
        let (private_key, public_key) =
            vapid::load_or_create(&db, settings.push.vapid_private_key.as_ref())
                .await
                .map_err(|e| anyhow!(e))
                .context("loading the VAPID key")?;
        let policy = schema::domain::PushPolicy {
            allowed_hosts: settings.push.allowed_hosts.clone(),
            trusted_origins: settings.push.trusted_origins.clone(),
        };
        let push = {
            let signer = VapidSigner::new(&private_key, settings.push.vapid_subject.clone())
                .map_err(|e| anyhow!(e))?;
            let sender = Sender::new(
                Arc::new(policy.clone()),
                signer,
                settings.push.timeout,
                settings.push.concurrency as usize,
            )
            .map_err(|e| anyhow!(e))?;
            let config =
                WorkerConfig::new(&settings.push, instance, settings.http.public_url.clone());
            Arc::new(Worker::new(
                db.clone(),
                Arc::new(sender),
                config,
                metrics.clone(),
            ))
        };
        if settings.push.enabled {
            workers.push(tokio::spawn(
                push.clone().run(bell.clone(), shutdown.clone()),
            ));
        }
        let api = ApiContext {
            db: db.clone(),
            clock: clock.clone(),
            mailer: mailer::from_settings(&settings.mail, settings.database.is_embedded())?,
            public_url: settings.http.public_url.clone(),
            bus: hub,
            outbox: bell,
            push: Arc::new(schema::PushContext { policy, public_key }),
        };
        let schema = schema::build_schema(api, settings.limits.schema_limits());
        let listener = TcpListener::bind(settings.http.bind)
            .await
            .with_context(|| format!("binding {}", settings.http.bind))?;
        let state = AppState(Arc::new(App {
            schema,
            db,
            redis,
            clock,
            metrics,
            shutdown,
            ws: settings.websocket.clone(),
        }));
        Ok(Self {
            listener,
            state,
            settings,
            pipeline: Pipeline {
                relay,
                push: Some(push),
            },
            workers,
            stop,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The pipeline's workers, to run one step at a time.
    pub fn pipeline(&self) -> Pipeline {
        self.pipeline.clone()
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let address = self.listener.local_addr()?;
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
            .context("serving");
        for worker in self.workers {
            let _ = tokio::time::timeout(Duration::from_secs(5), worker).await;
        }
        served
    }
}

async fn seed_demo_if_empty(db: &DatabaseConnection) -> anyhow::Result<()> {
    let organizations = entities::organization::Entity::find()
        .count(db)
        .await
        .context("checking for demo data")?;
    if organizations == 0 {
        let report = schema::services::demo::seed_demo(db)
            .await
            .map_err(|e| anyhow!(e.detail()))
            .context("seeding the demo data")?;
        tracing::info!(?report, "seeded the 2020 demo data");
    }
    Ok(())
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

/// A name for this process in the relay lease: pid plus start time.
fn default_instance_id() -> String {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("gateway-{}-{started}", std::process::id())
}
