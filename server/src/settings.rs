//! Every setting, typed, grouped by what it configures, each with its environment variable,
//! flag and default in one place (the attributes below). Ranges are checked when parsed, so
//! the rest of the server receives values that make sense, times as `Duration`s. Secrets
//! are wrapped so they never print. `docs/OPERATIONS.md` lists the same table.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser};
use secrecy::SecretString;

/// Where the embedded default keeps its SQLite file.
pub const EMBEDDED_DATABASE_URL: &str = "sqlite://./data/gateway.db?mode=rwc";

#[derive(Args, Debug, Clone)]
pub struct Settings {
    /// This instance's name in the relay lease and on the push deliveries it claims.
    /// Default: pid and start time.
    #[arg(long, env = "INSTANCE_ID")]
    pub instance_id: Option<String>,

    #[command(flatten)]
    pub http: HttpSettings,
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub bus: BusSettings,
    #[command(flatten)]
    pub websocket: WebSocketSettings,
    #[command(flatten)]
    pub push: PushSettings,
    #[command(flatten)]
    pub mail: MailSettings,
    #[command(flatten)]
    pub delivery: DeliverySettings,
    #[command(flatten)]
    pub limits: QueryLimits,
    #[command(flatten)]
    pub response_cache: ResponseCacheSettings,
    #[command(flatten)]
    pub documents: DocumentSettings,
    #[command(flatten)]
    pub rates: RateLimits,
    #[command(flatten)]
    pub shutdown: ShutdownSettings,
}

/// Answers to public reads kept in memory, dropped by the writes that change them
/// (`http::response_cache`).
#[derive(Args, Debug, Clone)]
pub struct ResponseCacheSettings {
    /// Keep the answers of anonymous queries of public data (the race list, an event,
    /// charity projects and totals).
    #[arg(id = "response_cache", long = "response-cache", env = "RESPONSE_CACHE", default_value_t = true, action = clap::ArgAction::Set)]
    pub enabled: bool,

    /// Answers kept at most; past this the cache starts over.
    #[arg(id = "response_cache_max_entries", long = "response-cache-max-entries", env = "RESPONSE_CACHE_MAX_ENTRIES", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_entries: u64,

    /// Bytes of answers kept at most (an answer over a sixteenth of it is not kept).
    #[arg(id = "response_cache_max_bytes", long = "response-cache-max-bytes", env = "RESPONSE_CACHE_MAX_BYTES", default_value_t = 32 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..=4 * 1024 * 1024 * 1024))]
    pub max_bytes: u64,

    /// The longest an answer is served, in ms: writes drop answers at once; this bounds
    /// only a write made outside the API (by hand, in the database).
    #[arg(id = "response_cache_max_age", long = "response-cache-max-age-ms", env = "RESPONSE_CACHE_MAX_AGE_MS", default_value = "60000",
          value_parser = millis(1..=3_600_000))]
    pub max_age: Duration,
}

/// The public listener.
#[derive(Args, Debug, Clone)]
pub struct HttpSettings {
    /// Address to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Base URL of the SPA, for links in mail and in push alerts. Unset: the address
    /// actually bound (`http://127.0.0.1:PORT` when BIND names every interface), see
    /// [`HttpSettings::public_url_for`].
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 256 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..=16 * 1024 * 1024))]
    pub max_body_bytes: u64,

    /// The operators' listener (/metrics, /healthz, /readyz): keep it off the public
    /// network. `off` for none.
    #[arg(long, env = "ADMIN_BIND", default_value = "127.0.0.1:9090", value_parser = OptionalAddress::parse)]
    pub admin_bind: OptionalAddress,

    /// Origins whose browser pages may call the API (comma-separated, e.g.
    /// `https://runners.almaty-marathon.kz`). Empty: same origin only. `*`: any origin, but
    /// then without the Authorization header (public queries only).
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,

    /// A client must send a request's headers within this, in ms.
    #[arg(long = "http-header-timeout-ms", env = "HTTP_HEADER_TIMEOUT_MS", default_value = "10000",
          value_parser = millis(100..=600_000))]
    pub header_timeout: Duration,

    /// A client must send a request's body within this, in ms (408 beyond).
    #[arg(long = "http-body-timeout-ms", env = "HTTP_BODY_TIMEOUT_MS", default_value = "10000",
          value_parser = millis(100..=600_000))]
    pub body_timeout: Duration,

    /// The longest a request may take to answer, in ms (503 beyond).
    #[arg(long = "http-request-timeout-ms", env = "HTTP_REQUEST_TIMEOUT_MS", default_value = "30000",
          value_parser = millis(100..=600_000))]
    pub request_timeout: Duration,

    /// Proxies (addresses or CIDR ranges, comma-separated) whose `X-Forwarded-For` is
    /// believed for the client's address. Empty: nobody's.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', value_parser = IpRange::parse)]
    pub trusted_proxies: Vec<IpRange>,

    /// Serve GraphiQL on GET /graphql. Default: on for the embedded default, off with
    /// DATABASE_URL.
    #[arg(long, env = "GRAPHIQL")]
    pub graphiql: Option<bool>,

    /// Answer introspection queries. Default: on for the embedded default, off with
    /// DATABASE_URL.
    #[arg(long, env = "INTROSPECTION")]
    pub introspection: Option<bool>,
}

