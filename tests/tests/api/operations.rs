//! The control room: metrics on the admin listener, the access log with request ids,
//! CORS for SPAs on other origins, the production switches, JSON bodies for every HTTP
//! failure, and rate limits answered 429 with Retry-After.

use std::time::Duration;

use gateway_tests::push_service::MockPushService;
use gateway_tests::{Backend, Gateway, TestDatabase};
use serde_json::{Value, json};

use crate::alerts::{STATUS_CHANGED, change};
use crate::helpers::{error_code, marathon, spawn_app, spawn_app_with};
use crate::ws_client::{TRANSPORT, Ws};

/// The value of a series in Prometheus text (the first line whose name and labels start
/// with `series`).
fn series(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_scrapes_every_pipeline_metric_from_the_admin_port_only() {
    let app = spawn_app_with(Backend::Postgres, |s| {
        s.push.trusted_origins = vec![gateway_tests::push_service::TRUSTED_ORIGIN.into()];
    })
    .await;
    app.seed_demo().await;
    let mock = MockPushService::start(1).await.unwrap();
    let key = app.ok(None, "{ webPushPublicKey }", json!({})).await;
    mock.expect_vapid_key(key["webPushPublicKey"].as_str().unwrap())
        .unwrap();
    let runner = app
        .registered_runner("metrics@example.kz", &marathon(), 1)
        .await
        .token;
    let browser = mock.subscribe().unwrap();
    crate::push::subscribe(&app, &runner, &browser, None).await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let event = app.event_id(&marathon()).await;
    let mut socket = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    socket
        .subscribe(TRANSPORT, "s", STATUS_CHANGED, json!({ "e": event }))
        .await;
    socket.settle().await;
    change(
        (&app, &organizer),
        &event,
        "CANCELLED",
        "Public events are banned",
        None,
    )
    .await;
    socket.payload("s").await;
    assert!(
        mock.wait_until(Duration::from_secs(10), |r| !r.is_empty())
            .await,
        "the push arrives"
    );
    // Labels are the gateway's: the page's operation names, and `other` for the rest.
    for name in ["Races", "ZzMadeUpByAClient"] {
        let body: Value = app
            .client
            .post(app.graphql_url())
            .json(&json!({
                "query": format!("query {name} {{ events(first: 1) {{ edges {{ cursor }} }} }}"),
                "operationName": name,
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(body["errors"].is_null(), "{body}");
    }
    // The public port has no /metrics: a 404, counted as a 4xx.
    let status = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);
    // Scraped until every series is there (the pool probe runs every second), at most
    // 10 s: a series that never comes fails with the last scrape.
    let positive = [
        "gateway_graphql_request_duration_seconds_count{operation=\"Races\",type=\"query\",outcome=\"OK\"}",
        "gateway_graphql_request_duration_seconds_count{operation=\"other\",type=\"query\",outcome=\"OK\"}",
        "gateway_graphql_request_duration_seconds_count{operation=\"anonymous\",type=\"mutation\",outcome=\"OK\"}",
        "gateway_alert_delay_seconds_count{stage=\"hub\"}",
        "gateway_alert_delay_seconds_count{stage=\"websocket\"}",
        "gateway_push_request_duration_seconds_count{class=\"2xx\"}",
        "gateway_push_delivery_delay_seconds_count",
        "gateway_pushes_total{outcome=\"delivered\"}",
        "gateway_notifications_relayed_total",
        "gateway_db_pool_wait_seconds_count",
        "gateway_websocket_connections",
        "gateway_subscriptions",
        "gateway_http_responses_total{class=\"1xx\"}",
        "gateway_http_responses_total{class=\"2xx\"}",
        "gateway_http_responses_total{class=\"4xx\"}",
        "process_open_fds",
        "process_max_fds",
        "process_resident_memory_bytes",
        "process_threads",
        concat!(
            "gateway_build_info{version=\"",
            env!("CARGO_PKG_VERSION"),
            "\"}"
        ),
    ];
    let present = [
        "gateway_relay_lag_seconds",
        "gateway_db_pool_connections{state=\"in_use\"}",
        "gateway_db_pool_connections{state=\"idle\"}",
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = app
            .client
            .get(format!("{}/metrics", app.admin))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let complete = positive
            .iter()
            .all(|name| series(&text, name).is_some_and(|v| v > 0.0))
            && present.iter().all(|name| series(&text, name).is_some());
        if complete || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        !text.contains("ZzMadeUpByAClient"),
        "a client's name became a label"
    );
    for name in positive {
        let value = series(&text, name);
        assert!(
            value.is_some_and(|v| v > 0.0),
            "{name} = {value:?} in:\n{text}"
        );
    }
    for name in present {
        assert!(series(&text, name).is_some(), "{name} missing in:\n{text}");
    }
    let public = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404, "metrics stay off the public port");
    let body: Value = public.json().await.unwrap();
    assert_eq!(error_code(&body), "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_is_one_log_line_with_its_id_and_no_secrets() {
    let database = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let gateway = Gateway::start_logged(&[("DATABASE_URL", database.url.clone())], "info")
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let answer = client
        .post(format!("{}/graphql", gateway.address))
        .header("x-request-id", "trace-me-123")
        .bearer_auth("rdg_secret-token-xyz")
        .json(&json!({
            "query": "query Races($s: String!) { eventBySlug(slug: $s) { id } }",
            "operationName": "Races",
            "variables": { "s": "secret-variable-value" }
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["x-request-id"], "trace-me-123");
    let line = gateway
        .wait_for_log(
            &["trace-me-123", "status=200", "Races"],
            Duration::from_secs(5),
        )
        .await
        .unwrap_or_else(|| panic!("no access line:\n{}", gateway.logs().join("\n")));
    assert!(line.contains("path=/graphql"), "{line}");
    assert!(line.contains("kind=query"), "{line}");
    assert!(line.contains("latency_ms="), "{line}");
    // A request id that could forge a log line is replaced.
    let forged = client
        .get(format!("{}/healthz", gateway.address))
        .header("x-request-id", "a b\tc")
        .send()
        .await
        .unwrap();
    let replaced = forged.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(replaced, "a b\tc");
    assert_eq!(replaced.len(), 16);
    // A WebSocket session is one line when it opens and one when it closes.
    let ws_url = format!("{}/graphql/ws", gateway.address.replace("http://", "ws://"));
    let socket = Ws::init(&ws_url, TRANSPORT, None).await;
    socket.close_normally().await;
    gateway
        .wait_for_log(
            &["websocket closed", "close_code=1000", "operations=0"],
            Duration::from_secs(5),
        )
        .await
        .unwrap_or_else(|| panic!("no session line:\n{}", gateway.logs().join("\n")));
    let all = gateway.logs().join("\n");
    for secret in ["secret-token-xyz", "secret-variable-value"] {
        assert!(!all.contains(secret), "{secret} reached the log:\n{all}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_spa_on_an_allowed_origin_may_call_and_others_may_not() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.http.cors_allowed_origins = vec!["https://runners.almaty-marathon.kz".into()];
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.graphql_url())
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight("https://runners.almaty-marathon.kz")
        .await
        .unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let headers = allowed.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://runners.almaty-marathon.kz"
    );
    let allow_headers = headers["access-control-allow-headers"].to_str().unwrap();
    assert!(allow_headers.contains("authorization"), "{allow_headers}");
    assert_eq!(headers["access-control-max-age"], "600");
    let request = app
        .client
        .post(app.graphql_url())
        .header("origin", "https://runners.almaty-marathon.kz")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        request.headers()["access-control-allow-origin"],
        "https://runners.almaty-marathon.kz"
    );
    let stranger = preflight("https://evil.example").await.unwrap();
    assert!(
        !stranger
            .headers()
            .contains_key("access-control-allow-origin"),
        "another origin gets no permission"
    );

    // `*`: anyone may read public data, but not send credentials.
    let open = spawn_app_with(Backend::Sqlite, |s| {
        s.http.cors_allowed_origins = vec!["*".into()];
    })
    .await;
    let anyone = open
        .client
        .request(reqwest::Method::OPTIONS, open.graphql_url())
        .header("origin", "https://anyone.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(anyone.headers()["access-control-allow-origin"], "*");
    let allow_headers = anyone.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(!allow_headers.contains("authorization"), "{allow_headers}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_switches_turn_graphiql_and_introspection_off() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.http.graphiql = Some(false);
        s.http.introspection = Some(false);
    })
    .await;
    let page = app
        .client
        .get(app.graphql_url())
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400, "no GraphiQL page");
    let body: Value = page.json().await.unwrap();
    assert_eq!(error_code(&body), "BAD_REQUEST");
    let schema = app
        .graphql(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(schema["data"]["__schema"], Value::Null, "{schema}");
    // Nor is the SDL file GraphiQL loads served: it tells what introspection would.
    let sdl = app
        .client
        .get(format!("{}/assets/schema.graphql", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(sdl.status(), 404);
    // Nor do validation errors spell the schema out by suggestion.
    for typo in [
        "mutation { signInn(input: { email: \"a@b.kz\", password: \"x\" }) { token } }",
        "{ events(first: 1) { edges { node { nmae } } } }",
        "{ events(status: [CANCELED]) { edges { cursor } } }",
    ] {
        let refused = app.graphql(None, typo, json!({})).await;
        let message = refused["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{refused}");
        assert!(!message.contains("Did you mean"), "{message}");
    }
    // Ordinary queries work.
    app.ok(None, "{ __typename }", json!({})).await;
    // With introspection on (every other test), the SDL is there, and suggestions help.
    let open = spawn_app(Backend::Sqlite).await;
    let helped = open
        .graphql(
            None,
            "mutation { signInn(input: { email: \"a@b.kz\", password: \"x\" }) { token } }",
            json!({}),
        )
        .await;
    assert!(
        helped["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Did you mean"),
        "{helped}"
    );
    let open = spawn_app(Backend::Sqlite).await;
    let sdl = open
        .client
        .get(format!("{}/assets/schema.graphql", open.address))
        .send()
        .await
        .unwrap();
    assert_eq!(sdl.status(), 200);
    assert!(sdl.text().await.unwrap().contains("type Query"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_outside_graphql_are_json_with_a_code() {
    let app = spawn_app(Backend::Sqlite).await;
    let missing = app
        .client
        .get(format!("{}/no-such-page", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        error_code(&missing.json::<Value>().await.unwrap()),
        "NOT_FOUND"
    );
    let method = app.client.delete(app.graphql_url()).send().await.unwrap();
    assert_eq!(method.status(), 405);
    assert_eq!(
        error_code(&method.json::<Value>().await.unwrap()),
        "METHOD_NOT_ALLOWED"
    );
    let large = app
        .client
        .post(app.graphql_url())
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"query":"{{ __typename }}","x":"{}"}}"#,
            "a".repeat(100 * 1024)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(large.status(), 413);
    assert_eq!(
        error_code(&large.json::<Value>().await.unwrap()),
        "PAYLOAD_TOO_LARGE"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_passwords_is_answered_429_with_retry_after() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        // Four failed sign-ins on one account from one address.
        s.rates.auth_per_account = 4;
    })
    .await;
    app.sign_up_runner("guessed@example.kz").await;
    let sign_in = "mutation($input: SignInInput!) { signIn(input: $input) { token } }";
    let attempt = |password: &'static str| {
        app.client
            .post(app.graphql_url())
            .json(&json!({ "query": sign_in, "variables": { "input": { "email": "guessed@example.kz", "password": password } } }))
            .send()
    };
    // Signing in is free: the right password twice costs no guess.
    for _ in 0..2 {
        let right = attempt("a long runner password").await.unwrap();
        assert_eq!(right.status(), 200);
    }
    for _ in 0..4 {
        let wrong = attempt("a wrong long guess").await.unwrap();
        assert_eq!(wrong.status(), 200);
        assert_eq!(
            error_code(&wrong.json::<Value>().await.unwrap()),
            "INVALID_CREDENTIALS"
        );
    }
    // Even the right password waits now: the account's attempts are spent.
    let limited = attempt("a long runner password").await.unwrap();
    assert_eq!(limited.status(), 429);
    let wait: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(error_code(&body), "RATE_LIMITED");
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], wait);
}
