//! The WebSocket edges: a withdrawn credential closes the sockets that hold it (on this
//! instance and on another), a credential is re-checked before new operations, every
//! socket is bounded (subscriptions, operations, message size, upgrades per address), the
//! protocol is negotiated or refused, a normal close is answered, and a cursor too old is
//! refused rather than replayed.

use std::time::Duration;

use gateway_tests::{Backend, Gateway, TestDatabase};
use serde_json::json;

use crate::alerts::{STATUS_CHANGED, change};
use crate::helpers::{TestApp, error_code, mails, spawn_app, spawn_app_with, token_in};
use crate::on_both_databases;
use crate::partner_keys::demo_with_key;
use crate::ws_client::{LEGACY, Received, TRANSPORT, Ws};

const MINE: &str = "subscription { myNotifications { id } }";

/// A runner's session token.
async fn runner(app: &TestApp, email: &str) -> String {
    app.sign_up_runner(email).await
}

async fn signing_out_closes_the_sockets_of_that_session_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = runner(&app, "aigerim@example.kz").await;
    let second = app
        .sign_in("aigerim@example.kz", "a long runner password")
        .await;
    let mut signed_out = Ws::init(&app.ws_url(), TRANSPORT, Some(&first)).await;
    signed_out
        .subscribe(TRANSPORT, "mine", MINE, json!({}))
        .await;
    let mut other_session = Ws::init(&app.ws_url(), TRANSPORT, Some(&second)).await;
    other_session
        .subscribe(TRANSPORT, "mine", MINE, json!({}))
        .await;
    app.ok(Some(&first), "mutation { signOut }", json!({}))
        .await;
    assert_eq!(
        signed_out.expect_close(Duration::from_secs(2)).await,
        4403,
        "the signed-out session's socket closes at once"
    );
    // The other session's socket still answers. The withdrawal reaches every socket of
    // the session before `signOut` answers, and a socket takes it up as soon as it is
    // told, so a socket wrongly told would have closed long before this ping arrives.
    other_session.settle().await;
}
on_both_databases!(signing_out_closes_the_sockets_of_that_session_at_once);

async fn a_password_reset_closes_every_socket_of_the_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = runner(&app, "reset@example.kz").await;
    let mut phone = Ws::init(&app.ws_url(), TRANSPORT, Some(&token)).await;
    phone.subscribe(TRANSPORT, "mine", MINE, json!({})).await;
    let laptop_token = app
        .sign_in("reset@example.kz", "a long runner password")
        .await;
    let mut laptop = Ws::init(&app.ws_url(), LEGACY, Some(&laptop_token)).await;
    app.ok(
        None,
        "mutation($e: String!) { requestPasswordReset(email: $e) }",
        json!({ "e": "reset@example.kz" }),
    )
    .await;
    let mail = mails(&app, "reset@example.kz", "Reset", 1).await;
    app.ok(
        None,
        "mutation($input: ResetPasswordInput!) { resetPassword(input: $input) }",
        json!({ "input": { "token": token_in(&mail[0]), "newPassword": "a brand new long password" } }),
    )
    .await;
    assert_eq!(phone.expect_close(Duration::from_secs(2)).await, 4403);
    assert_eq!(laptop.expect_close(Duration::from_secs(2)).await, 4403);
}
on_both_databases!(a_password_reset_closes_every_socket_of_the_account);

