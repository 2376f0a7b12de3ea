//! Public reads answered from memory (`server/src/http/response_cache.rs`), dropped by the
//! writes that change them: on the instance that wrote, on the others of a fleet, and by
//! the clock where the clock changes an answer. Each test proves by order: a write made by
//! hand in the database, which no mutation announces, stays unseen until a mutation drops
//! the answer, so what is served before that came from memory.

use std::time::Duration;

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::alerts::change;
use crate::alerts_cluster::{cancel, demo_database, event_id, instance};
use crate::helpers::{Backend, marathon, spawn_app, unique_name};

const RACES: &str =
    "query Races { events(first: 25) { edges { node { id slug name status placesLeft } } } }";
const ONE_RACE: &str = "query($id: ID!) { event(id: $id) { registrationState placesLeft } }";

struct Answer {
    status: u16,
    etag: Option<String>,
    cache_control: Option<String>,
    body: Value,
}

async fn get(
    address: &str,
    query: &str,
    variables: Value,
    token: Option<&str>,
    if_none_match: Option<&str>,
) -> Answer {
    let mut request = reqwest::Client::new()
        .get(format!("{address}/graphql"))
        .query(&[("query", query), ("variables", &variables.to_string())]);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(tag) = if_none_match {
        request = request.header("If-None-Match", tag);
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (status, etag, cache_control) = (
        response.status().as_u16(),
        header("etag"),
        header("cache-control"),
    );
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    Answer {
        status,
        etag,
        cache_control,
        body,
    }
}

/// The race with `slug` in a Races answer.
fn race<'a>(body: &'a Value, slug: &str) -> &'a Value {
    body["data"]["events"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| &edge["node"])
        .find(|node| node["slug"] == slug)
        .unwrap_or_else(|| panic!("{slug} in {body}"))
}

async fn rename_by_hand(db: &impl ConnectionTrait, slug: &str, name: &str) {
    db.execute_unprepared(&format!(
        "UPDATE event SET name = '{name}' WHERE slug = '{slug}'"
    ))
    .await
    .unwrap();
}

async fn an_anonymous_read_is_shared_until_an_organizer_changes_the_race(backend: Backend) {
    let app = spawn_app(backend).await;
    let (organizer, event) = app.demo_organizer_and_marathon().await;
    let slug = marathon();
    let first = get(&app.address, RACES, json!({}), None, None).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let tag = first.etag.clone().expect("a public read has an ETag");
    assert_eq!(
        first.cache_control.as_deref(),
        Some("public, max-age=0, must-revalidate")
    );
    let name = race(&first.body, &slug)["name"].clone();

    rename_by_hand(&app.db, &slug, "Renamed by hand").await;
    let again = get(&app.address, RACES, json!({}), None, None).await;
    assert_eq!(race(&again.body, &slug)["name"], name, "served from memory");
    assert_eq!(again.etag.as_deref(), Some(tag.as_str()));
    let unchanged = get(&app.address, RACES, json!({}), None, Some(&tag)).await;
    assert_eq!(unchanged.status, 304);
    assert_eq!(unchanged.body, Value::Null);

    // An organizer, signed in, is never answered from the shared answer, nor cached.
    let own = get(&app.address, RACES, json!({}), Some(&organizer), None).await;
    assert_eq!(race(&own.body, &slug)["name"], "Renamed by hand");
    assert_eq!(own.etag, None);
    assert_eq!(own.cache_control.as_deref(), Some("no-store"));

    change(
        (&app, &organizer),
        &event,
        "CANCELLED",
        "Public events are banned",
        None,
    )
    .await;
    let after = get(&app.address, RACES, json!({}), None, Some(&tag)).await;
    assert_eq!(after.status, 200, "a stale ETag gets the new body");
    assert_eq!(race(&after.body, &slug)["status"], "CANCELLED");
    assert_eq!(race(&after.body, &slug)["name"], "Renamed by hand");
    assert_ne!(after.etag.as_deref(), Some(tag.as_str()));
}

#[tokio::test]
async fn an_anonymous_read_is_shared_until_an_organizer_changes_the_race_on_sqlite() {
    an_anonymous_read_is_shared_until_an_organizer_changes_the_race(Backend::Sqlite).await;
}

