//! Building and running the service. `Application::build` connects, migrates, seeds if
//! asked, starts the alert pipeline and the push worker, and binds (port 0 in tests);
//! `run_until_stopped` serves until the shutdown future resolves, then drains.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow};
use race_office::{ApiContext, OutboxBell, SystemClock};
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

use crate::alerts::fanout::Fanout;
use crate::alerts::hub::Hub;
use crate::alerts::redis_bus::{Listener, RedisPublisher};
use crate::alerts::relay::Relay;
use crate::alerts::{Both, InProcess, Publisher};
use crate::app::{App, AppState};
use crate::limits::buckets::RedisBuckets;
use crate::limits::upgrades::Upgrades;
use crate::push::sender::Sender;
use crate::push::vapid::{self, VapidSigner};
use crate::push::{Worker, WorkerConfig};
use crate::revocation::{Registry, Revocation};
use crate::settings::Settings;
use crate::{database, http, mailer};

pub struct Application {
    listener: TcpListener,
    /// The operators' listener (metrics, health), when ADMIN_BIND is not `off`.
    admin: Option<TcpListener>,
    state: AppState,
    settings: Settings,
    pipeline: Pipeline,
    /// Stops every worker if the application is dropped without being run (a test that
    /// only builds it, or a build that fails half-way), as a stop would.
    _stop_on_drop: DropGuard,
}

/// The alert pipeline's workers, callable one step at a time (tests turn the background
/// loops off with RELAY_ENABLED=false and PUSH_ENABLED=false and drive these instead).
#[derive(Clone)]
pub struct Pipeline {
    pub relay: Arc<Relay>,
    /// The push worker (startup fails when the VAPID key cannot sign).
    pub push: Arc<Worker>,
}

