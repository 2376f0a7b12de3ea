//! GraphQL over Server-Sent Events (graphql-sse) and one URL for every transport: a
//! mutation over GET is refused, a query streams one `next` and `complete`, a single
//! connection stream runs operations by id, a withdrawn credential ends its streams, a
//! reserved stream checks its credential again before each operation, the WebSocket is
//! accepted at /graphql too, and graphql-sse's own client resumes with
//! `Last-Event-ID` after a cut, missing nothing and hearing nothing twice.

use std::time::Duration;

use reqwest::header::ACCEPT;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_code, spawn_app, spawn_app_with};
use crate::on_both_databases;
use crate::registrations::register;
use crate::ws_client::{TRANSPORT, Ws};

const EVENT_STREAM: &str = "text/event-stream";

/// What an event stream carries, one item at a time.
#[derive(Debug, PartialEq)]
enum Item {
    /// A comment (the first says the stream is open; later ones keep it alive).
    Comment,
    Event {
        event: String,
        id: Option<String>,
        data: Value,
    },
    /// The server ended the stream.
    End,
}

struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    fn new(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), 200, "the stream is refused");
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(content_type.starts_with(EVENT_STREAM), "{content_type}");
        Self {
            response,
            buffer: String::new(),
        }
    }

    async fn next(&mut self) -> Item {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut event, mut id, mut data) = (None, None, String::new());
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event: ") {
                        event = Some(value.to_owned());
                    } else if let Some(value) = line.strip_prefix("id: ") {
                        id = Some(value.to_owned());
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    }
                }
                return match event {
                    None => Item::Comment,
                    Some(event) => Item::Event {
                        event,
                        id,
                        data: if data.is_empty() {
                            Value::Null
                        } else {
                            serde_json::from_str(&data).unwrap()
                        },
                    },
                };
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("the stream says something within 10 s");
            match chunk {
                Ok(Some(bytes)) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                Ok(None) | Err(_) => return Item::End,
            }
        }
    }

    /// The next event, comments skipped.
    async fn event(&mut self) -> Item {
        loop {
            match self.next().await {
                Item::Comment => continue,
                other => return other,
            }
        }
    }
}

fn stream_url(app: &TestApp) -> String {
    format!("{}/graphql/stream", app.address)
}