impl HttpSettings {
    /// The base URL links point to once the listener is bound at `bound`: PUBLIC_URL when
    /// set, else the page this very process serves (so links follow BIND, port 0 included).
    pub fn public_url_for(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.clone(),
            None => {
                // A link to 0.0.0.0 would not open in a browser; loopback does on this host.
                let ip = match bound.ip() {
                    ip if ip.is_unspecified() && ip.is_ipv4() => IpAddr::from([127, 0, 0, 1]),
                    ip if ip.is_unspecified() => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
                    ip => ip,
                };
                format!("http://{}", SocketAddr::new(ip, bound.port()))
            }
        }
    }

    /// Why PUBLIC_URL looks wrong for a gateway bound at `bound`: on a loopback or embedded
    /// setup the page is this process, so a link to another port goes nowhere. Behind a
    /// proxy (another host, production) a port of its own is normal and not judged.
    pub fn public_url_mismatch(&self, bound: SocketAddr, embedded: bool) -> Option<String> {
        let configured = self.public_url.as_deref()?;
        let Ok(url) = url::Url::parse(configured) else {
            return Some(format!("PUBLIC_URL {configured} is not a URL"));
        };
        let loopback = match url.host()? {
            url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
            url::Host::Ipv4(ip) => ip.is_loopback(),
            url::Host::Ipv6(ip) => ip.is_loopback(),
        };
        let port = url.port_or_known_default()?;
        if (loopback || embedded) && port != bound.port() {
            return Some(format!(
                "PUBLIC_URL {configured} names port {port}, but the gateway listens on port {}: \
                 links in mail and pushes will not reach it",
                bound.port()
            ));
        }
        None
    }
}

#[derive(Args, Debug, Clone)]
pub struct DatabaseSettings {
    /// PostgreSQL (`postgres://…`) or SQLite (`sqlite://…`) URL. Unset: the embedded
    /// SQLite file under ./data/.
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true)]
    pub url: Option<SecretString>,

    /// Connections in the database pool.
    #[arg(long = "database-max-connections", env = "DATABASE_MAX_CONNECTIONS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_connections: u32,

    /// Connections of the alert pipeline's own pool (hub, relay, push worker), apart from
    /// the requests' pool: a storm of reconnecting clients queues on the other pool, never
    /// in front of the next alert.
    #[arg(long = "database-pipeline-connections", env = "DATABASE_PIPELINE_CONNECTIONS", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub pipeline_connections: u32,

    /// Seed the 2020 demo data when the database has no organizations yet. Default: on for
    /// the embedded SQLite, off when DATABASE_URL is set.
    #[arg(long, env = "SEED_DEMO")]
    pub seed_demo: Option<bool>,

    /// Apply pending migrations at start (instances started together take turns under an
    /// advisory lock on PostgreSQL). A fleet sets it false and runs `gateway migrate` as
    /// its deploy step: an instance then refuses to start while a migration is pending.
    #[arg(long, env = "MIGRATE_ON_START", default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate_on_start: bool,
}

impl DatabaseSettings {
    /// The database URL in force.
    pub fn url(&self) -> String {
        use secrecy::ExposeSecret;
        self.url
            .as_ref()
            .map(|url| url.expose_secret().to_owned())
            .unwrap_or_else(|| EMBEDDED_DATABASE_URL.to_owned())
    }

    pub fn is_embedded(&self) -> bool {
        self.url.is_none()
    }

    pub fn seed_demo_on_empty(&self) -> bool {
        self.seed_demo.unwrap_or(self.is_embedded())
    }
}

/// How notifications travel: Redis between instances (or in-process), the relay that
/// drains the outbox onto it, and each instance's hub.
#[derive(Args, Debug, Clone)]
pub struct BusSettings {
    /// Redis URL: the bus between gateway instances; checked by /readyz. Unset: an
    /// in-process bus (one instance).
    #[arg(long = "redis-url", env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<SecretString>,

    /// Prefix of the Redis channel names, so deployments (and tests) sharing one Redis do
    /// not hear each other.
    #[arg(long, env = "REDIS_CHANNEL_PREFIX", default_value = "gateway")]
    pub redis_channel_prefix: String,

    /// Whether this instance may relay the outbox (one instance holds the lease at a time).
    #[arg(long, env = "RELAY_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub relay_enabled: bool,

