//! A charity project of the marathon's programme: beneficiary, place, year, target, and
//! its report once done.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "charity_project")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The event whose programme funds it (donated halves flow here); `None` for projects
    /// of years the gateway has no event for.
    pub event_id: Option<i64>,
    /// The organization that runs it: only its organizers change it or record gifts to it.
    pub organization_id: i64,
    pub beneficiary: String,
    pub description: String,
    pub city: String,
    pub year: i32,
    pub target_minor: i64,
    pub currency: String,
    pub status: CharityStatus,
    pub report: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum CharityStatus {
    #[sea_orm(string_value = "PLANNED")]
    Planned,
    #[sea_orm(string_value = "IN_PROGRESS")]
    InProgress,
    #[sea_orm(string_value = "COMPLETED")]
    Completed,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::organization::Entity",
        from = "Column::OrganizationId",
        to = "super::organization::Column::Id",
        on_delete = "Restrict"
    )]
    Organization,
}

impl ActiveModelBehavior for ActiveModel {}
