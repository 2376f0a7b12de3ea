//! Web Push end to end: a cancellation reaches a mock push service that verifies the VAPID
//! token and decrypts the body as a browser's push service would; 410 prunes, 429 waits
//! for Retry-After, 500 is retried; bad subscriptions are refused and nothing is written.
//!
//! The push worker's loop is off here: each test runs `drain_once` (what is due now) and
//! asserts exactly what it did, instead of sleeping to see whether more arrives.

use std::time::Duration;

use gateway_tests::push_service::{BrowserSubscription, MockPushService, Scripted};
use serde_json::{Value, json};

use crate::alerts::change;
use server::push::Drained;

use crate::helpers::{Backend, TestApp, error_code, marathon, marathon_name, spawn_app_with};
use crate::on_both_databases;
use crate::registrations::register;

pub const SUBSCRIBE: &str = "mutation($input: SubscribePushInput!) {
    subscribePush(input: $input) { id endpoint allRegisteredEvents events { id } } }";
const REPORTS: &str = "query($e: ID!) { pushReports(eventId: $e) {
    notificationId status reason queued sent delivered failed pruned dropped pending attempts } }";

/// A gateway that may push to the local mock, retrying quickly, its push worker driven
/// by the test.
pub async fn push_app(backend: Backend) -> TestApp {
    let app = spawn_app_with(backend, |s| {
        s.push.enabled = false;
        s.push.trusted_origins = vec![gateway_tests::push_service::TRUSTED_ORIGIN.into()];
        s.push.retry_base = Duration::from_millis(300);
    })
    .await;
    app.seed_demo().await;
    app
}

/// Runs the push worker once: queues and sends whatever is due now.
pub(crate) async fn drain(app: &TestApp) -> Drained {
    app.pipeline
        .push
        .drain_once()
        .await
        .expect("the push worker drains")
}

