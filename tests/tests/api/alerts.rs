//! Live alerts on one instance: replay with a cursor, personal notifications, and the
//! WebSocket protocols with their close codes.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    Backend, Registered, TestApp, marathon, marathon_date, marathon_name, spawn_app, spawn_app_with,
};
use crate::on_both_databases;
use crate::registrations::register;
use crate::ws_client::{LEGACY, Received, TRANSPORT, Ws};

pub const CHANGE_STATUS: &str =
    "mutation($input: ChangeEventStatusInput!) { changeEventStatus(input: $input) { status } }";
pub const STATUS_CHANGED: &str = "subscription($e: ID, $after: String) {
    eventStatusChanged(eventId: $e, after: $after) { id event { id name } previousStatus status reason startsAt occurredAt } }";

pub async fn change(
    app_graphql: (&TestApp, &str),
    event: &str,
    status: &str,
    reason: &str,
    starts_at: Option<&str>,
) -> Value {
    let (app, token) = app_graphql;
    let mut input = json!({ "eventId": event, "status": status, "reason": reason });
    if let Some(starts_at) = starts_at {
        input["startsAt"] = json!(starts_at);
    }
    app.ok(Some(token), CHANGE_STATUS, json!({ "input": input }))
        .await
}

async fn replay_after_a_cursor_gives_exactly_the_missed_changes_then_live_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    let (organizer, event) = app.demo_organizer_and_marathon().await;
    let women = app.event_id("womens-and-childrens-race-2020").await;
    let may_16 = marathon_date(5, 16);
    change(
        (&app, &organizer),
        &event,
        "SUSPENDED",
        "Awaiting a permit",
        None,
    )
    .await;
    change(
        (&app, &organizer),
        &women,
        "CANCELLED",
        "Ban on public events",
        None,
    )
    .await;
    change(
        (&app, &organizer),
        &event,
        "RESCHEDULED",
        "Moved to May",
        Some(&format!("{may_16}T03:00:00Z")),
    )
    .await;
    change(
        (&app, &organizer),
        &event,
        "SCHEDULED",
        "Permit granted",
        None,
    )
    .await;
    let history = app
        .ok(
            None,
            "query($id: ID!) { event(id: $id) { statusHistory { id status } } }",
            json!({ "id": event }),
        )
        .await;
    let suspended_id = history["event"]["statusHistory"][1]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut ws = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    ws.subscribe(
        TRANSPORT,
        "1",
        STATUS_CHANGED,
        json!({ "e": event, "after": suspended_id }),
    )
    .await;
    let first = ws.payload("1").await;
    assert_eq!(
        first["data"]["eventStatusChanged"]["status"], "RESCHEDULED",
        "{first}"
    );
    assert_eq!(
        first["data"]["eventStatusChanged"]["startsAt"],
        format!("{may_16}T03:00:00+00:00")
    );
    assert_eq!(
        first["data"]["eventStatusChanged"]["event"]["name"],
        marathon_name()
    );
    let second = ws.payload("1").await;
    assert_eq!(second["data"]["eventStatusChanged"]["status"], "SCHEDULED");
    assert_eq!(
        second["data"]["eventStatusChanged"]["previousStatus"],
        "RESCHEDULED"
    );

    change(
        (&app, &organizer),
        &event,
        "SUSPENDED",
        "Public events are banned",
        None,
    )
    .await;
    let live = ws.payload("1").await;
    assert_eq!(live["data"]["eventStatusChanged"]["status"], "SUSPENDED");
    assert_eq!(
        live["data"]["eventStatusChanged"]["reason"],
        "Public events are banned"
    );

    // Every event, from the beginning: the demo's 2020 cancellation and all five since.
    let mut all = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    all.subscribe(TRANSPORT, "all", STATUS_CHANGED, json!({ "after": "0" }))
        .await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            all.payload("all").await["data"]["eventStatusChanged"]["status"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        statuses,
        [
            "CANCELLED",
            "SUSPENDED",
            "CANCELLED",
            "RESCHEDULED",
            "SCHEDULED",
            "SUSPENDED"
        ]
    );

    // A sentinel: one more change must be the next frame on both sockets, so neither the
    // replay nor the live change came twice.
    change(
        (&app, &organizer),
        &event,
        "CANCELLED",
        "The ban holds",
        None,
    )
    .await;
    for (socket, id) in [(&mut ws, "1"), (&mut all, "all")] {
        let sentinel = socket.payload(id).await;
        assert_eq!(
            sentinel["data"]["eventStatusChanged"]["reason"], "The ban holds",
            "{sentinel}"
        );
    }
}
on_both_databases!(replay_after_a_cursor_gives_exactly_the_missed_changes_then_live_ones);

