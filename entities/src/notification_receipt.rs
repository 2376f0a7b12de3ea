//! A runner's acknowledgement of an alert on one channel: the page showed it, a push
//! was shown, or a push was clicked. Once per (notification, runner, channel).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_receipt")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub notification_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub channel: ReceiptChannel,
    pub created_at: DateTimeUtc,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum ReceiptChannel {
    /// The page showed it (`acknowledgeNotifications`).
    #[sea_orm(string_value = "PAGE")]
    Page,
    /// The service worker showed the push.
    #[sea_orm(string_value = "PUSH_DISPLAYED")]
    PushDisplayed,
    /// The runner clicked the push.
    #[sea_orm(string_value = "PUSH_CLICKED")]
    PushClicked,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
