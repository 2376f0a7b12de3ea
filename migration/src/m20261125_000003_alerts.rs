//! The alert pipeline: gapless notification ids (a counter row), the recipient of personal
//! notifications, and the relay's lease.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Notification {
    Table,
    Id,
    AccountId,
    Kind,
}

#[derive(DeriveIden)]
enum NotificationCounter {
    Table,
    Id,
    LastId,
}

#[derive(DeriveIden)]
enum RelayLease {
    Table,
    Name,
    Holder,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Notification::Table)
                .add_column(big_integer_null(Notification::AccountId))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_notification_account")
                .table(Notification::Table)
                .col(Notification::AccountId)
                .col(Notification::Id)
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_notification_kind")
                .table(Notification::Table)
                .col(Notification::Kind)
                .col(Notification::Id)
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(NotificationCounter::Table)
                .col(integer(NotificationCounter::Id).primary_key())
                .col(big_integer(NotificationCounter::LastId))
                .take(),
        )
        .await?;
        // Start after whatever the log already holds.
        let db = m.get_connection();
        db.execute_unprepared(
            "INSERT INTO notification_counter (id, last_id) SELECT 1, COALESCE(MAX(id), 0) FROM notification",
        )
        .await?;

        m.create_table(
            Table::create()
                .table(RelayLease::Table)
                .col(string(RelayLease::Name).primary_key())
                .col(string(RelayLease::Holder))
                .col(timestamp_with_time_zone(RelayLease::ExpiresAt))
                .take(),
        )
        .await?;
        Ok(())
    }
}