async fn a_runner_hears_about_their_race_and_their_refund_only(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let Registered {
        token: runner,
        registration,
    } = app
        .registered_runner("runner@example.kz", &marathon(), 1)
        .await;
    let other = app.sign_up_runner("other@example.kz").await;
    // Both run a later race too, whose change is the sentinel at the end.
    let (later, later_distance) = app.small_race(&organizer, "sentinel-race", 10).await;
    for token in [&runner, &other] {
        let body = register(&app, token, &later_distance).await;
        assert!(body.get("errors").is_none(), "{body}");
    }

    let query = "subscription { myNotifications { id kind eventStatusChange { status event { slug } } refundDecision { status option note } } }";
    let mut mine = Ws::init(&app.ws_url(), TRANSPORT, Some(&runner)).await;
    mine.subscribe(TRANSPORT, "n", query, json!({})).await;
    let mut theirs = Ws::init(&app.ws_url(), TRANSPORT, Some(&other)).await;
    theirs.subscribe(TRANSPORT, "n", query, json!({})).await;
    mine.settle().await;
    theirs.settle().await;

    change(
        (&app, &organizer),
        &app.event_id("womens-and-childrens-race-2020").await,
        "CANCELLED",
        "Not my race",
        None,
    )
    .await;
    change(
        (&app, &organizer),
        &app.event_id(&marathon()).await,
        "CANCELLED",
        "Ban",
        None,
    )
    .await;
    let cancelled = mine.payload("n").await;
    assert_eq!(
        cancelled["data"]["myNotifications"]["kind"],
        "EVENT_STATUS_CHANGED"
    );
    assert_eq!(
        cancelled["data"]["myNotifications"]["eventStatusChange"]["event"]["slug"],
        marathon()
    );

    let filed = app
        .ok(
            Some(&runner),
            "mutation($r: ID!) { requestRefund(input: {registrationId: $r, option: FULL_REFUND}) { id } }",
            json!({ "r": registration }),
        )
        .await;
    app.ok(
        Some(&organizer),
        "mutation($id: ID!) { decideRefund(id: $id, decision: APPROVED, note: \"Refund in 10 days\") { status } }",
        json!({ "id": filed["requestRefund"]["id"] }),
    )
    .await;
    let decided = mine.payload("n").await;
    assert_eq!(decided["data"]["myNotifications"]["kind"], "REFUND_DECIDED");
    assert_eq!(
        decided["data"]["myNotifications"]["refundDecision"],
        json!({ "status": "APPROVED", "option": "FULL_REFUND", "note": "Refund in 10 days" })
    );
    // The sentinel: the later race's cancellation is the next thing each hears, so the
    // runner heard nothing twice and the other runner nothing of the runner's race.
    change((&app, &organizer), &later, "CANCELLED", "Sentinel", None).await;
    for socket in [&mut mine, &mut theirs] {
        let sentinel = socket.payload("n").await;
        assert_eq!(
            sentinel["data"]["myNotifications"]["eventStatusChange"]["event"]["slug"],
            "sentinel-race",
            "{sentinel}"
        );
    }
}
on_both_databases!(a_runner_hears_about_their_race_and_their_refund_only);

#[tokio::test]
async fn my_notifications_without_signing_in_is_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut ws = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    ws.subscribe(
        TRANSPORT,
        "n",
        "subscription { myNotifications { id } }",
        json!({}),
    )
    .await;
    match ws.next(Duration::from_secs(5)).await {
        Received::Json(message) => {
            assert_eq!(message["type"], "error", "{message}");
            assert_eq!(
                message["payload"][0]["extensions"]["code"],
                "UNAUTHENTICATED"
            );
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_transport_protocol_closes_with_its_codes() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.websocket.init_timeout = Duration::from_millis(300)
    })
    .await;
    let url = app.ws_url();

    let mut malformed = Ws::init(&url, TRANSPORT, None).await;
    malformed.send_raw("{ not json").await;
    assert_eq!(malformed.expect_close(Duration::from_secs(5)).await, 4400);

    let mut unknown = Ws::init(&url, TRANSPORT, None).await;
    unknown.send(json!({ "type": "launch" })).await;
    assert_eq!(unknown.expect_close(Duration::from_secs(5)).await, 4400);

    let mut duplicate = Ws::init(&url, TRANSPORT, None).await;
    duplicate
        .subscribe(TRANSPORT, "same", STATUS_CHANGED, json!({}))
        .await;
    duplicate
        .subscribe(TRANSPORT, "same", STATUS_CHANGED, json!({}))
        .await;
    assert_eq!(duplicate.expect_close(Duration::from_secs(5)).await, 4409);

    let mut early = Ws::connect(&url, TRANSPORT).await;
    early
        .subscribe(TRANSPORT, "1", STATUS_CHANGED, json!({}))
        .await;
    assert_eq!(early.expect_close(Duration::from_secs(5)).await, 4401);

    let mut silent = Ws::connect(&url, TRANSPORT).await;
    assert_eq!(
        silent.expect_close(Duration::from_secs(5)).await,
        4408,
        "no connection_init within 300 ms"
    );

    let mut twice = Ws::init(&url, TRANSPORT, None).await;
    twice.send(json!({ "type": "connection_init" })).await;
    assert_eq!(twice.expect_close(Duration::from_secs(5)).await, 4429);

    let mut forged = Ws::connect(&url, TRANSPORT).await;
    forged.send(json!({ "type": "connection_init", "payload": { "authorization": "Bearer rdg_forged" } })).await;
    assert_eq!(forged.expect_close(Duration::from_secs(5)).await, 4403);

    let mut pinged = Ws::init(&url, TRANSPORT, None).await;
    pinged.send(json!({ "type": "ping" })).await;
    match pinged.next(Duration::from_secs(5)).await {
        Received::Json(message) => assert_eq!(message, json!({ "type": "pong" })),
        other => panic!("expected a pong, got {other:?}"),
    }
}

