//! An organization: an organizing body of races (the Courage to be the First Corporate
//! Fund) or a partner (Kaspi.kz, the general sponsor).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organization")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub slug: String,
    pub name: String,
    /// Whether it organizes races or partners (sponsors) them.
    pub kind: OrganizationKind,
    pub created_at: DateTimeUtc,
}

/// What an organization is to the races it is linked to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum OrganizationKind {
    #[sea_orm(string_value = "ORGANIZER")]
    Organizer,
    #[sea_orm(string_value = "PARTNER")]
    Partner,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::event_organization::Entity")]
    EventOrganization,
    #[sea_orm(has_many = "super::account::Entity")]
    Account,
}

impl Related<super::event_organization::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::EventOrganization.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
