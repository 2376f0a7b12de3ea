//! Shared executions: subscribers of the same operation share one group (one execution per
//! notice), cursors aside; personal subscriptions share per account, and their executions
//! across the accounts an alert concerns; a group ends with its
//! last member; and a subscription starts when its message arrives, so a change made right
//! after thousands subscribe on another instance reaches every one of them; an execution
//! that fails inside is tried again, never skipped.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use gateway_tests::Backend;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::alerts::{STATUS_CHANGED, change};
use crate::alerts_cluster::{cancel, demo_database, instance};
use crate::helpers::{TestApp, marathon, marathon_name, spawn_app, spawn_app_with};
use crate::registrations::register;
use crate::ws_client::{TRANSPORT, Ws};

/// A runner registered for the upcoming marathon's half marathon; their token.
async fn registered_runner(app: &TestApp, email: &str) -> String {
    app.registered_runner(email, &marathon(), 1).await.token
}

/// The organizer cancels the marathon: "Public events are banned".
/// Cancels `race` (the bystander's own) and checks that the bystander's next frame on
/// subscription `id` is that one: nothing about another race came before it.
async fn next_is_their_own_race(
    (app, organizer): (&TestApp, &str),
    race: &str,
    bystander: &mut Ws,
    id: &str,
) {
    change((app, organizer), race, "CANCELLED", "Sentinel", None).await;
    let sentinel = bystander.payload(id).await;
    assert_eq!(
        sentinel["data"]["myNotifications"]["eventStatusChange"]["reason"], "Sentinel",
        "{sentinel}"
    );
}

async fn cancel_marathon(app: &TestApp, organizer: &str, marathon: &str) {
    change(
        (app, organizer),
        marathon,
        "CANCELLED",
        "Public events are banned",
        None,
    )
    .await;
}

