//! An organizer's own deployment from nothing: the gateway binary on an empty PostgreSQL
//! database, with only the commands and mutations README.md and docs/OPERATIONS.md show
//! (no demo seeding), up to a first cancellation that a registered runner hears live.

use gateway_tests::{Gateway, post_graphql};
use serde_json::{Value, json};

use crate::events::gateway;
use crate::helpers::{Backend, TestDatabase, error_code, marathon, marathon_date, marathon_name};
use crate::ws_client::{TRANSPORT, Ws};

/// One GraphQL request to the child gateway; the whole answer.
pub(crate) async fn graphql(
    server: &Gateway,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    post_graphql(
        &reqwest::Client::new(),
        &server.address,
        token,
        &json!({ "query": query, "variables": variables }),
    )
    .await
    .unwrap()
}

/// Like [`graphql`], the answer without errors; its `data`.
pub(crate) async fn ok(
    server: &Gateway,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let body = graphql(server, token, query, variables).await;
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"].clone()
}

pub(crate) async fn sign_in(server: &Gateway, email: &str, password: &str) -> String {
    let data = ok(
        server,
        None,
        "mutation($input: SignInInput!) { signIn(input: $input) { token } }",
        json!({ "input": { "email": email, "password": password } }),
    )
    .await;
    data["signIn"]["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organizer_starts_from_an_empty_database_and_a_runner_hears_the_first_cancellation() {
    let database = TestDatabase::create(Backend::Postgres).await.unwrap();
    let url = database.url.as_str();

    // The operator's commands, as OPERATIONS.md lists them.
    gateway(url, &["migrate"], None);
    let created = gateway(
        url,
        &[
            "organizations",
            "create",
            "--slug",
            "courage-to-be-the-first",
            "--name",
            "Courage to be the First Corporate Fund",
        ],
        None,
    );
    assert!(
        created.contains("courage-to-be-the-first (Organizer)"),
        "{created}"
    );
    for (slug, name) in [("kaspi-kz", "Kaspi.kz"), ("halyk-bank", "Halyk Bank")] {
        gateway(
            url,
            &[
                "organizations",
                "create",
                "--slug",
                slug,
                "--name",
                name,
                "--kind",
                "partner",
            ],
            None,
        );
    }
    gateway(
        url,
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
    gateway(
        url,
        &[
            "accounts",
            "create",
            "--role",
            "runner",
            "--email",
            "runner@example.kz",
        ],
        Some("a runner's long password\n"),
    );

    // Production defaults: DATABASE_URL set, so no demo data, GraphiQL and introspection off.
    let server = Gateway::start(&[("DATABASE_URL", database.url.clone())])
        .await
        .unwrap();
    let events = ok(
        &server,
        None,
        "{ events(first: 10) { edges { node { slug } } } }",
        json!({}),
    )
    .await;
    assert_eq!(events["events"]["edges"], json!([]), "nothing was seeded");

    let director = sign_in(
        &server,
        "director@almaty-marathon.kz",
        "a director's long password",
    )
    .await;
    // The race the demo would seed today, made by hand.
    let slug = marathon();
    let created = ok(
        &server,
        Some(&director),
        "mutation($input: CreateEventInput!) { createEvent(input: $input) { id organizers { slug kind } } }",
        json!({ "input": { "slug": slug, "name": marathon_name(), "venue": "Republic Square, Almaty",
                "startsAt": format!("{}T03:00:00Z", marathon_date(4, 18)), "timeZone": "Asia/Almaty", "capacity": 1000, "registrationState": "OPEN" } }),
    )
    .await;
    let event = created["createEvent"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["createEvent"]["organizers"],
        json!([{ "slug": "courage-to-be-the-first", "kind": "ORGANIZER" }])
    );
    let distance = ok(
        &server,
        Some(&director),
        "mutation($e: ID!, $input: DistanceFields!) { addDistance(eventId: $e, input: $input) { id } }",
        json!({ "e": event, "input": { "name": "Marathon", "lengthMeters": 42195, "fee": { "amount": "15000", "currency": "KZT" } } }),
    )
    .await["addDistance"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The sponsor, over GraphQL; a second one by the operator's command.
    const LINK: &str = "mutation($e: ID!, $p: String!) { linkPartner(eventId: $e, partnerSlug: $p) { partners { slug kind } } }";
    let linked = ok(
        &server,
        Some(&director),
        LINK,
        json!({ "e": event, "p": "kaspi-kz" }),
    )
    .await;
    assert_eq!(
        linked["linkPartner"]["partners"],
        json!([{ "slug": "kaspi-kz", "kind": "PARTNER" }])
    );
    let again = graphql(
        &server,
        Some(&director),
        LINK,
        json!({ "e": event, "p": "kaspi-kz" }),
    )
    .await;
    assert_eq!(error_code(&again), "CONFLICT", "{again}");
    let organizer_as_partner = graphql(
        &server,
        Some(&director),
        LINK,
        json!({ "e": event, "p": "courage-to-be-the-first" }),
    )
    .await;
    assert_eq!(
        error_code(&organizer_as_partner),
        "BAD_USER_INPUT",
        "{organizer_as_partner}"
    );
    let printed = gateway(
        url,
        &[
            "organizations",
            "link",
            "--event",
            &slug,
            "--partner",
            "halyk-bank",
        ],
        None,
    );
    assert!(
        printed.contains(&format!("halyk-bank now partners {slug}")),
        "{printed}"
    );

    // The runner registers and listens from "now" on, as the runner page does.
    let runner = sign_in(&server, "runner@example.kz", "a runner's long password").await;
    let registered = ok(
        &server,
        Some(&runner),
        "mutation($input: RegisterInput!) { register(input: $input) { bib } }",
        json!({ "input": { "distanceId": distance, "tshirtSize": "M", "gender": "FEMALE", "birthDate": "1990-05-01", "country": "kz", "city": "Almaty" } }),
    )
    .await;
    assert_eq!(registered["register"]["bib"], 1);
    let cursor = ok(&server, Some(&runner), "{ notificationsCursor }", json!({})).await["notificationsCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let ws_url = format!("{}/graphql/ws", server.address.replace("http://", "ws://"));
    let mut ws = Ws::init(&ws_url, TRANSPORT, Some(&runner)).await;
    ws.subscribe(
        TRANSPORT,
        "alerts",
        "subscription($after: String) { myNotifications(after: $after) { kind eventStatusChange { status reason event { slug } } } }",
        json!({ "after": cursor }),
    )
    .await;

    let cancelled = ok(
        &server,
        Some(&director),
        "mutation($input: ChangeEventStatusInput!) { changeEventStatus(input: $input) { status } }",
        json!({ "input": { "eventId": event, "status": "CANCELLED", "reason": "Public events are banned" } }),
    )
    .await;
    assert_eq!(cancelled["changeEventStatus"]["status"], "CANCELLED");
    let heard = ws.payload("alerts").await;
    assert_eq!(
        heard["data"]["myNotifications"],
        json!({ "kind": "EVENT_STATUS_CHANGED", "eventStatusChange": {
            "status": "CANCELLED", "reason": "Public events are banned", "event": { "slug": slug } } })
    );

    // A sentinel: the runner's second race, cancelled too, is the next thing they hear,
    // so the first cancellation came once.
    let starts_at = (chrono::Utc::now() + chrono::Duration::days(365)).to_rfc3339();
    let second = ok(
        &server,
        Some(&director),
        "mutation($input: CreateEventInput!) { createEvent(input: $input) { id } }",
        json!({ "input": { "slug": "night-run", "name": "Night Run", "venue": "Almaty", "startsAt": starts_at,
                "timeZone": "Asia/Almaty", "capacity": 100, "registrationState": "OPEN" } }),
    )
    .await["createEvent"]["id"]
        .clone();
    let night_distance = ok(
        &server,
        Some(&director),
        "mutation($id: ID!) { addDistance(eventId: $id, input: {name: \"5 km\", lengthMeters: 5000, fee: {amount: \"5000\", currency: \"KZT\"}}) { id } }",
        json!({ "id": second }),
    )
    .await["addDistance"]["id"]
        .clone();
    ok(
        &server,
        Some(&runner),
        "mutation($input: RegisterInput!) { register(input: $input) { bib } }",
        json!({ "input": { "distanceId": night_distance, "tshirtSize": "M", "gender": "FEMALE", "birthDate": "1990-05-01", "country": "kz", "city": "Almaty" } }),
    )
    .await;
    ok(
        &server,
        Some(&director),
        "mutation($input: ChangeEventStatusInput!) { changeEventStatus(input: $input) { status } }",
        json!({ "input": { "eventId": second, "status": "CANCELLED", "reason": "Sentinel" } }),
    )
    .await;
    let sentinel = ws.payload("alerts").await;
    assert_eq!(
        sentinel["data"]["myNotifications"]["eventStatusChange"]["event"]["slug"], "night-run",
        "{sentinel}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_has_at_most_ten_partners() {
    let database = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let url = database.url.as_str();
    gateway(url, &["migrate"], None);
    gateway(
        url,
        &[
            "organizations",
            "create",
            "--slug",
            "the-fund",
            "--name",
            "The Fund",
        ],
        None,
    );
    gateway(
        url,
        &[
            "accounts",
            "create",
            "--role",
            "organizer",
            "--email",
            "director@example.kz",
            "--organization",
            "the-fund",
        ],
        Some("a director's long password\n"),
    );
    let server = Gateway::start(&[("DATABASE_URL", database.url.clone())])
        .await
        .unwrap();
    let director = sign_in(&server, "director@example.kz", "a director's long password").await;
    let event = ok(
        &server,
        Some(&director),
        "mutation($input: CreateEventInput!) { createEvent(input: $input) { id } }",
        json!({ "input": { "slug": "city-run", "name": "City Run", "venue": "Almaty",
                "startsAt": format!("{}T03:00:00Z", marathon_date(9, 19)), "timeZone": "Asia/Almaty", "capacity": 100 } }),
    )
    .await["createEvent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for n in 1..=11 {
        let slug = format!("sponsor-{n}");
        gateway(
            url,
            &[
                "organizations",
                "create",
                "--slug",
                &slug,
                "--name",
                &slug,
                "--kind",
                "partner",
            ],
            None,
        );
        let answer = graphql(
            &server,
            Some(&director),
            "mutation($e: ID!, $p: String!) { linkPartner(eventId: $e, partnerSlug: $p) { partners { slug } } }",
            json!({ "e": event, "p": slug }),
        )
        .await;
        if n <= 10 {
            assert!(answer.get("errors").is_none(), "{answer}");
        } else {
            assert_eq!(error_code(&answer), "BAD_USER_INPUT", "{answer}");
            assert!(
                answer["errors"][0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("at most 10 partners"),
                "{answer}"
            );
        }
    }
}
