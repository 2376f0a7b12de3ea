//! A push given up explains itself: one WARN line per delivery (endpoint origin only,
//! status or network error, attempts), `lastError` and counts by class on the organizer's
//! `pushReports`, and a metric by class.

use std::time::Duration;

use gateway_tests::Gateway;
use gateway_tests::push_service::{self, MockPushService, Scripted};
use serde_json::json;

use crate::deployment::{ok, sign_in};
use crate::events::gateway;
use crate::helpers::{Backend, TestDatabase, marathon};

const REPORTS: &str = "query($e: ID!) { pushReports(eventId: $e) {
    failed attempts lastError failuresByClass { class count } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_given_up_is_logged_by_origin_reported_with_its_reason_and_counted_by_class() {
    let database = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let url = database.url.as_str();
    gateway(url, &["seed", "--demo"], None);
    for (role, email) in [
        ("organizer", "director@almaty-marathon.kz"),
        ("runner", "rejected@example.kz"),
        ("runner", "unavailable@example.kz"),
    ] {
        let mut args = vec!["accounts", "create", "--role", role, "--email", email];
        if role == "organizer" {
            args.extend(["--organization", "courage-to-be-the-first"]);
        }
        gateway(url, &args, Some("a long enough password\n"));
    }
    let mut env = push_service::gateway_env().unwrap();
    env.extend([
        ("DATABASE_URL", database.url.clone()),
        ("PUSH_MAX_ATTEMPTS", "2".into()),
        ("PUSH_RETRY_BASE_MS", "100".into()),
        ("PUSH_POLL_MS", "100".into()),
    ]);
    let server = Gateway::start_logged(&env, "warn").await.unwrap();
    let mock = MockPushService::start(1).await.unwrap();
    let key = ok(&server, None, "{ webPushPublicKey }", json!({})).await;
    mock.expect_vapid_key(key["webPushPublicKey"].as_str().unwrap())
        .unwrap();

    let event = ok(
        &server,
        None,
        "query($s: String!) { eventBySlug(slug: $s) { id distances { id } } }",
        json!({ "s": marathon() }),
    )
    .await["eventBySlug"]
        .clone();
    let mut endpoints = Vec::new();
    for (email, answers) in [
        // A final 400: given up at once.
        ("rejected@example.kz", vec![(400, None)]),
        // 503 until the two attempts run out.
        ("unavailable@example.kz", vec![(503, None), (503, None)]),
    ] {
        let runner = sign_in(&server, email, "a long enough password").await;
        ok(
            &server,
            Some(&runner),
            "mutation($input: RegisterInput!) { register(input: $input) { bib } }",
            json!({ "input": { "distanceId": event["distances"][0]["id"], "tshirtSize": "M", "gender": "FEMALE", "birthDate": "1990-05-01", "country": "kz", "city": "Almaty" } }),
        )
        .await;
        let browser = mock.subscribe().unwrap();
        let answers: Vec<Scripted> = answers
            .into_iter()
            .map(|(status, retry_after_secs)| Scripted {
                status,
                retry_after_secs,
            })
            .collect();
        mock.script(browser.id, &answers);
        ok(
            &server,
            Some(&runner),
            "mutation($input: SubscribePushInput!) { subscribePush(input: $input) { id } }",
            json!({ "input": { "endpoint": browser.endpoint, "keys": { "p256dh": browser.p256dh, "auth": browser.auth } } }),
        )
        .await;
        endpoints.push(browser.endpoint);
    }

    let director = sign_in(
        &server,
        "director@almaty-marathon.kz",
        "a long enough password",
    )
    .await;
    ok(
        &server,
        Some(&director),
        "mutation($input: ChangeEventStatusInput!) { changeEventStatus(input: $input) { status } }",
        json!({ "input": { "eventId": event["id"], "status": "CANCELLED", "reason": "Public events are banned" } }),
    )
    .await;

    let rejected = server
        .wait_for_log(
            &["WARN", "push delivery given up", "REJECTED"],
            Duration::from_secs(15),
        )
        .await
        .unwrap_or_else(|| panic!("no WARN line: {:?}", server.logs()));
    let unavailable = server
        .wait_for_log(
            &["WARN", "push delivery given up", "UNAVAILABLE"],
            Duration::from_secs(15),
        )
        .await
        .unwrap_or_else(|| panic!("no WARN line: {:?}", server.logs()));
    for (line, status, attempts) in [(&rejected, 400, 1), (&unavailable, 503, 2)] {
        assert!(line.contains(mock.origin()), "the origin: {line}");
        assert!(line.contains(&format!("status={status}")), "{line}");
        assert!(line.contains(&format!("attempts={attempts}")), "{line}");
        for endpoint in &endpoints {
            assert!(
                !line.contains(endpoint.as_str()),
                "never the endpoint: {line}"
            );
        }
        assert!(
            !line.contains("/push/"),
            "never the endpoint's path: {line}"
        );
    }

    let reports = ok(
        &server,
        Some(&director),
        REPORTS,
        json!({ "e": event["id"] }),
    )
    .await;
    let report = &reports["pushReports"][0];
    assert_eq!(report["failed"], 2, "{reports}");
    assert_eq!(report["attempts"], 3, "{reports}");
    assert_eq!(
        report["failuresByClass"],
        json!([{ "class": "REJECTED", "count": 1 }, { "class": "UNAVAILABLE", "count": 1 }])
    );
    let last = report["lastError"].as_str().unwrap();
    assert!(
        last == "HTTP 400" || last == "gave up after 2 attempts: HTTP 503",
        "{last}"
    );

    let metrics = reqwest::get(format!("{}/metrics", server.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for class in ["REJECTED", "UNAVAILABLE"] {
        let line = format!("gateway_push_failures_total{{class=\"{class}\"}} 1");
        assert!(metrics.contains(&line), "{line} in:\n{metrics}");
    }
}
