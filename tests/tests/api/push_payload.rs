//! A status change whose reason is far longer than one push can carry (1,000 Chinese
//! characters, 3,000 bytes; 1,000 emoji, 4,000 bytes) still reaches the runner's browser:
//! the push service verifies and decrypts a payload cut to the budget with an ellipsis,
//! with its ids and status whole, and the organizer's report counts it delivered.

use std::time::Duration;

use gateway_tests::push_service::MockPushService;
use serde_json::json;
use server::push::alert::PAYLOAD_BUDGET;

use crate::alerts::change;
use crate::helpers::{Backend, marathon, spawn_app_with};
use crate::on_both_databases;
use crate::push::subscribe;
use crate::registrations::register;

const REPORTS: &str = "query($e: ID!) { pushReports(eventId: $e) {
    status queued delivered failed pending } }";

async fn a_reason_too_long_for_one_push_is_delivered_shortened_and_decrypted(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.push.trusted_origins = vec![gateway_tests::push_service::TRUSTED_ORIGIN.into()];
        s.push.poll = std::time::Duration::from_millis(100);
    })
    .await;
    app.seed_demo().await;
    let mock = MockPushService::start(1).await.unwrap();
    let key = app.ok(None, "{ webPushPublicKey }", json!({})).await;
    mock.expect_vapid_key(key["webPushPublicKey"].as_str().unwrap())
        .unwrap();
    let runner = app.sign_up_runner("aigerim@example.kz").await;
    let distance = &app.distance_ids(&marathon()).await[1];
    register(&app, &runner, distance).await;
    let browser = mock.subscribe().unwrap();
    subscribe(&app, &runner, &browser, None).await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let event = app.event_id(&marathon()).await;

    let chinese: String = "因公共活动禁令取消比赛"
        .chars()
        .cycle()
        .take(1000)
        .collect();
    let emoji: String = "🏃🚫⛔".chars().cycle().take(1000).collect();
    change((&app, &organizer), &event, "SUSPENDED", &chinese, None).await;
    change((&app, &organizer), &event, "CANCELLED", &emoji, None).await;

    assert!(
        mock.wait_until(Duration::from_secs(10), |r| r.len() >= 2)
            .await,
        "both pushes arrive: rejections {:?}",
        mock.rejections()
    );
    assert_eq!(mock.rejections(), Vec::<String>::new());
    let mut received = mock.received();
    received.sort_by_key(|r| {
        r.payload.as_ref().unwrap()["notificationId"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
    });
    for (push, (status, reason)) in received
        .iter()
        .zip([("SUSPENDED", &chinese), ("CANCELLED", &emoji)])
    {
        let payload = push.payload.as_ref().unwrap();
        assert!(serde_json::to_vec(payload).unwrap().len() <= PAYLOAD_BUDGET);
        assert_eq!(payload["status"], status);
        assert_eq!(payload["eventId"], event.as_str());
        assert!(
            payload["notificationId"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .is_ok()
        );
        let body = payload["body"].as_str().unwrap();
        let kept = body
            .strip_suffix('…')
            .expect("the shortened body ends with an ellipsis");
        assert!(reason.starts_with(kept), "{body}");
        assert!(
            kept.chars().count() > 500,
            "most of the reason is kept: {body}"
        );
    }

    // The organizer's report: delivered, nothing failed (outcomes are recorded in batches
    // just after the push service answers).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let reports = loop {
        let reports = app
            .ok(Some(&organizer), REPORTS, json!({ "e": event }))
            .await;
        let settled = reports["pushReports"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["pending"] == 0);
        if settled || std::time::Instant::now() > deadline {
            break reports;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for report in reports["pushReports"].as_array().unwrap() {
        assert_eq!(
            (&report["queued"], &report["delivered"], &report["failed"]),
            (&json!(1), &json!(1), &json!(0)),
            "{report}"
        );
    }
    // The page reads the whole reason from the history.
    let history = app
        .ok(
            None,
            "query($id: ID!) { event(id: $id) { statusHistory { reason } } }",
            json!({ "id": event }),
        )
        .await;
    let reasons: Vec<&str> = history["event"]["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&chinese.as_str()) && reasons.contains(&emoji.as_str()));
}
on_both_databases!(a_reason_too_long_for_one_push_is_delivered_shortened_and_decrypted);
