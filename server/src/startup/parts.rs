//! The parts `Application::build` assembles, each starting its own workers on the one
//! tracker with the one stop signal: the alert pipeline (hub, bus, relay), push (the VAPID
//! key, the guarded sender, the worker), and the shared state (revocation, the schema over
//! the race office, the fan-out, the limits).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use race_office::{ApiContext, OutboxBell, SystemClock};
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alerts::fanout::Fanout;
use crate::alerts::hub::Hub;
use crate::alerts::live_first::LiveFirst;
use crate::alerts::redis_bus::{Listener, RedisPublisher};
use crate::alerts::relay::Relay;
use crate::alerts::{Both, InProcess, Publisher};
use crate::app::{App, AppState};
use crate::delivery::DeliveryPool;
use crate::limits::buckets::RedisBuckets;
use crate::limits::upgrades::Upgrades;
use crate::mail;
use crate::mail::worker::{MailWorker, MailWorkerConfig};
use crate::push::sender::{self, Sender};
use crate::push::vapid::{self, VapidSigner};
use crate::push::{Worker, WorkerConfig};
use crate::revocation::{Registry, Revocation};
use crate::settings::Settings;

/// What every background worker is started with: the one stop signal, and the one
/// tracker a stop waits on (WebSocket sessions are tracked there too).
#[derive(Clone)]
pub(super) struct Workers {
    pub shutdown: CancellationToken,
    /// The live feed's stop, which comes later: once the last WebSocket has closed. A
    /// draining instance closes its sockets over SHUTDOWN_WS_SPREAD_MS, and still tells
    /// the runners it holds meanwhile (they would otherwise hear only after reconnecting).
    pub feed_stop: CancellationToken,
    pub tasks: TaskTracker,
    /// Where pushes and mails are prepared and sent, below the live channel.
    pub delivery: Arc<DeliveryPool>,
}

impl Workers {
    /// Starts a worker; `work` gets the stop signal, and must return once it fires.
    fn start<F>(&self, work: impl FnOnce(CancellationToken) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(work(self.shutdown.clone()));
    }

    /// Starts the live feed's worker: it gets [`Workers::feed_stop`], not the stop signal.
    fn start_feed<F>(&self, work: impl FnOnce(CancellationToken) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(work(self.feed_stop.clone()));
    }

    /// Starts a delivery worker on the delivery pool, tracked like the rest.
    fn start_delivery<F>(&self, work: impl FnOnce(CancellationToken) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.delivery
            .spawn(self.tasks.track_future(work(self.shutdown.clone())));
    }
}

/// The hub, and the relay that rings it, with the workers that keep them going.
pub(super) struct Alerts {
    pub hub: Arc<Hub>,
    pub relay: Arc<Relay>,
    /// What the delivery workers wait for: the hub's fan-out of each change.
    pub live: Arc<LiveFirst>,
}

/// What every part of the build shares.
pub(super) struct Parts<'a> {
    pub settings: &'a Settings,
    /// The requests' pool.
    pub db: DatabaseConnection,
    /// The alert pipeline's own pool (hub, relay, push worker).
    pub pipeline_db: DatabaseConnection,
    pub redis: Option<redis::Client>,
    pub instance: String,
    pub public_url: String,
    pub bell: Arc<OutboxBell>,
    pub workers: Workers,
}

