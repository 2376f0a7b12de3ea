//! The live channel first: during a change with a push queue as long as its subscribers
//! (150 runners, each with a page open on its own shared execution, as `myNotifications`
//! is grouped per runner, and a browser subscribed to pushes), every group's frame is
//! handed to its socket before the push worker begins encrypting that change's pushes;
//! and then every push arrives. The push worker runs in the background here, on the
//! delivery pool, as in production.

use std::time::Duration;

use gateway_tests::push_service::MockPushService;
use serde_json::json;

use crate::fanout::groups_become;
use crate::helpers::{Backend, marathon, spawn_app_with};
use crate::on_both_databases;
use crate::push::SUBSCRIBE;
use crate::registrations::register;
use crate::ws_client::{TRANSPORT, Ws};

const RUNNERS: usize = 150;

async fn every_group_is_served_before_the_pushes_are_encrypted(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.push.trusted_origins = vec![gateway_tests::push_service::TRUSTED_ORIGIN.into()];
        s.push.poll = Duration::from_millis(100);
    })
    .await;
    let (organizer, event) = app.demo_organizer_and_marathon().await;
    let mock = MockPushService::start(1).await.unwrap();
    let key = app.ok(None, "{ webPushPublicKey }", json!({})).await;
    mock.expect_vapid_key(key["webPushPublicKey"].as_str().unwrap())
        .unwrap();
    let distance = app.distance_ids(&marathon()).await[0].clone();
    let tokens =
        gateway_tests::runner_tokens(&app.db, &crate::helpers::unique_name("live"), RUNNERS)
            .await
            .unwrap();
    let mut pages = Vec::new();
    for token in &tokens {
        let body = register(&app, token, &distance).await;
        assert!(body.get("errors").is_none(), "{body}");
        let browser = mock.subscribe().unwrap();
        let body = app
            .graphql(
                Some(token),
                SUBSCRIBE,
                json!({ "input": { "endpoint": browser.endpoint,
                    "keys": { "p256dh": browser.p256dh, "auth": browser.auth } } }),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        let mut page = Ws::init(&app.ws_url(), TRANSPORT, Some(token)).await;
        page.subscribe(
            TRANSPORT,
            "mine",
            "subscription { myNotifications { id eventStatusChange { status } } }",
            json!({}),
        )
        .await;
        pages.push(page);
    }
    groups_become(&app, RUNNERS).await;

    crate::alerts::change((&app, &organizer), &event, "CANCELLED", "Banned", None).await;
    for page in &mut pages {
        let told = page.payload("mine").await;
        assert_eq!(
            told["data"]["myNotifications"]["eventStatusChange"]["status"],
            "CANCELLED"
        );
    }
    assert!(
        mock.wait_until(Duration::from_secs(30), |r| r.len() >= RUNNERS)
            .await,
        "{} of {RUNNERS} pushes arrived",
        mock.received().len()
    );

    let (notice, settled_at) = app.fanout.hub().live().last_settled();
    let settled_at = settled_at.expect("every group executed the cancellation");
    let (pushed, started_at) = app
        .pipeline
        .push
        .last_started()
        .expect("the push worker sent the cancellation");
    assert_eq!(pushed, notice, "the same change");
    assert!(
        started_at >= settled_at,
        "the pushes began {:?} before the last group was served",
        settled_at - started_at
    );
}
on_both_databases!(every_group_is_served_before_the_pushes_are_encrypted);