/// What every background worker is started with: the one stop signal, and the one
/// tracker a stop waits on (WebSocket sessions are tracked there too).
#[derive(Clone)]
struct Workers {
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl Workers {
    /// Starts a worker; `work` gets the stop signal, and must return once it fires.
    fn start<F>(&self, work: impl FnOnce(CancellationToken) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(work(self.shutdown.clone()));
    }
}

/// The hub, and the relay that rings it, with the workers that keep them going.
struct Alerts {
    hub: Arc<Hub>,
    relay: Arc<Relay>,
}

/// What every part of the build shares.
struct Parts<'a> {
    settings: &'a Settings,
    /// The requests' pool.
    db: DatabaseConnection,
    /// The alert pipeline's own pool (hub, relay, push worker).
    pipeline_db: DatabaseConnection,
    redis: Option<redis::Client>,
    instance: String,
    public_url: String,
    bell: Arc<OutboxBell>,
    workers: Workers,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let workers = Workers {
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        };
        // First: a build that fails half-way stops the workers it started.
        let stop_on_drop = workers.shutdown.clone().drop_guard();
        let db = database::connect(&settings.database.url(), settings.database.max_connections)
            .await
            .context("connecting to the database")?;
        database::migrate(&db)
            .await
            .context("migrating the database")?;
        if settings.database.seed_demo_on_empty() {
            seed_demo_if_empty(&db).await?;
        }
        let pipeline_db = database::connect(
            &settings.database.url(),
            settings.database.pipeline_connections,
        )
        .await
        .context("connecting the alert pipeline's pool")?;
        // Bound before anything that writes links: they follow the port actually bound.
        let listener = listen(settings.http.bind)
            .with_context(|| format!("binding {}", settings.http.bind))?;
        let admin = match settings.http.admin_bind.0 {
            Some(address) => Some(listen(address).with_context(|| {
                format!(
                    "binding ADMIN_BIND {address} (a second gateway on this host needs an \
                         ADMIN_BIND of its own: another port, port 0, or off)"
                )
            })?),
            None => None,
        };
        let bound = listener.local_addr().context("reading the bound address")?;
        let public_url = settings.http.public_url_for(bound);
        if let Some(warning) = settings
            .http
            .public_url_mismatch(bound, settings.database.is_embedded())
        {
            tracing::warn!("{warning}");
        }
        let redis = match &settings.bus.redis_url {
            Some(url) => Some(redis::Client::open(url.expose_secret()).context("REDIS_URL")?),
            None => None,
        };
        crate::metrics::handle();
        let parts = Parts {
            settings: &settings,
            db,
            pipeline_db,
            redis,
            instance: settings
                .instance_id
                .clone()
                .unwrap_or_else(default_instance_id),
            public_url,
            bell: Arc::new(OutboxBell::default()),
            workers,
        };
        let alerts = parts.start_alerts().await?;
        let (push, push_context) = parts.start_push().await?;
        let pipeline = Pipeline {
            relay: alerts.relay,
            push,
        };
        let state = parts.state(alerts.hub, push_context)?;
        Ok(Self {
            listener,
            admin,
            state,
            settings,
            pipeline,
            _stop_on_drop: stop_on_drop,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The admin listener's port, when it has one.
    pub fn admin_port(&self) -> Option<u16> {
        self.admin
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
    }

    /// The pipeline's workers, to run one step at a time.
    pub fn pipeline(&self) -> Pipeline {
        self.pipeline.clone()
    }

    /// The shared subscription executions (tests count the groups).
    pub fn fanout(&self) -> Arc<Fanout> {
        self.state.fanout.clone()
    }

    /// The admin listener's address, e.g. `http://127.0.0.1:9090`.
    pub fn admin_address(&self) -> Option<String> {
        self.admin_port()
            .map(|port| format!("http://127.0.0.1:{port}"))
    }

    /// Serves until `shutdown` resolves, then stops in order, within SHUTDOWN_GRACE_MS in
    /// all: /readyz answers 503 at once (a load balancer stops sending); after the readiness
    /// delay the listener closes, idle connections close and in-flight requests finish;
    /// WebSocket clients are closed with 1001 at moments spread over a window; workers stop.
    /// Whatever is still running at the deadline is dropped with the process.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let address = self.listener.local_addr()?;
        announce("listening on", address);
        if self.state.graphiql {
            tracing::info!("GraphiQL on http://{address}/graphql");
        }
        let router = http::router(self.state.clone(), &self.settings.http);
        let connections = TaskTracker::new();
        let accepting = tokio::spawn(http::serve::accept(
            self.listener,
            router,
            self.settings.http.header_timeout,
            connections.clone(),
            self.state.shutdown.clone(),
        ));
        if let Some(admin) = self.admin {
            announce("admin on", admin.local_addr()?);
            tokio::spawn(http::serve::accept(
                admin,
                http::admin::router(self.state.clone()),
                self.settings.http.header_timeout,
                TaskTracker::new(),
                self.state.shutdown.clone(),
            ));
        }
        shutdown.await;
        let deadline = tokio::time::Instant::now() + self.settings.shutdown.grace;
        self.state.draining.store(true, Ordering::Release);
        tracing::info!(grace = ?self.settings.shutdown.grace, "stopping: /readyz answers 503");
        tokio::time::sleep_until(
            (tokio::time::Instant::now() + self.settings.shutdown.readiness_delay).min(deadline),
        )
        .await;
        tracing::info!("stopping: closing the listener and the WebSockets");
        // The listeners, the WebSocket sessions and the background workers all watch this.
        self.state.shutdown.cancel();
        connections.close();
        self.state.tasks.close();
        let everything = async {
            let _ = accepting.await;
            connections.wait().await;
            self.state.tasks.wait().await;
        };
        if tokio::time::timeout_at(deadline, everything).await.is_err() {
            tracing::warn!(
                connections = connections.len(),
                tasks = self.state.tasks.len(),
                "stopping: the grace ran out; dropping what is left"
            );
        } else {
            tracing::info!("stopped");
        }
        Ok(())
    }
}

impl Parts<'_> {
    /// The hub, the bus that rings it (Redis, or in process for the embedded default), the
    /// Redis listener and the relay.
    async fn start_alerts(&self) -> anyhow::Result<Alerts> {
        let settings = self.settings;
        let hub = Hub::start(
            self.pipeline_db.clone(),
            settings.bus.hub_buffer as usize,
            self.bell.clone(),
        )
        .await
        .context("starting the hub")?;
        let publisher: Arc<dyn Publisher> = match &self.redis {
            Some(client) => {
                let listener = Listener {
                    client: client.clone(),
                    prefix: settings.bus.redis_channel_prefix.clone(),
                    poll: settings.bus.hub_poll,
                    outage_poll: settings.bus.hub_outage_poll,
                };
                let local = hub.clone();
                self.workers.start(|shutdown| listener.run(local, shutdown));
                Arc::new(Both {
                    local: hub.clone(),
                    remote: Arc::new(RedisPublisher::new(
                        client.clone(),
                        &settings.bus.redis_channel_prefix,
                    )?),
                })
            }
            None => Arc::new(InProcess(hub.clone())),
        };
        let relay = Arc::new(Relay::new(
            self.pipeline_db.clone(),
            publisher,
            self.instance.clone(),
            settings.bus.relay_lease,
        ));
        if settings.bus.relay_enabled {
            let (relay, bell) = (relay.clone(), self.bell.clone());
            self.workers
                .start(|shutdown| relay.run(bell, settings.bus.relay_poll, shutdown));
        }
        Ok(Alerts { hub, relay })
    }