/// Drains until `done` says so (a retry waits for its time), at most `within`.
async fn drain_until(app: &TestApp, within: Duration, done: impl Fn(&Drained) -> bool) {
    let deadline = std::time::Instant::now() + within;
    loop {
        let drained = drain(app).await;
        if done(&drained) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the push worker did not finish within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn mock_for(app: &TestApp) -> MockPushService {
    let mock = MockPushService::start(1).await.unwrap();
    let key = app.ok(None, "{ webPushPublicKey }", json!({})).await;
    mock.expect_vapid_key(key["webPushPublicKey"].as_str().unwrap())
        .unwrap();
    mock
}

pub async fn subscribe(
    app: &TestApp,
    token: &str,
    browser: &BrowserSubscription,
    events: Option<Vec<&str>>,
) -> Value {
    let mut input = json!({ "endpoint": browser.endpoint,
        "keys": { "p256dh": browser.p256dh, "auth": browser.auth } });
    if let Some(events) = events {
        input["eventIds"] = json!(events);
    }
    app.graphql(Some(token), SUBSCRIBE, json!({ "input": input }))
        .await
}

/// A runner registered for the upcoming marathon whose browser follows all their events.
pub(crate) async fn registered_subscriber(
    app: &TestApp,
    mock: &MockPushService,
    email: &str,
) -> u64 {
    let token = app.sign_up_runner(email).await;
    let distance = &app.distance_ids(&marathon()).await[1];
    let registered = register(app, &token, distance).await;
    assert!(registered.get("errors").is_none(), "{registered}");
    let browser = mock.subscribe().unwrap();
    let body = subscribe(app, &token, &browser, None).await;
    assert_eq!(
        body["data"]["subscribePush"]["allRegisteredEvents"], true,
        "{body}"
    );
    browser.id
}

/// The organizer cancels the demo's upcoming marathon; returns (organizer token, event id).
async fn cancel_the_marathon(app: &TestApp) -> (String, String) {
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let event = app.event_id(&marathon()).await;
    change(
        (app, &organizer),
        &event,
        "CANCELLED",
        "Public events are banned",
        None,
    )
    .await;
    (organizer, event)
}

async fn a_cancellation_reaches_every_matching_browser_decrypted(backend: Backend) {
    let app = push_app(backend).await;
    let mock = mock_for(&app).await;
    let registered = registered_subscriber(&app, &mock, "aigerim@example.kz").await;
    // Not registered, but follows the event by name.
    let follower = app.sign_up_runner("follower@example.kz").await;
    let event = app.event_id(&marathon()).await;
    let named = mock.subscribe().unwrap();
    subscribe(&app, &follower, &named, Some(vec![&event])).await;
    // Follows another event only: hears nothing.
    let women = app.event_id("womens-and-childrens-race-2020").await;
    let elsewhere = mock.subscribe().unwrap();
    let other = app.sign_up_runner("other@example.kz").await;
    subscribe(&app, &other, &elsewhere, Some(vec![&women])).await;

    let (organizer, event) = cancel_the_marathon(&app).await;
    let drained = drain(&app).await;
    assert_eq!((drained.queued, drained.attempted), (2, 2), "{drained:?}");
    assert_eq!(drain(&app).await, Drained::default(), "nothing more is due");
    let received = mock.received();
    assert_eq!(mock.rejections(), Vec::<String>::new());
    let mut who: Vec<u64> = received.iter().map(|r| r.subscription).collect();
    who.sort_unstable();
    assert_eq!(who, [registered, named.id]);
    let push = &received[0];
    let payload = push.payload.as_ref().unwrap();
    assert_eq!(
        payload["title"],
        format!("{} is cancelled", marathon_name())
    );
    assert_eq!(payload["body"], "Public events are banned");
    assert_eq!(payload["status"], "CANCELLED");
    assert_eq!(payload["eventId"], event.as_str());
    assert_eq!(
        payload["url"],
        format!("http://spa.test/events/{}", marathon())
    );
    assert!(payload["notificationId"].as_str().is_some());
    assert_eq!(push.urgency.as_deref(), Some("high"));
    assert_eq!(
        push.topic.as_deref(),
        Some(format!("event-{event}").as_str())
    );
    assert!(push.ttl.unwrap() >= 3600);

    let reports = app
        .ok(Some(&organizer), REPORTS, json!({ "e": event }))
        .await;
    let report = &reports["pushReports"][0];
    assert_eq!(report["status"], "CANCELLED");
    assert_eq!(
        (
            &report["queued"],
            &report["delivered"],
            &report["sent"],
            &report["pending"]
        ),
        (&json!(2), &json!(2), &json!(2), &json!(0)),
        "{report}"
    );
}
on_both_databases!(a_cancellation_reaches_every_matching_browser_decrypted);

async fn a_subscription_answered_410_is_pruned(backend: Backend) {
    let app = push_app(backend).await;
    let mock = mock_for(&app).await;
    let token = app.sign_up_runner("gone@example.kz").await;
    let distance = &app.distance_ids(&marathon()).await[1];
    register(&app, &token, distance).await;
    let browser = mock.subscribe().unwrap();
    subscribe(&app, &token, &browser, None).await;
    mock.script(
        browser.id,
        &[Scripted {
            status: 410,
            retry_after_secs: None,
        }],
    );
    let (organizer, event) = cancel_the_marathon(&app).await;
    assert_eq!(drain(&app).await.attempted, 1);
    assert_eq!(mock.requests(), 1);
    let me = app
        .ok(
            Some(&token),
            "{ me { pushSubscriptions { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(me["me"]["pushSubscriptions"], json!([]), "deleted");
    assert_eq!(app.count("push_subscription").await, 0);
    let reports = app
        .ok(Some(&organizer), REPORTS, json!({ "e": event }))
        .await;
    assert_eq!(reports["pushReports"][0]["pruned"], 1);
    assert_eq!(reports["pushReports"][0]["delivered"], 0);
}
on_both_databases!(a_subscription_answered_410_is_pruned);

async fn a_429_is_retried_no_sooner_than_its_retry_after(backend: Backend) {
    let app = push_app(backend).await;
    let mock = mock_for(&app).await;
    let id = registered_subscriber(&app, &mock, "busy@example.kz").await;
    mock.script(
        id,
        &[Scripted {
            status: 429,
            retry_after_secs: Some(2),
        }],
    );
    let (organizer, event) = cancel_the_marathon(&app).await;
    assert_eq!(drain(&app).await.attempted, 1);
    assert_eq!(drain(&app).await.attempted, 0, "the retry is not due yet");
    drain_until(&app, Duration::from_secs(10), |d| d.attempted == 1).await;
    let received = mock.received();
    let waited = received[1].at - received[0].at;
    assert!(
        waited >= Duration::from_secs(2),
        "retried after {waited:?}, before Retry-After"
    );
    assert_eq!((received[0].status, received[1].status), (429, 201));
    let reports = app
        .ok(Some(&organizer), REPORTS, json!({ "e": event }))
        .await;
    assert_eq!(reports["pushReports"][0]["delivered"], 1);
    assert_eq!(reports["pushReports"][0]["attempts"], 2);
}
on_both_databases!(a_429_is_retried_no_sooner_than_its_retry_after);

async fn a_500_then_201_is_delivered_exactly_once(backend: Backend) {
    let app = push_app(backend).await;
    let mock = mock_for(&app).await;
    let id = registered_subscriber(&app, &mock, "flaky@example.kz").await;
    mock.script(
        id,
        &[Scripted {
            status: 500,
            retry_after_secs: None,
        }],
    );
    cancel_the_marathon(&app).await;
    assert_eq!(drain(&app).await.attempted, 1);
    drain_until(&app, Duration::from_secs(10), |d| d.attempted == 1).await;
    // Nothing more is sent once it was accepted.
    assert_eq!(drain(&app).await, Drained::default());
    let statuses: Vec<u16> = mock.received().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 201]);
    assert_eq!(mock.delivered(), 1);
}
on_both_databases!(a_500_then_201_is_delivered_exactly_once);

/// A push app whose worker may hold `total` requests in flight, `per_origin` to one origin.
async fn push_app_bounded(backend: Backend, total: u32, per_origin: u32) -> TestApp {
    let app = spawn_app_with(backend, |s| {
        s.push.enabled = false;
        s.push.trusted_origins = vec![gateway_tests::push_service::TRUSTED_ORIGIN.into()];
        s.push.retry_base = Duration::from_millis(300);
        s.push.concurrency = total;
        s.push.concurrency_per_origin = per_origin;
    })
    .await;
    app.seed_demo().await;
    app
}

async fn a_push_service_is_sent_at_most_its_share_at_once(backend: Backend) {
    let app = push_app_bounded(backend, 16, 3).await;
    let mock = mock_for(&app).await;
    for n in 0..6 {
        registered_subscriber(&app, &mock, &format!("share{n}@example.kz")).await;
    }
    // Slow answers, so that every send the worker may start is in flight at once.
    mock.set_delay(Duration::from_millis(200));
    cancel_the_marathon(&app).await;
    assert_eq!(drain(&app).await.attempted, 6);
    assert_eq!(mock.delivered(), 6);
    assert_eq!(mock.most_in_flight(), 3, "PUSH_CONCURRENCY_PER_ORIGIN is 3");
}
on_both_databases!(a_push_service_is_sent_at_most_its_share_at_once);

async fn a_retry_after_quiets_the_whole_push_service(backend: Backend) {
    // One request at a time to the origin, so each send after the first sees its answer.
    let app = push_app_bounded(backend, 16, 1).await;
    let mock = mock_for(&app).await;
    let mut browsers = Vec::new();
    for n in 0..3 {
        browsers.push(registered_subscriber(&app, &mock, &format!("quiet{n}@example.kz")).await);
    }
    for id in &browsers {
        mock.script(
            *id,
            &[Scripted {
                status: 429,
                retry_after_secs: Some(1),
            }],
        );
    }
    let (organizer, event) = cancel_the_marathon(&app).await;
    drain(&app).await;
    assert_eq!(
        mock.requests(),
        1,
        "after a 429 with Retry-After, the service's other deliveries wait unsent"
    );
    let reports = app
        .ok(Some(&organizer), REPORTS, json!({ "e": event }))
        .await;
    assert_eq!(reports["pushReports"][0]["attempts"], 1, "{reports}");
    assert_eq!(reports["pushReports"][0]["pending"], 3, "{reports}");
    drain_until(&app, Duration::from_secs(20), |_| mock.delivered() == 3).await;
    let received = mock.received();
    let quiet_from = received[0].at;
    for later in &received[1..] {
        assert!(
            later.at - quiet_from >= Duration::from_secs(1),
            "a request {:?} into the service's Retry-After",
            later.at - quiet_from
        );
    }
    let reports = app
        .ok(Some(&organizer), REPORTS, json!({ "e": event }))
        .await;
    assert_eq!(reports["pushReports"][0]["delivered"], 3, "{reports}");
    assert_eq!(
        reports["pushReports"][0]["attempts"],
        json!(mock.requests()),
        "an attempt is a request made: postponements are not counted"
    );
}
on_both_databases!(a_retry_after_quiets_the_whole_push_service);

async fn invalid_subscriptions_are_refused_and_nothing_is_written(backend: Backend) {
    // Production policy: no trusted origins.
    let app = spawn_app_with(backend, |_| {}).await;
    app.seed_demo().await;
    let mock = MockPushService::start(1).await.unwrap();
    let browser = mock.subscribe().unwrap();
    let token = app.sign_up_runner("careless@example.kz").await;
    let good_endpoint = "https://fcm.googleapis.com/fcm/send/abc:APA91b";
    let short_key = "BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let mut off_curve = vec![4u8];
    off_curve.extend([9u8; 64]);
    let off_curve = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(off_curve)
    };
    let cases = [
        (
            good_endpoint.to_owned(),
            short_key.to_owned(),
            browser.auth.clone(),
            "65-byte",
        ),
        (
            good_endpoint.to_owned(),
            off_curve,
            browser.auth.clone(),
            "not a point",
        ),
        (
            good_endpoint.to_owned(),
            browser.p256dh.clone(),
            "c2hvcnQ".to_owned(),
            "16 bytes",
        ),
        (
            "http://fcm.googleapis.com/fcm/send/x".to_owned(),
            browser.p256dh.clone(),
            browser.auth.clone(),
            "https",
        ),
        (
            "https://10.0.0.7/push/1".to_owned(),
            browser.p256dh.clone(),
            browser.auth.clone(),
            "private",
        ),
        // The local push service, untrusted: over TLS it is a private address, over plain
        // HTTP not https either.
        (
            browser.endpoint.clone(),
            browser.p256dh.clone(),
            browser.auth.clone(),
            "private",
        ),
        (
            browser.endpoint.replacen("https://", "http://", 1),
            browser.p256dh.clone(),
            browser.auth.clone(),
            "https",
        ),
        (
            "https://push.evil.example/x".to_owned(),
            browser.p256dh.clone(),
            browser.auth.clone(),
            "allowlist",
        ),
    ];
    for (endpoint, p256dh, auth, says) in cases {
        let body = app
            .graphql(
                Some(&token),
                SUBSCRIBE,
                json!({ "input": { "endpoint": endpoint, "keys": { "p256dh": p256dh, "auth": auth } } }),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{endpoint}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(says), "{endpoint}: {message}");
    }
    // Without signing in, and for an unknown event.
    let anonymous = app
        .graphql(
            None,
            SUBSCRIBE,
            json!({ "input": { "endpoint": good_endpoint, "keys": { "p256dh": browser.p256dh, "auth": browser.auth } } }),
        )
        .await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
    let unknown = app
        .graphql(
            Some(&token),
            SUBSCRIBE,
            json!({ "input": { "endpoint": good_endpoint, "keys": { "p256dh": browser.p256dh, "auth": browser.auth }, "eventIds": ["999999"] } }),
        )
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND");
    assert_eq!(app.count("push_subscription").await, 0);
    assert_eq!(app.count("push_subscription_event").await, 0);
}
on_both_databases!(invalid_subscriptions_are_refused_and_nothing_is_written);

