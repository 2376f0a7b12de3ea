//! Connecting to PostgreSQL or SQLite and applying migrations.

use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

/// Whether a pooled connection is pinged before it is handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ping {
    /// Always: the alert pipeline's few queries (a log read the hub cannot skip) must
    /// not meet a connection the server dropped.
    Always,
    /// Only after a second idle: requests come by the thousand, and sqlx already pings a
    /// connection on its way back to the pool; a third round trip per query is too many.
    /// A connection dropped meanwhile fails its one query, and is replaced.
    IfIdle,
}

/// Opens the pool. For SQLite, creates the file's folder, and uses WAL with a busy
/// timeout so that readers do not block the writer and writers queue instead of failing.
#[tracing::instrument(skip(url))]
pub async fn connect(
    url: &str,
    max_connections: u32,
    ping: Ping,
) -> Result<DatabaseConnection, DbErr> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let file = path.split('?').next().unwrap_or(path);
        if let Some(parent) = std::path::Path::new(file).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| DbErr::Custom(format!("creating {}: {e}", parent.display())))?;
        }
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
        });
    if ping == Ping::IfIdle {
        options.test_before_acquire_if_idle_for(Duration::from_secs(1));
    }
    Database::connect(options).await
}

/// The advisory lock instances take to migrate one at a time ("race-day" in ASCII).
const MIGRATION_LOCK: i64 = 0x7261_6365_2d64_6179;

/// Applies the migrations, then builds the participation counters of any event that has
/// registrations but no counters yet (registered before the counters existed). On
/// PostgreSQL, instances started together take turns under an advisory lock, held on a
/// connection of its own (the pool may have only one): the first migrates, the others find
/// nothing left to do.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    let lock = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => Some(migration_lock(db).await?),
        _ => None,
    };
    let migrated = Migrator::up(db, None).await;
    if let Some(mut lock) = lock {
        // Closing the connection would release it too; this says so at once.
        let _ = sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut lock)
            .await;
    }
    migrated?;
    race_office::services::stats::rebuild_missing(db)
        .await
        .map_err(|e| DbErr::Custom(format!("building participation counters: {e:?}")))?;
    Ok(())
}

/// With MIGRATE_ON_START=false: fails, naming them, while migrations are pending (the
/// deploy step, `gateway migrate`, has not run), without touching the database.
pub async fn check_migrated(db: &DatabaseConnection) -> anyhow::Result<()> {
    let pending = Migrator::get_pending_migrations_read_only(db)
        .await
        .context("reading which migrations have run")?;
    if pending.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = pending.iter().map(|m| m.name()).collect();
    anyhow::bail!(
        "{} migrations pending ({}) and MIGRATE_ON_START=false: run `gateway migrate` first",
        names.len(),
        names.join(", ")
    )
}

/// A connection of its own holding the migration lock (waits for it).
async fn migration_lock(db: &DatabaseConnection) -> Result<sea_orm::sqlx::PgConnection, DbErr> {
    use sea_orm::sqlx::Connection;
    let options = db.get_postgres_connection_pool().connect_options();
    let mut connection = sea_orm::sqlx::PgConnection::connect_with(&options)
        .await
        .map_err(|e| DbErr::Custom(format!("connecting for the migration lock: {e}")))?;
    sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut connection)
        .await
        .map_err(|e| DbErr::Custom(format!("taking the migration lock: {e}")))?;
    Ok(connection)
}