    /// How often the relay looks for unpublished notifications when nothing woke it, in ms.
    #[arg(long = "relay-poll-ms", env = "RELAY_POLL_MS", default_value = "200",
          value_parser = millis(10..=60_000))]
    pub relay_poll: Duration,

    /// How long the relay lease lasts unless renewed, in ms: the failover time.
    #[arg(long = "relay-lease-ms", env = "RELAY_LEASE_MS", default_value = "3000",
          value_parser = millis(100..=600_000))]
    pub relay_lease: Duration,

    /// How often each hub reads the log even while Redis rings it, in ms: a safety net for
    /// a ring lost or held up on the way.
    #[arg(long = "hub-poll-ms", env = "HUB_POLL_MS", default_value = "250",
          value_parser = millis(10..=60_000))]
    pub hub_poll: Duration,

    /// How often each hub reads the log while its Redis subscription is down, in ms: the
    /// most an outage delays a notice.
    #[arg(long = "hub-outage-poll-ms", env = "HUB_OUTAGE_POLL_MS", default_value = "100",
          value_parser = millis(10..=60_000))]
    pub hub_outage_poll: Duration,

    /// Notices the hub keeps for slow subscribers before they must replay from the log.
    #[arg(long, env = "HUB_BUFFER", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(16..=1_000_000))]
    pub hub_buffer: u32,
}

/// The order and deadline of a graceful stop.
#[derive(Args, Debug, Clone)]
pub struct ShutdownSettings {
    /// After SIGTERM, everything (requests, WebSockets, workers) gets this long to finish,
    /// in ms; then the process exits regardless.
    #[arg(long = "shutdown-grace-ms", env = "SHUTDOWN_GRACE_MS", default_value = "10000",
          value_parser = millis(0..=600_000))]
    pub grace: Duration,

    /// How long /readyz answers 503 before the listener closes, in ms, so that a load
    /// balancer stops sending first. Part of the grace.
    #[arg(long = "shutdown-readiness-delay-ms", env = "SHUTDOWN_READINESS_DELAY_MS", default_value = "1000",
          value_parser = millis(0..=600_000))]
    pub readiness_delay: Duration,

    /// WebSocket clients are closed (1001) at random moments over this window, in ms, so
    /// that thousands do not reconnect elsewhere in the same instant.
    #[arg(long = "shutdown-ws-spread-ms", env = "SHUTDOWN_WS_SPREAD_MS", default_value = "2000",
          value_parser = millis(0..=600_000))]
    pub ws_spread: Duration,
}

/// Rate limits (per minute, with a burst of the same size). Over a limit: HTTP 429 with
/// `Retry-After` and the code RATE_LIMITED.
#[derive(Args, Debug, Clone)]
pub struct RateLimits {
    /// signIn, signUp and requestPasswordReset from one client address. Generous, because
    /// a whole start area may share one address (a venue's Wi-Fi, a carrier's NAT); the
    /// per-account limit is what stops guessing.
    #[arg(long = "rate-auth-per-address", env = "RATE_AUTH_PER_ADDRESS", default_value_t = 120,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub auth_per_address: u32,

    /// signUp and requestPasswordReset for one email address; failed signIns on one account
    /// from one address, or from one trusted device.
    #[arg(long = "rate-auth-per-account", env = "RATE_AUTH_PER_ACCOUNT", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub auth_per_account: u32,

    /// Failed signIns on one account from browsers that do not show its device token, per
    /// hour, across the fleet. The owner's browsers that signed in before pass on their own
    /// budget (RATE_AUTH_PER_ACCOUNT a minute each).
    #[arg(long = "rate-sign-in-failures-per-account", env = "RATE_SIGN_IN_FAILURES_PER_ACCOUNT", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub sign_in_failures_per_account: u32,

    /// Sign-up and password-reset mails to one address, per hour, across the fleet.
    #[arg(long = "mail-per-recipient-per-hour", env = "MAIL_PER_RECIPIENT_PER_HOUR", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub mail_per_recipient: u32,

    /// WebSocket connections opened from one client address (generous for the same reason).
    #[arg(long = "rate-ws-upgrades-per-address", env = "RATE_WS_UPGRADES_PER_ADDRESS", default_value_t = 600,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub ws_upgrades_per_address: u32,
}

