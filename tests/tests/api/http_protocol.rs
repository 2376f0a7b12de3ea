//! GraphQL over HTTP: status codes, media types, limits, GraphiQL, health.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, spawn_app, spawn_app_with};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

#[tokio::test]
async fn malformed_json_is_a_bad_request() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app
        .client
        .post(app.graphql_url())
        .header("content-type", "application/json")
        .body("{\"query\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_unsupported() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app
        .client
        .post(app.graphql_url())
        .header("content-type", "text/plain")
        .body("{ events { edges { cursor } } }")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn unknown_fields_are_a_400_for_graphql_response_clients_and_200_for_json_ones() {
    let app = spawn_app(Backend::Sqlite).await;
    let query = json!({ "query": "{ events { edges { node { nope } } } }" });
    let modern = app
        .client
        .post(app.graphql_url())
        .header("accept", GRAPHQL_RESPONSE)
        .json(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(modern.status(), StatusCode::BAD_REQUEST);
    assert!(
        modern.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(GRAPHQL_RESPONSE)
    );
    let body: Value = modern.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    assert_eq!(body["data"], Value::Null);

    let legacy = app
        .client
        .post(app.graphql_url())
        .header("accept", "application/json")
        .json(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(legacy.status(), StatusCode::OK);
    assert!(
        legacy.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

#[tokio::test]
async fn a_syntax_error_has_a_parse_code() {
    let app = spawn_app(Backend::Sqlite).await;
    let body = app.graphql(None, "{ events { ", json!({})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "GRAPHQL_PARSE_FAILED"
    );
}

#[tokio::test]
async fn a_variable_of_the_wrong_type_is_refused_with_a_code() {
    let app = spawn_app(Backend::Sqlite).await;
    let body = app
        .graphql(
            None,
            "query($n: Int) { events(first: $n) { edges { cursor } } }",
            json!({ "n": "ten" }),
        )
        .await;
    let code = body["errors"][0]["extensions"]["code"].as_str().unwrap();
    assert!(
        ["GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT"].contains(&code),
        "{body}"
    );
    assert_eq!(body["data"], Value::Null);
}

#[tokio::test]
async fn a_query_nested_too_deep_is_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    // 17 levels, past the default of 15.
    let mut deep = "{ events { edges { node { distances { name ".to_owned();
    for _ in 0..6 {
        deep.push_str("event { distances { name ");
    }
    deep.push_str(&"} ".repeat(17));
    let deep = deep.as_str();
    let body = app.graphql(None, deep, json!({})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep")
    );
}

#[tokio::test]
async fn a_mutation_over_get_is_not_allowed_and_changes_nothing() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app
        .client
        .get(app.graphql_url())
        .query(&[("query", "mutation { signUp(input: {email: \"a@b.kz\", password: \"a long enough one\", displayName: \"A\"}) { email } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(app.count("account").await, 0);
}

#[tokio::test]
async fn a_query_over_get_works() {
    let app = spawn_app(Backend::Sqlite).await;
    app.seed_demo().await;
    let response = app
        .client
        .get(app.graphql_url())
        .query(&[(
            "query",
            "{ eventBySlug(slug: \"almaty-marathon-2020\") { status } }",
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["eventBySlug"]["status"], "CANCELLED");
}

#[tokio::test]
async fn a_browser_gets_graphiql() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app
        .client
        .get(app.graphql_url())
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(page.contains("graphiql"), "GraphiQL page");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    let padding = "#".repeat(100 * 1024);
    let response = app
        .client
        .post(app.graphql_url())
        .json(&json!({ "query": format!("{{ events {{ edges {{ cursor }} }} }}\n{padding}") }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn health_is_ok_and_readiness_checks_the_database() {
    let app = spawn_app(Backend::Postgres).await;
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    // The public port says only whether; the admin port, where a balancer checks, why.
    let public = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::OK);
    assert_eq!(
        public.json::<Value>().await.unwrap(),
        json!({ "ready": true })
    );
    let ready = app
        .client
        .get(format!("{}/readyz", app.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["database"], true);
}

/// Alerts flow without Redis (hubs poll the log), so its outage must not pull every
/// instance out of the load balancer: readiness stays, and says it is degraded.
#[tokio::test]
async fn readiness_reports_an_unreachable_redis_without_failing() {
    let unreachable = spawn_app_with(Backend::Sqlite, |s| {
        s.bus.redis_url = Some("redis://127.0.0.1:1".to_owned().into())
    })
    .await;
    let ready = unreachable
        .client
        .get(format!("{}/readyz", unreachable.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["redis"], false);
    assert_eq!(body["degraded"], true);

    let reachable = spawn_app_with(Backend::Sqlite, |s| {
        s.bus.redis_url = Some("redis://127.0.0.1:6379".to_owned().into())
    })
    .await;
    let ready = reachable
        .client
        .get(format!("{}/readyz", reachable.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["redis"], true);
    assert_eq!(body["degraded"], false);
}

/// POSTs `body` as JSON, accepting `application/graphql-response+json`; status and body.
async fn post_for_graphql_response(app: &crate::helpers::TestApp, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.graphql_url())
        .header("accept", "application/graphql-response+json")
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// graphql-http audit D586: no `data` entry on a document that does not parse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_that_does_not_parse_has_no_data_entry() {
    let app = spawn_app(Backend::Sqlite).await;
    let (status, body) = post_for_graphql_response(&app, json!({ "query": "{" })).await;
    assert_eq!(status, 400);
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "GRAPHQL_PARSE_FAILED"
    );
}

/// graphql-http audit 5E5B: no `data` entry on a document that does not validate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_that_does_not_validate_has_no_data_entry() {
    let app = spawn_app(Backend::Sqlite).await;
    let (status, body) = post_for_graphql_response(
        &app,
        json!({ "query": "{ field8f31403dfe404bccbb0e835f2629c6a7 }" }),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
}

/// graphql-http audits 8764 and 3E3A: parameters that are not a GraphQL request are a 400,
/// whatever the client accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_that_are_not_a_graphql_request_are_a_400() {
    let app = spawn_app(Backend::Sqlite).await;
    for body in [
        json!({ "qeury": "{ __typename }" }),
        json!({ "query": 7 }),
        json!({ "query": "{ __typename }", "variables": "not a map" }),
        json!({ "query": "{ __typename }", "extensions": [1] }),
    ] {
        let (status, answer) = post_for_graphql_response(&app, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["errors"][0]["extensions"]["code"], "BAD_REQUEST");
        let plain = app
            .client
            .post(app.graphql_url())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(plain.status(), 400, "{body} as application/json");
    }
}

/// The whole graphql-http audit suite (npm `graphql-http`, the GraphQL-over-HTTP spec's
/// conformance checks) against the running gateway: every audit ok, none a warning or a
/// notice. The tests above pin the four it once flagged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graphql_http_audit_suite_passes_whole() {
    let dir = crate::browser::node_packages();
    let app = spawn_app(Backend::Sqlite).await;
    let output = tokio::process::Command::new("node")
        .arg("audit.mjs")
        .current_dir(dir)
        .env("GATEWAY_URL", &app.address)
        .output()
        .await
        .expect("node runs the audit");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| {
            panic!(
                "the audit's report ({e}): {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    assert!(output.status.success(), "audits not ok: {report}");
    assert_eq!(report["notOk"], json!([]), "{report}");
    assert_eq!(report["ok"], report["total"], "{report}");
    assert!(report["total"].as_u64().unwrap() >= 61, "{report}");
}
