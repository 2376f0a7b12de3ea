//! Registered documents: Apollo's automatic persisted queries, the GraphQL-over-HTTP
//! draft's `documentId`, the runner page's manifest, and TRUSTED_DOCUMENTS (off, allow,
//! only) over POST, GET and the WebSocket; APQ texts learnt over every transport.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use server::documents::DocumentHash;
use server::settings::TrustedDocuments;

use crate::helpers::{Backend, TestApp, error_code, spawn_app, spawn_app_with};
use crate::ws_client::{Received, TRANSPORT, Ws};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// One of the runner page's documents (api.js's PUBLIC_KEY), anonymous and side-effect free.
const PAGE_DOCUMENT: &str = "query WebPushPublicKey { webPushPublicKey }";

fn hash(text: &str) -> String {
    DocumentHash::of(text).to_string()
}

fn persisted(text: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash(text) } })
}

async fn post(app: &TestApp, token: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(app.graphql_url())
        .header("accept", GRAPHQL_RESPONSE)
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    read_answer(request.send().await.expect("the gateway answers")).await
}

async fn get(app: &TestApp, parameters: &[(&str, String)]) -> (StatusCode, Value) {
    let response = app
        .client
        .get(app.graphql_url())
        .header("accept", GRAPHQL_RESPONSE)
        .query(parameters)
        .send()
        .await
        .expect("the gateway answers");
    read_answer(response).await
}

async fn read_answer(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.expect("a JSON body"))
}

fn refused_with(answer: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(error_code(&answer.1), code, "{}", answer.1);
    assert!(answer.1.get("data").is_none(), "{}", answer.1);
}

#[tokio::test]
async fn an_apq_hash_is_not_found_until_its_text_has_run_then_suffices_over_post_and_get() {
    let app = spawn_app(Backend::Sqlite).await;
    let text = "query Apq { __typename }";
    let alone = json!({ "extensions": persisted(text) });
    let (status, body) = post(&app, None, alone.clone()).await;
    // Apollo's answer, so that its clients send the text.
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_FOUND");

    let with_text = json!({ "query": text, "extensions": persisted(text) });
    let (status, body) = post(&app, None, with_text).await;
    answered_typename(status, &body);
    let (status, body) = post(&app, None, alone).await;
    answered_typename(status, &body);

    // GET: the same round trip, the extensions as a JSON string.
    let text = "query ApqOverGet { __typename }";
    let extensions = persisted(text).to_string();
    let alone = [("extensions", extensions.clone())];
    let (status, body) = get(&app, &alone).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_FOUND");
    let (status, body) = get(
        &app,
        &[("query", text.to_owned()), ("extensions", extensions)],
    )
    .await;
    answered_typename(status, &body);
    let (status, body) = get(&app, &alone).await;
    answered_typename(status, &body);
}

