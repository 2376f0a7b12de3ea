//! Every setting, typed, with its environment variable and default. The README's
//! configuration table lists the same; secrets are wrapped so they never print.

use std::net::SocketAddr;

use clap::Args;
use secrecy::SecretString;

/// Where the embedded default keeps its SQLite file.
pub const EMBEDDED_DATABASE_URL: &str = "sqlite://./data/gateway.db?mode=rwc";

#[derive(Args, Debug, Clone)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// PostgreSQL (`postgres://…`) or SQLite (`sqlite://…`) URL. Unset: the embedded
    /// SQLite file under ./data/.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,

    /// Connections in the database pool.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,

    /// Redis URL; checked by /readyz when set.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<SecretString>,

    /// Seed the 2020 demo data when the database has no organizations yet. Default: on for
    /// the embedded SQLite, off when DATABASE_URL is set.
    #[arg(long, env = "SEED_DEMO")]
    pub seed_demo: Option<bool>,

    /// Base URL of the SPA, for links in mail.
    #[arg(long, env = "PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    pub public_url: String,

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

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 256 * 1024)]
    pub max_body_bytes: usize,

    /// Deepest selection nesting a query may have.
    #[arg(long, env = "QUERY_DEPTH_LIMIT", default_value_t = 10)]
    pub query_depth_limit: usize,

    /// Highest complexity (fields counted) a query may have.
    #[arg(long, env = "QUERY_COMPLEXITY_LIMIT", default_value_t = 500)]
    pub query_complexity_limit: usize,

    /// Deepest nesting of brackets, braces and parentheses in a document's text (checked
    /// before parsing: the parser recurses on it).
    #[arg(long, env = "QUERY_NESTING_LIMIT", default_value_t = schema::Limits::default().nesting)]
    pub query_nesting_limit: usize,

    /// Most tokens a document may have.
    #[arg(long, env = "QUERY_TOKEN_LIMIT", default_value_t = schema::Limits::default().tokens)]
    pub query_token_limit: usize,

    /// Most aliases a document may have.
    #[arg(long, env = "QUERY_ALIAS_LIMIT", default_value_t = schema::Limits::default().aliases)]
    pub query_alias_limit: usize,

    /// Most directives a document may have.
    #[arg(long, env = "QUERY_DIRECTIVE_LIMIT", default_value_t = schema::Limits::default().directives)]
    pub query_directive_limit: usize,

    /// Most fragment spreads a document may have.
    #[arg(long, env = "QUERY_FRAGMENT_SPREAD_LIMIT", default_value_t = schema::Limits::default().fragment_spreads)]
    pub query_fragment_spread_limit: usize,

    /// Most selections (fields, fragment spreads, inline fragments) a document's operations
    /// may make once fragments are expanded. Their fields, `__typename` included, are held
    /// to QUERY_COMPLEXITY_LIMIT too.
    #[arg(long, env = "QUERY_EXPANDED_SELECTION_LIMIT", default_value_t = schema::Limits::default().expanded_selections)]
    pub query_expanded_selection_limit: usize,

    /// Prefix of the Redis channel names, so deployments (and tests) sharing one Redis do
    /// not hear each other.
    #[arg(long, env = "REDIS_CHANNEL_PREFIX", default_value = "gateway")]
    pub redis_channel_prefix: String,

    /// Whether this instance may relay the outbox (one instance holds the lease at a time).
    #[arg(long, env = "RELAY_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub relay_enabled: bool,

    /// How often the relay looks for unpublished notifications when nothing woke it, in ms.
    #[arg(long, env = "RELAY_POLL_MS", default_value_t = 200)]
    pub relay_poll_ms: u64,

    /// How long the relay lease lasts unless renewed, in ms: the failover time.
    #[arg(long, env = "RELAY_LEASE_MS", default_value_t = 3000)]
    pub relay_lease_ms: u64,

    /// Notices the hub keeps for slow subscribers before they must replay from the log.
    #[arg(long, env = "HUB_BUFFER", default_value_t = 1024)]
    pub hub_buffer: usize,

    /// How long a WebSocket may stay open without `connection_init`, in ms.
    #[arg(long, env = "WS_INIT_TIMEOUT_MS", default_value_t = 10_000)]
    pub ws_init_timeout_ms: u64,

    /// Interval of server pings (graphql-transport-ws) or keep-alives (graphql-ws), in s.
    #[arg(long, env = "WS_KEEPALIVE_SECS", default_value_t = 30)]
    pub ws_keepalive_secs: u64,

    /// This instance's name in the relay lease and logs. Default: pid and start time.
    #[arg(long, env = "INSTANCE_ID")]
    pub instance_id: Option<String>,

    /// VAPID private key (base64url P-256 scalar, from `gateway vapid generate`). Unset: a
    /// key pair generated on first start and kept in the database.
    #[arg(long, env = "VAPID_PRIVATE_KEY", hide_env_values = true)]
    pub vapid_private_key: Option<SecretString>,

    /// Contact for push services, in every VAPID token: `mailto:` or `https:`.
    #[arg(
        long,
        env = "VAPID_SUBJECT",
        default_value = "mailto:no-reply@almaty-marathon.kz"
    )]
    pub vapid_subject: String,

    /// Push service hosts that endpoints may point at (comma-separated; `*.` for
    /// subdomains).
    #[arg(
        long,
        env = "PUSH_ALLOWED_HOSTS",
        value_delimiter = ',',
        default_value = "fcm.googleapis.com,*.push.services.mozilla.com,*.notify.windows.com,*.push.apple.com"
    )]
    pub push_allowed_hosts: Vec<String>,

    /// Origins trusted even over http and on private addresses (comma-separated, e.g.
    /// `http://127.0.0.1` for a local push service). Empty in production.
    #[arg(long, env = "PUSH_TRUSTED_ORIGINS", value_delimiter = ',')]
    pub push_trusted_origins: Vec<String>,

    /// Whether this instance runs a push worker.
    #[arg(long, env = "PUSH_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub push_enabled: bool,

    /// Push requests in flight at once per instance.
    #[arg(long, env = "PUSH_CONCURRENCY", default_value_t = 64)]
    pub push_concurrency: usize,

    /// Deliveries a worker claims per query.
    #[arg(long, env = "PUSH_BATCH", default_value_t = 256)]
    pub push_batch: u64,

    /// How long a claim lasts, in ms: after a worker dies, its unsent claims wait this
    /// long before another instance sends them.
    #[arg(long, env = "PUSH_LEASE_MS", default_value_t = 30_000)]
    pub push_lease_ms: u64,

    /// How often an idle push worker looks for due deliveries, in ms.
    #[arg(long, env = "PUSH_POLL_MS", default_value_t = 1_000)]
    pub push_poll_ms: u64,

    /// Attempts before a delivery is given up.
    #[arg(long, env = "PUSH_MAX_ATTEMPTS", default_value_t = 6)]
    pub push_max_attempts: i32,

    /// Delay before the first retry, in ms; doubled for each further one.
    #[arg(long, env = "PUSH_RETRY_BASE_MS", default_value_t = 1_000)]
    pub push_retry_base_ms: u64,

    /// Timeout of one push request, in ms.
    #[arg(long, env = "PUSH_TIMEOUT_MS", default_value_t = 10_000)]
    pub push_timeout_ms: u64,
}

impl Settings {
    /// The database URL in force.
    pub fn database_url(&self) -> String {
        use secrecy::ExposeSecret;
        self.database_url
            .as_ref()
            .map(|url| url.expose_secret().to_owned())
            .unwrap_or_else(|| EMBEDDED_DATABASE_URL.to_owned())
    }

    pub fn is_embedded(&self) -> bool {
        self.database_url.is_none()
    }

    pub fn seed_demo_on_empty(&self) -> bool {
        self.seed_demo.unwrap_or(self.is_embedded())
    }
}