impl RateLimits {
    /// The limits the throttle keeps (in Redis when the fleet has one).
    pub fn quotas(&self) -> race_office::throttle::Quotas {
        use race_office::throttle::Quota;
        race_office::throttle::Quotas {
            per_address: Quota::per_minute(self.auth_per_address),
            per_account: Quota::per_minute(self.auth_per_account),
            sign_in_failures_per_account: Quota::per_hour(self.sign_in_failures_per_account),
            mail_per_recipient: Quota::per_hour(self.mail_per_recipient),
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct WebSocketSettings {
    /// How long a WebSocket may stay open without `connection_init`, in ms.
    #[arg(long = "ws-init-timeout-ms", env = "WS_INIT_TIMEOUT_MS", default_value = "10000",
          value_parser = millis(100..=600_000))]
    pub init_timeout: Duration,

    /// Interval of server pings (graphql-transport-ws) or keep-alives (graphql-ws), in s.
    #[arg(long = "ws-keepalive-secs", env = "WS_KEEPALIVE_SECS", default_value = "30",
          value_parser = seconds(1..=3600))]
    pub keepalive: Duration,

    /// Largest WebSocket message a client may send, in bytes (closed with 1009 beyond).
    #[arg(long = "ws-max-message-bytes", env = "WS_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024,
          value_parser = clap::value_parser!(u32).range(1024..=16 * 1024 * 1024))]
    pub max_message_bytes: u32,

    /// Subscriptions one socket may hold at once.
    #[arg(long = "ws-max-subscriptions", env = "WS_MAX_SUBSCRIPTIONS", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_subscriptions: u32,

    /// WebSockets one client address may hold open at once on this instance (a venue's
    /// Wi-Fi is one address: leave room for it).
    #[arg(long = "ws-max-sockets-per-address", env = "WS_MAX_SOCKETS_PER_ADDRESS", default_value_t = 2_000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_sockets_per_address: u32,

    /// Live operations (subscriptions, and queries in flight) the sockets of one client
    /// address may hold at once on this instance.
    #[arg(long = "ws-max-subscriptions-per-address", env = "WS_MAX_SUBSCRIPTIONS_PER_ADDRESS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub max_subscriptions_per_address: u32,

    /// Operations (subscribe messages) one socket may start per minute.
    #[arg(long = "ws-max-operations-per-minute", env = "WS_MAX_OPERATIONS_PER_MINUTE", default_value_t = 300,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_operations_per_minute: u32,

    /// How long a socket or a stream reservation trusts its credential before checking it
    /// again ahead of a new operation, in ms (a sign-out or revocation closes sockets at
    /// once; this is the fallback).
    #[arg(long = "ws-auth-recheck-ms", env = "WS_AUTH_RECHECK_MS", default_value = "30000",
          value_parser = millis(100..=3_600_000))]
    pub auth_recheck: Duration,

    /// How often every credential held open (sockets, event streams, reservations) is
    /// checked against the database at once, in ms: the fallback for a quiet connection
    /// whose withdrawal message was lost. Apart from WS_AUTH_RECHECK_MS so that each can
    /// be tuned (and tested) on its own.
    #[arg(long = "ws-auth-sweep-ms", env = "WS_AUTH_SWEEP_MS", default_value = "30000",
          value_parser = millis(100..=3_600_000))]
    pub auth_sweep: Duration,

    /// How long a runner's session, once read, is trusted without reading it again, in
    /// ms (0: read on every request and handshake). A sign-out, a password reset or a
    /// change of the account drops it at once on every instance; this bounds a message
    /// Redis lost. Organizers' and partners' credentials are always read afresh.
    #[arg(long = "session-cache-ms", env = "SESSION_CACHE_MS", default_value = "10000",
          value_parser = millis(0..=60_000))]
    pub session_cache: Duration,
}

#[derive(Args, Debug, Clone)]
pub struct PushSettings {
    /// VAPID private key (base64url P-256 scalar, from `gateway vapid generate`). Unset: a
    /// key pair generated on first start and kept in the database.
    #[arg(long, env = "VAPID_PRIVATE_KEY", hide_env_values = true)]
    pub vapid_private_key: Option<SecretString>,

    /// Contact for push services, in every VAPID token: `mailto:` or `https:`.
    #[arg(long, env = "VAPID_SUBJECT", default_value = "mailto:no-reply@almaty-marathon.kz",
          value_parser = vapid_subject)]
    pub vapid_subject: String,

    /// Push service hosts that endpoints may point at (comma-separated; `*.` for
    /// subdomains).
    #[arg(
        long = "push-allowed-hosts",
        env = "PUSH_ALLOWED_HOSTS",
        value_delimiter = ',',
        default_value = "fcm.googleapis.com,*.push.services.mozilla.com,*.notify.windows.com,*.push.apple.com"
    )]
    pub allowed_hosts: Vec<String>,

    /// Origins trusted even over http and on private addresses (comma-separated, e.g.
    /// `http://127.0.0.1` for a local push service). Empty in production.
    #[arg(
        long = "push-trusted-origins",
        env = "PUSH_TRUSTED_ORIGINS",
        value_delimiter = ','
    )]
    pub trusted_origins: Vec<String>,

    /// Whether this instance runs a push worker.
    #[arg(long = "push-enabled", env = "PUSH_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub enabled: bool,

    /// Extra trusted roots for push services: a PEM file of one or more CA certificates,
    /// trusted besides the built-in (webpki) roots, for a push service behind a private CA.
    #[arg(long = "push-extra-roots-pem", env = "PUSH_EXTRA_ROOTS_PEM")]
    pub extra_roots_pem: Option<std::path::PathBuf>,

    /// Push requests in flight at once per instance. Over HTTP/2 these are streams on one
    /// connection per push-service origin (the service's own stream limit queues the
    /// rest); over HTTP/1.1, up to PUSH_CONCURRENCY_PER_ORIGIN connections per origin.
    #[arg(long = "push-concurrency", env = "PUSH_CONCURRENCY", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,

    /// Push requests in flight at once to one push-service origin (at most
    /// PUSH_CONCURRENCY count): a service that answers slowly holds only these, and the
    /// others keep the rest.
    #[arg(id = "push-concurrency-per-origin", long = "push-concurrency-per-origin",
          env = "PUSH_CONCURRENCY_PER_ORIGIN", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency_per_origin: u32,

    /// Deliveries a worker claims per query.
    #[arg(long = "push-batch", env = "PUSH_BATCH", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub batch: u64,

    /// How long a claim lasts unless its worker renews it (it does, every third of this),
    /// in ms: after a worker dies, its unsent claims wait this long before another instance
    /// sends them.
    #[arg(long = "push-lease-ms", env = "PUSH_LEASE_MS", default_value = "2000",
          value_parser = millis(1_000..=3_600_000))]
    pub lease: Duration,

    /// How often an idle push worker looks for due deliveries, in ms.
    #[arg(long = "push-poll-ms", env = "PUSH_POLL_MS", default_value = "500",
          value_parser = millis(10..=600_000))]
    pub poll: Duration,

    /// Attempts before a delivery is given up.
    #[arg(long = "push-max-attempts", env = "PUSH_MAX_ATTEMPTS", default_value_t = 6,
          value_parser = clap::value_parser!(i32).range(1..=100))]
    pub max_attempts: i32,

    /// Delay before the first retry, in ms; doubled for each further one.
    #[arg(long = "push-retry-base-ms", env = "PUSH_RETRY_BASE_MS", default_value = "1000",
          value_parser = millis(1..=3_600_000))]
    pub retry_base: Duration,

    /// Timeout of one push request, in ms.
    #[arg(long = "push-timeout-ms", env = "PUSH_TIMEOUT_MS", default_value = "10000",
          value_parser = millis(100..=120_000))]
    pub timeout: Duration,

    /// Most push subscriptions (browsers) one account may hold; one more is CONFLICT.
    #[arg(long = "push-max-subscriptions-per-account", env = "PUSH_MAX_SUBSCRIPTIONS_PER_ACCOUNT",
          default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_subscriptions_per_account: u32,
}

