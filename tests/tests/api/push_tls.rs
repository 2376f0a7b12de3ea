//! Web Push over TLS and HTTP/2, as every real push service speaks it: the gateway's pushes
//! reach the mock over h2 (ALPN), decrypted and VAPID-verified, multiplexed on pooled
//! connections; a gateway that does not trust the push service's CA delivers nothing and
//! says why (a network failure, the certificate named); an unusable
//! `PUSH_EXTRA_ROOTS_PEM` keeps the gateway from starting, with the file and the cause.

use std::collections::HashSet;

use gateway_tests::push_service::Version;
use serde_json::json;
use server::Application;

use crate::alerts::change;
use crate::helpers::{Backend, TestDatabase, marathon, spawn_app_with, test_settings, unique_name};
use crate::push::{drain, mock_for, push_app, registered_subscriber};

const REPORTS: &str = "query($e: ID!) { pushReports(eventId: $e) {
    status delivered failed attempts lastError failuresByClass { class count } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_reach_the_push_service_over_tls_and_http2_decrypted_verified_and_multiplexed() {
    let app = push_app(Backend::Sqlite).await;
    let mock = mock_for(&app).await;
    assert!(
        mock.origin().starts_with("https://127.0.0.1:"),
        "{}",
        mock.origin()
    );
    let mut browsers = Vec::new();
    for n in 0..6 {
        browsers.push(registered_subscriber(&app, &mock, &format!("tls{n}@example.kz")).await);
    }
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let event = app.event_id(&marathon()).await;

    change(
        (&app, &organizer),
        &event,
        "SUSPENDED",
        "Public events are paused",
        None,
    )
    .await;
    assert_eq!(drain(&app).await.attempted, 6);
    let connections_after_first = mock.connections();
    change(
        (&app, &organizer),
        &event,
        "CANCELLED",
        "Public events are banned",
        None,
    )
    .await;
    assert_eq!(drain(&app).await.attempted, 6);

    assert_eq!(mock.rejections(), Vec::<String>::new());
    let received = mock.received();
    assert_eq!(received.len(), 12, "{received:?}");
    for request in &received {
        assert_eq!(request.version, Version::HTTP_2, "{request:?}");
        assert_eq!(request.status, 201, "{request:?}");
        // Decrypted with the browser's key (RFC 8291) after its VAPID token verified.
        let payload = request.payload.as_ref().expect("every body decrypted");
        assert!(payload["notificationId"].is_string(), "{payload}");
    }
    let reached: HashSet<u64> = received.iter().map(|r| r.subscription).collect();
    assert_eq!(reached, browsers.iter().copied().collect());
    // The second alert's pushes rode the pooled connection: no new handshake.
    assert_eq!(mock.connections(), connections_after_first);
    let carrying: HashSet<u64> = received.iter().filter_map(|r| r.connection).collect();
    assert!(
        !carrying.is_empty() && carrying.len() < received.len(),
        "12 pushes multiplexed over fewer connections: {carrying:?}"
    );
    assert_eq!(mock.handshake_failures(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_without_the_push_services_ca_delivers_nothing_and_reports_a_network_failure() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.push.enabled = false;
        s.push.trusted_origins = vec![gateway_tests::push_service::TRUSTED_ORIGIN.into()];
        // The built-in roots only, as a production gateway has.
        s.push.extra_roots_pem = None;
        s.push.max_attempts = 1;
    })
    .await;
    app.seed_demo().await;
    let mock = mock_for(&app).await;
    registered_subscriber(&app, &mock, "untrusting@example.kz").await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let event = app.event_id(&marathon()).await;
    change(
        (&app, &organizer),
        &event,
        "CANCELLED",
        "Public events are banned",
        None,
    )
    .await;
    assert_eq!(drain(&app).await.attempted, 1);

    assert_eq!(mock.requests(), 0, "no request got through");
    assert!(
        mock.handshake_failures() >= 1,
        "the gateway connected and refused the certificate"
    );
    let reports = app
        .ok(Some(&organizer), REPORTS, json!({ "e": event }))
        .await;
    let report = &reports["pushReports"][0];
    assert_eq!(report["delivered"], 0, "{reports}");
    assert_eq!(report["failed"], 1, "{reports}");
    assert_eq!(
        report["failuresByClass"],
        json!([{ "class": "NETWORK", "count": 1 }]),
        "{reports}"
    );
    let last = report["lastError"].as_str().unwrap();
    assert!(
        last.starts_with("gave up after 1 attempts: ") && last.contains("certificate"),
        "the TLS failure with its cause: {last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_extra_roots_file_keeps_the_gateway_from_starting_and_says_why() {
    let database = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let mail_dir = std::env::temp_dir().join(unique_name("gw_mail"));
    let missing = std::env::temp_dir().join(unique_name("no-such-roots"));
    let not_pem = std::env::temp_dir().join(unique_name("not-roots"));
    std::fs::write(&not_pem, "a CA, they said\n").unwrap();
    for (path, cause) in [
        (&missing, "No such file or directory"),
        (&not_pem, "holds no PEM certificate"),
    ] {
        let mut settings = test_settings(&database.url, &mail_dir);
        settings.push.extra_roots_pem = Some(path.clone());
        let error = match Application::build(settings).await {
            Ok(_) => panic!("started with PUSH_EXTRA_ROOTS_PEM={}", path.display()),
            Err(error) => format!("{error:#}"),
        };
        assert!(error.contains("PUSH_EXTRA_ROOTS_PEM"), "{error}");
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(error.contains(cause), "{error}");
    }
    std::fs::remove_file(&not_pem).unwrap();
}
