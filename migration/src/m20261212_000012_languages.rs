//! Languages: each account reads alerts and mail in its own (`KK`, `RU`, `EN`; accounts
//! made before read English, as they did), chosen at sign-up (kept on the pending sign-up
//! until it is confirmed); and a status change may carry translations of its reason
//! (JSON: `[{"language":"RU","text":"…"}]`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Account {
    Table,
    Language,
}

#[derive(DeriveIden)]
enum PendingSignUp {
    Table,
    Language,
}

#[derive(DeriveIden)]
enum EventStatusChange {
    Table,
    Reasons,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Account::Table)
                .add_column(string(Account::Language).default("EN"))
                .take(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(PendingSignUp::Table)
                .add_column(string_null(PendingSignUp::Language))
                .take(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(EventStatusChange::Table)
                .add_column(text_null(EventStatusChange::Reasons))
                .take(),
        )
        .await
    }
}
