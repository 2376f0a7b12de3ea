//! An organization is of one kind: an organizer of races or a partner (sponsor) of them, so
//! that `gateway organizations link --partner` cannot make a race's organizer its sponsor by
//! mistake. Existing organizations that only ever partnered an event become partners.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organization {
    Table,
    Kind,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Organization::Table)
                .add_column(string(Organization::Kind).default("ORGANIZER"))
                .take(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared(
                "UPDATE organization SET kind = 'PARTNER' \
                 WHERE id IN (SELECT organization_id FROM event_organization WHERE role = 'PARTNER') \
                 AND id NOT IN (SELECT organization_id FROM event_organization WHERE role = 'ORGANIZER')",
            )
            .await?;
        Ok(())
    }
}
