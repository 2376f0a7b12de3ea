//! One runner an alert targets, and the mail that tells them: queued from the notification
//! log for every runner the alert concerns (so the rows are also the reach report's
//! "targeted"), claimed in batches by the mail workers of any instance, kept afterwards.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mail_delivery")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub notification_id: i64,
    pub account_id: i64,
    pub event_id: Option<i64>,
    pub status: MailStatus,
    /// Sent only if the runner has not acknowledged the alert by `next_attempt_at`
    /// (`EmailPolicy.UNREACHED`).
    pub unless_acknowledged: bool,
    /// SMTP conversations tried so far (a claim counts as one).
    pub attempts: i32,
    /// Not to be sent before this (the escalation window, then back-off).
    pub next_attempt_at: DateTimeUtc,
    /// The instance working on it, until `lease_until`; an expired lease is claimable.
    pub claimed_by: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    /// The SMTP server's last refusal, or why the mail could not be made.
    pub last_reply: Option<String>,
    pub created_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum MailStatus {
    /// Waiting for its time (or for a retry after a temporary refusal).
    #[sea_orm(string_value = "PENDING")]
    Pending,
    /// The SMTP server accepted it: the runner is reached.
    #[sea_orm(string_value = "SENT")]
    Sent,
    /// Refused for good (a 5xx reply, an address that cannot be written), or out of
    /// attempts.
    #[sea_orm(string_value = "FAILED")]
    Failed,
    /// Not needed: the runner acknowledged the alert first.
    #[sea_orm(string_value = "ACKNOWLEDGED")]
    Acknowledged,
    /// Not mailed by the organizer's choice (`EmailPolicy.NONE`).
    #[sea_orm(string_value = "NOT_MAILED")]
    NotMailed,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
