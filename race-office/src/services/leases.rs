//! The lease every delivery queue (pushes, mails) is worked under: a claim marks due rows
//! with the worker's name and a lease, counts an attempt, and skips rows another claim
//! holds (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer at a time); the
//! worker renews its leases while it lives, so a short lease runs out only when it died;
//! a stopping worker gives unstarted rows back without counting the attempt.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Value};

use super::statement;

/// A table of leased deliveries: its name, what a claim returns, and its claim order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Leased {
    pub table: &'static str,
    pub returning: &'static str,
    pub order: &'static str,
}

/// The status of a row still to be sent, in every queue.
const PENDING: &str = "PENDING";

/// Claims up to `limit` due rows for `worker` until `lease_until`, oldest first.
pub(crate) async fn claim<T: FromQueryResult>(
    db: &impl ConnectionTrait,
    queue: Leased,
    worker: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<T>, DbErr> {
    let backend = db.get_database_backend();
    let skip_locked = match backend {
        DbBackend::Postgres => " FOR UPDATE SKIP LOCKED",
        _ => "",
    };
    let Leased {
        table,
        returning,
        order,
    } = queue;
    let rows = db
        .query_all_raw(statement(
            backend,
            &format!(
                "UPDATE {table} SET claimed_by = ?, lease_until = ?, attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM {table} \
                     WHERE status = ? AND next_attempt_at <= ? \
                     AND (lease_until IS NULL OR lease_until < ?) \
                     ORDER BY {order} LIMIT ?{skip_locked}) \
                 RETURNING {returning}"
            ),
            vec![
                worker.into(),
                lease_until.into(),
                PENDING.into(),
                now.into(),
                now.into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
        ))
        .await?;
    rows.iter()
        .map(|row| T::from_query_result(row, ""))
        .collect()
}

/// Extends the leases of `worker`'s rows still pending (in its queue or in flight).
pub(crate) async fn renew(
    db: &impl ConnectionTrait,
    queue: Leased,
    worker: &str,
    until: DateTime<Utc>,
) -> Result<u64, DbErr> {
    Ok(db
        .execute_raw(statement(
            db.get_database_backend(),
            &format!(
                "UPDATE {} SET lease_until = ? \
                 WHERE claimed_by = ? AND status = ? AND lease_until IS NOT NULL",
                queue.table
            ),
            vec![until.into(), worker.into(), PENDING.into()],
        ))
        .await?
        .rows_affected())
}

/// Gives claimed but unstarted rows back, without counting the claim as an attempt.
pub(crate) async fn release(
    db: &impl ConnectionTrait,
    queue: Leased,
    ids: Vec<i64>,
) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    let marks = vec!["?"; ids.len()].join(", ");
    let mut values: Vec<Value> = vec![PENDING.into()];
    values.extend(ids.into_iter().map(Value::from));
    db.execute_raw(statement(
        db.get_database_backend(),
        &format!(
            "UPDATE {} SET lease_until = NULL, claimed_by = NULL, attempts = attempts - 1 \
             WHERE status = ? AND id IN ({marks})",
            queue.table
        ),
        values,
    ))
    .await?;
    Ok(())
}
