//! Who an alert reached: acknowledgements by channel (the page, a push shown, a push
//! clicked), and the reach report an organizer reads per alert, with the runners nobody
//! reached yet so that a director can phone them.
//!
//! An alert's targets are its mail deliveries (one per runner it concerns, whatever the
//! email policy). A runner counts once in the report: acknowledged if any channel
//! acknowledged, emailed if the SMTP server accepted the mail, unreached if neither.

use chrono::{DateTime, Utc};
use entities::notification_receipt::ReceiptChannel;
use entities::{mail_delivery::MailStatus, notification};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, Value};

use super::statement;
use crate::domain::{AckKey, NotificationKind, PushAction};
use crate::error::{ApiError, ApiResult};

/// Acknowledges, for `account_id`, every notification of theirs up to `up_to`, as shown
/// by the page; returns how many were newly acknowledged. `up_to` must be one of the
/// runner's own notifications: another's, or none, is NOT_FOUND (never a hint that it
/// exists).
pub async fn acknowledge_page(
    db: &DatabaseConnection,
    account_id: i64,
    up_to: i64,
    now: DateTime<Utc>,
) -> ApiResult<u64> {
    // Whether it is theirs, in one read: the notification and, for a status change, their
    // registration for its event.
    let backend = db.get_database_backend();
    let theirs = db
        .query_one_raw(statement(
            backend,
            "SELECT n.id FROM notification n WHERE n.id = ? AND (n.account_id = ? OR \
             (n.kind = ? AND EXISTS (SELECT 1 FROM registration r \
                 WHERE r.account_id = ? AND r.event_id = n.event_id)))",
            vec![
                up_to.into(),
                account_id.into(),
                NotificationKind::EventStatusChanged.as_str().into(),
                account_id.into(),
            ],
        ))
        .await?;
    if theirs.is_none() {
        return Err(ApiError::NotFound("notification"));
    }
    let inserted = db
        .execute_raw(statement(
            backend,
            "INSERT INTO notification_receipt (notification_id, account_id, channel, created_at) \
             SELECT n.id, ?, ?, ? FROM notification n \
             WHERE n.id <= ? AND (n.account_id = ? OR (n.kind = ? AND n.event_id IN \
                 (SELECT r.event_id FROM registration r WHERE r.account_id = ?))) \
             ON CONFLICT (notification_id, account_id, channel) DO NOTHING",
            vec![
                account_id.into(),
                ReceiptChannel::Page.into(),
                now.into(),
                up_to.into(),
                account_id.into(),
                NotificationKind::EventStatusChanged.as_str().into(),
                account_id.into(),
            ],
        ))
        .await?
        .rows_affected();
    Ok(inserted)
}

/// [`acknowledge_page`] for many runners in one statement (PostgreSQL; on SQLite one by
/// one): for each `(account_id, up_to)` in turn, how many were newly acknowledged, or
/// `None` where `up_to` is not one of that runner's notifications (NOT_FOUND).
pub async fn acknowledge_pages(
    db: &DatabaseConnection,
    asks: &[(i64, i64)],
    now: DateTime<Utc>,
) -> ApiResult<Vec<Option<u64>>> {
    let backend = db.get_database_backend();
    if backend != sea_orm::DbBackend::Postgres {
        let mut answers = Vec::with_capacity(asks.len());
        for &(account_id, up_to) in asks {
            answers.push(match acknowledge_page(db, account_id, up_to, now).await {
                Ok(count) => Some(count),
                Err(ApiError::NotFound(_)) => None,
                Err(other) => return Err(other),
            });
        }
        return Ok(answers);
    }
    if asks.is_empty() {
        return Ok(Vec::new());
    }
    let rows = vec!["(?::bigint, ?::bigint, ?::integer)"; asks.len()].join(", ");
    let mut values: Vec<Value> = Vec::with_capacity(asks.len() * 3 + 3);
    for (nr, &(account_id, up_to)) in asks.iter().enumerate() {
        values.extend([account_id.into(), up_to.into(), (nr as i32).into()]);
    }
    values.extend([
        NotificationKind::EventStatusChanged.as_str().into(),
        ReceiptChannel::Page.into(),
        now.into(),
    ]);
    // Which asks name one of the asker's own notifications; then every notification of
    // theirs up to it, acknowledged; then, per ask, how many of the asker's were new.
    let sql = format!(
        "WITH asked (account_id, up_to, nr) AS (VALUES {rows}), \
         kind AS (SELECT ?::text AS status_changed), \
         theirs AS (SELECT a.* FROM asked a JOIN notification n ON n.id = a.up_to, kind \
             WHERE n.account_id = a.account_id OR (n.kind = kind.status_changed AND EXISTS \
                 (SELECT 1 FROM registration r WHERE r.account_id = a.account_id \
                     AND r.event_id = n.event_id))), \
         inserted AS (INSERT INTO notification_receipt \
                 (notification_id, account_id, channel, created_at) \
             SELECT DISTINCT n.id, t.account_id, ?, ? FROM theirs t, kind \
                 JOIN notification n ON true \
             WHERE n.id <= t.up_to AND (n.account_id = t.account_id OR \
                 (n.kind = kind.status_changed AND n.event_id IN \
                     (SELECT r.event_id FROM registration r WHERE r.account_id = t.account_id))) \
             ON CONFLICT (notification_id, account_id, channel) DO NOTHING \
             RETURNING account_id) \
         SELECT t.nr, (SELECT COUNT(*) FROM inserted i WHERE i.account_id = t.account_id) \
             AS inserted FROM theirs t"
    );
    let found = db.query_all_raw(statement(backend, &sql, values)).await?;
    let mut answers = vec![None; asks.len()];
    for row in found {
        let nr: i32 = row.try_get("", "nr")?;
        let inserted: i64 = row.try_get("", "inserted")?;
        if let Some(answer) = answers.get_mut(nr as usize) {
            *answer = Some(u64::try_from(inserted).unwrap_or(0));
        }
    }
    Ok(answers)
}

