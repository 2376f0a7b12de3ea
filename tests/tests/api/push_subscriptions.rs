//! Whose a push subscription is: the account that subscribed an endpoint keeps it (another
//! account's attempt is CONFLICT, even with the same keys), an account holds a bounded
//! number of them (a setting), and an endpoint is one endpoint however its host is
//! spelled (case, trailing dot), for the allowlist, for uniqueness and to unsubscribe.

use gateway_tests::push_service::MockPushService;
use serde_json::json;

use crate::helpers::{Backend, error_code, spawn_app_with};
use crate::on_both_databases;
use crate::push::{SUBSCRIBE, push_app, subscribe};

async fn a_subscription_never_moves_to_another_account_and_each_account_has_a_cap(
    backend: Backend,
) {
    let app = push_app(backend).await;
    let mock = MockPushService::start(1).await.unwrap();
    let mut tokens = app.runner_tokens(2).await;
    let (owner, intruder) = (tokens.remove(0), tokens.remove(0));
    let browser = mock.subscribe().unwrap();
    let mine = subscribe(&app, &owner, &browser, None).await;
    assert!(mine.get("errors").is_none(), "{mine}");

    // The same endpoint, even with the same keys, from another account.
    let theirs = subscribe(&app, &intruder, &browser, None).await;
    assert_eq!(error_code(&theirs), "CONFLICT", "{theirs}");
    let listed = "{ me { pushSubscriptions { endpoint } } }";
    let owner_sees = app.ok(Some(&owner), listed, json!({})).await;
    assert_eq!(
        owner_sees["me"]["pushSubscriptions"],
        json!([{ "endpoint": browser.endpoint }])
    );
    let intruder_sees = app.ok(Some(&intruder), listed, json!({})).await;
    assert_eq!(intruder_sees["me"]["pushSubscriptions"], json!([]));
    // The owner still updates it.
    let again = subscribe(&app, &owner, &browser, None).await;
    assert_eq!(
        again["data"]["subscribePush"]["id"],
        mine["data"]["subscribePush"]["id"]
    );

    // At most 20 subscriptions per account (the default): the 21st is refused, while one
    // already held may still be updated.
    for _ in 1..20 {
        let body = subscribe(&app, &owner, &mock.subscribe().unwrap(), None).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let over = subscribe(&app, &owner, &mock.subscribe().unwrap(), None).await;
    assert_eq!(error_code(&over), "CONFLICT", "{over}");
    assert!(
        over["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("20"),
        "{over}"
    );
    assert_eq!(app.count("push_subscription").await, 20);
    let updated = subscribe(&app, &owner, &browser, None).await;
    assert!(updated.get("errors").is_none(), "{updated}");
}
on_both_databases!(a_subscription_never_moves_to_another_account_and_each_account_has_a_cap);

async fn endpoint_hosts_are_normalized_before_the_allowlist_and_uniqueness(backend: Backend) {
    // Production policy: no trusted origins.
    let app = spawn_app_with(backend, |_| {}).await;
    let mock = MockPushService::start(1).await.unwrap();
    let browser = mock.subscribe().unwrap();
    let token = app.runner_tokens(1).await.remove(0);
    let mut ids = Vec::new();
    for endpoint in [
        "https://FCM.GoogleAPIs.com./fcm/send/abc:APA91b",
        "https://fcm.googleapis.com/fcm/send/abc:APA91b",
        "https://fcm.googleapis.com./fcm/send/abc:APA91b",
    ] {
        let body = app
            .graphql(
                Some(&token),
                SUBSCRIBE,
                json!({ "input": { "endpoint": endpoint, "keys": { "p256dh": browser.p256dh, "auth": browser.auth } } }),
            )
            .await;
        assert_eq!(
            body["data"]["subscribePush"]["endpoint"],
            "https://fcm.googleapis.com/fcm/send/abc:APA91b",
            "{endpoint}: {body}"
        );
        ids.push(body["data"]["subscribePush"]["id"].clone());
    }
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    assert_eq!(app.count("push_subscription").await, 1);
    for endpoint in [
        "https://fcm.googleapis.com../fcm/send/abc",
        "https://evil.example./fcm/send/abc",
    ] {
        let body = app
            .graphql(
                Some(&token),
                SUBSCRIBE,
                json!({ "input": { "endpoint": endpoint, "keys": { "p256dh": browser.p256dh, "auth": browser.auth } } }),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{endpoint}: {body}");
    }
    // Unsubscribing by the other spelling finds the same subscription.
    let gone = app
        .ok(
            Some(&token),
            "mutation($e: String!) { unsubscribePush(endpoint: $e) }",
            json!({ "e": "https://FCM.googleapis.com./fcm/send/abc:APA91b" }),
        )
        .await;
    assert_eq!(gone["unsubscribePush"], true);
    assert_eq!(app.count("push_subscription").await, 0);
}
on_both_databases!(endpoint_hosts_are_normalized_before_the_allowlist_and_uniqueness);

async fn the_cap_on_subscriptions_per_account_is_a_setting(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.push.trusted_origins = vec![gateway_tests::push_service::TRUSTED_ORIGIN.into()];
        s.push.max_subscriptions_per_account = 2;
    })
    .await;
    let mock = MockPushService::start(1).await.unwrap();
    let token = app.runner_tokens(1).await.remove(0);
    for _ in 0..2 {
        let body = subscribe(&app, &token, &mock.subscribe().unwrap(), None).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let third = subscribe(&app, &token, &mock.subscribe().unwrap(), None).await;
    assert_eq!(error_code(&third), "CONFLICT", "{third}");
    assert!(
        third["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("at most 2"),
        "{third}"
    );
    assert_eq!(app.count("push_subscription").await, 2);
}
on_both_databases!(the_cap_on_subscriptions_per_account_is_a_setting);
