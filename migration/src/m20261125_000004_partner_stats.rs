//! Partner statistics: the participation counters (one row per event and group, for the
//! total, each dimension and each pair of dimensions), partner API keys, and an index
//! for the money an event's charity programme raised.
//!
//! Counters for registrations made before this migration are built at start-up by
//! `race_office::services::stats::rebuild_missing` (it needs the age and time-zone rules,
//! which live in the schema crate).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Event {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Organization {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Donation {
    Table,
    EventId,
}

#[derive(DeriveIden)]
enum ParticipationCount {
    Table,
    EventId,
    DimensionA,
    DimensionB,
    KeyA,
    KeyB,
    Count,
}

#[derive(DeriveIden)]
enum PartnerKey {
    Table,
    Id,
    OrganizationId,
    IssuerOrganizationId,
    KeyHash,
    Hint,
    Scopes,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // The key order puts a table's rows next to each other: reading one dimension or
        // one pair of an event is a single range of the primary key.
        m.create_table(
            Table::create()
                .table(ParticipationCount::Table)
                .col(big_integer(ParticipationCount::EventId))
                .col(string(ParticipationCount::DimensionA))
                .col(string(ParticipationCount::DimensionB))
                .col(string(ParticipationCount::KeyA))
                .col(string(ParticipationCount::KeyB))
                .col(big_integer(ParticipationCount::Count))
                .primary_key(
                    Index::create()
                        .name("participation_count_pkey")
                        .col(ParticipationCount::EventId)
                        .col(ParticipationCount::DimensionA)
                        .col(ParticipationCount::DimensionB)
                        .col(ParticipationCount::KeyA)
                        .col(ParticipationCount::KeyB),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(ParticipationCount::Table, ParticipationCount::EventId)
                        .to(Event::Table, Event::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PartnerKey::Table)
                .col(big_pk_auto(PartnerKey::Id))
                .col(big_integer(PartnerKey::OrganizationId))
                .col(big_integer(PartnerKey::IssuerOrganizationId))
                .col(string(PartnerKey::KeyHash).unique_key())
                .col(string(PartnerKey::Hint))
                .col(string(PartnerKey::Scopes))
                .col(big_integer_null(PartnerKey::CreatedBy))
                .col(timestamp_with_time_zone(PartnerKey::CreatedAt))
                .col(timestamp_with_time_zone(PartnerKey::ExpiresAt))
                .col(timestamp_with_time_zone_null(PartnerKey::RevokedAt))
                .col(timestamp_with_time_zone_null(PartnerKey::LastUsedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(PartnerKey::Table, PartnerKey::OrganizationId)
                        .to(Organization::Table, Organization::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(PartnerKey::Table, PartnerKey::IssuerOrganizationId)
                        .to(Organization::Table, Organization::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_partner_key_issuer")
                .table(PartnerKey::Table)
                .col(PartnerKey::IssuerOrganizationId)
                .take(),
        )
        .await?;

        m.create_index(
            Index::create()
                .name("idx_donation_event")
                .table(Donation::Table)
                .col(Donation::EventId)
                .take(),
        )
        .await?;
        Ok(())
    }
}
