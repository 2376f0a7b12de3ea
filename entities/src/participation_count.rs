//! Participation counters: how many registrations of an event fall in each group, kept
//! for the total (no dimension), every single dimension and every pair of dimensions.
//! Maintained in the same transaction as each change to a registration, so reading the
//! figures never scans the registrations.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "participation_count")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_id: i64,
    /// The first dimension's code (`DISTANCE`, …), or "" for the event's total.
    #[sea_orm(primary_key, auto_increment = false)]
    pub dimension_a: String,
    /// The second dimension's code, or "" for a single-dimension count. In a pair the
    /// dimensions are in their fixed order, so each pair is stored once.
    #[sea_orm(primary_key, auto_increment = false)]
    pub dimension_b: String,
    /// The group's key in the first dimension ("" when the runner did not say).
    #[sea_orm(primary_key, auto_increment = false)]
    pub key_a: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key_b: String,
    pub count: i64,
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
}

impl Related<super::event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Event.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
