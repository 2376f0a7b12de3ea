//! The alert mail queue: one row per (notification, runner it targets), queued straight
//! from the notification log by any instance's mail worker, claimed in batches under
//! short leases (as the push queue is), and kept afterwards: the rows are also who an
//! alert targeted, for the reach report.
//!
//! The organizer's `EmailPolicy` decides each row's fate when it is queued: `ALL` is due
//! at once; `UNREACHED` is due when the escalation window ends and is then skipped if the
//! runner acknowledged the alert on any channel meanwhile; `NONE` is recorded as not mailed.
//!
//! Never twice: the unique (notification, account) pair keeps the queue from holding a mail
//! twice, and each outcome is recorded right after the SMTP server answers. A worker that
//! dies between the server's acceptance and that record leaves a row another instance sends
//! again once the lease runs out: the same `Message-ID`, so a mail system can tell.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entities::mail_delivery::{self, MailStatus};
use entities::{account, event, notification};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, Value,
};

use super::leases::{self, Leased};
use super::notifications::{self, Cursor};
use super::statement;

/// The mail queue's table, as a claim reads it: due first, then in id order.
const QUEUE: Leased = Leased {
    table: "mail_delivery",
    returning: "id, notification_id, account_id, attempts",
    order: "next_attempt_at, id",
};
use crate::domain::{EmailPolicy, NotificationKind};

/// Queues the mail deliveries of the log rows after the mail queue's cursor, at most
/// `limit` rows, and moves the cursor past them, in one transaction; returns (rows,
/// deliveries). `after` is the escalation window of `UNREACHED`. Instances take turns on
/// the cursor's lock; log rows are only read, so the push enqueuer never waits for mail.
#[tracing::instrument(skip(db))]
pub async fn enqueue_from_log(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    after: chrono::Duration,
    limit: u64,
) -> Result<(usize, u64), DbErr> {
    let txn = super::begin_write(db).await?;
    let cursor = notifications::take_cursor(&txn, Cursor::Mail).await?;
    let rows = notifications::rows_after(&txn, cursor, limit).await?;
    let Some(last) = rows.last().map(|r| r.id) else {
        return Ok((0, 0));
    };
    let mut queued = 0;
    for row in &rows {
        queued += enqueue(&txn, row, now, after).await?;
    }
    notifications::move_cursor(&txn, Cursor::Mail, last).await?;
    txn.commit().await?;
    Ok((rows.len(), queued))
}

/// One row per runner `row` concerns: those registered for the event of a status change,
/// the one account of a personal notification.
async fn enqueue(
    db: &impl ConnectionTrait,
    row: &notification::Model,
    now: DateTime<Utc>,
    after: chrono::Duration,
) -> Result<u64, DbErr> {
    let policy = EmailPolicy::parse(row.email_policy.as_deref());
    let (status, due, unless_acknowledged, finished) = match policy {
        EmailPolicy::All => (MailStatus::Pending, row.created_at, false, None),
        EmailPolicy::Unreached => (MailStatus::Pending, row.created_at + after, true, None),
        EmailPolicy::None => (MailStatus::NotMailed, now, false, Some(now)),
    };
    let columns = "INSERT INTO mail_delivery (notification_id, account_id, event_id, status, \
                   unless_acknowledged, attempts, next_attempt_at, created_at, finished_at) ";
    let values = |target: Value| -> Vec<Value> {
        vec![
            row.id.into(),
            row.event_id.into(),
            status.into(),
            unless_acknowledged.into(),
            due.into(),
            now.into(),
            finished.into(),
            target,
        ]
    };
    let sql = match (
        NotificationKind::parse(&row.kind),
        row.event_id,
        row.account_id,
    ) {
        (Some(NotificationKind::EventStatusChanged), Some(event_id), _) => (
            format!(
                "{columns}SELECT DISTINCT ?, r.account_id, ?, ?, ?, 0, ?, ?, ? \
                 FROM registration r WHERE r.event_id = ? \
                 ON CONFLICT (notification_id, account_id) DO NOTHING"
            ),
            values(event_id.into()),
        ),
        (Some(NotificationKind::RefundDecided), _, Some(account_id)) => (
            format!(
                "{columns}SELECT ?, a.id, ?, ?, ?, 0, ?, ?, ? FROM account a WHERE a.id = ? \
                 ON CONFLICT (notification_id, account_id) DO NOTHING"
            ),
            values(account_id.into()),
        ),
        _ => return Ok(0),
    };
    let backend = db.get_database_backend();
    Ok(db
        .execute_raw(statement(backend, &sql.0, sql.1))
        .await?
        .rows_affected())
}

