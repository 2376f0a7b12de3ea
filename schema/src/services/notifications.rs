//! The notification log: taking gap-free ids, appending rows, decoding them into notices,
//! and reading them back for replay.
//!
//! Every notification id comes from the single `notification_counter` row, whose lock is
//! held until the appending transaction ends; so ids are handed out in commit order with no
//! gaps, and anyone who has seen id N knows every lower id is committed and readable.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use entities::event::EventStatus;
use entities::refund_request::{RefundOption, RefundStatus};
use entities::{event, notification, notification_counter};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};

/// What a notification announces; stored as its SCREAMING_CASE name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    EventStatusChanged,
    RefundDecided,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EventStatusChanged => "EVENT_STATUS_CHANGED",
            Self::RefundDecided => "REFUND_DECIDED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "EVENT_STATUS_CHANGED" => Some(Self::EventStatusChanged),
            "REFUND_DECIDED" => Some(Self::RefundDecided),
            _ => None,
        }
    }
}

/// What the log carries for a status change: enough for a push message or a WebSocket
/// payload without another query.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusChangeMessage {
    pub status_change_id: i64,
    pub event_id: i64,
    pub event_name: String,
    pub event_slug: String,
    pub time_zone: String,
    pub previous_status: Option<EventStatus>,
    pub status: EventStatus,
    pub reason: String,
    pub starts_at: DateTime<Utc>,
    pub occurred_at: DateTime<Utc>,
}

/// What the log carries for an organizer's decision on a runner's refund request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundDecisionMessage {
    pub refund_request_id: i64,
    pub registration_id: i64,
    pub event_id: i64,
    pub event_name: String,
    pub option: RefundOption,
    pub status: RefundStatus,
    pub note: Option<String>,
    pub decided_at: DateTime<Utc>,
}

pub fn encode(message: &impl Serialize) -> ApiResult<String> {
    serde_json::to_string(message)
        .map_err(|e| ApiError::Internal(format!("encoding notification: {e}")))
}

/// Takes the next notification id. Call it inside the transaction that appends the row,
/// as early as the transaction's order allows: the lock lasts until commit.
pub async fn next_id(db: &impl ConnectionTrait) -> ApiResult<i64> {
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
        .ok_or_else(|| ApiError::Internal("notification_counter row is missing".into()))
}

/// A row to append.
pub struct Outgoing {
    pub kind: NotificationKind,
    pub event_id: Option<i64>,
    pub status_change_id: Option<i64>,
    pub account_id: Option<i64>,
    pub payload: String,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

pub async fn insert(
    db: &impl ConnectionTrait,
    id: i64,
    row: Outgoing,
) -> ApiResult<notification::Model> {
    Ok(notification::ActiveModel {
        id: Set(id),
        kind: Set(row.kind.as_str().into()),
        event_id: Set(row.event_id),
        status_change_id: Set(row.status_change_id),
        account_id: Set(row.account_id),
        payload: Set(row.payload),
        created_at: Set(row.created_at),
        published_at: Set(row.published_at),
    }
    .insert(db)
    .await?)
}

/// Takes an id and appends in one call, for appenders with nothing to order before it.
pub async fn append(db: &impl ConnectionTrait, row: Outgoing) -> ApiResult<notification::Model> {
    let id = next_id(db).await?;
    insert(db, id, row).await
}

/// A notification decoded once, shared by every local subscriber.
#[derive(Debug, Clone)]
pub struct Notice {
    pub id: i64,
    pub kind: Option<NotificationKind>,
    pub event_id: Option<i64>,
    pub account_id: Option<i64>,
    pub status_change: Option<StatusChangeMessage>,
    pub refund_decision: Option<RefundDecisionMessage>,
    /// The event as it is now, loaded once per notice so that subscribers do not query it.
    pub event: Option<Arc<event::Model>>,
}

impl Notice {
    /// Decodes a log row; an unreadable payload leaves its message out (and is logged).
    pub fn decode(row: &notification::Model, event: Option<Arc<event::Model>>) -> Self {
        let kind = NotificationKind::parse(&row.kind);
        let (status_change, refund_decision) = match kind {
            Some(NotificationKind::EventStatusChanged) => (decode_payload(row), None),
            Some(NotificationKind::RefundDecided) => (None, decode_payload(row)),
            None => (None, None),
        };
        Self {
            id: row.id,
            kind,
            event_id: row.event_id,
            account_id: row.account_id,
            status_change,
            refund_decision,
            event,
        }
    }
}

fn decode_payload<T: serde::de::DeserializeOwned>(row: &notification::Model) -> Option<T> {
    serde_json::from_str(&row.payload)
        .map_err(|error| tracing::error!(id = row.id, %error, "unreadable notification payload"))
        .ok()
}

/// Log rows after `after_id`, oldest first, at most `limit`.
pub async fn after(
    db: &impl ConnectionTrait,
    after_id: i64,
    limit: u64,
) -> ApiResult<Vec<notification::Model>> {
    Ok(notification::Entity::find()
        .filter(notification::Column::Id.gt(after_id))
        .order_by_asc(notification::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Status changes after the status-change cursor `after`, of one event or all.
pub async fn status_changes_after(
    db: &impl ConnectionTrait,
    after: i64,
    event_id: Option<i64>,
    limit: u64,
) -> ApiResult<Vec<notification::Model>> {
    let mut condition = Condition::all()
        .add(notification::Column::Kind.eq(NotificationKind::EventStatusChanged.as_str()))
        .add(notification::Column::StatusChangeId.gt(after));
    if let Some(event_id) = event_id {
        condition = condition.add(notification::Column::EventId.eq(event_id));
    }
    Ok(notification::Entity::find()
        .filter(condition)
        .order_by_asc(notification::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// A runner's notifications after `after_id`: status changes of the given events and
/// notifications addressed to the account.
pub async fn personal_after(
    db: &impl ConnectionTrait,
    account_id: i64,
    event_ids: &[i64],
    after_id: i64,
    limit: u64,
) -> ApiResult<Vec<notification::Model>> {
    let mine = Condition::any()
        .add(notification::Column::AccountId.eq(account_id))
        .add(
            Condition::all()
                .add(notification::Column::Kind.eq(NotificationKind::EventStatusChanged.as_str()))
                .add(notification::Column::EventId.is_in(event_ids.iter().copied())),
        );
    Ok(notification::Entity::find()
        .filter(
            Condition::all()
                .add(notification::Column::Id.gt(after_id))
                .add(mine),
        )
        .order_by_asc(notification::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// The highest id in the log (0 when empty).
pub async fn last_id(db: &impl ConnectionTrait) -> ApiResult<i64> {
    let row = notification_counter::Entity::find_by_id(1).one(db).await?;
    Ok(row.map(|r| r.last_id).unwrap_or(0))
}
