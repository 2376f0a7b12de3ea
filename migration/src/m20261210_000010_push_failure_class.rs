//! A delivery given up says why in a class an organizer can count (`REJECTED`,
//! `UNAVAILABLE`, `NETWORK`, `REFUSED`, `INVALID`), beside its free-text `last_error`.
//! Deliveries that failed before have no class.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PushDelivery {
    Table,
    FailureClass,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(PushDelivery::Table)
                .add_column(string_null(PushDelivery::FailureClass))
                .take(),
        )
        .await
    }
}
