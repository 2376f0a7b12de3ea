//! Every document is priced before it runs: a list costs its declared bound times an item,
//! a subscription has a lower budget than a query, and a query over a WebSocket has the
//! same deadline as over HTTP. A list never returns more than its bound.

use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_code, marathon, spawn_app, spawn_app_with};
use crate::on_both_databases;
use crate::ws_client::{Received, TRANSPORT, Ws};

/// Three levels of distances: 30 × 30 × 30 names, priced 27,931.
const THREE_LEVELS: &str = "query($e: ID!) { event(id: $e) { distances { event { distances { event { distances { name } } } } } } }";
/// Two levels: 30 × 30 names, priced 931.
const TWO_LEVELS: &str =
    "query($e: ID!) { event(id: $e) { distances { event { distances { name } } } } }";

/// The demo's upcoming race with 40 distances: 36 written straight to the database, past
/// the bound an organizer meets, as rows from before the bound would be.
async fn race_with_forty_distances(app: &TestApp) -> String {
    app.seed_demo().await;
    let race = entities::event::Entity::find()
        .filter(entities::event::Column::Slug.eq(marathon()))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    for n in 0..36 {
        race_office::services::events::insert_distance(
            &app.db,
            chrono::Utc::now(),
            race.id,
            race_office::services::events::DistanceInput {
                name: format!("Trail {n}"),
                length_m: 1000 + n,
                fee: race_office::domain::Money::parse("1000", "KZT").unwrap(),
            },
        )
        .await
        .unwrap();
    }
    app.event_id(&marathon()).await
}

async fn a_list_answers_at_most_its_bound_and_a_chain_of_lists_is_priced_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let event = race_with_forty_distances(&app).await;
    let two = app.ok(None, TWO_LEVELS, json!({ "e": event })).await;
    let distances = two["event"]["distances"].as_array().unwrap();
    assert_eq!(distances.len(), 30, "40 rows, 30 answered");
    assert_eq!(
        distances[0]["event"]["distances"].as_array().unwrap().len(),
        30
    );

    let refused = app.graphql(None, THREE_LEVELS, json!({ "e": event })).await;
    assert_eq!(error_code(&refused), "QUERY_TOO_COMPLEX", "{refused}");
    let extensions = &refused["errors"][0]["extensions"];
    assert_eq!(extensions["limit"], "QUERY_COMPLEXITY_LIMIT");
    assert_eq!(extensions["max"], 20_000);
    assert_eq!(extensions["cost"], 27_931);
    assert!(refused["data"].is_null(), "{refused}");

    // The same document sent as a query over the WebSocket meets the same price.
    let mut ws = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    ws.subscribe(TRANSPORT, "q", THREE_LEVELS, json!({ "e": event }))
        .await;
    match ws.next(Duration::from_secs(10)).await {
        Received::Json(message) => {
            assert_eq!(message["type"], "error", "{message}");
            assert_eq!(
                message["payload"][0]["extensions"]["code"],
                "QUERY_TOO_COMPLEX"
            );
        }
        other => panic!("expected an error, got {other:?}"),
    }
}
on_both_databases!(a_list_answers_at_most_its_bound_and_a_chain_of_lists_is_priced_first);

