//! Hostile documents (issue 10, findings 1 and 2): a literal nested 2,000 levels deep and
//! a 29-level fragment bomb, over POST, GET and WebSocket. Each is refused with
//! `QUERY_TOO_LARGE` before it is parsed; the gateway, which runs in this very process,
//! neither aborts (a stack overflow would take the test binary down) nor grows, and keeps
//! answering.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use schema::graphql::document_guard::hostile;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::ws_client::{LEGACY, Received, TRANSPORT, Ws};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// Well under a second: the guard costs microseconds; a parse of these costs a crash.
const PROMPT: Duration = Duration::from_secs(1);

/// Resident memory growth allowed across the hostile requests. Before the guard, the
/// 29-level bomb grew the process to 23 GB and 20 levels already cost 223 MB.
const RSS_GROWTH_BOUND_KIB: u64 = 50 * 1024;

/// `{ events(filter: {status: [[[ … ]]]}) { id } }`, 2,000 levels: about 4 KB.
fn nested_literal() -> String {
    hostile::nested_literal(2000)
}

/// `query { ...F29 } fragment F0 on Query { __typename } fragment F1 on Query { ...F0
/// ...F0 } …`: 1.2 KB, 2^29 fields once expanded.
fn fragment_bomb() -> String {
    hostile::fragment_bomb(29)
}

/// This process's resident set, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn assert_refused(errors: &Value, setting: &str) {
    assert_eq!(
        errors[0]["extensions"]["code"], "QUERY_TOO_LARGE",
        "{errors}"
    );
    assert_eq!(errors[0]["extensions"]["limit"], setting, "{errors}");
    assert!(
        errors[0]["message"].as_str().unwrap().contains(setting),
        "the message names the setting: {errors}"
    );
}

async fn post(app: &TestApp, accept: &str, query: &str) -> (StatusCode, Value) {
    let started = Instant::now();
    let response = app
        .client
        .post(app.graphql_url())
        .header("accept", accept)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(
        started.elapsed() < PROMPT,
        "answered in {:?}",
        started.elapsed()
    );
    (status, body)
}

async fn get(app: &TestApp, accept: &str, query: &str) -> (StatusCode, Value) {
    let started = Instant::now();
    let response = app
        .client
        .get(app.graphql_url())
        .header("accept", accept)
        .query(&[("query", query)])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(
        started.elapsed() < PROMPT,
        "answered in {:?}",
        started.elapsed()
    );
    (status, body)
}

/// The error a WebSocket operation gets, on either protocol.
async fn ws_error(ws: &mut Ws, protocol: &str, id: &str, query: &str) -> Value {
    let started = Instant::now();
    ws.subscribe(protocol, id, query, json!({})).await;
    let message = match ws.next(Duration::from_secs(10)).await {
        Received::Json(message) => message,
        other => panic!("expected an error for {id}, got {other:?}"),
    };
    assert!(
        started.elapsed() < PROMPT,
        "answered in {:?}",
        started.elapsed()
    );
    assert_eq!(message["id"], id, "{message}");
    assert_eq!(message["type"], "error", "{message}");
    if protocol == LEGACY {
        message["payload"]["errors"].clone()
    } else {
        message["payload"].clone()
    }
}

