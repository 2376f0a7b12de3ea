//! Limits that hold across the fleet: two gateways on one PostgreSQL and one Redis allow
//! what one allows; strangers guessing an account's password do not lock its owner's
//! browser out; a successful sign-in costs no budget; mail to one address is capped; with
//! Redis away each instance still limits, and says so.

use std::time::Duration;

/// The `extensions.code` of a refused sign-in.
#[derive(Debug, PartialEq, Eq)]
struct Code(String);

impl Code {
    fn of(code: &str) -> Self {
        Self(code.to_owned())
    }
}

use gateway_tests::Gateway;
use gateway_tests::redis::OwnRedis;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestDatabase, unique_name};

const PASSWORD: &str = "a director's long password";

struct Fleet {
    _database: TestDatabase,
    a: Gateway,
    b: Gateway,
    mail_dir: std::path::PathBuf,
    client: reqwest::Client,
}

/// Two instances sharing `redis`, believing the test's `X-Forwarded-For` (it stands for
/// the many addresses of the world), with an account `email` whose password is PASSWORD.
async fn fleet(redis_url: &str, email: &str, logged: bool) -> Fleet {
    let database = TestDatabase::create(Backend::Postgres).await.unwrap();
    let db = server::database::connect(&database.url, 2, server::database::Ping::Always)
        .await
        .unwrap();
    server::database::migrate(&db).await.unwrap();
    race_office::services::accounts::create_account(
        &db,
        chrono::Utc::now(),
        race_office::services::accounts::NewAccount {
            email: race_office::domain::Email::parse(email).unwrap(),
            password: race_office::domain::Password::parse(PASSWORD).unwrap(),
            display_name: race_office::domain::DisplayName::parse("Director").unwrap(),
            role: entities::account::Role::Runner,
            organization_id: None,
        },
    )
    .await
    .unwrap();
    let mail_dir = std::env::temp_dir().join(unique_name("gwfleetmail"));
    let prefix = unique_name("gwfleet");
    let env = |name: &str| {
        vec![
            ("DATABASE_URL", database.url.clone()),
            ("REDIS_URL", redis_url.to_owned()),
            ("REDIS_CHANNEL_PREFIX", prefix.clone()),
            ("TRUSTED_PROXIES", "127.0.0.1".to_owned()),
            ("MAIL_DIR", mail_dir.display().to_string()),
            ("SEED_DEMO", "false".to_owned()),
            ("INSTANCE_ID", format!("{prefix}-{name}")),
        ]
    };
    let (a, b) = if logged {
        (
            Gateway::start_logged(&env("a"), "warn").await.unwrap(),
            Gateway::start_logged(&env("b"), "warn").await.unwrap(),
        )
    } else {
        (
            Gateway::start(&env("a")).await.unwrap(),
            Gateway::start(&env("b")).await.unwrap(),
        )
    };
    Fleet {
        _database: database,
        a,
        b,
        mail_dir,
        client: reqwest::Client::new(),
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.mail_dir);
    }
}

impl Fleet {
    fn instance(&self, n: usize) -> &Gateway {
        if n.is_multiple_of(2) {
            &self.a
        } else {
            &self.b
        }
    }

