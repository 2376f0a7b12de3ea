//! A database created for one test or one load run, on PostgreSQL or SQLite, dropped when
//! the value is dropped.

use anyhow::{Context, anyhow};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

use crate::gateway::gateway_binary;

/// The PostgreSQL server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A name no other test of this run (or another process) uses.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

pub struct TestDatabase {
    pub url: String,
    backend: Backend,
    /// The PostgreSQL server, without a database name.
    server: String,
    name: String,
    sqlite_path: Option<PathBuf>,
}

impl TestDatabase {
    /// A fresh, empty database with a unique name (PostgreSQL on `TEST_POSTGRES_URL`).
    pub async fn create(backend: Backend) -> anyhow::Result<Self> {
        match backend {
            Backend::Postgres => {
                Self::postgres(&postgres_admin_url(), &unique_name("gw_test")).await
            }
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{}.db", unique_name("gw_test")));
                Ok(Self {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    backend,
                    server: String::new(),
                    name: String::new(),
                    sqlite_path: Some(path),
                })
            }
        }
    }

    /// PostgreSQL database `name` on `server`, dropped first if a crashed run left it.
    pub async fn postgres(server: &str, name: &str) -> anyhow::Result<Self> {
        let admin = Database::connect(format!("{server}/postgres"))
            .await
            .with_context(|| format!("PostgreSQL at {server} (see README: Prerequisites)"))?;
        for statement in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            admin
                .execute_unprepared(&statement)
                .await
                .with_context(|| statement.clone())?;
        }
        admin.close().await.ok();
        Ok(Self {
            url: format!("{server}/{name}"),
            backend: Backend::Postgres,
            server: server.to_owned(),
            name: name.to_owned(),
            sqlite_path: None,
        })
    }

    /// A PostgreSQL database with the demo data, seeded by the gateway binary itself, and
    /// a connection to it.
    pub async fn postgres_with_demo(
        server: &str,
        name: &str,
    ) -> anyhow::Result<(Self, DatabaseConnection)> {
        let database = Self::postgres(server, name).await?;
        let seeded = Command::new(gateway_binary())
            .args(["seed", "--demo"])
            .env("DATABASE_URL", &database.url)
            .output()?;
        if !seeded.status.success() {
            return Err(anyhow!(
                String::from_utf8_lossy(&seeded.stderr).into_owned()
            ));
        }
        let db = Database::connect(&database.url).await?;
        Ok((database, db))
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
                // The caller's runtime may be gone by now: drop the database from a thread
                // with a runtime of its own.
                let (server, name) = (self.server.clone(), self.name.clone());
                let _ = std::thread::spawn(move || {
                    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    runtime.block_on(async move {
                        if let Ok(admin) = Database::connect(format!("{server}/postgres")).await {
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
