//! A browser's Web Push subscription (the standard PushSubscription JSON: endpoint and
//! keys), owned by a runner, and which events it wants alerts for.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "push_subscription")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    /// The push service URL; unique, so subscribing again updates rather than duplicates.
    #[sea_orm(unique)]
    pub endpoint: String,
    /// The browser's P-256 public key, base64url (65 bytes uncompressed).
    pub p256dh: String,
    /// The browser's auth secret, base64url (16 bytes).
    pub auth: String,
    /// True when the runner named no events: alerts for every event they are registered
    /// for, now or later.
    pub all_registered_events: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::account::Entity",
        from = "Column::AccountId",
        to = "super::account::Column::Id",
        on_delete = "Cascade"
    )]
    Account,
    #[sea_orm(has_many = "super::push_subscription_event::Entity")]
    PushSubscriptionEvent,
}

impl Related<super::push_subscription_event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PushSubscriptionEvent.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