async fn subscribing_again_updates_and_unsubscribing_removes(backend: Backend) {
    let app = push_app(backend).await;
    let mock = MockPushService::start(1).await.unwrap();
    let token = app.sign_up_runner("twice@example.kz").await;
    let event = app.event_id(&marathon()).await;
    let women = app.event_id("womens-and-childrens-race-2020").await;
    let browser = mock.subscribe().unwrap();
    let first = subscribe(&app, &token, &browser, Some(vec![&event])).await;
    let second = subscribe(&app, &token, &browser, Some(vec![&women, &event])).await;
    assert_eq!(
        first["data"]["subscribePush"]["id"],
        second["data"]["subscribePush"]["id"]
    );
    assert_eq!(app.count("push_subscription").await, 1);
    assert_eq!(app.count("push_subscription_event").await, 2);
    let me = app
        .ok(
            Some(&token),
            "{ me { pushSubscriptions { endpoint events { slug } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        me["me"]["pushSubscriptions"][0]["endpoint"],
        browser.endpoint.as_str()
    );
    assert_eq!(
        me["me"]["pushSubscriptions"][0]["events"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Another runner cannot remove it.
    let stranger = app.sign_up_runner("stranger@example.kz").await;
    let unsubscribe = "mutation($e: String!) { unsubscribePush(endpoint: $e) }";
    let theirs = app
        .ok(
            Some(&stranger),
            unsubscribe,
            json!({ "e": browser.endpoint }),
        )
        .await;
    assert_eq!(theirs["unsubscribePush"], false);
    let mine = app
        .ok(Some(&token), unsubscribe, json!({ "e": browser.endpoint }))
        .await;
    assert_eq!(mine["unsubscribePush"], true);
    assert_eq!(app.count("push_subscription").await, 0);
    assert_eq!(app.count("push_subscription_event").await, 0);
}
on_both_databases!(subscribing_again_updates_and_unsubscribing_removes);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_host_that_resolves_to_a_private_address_is_never_fetched() {
    // `localhost` is on this allowlist but resolves to loopback, and is not trusted: the
    // subscription is accepted (its URL is fine), the request is refused at resolution.
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.push.enabled = false;
        s.push.allowed_hosts = vec!["localhost".into()];
    })
    .await;
    app.seed_demo().await;
    let mock = MockPushService::start(1).await.unwrap();
    let token = app.sign_up_runner("rebind@example.kz").await;
    let distance = &app.distance_ids(&marathon()).await[1];
    register(&app, &token, distance).await;
    let mut browser = mock.subscribe().unwrap();
    browser.endpoint = "https://localhost/push/1".into();
    let body = subscribe(&app, &token, &browser, None).await;
    assert!(body.get("errors").is_none(), "{body}");
    let (organizer, event) = cancel_the_marathon(&app).await;
    assert_eq!(drain(&app).await.attempted, 1);
    let reports = app
        .ok(Some(&organizer), REPORTS, json!({ "e": event }))
        .await;
    assert_eq!(reports["pushReports"][0]["failed"], 1, "{reports}");
    assert_eq!(mock.requests(), 0);
}

