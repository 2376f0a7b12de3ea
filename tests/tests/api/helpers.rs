//! `spawn_app`: the real gateway on port 0 with a fresh database per test, on PostgreSQL
//! or SQLite, and a GraphQL client for it. Logs only when `TEST_LOG` is set.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use server::{Application, Settings};

/// The PostgreSQL server every test database is created on.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Runs one test body on both databases, as two tests named after the scenario.
#[macro_export]
macro_rules! on_both_databases {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                super::$scenario($crate::helpers::Backend::Postgres).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                super::$scenario($crate::helpers::Backend::Sqlite).await
            }
        }
    };
}

pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

/// A database created for one test and dropped after it.
pub struct TestDatabase {
    pub url: String,
    backend: Backend,
    name: String,
    sqlite_path: Option<PathBuf>,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => {
                let name = unique_name("gw_test");
                let admin = Database::connect(format!("{}/postgres", postgres_admin_url()))
                    .await
                    .expect("PostgreSQL is reachable (see README: Prerequisites)");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                Self {
                    url: format!("{}/{name}", postgres_admin_url()),
                    backend,
                    name,
                    sqlite_path: None,
                }
            }
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{}.db", unique_name("gw_test")));
                Self {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    backend,
                    name: String::new(),
                    sqlite_path: Some(path),
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match self.backend {
            Backend::Sqlite => {
                if let Some(path) = &self.sqlite_path {
                    for suffix in ["", "-wal", "-shm"] {
                        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                    }
                }
            }
            Backend::Postgres => {
                // The test's runtime may be gone by now: drop the database from a thread
                // with a runtime of its own.
                let name = self.name.clone();
                let _ = std::thread::spawn(move || {
                    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    runtime.block_on(async move {
                        if let Ok(admin) =
                            Database::connect(format!("{}/postgres", postgres_admin_url())).await
                        {
                            let _ = admin
                                .execute_unprepared(&format!(
                                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                                ))
                                .await;
                            let _ = admin.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// Direct access, to check what was (or was not) written.
    pub db: DatabaseConnection,
    pub mail_dir: PathBuf,
    pub database: TestDatabase,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        let _ = std::fs::remove_dir_all(&self.mail_dir);
    }
}

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        server::telemetry::init();
    }
}

/// Settings for a test: port 0, the given database, mail into a fresh folder.
pub fn test_settings(database_url: &str, mail_dir: &std::path::Path) -> Settings {
    Settings {
        bind: "127.0.0.1:0".parse().expect("literal address"),
        database_url: Some(database_url.to_owned().into()),
        database_max_connections: 8,
        redis_url: None,
        seed_demo: Some(false),
        public_url: "http://spa.test".into(),
        smtp_url: None,
        mail_from: "Almaty Marathon <no-reply@almaty-marathon.kz>".into(),
        mail_dir: Some(mail_dir.to_owned()),
        max_body_bytes: 64 * 1024,
        query_depth_limit: 10,
        query_complexity_limit: 500,
        query_nesting_limit: schema::Limits::default().nesting,
        query_token_limit: schema::Limits::default().tokens,
        query_alias_limit: schema::Limits::default().aliases,
        query_directive_limit: schema::Limits::default().directives,
        query_fragment_spread_limit: schema::Limits::default().fragment_spreads,
        query_expanded_selection_limit: schema::Limits::default().expanded_selections,
        redis_channel_prefix: unique_name("gwtest"),
        relay_enabled: true,
        relay_poll_ms: 100,
        relay_lease_ms: 2000,
        hub_buffer: 1024,
        ws_init_timeout_ms: 10_000,
        ws_keepalive_secs: 30,
        instance_id: None,
        vapid_private_key: None,
        vapid_subject: "mailto:ops@almaty-marathon.kz".into(),
        push_allowed_hosts: schema::domain::DEFAULT_PUSH_HOSTS
            .iter()
            .map(|h| (*h).to_owned())
            .collect(),
        push_trusted_origins: Vec::new(),
        push_enabled: true,
        push_concurrency: 16,
        push_batch: 64,
        push_lease_ms: 30_000,
        push_poll_ms: 200,
        push_max_attempts: 6,
        push_retry_base_ms: 1_000,
        push_timeout_ms: 5_000,
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts the gateway after `adjust` has had its say on the settings.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    init_logs();
    let database = TestDatabase::create(backend).await;
    let mail_dir = std::env::temp_dir().join(unique_name("gw_mail"));
    let mut settings = test_settings(&database.url, &mail_dir);
    adjust(&mut settings);
    let app = Application::build(settings)
        .await
        .expect("the gateway starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let db = Database::connect(database.url.clone())
        .await
        .expect("test connects to its database");
    TestApp {
        address,
        client: reqwest::Client::new(),
        db,
        mail_dir,
        database,
        shutdown: Some(stop),
    }
}

impl TestApp {
    pub fn ws_url(&self) -> String {
        format!("{}/graphql/ws", self.address.replace("http://", "ws://"))
    }

    pub fn graphql_url(&self) -> String {
        format!("{}/graphql", self.address)
    }

    /// POSTs a GraphQL request and returns the JSON body (whatever the status).
    pub async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(self.graphql_url())
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request reaches the gateway");
        response.json().await.expect("the gateway answers JSON")
    }

    /// Like [`graphql`], but the answer must have no errors; returns `data`.
    pub async fn ok(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let body = self.graphql(token, query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// Signs up a runner and returns its token.
    pub async fn sign_up_runner(&self, email: &str) -> String {
        let data = self
            .ok(
                None,
                "mutation($input: SignUpInput!) { signUp(input: $input) { token } }",
                json!({ "input": { "email": email, "password": "a long runner password", "displayName": "Runner" } }),
            )
            .await;
        data["signUp"]["token"].as_str().expect("token").to_owned()
    }

    /// Creates an organizer of `organization_slug` (which must exist) and signs it in.
    pub async fn organizer_token(&self, email: &str, organization_slug: &str) -> String {
        use schema::domain::{DisplayName, Email, Password};
        use schema::services::{accounts, organizations};
        let organization = organizations::find_by_slug(&self.db, organization_slug)
            .await
            .ok()
            .flatten()
            .expect("organization exists");
        accounts::create_account(
            &self.db,
            chrono::Utc::now(),
            accounts::NewAccount {
                email: Email::parse(email).expect("valid email"),
                password: Password::parse("an organizer password").expect("valid password"),
                display_name: DisplayName::parse("Organizer").expect("valid name"),
                role: entities::account::Role::Organizer,
                organization_id: Some(organization.id),
            },
        )
        .await
        .expect("organizer created");
        self.sign_in(email, "an organizer password").await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> String {
        let data = self
            .ok(
                None,
                "mutation($input: SignInInput!) { signIn(input: $input) { token } }",
                json!({ "input": { "email": email, "password": password } }),
            )
            .await;
        data["signIn"]["token"].as_str().expect("token").to_owned()
    }

    /// `n` runner accounts with sessions, inserted directly (hashing `n` passwords would
    /// only slow the test down); returns their bearer tokens.
    pub async fn runner_tokens(&self, n: usize) -> Vec<String> {
        use sea_orm::{EntityTrait, Set};
        static BATCH: AtomicU64 = AtomicU64::new(0);
        let batch = BATCH.fetch_add(1, Ordering::Relaxed);
        let now = chrono::Utc::now();
        let accounts = (0..n).map(|i| entities::account::ActiveModel {
            email: Set(format!("runner{batch}-{i}@crowd.test")),
            password_hash: Set("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$ZmFrZWZha2VmYWtlZmFrZWZha2VmYWtlZmFrZQ".into()),
            display_name: Set(format!("Runner {i}")),
            role: Set(entities::account::Role::Runner),
            organization_id: Set(None),
            created_at: Set(now),
            ..Default::default()
        });
        let ids = entities::account::Entity::insert_many(accounts)
            .exec_with_returning_keys(&self.db)
            .await
            .unwrap();
        let tokens: Vec<String> = (0..n)
            .map(|i| format!("rdg_crowd-{batch}-{i}-{}", unique_name("t")))
            .collect();
        let sessions = ids
            .iter()
            .zip(&tokens)
            .map(|(id, token)| entities::session::ActiveModel {
                account_id: Set(*id),
                token_hash: Set(schema::services::hash_token(token)),
                created_at: Set(now),
                expires_at: Set(now + chrono::Duration::days(1)),
                ..Default::default()
            });
        entities::session::Entity::insert_many(sessions)
            .exec(&self.db)
            .await
            .unwrap();
        tokens
    }

    /// The id of an event, by slug.
    pub async fn event_id(&self, slug: &str) -> String {
        let data = self
            .ok(
                None,
                "query($slug: String!) { eventBySlug(slug: $slug) { id } }",
                json!({ "slug": slug }),
            )
            .await;
        data["eventBySlug"]["id"]
            .as_str()
            .expect("event exists")
            .to_owned()
    }

    /// The ids of an event's distances, longest first.
    pub async fn distance_ids(&self, slug: &str) -> Vec<String> {
        let data = self
            .ok(
                None,
                "query($slug: String!) { eventBySlug(slug: $slug) { distances { id } } }",
                json!({ "slug": slug }),
            )
            .await;
        data["eventBySlug"]["distances"]
            .as_array()
            .expect("distances")
            .iter()
            .map(|d| d["id"].as_str().expect("id").to_owned())
            .collect()
    }

    /// Seeds the 2020 demo data.
    pub async fn seed_demo(&self) {
        let db = sea_orm::Database::connect(self.database.url.clone())
            .await
            .expect("connect");
        schema::services::demo::seed_demo(&db)
            .await
            .expect("demo data seeds");
    }

    /// `SELECT count(*)` of a table.
    pub async fn count(&self, table: &str) -> i64 {
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .expect("count query")
            .expect("one row");
        row.try_get::<i64>("", "n").expect("count")
    }
}

/// The `extensions.code` of the first error.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<no code>")
}

/// The path of the `gateway` binary that `cargo test` built beside this test binary.
pub fn gateway_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    dir.join(format!("gateway{}", std::env::consts::EXE_SUFFIX))
}
