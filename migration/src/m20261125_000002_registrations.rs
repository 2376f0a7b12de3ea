//! Registrations with capacity counters on the event, refund policy and requests, charity
//! projects and donations.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Event {
    Table,
    Id,
    RegisteredCount,
    LastBib,
    RefundDeadline,
    KitShareBp,
    KitIssueFrom,
}

#[derive(DeriveIden)]
enum Account {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Distance {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Registration {
    Table,
    Id,
    EventId,
    DistanceId,
    AccountId,
    Bib,
    FeeMinor,
    Currency,
    TshirtSize,
    TshirtPaid,
    StarterKit,
    State,
    Gender,
    BirthDate,
    Country,
    City,
    RegisteredAt,
}

#[derive(DeriveIden)]
enum RefundRequest {
    Table,
    Id,
    RegistrationId,
    EventId,
    AccountId,
    Option,
    DonationConsent,
    Status,
    RefundMinor,
    KitShareMinor,
    DonationMinor,
    Currency,
    IsDefault,
    SubmittedAt,
    DecidedAt,
    DecidedBy,
    DecisionNote,
    PaidAt,
}

#[derive(DeriveIden)]
enum CharityProject {
    Table,
    Id,
    EventId,
    Beneficiary,
    Description,
    City,
    Year,
    TargetMinor,
    Currency,
    Status,
    Report,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Donation {
    Table,
    Id,
    Source,
    EventId,
    ProjectId,
    RefundRequestId,
    AccountId,
    DonorName,
    AmountMinor,
    Currency,
    CreatedAt,
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

fn index(name: &str, table: impl IntoIden, cols: &[&'static str]) -> IndexCreateStatement {
    let mut statement = Index::create().name(name).table(table).take();
    for col in cols {
        statement.col(Alias::new(*col));
    }
    statement
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        for column in [
            integer(Event::RegisteredCount).default(0).take(),
            integer(Event::LastBib).default(0).take(),
            date_null(Event::RefundDeadline),
            integer(Event::KitShareBp).default(5000).take(),
            date_null(Event::KitIssueFrom),
        ] {
            m.alter_table(Table::alter().table(Event::Table).add_column(column).take())
                .await?;
        }

        m.create_table(
            Table::create()
                .table(Registration::Table)
                .col(big_pk_auto(Registration::Id))
                .col(big_integer(Registration::EventId))
                .col(big_integer(Registration::DistanceId))
                .col(big_integer(Registration::AccountId))
                .col(integer(Registration::Bib))
                .col(big_integer(Registration::FeeMinor))
                .col(string_len(Registration::Currency, 3))
                .col(string_null(Registration::TshirtSize))
                .col(boolean(Registration::TshirtPaid))
                .col(string(Registration::StarterKit))
                .col(string(Registration::State))
                .col(string_null(Registration::Gender))
                .col(date_null(Registration::BirthDate))
                .col(string_len_null(Registration::Country, 2))
                .col(string_null(Registration::City))
                .col(timestamp_with_time_zone(Registration::RegisteredAt))
                .foreign_key(&mut references(
                    (Registration::Table, Registration::EventId),
                    (Event::Table, Event::Id),
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut references(
                    (Registration::Table, Registration::DistanceId),
                    (Distance::Table, Distance::Id),
                    ForeignKeyAction::Restrict,
                ))
                .foreign_key(&mut references(
                    (Registration::Table, Registration::AccountId),
                    (Account::Table, Account::Id),
                    ForeignKeyAction::Restrict,
                ))
                .take(),
        )
        .await?;
        m.create_index(
            index(
                "registration_runner_event_key",
                Registration::Table,
                &["event_id", "account_id"],
            )
            .unique()
            .take(),
        )
        .await?;
        m.create_index(
            index(
                "registration_event_bib_key",
                Registration::Table,
                &["event_id", "bib"],
            )
            .unique()
            .take(),
        )
        .await?;
        m.create_index(index(
            "idx_registration_account",
            Registration::Table,
            &["account_id"],
        ))
        .await?;
        m.create_index(index(
            "idx_registration_distance",
            Registration::Table,
            &["distance_id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(RefundRequest::Table)
                .col(big_pk_auto(RefundRequest::Id))
                .col(big_integer_uniq(RefundRequest::RegistrationId))
                .col(big_integer(RefundRequest::EventId))
                .col(big_integer(RefundRequest::AccountId))
                .col(string(RefundRequest::Option))
                .col(boolean(RefundRequest::DonationConsent))
                .col(string(RefundRequest::Status))
                .col(big_integer(RefundRequest::RefundMinor))
                .col(big_integer(RefundRequest::KitShareMinor))
                .col(big_integer(RefundRequest::DonationMinor))
                .col(string_len(RefundRequest::Currency, 3))
                .col(boolean(RefundRequest::IsDefault))
                .col(timestamp_with_time_zone(RefundRequest::SubmittedAt))
                .col(timestamp_with_time_zone_null(RefundRequest::DecidedAt))
                .col(big_integer_null(RefundRequest::DecidedBy))
                .col(text_null(RefundRequest::DecisionNote))
                .col(timestamp_with_time_zone_null(RefundRequest::PaidAt))
                .check(
                    Expr::col(RefundRequest::RefundMinor)
                        .add(Expr::col(RefundRequest::KitShareMinor))
                        .add(Expr::col(RefundRequest::DonationMinor))
                        .gte(0),
                )
                .foreign_key(&mut references(
                    (RefundRequest::Table, RefundRequest::RegistrationId),
                    (Registration::Table, Registration::Id),
                    ForeignKeyAction::Cascade,
                ))
                .take(),
        )
        .await?;
        m.create_index(index(
            "idx_refund_request_event_status",
            RefundRequest::Table,
            &["event_id", "status"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(CharityProject::Table)
                .col(big_pk_auto(CharityProject::Id))
                .col(big_integer_null(CharityProject::EventId))
                .col(string(CharityProject::Beneficiary))
                .col(text(CharityProject::Description))
                .col(string(CharityProject::City))
                .col(integer(CharityProject::Year))
                .col(big_integer(CharityProject::TargetMinor))
                .col(string_len(CharityProject::Currency, 3))
                .col(string(CharityProject::Status))
                .col(text_null(CharityProject::Report))
                .col(timestamp_with_time_zone(CharityProject::CreatedAt))
                .check(Expr::col(CharityProject::TargetMinor).gte(0))
                .foreign_key(&mut references(
                    (CharityProject::Table, CharityProject::EventId),
                    (Event::Table, Event::Id),
                    ForeignKeyAction::SetNull,
                ))
                .take(),
        )
        .await?;
        m.create_index(index(
            "idx_charity_project_year",
            CharityProject::Table,
            &["year"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Donation::Table)
                .col(big_pk_auto(Donation::Id))
                .col(string(Donation::Source))
                .col(big_integer_null(Donation::EventId))
                .col(big_integer_null(Donation::ProjectId))
                .col(
                    big_integer_null(Donation::RefundRequestId)
                        .unique_key()
                        .take(),
                )
                .col(big_integer_null(Donation::AccountId))
                .col(string_null(Donation::DonorName))
                .col(big_integer(Donation::AmountMinor))
                .col(string_len(Donation::Currency, 3))
                .col(timestamp_with_time_zone(Donation::CreatedAt))
                .check(Expr::col(Donation::AmountMinor).gt(0))
                .foreign_key(&mut references(
                    (Donation::Table, Donation::ProjectId),
                    (CharityProject::Table, CharityProject::Id),
                    ForeignKeyAction::Restrict,
                ))
                .foreign_key(&mut references(
                    (Donation::Table, Donation::RefundRequestId),
                    (RefundRequest::Table, RefundRequest::Id),
                    ForeignKeyAction::Restrict,
                ))
                .take(),
        )
        .await?;
        m.create_index(index(
            "idx_donation_project",
            Donation::Table,
            &["project_id"],
        ))
        .await?;
        m.create_index(index(
            "idx_donation_account",
            Donation::Table,
            &["account_id"],
        ))
        .await?;
        Ok(())
    }
}
