//! `spawn_app`: the real gateway on port 0 with a fresh database per test, on PostgreSQL
//! or SQLite, and a GraphQL client for it. Logs only when `TEST_LOG` is set.

use std::path::PathBuf;
use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use server::{Application, Pipeline, Settings};

pub use gateway_tests::{
    Backend, TestDatabase, gateway_binary, marathon, marathon_date, marathon_name,
    marathon_starts_at, marathon_year, unique_name,
};

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

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// Direct access, to check what was (or was not) written.
    pub db: DatabaseConnection,
    pub mail_dir: PathBuf,
    pub database: TestDatabase,
    /// The alert pipeline's workers, to run one step at a time (with their background
    /// loops turned off in the settings).
    pub pipeline: Pipeline,
    /// The shared subscription executions.
    pub fanout: std::sync::Arc<server::alerts::fanout::Fanout>,
    /// The admin listener (metrics), `http://127.0.0.1:port`.
    pub admin: String,
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

/// Settings for a test: the binary's own defaults, with port 0, the given database, mail
/// into a fresh folder, and quicker polls.
pub fn test_settings(database_url: &str, mail_dir: &std::path::Path) -> Settings {
    let mut settings = Settings::defaults().expect("the default settings parse");
    settings.http.bind = "127.0.0.1:0".parse().expect("literal address");
    settings.http.public_url = Some("http://spa.test".into());
    settings.http.max_body_bytes = 64 * 1024;
    // Many gateways run at once in the test process: each takes a free admin port.
    settings.http.admin_bind =
        server::settings::OptionalAddress(Some("127.0.0.1:0".parse().expect("literal address")));
    settings.http.graphiql = Some(true);
    settings.http.introspection = Some(true);
    settings.database.url = Some(database_url.to_owned().into());
    settings.database.max_connections = 8;
    settings.database.seed_demo = Some(false);
    settings.mail.mail_dir = Some(mail_dir.to_owned());
    settings.bus.redis_channel_prefix = unique_name("gwtest");
    settings.bus.relay_poll = Duration::from_millis(100);
    settings.bus.relay_lease = Duration::from_millis(2000);
    settings.push.vapid_subject = "mailto:ops@almaty-marathon.kz".into();
    settings.push.concurrency = 16;
    settings.push.batch = 64;
    settings.push.poll = Duration::from_millis(200);
    settings.push.timeout = Duration::from_secs(5);
    // The mock push services of this process serve certificates of the tests' own CA.
    settings.push.extra_roots_pem = Some(
        gateway_tests::push_service::ca_pem_path()
            .expect("the mock push service's CA")
            .to_owned(),
    );
    // Every test client is 127.0.0.1: the per-address caps have a test of their own.
    settings.websocket.max_sockets_per_address = 100_000;
    settings.websocket.max_subscriptions_per_address = 1_000_000;
    settings
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts the gateway after `adjust` has had its say on the settings.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    init_logs();
    let database = TestDatabase::create(backend)
        .await
        .expect("a test database (see README: Prerequisites)");
    let mail_dir = std::env::temp_dir().join(unique_name("gw_mail"));
    let mut settings = test_settings(&database.url, &mail_dir);
    adjust(&mut settings);
    let app = Application::build(settings)
        .await
        .expect("the gateway starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let pipeline = app.pipeline();
    let fanout = app.fanout();
    let admin = app.admin_address().expect("tests run an admin listener");
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
        pipeline,
        fanout,
        admin,
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

    /// Signs up a runner as a person would: `signUp`, the link from the confirmation
    /// mail in MAIL_DIR, `confirmSignUp`. Returns the runner's bearer token.
    pub async fn sign_up_runner(&self, email: &str) -> String {
        let address = email.trim().to_lowercase();
        let before = mails(self, &address, CONFIRM_SUBJECT, 0).await.len();
        let answer = self
            .ok(
                None,
                "mutation($input: SignUpInput!) { signUp(input: $input) { email } }",
                json!({ "input": { "email": email, "password": "a long runner password", "displayName": "Runner" } }),
            )
            .await;
        assert_eq!(answer["signUp"]["email"], address.as_str());
        let sent = mails(self, &address, CONFIRM_SUBJECT, before + 1).await;
        let token = token_in(sent.last().expect("a confirmation mail"));
        let data = self
            .ok(
                None,
                "mutation($t: String!) { confirmSignUp(token: $t) { token } }",
                json!({ "t": token }),
            )
            .await;
        data["confirmSignUp"]["token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// A runner signed up as a person would ([`Self::sign_up_runner`]) and registered for
    /// distance `distance` (longest first) of the event `slug`.
    pub async fn registered_runner(&self, email: &str, slug: &str, distance: usize) -> Registered {
        let distance = self.distance_ids(slug).await[distance].clone();
        let token = self.sign_up_runner(email).await;
        let body = crate::registrations::register(self, &token, &distance).await;
        assert!(
            body.get("errors").is_none(),
            "the registration failed: {body}"
        );
        let registration = body["data"]["register"]["id"]
            .as_str()
            .expect("a registration id")
            .to_owned();
        Registered {
            token,
            registration,
        }
    }

    /// A race of `organizer`'s with one open 5 km distance of `capacity` places, a year
    /// from now; returns (event id, distance id).
    pub async fn small_race(&self, organizer: &str, slug: &str, capacity: i32) -> (String, String) {
        let starts_at = (chrono::Utc::now() + chrono::Duration::days(365)).to_rfc3339();
        let created = self
            .ok(
                Some(organizer),
                "mutation($input: CreateEventInput!) { createEvent(input: $input) { id } }",
                json!({ "input": { "slug": slug, "name": slug, "venue": "Almaty", "startsAt": starts_at,
                        "timeZone": "Asia/Almaty", "capacity": capacity, "registrationState": "OPEN" } }),
            )
            .await;
        let event = created["createEvent"]["id"]
            .as_str()
            .expect("event id")
            .to_owned();
        let distance = self
            .ok(
                Some(organizer),
                "mutation($id: ID!) { addDistance(eventId: $id, input: {name: \"5 km\", lengthMeters: 5000, fee: {amount: \"5000\", currency: \"KZT\"}}) { id } }",
                json!({ "id": event }),
            )
            .await;
        let distance = distance["addDistance"]["id"]
            .as_str()
            .expect("distance id")
            .to_owned();
        (event, distance)
    }

    /// Creates an organizer of `organization_slug` (which must exist) with a session.
    pub async fn organizer_token(&self, email: &str, organization_slug: &str) -> String {
        gateway_tests::organizer_token(&self.db, email, organization_slug)
            .await
            .expect("organizer created")
    }

    /// The demo seeded, its director's token and the upcoming marathon's id: where most
    /// alert tests start.
    pub async fn demo_organizer_and_marathon(&self) -> (String, String) {
        self.seed_demo().await;
        let organizer = self
            .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
            .await;
        (organizer, self.event_id(&marathon()).await)
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
        gateway_tests::runner_tokens(&self.db, &unique_name("crowd"), n)
            .await
            .expect("runners created")
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
        race_office::services::demo::seed_demo(&db)
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

/// A runner with a registration: their bearer token and the registration's id.
pub struct Registered {
    pub token: String,
    pub registration: String,
}

/// The subject of the mail that confirms a sign-up.
pub const CONFIRM_SUBJECT: &str = "Confirm your sign-up";

/// The mails to `to` whose subject contains `subject`, oldest first, read from the test's
/// MAIL_DIR; waits up to 2 s for at least `at_least` of them (mail goes out in the
/// background).
pub async fn mails(app: &TestApp, to: &str, subject: &str, at_least: usize) -> Vec<String> {
    for _ in 0..100 {
        let mut found: Vec<(u64, String)> = std::fs::read_dir(&app.mail_dir)
            .map(|dir| {
                dir.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        // `<stamp>-<n>.txt`: n counts the mails this gateway wrote.
                        let name = e.file_name().to_string_lossy().into_owned();
                        let n = name
                            .rsplit_once('-')?
                            .1
                            .strip_suffix(".txt")?
                            .parse()
                            .ok()?;
                        Some((n, std::fs::read_to_string(e.path()).ok()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        found.retain(|(_, mail)| {
            mail.starts_with(&format!("To: {to}\n"))
                && mail
                    .lines()
                    .nth(1)
                    .is_some_and(|line| line.starts_with("Subject:") && line.contains(subject))
        });
        if found.len() >= at_least {
            found.sort();
            return found.into_iter().map(|(_, mail)| mail).collect();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!(
        "expected {at_least} mails to {to} about {subject:?} in {}",
        app.mail_dir.display()
    );
}

/// The token of the link in a mail (`…?token=<token>`).
pub fn token_in(mail: &str) -> String {
    let start = mail.find("token=").expect("a link with the token") + "token=".len();
    mail[start..]
        .split_whitespace()
        .next()
        .expect("token")
        .to_owned()
}

/// The `extensions.code` of the first error.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<no code>")
}