/// Apollo's client over graphql-ws: the hash alone, PERSISTED_QUERY_NOT_FOUND, then the hash
/// with the text, which runs and is registered, so that the hash alone runs on another
/// socket and over HTTP. A text that does not validate is not kept; and an event stream
/// registers a text as well.
#[tokio::test]
async fn an_apq_text_sent_over_a_websocket_or_an_event_stream_is_registered_once_it_has_run() {
    let app = spawn_app(Backend::Sqlite).await;
    let text = "query ApqOverWs { __typename }";
    let alone = json!({ "extensions": persisted(text) });
    let mut first = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    first
        .send(json!({ "id": "alone", "type": "subscribe", "payload": alone }))
        .await;
    let errors = operation_error(&mut first, "alone").await;
    assert_eq!(errors[0]["message"], "PersistedQueryNotFound", "{errors}");
    assert_eq!(
        errors[0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND",
        "{errors}"
    );
    let with_text = json!({ "query": text, "extensions": persisted(text) });
    first
        .send(json!({ "id": "with-text", "type": "subscribe", "payload": with_text }))
        .await;
    let payload = single(&mut first, "with-text").await;
    assert_eq!(
        payload["data"],
        json!({ "__typename": "Query" }),
        "{payload}"
    );

    let mut second = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    second
        .send(json!({ "id": "alone", "type": "subscribe", "payload": alone }))
        .await;
    let payload = single(&mut second, "alone").await;
    assert_eq!(
        payload["data"],
        json!({ "__typename": "Query" }),
        "{payload}"
    );
    let (status, body) = post(&app, None, alone).await;
    answered_typename(status, &body);

    // Sent with its hash but not valid: refused, and its hash alone still unknown.
    let invalid = "query InvalidOverWs { noSuchField }";
    second
        .send(json!({ "id": "invalid", "type": "subscribe",
            "payload": { "query": invalid, "extensions": persisted(invalid) } }))
        .await;
    let errors = operation_error(&mut second, "invalid").await;
    assert_eq!(
        errors[0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{errors}"
    );
    let answer = post(&app, None, json!({ "extensions": persisted(invalid) })).await;
    assert_eq!(
        error_code(&answer.1),
        "PERSISTED_QUERY_NOT_FOUND",
        "{}",
        answer.1
    );

    // A graphql-sse stream (distinct connections mode) registers what it ran too.
    let text = "query ApqOverSse { __typename }";
    let streamed = app
        .client
        .post(format!("{}/graphql/stream", app.address))
        .header("accept", "text/event-stream")
        .json(&json!({ "query": text, "extensions": persisted(text) }))
        .send()
        .await
        .expect("the gateway answers")
        .text()
        .await
        .expect("the stream ends after its one answer");
    assert!(streamed.contains(r#""__typename":"Query""#), "{streamed}");
    let (status, body) = post(&app, None, json!({ "extensions": persisted(text) })).await;
    answered_typename(status, &body);
}

#[tokio::test]
async fn a_text_that_does_not_validate_or_is_not_its_hash_s_is_never_registered() {
    let app = spawn_app(Backend::Sqlite).await;
    let invalid = "query Invalid { noSuchField }";
    let (status, body) = post(
        &app,
        None,
        json!({ "query": invalid, "extensions": persisted(invalid) }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    let answer = post(&app, None, json!({ "extensions": persisted(invalid) })).await;
    assert_eq!(
        error_code(&answer.1),
        "PERSISTED_QUERY_NOT_FOUND",
        "{}",
        answer.1
    );

    // A hash that is not the SHA-256 of the text sent with it.
    let claimed = "query Claimed { __typename }";
    let sent = json!({ "query": "query Other { __typename }", "extensions": persisted(claimed) });
    let answer = post(&app, None, sent).await;
    refused_with(&answer, StatusCode::BAD_REQUEST, "BAD_REQUEST");
    let answer = post(&app, None, json!({ "extensions": persisted(claimed) })).await;
    assert_eq!(
        error_code(&answer.1),
        "PERSISTED_QUERY_NOT_FOUND",
        "{}",
        answer.1
    );
}

#[tokio::test]
async fn malformed_identifiers_and_a_version_other_than_1_are_bad_requests() {
    let app = spawn_app(Backend::Sqlite).await;
    let text = "{ __typename }";
    let bodies = [
        json!({ "query": text, "extensions": { "persistedQuery": { "version": 2, "sha256Hash": hash(text) } } }),
        json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": "x".repeat(10_000) } } }),
        json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash(text).to_uppercase() } } }),
        json!({ "extensions": { "persistedQuery": "sha256" } }),
        json!({ "documentId": hash(text) }),
        json!({ "documentId": format!("sha256:{}", "0".repeat(10_000)) }),
        json!({ "documentId": format!("sha256:{}", hash(text)), "query": text }),
        json!({ "documentId": 7 }),
    ];
    for body in bodies {
        let answer = post(&app, None, body.clone()).await;
        assert_eq!(answer.0, StatusCode::BAD_REQUEST, "{body}: {}", answer.1);
        assert_eq!(error_code(&answer.1), "BAD_REQUEST", "{body}: {}", answer.1);
        let message = answer.1["errors"][0]["message"].as_str().unwrap_or("");
        assert!(
            message.len() < 200,
            "the message does not echo the input: {message}"
        );
    }
}

#[tokio::test]
async fn a_document_id_runs_a_registered_document_and_an_unknown_one_is_not_found() {
    let app = spawn_app(Backend::Sqlite).await;
    let id = format!("sha256:{}", hash(PAGE_DOCUMENT));
    let (status, body) = post(&app, None, json!({ "documentId": id })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["webPushPublicKey"].is_string(), "{body}");
    let (status, body) = get(&app, &[("documentId", id)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["webPushPublicKey"].is_string(), "{body}");

    // A mutation named by documentId over GET is 405, as a text would be (the draft).
    let sign_out = "mutation SignOut { signOut }";
    let response = app
        .client
        .get(app.graphql_url())
        .query(&[("documentId", format!("sha256:{}", hash(sign_out)))])
        .send()
        .await
        .unwrap();
    let (status, body) = read_answer(response).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(error_code(&body), "METHOD_NOT_ALLOWED", "{body}");
    // The same named mutation as text, without operationName (it once ran: the parser
    // keeps a lone named operation among "several").
    let (status, body) = get(&app, &[("query", sign_out.to_owned())]).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");

    let unknown = format!("sha256:{}", hash("query Unknown { __typename }"));
    let answer = post(&app, None, json!({ "documentId": unknown })).await;
    refused_with(
        &answer,
        StatusCode::BAD_REQUEST,
        "PERSISTED_QUERY_NOT_FOUND",
    );
    let legacy = app
        .client
        .post(app.graphql_url())
        .header("accept", "application/json")
        .json(&json!({ "documentId": unknown }))
        .send()
        .await
        .unwrap();
    let legacy = read_answer(legacy).await;
    refused_with(&legacy, StatusCode::OK, "PERSISTED_QUERY_NOT_FOUND");
}

#[tokio::test]
async fn off_refuses_persisted_queries_and_document_ids_and_runs_text() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.documents.trusted_documents = TrustedDocuments::Off;
    })
    .await;
    let with_hash = json!({ "query": PAGE_DOCUMENT, "extensions": persisted(PAGE_DOCUMENT) });
    let answer = post(&app, None, with_hash).await;
    refused_with(
        &answer,
        StatusCode::BAD_REQUEST,
        "PERSISTED_QUERY_NOT_SUPPORTED",
    );
    let by_id = json!({ "documentId": format!("sha256:{}", hash(PAGE_DOCUMENT)) });
    let answer = post(&app, None, by_id).await;
    refused_with(
        &answer,
        StatusCode::BAD_REQUEST,
        "PERSISTED_QUERY_NOT_SUPPORTED",
    );
    let answer = get(
        &app,
        &[("extensions", persisted(PAGE_DOCUMENT).to_string())],
    )
    .await;
    refused_with(
        &answer,
        StatusCode::BAD_REQUEST,
        "PERSISTED_QUERY_NOT_SUPPORTED",
    );
    let (status, body) = post(&app, None, json!({ "query": "{ __typename }" })).await;
    answered_typename(status, &body);
}

