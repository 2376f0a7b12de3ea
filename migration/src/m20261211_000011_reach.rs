//! Reach: who an alert was meant for and who it reached. `mail_delivery` holds one row per
//! runner an alert targets (the mail queue, and the reach report's "targeted"), queued from
//! the log behind a cursor (`queue_cursor`, a row per queue: log ids follow commit order
//! without gaps, so one number says what is queued, and no enqueuer locks a log row that
//! the relay is marking published or the other queue wants); the push queue moves to its
//! own cursor too, from the oldest row whose pushes were not queued yet. The change's
//! `email_policy` says whether a mail row is sent at once, only if unacknowledged after a
//! while, or never.
//! `notification_receipt` records each acknowledgement by channel (the page, a push shown,
//! a push clicked). Push deliveries keep their runner and when they were shown or clicked,
//! so a per-delivery token can be honoured once per action.
//!
//! The mail cursor starts at the newest row already in the log: an upgrade must not mail
//! the past.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Notification {
    Table,
    EmailPolicy,
}

#[derive(DeriveIden)]
enum QueueCursor {
    Table,
    Name,
    LastNotificationId,
}

#[derive(DeriveIden)]
enum PushDelivery {
    Table,
    AccountId,
    DisplayedAt,
    ClickedAt,
}

#[derive(DeriveIden)]
enum MailDelivery {
    Table,
    Id,
    NotificationId,
    AccountId,
    EventId,
    Status,
    UnlessAcknowledged,
    Attempts,
    NextAttemptAt,
    ClaimedBy,
    LeaseUntil,
    LastReply,
    CreatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum NotificationReceipt {
    Table,
    NotificationId,
    AccountId,
    Channel,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Two statements: SQLite adds one column per ALTER.
        m.alter_table(
            Table::alter()
                .table(Notification::Table)
                .add_column(string_null(Notification::EmailPolicy))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(QueueCursor::Table)
                .col(string(QueueCursor::Name).primary_key())
                .col(big_integer(QueueCursor::LastNotificationId))
                .take(),
        )
        .await?;
        for column in [
            big_integer_null(PushDelivery::AccountId),
            timestamp_with_time_zone_null(PushDelivery::DisplayedAt),
            timestamp_with_time_zone_null(PushDelivery::ClickedAt),
        ] {
            m.alter_table(
                Table::alter()
                    .table(PushDelivery::Table)
                    .add_column(column)
                    .take(),
            )
            .await?;
        }
        let db = m.get_connection();
        db.execute_unprepared(
            "INSERT INTO queue_cursor (name, last_notification_id) \
             SELECT 'mail', COALESCE(MAX(id), 0) FROM notification",
        )
        .await?;
        // Rows past the push cursor whose pushes were queued already are queued again
        // idempotently (one delivery per notification and subscription).
        db.execute_unprepared(
            "INSERT INTO queue_cursor (name, last_notification_id) \
             SELECT 'push', COALESCE( \
                 (SELECT MIN(id) - 1 FROM notification WHERE pushes_queued_at IS NULL), \
                 (SELECT MAX(id) FROM notification), 0)",
        )
        .await?;
        db.execute_unprepared(
            "UPDATE push_delivery SET account_id = \
             (SELECT s.account_id FROM push_subscription s WHERE s.id = push_delivery.subscription_id)",
        )
        .await?;

        m.create_table(
            Table::create()
                .table(MailDelivery::Table)
                .col(big_pk_auto(MailDelivery::Id))
                .col(big_integer(MailDelivery::NotificationId))
                .col(big_integer(MailDelivery::AccountId))
                .col(big_integer_null(MailDelivery::EventId))
                .col(string(MailDelivery::Status))
                .col(boolean(MailDelivery::UnlessAcknowledged))
                .col(integer(MailDelivery::Attempts))
                .col(timestamp_with_time_zone(MailDelivery::NextAttemptAt))
                .col(string_null(MailDelivery::ClaimedBy))
                .col(timestamp_with_time_zone_null(MailDelivery::LeaseUntil))
                .col(string_null(MailDelivery::LastReply))
                .col(timestamp_with_time_zone(MailDelivery::CreatedAt))
                .col(timestamp_with_time_zone_null(MailDelivery::FinishedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(MailDelivery::Table, MailDelivery::NotificationId)
                        .to(Notification::Table, Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(MailDelivery::Table, MailDelivery::AccountId)
                        .to(Alias::new("account"), Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        // Once per (notification, runner): the queue can never hold a mail twice.
        m.create_index(
            Index::create()
                .name("idx_mail_delivery_once")
                .table(MailDelivery::Table)
                .col(MailDelivery::NotificationId)
                .col(MailDelivery::AccountId)
                .unique()
                .take(),
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX idx_mail_delivery_due ON mail_delivery (next_attempt_at, id) WHERE status = 'PENDING'",
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_mail_delivery_account")
                .table(MailDelivery::Table)
                .col(MailDelivery::AccountId)
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(NotificationReceipt::Table)
                .col(big_integer(NotificationReceipt::NotificationId))
                .col(big_integer(NotificationReceipt::AccountId))
                .col(string(NotificationReceipt::Channel))
                .col(timestamp_with_time_zone(NotificationReceipt::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(NotificationReceipt::NotificationId)
                        .col(NotificationReceipt::AccountId)
                        .col(NotificationReceipt::Channel),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(
                            NotificationReceipt::Table,
                            NotificationReceipt::NotificationId,
                        )
                        .to(Notification::Table, Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(NotificationReceipt::Table, NotificationReceipt::AccountId)
                        .to(Alias::new("account"), Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_push_delivery_notification_account")
                .table(PushDelivery::Table)
                .col(Alias::new("notification_id"))
                .col(PushDelivery::AccountId)
                .take(),
        )
        .await?;
        Ok(())
    }
}