async fn a_delivery_is_given_up_after_the_attempt_limit_with_the_reason(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.push.enabled = false;
        s.push.trusted_origins = vec![gateway_tests::push_service::TRUSTED_ORIGIN.into()];
        s.push.retry_base = Duration::from_millis(100);
        s.push.max_attempts = 2;
    })
    .await;
    app.seed_demo().await;
    let mock = mock_for(&app).await;
    let id = registered_subscriber(&app, &mock, "down@example.kz").await;
    let unavailable = Scripted {
        status: 503,
        retry_after_secs: None,
    };
    mock.script(id, &[unavailable, unavailable, unavailable]);
    let (organizer, event) = cancel_the_marathon(&app).await;
    assert_eq!(drain(&app).await.attempted, 1);
    drain_until(&app, Duration::from_secs(10), |d| d.attempted == 1).await;
    let reports = app
        .ok(Some(&organizer), REPORTS, json!({ "e": event }))
        .await;
    assert_eq!(reports["pushReports"][0]["failed"], 1, "{reports}");
    assert_eq!(reports["pushReports"][0]["attempts"], 2);
    assert_eq!(mock.requests(), 2, "no attempt beyond the limit");
    use sea_orm::EntityTrait;
    let delivery = entities::push_delivery::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(delivery.last_status_code, Some(503));
    assert_eq!(
        delivery.last_error.as_deref(),
        Some("gave up after 2 attempts: HTTP 503")
    );
}
on_both_databases!(a_delivery_is_given_up_after_the_attempt_limit_with_the_reason);

