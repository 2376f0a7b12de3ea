//! One line of an event's status history: from what, to what, why, and by whom.

use sea_orm::entity::prelude::*;

use crate::event::EventStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_status_change")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub event_id: i64,
    /// `None` for the first line, when the event was created.
    pub previous_status: Option<EventStatus>,
    pub status: EventStatus,
    pub reason: String,
    /// Translations of `reason`, JSON `[{"language":"RU","text":"…"}]`; none when unset.
    pub reasons: Option<String>,
    /// The event's start as of this change (the new start when rescheduled).
    pub starts_at: DateTimeUtc,
    pub changed_by: Option<i64>,
    pub occurred_at: DateTimeUtc,
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
