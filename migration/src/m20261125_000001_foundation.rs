//! Organizations, accounts and sessions, events with their distances and status history,
//! and the notification log (the outbox the alert relay drains).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organization {
    Table,
    Id,
    Slug,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Account {
    Table,
    Id,
    Email,
    PasswordHash,
    DisplayName,
    Role,
    OrganizationId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Session {
    Table,
    Id,
    AccountId,
    TokenHash,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum PasswordReset {
    Table,
    Id,
    AccountId,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Event {
    Table,
    Id,
    Slug,
    Name,
    Description,
    Venue,
    StartsAt,
    TimeZone,
    Capacity,
    Status,
    RegistrationState,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum EventOrganization {
    Table,
    EventId,
    OrganizationId,
    Role,
}

#[derive(DeriveIden)]
enum Distance {
    Table,
    Id,
    EventId,
    Name,
    LengthM,
    FeeMinor,
    Currency,
    CreatedAt,
}

#[derive(DeriveIden)]
enum EventStatusChange {
    Table,
    Id,
    EventId,
    PreviousStatus,
    Status,
    Reason,
    StartsAt,
    ChangedBy,
    OccurredAt,
}

#[derive(DeriveIden)]
enum Notification {
    Table,
    Id,
    Kind,
    EventId,
    StatusChangeId,
    Payload,
    CreatedAt,
    PublishedAt,
}

/// A foreign key declared inline, because SQLite cannot add one to an existing table.
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
        m.create_table(
            Table::create()
                .table(Organization::Table)
                .col(big_pk_auto(Organization::Id))
                .col(string_uniq(Organization::Slug))
                .col(string(Organization::Name))
                .col(timestamp_with_time_zone(Organization::CreatedAt))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Account::Table)
                .col(big_pk_auto(Account::Id))
                .col(string_uniq(Account::Email))
                .col(string(Account::PasswordHash))
                .col(string(Account::DisplayName))
                .col(string(Account::Role))
                .col(big_integer_null(Account::OrganizationId))
                .col(timestamp_with_time_zone(Account::CreatedAt))
                .foreign_key(&mut references(
                    (Account::Table, Account::OrganizationId),
                    (Organization::Table, Organization::Id),
                    ForeignKeyAction::Restrict,
                ))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Session::Table)
                .col(big_pk_auto(Session::Id))
                .col(big_integer(Session::AccountId))
                .col(string_uniq(Session::TokenHash))
                .col(timestamp_with_time_zone(Session::CreatedAt))
                .col(timestamp_with_time_zone(Session::ExpiresAt))
                .foreign_key(&mut references(
                    (Session::Table, Session::AccountId),
                    (Account::Table, Account::Id),
                    ForeignKeyAction::Cascade,
                ))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_session_account")
                .table(Session::Table)
                .col(Session::AccountId)
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PasswordReset::Table)
                .col(big_pk_auto(PasswordReset::Id))
                .col(big_integer(PasswordReset::AccountId))
                .col(string_uniq(PasswordReset::TokenHash))
                .col(timestamp_with_time_zone(PasswordReset::CreatedAt))
                .col(timestamp_with_time_zone(PasswordReset::ExpiresAt))
                .col(timestamp_with_time_zone_null(PasswordReset::UsedAt))
                .foreign_key(&mut references(
                    (PasswordReset::Table, PasswordReset::AccountId),
                    (Account::Table, Account::Id),
                    ForeignKeyAction::Cascade,
                ))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Event::Table)
                .col(big_pk_auto(Event::Id))
                .col(string_uniq(Event::Slug))
                .col(string(Event::Name))
                .col(text(Event::Description))
                .col(string(Event::Venue))
                .col(timestamp_with_time_zone(Event::StartsAt))
                .col(string(Event::TimeZone))
                .col(integer(Event::Capacity))
                .col(string(Event::Status))
                .col(string(Event::RegistrationState))
                .col(timestamp_with_time_zone(Event::CreatedAt))
                .col(timestamp_with_time_zone(Event::UpdatedAt))
                .check(Expr::col(Event::Capacity).gte(0))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_event_starts_at")
                .table(Event::Table)
                .col(Event::StartsAt)
                .col(Event::Id)
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(EventOrganization::Table)
                .col(big_integer(EventOrganization::EventId))
                .col(big_integer(EventOrganization::OrganizationId))
                .col(string(EventOrganization::Role))
                .primary_key(
                    Index::create()
                        .col(EventOrganization::EventId)
                        .col(EventOrganization::OrganizationId),
                )
                .foreign_key(&mut references(
                    (EventOrganization::Table, EventOrganization::EventId),
                    (Event::Table, Event::Id),
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut references(
                    (EventOrganization::Table, EventOrganization::OrganizationId),
                    (Organization::Table, Organization::Id),
                    ForeignKeyAction::Cascade,
                ))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_event_organization_org")
                .table(EventOrganization::Table)
                .col(EventOrganization::OrganizationId)
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Distance::Table)
                .col(big_pk_auto(Distance::Id))
                .col(big_integer(Distance::EventId))
                .col(string(Distance::Name))
                .col(integer(Distance::LengthM))
                .col(big_integer(Distance::FeeMinor))
                .col(string_len(Distance::Currency, 3))
                .col(timestamp_with_time_zone(Distance::CreatedAt))
                .check(Expr::col(Distance::FeeMinor).gte(0))
                .check(Expr::col(Distance::LengthM).gt(0))
                .foreign_key(&mut references(
                    (Distance::Table, Distance::EventId),
                    (Event::Table, Event::Id),
                    ForeignKeyAction::Cascade,
                ))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_distance_event_name")
                .table(Distance::Table)
                .col(Distance::EventId)
                .col(Distance::Name)
                .unique()
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(EventStatusChange::Table)
                .col(big_pk_auto(EventStatusChange::Id))
                .col(big_integer(EventStatusChange::EventId))
                .col(string_null(EventStatusChange::PreviousStatus))
                .col(string(EventStatusChange::Status))
                .col(text(EventStatusChange::Reason))
                .col(timestamp_with_time_zone(EventStatusChange::StartsAt))
                .col(big_integer_null(EventStatusChange::ChangedBy))
                .col(timestamp_with_time_zone(EventStatusChange::OccurredAt))
                .foreign_key(&mut references(
                    (EventStatusChange::Table, EventStatusChange::EventId),
                    (Event::Table, Event::Id),
                    ForeignKeyAction::Cascade,
                ))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_event_status_change_event")
                .table(EventStatusChange::Table)
                .col(EventStatusChange::EventId)
                .col(EventStatusChange::Id)
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Notification::Table)
                .col(big_pk_auto(Notification::Id))
                .col(string(Notification::Kind))
                .col(big_integer_null(Notification::EventId))
                .col(big_integer_null(Notification::StatusChangeId))
                .col(text(Notification::Payload))
                .col(timestamp_with_time_zone(Notification::CreatedAt))
                .col(timestamp_with_time_zone_null(Notification::PublishedAt))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_notification_published_at")
                .table(Notification::Table)
                .col(Notification::PublishedAt)
                .take(),
        )
        .await?;
        Ok(())
    }
}