/// How pushes and mails give way to the live channel.
#[derive(Args, Debug, Clone)]
pub struct DeliverySettings {
    /// Threads that prepare and send pushes and mails (encryption is the costly part), on
    /// a runtime of their own: however much is queued, deliveries never hold more cores
    /// than this, and each batch waits for the newest change's fan-out first.
    #[arg(id = "delivery-threads", long = "delivery-threads", env = "DELIVERY_THREADS",
          default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub threads: u32,

    /// How long a change's pushes and mails wait, at most, for this instance's fan-out of
    /// it to be executed for every subscriber group, in ms (0: no wait).
    #[arg(id = "delivery-yield-ms", long = "delivery-yield-ms", env = "DELIVERY_YIELD_MS",
          default_value = "1000", value_parser = millis(0..=10_000))]
    pub yield_to_live: Duration,

    /// The delivery threads' nice value (0 to 19): above 0 the kernel serves every other
    /// thread of the machine first whenever both want a core, requests included (at 10,
    /// 18,000 pages acknowledging an alert at once held its pushes back past 5 s).
    #[arg(id = "delivery-nice", long = "delivery-nice", env = "DELIVERY_NICE",
          default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=19))]
    pub nice: u8,
}

#[derive(Args, Debug, Clone)]
pub struct MailSettings {
    /// SMTP server for mail, e.g. `smtps://user:pass@mail.example.kz`. Unset: mail goes to
    /// MAIL_DIR if set, otherwise to the log.
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<SecretString>,

    /// Sender address of mail.
    #[arg(
        long,
        env = "MAIL_FROM",
        default_value = "Almaty Marathon <no-reply@almaty-marathon.kz>"
    )]
    pub mail_from: String,

    /// Folder where each mail is written as a file (development and tests).
    #[arg(long, env = "MAIL_DIR")]
    pub mail_dir: Option<std::path::PathBuf>,

    /// How long a runner has to acknowledge an alert (on the page or a push) before it is
    /// mailed to them under `EmailPolicy.UNREACHED`, in seconds.
    #[arg(id = "alert-email-after-secs", long = "alert-email-after-secs", env = "ALERT_EMAIL_AFTER_SECS", default_value = "600",
          value_parser = seconds(0..=86_400))]
    pub escalate_after: Duration,

    /// Whether this instance runs an alert mail worker.
    #[arg(id = "mail-enabled", long = "mail-enabled", env = "MAIL_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub enabled: bool,

    /// Mails in flight at once per instance, and pooled SMTP connections. 32 rather than 16:
    /// lettre writes a message and its closing `.` in two writes on a socket without
    /// TCP_NODELAY, so every mail waits for the server's delayed ACK (44 ms a mail on one
    /// connection, against 1 ms with TCP_NODELAY); two instances of 16 took 30.5 s for
    /// 18,000 mails on the benchmark box, of 32 18.1 s (docs/BENCHMARKS.md, "Mail"). Under
    /// Postfix's default of 50 connections per client.
    #[arg(id = "mail-concurrency", long = "mail-concurrency", env = "MAIL_CONCURRENCY", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub concurrency: u32,

    /// Mails a worker claims per query.
    #[arg(id = "mail-batch", long = "mail-batch", env = "MAIL_BATCH", default_value_t = 200,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub batch: u64,

    /// How long a claim on a mail lasts unless renewed (every third of this), in ms.
    #[arg(id = "mail-lease-ms", long = "mail-lease-ms", env = "MAIL_LEASE_MS", default_value = "10000",
          value_parser = millis(1_000..=3_600_000))]
    pub lease: Duration,

    /// How often an idle mail worker looks for due mails (the escalation window's end,
    /// retries, other instances' work), in ms.
    #[arg(id = "mail-poll-ms", long = "mail-poll-ms", env = "MAIL_POLL_MS", default_value = "1000",
          value_parser = millis(10..=600_000))]
    pub poll: Duration,

    /// Attempts before a mail that keeps being refused for now is given up.
    #[arg(id = "mail-max-attempts", long = "mail-max-attempts", env = "MAIL_MAX_ATTEMPTS", default_value_t = 10,
          value_parser = clap::value_parser!(i32).range(1..=100))]
    pub max_attempts: i32,

    /// Delay before the first retry of a mail, in ms; doubled for each further one.
    #[arg(id = "mail-retry-base-ms", long = "mail-retry-base-ms", env = "MAIL_RETRY_BASE_MS", default_value = "5000",
          value_parser = millis(1..=3_600_000))]
    pub retry_base: Duration,
}