#[tokio::test]
async fn only_runs_the_page_s_documents_for_anyone_and_free_text_for_organizers_alone() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.documents.trusted_documents = TrustedDocuments::Only;
    })
    .await;
    let free = "query Free { __typename }";
    let answer = post(&app, None, json!({ "query": free })).await;
    refused_with(
        &answer,
        StatusCode::BAD_REQUEST,
        "PERSISTED_QUERY_NOT_IN_LIST",
    );
    let answer = get(&app, &[("query", free.to_owned())]).await;
    refused_with(
        &answer,
        StatusCode::BAD_REQUEST,
        "PERSISTED_QUERY_NOT_IN_LIST",
    );
    // A runner's session proves no more than none: anyone may sign up.
    let runner = app.runner_tokens(1).await.remove(0);
    let answer = post(&app, Some(&runner), json!({ "query": free })).await;
    refused_with(
        &answer,
        StatusCode::BAD_REQUEST,
        "PERSISTED_QUERY_NOT_IN_LIST",
    );

    // The page's document, as the page sends it (text), by documentId, by APQ hash.
    let page_requests = [
        json!({ "query": PAGE_DOCUMENT }),
        json!({ "documentId": format!("sha256:{}", hash(PAGE_DOCUMENT)) }),
        json!({ "extensions": persisted(PAGE_DOCUMENT) }),
    ];
    for body in page_requests {
        let (status, answer) = post(&app, None, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}: {answer}");
        assert!(
            answer["data"]["webPushPublicKey"].is_string(),
            "{body}: {answer}"
        );
    }

    // An organizer may send anything, and registers it by APQ; that does not make it
    // trusted for anyone else.
    app.seed_demo().await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let with_hash = json!({ "query": free, "extensions": persisted(free) });
    let (status, body) = post(&app, Some(&organizer), with_hash).await;
    answered_typename(status, &body);
    let (status, body) = post(
        &app,
        Some(&organizer),
        json!({ "extensions": persisted(free) }),
    )
    .await;
    answered_typename(status, &body);
    let answer = post(&app, None, json!({ "extensions": persisted(free) })).await;
    refused_with(
        &answer,
        StatusCode::BAD_REQUEST,
        "PERSISTED_QUERY_NOT_IN_LIST",
    );
    let answer = post(
        &app,
        None,
        json!({ "documentId": format!("sha256:{}", hash(free)) }),
    )
    .await;
    refused_with(
        &answer,
        StatusCode::BAD_REQUEST,
        "PERSISTED_QUERY_NOT_IN_LIST",
    );
}

