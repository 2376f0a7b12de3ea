//! Every charity project gets an owning organization (`charity_project.organization_id`,
//! NOT NULL, referring to `organization`): only its organizers change the project or
//! record gifts to it.
//!
//! Existing rows are given an owner by one rule:
//! - a project of an event: that event's organizer (the lowest organization id when
//!   several organize it);
//! - a project of no event (the 2012-2019 history), or of an event that no organization
//!   organizes: the organization that organizes the most events, ties to the lower id.
//!   The history belongs to whoever runs the race series on this gateway (in the Almaty
//!   story, the Courage to be the First fund, which organizes both 2020 races and publishes
//!   the charity report); with no organizer at all, the organization with the lowest id.
//!
//! Projects with no organization to own them stop the migration with an error instead of
//! being given an arbitrary owner. PostgreSQL then sets the column NOT NULL; SQLite cannot
//! alter a column, so the table is rebuilt as SQLite documents (a new table, copy, drop,
//! rename, with foreign keys off on one connection for the duration).

use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organization {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Event {
    Table,
    Id,
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
    OrganizationId,
}

const FK_OWNER: &str = "fk_charity_project_organization";
const IDX_OWNER: &str = "idx_charity_project_organization";

/// The owner of each existing project, by the rule in the module header: three updates,
/// each filling what the one before could not.
const FILL_OWNERS: [&str; 3] = [
    "UPDATE charity_project SET organization_id = (
        SELECT MIN(eo.organization_id) FROM event_organization eo
        WHERE eo.event_id = charity_project.event_id AND eo.role = 'ORGANIZER')
     WHERE organization_id IS NULL AND event_id IS NOT NULL",
    "UPDATE charity_project SET organization_id = (
        SELECT eo.organization_id FROM event_organization eo WHERE eo.role = 'ORGANIZER'
        GROUP BY eo.organization_id ORDER BY COUNT(*) DESC, eo.organization_id LIMIT 1)
     WHERE organization_id IS NULL",
    "UPDATE charity_project SET organization_id = (SELECT MIN(id) FROM organization)
     WHERE organization_id IS NULL",
];

/// The table as it is after this migration (the rebuilt one on SQLite).
fn charity_project_table(name: impl IntoIden) -> TableCreateStatement {
    let name = name.into_iden();
    Table::create()
        .table(name.clone())
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
        .col(big_integer(CharityProject::OrganizationId))
        .check(Expr::col(CharityProject::TargetMinor).gte(0))
        .foreign_key(
            ForeignKey::create()
                .from(name.clone(), CharityProject::EventId)
                .to(Event::Table, Event::Id)
                .on_delete(ForeignKeyAction::SetNull),
        )
        .foreign_key(
            ForeignKey::create()
                .name(FK_OWNER)
                .from(name, CharityProject::OrganizationId)
                .to(Organization::Table, Organization::Id)
                .on_delete(ForeignKeyAction::Restrict),
        )
        .take()
}

const COLUMNS: &str = "id, event_id, beneficiary, description, city, year, target_minor, \
    currency, status, report, created_at, organization_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(CharityProject::Table)
                .add_column(big_integer_null(CharityProject::OrganizationId))
                .take(),
        )
        .await?;
        let db = m.get_connection();
        let backend = m.get_database_backend();
        for sql in FILL_OWNERS {
            db.execute_raw(Statement::from_string(backend, sql)).await?;
        }
        let unowned = db
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT COUNT(*) AS n FROM charity_project WHERE organization_id IS NULL",
            ))
            .await?
            .map(|row| row.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0);
        if unowned > 0 {
            return Err(DbErr::Migration(format!(
                "{unowned} charity projects have no organization to own them: create the \
                 organizing organization (gateway organizations create) and migrate again"
            )));
        }

        match backend {
            DatabaseBackend::Sqlite => rebuild_on_sqlite(m).await?,
            _ => {
                db.execute_raw(Statement::from_string(
                    backend,
                    "ALTER TABLE charity_project ALTER COLUMN organization_id SET NOT NULL",
                ))
                .await?;
                m.create_foreign_key(
                    ForeignKey::create()
                        .name(FK_OWNER)
                        .from(CharityProject::Table, CharityProject::OrganizationId)
                        .to(Organization::Table, Organization::Id)
                        .on_delete(ForeignKeyAction::Restrict)
                        .take(),
                )
                .await?;
            }
        }
        m.create_index(
            Index::create()
                .name(IDX_OWNER)
                .table(CharityProject::Table)
                .col(CharityProject::OrganizationId)
                .take(),
        )
        .await
    }
}

/// SQLite's way to change a column: a new table with the column NOT NULL and its foreign
/// key, the rows copied, the old table dropped and the new one renamed, with its index
/// and AUTOINCREMENT counter carried over. Foreign keys must be off meanwhile (dropping the
/// table would otherwise be refused for the donations that refer to it), and that pragma
/// holds for one connection only and not inside a transaction: so one connection is taken
/// out of the pool for the rebuild, and closed afterwards rather than returned with foreign
/// keys off. `PRAGMA foreign_key_check` proves every reference still holds before commit.
async fn rebuild_on_sqlite(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::sqlx::{self, Connection};
    let SchemaManagerConnection::Connection(db) = m.get_connection() else {
        return Err(DbErr::Migration(
            "the charity project owner migration needs the pool, not a transaction, on SQLite"
                .into(),
        ));
    };
    let failed = |what: &str, e: sqlx::Error| DbErr::Migration(format!("{what}: {e}"));
    let mut conn = db
        .get_sqlite_connection_pool()
        .acquire()
        .await
        .map_err(|e| failed("taking a connection", e))?
        .detach();
    let create =
        charity_project_table(Alias::new("charity_project_new")).to_string(SqliteQueryBuilder);
    let index = Index::create()
        .name("idx_charity_project_year")
        .table(CharityProject::Table)
        .col(CharityProject::Year)
        .to_string(SqliteQueryBuilder);
    let copy = format!(
        "INSERT INTO charity_project_new ({COLUMNS}) SELECT {COLUMNS} FROM charity_project"
    );
    let steps = [
        "PRAGMA foreign_keys = OFF",
        "BEGIN IMMEDIATE",
        // Kept for the counter: a NULL when the table never had a row.
        "CREATE TEMP TABLE charity_project_seq AS
            SELECT seq FROM sqlite_sequence WHERE name = 'charity_project'",
        create.as_str(),
        copy.as_str(),
        "DROP TABLE charity_project",
        "ALTER TABLE charity_project_new RENAME TO charity_project",
        index.as_str(),
        "UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE((SELECT MAX(seq) FROM charity_project_seq), 0))
            WHERE name = 'charity_project'",
        "DROP TABLE charity_project_seq",
    ];
    let result = async {
        for step in steps {
            // Built here from constants and sea-query, with no input in it.
            sqlx::query(sqlx::AssertSqlSafe(step))
                .execute(&mut conn)
                .await
                .map_err(|e| failed(step, e))?;
        }
        let broken = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&mut conn)
            .await
            .map_err(|e| failed("checking foreign keys", e))?;
        if !broken.is_empty() {
            return Err(DbErr::Migration(format!(
                "{} rows refer to rows that do not exist after rebuilding charity_project",
                broken.len()
            )));
        }
        sqlx::query("COMMIT")
            .execute(&mut conn)
            .await
            .map_err(|e| failed("committing", e))?;
        Ok(())
    }
    .await;
    if result.is_err() {
        let _ = sqlx::query("ROLLBACK").execute(&mut conn).await;
    }
    // Closed, never returned to the pool with foreign keys off.
    let _ = conn.close().await;
    result
}