/// Which GraphQL documents clients may send: free text, registered documents, or both.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrustedDocuments {
    /// Text only: a persisted query or a `documentId` is refused
    /// (PERSISTED_QUERY_NOT_SUPPORTED).
    Off,
    /// Text, automatic persisted queries and `documentId`, from anyone.
    Allow,
    /// As `allow` for organizers and partners; anyone else (anonymous, a runner) may send
    /// only the runner page's own documents.
    Only,
}

/// Registered documents: the runner page's manifest and the automatic persisted queries
/// this instance has learnt (see `crate::documents`).
#[derive(Args, Debug, Clone)]
pub struct DocumentSettings {
    /// `off`, `allow` or `only` (see docs/API.md#registered-documents).
    #[arg(long, env = "TRUSTED_DOCUMENTS", value_enum, default_value = "allow")]
    pub trusted_documents: TrustedDocuments,

    /// Most texts the automatic persisted queries' store keeps (this instance's; the least
    /// recently used goes first).
    #[arg(long = "apq-max-documents", env = "APQ_MAX_DOCUMENTS", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub apq_max_documents: u32,

    /// Most bytes of text that store keeps.
    #[arg(long = "apq-max-bytes", env = "APQ_MAX_BYTES", default_value_t = 8 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..=1024 * 1024 * 1024))]
    pub apq_max_bytes: u64,
}

/// Bounds on what one GraphQL document may ask for; the defaults are the schema's own
/// (`schema::Limits::default()`), sized so that GraphiQL's introspection passes.
#[derive(Args, Debug, Clone)]
pub struct QueryLimits {
    /// Deepest selection nesting a query may have.
    #[arg(long = "query-depth-limit", env = "QUERY_DEPTH_LIMIT",
          default_value_t = schema::Limits::default().depth as u32,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub depth: u32,

    /// The budget of a query or mutation: its price, a field counting 1, a page `first`
    /// times an item, a list its declared bound times an item.
    #[arg(long = "query-complexity-limit", env = "QUERY_COMPLEXITY_LIMIT",
          default_value_t = schema::Limits::default().complexity as u32,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub complexity: u32,

    /// The budget of a subscription, priced the same way (it runs again for every alert).
    #[arg(long = "subscription-complexity-limit", env = "SUBSCRIPTION_COMPLEXITY_LIMIT",
          default_value_t = schema::Limits::default().subscription_complexity as u32,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub subscription_complexity: u32,

    /// Deepest nesting of brackets, braces and parentheses in a document's text (checked
    /// before parsing: the parser recurses on it).
    #[arg(long = "query-nesting-limit", env = "QUERY_NESTING_LIMIT",
          default_value_t = schema::Limits::default().nesting as u32,
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub nesting: u32,

    /// Most tokens a document may have.
    #[arg(long = "query-token-limit", env = "QUERY_TOKEN_LIMIT",
          default_value_t = schema::Limits::default().tokens as u32,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub tokens: u32,

    /// Most aliases a document may have.
    #[arg(long = "query-alias-limit", env = "QUERY_ALIAS_LIMIT",
          default_value_t = schema::Limits::default().aliases as u32,
          value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub aliases: u32,

    /// Most directives a document may have.
    #[arg(long = "query-directive-limit", env = "QUERY_DIRECTIVE_LIMIT",
          default_value_t = schema::Limits::default().directives as u32,
          value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub directives: u32,

    /// Most fragment spreads a document may have.
    #[arg(long = "query-fragment-spread-limit", env = "QUERY_FRAGMENT_SPREAD_LIMIT",
          default_value_t = schema::Limits::default().fragment_spreads as u32,
          value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub fragment_spreads: u32,

    /// Most selections (fields, fragment spreads, inline fragments) a document's operations
    /// may make once fragments are expanded. Their fields, `__typename` included, are held
    /// to QUERY_COMPLEXITY_LIMIT too.
    #[arg(long = "query-expanded-selection-limit", env = "QUERY_EXPANDED_SELECTION_LIMIT",
          default_value_t = schema::Limits::default().expanded_selections as u32,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub expanded_selections: u32,