async fn an_organizer_cannot_give_an_event_a_thirty_first_distance(backend: Backend) {
    let app = spawn_app(backend).await;
    let (organizer, event) = app.demo_organizer_and_marathon().await;
    let add = "mutation($e: ID!, $n: String!) { addDistance(eventId: $e, input: { name: $n, lengthMeters: 1000, fee: { amount: \"1000\", currency: \"KZT\" } }) { id } }";
    // The demo race has 4: 26 more reach the bound.
    for n in 0..26 {
        app.ok(
            Some(&organizer),
            add,
            json!({ "e": event, "n": format!("Loop {n}") }),
        )
        .await;
    }
    let refused = app
        .graphql(
            Some(&organizer),
            add,
            json!({ "e": event, "n": "One too many" }),
        )
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(app.distance_ids(&marathon()).await.len(), 30);
}
on_both_databases!(an_organizer_cannot_give_an_event_a_thirty_first_distance);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_has_a_lower_budget_than_a_query() {
    let app = spawn_app(Backend::Sqlite).await;
    app.seed_demo().await;
    let event = app.event_id(&marathon()).await;
    // Priced 1 + 1 + 30 × (1 + 30) = 932: a query may, a subscription may not.
    let selection = "event { distances { event { distances { name } } } }";
    app.ok(None, TWO_LEVELS, json!({ "e": event })).await;
    let mut ws = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    ws.subscribe(
        TRANSPORT,
        "s",
        &format!("subscription($e: ID) {{ eventStatusChanged(eventId: $e) {{ id {selection} }} }}"),
        json!({ "e": event }),
    )
    .await;
    let message = match ws.next(Duration::from_secs(10)).await {
        Received::Json(message) => message,
        other => panic!("expected an error, got {other:?}"),
    };
    assert_eq!(message["type"], "error", "{message}");
    let extensions: &Value = &message["payload"][0]["extensions"];
    assert_eq!(extensions["code"], "QUERY_TOO_COMPLEX", "{message}");
    assert_eq!(extensions["limit"], "SUBSCRIPTION_COMPLEXITY_LIMIT");
    // The socket stays open for what fits.
    ws.subscribe(
        TRANSPORT,
        "t",
        "subscription($e: ID) { eventStatusChanged(eventId: $e) { id event { distances { name } } } }",
        json!({ "e": event }),
    )
    .await;
    // Settled with nothing before the pong: the refusal would have come first.
    ws.settle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_over_the_websocket_meets_the_http_deadline() {
    // A deadline no database answer can meet: the query is cut off, as over HTTP.
    let app = spawn_app_with(Backend::Sqlite, |settings| {
        settings.http.request_timeout = Duration::from_nanos(1);
    })
    .await;
    app.seed_demo().await;
    let mut ws = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    ws.subscribe(
        TRANSPORT,
        "q",
        "{ events(first: 10) { edges { node { name distances { name } } } } }",
        json!({}),
    )
    .await;
    match ws.next(Duration::from_secs(10)).await {
        Received::Json(message) => {
            assert_eq!(message["type"], "error", "{message}");
            assert_eq!(
                message["payload"][0]["extensions"]["code"], "TIMEOUT",
                "{message}"
            );
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_only_so_many_sockets_and_live_subscriptions() {
    let app = spawn_app_with(Backend::Sqlite, |settings| {
        settings.websocket.max_sockets_per_address = 3;
        settings.websocket.max_subscriptions_per_address = 4;
    })
    .await;
    app.seed_demo().await;
    let event = app.event_id(&marathon()).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(Ws::init(&app.ws_url(), TRANSPORT, None).await);
    }
    let Err((status, _, body)) = Ws::try_connect(&app.ws_url(), &[TRANSPORT]).await else {
        panic!("a fourth socket from one address was taken");
    };
    assert_eq!(status, 429);
    assert_eq!(error_code(&body), "TOO_MANY_CONNECTIONS", "{body}");
    // A socket closed makes room.
    let closed = open.pop().unwrap();
    assert_eq!(closed.close_normally().await, Some(1000));
    let mut room = None;
    for _ in 0..50 {
        if let Ok(socket) = Ws::try_connect(&app.ws_url(), &[TRANSPORT]).await {
            room = Some(socket);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        room.is_some(),
        "the closed socket's place was not given back"
    );

    // Four live subscriptions over two sockets; the fifth is refused.
    let subscription = "subscription($e: ID) { eventStatusChanged(eventId: $e) { id } }";
    for (socket, id) in [(0, "a"), (0, "b"), (1, "c"), (1, "d")] {
        open[socket]
            .subscribe(TRANSPORT, id, subscription, json!({ "e": event }))
            .await;
    }
    // A ping answered proves the four are in place.
    open[1].send(json!({ "type": "ping" })).await;
    assert!(
        matches!(open[1].next(Duration::from_secs(5)).await, Received::Json(m) if m["type"] == "pong")
    );
    open[0].send(json!({ "type": "ping" })).await;
    assert!(
        matches!(open[0].next(Duration::from_secs(5)).await, Received::Json(m) if m["type"] == "pong")
    );
    open[1]
        .subscribe(TRANSPORT, "e", subscription, json!({ "e": event }))
        .await;
    match open[1].next(Duration::from_secs(5)).await {
        Received::Json(message) => {
            assert_eq!(message["type"], "error", "{message}");
            assert_eq!(
                message["payload"][0]["extensions"]["code"],
                "TOO_MANY_SUBSCRIPTIONS"
            );
        }
        other => panic!("expected an error, got {other:?}"),
    }
    // One completed (its pong proves it was handled), one more may start.
    open[0].send(json!({ "id": "a", "type": "complete" })).await;
    open[0].send(json!({ "type": "ping" })).await;
    assert!(
        matches!(open[0].next(Duration::from_secs(5)).await, Received::Json(m) if m["type"] == "pong")
    );
    open[1]
        .subscribe(TRANSPORT, "f", subscription, json!({ "e": event }))
        .await;
    open[1].send(json!({ "type": "ping" })).await;
    assert!(
        matches!(open[1].next(Duration::from_secs(5)).await, Received::Json(m) if m["type"] == "pong")
    );
}

/// An answer over RESPONSE_MAX_BYTES is replaced by a coded error on every transport; a
/// subscription whose alert would be over it ends, and the socket's other subscriptions go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_is_larger_than_its_ceiling_on_any_transport() {
    let app = spawn_app_with(Backend::Sqlite, |settings| {
        settings.limits.response_max_bytes = 800;
    })
    .await;
    let event = race_with_forty_distances(&app).await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let big = "query($e: ID!) { event(id: $e) { distances { name lengthMeters } } }";
    let small = "query($e: ID!) { event(id: $e) { name } }";
    let refused = app.graphql(None, big, json!({ "e": event })).await;
    assert_eq!(error_code(&refused), "RESPONSE_TOO_LARGE", "{refused}");
    app.ok(None, small, json!({ "e": event })).await;

    let mut ws = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    ws.subscribe(TRANSPORT, "q", big, json!({ "e": event }))
        .await;
    match ws.next(Duration::from_secs(10)).await {
        Received::Json(message) => {
            assert_eq!(message["type"], "error", "{message}");
            assert_eq!(
                message["payload"][0]["extensions"]["code"], "RESPONSE_TOO_LARGE",
                "{message}"
            );
        }
        other => panic!("expected an error, got {other:?}"),
    }
    ws.subscribe(
        TRANSPORT,
        "big",
        "subscription($e: ID) { eventStatusChanged(eventId: $e) { id event { distances { name lengthMeters } } } }",
        json!({ "e": event }),
    )
    .await;
    ws.subscribe(
        TRANSPORT,
        "small",
        "subscription($e: ID) { eventStatusChanged(eventId: $e) { status } }",
        json!({ "e": event }),
    )
    .await;
    ws.send(json!({ "type": "ping" })).await;
    assert!(
        matches!(ws.next(Duration::from_secs(5)).await, Received::Json(m) if m["type"] == "pong")
    );
    for (status, reason) in [("SUSPENDED", "Heat"), ("SCHEDULED", "Cooler")] {
        crate::alerts::change((&app, &organizer), &event, status, reason, None).await;
    }
    // In order: the big one's error once, the small one's two alerts; nothing else.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        match ws.next(Duration::from_secs(10)).await {
            Received::Json(message) => seen.push(message),
            other => panic!("expected a frame, got {other:?}"),
        }
    }
    let big_error = seen.iter().find(|m| m["id"] == "big").unwrap();
    assert_eq!(big_error["type"], "error", "{big_error}");
    assert_eq!(
        big_error["payload"][0]["extensions"]["code"],
        "RESPONSE_TOO_LARGE"
    );
    let small: Vec<&Value> = seen.iter().filter(|m| m["id"] == "small").collect();
    assert_eq!(small.len(), 2, "{seen:?}");
    assert_eq!(
        small[1]["payload"]["data"]["eventStatusChanged"]["status"],
        "SCHEDULED"
    );
    // The ended one is gone: a third change reaches only the small one.
    crate::alerts::change((&app, &organizer), &event, "SUSPENDED", "Heat again", None).await;
    match ws.next(Duration::from_secs(10)).await {
        Received::Json(message) => assert_eq!(message["id"], "small", "{message}"),
        other => panic!("expected a frame, got {other:?}"),
    }
}

/// A shared execution over its processor-time budget ends its subscription with a coded
/// error (here a budget no execution can meet).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_execution_over_its_budget_ends_its_subscription() {
    let app = spawn_app_with(Backend::Sqlite, |settings| {
        settings.limits.subscription_execution_budget = Duration::ZERO;
    })
    .await;
    let (organizer, event) = app.demo_organizer_and_marathon().await;
    let mut ws = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    ws.subscribe(
        TRANSPORT,
        "s",
        "subscription($e: ID) { eventStatusChanged(eventId: $e) { id status } }",
        json!({ "e": event }),
    )
    .await;
    ws.send(json!({ "type": "ping" })).await;
    assert!(
        matches!(ws.next(Duration::from_secs(5)).await, Received::Json(m) if m["type"] == "pong")
    );
    crate::alerts::change((&app, &organizer), &event, "SUSPENDED", "Heat", None).await;
    match ws.next(Duration::from_secs(10)).await {
        Received::Json(message) => {
            assert_eq!(message["id"], "s", "{message}");
            assert_eq!(message["type"], "error", "{message}");
            assert_eq!(
                message["payload"][0]["extensions"]["code"], "EXECUTION_TOO_EXPENSIVE",
                "{message}"
            );
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert_eq!(app.fanout.groups(), 0, "the group is gone");
}
