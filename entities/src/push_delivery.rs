//! One push message to one subscription for one notification: the queue the push workers
//! claim from, and afterwards the record organizers count (sent, delivered, failed,
//! pruned).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "push_delivery")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub notification_id: i64,
    /// Nulled when the subscription is deleted (pruned, or the runner unsubscribed).
    pub subscription_id: Option<i64>,
    pub event_id: Option<i64>,
    /// The runner whose browser it is (kept when the subscription goes).
    pub account_id: Option<i64>,
    pub status: DeliveryStatus,
    /// Requests made so far (a claim counts as one).
    pub attempts: i32,
    /// Not to be sent before this (backoff, Retry-After).
    pub next_attempt_at: DateTimeUtc,
    /// The instance working on it, until `lease_until`; an expired lease is claimable.
    pub claimed_by: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed (never the payload or keys).
    pub last_error: Option<String>,
    /// Why a FAILED delivery was given up, as a class to count by.
    pub failure_class: Option<FailureClass>,
    pub created_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    /// When the service worker reported showing it, and a click on it (each honoured once).
    pub displayed_at: Option<DateTimeUtc>,
    pub clicked_at: Option<DateTimeUtc>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum DeliveryStatus {
    /// Waiting to be sent (or re-sent after a 429/5xx).
    #[sea_orm(string_value = "PENDING")]
    Pending,
    /// The push service accepted it (201/202).
    #[sea_orm(string_value = "DELIVERED")]
    Delivered,
    /// Given up: a final 4xx, or too many attempts.
    #[sea_orm(string_value = "FAILED")]
    Failed,
    /// The push service said the subscription is gone (404/410); it was deleted.
    #[sea_orm(string_value = "PRUNED")]
    Pruned,
    /// The subscription was deleted before this could be sent.
    #[sea_orm(string_value = "DROPPED")]
    Dropped,
}

/// Why a delivery was given up.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum FailureClass {
    /// The push service refused it for good: a 4xx other than 404, 410 and 429.
    #[sea_orm(string_value = "REJECTED")]
    Rejected,
    /// The push service answered 429 or 5xx until the attempts ran out.
    #[sea_orm(string_value = "UNAVAILABLE")]
    Unavailable,
    /// No answer (connection, TLS, DNS, timeout) until the attempts ran out.
    #[sea_orm(string_value = "NETWORK")]
    Network,
    /// Never sent: the endpoint is outside the push policy (host, https, private address).
    #[sea_orm(string_value = "REFUSED")]
    Refused,
    /// Never sent: the subscription's keys or the alert could not be encrypted or signed.
    #[sea_orm(string_value = "INVALID")]
    Invalid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
