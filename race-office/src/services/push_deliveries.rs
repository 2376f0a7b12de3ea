//! The Web Push delivery queue: one row per (notification, subscription), queued straight
//! from the notification log by any instance's push worker (not by the relay: pushes must
//! not wait for Redis), claimed in batches by the push workers of any instance, and kept
//! afterwards so organizers can count what was sent, delivered, failed and pruned.
//!
//! Functions the worker calls return `DbErr`, so its log lines carry the database's words.
//!
//! Claims are leases: a worker that dies mid-batch leaves rows whose lease runs out, and
//! another worker claims them again. Delivery is therefore at least once; the payload
//! carries the notification id so a service worker can drop a repeat.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entities::push_delivery::{self, DeliveryStatus};
use entities::{notification, push_subscription, push_subscription_event, registration};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveEnum, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    FromQueryResult, QueryFilter, QuerySelect,
};

use super::leases::{self, Leased};
use super::notifications::{self, Cursor};

/// The push queue's table, as a claim reads it.
const QUEUE: Leased = Leased {
    table: "push_delivery",
    returning: "id, notification_id, subscription_id, attempts",
    order: "id",
};
use crate::domain::{NotificationKind, StatusChangeMessage};
use crate::error::ApiResult;

/// Why a delivery was given up, as recorded and counted.
pub use entities::push_delivery::FailureClass;