    async fn post(&self, n: usize, from: &str, query: &str, variables: Value) -> Value {
        self.client
            .post(format!("{}/graphql", self.instance(n).address))
            .header("x-forwarded-for", from)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// signIn on instance `n % 2` from `from`: the code of its error, or the device token.
    async fn sign_in(
        &self,
        n: usize,
        from: &str,
        email: &str,
        password: &str,
        device: Option<&str>,
    ) -> Result<String, Code> {
        let body = self
            .post(
                n,
                from,
                "mutation($i: SignInInput!) { signIn(input: $i) { token deviceToken } }",
                json!({ "i": { "email": email, "password": password, "deviceToken": device } }),
            )
            .await;
        match body["data"]["signIn"]["deviceToken"].as_str() {
            Some(device) => Ok(device.to_owned()),
            None => Err(Code(
                body["errors"][0]["extensions"]["code"]
                    .as_str()
                    .unwrap_or("?")
                    .to_owned(),
            )),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_spread_over_two_instances_meet_one_budget() {
    let redis = OwnRedis::start().await.unwrap();
    let email = format!("{}@example.kz", unique_name("guessed"));
    let fleet = fleet(&redis.url(), &email, false).await;
    // RATE_AUTH_PER_ACCOUNT (10 a minute) for one account from one address, whichever
    // instance answers.
    let mut answers = Vec::new();
    for n in 0..12 {
        answers.push(
            fleet
                .sign_in(n, "203.0.113.7", &email, "wrong guess", None)
                .await,
        );
    }
    let invalid = answers
        .iter()
        .filter(|a| a.as_ref().err().map(|code| code.0.as_str()) == Some("INVALID_CREDENTIALS"))
        .count();
    assert_eq!(invalid, 10, "{answers:?}");
    assert_eq!(answers[10], Err(Code::of("RATE_LIMITED")), "{answers:?}");
    assert_eq!(answers[11], Err(Code::of("RATE_LIMITED")), "{answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_spending_an_account_do_not_lock_out_its_owner_s_browser() {
    let redis = OwnRedis::start().await.unwrap();
    let email = format!("{}@example.kz", unique_name("director"));
    let fleet = fleet(&redis.url(), &email, false).await;
    let home = "198.51.100.20";
    // Signing in often costs nothing: twelve in a row, past the per-account limit of 10.
    let mut device = String::new();
    for n in 0..12 {
        device = fleet
            .sign_in(n, home, &email, PASSWORD, None)
            .await
            .unwrap();
    }
    // Thirty strangers, each from its own address, spend the account's budget for browsers
    // it does not know (RATE_SIGN_IN_FAILURES_PER_ACCOUNT, 30 an hour).
    for n in 0..30 {
        let stranger = format!("203.0.113.{n}");
        assert_eq!(
            fleet
                .sign_in(n, &stranger, &email, "wrong guess", None)
                .await,
            Err(Code::of("INVALID_CREDENTIALS"))
        );
    }
    assert_eq!(
        fleet
            .sign_in(1, "203.0.113.99", &email, "wrong guess", None)
            .await,
        Err(Code::of("RATE_LIMITED"))
    );
    // A browser without the device token is refused, even with the right password...
    assert_eq!(
        fleet.sign_in(0, home, &email, PASSWORD, None).await,
        Err(Code::of("RATE_LIMITED"))
    );
    // ...the owner's browser, which signed in before, is not, on either instance.
    let again = fleet
        .sign_in(0, home, &email, PASSWORD, Some(&device))
        .await;
    assert_eq!(
        again.as_deref(),
        Ok(device.as_str()),
        "the device keeps its token"
    );
    assert!(
        fleet
            .sign_in(1, home, &email, PASSWORD, Some(&device))
            .await
            .is_ok()
    );
    // A forged device token is no device token.
    assert_eq!(
        fleet
            .sign_in(1, home, &email, PASSWORD, Some("device_forged.AAAA"))
            .await,
        Err(Code::of("RATE_LIMITED"))
    );
}

/// Mails in the shared folder to `to` whose subject has `subject`.
fn mails_to(dir: &std::path::Path, to: &str, subject: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter(|mail| {
                    mail.starts_with(&format!("To: {to}\n"))
                        && mail.lines().nth(1).is_some_and(|l| l.contains(subject))
                })
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_mail_to_one_address_is_capped_across_the_fleet() {
    let redis = OwnRedis::start().await.unwrap();
    let email = format!("{}@example.kz", unique_name("mailbombed"));
    // Logged: each reset mail held back says so.
    let fleet = fleet(&redis.url(), &email, true).await;
    for n in 0..8 {
        let body = fleet
            .post(
                n,
                &format!("203.0.113.{n}"),
                "mutation($e: String!) { requestPasswordReset(email: $e) }",
                json!({ "e": email }),
            )
            .await;
        assert_eq!(body["data"]["requestPasswordReset"], true, "{body}");
    }
    // MAIL_PER_RECIPIENT_PER_HOUR: 5, whichever instance was asked. Each request ends in
    // the background as a mail or as a line saying it was held back: waited for until all
    // eight have ended, so no mail can come after the count.
    let held_back = |fleet: &Fleet| {
        [&fleet.a, &fleet.b]
            .iter()
            .flat_map(|gateway| gateway.logs())
            .filter(|line| line.contains("mail not sent: the recipient had its hourly share"))
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (mut sent, mut refused) = (0, 0);
    while std::time::Instant::now() < deadline {
        sent = mails_to(&fleet.mail_dir, &email, "Reset your password");
        refused = held_back(&fleet);
        if sent + refused >= 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!((sent, refused), (5, 3), "mails sent and held back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_away_each_instance_still_limits_and_says_so() {
    let mut redis = OwnRedis::start().await.unwrap();
    let email = format!("{}@example.kz", unique_name("outage"));
    let fleet = fleet(&redis.url(), &email, true).await;
    redis.stop();
    let mut answers = Vec::new();
    for _ in 0..11 {
        answers.push(
            fleet
                .sign_in(0, "203.0.113.7", &email, "wrong guess", None)
                .await,
        );
    }
    assert_eq!(
        answers[9],
        Err(Code::of("INVALID_CREDENTIALS")),
        "{answers:?}"
    );
    assert_eq!(answers[10], Err(Code::of("RATE_LIMITED")), "{answers:?}");
    assert!(
        fleet
            .a
            .wait_for_log(
                &["rate limits are counted per instance"],
                Duration::from_secs(5)
            )
            .await
            .is_some(),
        "{:?}",
        fleet.a.logs()
    );
}
