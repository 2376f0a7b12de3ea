//! Who owns a charity project, and money that cannot overflow: every project has an
//! owning organization (the 2012-2019 history included, and existing rows once migrated),
//! only its organizers change it or record gifts to it, amounts are bounded, and the public
//! totals stay exact however many gifts are recorded.

use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Set, Statement};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, TestDatabase, error_code, marathon, marathon_year, spawn_app,
};
use crate::on_both_databases;

const UPDATE: &str = "mutation($id: ID!, $input: CharityProjectInput!) {
    updateCharityProject(id: $id, input: $input) { id beneficiary } }";
const CREATE: &str = "mutation($input: CharityProjectInput!) {
    createCharityProject(input: $input) { id organization { slug } } }";
const DONATE: &str = "mutation($p: ID!, $a: String!) {
    recordDonation(projectId: $p, amount: { amount: $a, currency: \"KZT\" }) { id amount { amount } } }";

/// Every project of a year with its owner's slug, as anyone reads them.
async fn owners(app: &TestApp, year: i32) -> Vec<(String, String, Value)> {
    let data = app
        .ok(
            None,
            "query($y: Int) { charityProjects(year: $y) { id beneficiary eventId organization { slug } } }",
            json!({ "y": year }),
        )
        .await;
    data["charityProjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["organization"]["slug"].as_str().unwrap().to_owned(),
                p.clone(),
            )
        })
        .collect()
}

fn edit(project: &Value, year: i32) -> Value {
    json!({ "beneficiary": format!("{} (renamed)", project["beneficiary"].as_str().unwrap()),
            "city": "Almaty", "year": year, "eventId": project["eventId"],
            "target": { "amount": "1000000.00", "currency": "KZT" } })
}

