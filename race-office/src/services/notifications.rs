//! The notification log, whole: taking gap-free ids and appending rows (inside the
//! transaction of the change they announce), reading them back decoded (for hubs, replays
//! and the push composer), and the relay's bookkeeping (its lease and publish marks) and the
//! push enqueuer's (which rows have had their deliveries queued).
//!
//! Every notification id comes from the single `notification_counter` row, whose lock is
//! held until the appending transaction ends; so ids are handed out in commit order with no
//! gaps, and anyone who has seen id N knows every lower id is committed and readable.
//!
//! Functions that background workers call return `DbErr`, so a worker can log the database's
//! own words; resolvers turn it into `ApiError` with `?`.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use entities::{event, notification, notification_counter, relay_lease};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::Serialize;

use crate::domain::{Notice, NotificationKind, StatusChangeMessage};
use crate::error::{ApiError, ApiResult};

pub fn encode(message: &impl Serialize) -> ApiResult<String> {
    serde_json::to_string(message)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("encoding notification")))
}

/// Takes the next notification id. Call it inside the transaction that appends the row,
/// as early as the transaction's order allows: the lock lasts until commit.
pub async fn next_id(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let taken = notification_counter::Entity::update_many()
        .col_expr(
            notification_counter::Column::LastId,
            Expr::col(notification_counter::Column::LastId).add(1),
        )
        .filter(notification_counter::Column::Id.eq(1))
        .exec_with_returning(db)
        .await?;
    taken
        .first()
        .map(|row| row.last_id)
        .ok_or_else(|| DbErr::RecordNotFound("the notification_counter row is missing".into()))
}

/// A row to append.
pub struct Outgoing {
    pub kind: NotificationKind,
    pub event_id: Option<i64>,
    pub status_change_id: Option<i64>,
    pub account_id: Option<i64>,
    pub payload: String,
    pub created_at: DateTime<Utc>,
    /// Who is mailed about it.
    pub email_policy: crate::domain::EmailPolicy,
    /// Set for history that must not be announced again (the demo's 2020 cancellation):
    /// the row starts published and with its pushes queued (its email policy says `NONE`).
    pub announced_at: Option<DateTime<Utc>>,
}

pub async fn insert(
    db: &impl ConnectionTrait,
    id: i64,
    row: Outgoing,
) -> Result<notification::Model, DbErr> {
    notification::ActiveModel {
        id: Set(id),
        kind: Set(row.kind.as_str().into()),
        event_id: Set(row.event_id),
        status_change_id: Set(row.status_change_id),
        account_id: Set(row.account_id),
        payload: Set(row.payload),
        created_at: Set(row.created_at),
        published_at: Set(row.announced_at),
        pushes_queued_at: Set(row.announced_at),
        email_policy: Set(Some(row.email_policy.as_str().into())),
    }
    .insert(db)
    .await
}

/// Takes an id and appends in one call, for appenders with nothing to order before it.
pub async fn append(
    db: &impl ConnectionTrait,
    row: Outgoing,
) -> Result<notification::Model, DbErr> {
    let id = next_id(db).await?;
    insert(db, id, row).await
}

/// The highest id in the log (0 when empty).
pub async fn last_id(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let row = notification_counter::Entity::find_by_id(1).one(db).await?;
    Ok(row.map(|r| r.last_id).unwrap_or(0))
}