/// A query's one answer on a socket, then its `complete`.
async fn single(ws: &mut Ws, id: &str) -> Value {
    let payload = ws.payload(id).await;
    match ws.next(Duration::from_secs(10)).await {
        Received::Json(m) if m["id"] == id && m["type"] == "complete" => payload,
        other => panic!("expected {id} to complete, got {other:?}"),
    }
}

/// The error an operation got on a socket, or a failure.
async fn operation_error(ws: &mut Ws, id: &str) -> Value {
    match ws.next(Duration::from_secs(10)).await {
        Received::Json(m) if m["id"] == id && m["type"] == "error" => m["payload"].clone(),
        other => panic!("expected an error for {id}, got {other:?}"),
    }
}

#[tokio::test]
async fn only_holds_an_anonymous_socket_to_the_page_s_documents_and_not_an_organizer_s() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.documents.trusted_documents = TrustedDocuments::Only;
    })
    .await;
    let mut anonymous = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    anonymous
        .subscribe(TRANSPORT, "free", "query Free { __typename }", json!({}))
        .await;
    let errors = operation_error(&mut anonymous, "free").await;
    assert_eq!(
        errors[0]["extensions"]["code"], "PERSISTED_QUERY_NOT_IN_LIST",
        "{errors}"
    );
    anonymous
        .subscribe(TRANSPORT, "page", PAGE_DOCUMENT, json!({}))
        .await;
    let payload = single(&mut anonymous, "page").await;
    assert!(payload["data"]["webPushPublicKey"].is_string(), "{payload}");
    let by_id = format!("sha256:{}", hash(PAGE_DOCUMENT));
    anonymous
        .send(json!({ "id": "by-id", "type": "subscribe", "payload": { "documentId": by_id } }))
        .await;
    let payload = single(&mut anonymous, "by-id").await;
    assert!(payload["data"]["webPushPublicKey"].is_string(), "{payload}");

    app.seed_demo().await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let mut signed_in = Ws::init(&app.ws_url(), TRANSPORT, Some(&organizer)).await;
    signed_in
        .subscribe(TRANSPORT, "free", "query Free { __typename }", json!({}))
        .await;
    let payload = single(&mut signed_in, "free").await;
    assert_eq!(
        payload["data"],
        json!({ "__typename": "Query" }),
        "{payload}"
    );
}

/// The answer of `{ __typename }` on the root: 200 and `Query`.
#[track_caller]
fn answered_typename(status: StatusCode, body: &Value) {
    assert_eq!(
        (status, &body["data"]),
        (StatusCode::OK, &json!({ "__typename": "Query" })),
        "{body}"
    );
}