async fn only_the_owning_organization_changes_a_project_or_records_gifts(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let fund = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    // World Class co-organizes the marathon, but owns none of the programme.
    let club = app
        .organizer_token("coach@worldclass.kz", "world-class-almaty")
        .await;

    let history = owners(&app, 2015).await;
    assert_eq!(history.len(), 2);
    assert!(history.iter().all(|(_, _, p)| p["eventId"].is_null()));
    let programme_2020 = owners(&app, 2020).await;
    assert_eq!(programme_2020.len(), 5);
    for (_, owner, _) in history.iter().chain(&programme_2020) {
        assert_eq!(owner, "courage-to-be-the-first");
    }
    let donations = app.count("donation").await;

    for (id, _, project) in [&history[0], &programme_2020[0]] {
        let year = if project["eventId"].is_null() {
            2015
        } else {
            2020
        };
        let input = edit(project, year);
        let body = app
            .graphql(Some(&club), UPDATE, json!({ "id": id, "input": input }))
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        let body = app
            .graphql(Some(&club), DONATE, json!({ "p": id, "a": "100.00" }))
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    }
    assert_eq!(app.count("donation").await, donations);
    assert_eq!(owners(&app, 2015).await[0].2, history[0].2, "unchanged");

    // The owner may.
    let (id, _, project) = &history[0];
    let renamed = app
        .ok(
            Some(&fund),
            UPDATE,
            json!({ "id": id, "input": edit(project, 2015) }),
        )
        .await;
    assert!(
        renamed["updateCharityProject"]["beneficiary"]
            .as_str()
            .unwrap()
            .ends_with("(renamed)")
    );
    app.ok(Some(&fund), DONATE, json!({ "p": id, "a": "100.00" }))
        .await;

    // A project the club creates for the marathon it co-organizes is the club's.
    let marathon_id = app.event_id(&marathon()).await;
    let created = app
        .ok(
            Some(&club),
            CREATE,
            json!({ "input": { "eventId": marathon_id, "beneficiary": "Club kids", "city": "Almaty", "year": marathon_year(),
                    "target": { "amount": "1000.00", "currency": "KZT" } } }),
        )
        .await;
    let theirs = &created["createCharityProject"];
    assert_eq!(theirs["organization"]["slug"], "world-class-almaty");
    let body = app
        .graphql(
            Some(&fund),
            DONATE,
            json!({ "p": theirs["id"], "a": "1.00" }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    // The partner's organizer neither creates for the marathon nor touches the fund's.
    let sponsor = app.organizer_token("coach@kaspi.kz", "kaspi-kz").await;
    let body = app
        .graphql(
            Some(&sponsor),
            CREATE,
            json!({ "input": { "eventId": marathon_id, "beneficiary": "Sponsor kids", "city": "Almaty", "year": marathon_year(),
                    "target": { "amount": "1000.00", "currency": "KZT" } } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let body = app
        .graphql(Some(&sponsor), DONATE, json!({ "p": id, "a": "1.00" }))
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    // An unknown project is NOT_FOUND, as an unknown event is.
    let body = app
        .graphql(Some(&fund), DONATE, json!({ "p": "987654", "a": "1.00" }))
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
}
on_both_databases!(only_the_owning_organization_changes_a_project_or_records_gifts);

/// The largest amount: 10^15 minor units (KZT 10,000,000,000,000.00).
const MAX_KZT: &str = "10000000000000.00";
const MAX_MINOR: i64 = 1_000_000_000_000_000;

async fn amounts_are_bounded_and_public_totals_stay_exact(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let fund = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let marathon_id = app.event_id(&marathon()).await;
    let mut projects = Vec::new();
    for name in ["Big target one", "Big target two"] {
        let created = app
            .ok(
                Some(&fund),
                CREATE,
                json!({ "input": { "eventId": marathon_id, "beneficiary": name, "city": "Almaty", "year": 2030,
                        "target": { "amount": MAX_KZT, "currency": "KZT" } } }),
            )
            .await;
        projects.push(
            created["createCharityProject"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }

    // The finding's amounts, and anything above the maximum, are refused.
    for over in [
        "92233720368547758.07",
        "10000000000000.01",
        "99999999999999999",
    ] {
        let body = app
            .graphql(Some(&fund), DONATE, json!({ "p": projects[0], "a": over }))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{over}: {body}");
        let body = app
            .graphql(
                Some(&fund),
                CREATE,
                json!({ "input": { "beneficiary": "Too big", "city": "Almaty", "year": 2030,
                        "target": { "amount": over, "currency": "KZT" } } }),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{over}: {body}");
        let body = app
            .graphql(
                Some(&fund),
                "mutation($e: ID!, $a: String!) { addDistance(eventId: $e, input: { name: \"Ultra\", lengthMeters: 100000, fee: { amount: $a, currency: \"KZT\" } }) { id } }",
                json!({ "e": marathon_id, "a": over }),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{over}: {body}");
    }
    let yen = app
        .graphql(
            Some(&fund),
            CREATE,
            json!({ "input": { "beneficiary": "Yen", "city": "Tokyo", "year": 2030,
                    "target": { "amount": "1000000000000001", "currency": "JPY" } } }),
        )
        .await;
    assert_eq!(error_code(&yen), "BAD_USER_INPUT", "{yen}");

    // The maximum is accepted, and many of them sum exactly, past what a 64-bit integer
    // holds: 9,300 gifts of 10^15 tiyn to one project (as 9,300 recordDonation calls
    // would leave them) raise 9.3 x 10^18, more than i64::MAX (about 9.22 x 10^18).
    for id in &projects {
        app.ok(Some(&fund), DONATE, json!({ "p": id, "a": MAX_KZT }))
            .await;
    }
    let first: i64 = projects[0].parse().unwrap();
    let event: i64 = marathon_id.parse().unwrap();
    insert_max_gifts(&app.db, first, event, 9_299).await;

    let summary = app
        .ok(
            None,
            "{ charitySummary(year: 2030) { totalTarget { amount currency } totalRaised { amount currency }
                 projects { raised { amount } } }
               charityProjects(year: 2030) { beneficiary raised { amount } target { amount } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        summary["charitySummary"]["totalTarget"],
        json!([{ "amount": "20000000000000.00", "currency": "KZT" }])
    );
    // 9,301 maximal gifts: 9,300 to the first project, one to the second.
    assert_eq!(
        summary["charitySummary"]["totalRaised"],
        json!([{ "amount": "93010000000000000.00", "currency": "KZT" }])
    );
    assert_eq!(
        summary["charityProjects"],
        json!([
            { "beneficiary": "Big target one", "raised": { "amount": "93000000000000000.00" }, "target": { "amount": MAX_KZT } },
            { "beneficiary": "Big target two", "raised": { "amount": MAX_KZT }, "target": { "amount": MAX_KZT } },
        ])
    );
    // The organizer's statistics of the event sum the same gifts.
    let stats = app
        .ok(
            Some(&fund),
            "query($e: ID!) { participationStats(eventId: $e) { charityRaised { donations amounts { amount currency } } } }",
            json!({ "e": marathon_id }),
        )
        .await;
    assert_eq!(
        stats["participationStats"]["charityRaised"],
        json!({ "donations": 9301, "amounts": [{ "amount": "93010000000000000.00", "currency": "KZT" }] })
    );
}
on_both_databases!(amounts_are_bounded_and_public_totals_stay_exact);

/// Gifts of the maximum amount to a project, written as recordDonation would.
async fn insert_max_gifts(db: &DatabaseConnection, project: i64, event: i64, n: usize) {
    let now = chrono::Utc::now();
    let rows: Vec<_> = (0..n)
        .map(|_| entities::donation::ActiveModel {
            source: Set(entities::donation::DonationSource::Direct),
            event_id: Set(Some(event)),
            project_id: Set(Some(project)),
            refund_request_id: Set(None),
            account_id: Set(None),
            donor_name: Set(None),
            amount_minor: Set(MAX_MINOR),
            currency: Set("KZT".into()),
            created_at: Set(now),
            ..Default::default()
        })
        .collect();
    for chunk in rows.chunks(1000) {
        entities::donation::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await
            .unwrap();
    }
}

async fn exec(db: &DatabaseConnection, sql: &str) -> Result<(), sea_orm::DbErr> {
    db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .map(|_| ())
}

async fn owner_of(db: &DatabaseConnection, beneficiary: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT organization_id FROM charity_project WHERE beneficiary = '{beneficiary}'"
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "organization_id").unwrap()
}

async fn the_migration_gives_every_existing_project_an_owner(backend: Backend) {
    use migration::MigratorTrait;
    let database = TestDatabase::create(backend).await.unwrap();
    let db = server::database::connect(&database.url, 4, server::database::Ping::Always)
        .await
        .unwrap();
    // The schema as it was before projects had owners, with rows of every kind.
    migration::Migrator::up(&db, Some(5)).await.unwrap();
    for sql in [
        "INSERT INTO organization (id, slug, name, created_at) VALUES
            (1, 'fund', 'The Fund', '2019-01-01T00:00:00+00:00'),
            (2, 'club', 'The Club', '2019-01-01T00:00:00+00:00'),
            (3, 'sponsor', 'The Sponsor', '2019-01-01T00:00:00+00:00')",
        "INSERT INTO event (id, slug, name, description, venue, starts_at, time_zone, capacity, status,
            registration_state, registered_count, last_bib, created_at, updated_at) VALUES
            (1, 'shared', 'Shared', '', 'Almaty', '2020-04-19T02:00:00+00:00', 'Asia/Almaty', 10, 'SCHEDULED', 'OPEN', 0, 0, '2019-01-01T00:00:00+00:00', '2019-01-01T00:00:00+00:00'),
            (2, 'club-only', 'Club only', '', 'Almaty', '2020-05-16T03:00:00+00:00', 'Asia/Almaty', 10, 'SCHEDULED', 'OPEN', 0, 0, '2019-01-01T00:00:00+00:00', '2019-01-01T00:00:00+00:00'),
            (3, 'sponsored', 'Sponsored', '', 'Almaty', '2020-06-01T03:00:00+00:00', 'Asia/Almaty', 10, 'SCHEDULED', 'OPEN', 0, 0, '2019-01-01T00:00:00+00:00', '2019-01-01T00:00:00+00:00')",
        "INSERT INTO event_organization (event_id, organization_id, role) VALUES
            (1, 2, 'ORGANIZER'), (1, 1, 'ORGANIZER'), (1, 3, 'PARTNER'),
            (2, 2, 'ORGANIZER'), (3, 3, 'PARTNER')",
        "INSERT INTO charity_project (id, event_id, beneficiary, description, city, year, target_minor, currency, status, report, created_at) VALUES
            (101, 1, 'of the shared race', '', 'Almaty', 2020, 100, 'KZT', 'PLANNED', NULL, '2019-01-01T00:00:00+00:00'),
            (102, 2, 'of the club race', '', 'Almaty', 2020, 100, 'KZT', 'PLANNED', NULL, '2019-01-01T00:00:00+00:00'),
            (103, 3, 'of a race nobody organizes', '', 'Almaty', 2020, 100, 'KZT', 'PLANNED', NULL, '2019-01-01T00:00:00+00:00'),
            (104, NULL, 'of 2015', '', 'Almaty', 2015, 100, 'KZT', 'COMPLETED', 'Done', '2019-01-01T00:00:00+00:00')",
        "INSERT INTO donation (id, source, event_id, project_id, refund_request_id, account_id, donor_name, amount_minor, currency, created_at) VALUES
            (101, 'DIRECT', 2, 102, NULL, NULL, 'A friend', 100, 'KZT', '2019-01-01T00:00:00+00:00')",
    ] {
        exec(&db, sql).await.unwrap();
    }

    migration::Migrator::up(&db, None).await.unwrap();

    // Of an event: its organizer (the lowest id when several). Of none, or of an event no
    // one organizes: the organization that organizes the most events.
    assert_eq!(owner_of(&db, "of the shared race").await, 1);
    assert_eq!(owner_of(&db, "of the club race").await, 2);
    assert_eq!(owner_of(&db, "of a race nobody organizes").await, 2);
    assert_eq!(owner_of(&db, "of 2015").await, 2);
    // The column is required and refers to an organization; the rest of the table is as
    // it was: its year index, its check on the target, the donation that refers to it.
    assert!(
        exec(&db, "INSERT INTO charity_project (event_id, beneficiary, description, city, year, target_minor, currency, status, created_at)
                   VALUES (NULL, 'no owner', '', 'Almaty', 2021, 1, 'KZT', 'PLANNED', '2021-01-01T00:00:00+00:00')")
            .await
            .is_err()
    );
    assert!(
        exec(&db, "INSERT INTO charity_project (event_id, organization_id, beneficiary, description, city, year, target_minor, currency, status, created_at)
                   VALUES (NULL, 99, 'unknown owner', '', 'Almaty', 2021, 1, 'KZT', 'PLANNED', '2021-01-01T00:00:00+00:00')")
            .await
            .is_err()
    );
    assert!(
        exec(&db, "INSERT INTO charity_project (event_id, organization_id, beneficiary, description, city, year, target_minor, currency, status, created_at)
                   VALUES (NULL, 1, 'negative', '', 'Almaty', 2021, -1, 'KZT', 'PLANNED', '2021-01-01T00:00:00+00:00')")
            .await
            .is_err()
    );
    assert!(
        exec(&db, "DELETE FROM charity_project WHERE id = 102")
            .await
            .is_err(),
        "a project with donations cannot be deleted"
    );
    exec(&db, "INSERT INTO charity_project (event_id, organization_id, beneficiary, description, city, year, target_minor, currency, status, created_at)
               VALUES (NULL, 1, 'owned', '', 'Almaty', 2021, 1, 'KZT', 'PLANNED', '2021-01-01T00:00:00+00:00')")
        .await
        .unwrap();
    let index = match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'index' AND name = 'idx_charity_project_year'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) AS n FROM pg_indexes WHERE indexname = 'idx_charity_project_year'"
        }
    };
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), index))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1);
    let projects = entities::charity_project::Entity::find()
        .all(&db)
        .await
        .unwrap();
    assert_eq!(projects.len(), 5);
    // Migrating again changes nothing.
    migration::Migrator::up(&db, None).await.unwrap();
    assert_eq!(owner_of(&db, "of 2015").await, 2);
}
on_both_databases!(the_migration_gives_every_existing_project_an_owner);
