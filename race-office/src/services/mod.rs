//! Domain operations as plain async functions over a database connection, callable from
//! resolvers, the CLI and tests alike. Every state change is one transaction.

pub mod accounts;
pub mod charity;
pub mod demo;
pub mod devices;
pub mod events;
mod leases;
pub mod mail_deliveries;
pub mod notifications;
pub mod organizations;
pub mod partner_keys;
pub mod push_deliveries;
pub mod push_subscriptions;
pub mod reach;
pub mod refunds;
pub mod registrations;
mod secrets;
pub mod sign_up;
pub mod stats;
pub mod synthetic;
pub mod vapid_keys;

pub use secrets::{default_hashing_limit, hash_token, limit_password_hashing, new_token};

/// Starts a transaction that will write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`), waiting on the busy timeout, instead of reading first and then
/// failing to upgrade when another writer committed meanwhile. PostgreSQL ignores the mode.
pub async fn begin_write(
    db: &sea_orm::DatabaseConnection,
) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    use sea_orm::TransactionTrait;
    db.begin_with_options(sea_orm::TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// A statement written with `?` placeholders, numbered `$1`, `$2`, … for PostgreSQL, for
/// the few statements sea-query's builder cannot say (the placeholders are never inside
/// a string literal there).
pub(crate) fn statement(
    backend: sea_orm::DbBackend,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> sea_orm::Statement {
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            let mut numbered = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    numbered.push_str(&format!("${n}"));
                } else {
                    numbered.push(c);
                }
            }
            numbered
        }
        _ => sql.to_owned(),
    };
    sea_orm::Statement::from_sql_and_values(backend, sql, values)
}