/// A claimed mail, with what is needed to send it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Claimed {
    pub id: i64,
    pub notification_id: i64,
    pub account_id: i64,
    pub attempts: i32,
}

/// Marks due `UNREACHED` mails whose runner has acknowledged the alert as not needed,
/// then claims up to `limit` due mails for `worker` until `lease_until`.
pub async fn claim(
    db: &impl ConnectionTrait,
    worker: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Claimed>, DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(statement(
        backend,
        "UPDATE mail_delivery SET status = ?, finished_at = ? \
         WHERE status = ? AND unless_acknowledged = ? AND next_attempt_at <= ? \
         AND (lease_until IS NULL OR lease_until < ?) \
         AND EXISTS (SELECT 1 FROM notification_receipt r \
             WHERE r.notification_id = mail_delivery.notification_id \
             AND r.account_id = mail_delivery.account_id)",
        vec![
            MailStatus::Acknowledged.into(),
            now.into(),
            MailStatus::Pending.into(),
            true.into(),
            now.into(),
            now.into(),
        ],
    ))
    .await?;
    let mut claimed: Vec<Claimed> =
        leases::claim(db, QUEUE, worker, now, lease_until, limit).await?;
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

/// Who a mail goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressee {
    pub email: String,
    pub name: String,
    /// The language the runner reads.
    pub language: crate::domain::Language,
}

/// The addressees of claimed mails, by account id.
pub async fn addressees(
    db: &impl ConnectionTrait,
    account_ids: impl IntoIterator<Item = i64>,
) -> Result<HashMap<i64, Addressee>, DbErr> {
    Ok(account::Entity::find()
        .filter(account::Column::Id.is_in(account_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|a| {
            (
                a.id,
                Addressee {
                    language: crate::domain::Language::parse_stored(&a.language),
                    email: a.email,
                    name: a.display_name,
                },
            )
        })
        .collect())
}

/// The events of claimed mails as they are now (the refund deadline), by id.
pub async fn events(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i64>,
) -> Result<HashMap<i64, event::Model>, DbErr> {
    Ok(event::Entity::find()
        .filter(event::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect())
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The SMTP server accepted it.
    Sent,
    /// A temporary refusal (4xx, no connection): again, not before `at`.
    Retry { at: DateTime<Utc>, reply: String },
    /// Refused for good (5xx), unbuildable, or out of attempts.
    Failed { reply: String },
}

/// Records outcomes in one transaction: the mails sent in one statement, the rest one each.
pub async fn record(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    outcomes: &[(Claimed, Outcome)],
) -> Result<(), DbErr> {
    use mail_delivery::Column as M;
    if outcomes.is_empty() {
        return Ok(());
    }
    let txn = super::begin_write(db).await?;
    let mut sent = Vec::new();
    for (claimed, outcome) in outcomes {
        let update = mail_delivery::Entity::update_many()
            .filter(M::Id.eq(claimed.id))
            .col_expr(M::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(M::ClaimedBy, Expr::value(Option::<String>::None));
        match outcome {
            Outcome::Sent => sent.push(claimed.id),
            Outcome::Retry { at, reply } => {
                update
                    .col_expr(M::NextAttemptAt, Expr::value(*at))
                    .col_expr(M::LastReply, Expr::value(reply.clone()))
                    .exec(&txn)
                    .await?;
            }
            Outcome::Failed { reply } => {
                update
                    .col_expr(M::Status, Expr::value(MailStatus::Failed))
                    .col_expr(M::LastReply, Expr::value(reply.clone()))
                    .col_expr(M::FinishedAt, Expr::value(now))
                    .exec(&txn)
                    .await?;
            }
        }
    }
    if !sent.is_empty() {
        mail_delivery::Entity::update_many()
            .col_expr(M::Status, Expr::value(MailStatus::Sent))
            .col_expr(M::FinishedAt, Expr::value(now))
            .col_expr(M::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(M::Id.is_in(sent))
            .exec(&txn)
            .await?;
    }
    txn.commit().await
}

/// Extends the leases of `worker`'s pending claims.
pub async fn renew(
    db: &impl ConnectionTrait,
    worker: &str,
    until: DateTime<Utc>,
) -> Result<u64, DbErr> {
    leases::renew(db, QUEUE, worker, until).await
}

/// Gives claimed but unstarted mails back (a worker shutting down), without counting the
/// claim as an attempt.
pub async fn release(db: &impl ConnectionTrait, ids: Vec<i64>) -> Result<(), DbErr> {
    leases::release(db, QUEUE, ids).await
}
