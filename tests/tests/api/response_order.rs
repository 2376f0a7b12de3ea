//! A response's keys come in the order of the selection (GraphQL spec, "Serialized Map
//! Ordering"), over HTTP POST and GET and over the WebSocket alike: clients that render in
//! order, and snapshot tests, rely on it.

use serde_json::{Value, json};

use crate::helpers::{Backend, marathon, spawn_app};
use crate::ws_client::{Received, TRANSPORT, Ws};

/// The demo's upcoming race, selected in anything but alphabetical order, at two levels.
fn event_query() -> String {
    format!(
        "{{ eventBySlug(slug: \"{}\") {{ venue status name id distances {{ name lengthMeters }} }} }}",
        marathon()
    )
}
const SIGN_IN: &str = "mutation { signIn(input: { email: \"order@example.kz\", password: \"a long runner password\" }) { token account { role email } } }";

/// The object's keys in the order they came (the suite's serde_json keeps it).
fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn assert_event_in_order(data: &Value) {
    let event = &data["eventBySlug"];
    assert_eq!(
        keys(event),
        ["venue", "status", "name", "id", "distances"],
        "{data}"
    );
    assert_eq!(keys(&event["distances"][0]), ["name", "lengthMeters"]);
}

fn assert_sign_in_in_order(data: &Value) {
    assert_eq!(keys(&data["signIn"]), ["token", "account"], "{data}");
    assert_eq!(keys(&data["signIn"]["account"]), ["role", "email"]);
}

/// The raw text too: `a` is written before `b`.
fn written_before(text: &str, a: &str, b: &str) -> bool {
    match (text.find(a), text.find(b)) {
        (Some(a), Some(b)) => a < b,
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_keys_follow_the_selection_over_post_get_and_the_websocket() {
    let app = spawn_app(Backend::Sqlite).await;
    app.seed_demo().await;
    app.sign_up_runner("order@example.kz").await;
    let event = event_query();

    // POST: a query and the issue's own example, `signIn { token account }`.
    for (query, check) in [
        (event.as_str(), assert_event_in_order as fn(&Value)),
        (SIGN_IN, assert_sign_in_in_order),
    ] {
        let text = app
            .client
            .post(app.graphql_url())
            .json(&json!({ "query": query }))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let body: Value = serde_json::from_str(&text).unwrap();
        assert!(body.get("errors").is_none(), "{body}");
        check(&body["data"]);
        assert!(
            written_before(&text, "\"venue\"", "\"id\"")
                || written_before(&text, "\"token\"", "\"account\""),
            "{text}"
        );
    }

    // GET.
    let text = app
        .client
        .get(app.graphql_url())
        .query(&[("query", &event)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        written_before(&text, "\"venue\"", "\"distances\""),
        "{text}"
    );
    assert_event_in_order(&serde_json::from_str::<Value>(&text).unwrap()["data"]);

    // The WebSocket: a query and the mutation as operations on the socket.
    let mut ws = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    ws.subscribe(TRANSPORT, "event", &event, json!({})).await;
    assert_event_in_order(&ws.payload("event").await["data"]);
    match ws.next(std::time::Duration::from_secs(5)).await {
        Received::Json(done) => assert_eq!(done["type"], "complete", "{done}"),
        other => panic!("expected the query to complete, got {other:?}"),
    }
    ws.subscribe(TRANSPORT, "sign-in", SIGN_IN, json!({})).await;
    assert_sign_in_in_order(&ws.payload("sign-in").await["data"]);
}

/// Fields behind a DataLoader (a project's `raised`, an event's `distances` and
/// `organizers`) selected before plain ones still come first: async-graphql keeps the
/// order fields finish in, and the gateway puts the answer back in selection order, over
/// HTTP and the WebSocket.
const LOADED_FIRST: &str = "{ charitySummary(year: 2020) { projects { raised { amount } target { amount } beneficiary } } events(first: 1) { edges { node { distances { name } organizers { name } name } } pageInfo { hasNextPage } } }";

fn assert_loaded_first_in_order(data: &Value) {
    assert_eq!(
        keys(&data["charitySummary"]["projects"][0]),
        ["raised", "target", "beneficiary"],
        "{data}"
    );
    assert_eq!(
        keys(&data["events"]["edges"][0]["node"]),
        ["distances", "organizers", "name"],
        "{data}"
    );
    assert_eq!(keys(&data["events"]), ["edges", "pageInfo"], "{data}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_that_wait_for_a_loader_keep_their_place() {
    let app = spawn_app(Backend::Sqlite).await;
    app.seed_demo().await;
    let data = app.ok(None, LOADED_FIRST, json!({})).await;
    assert_loaded_first_in_order(&data);
    let mut ws = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    ws.subscribe(TRANSPORT, "loaded", LOADED_FIRST, json!({}))
        .await;
    assert_loaded_first_in_order(&ws.payload("loaded").await["data"]);
}