async fn open(app: &TestApp, url: &str, token: Option<&str>, body: Value) -> Stream {
    let mut request = app
        .client
        .post(url)
        .header(ACCEPT, EVENT_STREAM)
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Stream::new(request.send().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutation_over_get_is_405_and_a_query_over_post_is_one_next_then_complete() {
    let app = spawn_app(Backend::Sqlite).await;
    for url in [stream_url(&app), app.graphql_url()] {
        let refused = app
            .client
            .get(&url)
            .query(&[("query", "mutation { signOut }")])
            .header(ACCEPT, EVENT_STREAM)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 405, "{url}");
        assert_eq!(refused.headers()["allow"], "POST");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            "METHOD_NOT_ALLOWED"
        );

        let mut query = open(
            &app,
            &url,
            None,
            json!({ "query": "{ notificationsCursor }" }),
        )
        .await;
        assert_eq!(query.next().await, Item::Comment, "the stream opens");
        match query.event().await {
            Item::Event { event, id, data } => {
                assert_eq!(event, "next");
                assert_eq!(id, None, "a query has no place in the log");
                assert!(data["data"]["notificationsCursor"].is_string(), "{data}");
            }
            other => panic!("expected next, got {other:?}"),
        }
        assert_eq!(
            query.event().await,
            Item::Event {
                event: "complete".into(),
                id: None,
                data: Value::Null
            }
        );
        assert_eq!(query.event().await, Item::End);
    }
    // A refusal before execution is told on the stream, coded.
    let mut guarded = open(
        &app,
        &stream_url(&app),
        None,
        json!({ "query": schema::graphql::document_guard::hostile::fragment_bomb(29) }),
    )
    .await;
    match guarded.event().await {
        Item::Event { event, data, .. } => {
            assert_eq!(event, "next");
            assert_eq!(data["errors"][0]["extensions"]["code"], "QUERY_TOO_LARGE");
        }
        other => panic!("expected the refusal, got {other:?}"),
    }
    // Without asking for a stream, /graphql is GraphQL over HTTP as before.
    let plain = app
        .client
        .get(app.graphql_url())
        .query(&[("query", "{ __typename }")])
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);
    let body: Value = plain.json().await.unwrap();
    assert_eq!(body["data"]["__typename"], "Query");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_connection_stream_runs_operations_by_id_and_stops_them() {
    let app = spawn_app(Backend::Sqlite).await;
    let url = stream_url(&app);
    let reserved = app.client.put(&url).send().await.unwrap();
    assert_eq!(reserved.status(), 201);
    let token = reserved.text().await.unwrap();
    assert!(token.len() >= 40, "{token}");
    let connect = || {
        app.client
            .get(&url)
            .header(ACCEPT, EVENT_STREAM)
            .header("x-graphql-event-stream-token", &token)
    };
    let mut stream = Stream::new(connect().send().await.unwrap());
    assert_eq!(stream.next().await, Item::Comment);
    assert_eq!(
        connect().send().await.unwrap().status(),
        409,
        "one stream per reservation"
    );
    let post = |body: Value| {
        app.client
            .post(&url)
            .header("x-graphql-event-stream-token", &token)
            .json(&body)
            .send()
    };
    let subscription = json!({
        "query": "subscription { eventStatusChanged { id } }",
        "extensions": { "operationId": "live" },
    });
    assert_eq!(post(subscription.clone()).await.unwrap().status(), 202);
    assert_eq!(
        post(subscription).await.unwrap().status(),
        409,
        "the id is taken"
    );
    let no_id = post(json!({ "query": "{ __typename }" })).await.unwrap();
    assert_eq!(no_id.status(), 400);
    let too_long = post(json!({
        "query": "{ __typename }",
        "extensions": { "operationId": "x".repeat(129) },
    }))
    .await
    .unwrap();
    assert_eq!(too_long.status(), 400);
    let query = json!({ "query": "{ __typename }", "extensions": { "operationId": "q" } });
    assert_eq!(post(query).await.unwrap().status(), 202);
    assert_eq!(
        stream.event().await,
        Item::Event {
            event: "next".into(),
            id: None,
            data: json!({ "id": "q", "payload": { "data": { "__typename": "Query" } } }),
        }
    );
    assert_eq!(
        stream.event().await,
        Item::Event {
            event: "complete".into(),
            id: None,
            data: json!({ "id": "q" }),
        }
    );
    let stopped = app
        .client
        .delete(format!("{url}?operationId=live"))
        .header("x-graphql-event-stream-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(stopped.status(), 200);
    assert_eq!(
        stream.event().await,
        Item::Event {
            event: "complete".into(),
            id: None,
            data: json!({ "id": "live" }),
        }
    );
    let unknown = app
        .client
        .get(&url)
        .header(ACCEPT, EVENT_STREAM)
        .header("x-graphql-event-stream-token", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

async fn signing_out_ends_the_sessions_event_streams(backend: Backend) {
    let app = spawn_app(backend).await;
    let (organizer, event) = app.demo_organizer_and_marathon().await;
    let first = app.sign_up_runner("aigerim@example.kz").await;
    let second = app
        .sign_in("aigerim@example.kz", "a long runner password")
        .await;
    let distance = app.distance_ids(&crate::helpers::marathon()).await[0].clone();
    let body = register(&app, &second, &distance).await;
    assert!(body.get("errors").is_none(), "{body}");
    let mine = json!({ "query": "subscription { myNotifications { id } }" });
    let mut signed_out = open(&app, &stream_url(&app), Some(&first), mine.clone()).await;
    let mut other_session = open(&app, &app.graphql_url(), Some(&second), mine).await;
    // The first comment comes once the subscription is in place.
    assert_eq!(signed_out.next().await, Item::Comment);
    assert_eq!(other_session.next().await, Item::Comment);
    app.ok(Some(&first), "mutation { signOut }", json!({}))
        .await;
    match signed_out.event().await {
        Item::Event { event, data, .. } => {
            assert_eq!(event, "next");
            assert_eq!(
                data["errors"][0]["extensions"]["code"], "FORBIDDEN",
                "{data}"
            );
        }
        other => panic!("expected FORBIDDEN, got {other:?}"),
    }
    assert!(matches!(signed_out.event().await, Item::Event { event, .. } if event == "complete"));
    assert_eq!(signed_out.event().await, Item::End);
    // The other session's stream still carries its alerts: a change made now reaches it
    // (the withdrawal reached every stream before `signOut` answered).
    crate::alerts::change((&app, &organizer), &event, "CANCELLED", "Ban", None).await;
    match other_session.event().await {
        Item::Event { event, id, data } => {
            assert_eq!(event, "next");
            assert_eq!(
                id.as_deref(),
                data["data"]["myNotifications"]["id"].as_str(),
                "the event id is the notification's cursor: {data}"
            );
        }
        other => panic!("expected the cancellation, got {other:?}"),
    }
}
on_both_databases!(signing_out_ends_the_sessions_event_streams);

/// A reservation's credential is checked again before each operation, as a socket's is: a
/// session ended behind the gateway's back (no withdrawal message, no sweep within the
/// test) is found gone by the next POST, which is refused before anything runs, and the
/// stream ends as a withdrawal ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reserved_stream_checks_its_credential_again_before_each_operation() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        // Every operation checks again (a value below the setting's range, which only a
        // test can set), and the sweep never comes: only that check can find it gone.
        s.websocket.auth_recheck = Duration::ZERO;
        s.websocket.auth_sweep = Duration::from_secs(3600);
    })
    .await;
    let runner = app.sign_up_runner("stale-stream@example.kz").await;
    let url = stream_url(&app);
    let reserved = app
        .client
        .put(&url)
        .bearer_auth(&runner)
        .send()
        .await
        .unwrap();
    assert_eq!(reserved.status(), 201);
    let token = reserved.text().await.unwrap();
    let mut stream = Stream::new(
        app.client
            .get(&url)
            .header(ACCEPT, EVENT_STREAM)
            .header("x-graphql-event-stream-token", &token)
            .send()
            .await
            .unwrap(),
    );
    assert_eq!(stream.next().await, Item::Comment);
    let post = |id: &str, query: &str| {
        app.client
            .post(&url)
            .header("x-graphql-event-stream-token", &token)
            .json(&json!({ "query": query, "extensions": { "operationId": id } }))
            .send()
    };
    let live = post("live", "subscription { myNotifications { id } }")
        .await
        .unwrap();
    assert_eq!(live.status(), 202);
    assert_eq!(
        post("me", "{ me { language } }").await.unwrap().status(),
        202
    );
    let language = match stream.event().await {
        Item::Event { event, data, .. } if event == "next" && data["id"] == "me" => {
            data["payload"]["data"]["me"]["language"].clone()
        }
        other => panic!("expected the runner's account, got {other:?}"),
    };
    assert_ne!(language, "RU", "the mutation below would change nothing");
    assert!(
        matches!(stream.event().await, Item::Event { event, .. } if event == "complete"),
        "the query is done"
    );

    // The session ends behind the gateway's back: no withdrawal message reaches it.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    entities::session::Entity::delete_many()
        .filter(entities::session::Column::TokenHash.eq(race_office::services::hash_token(&runner)))
        .exec(&app.db)
        .await
        .unwrap();
    let refused = post(
        "change",
        "mutation { updateAccount(input: { language: RU }) { language } }",
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let account = entities::account::Entity::find()
        .filter(entities::account::Column::Email.eq("stale-stream@example.kz"))
        .one(&app.db)
        .await
        .unwrap()
        .expect("the runner's account");
    assert_eq!(account.language, language, "the mutation never ran");
    // The stream ends as a withdrawal ends it: its live operation told FORBIDDEN.
    match stream.event().await {
        Item::Event { event, data, .. } => {
            assert_eq!(event, "next");
            assert_eq!(data["id"], "live", "{data}");
            assert_eq!(
                data["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
                "{data}"
            );
        }
        other => panic!("expected FORBIDDEN, got {other:?}"),
    }
    assert_eq!(
        stream.event().await,
        Item::Event {
            event: "complete".into(),
            id: None,
            data: json!({ "id": "live" }),
        }
    );
    assert_eq!(stream.event().await, Item::End);
    assert_eq!(
        post("again", "{ __typename }").await.unwrap().status(),
        404,
        "the reservation is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_is_accepted_at_graphql_too() {
    let app = spawn_app(Backend::Sqlite).await;
    let url = app.graphql_url().replace("http://", "ws://");
    let mut ws = Ws::init(&url, TRANSPORT, None).await;
    ws.subscribe(TRANSPORT, "1", "{ __typename }", json!({}))
        .await;
    assert_eq!(
        ws.payload("1").await,
        json!({ "data": { "__typename": "Query" } })
    );
    // And still at /graphql/ws.
    let mut old = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    old.settle().await;
    // An upgrade with a bad key is refused as an upgrade, not answered with GraphiQL.
    let bad = app
        .client
        .get(app.graphql_url())
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
        .send()
        .await
        .unwrap();
    assert!(bad.status().is_client_error(), "{}", bad.status());
}

/// graphql-sse's reference client (npm `graphql-sse`) subscribes, hears an organizer's
/// cancellation, is cut, and comes back with `Last-Event-ID`: it hears the cancellation
/// made while it was away, then a live one, each once, each `id:` its notification's id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_sses_own_client_resumes_after_a_cut_with_last_event_id() {
    let dir = crate::browser::node_packages();
    let app = spawn_app(Backend::Postgres).await;
    let (organizer, _) = app.demo_organizer_and_marathon().await;
    let runner = app.sign_up_runner("runner@example.kz").await;
    let mut events = Vec::new();
    for slug in ["first-race", "second-race", "third-race"] {
        let (event, distance) = app.small_race(&organizer, slug, 10).await;
        let body = register(&app, &runner, &distance).await;
        assert!(body.get("errors").is_none(), "{body}");
        events.push(event);
    }
    let output = tokio::process::Command::new("node")
        .arg("sse.mjs")
        .current_dir(dir)
        .env("GATEWAY_URL", &app.address)
        .env("RUNNER_TOKEN", &runner)
        .env("ORGANIZER_TOKEN", &organizer)
        .env("EVENTS", events.join(","))
        .output()
        .await
        .expect("node runs the script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| {
            panic!(
                "the script's report ({e}): {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    assert!(output.status.success(), "{report}");
    assert_eq!(report["errors"], json!([]), "{report}");
    let heard: Vec<&Value> = report["heard"].as_array().unwrap().iter().collect();
    let heard_events: Vec<&str> = heard.iter().map(|n| n["event"].as_str().unwrap()).collect();
    assert_eq!(
        heard_events, events,
        "each cancellation once, in order: {report}"
    );
    let wire = report["wire"].as_array().unwrap();
    assert_eq!(wire.len(), 3, "nothing twice on the wire: {report}");
    for (sent, notification) in wire.iter().zip(&heard) {
        assert_eq!(sent["id"], notification["id"], "{report}");
        assert_eq!(sent["notification"], notification["id"], "{report}");
    }
    assert_eq!(report["connections"], 2, "{report}");
    assert_eq!(
        report["lastEventIdsSent"],
        json!([null, heard[0]["id"]]),
        "the reconnect resumed after the first: {report}"
    );
    assert_eq!(
        wire[1]["connection"], 2,
        "the missed one came on the second: {report}"
    );
}
