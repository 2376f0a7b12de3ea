//! The notification log (the outbox): every alert, appended in the same transaction as the
//! change it announces. Its id comes from `notification_counter`, so ids follow commit order
//! without gaps; `published_at` is set once the relay has handed the row to the bus, and
//! `pushes_queued_at` is set only on history appended as already announced (its pushes are
//! never queued). Push and mail deliveries are queued behind cursors of their own
//! (`queue_cursor`), so that no enqueuer locks a log row.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    /// What happened, e.g. `EVENT_STATUS_CHANGED`.
    pub kind: String,
    pub event_id: Option<i64>,
    pub status_change_id: Option<i64>,
    /// The one account a personal notification is for (a refund decision).
    pub account_id: Option<i64>,
    /// The JSON message as published, so a replay sends exactly what live subscribers got.
    pub payload: String,
    pub created_at: DateTimeUtc,
    pub published_at: Option<DateTimeUtc>,
    pub pushes_queued_at: Option<DateTimeUtc>,
    /// Who is mailed (`ALL`, `UNREACHED`, `NONE`); unset on rows older than mail.
    pub email_policy: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
