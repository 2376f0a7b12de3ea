//! A race: when and where it starts (UTC plus its IANA time zone), its capacity, its
//! lifecycle status and whether registration is open.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub slug: String,
    pub name: String,
    pub description: String,
    pub venue: String,
    pub starts_at: DateTimeUtc,
    /// IANA zone name, e.g. `Asia/Almaty`: deadlines and local times are judged in it.
    pub time_zone: String,
    pub capacity: i32,
    pub status: EventStatus,
    pub registration_state: RegistrationState,
    /// Registrations taken; moved only by a guarded `UPDATE`, so capacity is never oversold.
    pub registered_count: i32,
    /// The last bib number handed out within the event.
    pub last_bib: i32,
    /// Last day (in the event's zone) a refund application is accepted; `None`: no
    /// refunds are offered.
    pub refund_deadline: Option<Date>,
    /// Share of the fee kept as starter kit, T-shirt and medal, in basis points (5000 =
    /// 50%); the rest goes to charity under KIT_AND_DONATE.
    pub kit_share_bp: i32,
    /// First day (in the event's zone) starter kits may be issued.
    pub kit_issue_from: Option<Date>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum EventStatus {
    #[sea_orm(string_value = "SCHEDULED")]
    Scheduled,
    #[sea_orm(string_value = "SUSPENDED")]
    Suspended,
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
    #[sea_orm(string_value = "RESCHEDULED")]
    Rescheduled,
    #[sea_orm(string_value = "COMPLETED")]
    Completed,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum RegistrationState {
    #[sea_orm(string_value = "OPEN")]
    Open,
    #[sea_orm(string_value = "SUSPENDED")]
    Suspended,
    #[sea_orm(string_value = "CLOSED")]
    Closed,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::distance::Entity")]
    Distance,
    #[sea_orm(has_many = "super::event_organization::Entity")]
    EventOrganization,
    #[sea_orm(has_many = "super::event_status_change::Entity")]
    EventStatusChange,
    #[sea_orm(has_many = "super::registration::Entity")]
    Registration,
}

impl Related<super::distance::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Distance.def()
    }
}

impl Related<super::event_organization::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::EventOrganization.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
