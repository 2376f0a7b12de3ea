//! Sign-ups waiting for their address to be confirmed: one per address, holding the
//! account's details and the SHA-256 of the single-use confirmation token mailed to it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PendingSignUp {
    Table,
    Id,
    Email,
    DisplayName,
    PasswordHash,
    TokenHash,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(PendingSignUp::Table)
                .col(big_pk_auto(PendingSignUp::Id))
                .col(string_uniq(PendingSignUp::Email))
                .col(string(PendingSignUp::DisplayName))
                .col(string(PendingSignUp::PasswordHash))
                .col(string_uniq(PendingSignUp::TokenHash))
                .col(timestamp_with_time_zone(PendingSignUp::CreatedAt))
                .col(timestamp_with_time_zone(PendingSignUp::ExpiresAt))
                .take(),
        )
        .await?;
        // Expired sign-ups are swept by this.
        m.create_index(
            Index::create()
                .name("idx_pending_sign_up_expires_at")
                .table(PendingSignUp::Table)
                .col(PendingSignUp::ExpiresAt)
                .take(),
        )
        .await
    }
}
