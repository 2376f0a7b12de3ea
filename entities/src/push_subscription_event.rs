//! An event a push subscription named explicitly (`subscribePush(eventIds: …)`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "push_subscription_event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub subscription_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::push_subscription::Entity",
        from = "Column::SubscriptionId",
        to = "super::push_subscription::Column::Id",
        on_delete = "Cascade"
    )]
    PushSubscription,
}

impl Related<super::push_subscription::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PushSubscription.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