#[tokio::test]
async fn the_legacy_protocol_handshakes_and_streams() {
    let app = spawn_app(Backend::Sqlite).await;
    let (organizer, event) = app.demo_organizer_and_marathon().await;
    let mut ws = Ws::init(&app.ws_url(), LEGACY, None).await;
    ws.subscribe(LEGACY, "7", STATUS_CHANGED, json!({ "e": event }))
        .await;
    ws.settle().await;
    change((&app, &organizer), &event, "CANCELLED", "Ban", None).await;
    match ws.next(Duration::from_secs(10)).await {
        Received::Json(message) => {
            assert_eq!(message["type"], "data", "{message}");
            assert_eq!(message["id"], "7");
            assert_eq!(
                message["payload"]["data"]["eventStatusChanged"]["status"],
                "CANCELLED"
            );
        }
        other => panic!("expected data, got {other:?}"),
    }
    ws.send(json!({ "id": "7", "type": "stop" })).await;
    match ws.next(Duration::from_secs(5)).await {
        Received::Json(message) => assert_eq!(message, json!({ "id": "7", "type": "complete" })),
        other => panic!("expected complete, got {other:?}"),
    }
}

/// A document with one named operation and no `operationName` runs that operation (as the
/// spec's GetOperation says), shared and live like an anonymous one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_subscription_sent_without_its_operation_name_is_live() {
    let app = spawn_app(Backend::Sqlite).await;
    let (organizer, event) = app.demo_organizer_and_marathon().await;
    let mut ws = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    let named = STATUS_CHANGED.replacen("subscription(", "subscription RaceStatus(", 1);
    ws.subscribe(TRANSPORT, "s", &named, json!({ "e": event }))
        .await;
    ws.settle().await;
    change((&app, &organizer), &event, "SUSPENDED", "Heat", None).await;
    let payload = ws.payload("s").await;
    assert_eq!(
        payload["data"]["eventStatusChanged"]["status"], "SUSPENDED",
        "{payload}"
    );
}

/// The runner page's own subscription (more fields than a document may have aliases, named,
/// with a cursor) hears a cancellation through its shared, canonical execution.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_s_own_subscription_hears_a_cancellation() {
    let app = spawn_app(Backend::Sqlite).await;
    app.seed_demo().await;
    let token = app.runner_tokens(1).await.remove(0);
    let distances = app.distance_ids(&marathon()).await;
    register(&app, &token, &distances[0]).await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let event = app.event_id(&marathon()).await;
    let page = include_str!("../../../server/web/api.js");
    let start = page.find("subscription MyNotifications").unwrap();
    let document = &page[start..start + page[start..].find('`').unwrap()];
    let mut ws = Ws::init(&app.ws_url(), TRANSPORT, Some(&token)).await;
    ws.subscribe(TRANSPORT, "1", document, json!({ "after": "0" }))
        .await;
    ws.settle().await;
    change((&app, &organizer), &event, "CANCELLED", "Banned", None).await;
    let payload = ws.payload("1").await;
    let notification = &payload["data"]["myNotifications"];
    assert_eq!(notification["kind"], "EVENT_STATUS_CHANGED", "{payload}");
    assert_eq!(
        notification["eventStatusChange"]["status"], "CANCELLED",
        "{payload}"
    );
    assert_eq!(
        notification["eventStatusChange"]["event"]["slug"],
        marathon()
    );
}
