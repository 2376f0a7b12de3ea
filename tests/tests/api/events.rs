//! The events API: the demo story, the listing, organizer CRUD, and `changeEventStatus`
//! with its history and outbox row written in one transaction, or not at all.

use std::io::Write;
use std::process::{Command, Stdio};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, error_code, gateway_binary, marathon, marathon_date, marathon_name,
    marathon_starts_at, marathon_year, spawn_app,
};
use crate::on_both_databases;

const CHANGE_STATUS: &str = "mutation($input: ChangeEventStatusInput!) {
    changeEventStatus(input: $input) {
        id status registrationState startsAt
        statusHistory { previousStatus status reason startsAt }
    }
}";

async fn the_demo_tells_the_2020_story(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let data = app
        .ok(
            None,
            "{ eventBySlug(slug: \"almaty-marathon-2020\") {
                name status registrationState capacity timeZone startsAt startsAtLocal
                organizers { name } partners { name }
                distances { name lengthMeters fee { amount currency } }
                statusHistory { previousStatus status reason }
            } }",
            json!({}),
        )
        .await;
    let marathon = &data["eventBySlug"];
    assert_eq!(marathon["status"], "CANCELLED");
    assert_eq!(marathon["registrationState"], "CLOSED");
    assert_eq!(marathon["capacity"], 18000);
    assert_eq!(marathon["startsAtLocal"], "2020-04-19T08:00:00+06:00");
    assert_eq!(marathon["startsAt"], "2020-04-19T02:00:00+00:00");
    assert_eq!(marathon["organizers"].as_array().unwrap().len(), 4);
    assert_eq!(marathon["partners"], json!([{ "name": "Kaspi.kz" }]));
    assert_eq!(
        marathon["distances"][0],
        json!({ "name": "Marathon", "lengthMeters": 42195, "fee": { "amount": "15000.00", "currency": "KZT" } })
    );
    let history = marathon["statusHistory"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["previousStatus"], "SCHEDULED");
    assert_eq!(history[1]["status"], "CANCELLED");
    assert!(
        history[1]["reason"]
            .as_str()
            .unwrap()
            .contains("ban on public events")
    );

    let race = app
        .ok(None, "{ eventBySlug(slug: \"womens-and-childrens-race-2020\") { status registrationState } }", json!({}))
        .await;
    // Its registration was suspended in 2020; the start has passed since, so it reads
    // as closed (registration closes by itself at the start).
    assert_eq!(
        race["eventBySlug"],
        json!({ "status": "SCHEDULED", "registrationState": "CLOSED" })
    );
}
on_both_databases!(the_demo_tells_the_2020_story);

/// The suite names the demo's upcoming race through `marathon()` and its kin, computed
/// from the seed's own `next_race_year`: the race seeded today is the one they name, with
/// the dates that move with its year.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upcoming_race_the_tests_name_is_the_one_the_demo_seeds() {
    let app = spawn_app(Backend::Sqlite).await;
    app.seed_demo().await;
    let data = app
        .ok(
            None,
            "query($s: String!) { eventBySlug(slug: $s) { slug name status startsAt refundPolicy { deadline kitIssueFrom } } }",
            json!({ "s": marathon() }),
        )
        .await;
    assert_eq!(
        data["eventBySlug"],
        json!({ "slug": marathon(), "name": marathon_name(), "status": "SCHEDULED",
                "startsAt": marathon_starts_at(),
                "refundPolicy": { "deadline": marathon_date(3, 31), "kitIssueFrom": marathon_date(4, 12) } })
    );
    let year = marathon_year();
    assert_eq!(marathon(), format!("almaty-marathon-{year}"));
    assert!(
        marathon_date(3, 31) > chrono::Utc::now().date_naive().to_string(),
        "the refund deadline is still ahead"
    );
}