#[tokio::test]
async fn an_anonymous_read_is_shared_until_an_organizer_changes_the_race_on_postgres() {
    an_anonymous_read_is_shared_until_an_organizer_changes_the_race(Backend::Postgres).await;
}

#[tokio::test]
async fn a_registration_shows_in_the_places_left_at_once() {
    let app = spawn_app(Backend::Postgres).await;
    app.seed_demo().await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let slug = unique_name("tiny-race").replace('_', "-");
    let (event, _) = app.small_race(&organizer, &slug, 3).await;
    let before = get(&app.address, ONE_RACE, json!({ "id": event }), None, None).await;
    assert_eq!(
        before.body["data"]["event"]["placesLeft"], 3,
        "{}",
        before.body
    );
    rename_by_hand(&app.db, &slug, "Unseen").await;
    assert!(
        get(&app.address, ONE_RACE, json!({ "id": event }), None, None)
            .await
            .etag
            == before.etag
    );
    // A runner's sign-up and sign-in change no public read; the registration does.
    app.registered_runner(&format!("{slug}@example.kz"), &slug, 0)
        .await;
    let after = get(&app.address, ONE_RACE, json!({ "id": event }), None, None).await;
    assert_eq!(
        after.body["data"]["event"]["placesLeft"], 2,
        "{}",
        after.body
    );
}

#[tokio::test]
async fn registration_closes_in_the_shared_answer_when_the_race_starts() {
    let app = spawn_app(Backend::Sqlite).await;
    app.seed_demo().await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let starts_at = chrono::Utc::now() + chrono::Duration::seconds(3);
    let created = app
        .ok(
            Some(&organizer),
            "mutation($input: CreateEventInput!) { createEvent(input: $input) { id } }",
            json!({ "input": { "slug": unique_name("sprint").replace('_', "-"), "name": "Sprint", "venue": "Almaty",
                    "startsAt": starts_at.to_rfc3339(), "timeZone": "Asia/Almaty", "capacity": 10,
                    "registrationState": "OPEN" } }),
        )
        .await;
    let event = created["createEvent"]["id"].as_str().unwrap().to_owned();
    let open = get(&app.address, ONE_RACE, json!({ "id": event }), None, None).await;
    assert_eq!(open.body["data"]["event"]["registrationState"], "OPEN");
    let wait = (starts_at - chrono::Utc::now())
        .to_std()
        .unwrap_or_default()
        + Duration::from_millis(100);
    tokio::time::sleep(wait).await;
    let closed = get(&app.address, ONE_RACE, json!({ "id": event }), None, None).await;
    assert_eq!(
        closed.body["data"]["event"]["registrationState"], "CLOSED",
        "the race has started: {}",
        closed.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_instance_drops_the_shared_answer_on_the_other() {
    let (database, organizer) = demo_database().await;
    let prefix = unique_name("gwcache");
    let redis = "redis://127.0.0.1:6379";
    let a = instance(&database, redis, &prefix, &[]).await;
    let b = instance(&database, redis, &prefix, &[]).await;
    let event = event_id(&a, &marathon()).await;
    let slug = marathon();
    let first = get(&b.address, RACES, json!({}), None, None).await;
    assert_ne!(race(&first.body, &slug)["status"], "CANCELLED");
    let db = server::database::connect(&database.url, 1, server::database::Ping::Always)
        .await
        .unwrap();
    rename_by_hand(&db, &slug, "Renamed by hand").await;
    let cached = get(&b.address, RACES, json!({}), None, None).await;
    assert_ne!(
        race(&cached.body, &slug)["name"],
        "Renamed by hand",
        "b answers from memory"
    );

    cancel(
        &a,
        &organizer,
        &event,
        "CANCELLED",
        "Public events are banned",
    )
    .await;
    // No wait: the generation moved before the mutation on a answered.
    let after = get(&b.address, RACES, json!({}), None, None).await;
    assert_eq!(race(&after.body, &slug)["status"], "CANCELLED");
    assert_eq!(race(&after.body, &slug)["name"], "Renamed by hand");
}

/// A named operation alone in its document runs without `operationName`; over GET a
/// named mutation is refused like an anonymous one (it was executed before the shared
/// answers taught the handler to read a lone named operation).
#[tokio::test]
async fn a_lone_named_mutation_over_get_is_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = reqwest::Client::new()
        .get(app.graphql_url())
        .query(&[("query", "mutation Out { signOut }")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
}