const ACK_PUSH: &str =
    "mutation($t: String!, $a: PushAcknowledgement!) { acknowledgePush(token: $t, action: $a) }";

/// The counter of refused acknowledgement tokens on this gateway's metrics.
async fn refused_tokens(app: &TestApp) -> f64 {
    let text = app
        .client
        .get(format!("{}/metrics", app.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("gateway_acknowledgement_tokens_refused_total "))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

async fn a_service_worker_acknowledges_its_own_push_once_per_action(backend: Backend) {
    let app = push_app(backend).await;
    let mock = mock_for(&app).await;
    let first = registered_subscriber(&app, &mock, "shown@example.kz").await;
    registered_subscriber(&app, &mock, "other@example.kz").await;
    let (organizer, _) = cancel_the_marathon(&app).await;
    assert_eq!(drain(&app).await.attempted, 2);
    let tokens: Vec<(u64, String)> = mock
        .received()
        .iter()
        .map(|r| {
            let ack = r.payload.as_ref().unwrap()["ack"].as_str().unwrap();
            (r.subscription, ack.to_owned())
        })
        .collect();
    assert_ne!(tokens[0].1, tokens[1].1, "a token per delivery");
    let token = &tokens.iter().find(|(s, _)| *s == first).unwrap().1;
    let refused_before = refused_tokens(&app).await;

    // No session: the token is the credential, for its own delivery, once per action.
    let shown = app
        .ok(None, ACK_PUSH, json!({ "t": token, "a": "DISPLAYED" }))
        .await;
    assert_eq!(shown["acknowledgePush"], true);
    let again = app
        .graphql(None, ACK_PUSH, json!({ "t": token, "a": "DISPLAYED" }))
        .await;
    assert_eq!(error_code(&again), "INVALID_ACKNOWLEDGEMENT_TOKEN");
    let clicked = app
        .ok(None, ACK_PUSH, json!({ "t": token, "a": "CLICKED" }))
        .await;
    assert_eq!(clicked["acknowledgePush"], true);
    let mut forged = token.clone().into_bytes();
    forged[3] = if forged[3] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for bad in [forged.as_str(), "x", &"A".repeat(32)] {
        let body = app
            .graphql(None, ACK_PUSH, json!({ "t": bad, "a": "DISPLAYED" }))
            .await;
        assert_eq!(error_code(&body), "INVALID_ACKNOWLEDGEMENT_TOKEN", "{bad}");
    }
    // At least these four: the recorder is the test process's, shared with the test on the
    // other database running beside this one.
    assert!(
        refused_tokens(&app).await - refused_before >= 4.0,
        "counted"
    );

    let reports = app
        .ok(
            Some(&organizer),
            "query($e: ID!) { pushReports(eventId: $e) { notificationId } }",
            json!({ "e": app.event_id(&marathon()).await }),
        )
        .await;
    // The targets are queued by the mail worker, whose loop runs here.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reach = app
            .ok(
                Some(&organizer),
                "query($n: ID!) { reachReport(notificationId: $n) { targeted pushDelivered pushDisplayed pushClicked acknowledged } }",
                json!({ "n": reports["pushReports"][0]["notificationId"] }),
            )
            .await;
        if reach["reachReport"]["targeted"] == 2 {
            assert_eq!(
                reach["reachReport"],
                json!({ "targeted": 2, "pushDelivered": 2, "pushDisplayed": 1, "pushClicked": 1, "acknowledged": 1 })
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{reach}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
on_both_databases!(a_service_worker_acknowledges_its_own_push_once_per_action);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_browser_is_pushed_in_its_runners_language() {
    let app = push_app(Backend::Postgres).await;
    let mock = mock_for(&app).await;
    let kazakh = registered_subscriber(&app, &mock, "aigul@example.kz").await;
    let english = registered_subscriber(&app, &mock, "sam@example.kz").await;
    let token = app
        .sign_in("aigul@example.kz", "a long runner password")
        .await;
    app.ok(
        Some(&token),
        "mutation { updateAccount(input: { language: KK }) { language } }",
        json!({}),
    )
    .await;
    let (organizer, event) = (
        app.organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
            .await,
        app.event_id(&marathon()).await,
    );
    let input = json!({ "eventId": event, "status": "CANCELLED", "reason": "Public events are banned",
        "reasons": [{ "language": "KK", "text": "Көпшілік іс-шараларға тыйым салынды" }] });
    app.ok(
        Some(&organizer),
        "mutation($input: ChangeEventStatusInput!) { changeEventStatus(input: $input) { id } }",
        json!({ "input": input }),
    )
    .await;
    assert_eq!(drain(&app).await.attempted, 2);
    let payload_of = |id: u64| {
        mock.received()
            .into_iter()
            .find(|r| r.subscription == id)
            .and_then(|r| r.payload)
            .unwrap()
    };
    let kk = payload_of(kazakh);
    assert_eq!(kk["title"], format!("{} болдырылмады", marathon_name()));
    assert_eq!(kk["body"], "Көпшілік іс-шараларға тыйым салынды");
    let en = payload_of(english);
    assert_eq!(en["title"], format!("{} is cancelled", marathon_name()));
    assert_eq!(en["body"], "Public events are banned");
}