    /// The VAPID key, the guarded sender and the push worker; and what the race office
    /// needs to know of push (the policy and the public key browsers subscribe with).
    async fn start_push(&self) -> anyhow::Result<(Arc<Worker>, race_office::PushContext)> {
        let settings = self.settings;
        let (private_key, public_key) =
            vapid::load_or_create(&self.db, settings.push.vapid_private_key.as_ref())
                .await
                .map_err(|e| anyhow!(e))
                .context("loading the VAPID key")?;
        let policy = race_office::domain::PushPolicy {
            allowed_hosts: settings.push.allowed_hosts.clone(),
            trusted_origins: settings.push.trusted_origins.clone(),
            max_subscriptions_per_account: settings.push.max_subscriptions_per_account as usize,
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
            let config = WorkerConfig::new(
                &settings.push,
                self.instance.clone(),
                self.public_url.clone(),
            );
            Arc::new(Worker::new(
                self.pipeline_db.clone(),
                Arc::new(sender),
                config,
            ))
        };
        if settings.push.enabled {
            let (push, bell) = (push.clone(), self.bell.clone());
            self.workers.start(|shutdown| push.run(bell, shutdown));
        }
        Ok((push, race_office::PushContext { policy, public_key }))
    }

    /// The shared state: the revocation registry and its workers, the schema over the race
    /// office, the fan-out, the limits, and the pool probe.
    fn state(self, hub: Arc<Hub>, push: race_office::PushContext) -> anyhow::Result<AppState> {
        let settings = self.settings;
        let workers = &self.workers;
        race_office::services::limit_password_hashing(settings.limits.password_hash_concurrency());
        let registry = Arc::new(Registry::default());
        let revocation = Arc::new(match &self.redis {
            Some(client) => Revocation::new(
                registry.clone(),
                Some((
                    crate::alerts::redis_bus::connection_manager(client.clone())?,
                    &settings.bus.redis_channel_prefix,
                )),
            ),
            None => Revocation::new(registry.clone(), None),
        });
        if let Some(client) = &self.redis {
            let (client, registry) = (client.clone(), registry.clone());
            let prefix = settings.bus.redis_channel_prefix.clone();
            workers.start(|shutdown| crate::revocation::listen(client, prefix, registry, shutdown));
        }
        {
            let (registry, db) = (registry.clone(), self.db.clone());
            workers.start(|shutdown| {
                registry.sweep_every(db, settings.websocket.auth_recheck, shutdown)
            });
        }
        let clock: Arc<dyn race_office::Clock> = Arc::new(SystemClock);
        let api = ApiContext {
            db: self.db.clone(),
            clock: clock.clone(),
            mailer: mailer::from_settings(&settings.mail, settings.database.is_embedded())?,
            public_url: self.public_url,
            outbox: self.bell,
            push: Arc::new(push),
            throttle: Arc::new(race_office::Throttle::new(
                match &self.redis {
                    Some(client) => Arc::new(RedisBuckets::new(
                        crate::alerts::redis_bus::connection_manager(client.clone())?,
                        &settings.bus.redis_channel_prefix,
                    )),
                    None => Arc::new(race_office::throttle::MemoryBuckets::default()),
                },
                settings.rates.quotas(),
            )),
            revocations: revocation.clone(),
        };
        let embedded = settings.database.is_embedded();
        let limits = settings.limits.schema_limits();
        let schema =
            graphql_api::build_schema(api, limits, settings.http.introspection_on(embedded));
        {
            let db = self.db.clone();
            workers.start(|shutdown| probe_pool(db, shutdown));
        }
        let response_max_bytes =
            usize::try_from(settings.limits.response_max_bytes).unwrap_or(usize::MAX);
        let fanout = Fanout::new(
            schema.clone(),
            self.db.clone(),
            hub,
            u64::from(settings.limits.replay_max_notifications),
            crate::alerts::fanout::Budget {
                processor_time: settings.limits.subscription_execution_budget,
                bytes: response_max_bytes,
            },
        );
        let ws_upgrades = Arc::new(Upgrades::per_minute(settings.rates.ws_upgrades_per_address));
        {
            let ws_upgrades = ws_upgrades.clone();
            workers.start(|shutdown| ws_upgrades.forget_recovered_every_minute(shutdown));
        }
        let redis = match self.redis {
            Some(client) => Some(crate::alerts::redis_bus::connection_manager(client)?),
            None => None,
        };
        Ok(AppState(Arc::new(App {
            instance: self.instance,
            schema,
            db: self.db,
            redis,
            clock,
            draining: AtomicBool::new(false),
            shutdown: self.workers.shutdown.clone(),
            tasks: self.workers.tasks.clone(),
            ws: settings.websocket.clone(),
            stopping: settings.shutdown.clone(),
            per_address: Arc::default(),
            ws_upgrades,
            trusted_proxies: settings.http.trusted_proxies.clone(),
            graphiql: settings.http.graphiql_on(embedded),
            introspection: settings.http.introspection_on(embedded),
            request_timeout: settings.http.request_timeout,
            max_body_bytes: usize::try_from(settings.http.max_body_bytes).unwrap_or(usize::MAX),
            response_max_bytes,
            fanout,
            revocations: registry,
            limits,
        })))
    }
}

