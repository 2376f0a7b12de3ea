//! A runner's choice for the fee of a cancelled event (one per registration), the amounts
//! it splits into, and the organizer's decision.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refund_request")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub registration_id: i64,
    pub event_id: i64,
    pub account_id: i64,
    pub option: RefundOption,
    pub donation_consent: bool,
    pub status: RefundStatus,
    /// Paid back to the runner, in minor units.
    pub refund_minor: i64,
    /// Kept as starter kit, T-shirt and medal.
    pub kit_share_minor: i64,
    /// Given to the event's charity programme.
    pub donation_minor: i64,
    pub currency: String,
    /// True when the policy's default outcome was applied because nothing was filed.
    pub is_default: bool,
    pub submitted_at: DateTimeUtc,
    pub decided_at: Option<DateTimeUtc>,
    pub decided_by: Option<i64>,
    pub decision_note: Option<String>,
    pub paid_at: Option<DateTimeUtc>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum RefundOption {
    #[sea_orm(string_value = "FULL_REFUND")]
    FullRefund,
    #[sea_orm(string_value = "KIT_AND_DONATE")]
    KitAndDonate,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum RefundStatus {
    #[sea_orm(string_value = "SUBMITTED")]
    Submitted,
    #[sea_orm(string_value = "APPROVED")]
    Approved,
    #[sea_orm(string_value = "REJECTED")]
    Rejected,
    #[sea_orm(string_value = "PAID")]
    Paid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::registration::Entity",
        from = "Column::RegistrationId",
        to = "super::registration::Column::Id",
        on_delete = "Cascade"
    )]
    Registration,
}

impl Related<super::registration::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Registration.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