/// The gateway still answers: health, and a normal query.
async fn still_serving(app: &TestApp) {
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let data = app
        .ok(None, "{ events(first: 1) { edges { cursor } } }", json!({}))
        .await;
    assert!(data["events"]["edges"].is_array(), "{data}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deeply_nested_literal_is_refused_over_post_get_and_websocket() {
    let app = spawn_app(Backend::Sqlite).await;
    still_serving(&app).await;
    let literal = nested_literal();
    assert!(literal.len() > 4000);
    let before = rss_kib();

    let (status, body) = post(&app, GRAPHQL_RESPONSE, &literal).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a request error: {body}");
    assert_eq!(body["data"], Value::Null);
    assert_refused(&body["errors"], "QUERY_NESTING_LIMIT");
    let (status, body) = post(&app, "application/json", &literal).await;
    assert_eq!(status, StatusCode::OK);
    assert_refused(&body["errors"], "QUERY_NESTING_LIMIT");

    let (status, body) = get(&app, GRAPHQL_RESPONSE, &literal).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_refused(&body["errors"], "QUERY_NESTING_LIMIT");
    let (status, body) = get(&app, "application/json", &literal).await;
    assert_eq!(status, StatusCode::OK);
    assert_refused(&body["errors"], "QUERY_NESTING_LIMIT");
    // Refused before the GET handler's own parse, also as a mutation.
    let (status, body) = get(&app, GRAPHQL_RESPONSE, &format!("mutation {literal}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_refused(&body["errors"], "QUERY_NESTING_LIMIT");

    for protocol in [TRANSPORT, LEGACY] {
        let mut ws = Ws::init(&app.ws_url(), protocol, None).await;
        let errors = ws_error(&mut ws, protocol, "deep", &literal).await;
        assert_refused(&errors, "QUERY_NESTING_LIMIT");
        // The socket itself goes on.
        ws.subscribe(protocol, "fine", "{ __typename }", json!({}))
            .await;
        assert_eq!(ws.payload("fine").await["data"]["__typename"], "Query");
    }

    let grown = rss_kib().saturating_sub(before);
    assert!(grown < RSS_GROWTH_BOUND_KIB, "RSS grew by {grown} KiB");
    still_serving(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragment_bomb_is_refused_over_post_get_and_websocket_without_growing_the_process() {
    let app = spawn_app(Backend::Sqlite).await;
    still_serving(&app).await;
    let bomb = fragment_bomb();
    assert!(bomb.len() < 1500, "{}", bomb.len());
    let before = rss_kib();

    let (status, body) = post(&app, GRAPHQL_RESPONSE, &bomb).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["data"], Value::Null);
    // 2^29 fields, all `__typename`: bounded by the complexity limit, which async-graphql
    // alone would not apply to `__typename`.
    assert_refused(&body["errors"], "QUERY_COMPLEXITY_LIMIT");
    let (status, body) = post(&app, "application/json", &bomb).await;
    assert_eq!(status, StatusCode::OK);
    assert_refused(&body["errors"], "QUERY_COMPLEXITY_LIMIT");

    let (status, body) = get(&app, GRAPHQL_RESPONSE, &bomb).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_refused(&body["errors"], "QUERY_COMPLEXITY_LIMIT");

    let mut ws = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    let errors = ws_error(&mut ws, TRANSPORT, "bomb", &bomb).await;
    assert_refused(&errors, "QUERY_COMPLEXITY_LIMIT");

    let grown = rss_kib().saturating_sub(before);
    assert!(grown < RSS_GROWTH_BOUND_KIB, "RSS grew by {grown} KiB");
    still_serving(&app).await;
}

#[tokio::test]
async fn a_chain_of_fragments_that_select_nothing_is_refused_for_its_expanded_selections() {
    // No field to count, but 2^30 spreads for the engine to walk.
    let app = spawn_app(Backend::Sqlite).await;
    let chain = fragment_bomb().replace("{ __typename }", "{ ...Missing }");
    let (status, body) = post(&app, GRAPHQL_RESPONSE, &chain).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_refused(&body["errors"], "QUERY_EXPANDED_SELECTION_LIMIT");
    still_serving(&app).await;
}

#[tokio::test]
async fn a_document_within_the_limits_is_not_refused() {
    // The guard measures fragments as the engine expands them: a small bomb passes it.
    let app = spawn_app(Backend::Sqlite).await;
    let mut small = "query { ...F3 } fragment F0 on Query { __typename }".to_owned();
    for i in 1..=3 {
        small.push_str(&format!(
            " fragment F{i} on Query {{ ...F{} ...F{} }}",
            i - 1,
            i - 1
        ));
    }
    let data = app.ok(None, &small, json!({})).await;
    assert_eq!(data["__typename"], "Query");
}