/// Queues the deliveries of the log rows after the push queue's cursor, at most `limit`
/// rows, and moves the cursor past them, in one transaction; returns (rows, deliveries)
/// queued. Instances take turns on the cursor's lock; log rows are only read, so neither
/// the relay marking them published nor the mail enqueuer ever makes this skip one. Rows
/// announced as history (`pushes_queued_at` set when appended) are passed over.
#[tracing::instrument(skip(db))]
pub async fn enqueue_from_log(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<(usize, u64), DbErr> {
    let txn = super::begin_write(db).await?;
    let cursor = notifications::take_cursor(&txn, Cursor::Push).await?;
    let rows = notifications::rows_after(&txn, cursor, limit).await?;
    let Some(last) = rows.last().map(|r| r.id) else {
        return Ok((0, 0));
    };
    let fresh: Vec<notification::Model> = rows
        .iter()
        .filter(|r| r.pushes_queued_at.is_none())
        .cloned()
        .collect();
    let queued = enqueue(&txn, &fresh, now).await?;
    notifications::move_cursor(&txn, Cursor::Push, last).await?;
    txn.commit().await?;
    Ok((rows.len(), queued))
}

/// Enqueues one delivery per matching subscription for each status change in `rows`:
/// subscriptions that name the event, and those that follow every event their runner
/// is registered for. Idempotent: a row seen twice is enqueued once.
async fn enqueue(
    db: &impl ConnectionTrait,
    rows: &[notification::Model],
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    use push_delivery::Column as D;
    use push_subscription::Column as S;
    let mut enqueued = 0;
    for row in rows {
        let (Some(NotificationKind::EventStatusChanged), Some(event_id)) =
            (NotificationKind::parse(&row.kind), row.event_id)
        else {
            continue;
        };
        let names_event = Query::select()
            .expr(Expr::val(1))
            .from(push_subscription_event::Entity)
            .and_where(
                Expr::col((
                    push_subscription_event::Entity,
                    push_subscription_event::Column::SubscriptionId,
                ))
                .equals((push_subscription::Entity, S::Id)),
            )
            .and_where(
                Expr::col((
                    push_subscription_event::Entity,
                    push_subscription_event::Column::EventId,
                ))
                .eq(event_id),
            )
            .to_owned();
        let registered = Query::select()
            .expr(Expr::val(1))
            .from(registration::Entity)
            .and_where(
                Expr::col((registration::Entity, registration::Column::AccountId))
                    .equals((push_subscription::Entity, S::AccountId)),
            )
            .and_where(
                Expr::col((registration::Entity, registration::Column::EventId)).eq(event_id),
            )
            .to_owned();
        let matching = Query::select()
            .expr(Expr::val(row.id))
            .column((push_subscription::Entity, S::Id))
            .column((push_subscription::Entity, S::AccountId))
            .expr(Expr::val(event_id))
            .expr(Expr::val(DeliveryStatus::Pending))
            .expr(Expr::val(0))
            .expr(Expr::val(now))
            .expr(Expr::val(now))
            .from(push_subscription::Entity)
            .cond_where(
                Condition::any().add(Expr::exists(names_event)).add(
                    Condition::all()
                        .add(
                            Expr::col((push_subscription::Entity, S::AllRegisteredEvents)).eq(true),
                        )
                        .add(Expr::exists(registered)),
                ),
            )
            .to_owned();
        let insert = Query::insert()
            .into_table(push_delivery::Entity)
            .columns([
                D::NotificationId,
                D::SubscriptionId,
                D::AccountId,
                D::EventId,
                D::Status,
                D::Attempts,
                D::NextAttemptAt,
                D::CreatedAt,
            ])
            .select_from(matching)
            .map_err(|e| DbErr::Custom(format!("building the enqueue statement: {e}")))?
            .on_conflict(
                OnConflict::columns([D::NotificationId, D::SubscriptionId])
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        enqueued += db.execute(&insert).await?.rows_affected();
    }
    Ok(enqueued)
}

/// A claimed delivery, with what is needed to send it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Claimed {
    pub id: i64,
    pub notification_id: i64,
    pub subscription_id: Option<i64>,
    pub attempts: i32,
}

/// Claims up to `limit` due deliveries for `worker` until `lease_until`. Safe with many
/// workers: on PostgreSQL rows locked by another claim are skipped; SQLite has one
/// writer at a time anyway.
pub async fn claim(
    db: &impl ConnectionTrait,
    worker: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Claimed>, DbErr> {
    let mut claimed: Vec<Claimed> =
        leases::claim(db, QUEUE, worker, now, lease_until, limit).await?;
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

/// A subscribed browser as a delivery needs it: where to post, and the keys to encrypt
/// for. The endpoint is a capability (whoever knows it can push to the device): log its
/// origin at most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The subscription's id.
    pub id: i64,
    /// The push service URL the browser gave.
    pub endpoint: String,
    /// The browser's P-256 public key, base64url.
    pub p256dh: String,
    /// The browser's auth secret, base64url.
    pub auth: String,
    /// The language its runner reads.
    pub language: crate::domain::Language,
}

impl From<push_subscription::Model> for Recipient {
    fn from(subscription: push_subscription::Model) -> Self {
        Self {
            id: subscription.id,
            endpoint: subscription.endpoint,
            p256dh: subscription.p256dh,
            auth: subscription.auth,
            language: crate::domain::Language::En,
        }
    }
}

/// The recipients of claimed deliveries, by subscription id (deleted ones are absent),
/// each with its runner's language (two queries).
pub async fn subscriptions(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i64>,
) -> Result<HashMap<i64, Recipient>, DbErr> {
    let found = push_subscription::Entity::find()
        .filter(push_subscription::Column::Id.is_in(ids))
        .all(db)
        .await?;
    let languages: HashMap<i64, String> = entities::account::Entity::find()
        .select_only()
        .column(entities::account::Column::Id)
        .column(entities::account::Column::Language)
        .filter(entities::account::Column::Id.is_in(found.iter().map(|s| s.account_id)))
        .into_tuple::<(i64, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    Ok(found
        .into_iter()
        .map(|s| {
            let language = languages
                .get(&s.account_id)
                .map_or(crate::domain::Language::En, |l| {
                    crate::domain::Language::parse_stored(l)
                });
            (
                s.id,
                Recipient {
                    language,
                    ..Recipient::from(s)
                },
            )
        })
        .collect())
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted by the push service.
    Delivered { status_code: u16 },
    /// Try again, not before `at`.
    Retry {
        at: DateTime<Utc>,
        status_code: Option<u16>,
        error: String,
    },
    /// Given up.
    Failed {
        status_code: Option<u16>,
        error: String,
        class: FailureClass,
    },
    /// The subscription is gone (404/410): delete it.
    Pruned { status_code: u16 },
    /// The subscription was deleted before sending.
    Dropped,
    /// Not sent, and so not an attempt: its push service asked every sender to wait.
    Postponed { at: DateTime<Utc> },
}

/// Records the outcomes of a set of attempts in one transaction: bulk updates for the
/// common case (delivered), one statement each for the rest, and pruned subscriptions
/// deleted with their still-pending deliveries marked dropped.
#[tracing::instrument(skip(db, outcomes), fields(n = outcomes.len()))]
pub async fn record(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    outcomes: &[(Claimed, Outcome)],
) -> Result<(), DbErr> {
    use push_delivery::Column as D;
    let txn = super::begin_write(db).await?;
    let mut delivered: HashMap<u16, Vec<i64>> = HashMap::new();
    let mut dropped = Vec::new();
    let mut pruned_subscriptions = Vec::new();
    for (claimed, outcome) in outcomes {
        let update = push_delivery::Entity::update_many().filter(D::Id.eq(claimed.id));
        match outcome {
            Outcome::Delivered { status_code } => {
                delivered.entry(*status_code).or_default().push(claimed.id);
            }
            Outcome::Dropped => dropped.push(claimed.id),
            Outcome::Postponed { at } => {
                // The claim counted an attempt that was never made.
                update
                    .col_expr(D::NextAttemptAt, Expr::value(*at))
                    .col_expr(D::Attempts, Expr::col(D::Attempts).sub(1))
                    .col_expr(D::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
                    .col_expr(D::ClaimedBy, Expr::value(Option::<String>::None))
                    .exec(&txn)
                    .await?;
            }
            Outcome::Retry {
                at,
                status_code,
                error,
            } => {
                update
                    .col_expr(D::NextAttemptAt, Expr::value(*at))
                    .col_expr(D::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
                    .col_expr(D::ClaimedBy, Expr::value(Option::<String>::None))
                    .col_expr(D::LastStatusCode, Expr::value(status_code.map(i32::from)))
                    .col_expr(D::LastError, Expr::value(error.clone()))
                    .exec(&txn)
                    .await?;
            }
            Outcome::Failed {
                status_code,
                error,
                class,
            } => {
                update
                    .col_expr(D::Status, Expr::value(DeliveryStatus::Failed))
                    .col_expr(D::FailureClass, Expr::value(*class))
                    .col_expr(D::LastStatusCode, Expr::value(status_code.map(i32::from)))
                    .col_expr(D::LastError, Expr::value(error.clone()))
                    .col_expr(D::FinishedAt, Expr::value(now))
                    .col_expr(D::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
                    .exec(&txn)
                    .await?;
            }
            Outcome::Pruned { status_code } => {
                update
                    .col_expr(D::Status, Expr::value(DeliveryStatus::Pruned))
                    .col_expr(D::LastStatusCode, Expr::value(i32::from(*status_code)))
                    .col_expr(D::FinishedAt, Expr::value(now))
                    .col_expr(D::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
                    .exec(&txn)
                    .await?;
                pruned_subscriptions.extend(claimed.subscription_id);
            }
        }
    }
    for (status_code, ids) in delivered {
        push_delivery::Entity::update_many()
            .col_expr(D::Status, Expr::value(DeliveryStatus::Delivered))
            .col_expr(D::LastStatusCode, Expr::value(i32::from(status_code)))
            .col_expr(D::FinishedAt, Expr::value(now))
            .col_expr(D::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(D::Id.is_in(ids))
            .exec(&txn)
            .await?;
    }
    if !pruned_subscriptions.is_empty() {
        // Other deliveries still waiting for a pruned subscription can never be sent.
        push_delivery::Entity::update_many()
            .col_expr(D::Status, Expr::value(DeliveryStatus::Dropped))
            .col_expr(D::FinishedAt, Expr::value(now))
            .filter(D::SubscriptionId.is_in(pruned_subscriptions.iter().copied()))
            .filter(D::Status.eq(DeliveryStatus::Pending))
            .exec(&txn)
            .await?;
        push_subscription::Entity::delete_many()
            .filter(push_subscription::Column::Id.is_in(pruned_subscriptions))
            .exec(&txn)
            .await?;
    }
    if !dropped.is_empty() {
        push_delivery::Entity::update_many()
            .col_expr(D::Status, Expr::value(DeliveryStatus::Dropped))
            .col_expr(D::FinishedAt, Expr::value(now))
            .col_expr(D::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(D::Id.is_in(dropped))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Extends the leases of `worker`'s claims still pending (in its queue or in flight), so
/// that a short lease only runs out when the worker has died.
pub async fn renew(
    db: &impl ConnectionTrait,
    worker: &str,
    until: DateTime<Utc>,
) -> Result<u64, DbErr> {
    leases::renew(db, QUEUE, worker, until).await
}

/// Gives claimed but unstarted deliveries back (a worker shutting down), without
/// counting the claim as an attempt.
pub async fn release(db: &impl ConnectionTrait, ids: Vec<i64>) -> Result<(), DbErr> {
    leases::release(db, QUEUE, ids).await
}

/// What became of one notification's pushes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub notification_id: i64,
    /// Deliveries enqueued: one per matching subscription.
    pub queued: i64,
    /// Deliveries attempted at least once.
    pub sent: i64,
    pub delivered: i64,
    pub failed: i64,
    pub pruned: i64,
    /// Dropped because the subscription was deleted first.
    pub dropped: i64,
    /// Not finished yet (waiting, in flight, or retrying).
    pub pending: i64,
    /// HTTP requests made in all (retries included).
    pub attempts: i64,
    /// The reason the newest failed delivery was given up (never the endpoint or keys).
    pub last_error: Option<String>,
    /// Failed deliveries by why they were given up, in the order of [`FailureClass`];
    /// failures recorded before classes existed are not counted here.
    pub failures_by_class: Vec<(FailureClass, i64)>,
}

#[derive(FromQueryResult)]
struct ReportRow {
    notification_id: i64,
    status: String,
    failure_class: Option<String>,
    deliveries: i64,
    attempted: i64,
    attempts: i64,
}

#[derive(FromQueryResult)]
struct NewestFailure {
    newest: i64,
}

/// Reports for the given notifications, in the order asked; a notification with no
/// subscribers gets an all-zero report.
pub async fn reports(
    db: &impl ConnectionTrait,
    notification_ids: &[i64],
) -> ApiResult<Vec<Report>> {
    use push_delivery::Column as D;
    let rows = push_delivery::Entity::find()
        .select_only()
        .column(D::NotificationId)
        .column(D::Status)
        .column_as(Expr::col(D::Id).count(), "deliveries")
        .column_as(
            Expr::case(Expr::col(D::Attempts).gt(0), 1).finally(0).sum(),
            "attempted",
        )
        .column_as(Expr::col(D::Attempts).sum(), "attempts")
        .column(D::FailureClass)
        .filter(D::NotificationId.is_in(notification_ids.iter().copied()))
        .group_by(D::NotificationId)
        .group_by(D::Status)
        .group_by(D::FailureClass)
        .into_model::<ReportRow>()
        .all(db)
        .await?;
    let mut by_id: HashMap<i64, Report> = notification_ids
        .iter()
        .map(|id| {
            (
                *id,
                Report {
                    notification_id: *id,
                    ..Report::default()
                },
            )
        })
        .collect();
    for row in rows {
        let Some(report) = by_id.get_mut(&row.notification_id) else {
            continue;
        };
        report.queued += row.deliveries;
        report.sent += row.attempted;
        report.attempts += row.attempts;
        match row.status.as_str() {
            "DELIVERED" => report.delivered += row.deliveries,
            "FAILED" => {
                report.failed += row.deliveries;
                let class = row
                    .failure_class
                    .as_deref()
                    .and_then(|class| FailureClass::try_from_value(&class.to_owned()).ok());
                if let Some(class) = class {
                    report.failures_by_class.push((class, row.deliveries));
                }
            }
            "PRUNED" => report.pruned += row.deliveries,
            "DROPPED" => report.dropped += row.deliveries,
            _ => report.pending += row.deliveries,
        }
    }
    // The newest failure of each notification: its id in one grouped query, then its
    // reason by those ids, so that thousands of failures are never read to find one.
    let newest = push_delivery::Entity::find()
        .select_only()
        .column(D::NotificationId)
        .column_as(Expr::col(D::Id).max(), "newest")
        .filter(D::NotificationId.is_in(notification_ids.iter().copied()))
        .filter(D::Status.eq(DeliveryStatus::Failed))
        .group_by(D::NotificationId)
        .into_model::<NewestFailure>()
        .all(db)
        .await?;
    if !newest.is_empty() {
        let failures = push_delivery::Entity::find()
            .filter(D::Id.is_in(newest.iter().map(|n| n.newest)))
            .all(db)
            .await?;
        for failure in failures {
            if let Some(report) = by_id.get_mut(&failure.notification_id) {
                report.last_error = failure.last_error;
            }
        }
    }
    for report in by_id.values_mut() {
        report.failures_by_class.sort();
    }
    Ok(notification_ids
        .iter()
        .filter_map(|id| by_id.remove(id))
        .collect())
}

/// The newest `limit` status changes of an event, each with its report.
pub async fn event_reports(
    db: &impl ConnectionTrait,
    event_id: i64,
    limit: u64,
) -> ApiResult<Vec<(StatusChangeMessage, Report)>> {
    let changes = notifications::newest_status_changes(db, event_id, limit).await?;
    let ids: Vec<i64> = changes.iter().map(|(id, _)| *id).collect();
    let reports = reports(db, &ids).await?;
    Ok(changes
        .into_iter()
        .map(|(_, message)| message)
        .zip(reports)
        .collect())
}
