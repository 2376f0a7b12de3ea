//! Schema migrations, written with sea-query's builder so that one definition is valid on
//! PostgreSQL and on SQLite. Applied in order by `gateway migrate` and on every start.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_foundation;
mod m20261125_000002_registrations;
mod m20261125_000003_alerts;
mod m20261125_000004_partner_stats;
mod m20261125_000005_web_push;
mod m20261201_000006_charity_project_owner;
mod m20261201_000007_pending_sign_up;
mod m20261201_000008_push_queue_cursor;
mod m20261210_000009_organization_kind;
mod m20261210_000010_push_failure_class;
mod m20261211_000011_reach;
mod m20261212_000012_languages;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_foundation::Migration),
            Box::new(m20261125_000002_registrations::Migration),
            Box::new(m20261125_000003_alerts::Migration),
            Box::new(m20261125_000004_partner_stats::Migration),
            Box::new(m20261125_000005_web_push::Migration),
            Box::new(m20261201_000006_charity_project_owner::Migration),
            Box::new(m20261201_000007_pending_sign_up::Migration),
            Box::new(m20261201_000008_push_queue_cursor::Migration),
            Box::new(m20261210_000009_organization_kind::Migration),
            Box::new(m20261210_000010_push_failure_class::Migration),
            Box::new(m20261211_000011_reach::Migration),
            Box::new(m20261212_000012_languages::Migration),
        ]
    }
}