async fn events_are_listed_by_start_a_page_at_a_time(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let page = "query($after: String) { events(first: 2, after: $after) {
        edges { cursor node { slug } } pageInfo { hasNextPage hasPreviousPage endCursor } } }";
    let first = app.ok(None, page, json!({})).await;
    let slugs: Vec<&str> = first["events"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["slug"].as_str().unwrap())
        .collect();
    assert_eq!(
        slugs,
        ["almaty-marathon-2020", "womens-and-childrens-race-2020"]
    );
    assert_eq!(first["events"]["pageInfo"]["hasNextPage"], true);
    let after = first["events"]["pageInfo"]["endCursor"].clone();
    let second = app.ok(None, page, json!({ "after": after })).await;
    assert_eq!(second["events"]["edges"].as_array().unwrap().len(), 1);
    assert_eq!(
        second["events"]["edges"][0]["node"]["slug"],
        marathon().as_str()
    );
    assert_eq!(second["events"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(second["events"]["pageInfo"]["hasPreviousPage"], true);

    let filtered = app
        .ok(
            None,
            "{ events(filter: {status: [SCHEDULED], startsFrom: \"2021-01-01T00:00:00Z\"}) { edges { node { slug } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        filtered["events"]["edges"],
        json!([{ "node": { "slug": marathon() } }])
    );

    let bad = app
        .graphql(
            None,
            "{ events(after: \"not-a-cursor\") { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
    let too_many = app
        .graphql(
            None,
            "{ events(first: 1000) { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&too_many), "BAD_USER_INPUT");
}
on_both_databases!(events_are_listed_by_start_a_page_at_a_time);

async fn events_are_filtered_by_organization(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let org = entities::organization::Entity::find()
        .filter(entities::organization::Column::Slug.eq("world-class-almaty"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let data = app
        .ok(
            None,
            "query($org: ID!) { events(filter: {organizationId: $org}) { edges { node { slug } } } }",
            json!({ "org": org.id.to_string() }),
        )
        .await;
    let slugs: Vec<&str> = data["events"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["almaty-marathon-2020", marathon().as_str()]);
}
on_both_databases!(events_are_filtered_by_organization);

/// Runs a command of the gateway binary on `database_url`, with `stdin` as its input;
/// fails the test when it fails. Returns what it printed.
pub fn gateway(database_url: &str, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(gateway_binary())
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the gateway binary runs (built by cargo test)");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "gateway {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

async fn an_organizer_made_on_the_command_line_cancels_the_upcoming_race(backend: Backend) {
    let app = spawn_app(backend).await;
    let url = app.database.url.clone();
    let first = gateway(&url, &["seed", "--demo"], None);
    assert!(
        first.contains("events created: 3, charity projects created: 22"),
        "{first}"
    );
    let second = gateway(&url, &["seed", "--demo"], None);
    assert!(
        second.contains("organizations created: 0, events created: 0, charity projects created: 0"),
        "a second seed changes nothing: {second}"
    );
    gateway(
        &url,
        &[
            "accounts",
            "create",
            "--role",
            "organizer",
            "--email",
            "director@almaty-marathon.kz",
            "--organization",
            "courage-to-be-the-first",
        ],
        Some("a director's long password\n"),
    );
    let token = app
        .sign_in("director@almaty-marathon.kz", "a director's long password")
        .await;
    let upcoming = app.event_id(&marathon()).await;
    let notifications_before = app.count("notification").await;

    let data = app
        .ok(
            Some(&token),
            CHANGE_STATUS,
            json!({ "input": { "eventId": upcoming, "status": "CANCELLED", "reason": "Public events are banned" } }),
        )
        .await;
    let event = &data["changeEventStatus"];
    assert_eq!(event["status"], "CANCELLED");
    assert_eq!(event["registrationState"], "CLOSED");
    let history = event["statusHistory"].as_array().unwrap();
    assert_eq!(
        history.last().unwrap(),
        &json!({ "previousStatus": "SCHEDULED", "status": "CANCELLED", "reason": "Public events are banned", "startsAt": marathon_starts_at() })
    );

    assert_eq!(app.count("notification").await, notifications_before + 1);
    // The newest row of the log is the cancellation; the relay publishes it promptly.
    let mut outbox = Vec::new();
    for _ in 0..100 {
        outbox = entities::notification::Entity::find()
            .order_by_desc(entities::notification::Column::Id)
            .limit(1)
            .all(&app.db)
            .await
            .unwrap();
        if outbox[0].published_at.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        outbox[0].published_at.is_some(),
        "the relay published the notification"
    );
    let payload: Value = serde_json::from_str(&outbox[0].payload).unwrap();
    assert_eq!(payload["status"], "CANCELLED");
    assert_eq!(payload["previousStatus"], "SCHEDULED");
    assert_eq!(payload["eventSlug"], marathon().as_str());
    assert_eq!(payload["reason"], "Public events are banned");
}
on_both_databases!(an_organizer_made_on_the_command_line_cancels_the_upcoming_race);

async fn forbidden_transitions_are_refused_and_nothing_is_written(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let token = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let cancelled = app.event_id("almaty-marathon-2020").await;
    let upcoming = app.event_id(&marathon()).await;
    let (history, outbox) = (
        app.count("event_status_change").await,
        app.count("notification").await,
    );

    let attempts = [
        (
            json!({ "eventId": cancelled, "status": "SCHEDULED", "reason": "Try again" }),
            "INVALID_STATUS_TRANSITION",
        ),
        (
            json!({ "eventId": upcoming, "status": "SCHEDULED", "reason": "Again" }),
            "INVALID_STATUS_TRANSITION",
        ),
        (
            json!({ "eventId": upcoming, "status": "COMPLETED", "reason": "Too early" }),
            "INVALID_STATUS_TRANSITION",
        ),
        (
            json!({ "eventId": upcoming, "status": "RESCHEDULED", "reason": "No date" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "eventId": upcoming, "status": "SUSPENDED", "reason": "x", "startsAt": format!("{}T03:00:00Z", marathon_date(5, 1)) }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "eventId": upcoming, "status": "SUSPENDED", "reason": "   " }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "eventId": "999999", "status": "SUSPENDED", "reason": "Nobody" }),
            "NOT_FOUND",
        ),
    ];
    for (input, code) in attempts {
        let body = app
            .graphql(Some(&token), CHANGE_STATUS, json!({ "input": input }))
            .await;
        assert_eq!(error_code(&body), code, "{input} -> {body}");
    }
    assert_eq!(app.count("event_status_change").await, history);
    assert_eq!(app.count("notification").await, outbox);
    let state = app
        .ok(
            None,
            "query($id: ID!) { event(id: $id) { status } }",
            json!({ "id": upcoming }),
        )
        .await;
    assert_eq!(state["event"]["status"], "SCHEDULED");
}
on_both_databases!(forbidden_transitions_are_refused_and_nothing_is_written);

async fn a_race_is_suspended_rescheduled_and_resumed(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let token = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let upcoming = app.event_id(&marathon()).await;
    let suspended = app
        .ok(Some(&token), CHANGE_STATUS, json!({ "input": { "eventId": upcoming, "status": "SUSPENDED", "reason": "Awaiting a permit" } }))
        .await;
    assert_eq!(
        suspended["changeEventStatus"]["registrationState"],
        "SUSPENDED"
    );
    let may_16 = marathon_date(5, 16);
    let rescheduled = app
        .ok(
            Some(&token),
            CHANGE_STATUS,
            json!({ "input": { "eventId": upcoming, "status": "RESCHEDULED", "reason": "Moved to May", "startsAt": format!("{may_16}T08:00:00+05:00") } }),
        )
        .await;
    assert_eq!(
        rescheduled["changeEventStatus"]["startsAt"],
        format!("{may_16}T03:00:00+00:00")
    );
    let resumed = app
        .ok(Some(&token), CHANGE_STATUS, json!({ "input": { "eventId": upcoming, "status": "SCHEDULED", "reason": "Permit granted" } }))
        .await;
    let history: Vec<&str> = resumed["changeEventStatus"]["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        history,
        ["SCHEDULED", "SUSPENDED", "RESCHEDULED", "SCHEDULED"]
    );
    let local = app
        .ok(
            None,
            "query($id: ID!) { event(id: $id) { startsAtLocal } }",
            json!({ "id": upcoming }),
        )
        .await;
    assert_eq!(
        local["event"]["startsAtLocal"],
        format!("{may_16}T08:00:00+05:00")
    );
    assert_eq!(
        app.count("notification").await,
        1 + 3,
        "the demo's 2020 cancellation and three changes"
    );
}
on_both_databases!(a_race_is_suspended_rescheduled_and_resumed);

async fn only_the_events_own_organizers_may_change_it(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let women_race = app.event_id("womens-and-childrens-race-2020").await;
    let input =
        json!({ "input": { "eventId": women_race, "status": "CANCELLED", "reason": "Ban" } });

    let anonymous = app.graphql(None, CHANGE_STATUS, input.clone()).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
    let runner = app.sign_up_runner("runner@example.kz").await;
    let as_runner = app
        .graphql(Some(&runner), CHANGE_STATUS, input.clone())
        .await;
    assert_eq!(error_code(&as_runner), "FORBIDDEN");
    let other = app
        .organizer_token("coach@worldclass.kz", "world-class-almaty")
        .await;
    let as_other_organizer = app
        .graphql(Some(&other), CHANGE_STATUS, input.clone())
        .await;
    assert_eq!(error_code(&as_other_organizer), "FORBIDDEN");
    assert_eq!(
        app.count("notification").await,
        1,
        "only the demo's 2020 cancellation"
    );

    let own = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    app.ok(Some(&own), CHANGE_STATUS, input).await;
}
on_both_databases!(only_the_events_own_organizers_may_change_it);

async fn an_organizer_creates_and_edits_an_event_and_its_distances(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let token = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let create = "mutation($input: CreateEventInput!) { createEvent(input: $input) {
        id slug timeZone startsAtLocal status registrationState organizers { slug } } }";
    // In the demo's race year, so always ahead.
    let year = marathon_year();
    let starts_local = format!("{year}-08-20T21:00:00+05:00");
    let input = json!({
        "slug": format!("night-run-{year}"), "name": format!("Almaty Night Run {year}"), "venue": "Almaty",
        "startsAt": starts_local, "timeZone": "Asia/Almaty", "capacity": 3000,
        "registrationState": "OPEN"
    });
    let created = app
        .ok(Some(&token), create, json!({ "input": input }))
        .await;
    let event = &created["createEvent"];
    assert_eq!(event["startsAtLocal"], starts_local);
    assert_eq!(event["status"], "SCHEDULED");
    assert_eq!(
        event["organizers"],
        json!([{ "slug": "courage-to-be-the-first" }])
    );
    let id = event["id"].as_str().unwrap();

    let duplicate = app
        .graphql(Some(&token), create, json!({ "input": input }))
        .await;
    assert_eq!(error_code(&duplicate), "CONFLICT");
    for (field, value) in [
        ("timeZone", json!("Mars/Olympus")),
        ("slug", json!("Night Run")),
        ("capacity", json!(-1)),
    ] {
        let mut bad = input.clone();
        bad["slug"] = json!("another-run");
        bad[field] = value;
        let body = app
            .graphql(Some(&token), create, json!({ "input": bad }))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{field}: {body}");
    }

    let add = "mutation($id: ID!, $input: DistanceFields!) { addDistance(eventId: $id, input: $input) { id name fee { amount currency } } }";
    let added = app
        .ok(Some(&token), add, json!({ "id": id, "input": { "name": "10 km", "lengthMeters": 10000, "fee": { "amount": "7500.50", "currency": "KZT" } } }))
        .await;
    assert_eq!(
        added["addDistance"]["fee"],
        json!({ "amount": "7500.50", "currency": "KZT" })
    );
    let bad_fee = app
        .graphql(Some(&token), add, json!({ "id": id, "input": { "name": "5 km", "lengthMeters": 5000, "fee": { "amount": "7.555", "currency": "KZT" } } }))
        .await;
    assert_eq!(error_code(&bad_fee), "BAD_USER_INPUT");
    let same_name = app
        .graphql(Some(&token), add, json!({ "id": id, "input": { "name": "10 km", "lengthMeters": 10000, "fee": { "amount": "1", "currency": "KZT" } } }))
        .await;
    assert_eq!(error_code(&same_name), "CONFLICT");

    let update = "mutation($input: UpdateEventInput!) { updateEvent(input: $input) { name capacity registrationState } }";
    let updated = app
        .ok(Some(&token), update, json!({ "input": { "eventId": id, "name": "Night Run", "capacity": 3500, "registrationState": "CLOSED" } }))
        .await;
    assert_eq!(
        updated["updateEvent"],
        json!({ "name": "Night Run", "capacity": 3500, "registrationState": "CLOSED" })
    );

    let other = app
        .organizer_token("coach@worldclass.kz", "world-class-almaty")
        .await;
    let foreign = app
        .graphql(
            Some(&other),
            update,
            json!({ "input": { "eventId": id, "capacity": 1 } }),
        )
        .await;
    assert_eq!(error_code(&foreign), "FORBIDDEN");
    assert_eq!(app.count("distance").await, 4 + 2 + 4 + 1);
}
on_both_databases!(an_organizer_creates_and_edits_an_event_and_its_distances);

/// Moves an event's start to an hour ago, as if the weeks had passed (the gateway runs on
/// the system clock), leaving everything else as stored.
async fn as_if_started(app: &crate::helpers::TestApp, event: &str) {
    use sea_orm::sea_query::Expr;
    entities::event::Entity::update_many()
        .col_expr(
            entities::event::Column::StartsAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::hours(1)),
        )
        .filter(entities::event::Column::Id.eq(event.parse::<i64>().unwrap()))
        .exec(&app.db)
        .await
        .unwrap();
}

/// The findings: `createEvent` took a start in 1999 with registration open (runners
/// registered and paid), and a reschedule to 2001-01-01 was announced. Starts now lie in
/// the future; registration closes by itself at the start; a started event may only be
/// cancelled (with its reason) or completed.
async fn starts_lie_in_the_future_and_a_started_event_may_only_be_cancelled(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let create = "mutation($input: CreateEventInput!) { createEvent(input: $input) { id registrationState } }";
    let new_event = |slug: &str, starts_at: &str| {
        json!({ "input": { "slug": slug, "name": "Night Run", "venue": "Almaty", "startsAt": starts_at,
                "timeZone": "Asia/Almaty", "capacity": 100, "registrationState": "OPEN" } })
    };
    let (events, notifications) = (app.count("event").await, app.count("notification").await);
    let a_minute_ago = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    for past in ["1999-04-18T03:00:00Z", a_minute_ago.as_str()] {
        let body = app
            .graphql(Some(&organizer), create, new_event("night-run-past", past))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{past}: {body}");
        assert_eq!(
            body["errors"][0]["message"],
            "startsAt must be in the future"
        );
    }
    assert_eq!(app.count("event").await, events);

    let in_a_month = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let mut ids = Vec::new();
    for slug in ["night-run", "night-run-suspended"] {
        let created = app
            .ok(Some(&organizer), create, new_event(slug, &in_a_month))
            .await;
        assert_eq!(created["createEvent"]["registrationState"], "OPEN");
        ids.push(created["createEvent"]["id"].as_str().unwrap().to_owned());
    }
    let (event, suspended) = (ids[0].clone(), ids[1].clone());
    let change = |status: &str, starts_at: Option<&str>| json!({ "input": { "eventId": event, "status": status, "reason": "The river flooded the course", "startsAt": starts_at } });
    let body = app
        .graphql(
            Some(&organizer),
            CHANGE_STATUS,
            change("RESCHEDULED", Some("2001-01-01T00:00:00Z")),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(
        app.count("notification").await,
        notifications,
        "nothing announced"
    );
    app.ok(
        Some(&organizer),
        CHANGE_STATUS,
        json!({ "input": { "eventId": suspended, "status": "SUSPENDED", "reason": "Awaiting a permit" } }),
    )
    .await;
    let distance = app
        .ok(
            Some(&organizer),
            "mutation($e: ID!, $input: DistanceFields!) { addDistance(eventId: $e, input: $input) { id } }",
            json!({ "e": event, "input": { "name": "10 km", "lengthMeters": 10000, "fee": { "amount": "5000", "currency": "KZT" } } }),
        )
        .await["addDistance"]["id"]
        .clone();

    // The start passes; the stored registration state still says OPEN.
    as_if_started(&app, &event).await;
    as_if_started(&app, &suspended).await;
    let stored: Vec<entities::event::Model> = entities::event::Entity::find()
        .filter(entities::event::Column::Slug.eq("night-run"))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(
        stored[0].registration_state,
        entities::event::RegistrationState::Open
    );
    let runner = app.runner_tokens(1).await.remove(0);
    let body = app
        .graphql(
            Some(&runner),
            "mutation($input: RegisterInput!) { register(input: $input) { id } }",
            json!({ "input": { "distanceId": distance } }),
        )
        .await;
    assert_eq!(error_code(&body), "REGISTRATION_CLOSED", "{body}");
    assert_eq!(app.count("registration").await, 0);
    let seen = app
        .ok(
            None,
            "query($e: ID!) { event(id: $e) { registrationState } }",
            json!({ "e": event }),
        )
        .await;
    assert_eq!(seen["event"]["registrationState"], "CLOSED");
    let reopen = app
        .graphql(
            Some(&organizer),
            "mutation($input: UpdateEventInput!) { updateEvent(input: $input) { id } }",
            json!({ "input": { "eventId": event, "registrationState": "OPEN" } }),
        )
        .await;
    assert_eq!(error_code(&reopen), "CONFLICT", "{reopen}");

    let in_a_year = (chrono::Utc::now() + chrono::Duration::days(365)).to_rfc3339();
    for (what, input) in [
        ("suspend", change("SUSPENDED", None)),
        ("reschedule", change("RESCHEDULED", Some(&in_a_year))),
        (
            "resume",
            json!({ "input": { "eventId": suspended, "status": "SCHEDULED", "reason": "Permit granted" } }),
        ),
    ] {
        let body = app.graphql(Some(&organizer), CHANGE_STATUS, input).await;
        assert_eq!(
            error_code(&body),
            "INVALID_STATUS_TRANSITION",
            "{what}: {body}"
        );
    }
    assert_eq!(
        app.count("notification").await,
        notifications + 1,
        "only the suspension"
    );

    // Cancelled after the fact, with its reason: allowed, and announced.
    let cancelled = app
        .ok(Some(&organizer), CHANGE_STATUS, change("CANCELLED", None))
        .await;
    let cancelled = &cancelled["changeEventStatus"];
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(
        cancelled["statusHistory"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()["reason"],
        "The river flooded the course"
    );
    assert_eq!(app.count("notification").await, notifications + 2);
}
on_both_databases!(starts_lie_in_the_future_and_a_started_event_may_only_be_cancelled);
