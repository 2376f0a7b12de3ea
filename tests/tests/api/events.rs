//! The events API: the demo story, the listing, organizer CRUD, and `changeEventStatus`
//! with its history and outbox row written in one transaction, or not at all.

use std::io::Write;
use std::process::{Command, Stdio};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Value, json};

use crate::helpers::{Backend, error_code, gateway_binary, spawn_app};
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
    assert_eq!(
        race["eventBySlug"],
        json!({ "status": "SCHEDULED", "registrationState": "SUSPENDED" })
    );
}
on_both_databases!(the_demo_tells_the_2020_story);

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
        "almaty-marathon-2027"
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
        json!([{ "node": { "slug": "almaty-marathon-2027" } }])
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
    assert_eq!(slugs, ["almaty-marathon-2020", "almaty-marathon-2027"]);
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
    let upcoming = app.event_id("almaty-marathon-2027").await;
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
        &json!({ "previousStatus": "SCHEDULED", "status": "CANCELLED", "reason": "Public events are banned", "startsAt": "2027-04-18T03:00:00+00:00" })
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
    assert_eq!(payload["eventSlug"], "almaty-marathon-2027");
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
    let upcoming = app.event_id("almaty-marathon-2027").await;
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
            json!({ "eventId": upcoming, "status": "SUSPENDED", "reason": "x", "startsAt": "2027-05-01T03:00:00Z" }),
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
    let upcoming = app.event_id("almaty-marathon-2027").await;
    let suspended = app
        .ok(Some(&token), CHANGE_STATUS, json!({ "input": { "eventId": upcoming, "status": "SUSPENDED", "reason": "Awaiting a permit" } }))
        .await;
    assert_eq!(
        suspended["changeEventStatus"]["registrationState"],
        "SUSPENDED"
    );
    let rescheduled = app
        .ok(
            Some(&token),
            CHANGE_STATUS,
            json!({ "input": { "eventId": upcoming, "status": "RESCHEDULED", "reason": "Moved to May", "startsAt": "2027-05-16T08:00:00+05:00" } }),
        )
        .await;
    assert_eq!(
        rescheduled["changeEventStatus"]["startsAt"],
        "2027-05-16T03:00:00+00:00"
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
    assert_eq!(local["event"]["startsAtLocal"], "2027-05-16T08:00:00+05:00");
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
    let input = json!({
        "slug": "night-run-2027", "name": "Almaty Night Run 2027", "venue": "Almaty",
        "startsAt": "2027-08-20T21:00:00+05:00", "timeZone": "Asia/Almaty", "capacity": 3000,
        "registrationState": "OPEN"
    });
    let created = app
        .ok(Some(&token), create, json!({ "input": input }))
        .await;
    let event = &created["createEvent"];
    assert_eq!(event["startsAtLocal"], "2027-08-20T21:00:00+05:00");
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
