//! An organization: an organizing body of races (the Courage to be the First Corporate
//! Fund) or a partner (Kaspi.kz, the general sponsor).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organization")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub slug: String,
    pub name: String,
    pub created_at: DateTimeUtc,
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
