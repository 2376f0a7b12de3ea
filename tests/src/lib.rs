//! What the gateway's black-box tests (`tests/api/`, one binary) and its load tools (the
//! `gateway-load` package in `load/`) share: a scratch database, the gateway as a child
//! process, runner and organizer accounts, and the mock push service.

pub mod push_service;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait, Set};

/// A PostgreSQL database created for one load run, dropped at the end.
pub struct ScratchDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl ScratchDatabase {
    pub async fn create(server: &str, name: &str) -> Result<Self, String> {
        let admin_url = format!("{server}/postgres");
        let admin = Database::connect(&admin_url)
            .await
            .map_err(|e| e.to_string())?;
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .map_err(|e| e.to_string())?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .map_err(|e| e.to_string())?;
        admin.close().await.ok();
        Ok(Self {
            url: format!("{server}/{name}"),
            admin_url,
            name: name.to_owned(),
        })
    }

    /// A scratch database with the demo data, seeded by the gateway binary itself, and a
    /// connection to it.
    pub async fn with_demo(server: &str, name: &str) -> Result<(Self, DatabaseConnection), String> {
        let scratch = Self::create(server, name).await?;
        let seeded = Command::new(gateway_binary())
            .args(["seed", "--demo"])
            .env("DATABASE_URL", &scratch.url)
            .output()
            .map_err(|e| e.to_string())?;
        if !seeded.status.success() {
            return Err(String::from_utf8_lossy(&seeded.stderr).into_owned());
        }
        let db = Database::connect(&scratch.url)
            .await
            .map_err(|e| e.to_string())?;
        Ok((scratch, db))
    }

    pub async fn drop_now(self) {
        if let Ok(admin) = Database::connect(&self.admin_url).await {
            let _ = admin
                .execute_unprepared(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .await;
            let _ = admin.close().await;
        }
    }
}

/// POSTs a GraphQL request body to `address` and returns the JSON answer.
pub async fn post_graphql(
    client: &reqwest::Client,
    address: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let mut request = client.post(format!("{address}/graphql")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())
}

/// The `gateway` binary beside this tool (release when the tool is run with --release).
pub fn gateway_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    let dir = if dir.ends_with("deps") {
        dir.parent().map(PathBuf::from).unwrap_or(dir)
    } else {
        dir
    };
    dir.join(format!("gateway{}", std::env::consts::EXE_SUFFIX))
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// A gateway child process, killed on drop.
pub struct Gateway {
    pub child: Child,
    pub address: String,
}

impl Gateway {
    /// Starts `gateway serve` with `env` and waits until it serves (/healthz answers 200;
    /// readiness may wait on a Redis that a test keeps down on purpose). Its logs are shown
    /// only when GATEWAY_LOG is set (to a RUST_LOG filter).
    pub async fn start(env: &[(&str, String)]) -> Result<Self, String> {
        let port = free_port()?;
        let mut command = Command::new(gateway_binary());
        let log = std::env::var("GATEWAY_LOG").ok();
        command
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", log.clone().unwrap_or_else(|| "warn".into()))
            .stdin(Stdio::null());
        if log.is_none() {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .map_err(|e| format!("starting {}: {e}", gateway_binary().display()))?;
        let gateway = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(response) = client
                .get(format!("{}/healthz", gateway.address))
                .send()
                .await
                && response.status().is_success()
            {
                return Ok(gateway);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("the gateway did not become ready within 60 s".into())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the gateway process, in KiB (from /proc).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
    }

    /// CPU time (user + system) the gateway has used, in microseconds.
    pub fn cpu_micros(&self) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        let after_name = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(ticks * 1_000_000 / 100)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` runner accounts with sessions, inserted directly; returns their bearer tokens.
pub async fn runner_tokens(
    db: &DatabaseConnection,
    prefix: &str,
    n: usize,
) -> Result<Vec<String>, String> {
    let now = chrono::Utc::now();
    let mut tokens = Vec::with_capacity(n);
    for start in (0..n).step_by(2000) {
        let end = (start + 2000).min(n);
        let accounts = (start..end).map(|i| entities::account::ActiveModel {
            email: Set(format!("{prefix}-{i}@load.test")),
            // Not a hash of any password: these accounts sign in only by the token below.
            password_hash: Set("!load-test".into()),
            display_name: Set(format!("Load runner {i}")),
            role: Set(entities::account::Role::Runner),
            organization_id: Set(None),
            created_at: Set(now),
            ..Default::default()
        });
        let ids = entities::account::Entity::insert_many(accounts)
            .exec_with_returning_keys(db)
            .await
            .map_err(|e| e.to_string())?;
        let batch: Vec<String> = (start..end).map(|i| format!("rdg_{prefix}-{i}")).collect();
        let sessions = ids
            .iter()
            .zip(&batch)
            .map(|(id, token)| entities::session::ActiveModel {
                account_id: Set(*id),
                token_hash: Set(schema::services::hash_token(token)),
                created_at: Set(now),
                expires_at: Set(now + chrono::Duration::days(1)),
                ..Default::default()
            });
        entities::session::Entity::insert_many(sessions)
            .exec(db)
            .await
            .map_err(|e| e.to_string())?;
        tokens.extend(batch);
    }
    Ok(tokens)
}

/// Percentile of sorted durations, in milliseconds.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// An organizer of `organization_slug` (created directly) and a session for it; returns
/// the bearer token.
pub async fn organizer_token(
    db: &DatabaseConnection,
    organization_slug: &str,
) -> Result<String, String> {
    use schema::domain::{DisplayName, Email, Password};
    use schema::services::{accounts, organizations};
    let organization = organizations::find_by_slug(db, organization_slug)
        .await
        .map_err(|e| e.message())?
        .ok_or_else(|| format!("no organization {organization_slug}"))?;
    let organizer = accounts::create_account(
        db,
        chrono::Utc::now(),
        accounts::NewAccount {
            email: Email::parse(&format!("director@{organization_slug}.test"))
                .map_err(|e| e.message())?,
            password: Password::parse("a director's long password").map_err(|e| e.message())?,
            display_name: DisplayName::parse("Director").map_err(|e| e.message())?,
            role: entities::account::Role::Organizer,
            organization_id: Some(organization.id),
        },
    )
    .await
    .map_err(|e| e.message())?;
    accounts::open_session(db, chrono::Utc::now(), organizer.id)
        .await
        .map_err(|e| e.message())
}