/// A service worker's report that it showed, or that the runner clicked, the push its
/// token names. A token that this key did not make, or one already used for this action,
/// is refused (`INVALID_ACKNOWLEDGEMENT_TOKEN`). Returns the notification acknowledged.
pub async fn acknowledge_push(
    db: &DatabaseConnection,
    key: &AckKey,
    token: &str,
    action: PushAction,
    now: DateTime<Utc>,
) -> ApiResult<i64> {
    let delivery_id = key
        .verify(token)
        .ok_or(ApiError::InvalidAcknowledgementToken)?;
    let (column, channel) = match action {
        PushAction::Displayed => ("displayed_at", ReceiptChannel::PushDisplayed),
        PushAction::Clicked => ("clicked_at", ReceiptChannel::PushClicked),
    };
    let txn = super::begin_write(db).await?;
    let backend = txn.get_database_backend();
    let marked = txn
        .query_one_raw(statement(
            backend,
            &format!(
                "UPDATE push_delivery SET {column} = ? WHERE id = ? AND {column} IS NULL \
                 RETURNING notification_id, account_id"
            ),
            vec![now.into(), delivery_id.into()],
        ))
        .await?;
    let Some(marked) = marked else {
        return Err(ApiError::InvalidAcknowledgementToken);
    };
    let notification_id: i64 = marked.try_get("", "notification_id")?;
    let account_id: Option<i64> = marked.try_get("", "account_id")?;
    if let Some(account_id) = account_id {
        txn.execute_raw(statement(
            backend,
            "INSERT INTO notification_receipt (notification_id, account_id, channel, created_at) \
             VALUES (?, ?, ?, ?) ON CONFLICT (notification_id, account_id, channel) DO NOTHING",
            vec![
                notification_id.into(),
                account_id.into(),
                channel.into(),
                now.into(),
            ],
        ))
        .await?;
    }
    txn.commit().await?;
    Ok(notification_id)
}

/// What one alert reached; each runner counts once per line.
#[derive(Debug, Clone, Default, PartialEq, Eq, FromQueryResult)]
pub struct Reach {
    pub targeted: i64,
    pub acknowledged: i64,
    pub live_seen: i64,
    pub push_delivered: i64,
    pub push_displayed: i64,
    pub push_clicked: i64,
    pub emailed: i64,
    pub email_failed: i64,
    /// Mails still to be sent (waiting for the window, or retrying).
    pub email_pending: i64,
    /// Targeted runners who neither acknowledged nor were emailed.
    pub unreached: i64,
}