    /// Largest answer sent, in bytes of JSON, on every transport: a query's, a mutation's,
    /// and each alert of a subscription. A larger one is replaced by a RESPONSE_TOO_LARGE
    /// error (and ends the subscription).
    #[arg(long = "response-max-bytes", env = "RESPONSE_MAX_BYTES", default_value_t = 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(256..=64 * 1024 * 1024))]
    pub response_max_bytes: u64,

    /// Processor time one shared subscription execution (one alert for one group) may
    /// spend in the gateway, waits for the database aside; beyond it the subscription ends
    /// with EXECUTION_TOO_EXPENSIVE for its members, and the instance goes on.
    #[arg(long = "subscription-execution-budget-ms", env = "SUBSCRIPTION_EXECUTION_BUDGET_MS",
          default_value = "250", value_parser = millis(0..=60_000))]
    pub subscription_execution_budget: Duration,

    /// Password hashes (argon2id, 19 MiB each) computed at once; more wait their turn.
    /// Default: twice the available cores.
    #[arg(long = "password-hash-concurrency", env = "PASSWORD_HASH_CONCURRENCY",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub password_hash_concurrency: Option<u32>,

    /// A subscription's `after` cursor may lie at most this many notifications behind the
    /// newest; older ones answer CURSOR_TOO_OLD (read the current state, then subscribe).
    #[arg(long = "replay-max-notifications", env = "REPLAY_MAX_NOTIFICATIONS", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub replay_max_notifications: u32,
}

impl QueryLimits {
    /// Password hashes computed at once: as set, or twice the available cores.
    pub fn password_hash_concurrency(&self) -> usize {
        self.password_hash_concurrency
            .map_or_else(race_office::services::default_hashing_limit, |n| n as usize)
    }

    pub fn schema_limits(&self) -> schema::Limits {
        schema::Limits {
            depth: self.depth as usize,
            complexity: self.complexity as usize,
            subscription_complexity: self.subscription_complexity as usize,
            nesting: self.nesting as usize,
            tokens: self.tokens as usize,
            aliases: self.aliases as usize,
            directives: self.directives as usize,
            fragment_spreads: self.fragment_spreads as usize,
            expanded_selections: self.expanded_selections as usize,
        }
    }
}

impl HttpSettings {
    pub fn graphiql_on(&self, embedded: bool) -> bool {
        self.graphiql.unwrap_or(embedded)
    }

    pub fn introspection_on(&self, embedded: bool) -> bool {
        self.introspection.unwrap_or(embedded)
    }
}

impl Settings {
    /// The defaults, as the binary would have them with no environment and no flags: the
    /// tests start from these, so every default lives in the attributes above only.
    pub fn defaults() -> anyhow::Result<Self> {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            settings: Settings,
        }
        let command = Only::command().mut_args(|arg| arg.env(None::<&str>));
        let matches = command.try_get_matches_from(["gateway"])?;
        Ok(Only::from_arg_matches(&matches)?.settings)
    }
}

/// Why a setting's value was refused. clap shows the message beside the setting's name,
/// so each message says all there is, the parser's own words included.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("{text:?} is not a whole number of {unit}")]
    NotANumber { text: String, unit: &'static str },
    #[error("{n} {unit} is outside {start}..={end} {unit}")]
    OutOfRange {
        n: u64,
        unit: &'static str,
        start: u64,
        end: u64,
    },
    #[error("{text:?} is not an address: {reason}")]
    NotAnAddress {
        text: String,
        reason: std::net::AddrParseError,
    },
    #[error("{text:?} is not an address or CIDR range: {reason}")]
    NotARange {
        text: String,
        reason: std::net::AddrParseError,
    },
    #[error("{text:?}: the prefix length must be 0..={max}")]
    PrefixLength { text: String, max: u8 },
    #[error("VAPID_SUBJECT must be a mailto: or https: URL")]
    VapidSubject,
}

/// A whole number of milliseconds within `range`, as a `Duration`.
fn millis(range: RangeInclusive<u64>) -> impl Fn(&str) -> Result<Duration, SettingError> + Clone {
    move |text| within(text, &range, "ms").map(Duration::from_millis)
}

/// A whole number of seconds within `range`, as a `Duration`.
fn seconds(range: RangeInclusive<u64>) -> impl Fn(&str) -> Result<Duration, SettingError> + Clone {
    move |text| within(text, &range, "s").map(Duration::from_secs)
}

fn within(
    text: &str,
    range: &RangeInclusive<u64>,
    unit: &'static str,
) -> Result<u64, SettingError> {
    let n: u64 = text.trim().parse().map_err(|_| SettingError::NotANumber {
        text: text.to_owned(),
        unit,
    })?;
    if !range.contains(&n) {
        return Err(SettingError::OutOfRange {
            n,
            unit,
            start: *range.start(),
            end: *range.end(),
        });
    }
    Ok(n)
}

/// An address, or `off` for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalAddress(pub Option<SocketAddr>);