/// Every second: the pool's connections in use and idle, and how long a probe waited for
/// a connection (the pool's queue, as a caller feels it).
async fn probe_pool(db: DatabaseConnection, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {},
            () = shutdown.cancelled() => return,
        }
        let started = std::time::Instant::now();
        let (size, idle) = match db.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                let pool = db.get_postgres_connection_pool();
                let _ = pool.acquire().await;
                (pool.size(), pool.num_idle())
            }
            _ => {
                let pool = db.get_sqlite_connection_pool();
                let _ = pool.acquire().await;
                (pool.size(), pool.num_idle())
            }
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        crate::metrics::db_pool(size.saturating_sub(idle), idle, started.elapsed());
    }
}

async fn seed_demo_if_empty(db: &DatabaseConnection) -> anyhow::Result<()> {
    let organizations = entities::organization::Entity::find()
        .count(db)
        .await
        .context("checking for demo data")?;
    if organizations == 0 {
        let report = race_office::services::demo::seed_demo(db)
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

/// Connections a listener queues before they are accepted. A reconnect storm (an instance
/// gone, its thousands of runners coming back at once) must queue here: past the queue a
/// client waits for its SYN to be sent again, a second later. The kernel caps it at
/// net.core.somaxconn.
const LISTEN_BACKLOG: u32 = 4096;

fn listen(address: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std's and tokio's own bind do: a restarted gateway takes its port back at once.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Says on standard output which address a listener got, whatever the log filter, so that
/// whoever started the gateway with port 0 (a test, a supervisor, an operator) learns it:
/// `listening on http://127.0.0.1:PORT`, `admin on http://127.0.0.1:PORT`. With
/// `LOG_FORMAT=json` the line is a JSON object like the other log lines.
fn announce(what: &str, address: std::net::SocketAddr) {
    let line = format!("{what} http://{address}");
    if std::env::var("LOG_FORMAT").as_deref() == Ok("json") {
        let object = serde_json::json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "level": "INFO",
            "fields": { "message": line },
        });
        println!("{object}");
    } else {
        println!("{line}");
    }
}

/// A name for this process in the relay lease: pid plus start time.
fn default_instance_id() -> String {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("gateway-{}-{started}", std::process::id())
}