async fn a_revoked_partner_key_closes_its_sockets(backend: Backend) {
    let app = spawn_app(backend).await;
    let (organizer, key) = demo_with_key(&app).await;
    let mut socket = Ws::init(&app.ws_url(), TRANSPORT, Some(&key)).await;
    socket
        .subscribe(TRANSPORT, "alerts", STATUS_CHANGED, json!({}))
        .await;
    let keys = app
        .ok(Some(&organizer), "{ partnerKeys { id } }", json!({}))
        .await;
    let id = keys["partnerKeys"][0]["id"].as_str().unwrap().to_owned();
    app.ok(
        Some(&organizer),
        "mutation($id: ID!) { revokePartnerKey(id: $id) { revokedAt } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(socket.expect_close(Duration::from_secs(2)).await, 4403);
}
on_both_databases!(a_revoked_partner_key_closes_its_sockets);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_out_on_one_instance_closes_the_socket_on_another() {
    let database = TestDatabase::create(Backend::Postgres).await.unwrap();
    let prefix = crate::helpers::unique_name("gwrevoke");
    let env = |extra: &[(&'static str, String)]| {
        let mut env = vec![
            ("DATABASE_URL", database.url.clone()),
            ("REDIS_URL", "redis://127.0.0.1:6379".to_owned()),
            ("REDIS_CHANNEL_PREFIX", prefix.clone()),
            // Far longer than the test: only the revocation message can close the socket.
            ("WS_AUTH_RECHECK_MS", "600000".to_owned()),
            ("WS_AUTH_SWEEP_MS", "600000".to_owned()),
        ];
        env.extend(extra.iter().cloned());
        env
    };
    let a = Gateway::start(&env(&[])).await.unwrap();
    let b = Gateway::start(&env(&[])).await.unwrap();
    let db = sea_orm::Database::connect(&database.url).await.unwrap();
    let token = gateway_tests::runner_tokens(&db, "revoked", 1)
        .await
        .unwrap()
        .remove(0);
    let ws_b = format!("{}/graphql/ws", b.address.replace("http://", "ws://"));
    let mut socket = Ws::init(&ws_b, TRANSPORT, Some(&token)).await;
    socket.subscribe(TRANSPORT, "mine", MINE, json!({})).await;
    let signed_out = gateway_tests::post_graphql(
        &reqwest::Client::new(),
        &a.address,
        Some(&token),
        &json!({ "query": "mutation { signOut }" }),
    )
    .await
    .unwrap();
    assert_eq!(signed_out["data"]["signOut"], true, "{signed_out}");
    assert_eq!(socket.expect_close(Duration::from_secs(3)).await, 4403);
}

/// A runner's session, once read, is not read again for SESSION_CACHE_MS (here a minute):
/// yet a change of the account, and a sign-out, on one instance reach the session another
/// instance keeps at once, through Redis; and the socket's periodic re-check still reads
/// the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_kept_by_one_instance_follows_a_change_or_a_sign_out_on_another() {
    let database = TestDatabase::create(Backend::Postgres).await.unwrap();
    let prefix = crate::helpers::unique_name("gwsessions");
    let env = vec![
        ("DATABASE_URL", database.url.clone()),
        ("REDIS_URL", "redis://127.0.0.1:6379".to_owned()),
        ("REDIS_CHANNEL_PREFIX", prefix.clone()),
        ("SESSION_CACHE_MS", "60000".to_owned()),
    ];
    let a = Gateway::start(&env).await.unwrap();
    let b = Gateway::start(&env).await.unwrap();
    let db = sea_orm::Database::connect(&database.url).await.unwrap();
    let mut tokens = gateway_tests::runner_tokens(&db, "kept", 2).await.unwrap();
    let (token, other) = (tokens.remove(0), tokens.remove(0));
    let client = reqwest::Client::new();
    let me = |at: &str, token: &str| {
        let (client, at, token) = (client.clone(), at.to_owned(), token.to_owned());
        async move {
            let body = gateway_tests::post_graphql(
                &client,
                &at,
                Some(&token),
                &json!({ "query": "{ me { language } }" }),
            )
            .await
            .unwrap();
            body["data"]["me"]["language"].as_str().map(str::to_owned)
        }
    };
    /// Asks until `wanted`, for at most 3 s (a message on its way through Redis).
    async fn until<F: std::future::Future<Output = Option<String>>>(
        mut ask: impl FnMut() -> F,
        wanted: Option<&str>,
    ) {
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        loop {
            let got = ask().await;
            if got.as_deref() == wanted {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still {got:?}, not {wanted:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Read once on a, then the session is gone behind its back: a keeps it.
    assert_eq!(me(&a.address, &other).await.as_deref(), Some("EN"));
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    entities::session::Entity::delete_many()
        .filter(entities::session::Column::TokenHash.eq(race_office::services::hash_token(&other)))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(
        me(&a.address, &other).await.as_deref(),
        Some("EN"),
        "kept, not read again"
    );
    assert_eq!(me(&b.address, &other).await, None, "b reads the database");

    // A change made on b reaches the copy a keeps.
    assert_eq!(me(&a.address, &token).await.as_deref(), Some("EN"));
    let changed = gateway_tests::post_graphql(
        &client,
        &b.address,
        Some(&token),
        &json!({ "query": "mutation { updateAccount(input: { language: RU }) { language } }" }),
    )
    .await
    .unwrap();
    assert_eq!(
        changed["data"]["updateAccount"]["language"], "RU",
        "{changed}"
    );
    until(|| me(&a.address, &token), Some("RU")).await;

    // So does a sign-out.
    let signed_out = gateway_tests::post_graphql(
        &client,
        &b.address,
        Some(&token),
        &json!({ "query": "mutation { signOut }" }),
    )
    .await
    .unwrap();
    assert_eq!(signed_out["data"]["signOut"], true, "{signed_out}");
    until(|| me(&a.address, &token), None).await;
}

async fn a_socket_checks_its_credential_again_before_a_new_operation(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.websocket.auth_recheck = Duration::from_millis(200);
        // No sweep within the test: only the socket's own re-check can find the session gone.
        s.websocket.auth_sweep = Duration::from_secs(3600);
    })
    .await;
    let token = runner(&app, "stale@example.kz").await;
    let mut socket = Ws::init(&app.ws_url(), TRANSPORT, Some(&token)).await;
    // The session ends behind the socket's back (no revocation message).
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    entities::session::Entity::delete_many()
        .filter(entities::session::Column::TokenHash.eq(race_office::services::hash_token(&token)))
        .exec(&app.db)
        .await
        .unwrap();
    // The clock is the point here, not an event: the credential must be older than the
    // re-check interval (200 ms) when the next operation comes.
    tokio::time::sleep(Duration::from_millis(250)).await;
    socket.subscribe(TRANSPORT, "mine", MINE, json!({})).await;
    assert_eq!(socket.expect_close(Duration::from_secs(2)).await, 4403);
}
on_both_databases!(a_socket_checks_its_credential_again_before_a_new_operation);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_socket_whose_session_ended_is_closed_by_the_sweep() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.websocket.auth_sweep = Duration::from_millis(300);
    })
    .await;
    let token = runner(&app, "quiet@example.kz").await;
    let mut socket = Ws::init(&app.ws_url(), TRANSPORT, Some(&token)).await;
    socket.subscribe(TRANSPORT, "mine", MINE, json!({})).await;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    entities::session::Entity::delete_many()
        .filter(entities::session::Column::TokenHash.eq(race_office::services::hash_token(&token)))
        .exec(&app.db)
        .await
        .unwrap();
    assert_eq!(socket.expect_close(Duration::from_secs(3)).await, 4403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_holds_only_so_many_subscriptions() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.websocket.max_subscriptions = 3).await;
    let (organizer, event) = app.demo_organizer_and_marathon().await;
    let mut socket = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    for id in ["1", "2", "3", "4"] {
        socket
            .subscribe(TRANSPORT, id, STATUS_CHANGED, json!({ "e": event }))
            .await;
    }
    match socket.next(Duration::from_secs(5)).await {
        Received::Json(message) => {
            assert_eq!(
                (&message["id"], &message["type"]),
                (&json!("4"), &json!("error"))
            );
            assert_eq!(
                message["payload"][0]["extensions"]["code"],
                "TOO_MANY_SUBSCRIPTIONS"
            );
        }
        other => panic!("expected an error for the fourth, got {other:?}"),
    }
    change(
        (&app, &organizer),
        &event,
        "SUSPENDED",
        "Permit pending",
        None,
    )
    .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        match socket.next(Duration::from_secs(5)).await {
            Received::Json(message) => ids.push(message["id"].as_str().unwrap().to_owned()),
            other => panic!("expected a payload, got {other:?}"),
        }
    }
    ids.sort();
    assert_eq!(ids, ["1", "2", "3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_starts_only_so_many_operations_a_minute() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.websocket.max_operations_per_minute = 5
    })
    .await;
    let mut socket = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    for n in 0..5 {
        let id = n.to_string();
        socket
            .subscribe(TRANSPORT, &id, "{ __typename }", json!({}))
            .await;
        assert_eq!(socket.payload(&id).await["data"]["__typename"], "Query");
        match socket.next(Duration::from_secs(5)).await {
            Received::Json(done) => assert_eq!(done["type"], "complete"),
            other => panic!("expected complete, got {other:?}"),
        }
    }
    socket
        .subscribe(TRANSPORT, "6", "{ __typename }", json!({}))
        .await;
    match socket.next(Duration::from_secs(5)).await {
        Received::Json(message) => {
            assert_eq!(message["type"], "error");
            assert_eq!(message["payload"][0]["extensions"]["code"], "RATE_LIMITED");
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_from_one_address_are_limited() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.rates.ws_upgrades_per_address = 3).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(Ws::try_connect(&app.ws_url(), &[TRANSPORT]).await.is_ok());
    }
    assert_eq!(open, [true, true, true]);
    match Ws::try_connect(&app.ws_url(), &[TRANSPORT]).await {
        Err((status, retry_after, body)) => {
            assert_eq!(status, 429);
            assert!(retry_after.unwrap().parse::<u64>().unwrap() >= 1);
            assert_eq!(error_code(&body), "RATE_LIMITED");
        }
        Ok(_) => panic!("a fourth connection within the minute was accepted"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_offering_no_protocol_we_speak_is_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    match Ws::try_connect(&app.ws_url(), &["evil-proto"]).await {
        Err((status, _, body)) => {
            assert_eq!(status, 400);
            assert_eq!(error_code(&body), "UNSUPPORTED_PROTOCOL");
        }
        Ok(_) => panic!("the server answered in a protocol the client did not offer"),
    }
    // Naming ours among others still works.
    assert!(
        Ws::try_connect(&app.ws_url(), &["evil-proto", TRANSPORT])
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_limit_closes_the_socket_with_1009() {
    let app = spawn_app(Backend::Sqlite).await;
    let socket = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    // 10 MB: the server reads the frame header, refuses, and says why.
    assert_eq!(socket.send_oversized(10 * 1024 * 1024).await, Some(1009));
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert!(health.status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_closes_normally_gets_the_close_answered() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut socket = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    socket
        .subscribe(TRANSPORT, "1", STATUS_CHANGED, json!({}))
        .await;
    socket.send(json!({ "id": "1", "type": "complete" })).await;
    assert_eq!(
        socket.close_normally().await,
        Some(1000),
        "the server answers a close with a close frame (RFC 6455 5.5.1), not by dropping"
    );
}

async fn a_cursor_older_than_the_horizon_is_refused(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.limits.replay_max_notifications = 2).await;
    let (organizer, event) = app.demo_organizer_and_marathon().await;
    for (status, reason) in [
        ("SUSPENDED", "one"),
        ("SCHEDULED", "two"),
        ("SUSPENDED", "three"),
        ("SCHEDULED", "four"),
    ] {
        change((&app, &organizer), &event, status, reason, None).await;
    }
    let history = app
        .ok(
            None,
            "query($id: ID!) { event(id: $id) { statusHistory { id reason } } }",
            json!({ "id": event }),
        )
        .await;
    let id_of = |reason: &str| {
        history["event"]["statusHistory"]
            .as_array()
            .unwrap()
            .iter()
            .find(|line| line["reason"] == reason)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let mut socket = Ws::init(&app.ws_url(), TRANSPORT, None).await;
    socket
        .subscribe(
            TRANSPORT,
            "old",
            STATUS_CHANGED,
            json!({ "e": event, "after": id_of("one") }),
        )
        .await;
    match socket.next(Duration::from_secs(5)).await {
        Received::Json(message) => {
            assert_eq!(message["type"], "error", "{message}");
            assert_eq!(
                message["payload"][0]["extensions"]["code"],
                "CURSOR_TOO_OLD"
            );
        }
        other => panic!("expected an error, got {other:?}"),
    }
    socket
        .subscribe(
            TRANSPORT,
            "recent",
            STATUS_CHANGED,
            json!({ "e": event, "after": id_of("three") }),
        )
        .await;
    assert_eq!(
        socket.payload("recent").await["data"]["eventStatusChanged"]["reason"],
        "four"
    );
}
on_both_databases!(a_cursor_older_than_the_horizon_is_refused);
