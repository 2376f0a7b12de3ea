//! Building and running the service. `Application::build` connects, migrates, seeds if
//! asked, binds (port 0 in tests), and assembles its [`parts`]: the alert pipeline, push,
//! and the shared state; `run_until_stopped` serves until the shutdown future resolves,
//! then stops in order. Every worker and WebSocket session runs on one `TaskTracker` and
//! watches one `CancellationToken`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use race_office::OutboxBell;
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

mod parts;

use crate::alerts::fanout::Fanout;
use crate::alerts::relay::Relay;
use crate::app::AppState;
use crate::push::Worker;
use crate::settings::Settings;
use crate::{database, http};
use parts::{Parts, Workers};

pub struct Application {
    listener: TcpListener,
    /// The operators' listener (metrics, health), when ADMIN_BIND is not `off`.
    admin: Option<TcpListener>,
    state: AppState,
    settings: Settings,
    pipeline: Pipeline,
    /// The delivery threads: kept until the application has stopped.
    _delivery: Arc<crate::delivery::DeliveryPool>,
    /// Stops every worker if the application is dropped without being run (a test that
    /// only builds it, or a build that fails half-way), as a stop would.
    _stop_on_drop: DropGuard,
    /// The live feed's stop (after the last WebSocket has closed), and its guard likewise.
    feed_stop: CancellationToken,
    _feed_on_drop: DropGuard,
}

/// The alert pipeline's workers, callable one step at a time (tests turn the background
/// loops off with RELAY_ENABLED=false and PUSH_ENABLED=false and drive these instead).
#[derive(Clone)]
pub struct Pipeline {
    pub relay: Arc<Relay>,
    /// The push worker (startup fails when the VAPID key cannot sign).
    pub push: Arc<Worker>,
    /// The alert mail worker (MAIL_ENABLED=false turns its loop off).
    pub mail: Arc<crate::mail::worker::MailWorker>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let workers = Workers {
            shutdown: CancellationToken::new(),
            feed_stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
            delivery: Arc::new(crate::delivery::DeliveryPool::new(
                settings.delivery.threads as usize,
                settings.delivery.nice,
            )?),
        };
        let delivery = workers.delivery.clone();
        // First: a build that fails half-way stops the workers it started.
        let stop_on_drop = workers.shutdown.clone().drop_guard();
        let workers_feed_stop = workers.feed_stop.clone();
        let feed_on_drop = workers.feed_stop.clone().drop_guard();
        let db = database::connect(
            &settings.database.url(),
            settings.database.max_connections,
            database::Ping::IfIdle,
        )
        .await
        .context("connecting to the database")?;
        if settings.database.migrate_on_start {
            database::migrate(&db)
                .await
                .context("migrating the database")?;
        } else {
            database::check_migrated(&db).await?;
        }
        if settings.database.seed_demo_on_empty() {
            seed_demo_if_empty(&db).await?;
        }
        let pipeline_db = database::connect(
            &settings.database.url(),
            settings.database.pipeline_connections,
            database::Ping::Always,
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
        let (push, push_context) = parts.start_push(&alerts.live).await?;
        let (mail, mailer) = parts.start_mail(&alerts.live)?;
        let pipeline = Pipeline {
            relay: alerts.relay,
            push,
            mail,
        };
        let state = parts.state(alerts.hub, push_context, mailer)?;
        // Ready or not from the first request on; then kept fresh in the background.
        state
            .readiness
            .refresh(&state.db, state.redis.as_ref())
            .await;
        {
            let state = state.clone();
            let shutdown = state.shutdown.clone();
            state
                .tasks
                .clone()
                .spawn(crate::http::health::keep_fresh(state, shutdown));
        }
        Ok(Self {
            listener,
            admin,
            state,
            settings,
            pipeline,
            _delivery: delivery,
            _stop_on_drop: stop_on_drop,
            feed_stop: workers_feed_stop,
            _feed_on_drop: feed_on_drop,
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
            // Upgraded sockets outlive their connection's task: the live feed stops once
            // the last of them has closed, with nobody left to tell.
            self.state.sockets.close();
            self.state.sockets.wait().await;
            self.feed_stop.cancel();
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

async fn seed_demo_if_empty(db: &DatabaseConnection) -> anyhow::Result<()> {
    let seeded = race_office::services::demo::seed_demo_if_empty(db)
        .await
        .map_err(race_office::ApiError::into_anyhow)
        .context("seeding the demo data")?;
    if let Some(report) = seeded {
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