impl OptionalAddress {
    fn parse(text: &str) -> Result<Self, SettingError> {
        if text.trim().eq_ignore_ascii_case("off") || text.trim().is_empty() {
            return Ok(Self(None));
        }
        text.trim()
            .parse()
            .map(|address| Self(Some(address)))
            .map_err(|reason| SettingError::NotAnAddress {
                text: text.to_owned(),
                reason,
            })
    }
}

/// An IP address or a CIDR range (`10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    pub fn parse(text: &str) -> Result<Self, SettingError> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address.parse().map_err(|reason| SettingError::NotARange {
            text: text.to_owned(),
            reason,
        })?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| SettingError::PrefixLength {
                    text: text.to_owned(),
                    max,
                })?,
            None => max,
        };
        Ok(Self { network, prefix })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        fn bits(address: IpAddr) -> (u128, u8) {
            match address {
                IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
                IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                    Some(v4) => (u128::from(u32::from(v4)), 32),
                    None => (u128::from(v6), 128),
                },
            }
        }
        let (network, width) = bits(self.network);
        let (candidate, candidate_width) = bits(address);
        if width != candidate_width {
            return false;
        }
        let shift = u32::from(width - self.prefix.min(width));
        let mask = if shift >= 128 { 0 } else { u128::MAX << shift };
        (network & mask) == (candidate & mask)
    }
}

fn vapid_subject(text: &str) -> Result<String, SettingError> {
    if text.starts_with("mailto:") || text.starts_with("https:") {
        Ok(text.to_owned())
    } else {
        Err(SettingError::VapidSubject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_parse_without_any_environment() {
        let settings = Settings::defaults().unwrap();
        assert_eq!(settings.http.bind.to_string(), "127.0.0.1:8080");
        assert!(settings.database.is_embedded());
        assert_eq!(settings.bus.relay_poll, Duration::from_millis(200));
        assert_eq!(settings.websocket.keepalive, Duration::from_secs(30));
        assert_eq!(settings.push.allowed_hosts.len(), 4);
    }

    #[test]
    fn a_trusted_proxy_range_matches_its_addresses_only() {
        let range = IpRange::parse("10.1.0.0/16").unwrap();
        assert!(range.contains("10.1.200.3".parse().unwrap()));
        assert!(range.contains("::ffff:10.1.0.1".parse().unwrap()));
        assert!(!range.contains("10.2.0.1".parse().unwrap()));
        assert!(!range.contains("fd00::1".parse().unwrap()));
        let single = IpRange::parse("192.0.2.7").unwrap();
        assert!(single.contains("192.0.2.7".parse().unwrap()));
        assert!(!single.contains("192.0.2.8".parse().unwrap()));
        assert!(
            IpRange::parse("fd00::/8")
                .unwrap()
                .contains("fd12::1".parse().unwrap())
        );
        assert!(
            IpRange::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(IpRange::parse("10.0.0.0/33").is_err());
        assert!(IpRange::parse("proxy").is_err());
    }

    #[test]
    fn links_follow_the_address_bound_unless_public_url_is_set() {
        let mut http = Settings::defaults().unwrap().http;
        let at = |text: &str| text.parse::<SocketAddr>().unwrap();
        assert_eq!(
            http.public_url_for(at("127.0.0.1:3000")),
            "http://127.0.0.1:3000"
        );
        assert_eq!(
            http.public_url_for(at("0.0.0.0:41234")),
            "http://127.0.0.1:41234"
        );
        assert_eq!(http.public_url_for(at("[::]:3000")), "http://[::1]:3000");
        assert_eq!(http.public_url_mismatch(at("127.0.0.1:3000"), true), None);

        http.public_url = Some("http://127.0.0.1:8080".into());
        assert_eq!(
            http.public_url_for(at("127.0.0.1:3000")),
            "http://127.0.0.1:8080"
        );
        let warning = http
            .public_url_mismatch(at("127.0.0.1:3000"), false)
            .unwrap();
        assert!(
            warning.contains("port 8080") && warning.contains("port 3000"),
            "{warning}"
        );
        assert_eq!(http.public_url_mismatch(at("127.0.0.1:8080"), false), None);
        http.public_url = Some("http://localhost/".into());
        assert!(
            http.public_url_mismatch(at("127.0.0.1:3000"), false)
                .is_some()
        );
        // Behind a proxy on another host, its port is its own business...
        http.public_url = Some("https://runners.almaty-marathon.kz".into());
        assert_eq!(http.public_url_mismatch(at("10.0.0.5:8080"), false), None);
        // ...except on the embedded default, where this process is the page.
        assert!(
            http.public_url_mismatch(at("10.0.0.5:8080"), true)
                .is_some()
        );
    }

    #[test]
    fn a_duration_outside_its_range_is_refused_when_parsed() {
        assert_eq!(
            millis(10..=100)("5").unwrap_err().to_string(),
            "5 ms is outside 10..=100 ms"
        );
        assert_eq!(
            millis(10..=100)("ten").unwrap_err().to_string(),
            "\"ten\" is not a whole number of ms"
        );
        assert_eq!(millis(10..=100)("50"), Ok(Duration::from_millis(50)));
    }
}
