//! Web Push deliveries are queued from the log itself, not by the relay after publishing:
//! a Redis outage must not hold pushes back. `pushes_queued_at` marks the rows done; rows
//! already published had theirs queued by the relay, so they start marked.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Notification {
    Table,
    PushesQueuedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Notification::Table)
                .add_column(timestamp_with_time_zone_null(Notification::PushesQueuedAt))
                .take(),
        )
        .await?;
        let db = m.get_connection();
        db.execute_unprepared(
            "UPDATE notification SET pushes_queued_at = published_at WHERE published_at IS NOT NULL",
        )
        .await?;
        // A partial index (valid on both databases): the enqueuer looks only for the few
        // rows still waiting.
        db.execute_unprepared(
            "CREATE INDEX idx_notification_push_unqueued ON notification (id) WHERE pushes_queued_at IS NULL",
        )
        .await?;
        Ok(())
    }
}
