//! Web Push: the VAPID key pair every instance signs with, runners' push subscriptions and
//! the events they follow, and the delivery queue the push workers drain.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Account {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Event {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Notification {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum VapidKey {
    Table,
    Id,
    PrivateKey,
    PublicKey,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PushSubscription {
    Table,
    Id,
    AccountId,
    Endpoint,
    P256dh,
    Auth,
    AllRegisteredEvents,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PushSubscriptionEvent {
    Table,
    SubscriptionId,
    EventId,
}

#[derive(DeriveIden)]
enum PushDelivery {
    Table,
    Id,
    NotificationId,
    SubscriptionId,
    EventId,
    Status,
    Attempts,
    NextAttemptAt,
    ClaimedBy,
    LeaseUntil,
    LastStatusCode,
    LastError,
    CreatedAt,
    FinishedAt,
}

fn references(
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(on_delete)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One row: generated on first start (or given by VAPID_PRIVATE_KEY), shared by all
        // instances so that every one signs with the key browsers subscribed with.
        m.create_table(
            Table::create()
                .table(VapidKey::Table)
                .col(integer(VapidKey::Id).primary_key())
                .col(string(VapidKey::PrivateKey))
                .col(string(VapidKey::PublicKey))
                .col(timestamp_with_time_zone(VapidKey::CreatedAt))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PushSubscription::Table)
                .col(big_pk_auto(PushSubscription::Id))
                .col(big_integer(PushSubscription::AccountId))
                .col(string_uniq(PushSubscription::Endpoint))
                .col(string(PushSubscription::P256dh))
                .col(string(PushSubscription::Auth))
                .col(boolean(PushSubscription::AllRegisteredEvents))
                .col(timestamp_with_time_zone(PushSubscription::CreatedAt))
                .col(timestamp_with_time_zone(PushSubscription::UpdatedAt))
                .foreign_key(&mut references(
                    (PushSubscription::Table, PushSubscription::AccountId),
                    (Account::Table, Account::Id),
                    ForeignKeyAction::Cascade,
                ))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_push_subscription_account")
                .table(PushSubscription::Table)
                .col(PushSubscription::AccountId)
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PushSubscriptionEvent::Table)
                .col(big_integer(PushSubscriptionEvent::SubscriptionId))
                .col(big_integer(PushSubscriptionEvent::EventId))
                .primary_key(
                    Index::create()
                        .col(PushSubscriptionEvent::SubscriptionId)
                        .col(PushSubscriptionEvent::EventId),
                )
                .foreign_key(&mut references(
                    (
                        PushSubscriptionEvent::Table,
                        PushSubscriptionEvent::SubscriptionId,
                    ),
                    (PushSubscription::Table, PushSubscription::Id),
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut references(
                    (PushSubscriptionEvent::Table, PushSubscriptionEvent::EventId),
                    (Event::Table, Event::Id),
                    ForeignKeyAction::Cascade,
                ))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_push_subscription_event_event")
                .table(PushSubscriptionEvent::Table)
                .col(PushSubscriptionEvent::EventId)
                .take(),
        )
        .await?;

        // A delivery outlives its subscription (pruned on 404/410) so that organizers can
        // still count it: the subscription reference is nulled, not cascaded.
        m.create_table(
            Table::create()
                .table(PushDelivery::Table)
                .col(big_pk_auto(PushDelivery::Id))
                .col(big_integer(PushDelivery::NotificationId))
                .col(big_integer_null(PushDelivery::SubscriptionId))
                .col(big_integer_null(PushDelivery::EventId))
                .col(string(PushDelivery::Status))
                .col(integer(PushDelivery::Attempts).default(0))
                .col(timestamp_with_time_zone(PushDelivery::NextAttemptAt))
                .col(string_null(PushDelivery::ClaimedBy))
                .col(timestamp_with_time_zone_null(PushDelivery::LeaseUntil))
                .col(integer_null(PushDelivery::LastStatusCode))
                .col(string_null(PushDelivery::LastError))
                .col(timestamp_with_time_zone(PushDelivery::CreatedAt))
                .col(timestamp_with_time_zone_null(PushDelivery::FinishedAt))
                .foreign_key(&mut references(
                    (PushDelivery::Table, PushDelivery::NotificationId),
                    (Notification::Table, Notification::Id),
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut references(
                    (PushDelivery::Table, PushDelivery::SubscriptionId),
                    (PushSubscription::Table, PushSubscription::Id),
                    ForeignKeyAction::SetNull,
                ))
                .take(),
        )
        .await?;
        // Enqueueing is idempotent: a relay that publishes a row twice enqueues it once.
        m.create_index(
            Index::create()
                .name("push_delivery_notification_subscription_key")
                .table(PushDelivery::Table)
                .col(PushDelivery::NotificationId)
                .col(PushDelivery::SubscriptionId)
                .unique()
                .take(),
        )
        .await?;
        // What the workers scan for: due, pending deliveries.
        m.create_index(
            Index::create()
                .name("idx_push_delivery_due")
                .table(PushDelivery::Table)
                .col(PushDelivery::Status)
                .col(PushDelivery::NextAttemptAt)
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_push_delivery_subscription")
                .table(PushDelivery::Table)
                .col(PushDelivery::SubscriptionId)
                .take(),
        )
        .await?;
        Ok(())
    }
}