impl Parts<'_> {
    /// The hub, the bus that rings it (Redis, or in process for the embedded default), the
    /// Redis listener and the relay.
    pub async fn start_alerts(&self) -> anyhow::Result<Alerts> {
        let settings = self.settings;
        let live = Arc::new(LiveFirst::new(settings.delivery.yield_to_live));
        let hub = Hub::start(
            self.pipeline_db.clone(),
            settings.bus.hub_buffer as usize,
            self.bell.clone(),
            live.clone(),
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
                self.workers.start_feed(|stop| listener.run(local, stop));
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
        Ok(Alerts { hub, relay, live })
    }

    /// The VAPID key, the guarded sender and the push worker; and what the race office
    /// needs to know of push (the policy and the public key browsers subscribe with).
    pub async fn start_push(
        &self,
        live: &Arc<LiveFirst>,
    ) -> anyhow::Result<(Arc<Worker>, race_office::PushContext)> {
        let settings = self.settings;
        let (private_key, public_key) =
            vapid::load_or_create(&self.db, settings.push.vapid_private_key.as_ref())
                .await
                .context("loading the VAPID key")?;
        // Every instance has the VAPID key, so every instance derives the same key for
        // the tokens service workers acknowledge pushes with.
        let ack_key = race_office::domain::AckKey::derive(
            secrecy::ExposeSecret::expose_secret(&private_key).as_bytes(),
        );
        let policy = race_office::domain::PushPolicy {
            allowed_hosts: settings.push.allowed_hosts.clone(),
            trusted_origins: settings.push.trusted_origins.clone(),
            max_subscriptions_per_account: settings.push.max_subscriptions_per_account as usize,
        };
        let push = {
            let signer = VapidSigner::new(&private_key, settings.push.vapid_subject.clone())
                .context("the VAPID signer")?;
            let extra_roots = match &settings.push.extra_roots_pem {
                Some(path) => sender::extra_roots(path)
                    .context("the push services' extra roots (PUSH_EXTRA_ROOTS_PEM)")?,
                None => Vec::new(),
            };
            let sender = Sender::new(
                Arc::new(policy.clone()),
                signer,
                settings.push.timeout,
                settings
                    .push
                    .concurrency_per_origin
                    .min(settings.push.concurrency) as usize,
                extra_roots,
            )
            .context("building the push client")?;
            let config = WorkerConfig::new(
                &settings.push,
                self.instance.clone(),
                self.public_url.clone(),
            );
            Arc::new(Worker::new(
                self.pipeline_db.clone(),
                Arc::new(sender),
                config,
                ack_key.clone(),
                live.clone(),
            ))
        };
        if settings.push.enabled {
            let (push, bell) = (push.clone(), self.bell.clone());
            self.workers
                .start_delivery(|shutdown| push.run(bell, shutdown));
        }
        Ok((
            push,
            race_office::PushContext {
                policy,
                public_key,
                ack_key,
            },
        ))
    }

    /// The mail transport the settings ask for, and the alert mail worker that sends
    /// through it.
    pub fn start_mail(
        &self,
        live: &Arc<LiveFirst>,
    ) -> anyhow::Result<(Arc<MailWorker>, Arc<dyn race_office::Mailer>)> {
        let settings = self.settings;
        let mailer = mail::from_settings(&settings.mail, settings.database.is_embedded())?;
        let worker = Arc::new(MailWorker::new(
            self.pipeline_db.clone(),
            mailer.clone(),
            MailWorkerConfig::new(
                &settings.mail,
                self.instance.clone(),
                self.public_url.clone(),
            ),
            live.clone(),
        ));
        if settings.mail.enabled {
            let (worker, bell) = (worker.clone(), self.bell.clone());
            self.workers
                .start_delivery(|shutdown| worker.run(bell, shutdown));
        }
        Ok((worker, mailer))
    }

    /// The shared state: the revocation registry and its workers, the schema over the race
    /// office, the fan-out, the limits, and the pool probe.
    pub fn state(
        self,
        hub: Arc<Hub>,
        push: race_office::PushContext,
        mailer: Arc<dyn race_office::Mailer>,
    ) -> anyhow::Result<AppState> {
        let settings = self.settings;
        let workers = &self.workers;
        race_office::services::limit_password_hashing(settings.limits.password_hash_concurrency());
        let registry = Arc::new(Registry::new(settings.websocket.session_cache));
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
                registry.sweep_every(db, settings.websocket.auth_sweep, shutdown)
            });
        }
        let clock: Arc<dyn race_office::Clock> = Arc::new(SystemClock);
        // On PostgreSQL the pages' acknowledgements of an alert are written together.
        let page_acknowledgements: Arc<dyn race_office::PageAcknowledgements> =
            match self.db.get_database_backend() {
                sea_orm::DbBackend::Postgres => {
                    let (batched, waiting) = crate::acknowledgements::Batched::new();
                    let db = self.db.clone();
                    workers.start(|shutdown| crate::acknowledgements::write(db, waiting, shutdown));
                    batched
                }
                _ => Arc::new(race_office::OneByOne(self.db.clone())),
            };
        let response_cache = Arc::new(crate::http::response_cache::ResponseCache::new(
            settings.response_cache.clone(),
            match &self.redis {
                Some(client) => Some((
                    crate::alerts::redis_bus::connection_manager(client.clone())?,
                    settings.bus.redis_channel_prefix.as_str(),
                )),
                None => None,
            },
        ));
        let api = ApiContext {
            db: self.db.clone(),
            clock: clock.clone(),
            mailer,
            tally: Arc::new(crate::metrics::Tally),
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
            page_acknowledgements,
            public_reads: response_cache.clone(),
        };
        let embedded = settings.database.is_embedded();
        let limits = settings.limits.schema_limits();
        let schema = schema::build_schema(api, limits, settings.http.introspection_on(embedded));
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
            sessions: crate::sessions::session_reads(self.db.clone(), clock.clone()),
            db: self.db,
            redis,
            readiness: crate::readiness::Readiness::default(),
            clock,
            draining: AtomicBool::new(false),
            shutdown: self.workers.shutdown.clone(),
            tasks: self.workers.tasks.clone(),
            sockets: TaskTracker::new(),
            ws: settings.websocket.clone(),
            stopping: settings.shutdown.clone(),
            per_address: Arc::default(),
            ws_upgrades,
            reservations: Default::default(),
            trusted_proxies: settings.http.trusted_proxies.clone(),
            graphiql: settings.http.graphiql_on(embedded),
            introspection: settings.http.introspection_on(embedded),
            request_timeout: settings.http.request_timeout,
            max_body_bytes: usize::try_from(settings.http.max_body_bytes).unwrap_or(usize::MAX),
            response_max_bytes,
            fanout,
            revocations: registry,
            response_cache,
            limits,
            documents: crate::documents::Documents::new(&settings.documents)?,
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