pub(crate) async fn groups_become(app: &TestApp, n: usize) {
    for _ in 0..100 {
        if app.fanout.groups() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("expected {n} groups, found {}", app.fanout.groups());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_of_one_operation_share_one_execution_whatever_their_cursor() {
    let app = spawn_app(Backend::Postgres).await;
    let (organizer, marathon_id) = app.demo_organizer_and_marathon().await;
    let women = app.event_id("womens-and-childrens-race-2020").await;
    let runner = app.sign_up_runner("shared@example.kz").await;
    let mut sockets = Vec::new();
    for n in 0..12 {
        // Anonymous, signed in, with and without a cursor: one group for the marathon.
        let token = (n % 3 == 0).then_some(runner.as_str());
        let mut socket = Ws::init(&app.ws_url(), TRANSPORT, token).await;
        let variables = if n % 4 == 0 {
            json!({ "e": marathon_id, "after": "0" })
        } else {
            json!({ "e": marathon_id })
        };
        socket
            .subscribe(TRANSPORT, "m", STATUS_CHANGED, variables)
            .await;
        sockets.push(socket);
    }
    let mut elsewhere = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    elsewhere
        .subscribe(TRANSPORT, "w", STATUS_CHANGED, json!({ "e": women }))
        .await;
    groups_become(&app, 2).await;
    change(
        (&app, &organizer),
        &marathon_id,
        "SUSPENDED",
        "Awaiting a permit",
        None,
    )
    .await;
    let mut payloads = Vec::new();
    for socket in &mut sockets {
        payloads.push(socket.payload("m").await);
    }
    assert!(payloads.iter().all(|p| p == &payloads[0]), "{payloads:?}");
    assert_eq!(
        payloads[0]["data"]["eventStatusChanged"]["status"],
        "SUSPENDED"
    );
    // A sentinel: the women's race's change must be the next frame `elsewhere` hears, so
    // it heard nothing of the marathon.
    change((&app, &organizer), &women, "CANCELLED", "Sentinel", None).await;
    let sentinel = elsewhere.payload("w").await;
    assert_eq!(
        sentinel["data"]["eventStatusChanged"]["reason"], "Sentinel",
        "{sentinel}"
    );
    drop(sockets);
    groups_become(&app, 1).await;
    drop(elsewhere);
    groups_become(&app, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_notifications_are_shared_per_account_only() {
    let app = spawn_app(Backend::Sqlite).await;
    let (organizer, marathon) = app.demo_organizer_and_marathon().await;
    let registered = registered_runner(&app, "registered@example.kz").await;
    let bystander = app.sign_up_runner("bystander@example.kz").await;
    // The bystander runs another race, whose change is the sentinel at the end.
    let (other_race, other_distance) = app.small_race(&organizer, "other-race", 10).await;
    let body = register(&app, &bystander, &other_distance).await;
    assert!(body.get("errors").is_none(), "{body}");
    let query = "subscription { myNotifications { id kind eventStatusChange { reason } } }";
    let mut phone = Ws::init(&app.ws_url(), TRANSPORT, Some(&registered)).await;
    let mut laptop = Ws::init(&app.ws_url(), TRANSPORT, Some(&registered)).await;
    let mut other = Ws::init(&app.ws_url(), TRANSPORT, Some(&bystander)).await;
    for socket in [&mut phone, &mut laptop, &mut other] {
        socket.subscribe(TRANSPORT, "mine", query, json!({})).await;
    }
    groups_become(&app, 2).await;
    cancel_marathon(&app, &organizer, &marathon).await;
    let on_phone = phone.payload("mine").await;
    assert_eq!(
        on_phone["data"]["myNotifications"]["eventStatusChange"]["reason"],
        "Public events are banned"
    );
    assert_eq!(laptop.payload("mine").await, on_phone);
    // The sentinel: the bystander's next frame is about their own race, so the
    // marathon's cancellation never reached them.
    next_is_their_own_race((&app, &organizer), &other_race, &mut other, "mine").await;
}

/// Runners of one race who ask the same personal question keep a group each (their own
/// cursor, their own replay), yet an alert is executed once for all of them and not at all
/// for a runner it does not concern; a runner who spells the question differently still
/// reads it in their own words.
async fn runners_asking_the_same_personal_question_share_one_execution(backend: Backend) {
    let app = spawn_app(backend).await;
    let (organizer, marathon) = app.demo_organizer_and_marathon().await;
    let (other_race, other_distance) = app.small_race(&organizer, "other-race", 10).await;
    let bystander = app.sign_up_runner("bystander@example.kz").await;
    let body = register(&app, &bystander, &other_distance).await;
    assert!(body.get("errors").is_none(), "{body}");
    let query = "subscription { myNotifications { id kind eventStatusChange { reason } } }";
    let spelled = "subscription { mine: myNotifications { eventStatusChange { reason } kind id } }";
    let mut runners = Vec::new();
    for (n, document) in [query, query, spelled].into_iter().enumerate() {
        let token = registered_runner(&app, &format!("runner{n}@example.kz")).await;
        let mut socket = Ws::init(&app.ws_url(), TRANSPORT, Some(&token)).await;
        socket
            .subscribe(TRANSPORT, "alerts", document, json!({}))
            .await;
        runners.push(socket);
    }
    let mut other = Ws::init(&app.ws_url(), TRANSPORT, Some(&bystander)).await;
    other.subscribe(TRANSPORT, "alerts", query, json!({})).await;
    groups_become(&app, 4).await;
    let before = app.fanout.executions();

    cancel_marathon(&app, &organizer, &marathon).await;
    for socket in &mut runners[..2] {
        let payload = socket.payload("alerts").await;
        assert_eq!(
            payload["data"]["myNotifications"]["eventStatusChange"]["reason"],
            "Public events are banned",
            "{payload}"
        );
    }
    let payload = runners[2].payload("alerts").await;
    let fields: Vec<&String> = payload["data"]["mine"]
        .as_object()
        .expect("the spelled answer")
        .keys()
        .collect();
    assert_eq!(fields, ["eventStatusChange", "kind", "id"], "{payload}");
    assert_eq!(
        payload["data"]["mine"]["eventStatusChange"]["reason"],
        "Public events are banned"
    );
    assert_eq!(
        app.fanout.executions() - before,
        1,
        "three runners, one execution; none for the bystander"
    );

    // The bystander's next frame is their own race's: the cancellation never reached them.
    next_is_their_own_race((&app, &organizer), &other_race, &mut other, "alerts").await;
    assert_eq!(app.fanout.executions() - before, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runners_asking_the_same_personal_question_share_one_execution_sqlite() {
    runners_asking_the_same_personal_question_share_one_execution(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runners_asking_the_same_personal_question_share_one_execution_postgres() {
    runners_asking_the_same_personal_question_share_one_execution(Backend::Postgres).await;
}

/// A shared execution that fails inside (here: who is registered cannot be read, the
/// table is away) sends nothing and is tried again, so the runner still hears of the
/// change once the database is back, rather than an error frame in its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_execution_that_fails_inside_is_tried_again_not_skipped() {
    let app = spawn_app_with(Backend::Postgres, |s| s.bus.relay_enabled = false).await;
    let (organizer, marathon) = app.demo_organizer_and_marathon().await;
    let runner = registered_runner(&app, "patient@example.kz").await;
    let query = "subscription { myNotifications { id eventStatusChange { reason } } }";
    let mut phone = Ws::init(&app.ws_url(), TRANSPORT, Some(&runner)).await;
    phone.subscribe(TRANSPORT, "mine", query, json!({})).await;
    groups_become(&app, 1).await;
    // Suspended, not cancelled: the cancellation is the sentinel at the end.
    change(
        (&app, &organizer),
        &marathon,
        "SUSPENDED",
        "Public events are banned",
        None,
    )
    .await;
    let sql = |statement: &'static str| {
        let db = app.db.clone();
        async move {
            db.execute_unprepared(statement)
                .await
                .expect("the test alters the table");
        }
    };
    sql("ALTER TABLE registration RENAME TO registration_away").await;
    app.pipeline
        .relay
        .relay_once()
        .await
        .expect("the relay publishes");
    // Every read of the audience fails now: nothing is sent, no error either. Proof by
    // waiting, on purpose: no later frame can show that the execution was tried (and
    // failed) while the table was away, only time given to it can; that nothing, not even
    // an error, came meanwhile is proved again below by the payload being next.
    phone.expect_silence(Duration::from_millis(500)).await;
    sql("ALTER TABLE registration_away RENAME TO registration").await;
    let told = phone.payload("mine").await;
    assert_eq!(
        told["data"]["myNotifications"]["eventStatusChange"]["reason"], "Public events are banned",
        "{told}"
    );
    // The sentinel: the cancellation is the next frame, so the retried execution sent
    // its answer once.
    change((&app, &organizer), &marathon, "CANCELLED", "Sentinel", None).await;
    app.pipeline
        .relay
        .relay_once()
        .await
        .expect("the relay publishes");
    let sentinel = phone.payload("mine").await;
    assert_eq!(
        sentinel["data"]["myNotifications"]["eventStatusChange"]["reason"], "Sentinel",
        "{sentinel}"
    );
}

/// Opens a socket, sends `connection_init` and `subscribe`, then waits for the first
/// `next` (up to `wait`); reports once the subscribe message is on its way.
async fn subscriber(
    url: String,
    subscribed: tokio::sync::mpsc::Sender<()>,
    wait: Duration,
) -> Option<Value> {
    let mut request = url.into_client_request().ok()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", TRANSPORT.parse().ok()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.ok()?;
    socket
        .send(Message::Text(
            json!({ "type": "connection_init" }).to_string().into(),
        ))
        .await
        .ok()?;
    loop {
        if let Message::Text(text) = socket.next().await?.ok()?
            && serde_json::from_str::<Value>(&text).ok()?["type"] == "connection_ack"
        {
            break;
        }
    }
    let subscribe = json!({ "id": "1", "type": "subscribe",
        "payload": { "query": "subscription { eventStatusChanged { id status reason } }" } });
    socket
        .send(Message::Text(subscribe.to_string().into()))
        .await
        .ok()?;
    let _ = subscribed.send(()).await;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()??
            .ok()?;
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).ok()?;
            if value["type"] == "next" {
                return Some(value["payload"].clone());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_who_subscribe_on_another_instance_just_before_a_change_all_hear_it() {
    const CLIENTS: usize = 2000;
    let (database, organizer) = demo_database().await;
    let prefix = crate::helpers::unique_name("gwfirst");
    let a = instance(&database, "redis://127.0.0.1:6379", &prefix, &[]).await;
    // Every client comes from 127.0.0.1: lift the per-address limit on upgrades.
    let b = instance(
        &database,
        "redis://127.0.0.1:6379",
        &prefix,
        &[
            ("RATE_WS_UPGRADES_PER_ADDRESS", "100000"),
            ("WS_MAX_SOCKETS_PER_ADDRESS", "100000"),
            ("WS_MAX_SUBSCRIPTIONS_PER_ADDRESS", "100000"),
        ],
    )
    .await;
    let event = {
        let body = gateway_tests::post_graphql(
            &reqwest::Client::new(),
            &a.address,
            None,
            &json!({ "query": "query($s: String!) { eventBySlug(slug: $s) { id } }", "variables": { "s": marathon() } }),
        )
        .await
        .unwrap();
        body["data"]["eventBySlug"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let url = format!("{}/graphql/ws", b.address.replace("http://", "ws://"));
    let (subscribed, mut sent) = tokio::sync::mpsc::channel(CLIENTS);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(subscriber(
                url.clone(),
                subscribed.clone(),
                Duration::from_secs(30),
            ))
        })
        .collect();
    drop(subscribed);
    for _ in 0..CLIENTS {
        tokio::time::timeout(Duration::from_secs(60), sent.recv())
            .await
            .expect("every client subscribes within a minute")
            .expect("a client failed before subscribing");
    }
    // The last subscribe message has just been sent: change the race now, on instance A.
    cancel(
        &a,
        &organizer,
        &event,
        "CANCELLED",
        "Public events are banned",
    )
    .await;
    let mut heard = 0;
    for client in clients {
        if let Ok(Some(payload)) = client.await {
            assert_eq!(payload["data"]["eventStatusChanged"]["status"], "CANCELLED");
            heard += 1;
        }
    }
    assert_eq!(heard, CLIENTS, "every subscriber hears the change");
    drop((a, b, database));
}

/// Sharing cannot be defeated by spelling: subscriptions asking the same thing with other
/// aliases, field orders, repeated fields and variable names share one execution, and each
/// hears the answer in its own words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_question_spelled_differently_shares_one_execution() {
    let app = spawn_app(Backend::Sqlite).await;
    let (organizer, event) = app.demo_organizer_and_marathon().await;
    let mut ws = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    for n in 0_usize..60 {
        let query = if n.is_multiple_of(2) {
            format!(
                "subscription($e: ID) {{ a{n}: eventStatusChanged(eventId: $e) {{ s{n}: status id status event {{ name }} }} }}"
            )
        } else {
            format!(
                "subscription($event{n}: ID) {{ b{n}: eventStatusChanged(eventId: $event{n}) {{ event {{ name }}  id  id s{n}: status }} }}"
            )
        };
        let variable = if n.is_multiple_of(2) {
            "e".to_owned()
        } else {
            format!("event{n}")
        };
        let mut variables = serde_json::Map::new();
        variables.insert(variable, json!(event));
        ws.subscribe(TRANSPORT, &format!("{n}"), &query, Value::Object(variables))
            .await;
    }
    // Another selection is another question.
    ws.subscribe(
        TRANSPORT,
        "other",
        "subscription($e: ID) { eventStatusChanged(eventId: $e) { id } }",
        json!({ "e": event }),
    )
    .await;
    groups_become(&app, 2).await;
    change((&app, &organizer), &event, "SUSPENDED", "Heat", None).await;
    let mut heard = 0;
    let mut other = 0;
    let mut first_other = Value::Null;
    while heard < 60 || other < 1 {
        let message = match ws.next(Duration::from_secs(10)).await {
            crate::ws_client::Received::Json(message) => message,
            other => panic!("expected a frame, got {other:?}"),
        };
        if message["id"] == "other" {
            let answer = &message["payload"]["data"]["eventStatusChanged"];
            assert_eq!(answer.as_object().unwrap().len(), 1);
            first_other = answer["id"].clone();
            other += 1;
            continue;
        }
        let n: usize = message["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("{message}"));
        let key = if n.is_multiple_of(2) {
            format!("a{n}")
        } else {
            format!("b{n}")
        };
        let answer = &message["payload"]["data"][&key];
        assert_eq!(answer[format!("s{n}")], "SUSPENDED", "{message}");
        assert_eq!(answer["event"]["name"], marathon_name(), "{message}");
        // Each in its own order.
        let keys: Vec<&str> = answer
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        if n.is_multiple_of(2) {
            assert_eq!(keys, [format!("s{n}").as_str(), "id", "status", "event"]);
        } else {
            assert_eq!(keys, ["event", "id", format!("s{n}").as_str()]);
        }
        heard += 1;
    }
    // A sentinel: the next frame is about a second change, so no answer of the first
    // came twice.
    change((&app, &organizer), &event, "CANCELLED", "Sentinel", None).await;
    let message = match ws.next(Duration::from_secs(10)).await {
        crate::ws_client::Received::Json(message) => message,
        other => panic!("expected the sentinel's frame, got {other:?}"),
    };
    let answer = message["payload"]["data"]
        .as_object()
        .and_then(|data| data.values().next())
        .unwrap_or_else(|| panic!("{message}"));
    if message["id"] == "other" {
        assert_ne!(answer["id"], first_other, "{message}");
    } else {
        assert!(
            answer
                .as_object()
                .unwrap()
                .iter()
                .any(|(key, value)| key.starts_with('s') && value == "CANCELLED"),
            "{message}"
        );
    }
}

/// Fragments, inline fragments and `@skip` / `@include` are spellings too: 30 subscriptions
/// each with a fragment of its own name ask the plain question's group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragments_cannot_defeat_sharing_either() {
    let app = spawn_app(Backend::Sqlite).await;
    let (organizer, event) = app.demo_organizer_and_marathon().await;
    let mut ws = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    ws.subscribe(
        TRANSPORT,
        "plain",
        "subscription($e: ID) { eventStatusChanged(eventId: $e) { id status event { name } } }",
        json!({ "e": event }),
    )
    .await;
    for n in 0_usize..30 {
        let query = if n.is_multiple_of(2) {
            format!(
                "subscription($e: ID) {{ ...F{n} }} fragment F{n} on Subscription {{ c{n}: eventStatusChanged(eventId: $e) {{ ...G{n} id }} }} fragment G{n} on EventStatusChange {{ status event {{ name }} }}"
            )
        } else {
            format!(
                "subscription($e: ID, $no: Boolean!) {{ c{n}: eventStatusChanged(eventId: $e) {{ ... on EventStatusChange {{ id status }} reason @include(if: $no) event {{ name }} }} }}"
            )
        };
        ws.subscribe(
            TRANSPORT,
            &format!("{n}"),
            &query,
            json!({ "e": event, "no": false }),
        )
        .await;
    }
    // Settled: all 31 are in place, one group.
    ws.settle().await;
    groups_become(&app, 1).await;
    change((&app, &organizer), &event, "SUSPENDED", "Heat", None).await;
    let mut heard = 0;
    while heard < 31 {
        let message = match ws.next(Duration::from_secs(10)).await {
            crate::ws_client::Received::Json(message) => message,
            other => panic!("expected a frame, got {other:?}"),
        };
        assert_eq!(message["type"], "next", "{message}");
        let id = message["id"].as_str().unwrap().to_owned();
        let key = if id == "plain" {
            "eventStatusChanged".to_owned()
        } else {
            format!("c{id}")
        };
        let answer = &message["payload"]["data"][&key];
        assert_eq!(answer["status"], "SUSPENDED", "{message}");
        assert_eq!(answer["event"]["name"], marathon_name(), "{message}");
        assert!(answer.get("reason").is_none(), "{message}");
        heard += 1;
    }
}