/// The report for notification `notification_id` (all zero before its targets are queued).
pub async fn report(db: &impl ConnectionTrait, notification_id: i64) -> ApiResult<Reach> {
    let acknowledged = "EXISTS (SELECT 1 FROM notification_receipt r \
        WHERE r.notification_id = m.notification_id AND r.account_id = m.account_id)";
    let by_channel = "EXISTS (SELECT 1 FROM notification_receipt r \
        WHERE r.notification_id = m.notification_id AND r.account_id = m.account_id \
        AND r.channel = ?)";
    let sql = format!(
        "SELECT COUNT(*) AS targeted, \
         COALESCE(SUM(CASE WHEN {acknowledged} THEN 1 ELSE 0 END), 0) AS acknowledged, \
         COALESCE(SUM(CASE WHEN {by_channel} THEN 1 ELSE 0 END), 0) AS live_seen, \
         COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM push_delivery p \
             WHERE p.notification_id = m.notification_id AND p.account_id = m.account_id \
             AND p.status = ?) THEN 1 ELSE 0 END), 0) AS push_delivered, \
         COALESCE(SUM(CASE WHEN {by_channel} THEN 1 ELSE 0 END), 0) AS push_displayed, \
         COALESCE(SUM(CASE WHEN {by_channel} THEN 1 ELSE 0 END), 0) AS push_clicked, \
         COALESCE(SUM(CASE WHEN m.status = ? THEN 1 ELSE 0 END), 0) AS emailed, \
         COALESCE(SUM(CASE WHEN m.status = ? THEN 1 ELSE 0 END), 0) AS email_failed, \
         COALESCE(SUM(CASE WHEN m.status = ? THEN 1 ELSE 0 END), 0) AS email_pending, \
         COALESCE(SUM(CASE WHEN m.status <> ? AND NOT {acknowledged} THEN 1 ELSE 0 END), 0) AS unreached \
         FROM mail_delivery m WHERE m.notification_id = ?"
    );
    let values: Vec<Value> = vec![
        ReceiptChannel::Page.into(),
        entities::push_delivery::DeliveryStatus::Delivered.into(),
        ReceiptChannel::PushDisplayed.into(),
        ReceiptChannel::PushClicked.into(),
        MailStatus::Sent.into(),
        MailStatus::Failed.into(),
        MailStatus::Pending.into(),
        MailStatus::Sent.into(),
        notification_id.into(),
    ];
    let row = db
        .query_one_raw(statement(db.get_database_backend(), &sql, values))
        .await?;
    Ok(match row {
        Some(row) => Reach::from_query_result(&row, "")?,
        None => Reach::default(),
    })
}

/// Which runners of a report to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReachFilter {
    /// Neither acknowledged nor emailed (yet).
    Unreached,
    /// Their mail was refused for good.
    EmailFailed,
}

/// A runner in a report's list.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct ReachedRunner {
    pub account_id: i64,
    pub display_name: String,
    pub email: String,
    pub mail_status: MailStatus,
    /// The SMTP server's refusal, when there was one.
    pub last_reply: Option<String>,
}

/// Up to `limit` runners of `filter` after account `after` (by account id).
pub async fn runners(
    db: &impl ConnectionTrait,
    notification_id: i64,
    filter: ReachFilter,
    after: i64,
    limit: u64,
) -> ApiResult<Vec<ReachedRunner>> {
    let (condition, value): (&str, Value) = match filter {
        ReachFilter::Unreached => (
            "m.status <> ? AND NOT EXISTS (SELECT 1 FROM notification_receipt r \
             WHERE r.notification_id = m.notification_id AND r.account_id = m.account_id)",
            MailStatus::Sent.into(),
        ),
        ReachFilter::EmailFailed => ("m.status = ?", MailStatus::Failed.into()),
    };
    let sql = format!(
        "SELECT a.id AS account_id, a.display_name, a.email, m.status AS mail_status, m.last_reply \
         FROM mail_delivery m JOIN account a ON a.id = m.account_id \
         WHERE m.notification_id = ? AND a.id > ? AND {condition} ORDER BY a.id LIMIT ?"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            &sql,
            vec![notification_id.into(), after.into(), value, limit.into()],
        ))
        .await?;
    Ok(rows
        .iter()
        .map(|row| ReachedRunner::from_query_result(row, ""))
        .collect::<Result<_, _>>()?)
}

/// The event a notification belongs to (for the organizer check), if it exists.
pub async fn event_of(db: &impl ConnectionTrait, notification_id: i64) -> ApiResult<Option<i64>> {
    Ok(notification::Entity::find_by_id(notification_id)
        .one(db)
        .await?
        .and_then(|n| n.event_id))
}
