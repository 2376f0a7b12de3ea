//! A runner's place in an event: distance, bib, the fee paid, T-shirt, starter kit, and
//! the details partners see only in aggregate (gender, birth date, country, city).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "registration")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub event_id: i64,
    pub distance_id: i64,
    pub account_id: i64,
    pub bib: i32,
    /// The fee paid, in minor units, copied from the distance when registering.
    pub fee_minor: i64,
    pub currency: String,
    pub tshirt_size: Option<TshirtSize>,
    pub tshirt_paid: bool,
    pub starter_kit: StarterKit,
    pub state: RegistrationStatus,
    pub gender: Option<Gender>,
    pub birth_date: Option<Date>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    pub city: Option<String>,
    pub registered_at: DateTimeUtc,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum TshirtSize {
    #[sea_orm(string_value = "XS")]
    Xs,
    #[sea_orm(string_value = "S")]
    S,
    #[sea_orm(string_value = "M")]
    M,
    #[sea_orm(string_value = "L")]
    L,
    #[sea_orm(string_value = "XL")]
    Xl,
    #[sea_orm(string_value = "XXL")]
    Xxl,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum StarterKit {
    #[sea_orm(string_value = "PENDING")]
    Pending,
    #[sea_orm(string_value = "READY")]
    Ready,
    #[sea_orm(string_value = "ISSUED")]
    Issued,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum RegistrationStatus {
    #[sea_orm(string_value = "CONFIRMED")]
    Confirmed,
    /// The fee was paid back in full: no kit, no place.
    #[sea_orm(string_value = "REFUNDED")]
    Refunded,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Gender {
    #[sea_orm(string_value = "FEMALE")]
    Female,
    #[sea_orm(string_value = "MALE")]
    Male,
    #[sea_orm(string_value = "OTHER")]
    Other,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::event::Entity",
        from = "Column::EventId",
        to = "super::event::Column::Id",
        on_delete = "Cascade"
    )]
    Event,
    #[sea_orm(
        belongs_to = "super::distance::Entity",
        from = "Column::DistanceId",
        to = "super::distance::Column::Id",
        on_delete = "Restrict"
    )]
    Distance,
    #[sea_orm(
        belongs_to = "super::account::Entity",
        from = "Column::AccountId",
        to = "super::account::Column::Id",
        on_delete = "Restrict"
    )]
    Account,
    #[sea_orm(has_one = "super::refund_request::Entity")]
    RefundRequest,
}

impl Related<super::event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Event.def()
    }
}

impl Related<super::distance::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Distance.def()
    }
}

impl Related<super::refund_request::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RefundRequest.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