/// Notices after `after_id` up to `up_to`, oldest first, at most `limit`, each with its
/// event as it is now (the events read in one query): what a hub broadcasts.
pub async fn notices_after(
    db: &impl ConnectionTrait,
    after_id: i64,
    up_to: i64,
    limit: u64,
) -> Result<Vec<Notice>, DbErr> {
    let rows = notification::Entity::find()
        .filter(notification::Column::Id.gt(after_id))
        .filter(notification::Column::Id.lte(up_to))
        .order_by_asc(notification::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    let event_ids: Vec<i64> = rows.iter().filter_map(|r| r.event_id).collect();
    let events: HashMap<i64, Arc<event::Model>> = if event_ids.is_empty() {
        HashMap::new()
    } else {
        event::Entity::find()
            .filter(event::Column::Id.is_in(event_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|e| (e.id, Arc::new(e)))
            .collect()
    };
    Ok(rows
        .iter()
        .map(|row| {
            let event = row.event_id.and_then(|id| events.get(&id).cloned());
            Notice::decode(row, event)
        })
        .collect())
}

/// The notices with these ids, decoded, without their events (the push composer needs
/// only the message).
pub async fn by_ids(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i64>,
) -> Result<Vec<Notice>, DbErr> {
    decoded(
        db,
        notification::Entity::find().filter(notification::Column::Id.is_in(ids)),
    )
    .await
}

/// The notice that announced status change `status_change_id`.
pub async fn notice_of_status_change(
    db: &impl ConnectionTrait,
    status_change_id: i64,
) -> Result<Option<i64>, DbErr> {
    notification::Entity::find()
        .select_only()
        .column(notification::Column::Id)
        .filter(notification::Column::StatusChangeId.eq(status_change_id))
        .into_tuple()
        .one(db)
        .await
}

/// Status changes after the status-change cursor `after` and up to notice `up_to`, of one
/// event or all, decoded.
pub async fn status_changes_after(
    db: &impl ConnectionTrait,
    after: i64,
    event_id: Option<i64>,
    up_to: i64,
    limit: u64,
) -> Result<Vec<Notice>, DbErr> {
    let mut condition = Condition::all()
        .add(notification::Column::Kind.eq(NotificationKind::EventStatusChanged.as_str()))
        .add(notification::Column::StatusChangeId.gt(after))
        .add(notification::Column::Id.lte(up_to));
    if let Some(event_id) = event_id {
        condition = condition.add(notification::Column::EventId.eq(event_id));
    }
    decoded(
        db,
        notification::Entity::find()
            .filter(condition)
            .order_by_asc(notification::Column::Id)
            .limit(limit),
    )
    .await
}

/// The newest `limit` status changes of an event, newest first: (notification id, message).
pub async fn newest_status_changes(
    db: &impl ConnectionTrait,
    event_id: i64,
    limit: u64,
) -> Result<Vec<(i64, StatusChangeMessage)>, DbErr> {
    Ok(notification::Entity::find()
        .filter(notification::Column::EventId.eq(event_id))
        .filter(notification::Column::Kind.eq(NotificationKind::EventStatusChanged.as_str()))
        .order_by_desc(notification::Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .iter()
        .filter_map(|row| Some((row.id, Notice::decode(row, None).status_change().cloned()?)))
        .collect())
}

/// A runner's notifications after `after_id`: status changes of the given events and
/// notifications addressed to the account, decoded.
pub async fn personal_after(
    db: &impl ConnectionTrait,
    account_id: i64,
    event_ids: &[i64],
    after_id: i64,
    up_to: i64,
    limit: u64,
) -> Result<Vec<Notice>, DbErr> {
    decoded(
        db,
        notification::Entity::find()
            .filter(
                Condition::all()
                    .add(notification::Column::Id.gt(after_id))
                    .add(notification::Column::Id.lte(up_to))
                    .add(mine(account_id, event_ids)),
            )
            .order_by_asc(notification::Column::Id)
            .limit(limit),
    )
    .await
}

/// The rows a query finds, decoded, without their events.
async fn decoded(
    db: &impl ConnectionTrait,
    query: sea_orm::Select<notification::Entity>,
) -> Result<Vec<Notice>, DbErr> {
    Ok(query
        .all(db)
        .await?
        .iter()
        .map(|row| Notice::decode(row, None))
        .collect())
}

/// The relay's lease: one instance at a time publishes, so rows go out once and in order.
const RELAY_LEASE: &str = "outbox";

/// Takes or renews the relay lease until `until`; true when `instance` holds it.
pub async fn hold_relay_lease(
    db: &impl ConnectionTrait,
    instance: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let renewed = relay_lease::Entity::update_many()
        .col_expr(
            relay_lease::Column::Holder,
            Expr::value(instance.to_owned()),
        )
        .col_expr(relay_lease::Column::ExpiresAt, Expr::value(until))
        .filter(relay_lease::Column::Name.eq(RELAY_LEASE))
        .filter(
            Condition::any()
                .add(relay_lease::Column::Holder.eq(instance))
                .add(relay_lease::Column::ExpiresAt.lt(now)),
        )
        .exec(db)
        .await?;
    if renewed.rows_affected == 1 {
        return Ok(true);
    }
    let inserted = relay_lease::Entity::insert(relay_lease::ActiveModel {
        name: Set(RELAY_LEASE.into()),
        holder: Set(instance.to_owned()),
        expires_at: Set(until),
    })
    .on_conflict(
        OnConflict::column(relay_lease::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(inserted == 1)
}

/// Gives the relay lease up, so another instance takes over at once.
pub async fn release_relay_lease(
    db: &impl ConnectionTrait,
    instance: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    relay_lease::Entity::update_many()
        .col_expr(relay_lease::Column::ExpiresAt, Expr::value(now))
        .filter(relay_lease::Column::Name.eq(RELAY_LEASE))
        .filter(relay_lease::Column::Holder.eq(instance))
        .exec(db)
        .await?;
    Ok(())
}

/// Rows not yet published, oldest first: (id, created at).
pub async fn unpublished(
    db: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<(i64, DateTime<Utc>)>, DbErr> {
    notification::Entity::find()
        .select_only()
        .column(notification::Column::Id)
        .column(notification::Column::CreatedAt)
        .filter(notification::Column::PublishedAt.is_null())
        .order_by_asc(notification::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}

pub async fn mark_published(
    db: &impl ConnectionTrait,
    ids: &[i64],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    notification::Entity::update_many()
        .col_expr(notification::Column::PublishedAt, Expr::value(now))
        .filter(notification::Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

/// A queue fed from the log behind a cursor of its own.
#[derive(Debug, Clone, Copy)]
pub enum Cursor {
    Push,
    Mail,
}

impl Cursor {
    fn name(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Mail => "mail",
        }
    }
}

/// Takes a queue's cursor (the last log id it has queued), locking it until the
/// transaction ends: one enqueuer of that queue at a time, and never a log row locked.
pub async fn take_cursor(db: &impl ConnectionTrait, cursor: Cursor) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(super::statement(
            db.get_database_backend(),
            "UPDATE queue_cursor SET last_notification_id = last_notification_id \
             WHERE name = ? RETURNING last_notification_id",
            vec![cursor.name().into()],
        ))
        .await?
        .ok_or_else(|| {
            DbErr::RecordNotFound(format!("the {} queue cursor is missing", cursor.name()))
        })?;
    row.try_get("", "last_notification_id")
}

/// Moves a queue's cursor (inside the transaction that took it).
pub async fn move_cursor(db: &impl ConnectionTrait, cursor: Cursor, to: i64) -> Result<(), DbErr> {
    db.execute_raw(super::statement(
        db.get_database_backend(),
        "UPDATE queue_cursor SET last_notification_id = ? WHERE name = ?",
        vec![to.into(), cursor.name().into()],
    ))
    .await?;
    Ok(())
}

/// Log rows after `after_id`, oldest first, at most `limit` (the mail enqueuer's next).
pub async fn rows_after(
    db: &impl ConnectionTrait,
    after_id: i64,
    limit: u64,
) -> Result<Vec<notification::Model>, DbErr> {
    notification::Entity::find()
        .filter(notification::Column::Id.gt(after_id))
        .order_by_asc(notification::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// A runner's notifications before `before_id` (all when `None`), newest first, at most
/// `limit`: the page's alert log.
pub async fn personal_before(
    db: &impl ConnectionTrait,
    account_id: i64,
    event_ids: &[i64],
    before_id: Option<i64>,
    limit: u64,
) -> Result<Vec<Notice>, DbErr> {
    let mut condition = Condition::all().add(mine(account_id, event_ids));
    if let Some(before) = before_id {
        condition = condition.add(notification::Column::Id.lt(before));
    }
    decoded(
        db,
        notification::Entity::find()
            .filter(condition)
            .order_by_desc(notification::Column::Id)
            .limit(limit),
    )
    .await
}

/// Which log rows are a runner's: addressed to the account, or status changes of the
/// events they are registered for.
fn mine(account_id: i64, event_ids: &[i64]) -> Condition {
    Condition::any()
        .add(notification::Column::AccountId.eq(account_id))
        .add(
            Condition::all()
                .add(notification::Column::Kind.eq(NotificationKind::EventStatusChanged.as_str()))
                .add(notification::Column::EventId.is_in(event_ids.iter().copied())),
        )
}

/// Commits a transaction that appended to the log, then wakes this instance's relay and
/// push worker: the one way a change that announces something ends, so that no caller
/// can forget the bell (rung only after the commit: woken earlier, a reader would not see
/// the row yet).
pub async fn commit_announced(
    txn: sea_orm::DatabaseTransaction,
    bell: &crate::context::OutboxBell,
) -> Result<(), DbErr> {
    txn.commit().await?;
    bell.ring();
    Ok(())
}
