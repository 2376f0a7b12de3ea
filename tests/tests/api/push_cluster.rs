//! Push workers on several gateway processes sharing one PostgreSQL: each delivery is
//! sent by one instance, and a worker killed mid-batch loses nothing.

use std::collections::HashMap;
use std::time::Duration;

use entities::push_delivery::{self, DeliveryStatus};
use gateway_tests::push_service::{self, MockPushService};
use gateway_tests::{Gateway, post_graphql, runner_tokens};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::alerts_cluster::{cancel, demo_database, event_id, instance};
use crate::helpers::marathon;
use crate::push::SUBSCRIBE;

/// `n` runners on `gateway`, each with a browser subscribed to `event`.
async fn subscribers(
    gateway: &Gateway,
    db: &sea_orm::DatabaseConnection,
    mock: &MockPushService,
    event: &str,
    n: usize,
) -> Vec<u64> {
    let tokens = runner_tokens(db, &crate::helpers::unique_name("push"), n)
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for token in tokens {
        let browser = mock.subscribe().unwrap();
        let body = post_graphql(
            &client,
            &gateway.address,
            Some(&token),
            &json!({ "query": SUBSCRIBE, "variables": { "input": {
                "endpoint": browser.endpoint,
                "keys": { "p256dh": browser.p256dh, "auth": browser.auth },
                "eventIds": [event] } } }),
        )
        .await
        .unwrap();
        assert!(body.get("errors").is_none(), "{body}");
        ids.push(browser.id);
    }
    ids
}

fn push_env<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let ca = push_service::ca_pem_path()
        .unwrap()
        .to_str()
        .expect("a UTF-8 temporary path");
    let mut env = vec![
        ("PUSH_TRUSTED_ORIGINS", push_service::TRUSTED_ORIGIN),
        ("PUSH_EXTRA_ROOTS_PEM", ca),
        ("PUSH_POLL_MS", "100"),
    ];
    env.extend_from_slice(extra);
    env
}

async fn public_key(gateway: &Gateway) -> String {
    let body = post_graphql(
        &reqwest::Client::new(),
        &gateway.address,
        None,
        &json!({ "query": "{ webPushPublicKey }" }),
    )
    .await
    .unwrap();
    body["data"]["webPushPublicKey"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_send_each_push_once_with_one_shared_vapid_key() {
    let (database, organizer) = demo_database().await;
    let db = sea_orm::Database::connect(database.url.clone())
        .await
        .unwrap();
    let prefix = crate::helpers::unique_name("gwpush");
    let redis = "redis://127.0.0.1:6379";
    let env = push_env(&[("PUSH_BATCH", "8"), ("PUSH_CONCURRENCY", "4")]);
    let a = instance(&database, redis, &prefix, &env).await;
    let b = instance(&database, redis, &prefix, &env).await;
    let key = public_key(&a).await;
    assert_eq!(key, public_key(&b).await, "both sign with the stored key");
    let mock = MockPushService::start(1).await.unwrap();
    mock.expect_vapid_key(&key).unwrap();
    let event = event_id(&a, &marathon()).await;
    let ids = subscribers(&a, &db, &mock, &event, 40).await;

    cancel(
        &b,
        &organizer,
        &event,
        "CANCELLED",
        "Public events are banned",
    )
    .await;
    assert!(
        mock.wait_until(Duration::from_secs(15), |r| r.len() >= ids.len())
            .await,
        "{} of {} arrived; rejections: {:?}",
        mock.received().len(),
        ids.len(),
        mock.rejections()
    );
    // Proof by waiting, on purpose: a second send of a push (two instances claiming one
    // delivery) would come after the first and in no order with anything else the test
    // could wait for, so time is given to it to show up.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mut per_subscription: HashMap<u64, usize> = HashMap::new();
    for received in mock.received() {
        *per_subscription.entry(received.subscription).or_default() += 1;
    }
    assert_eq!(per_subscription.len(), ids.len());
    assert!(
        per_subscription.values().all(|n| *n == 1),
        "{per_subscription:?}"
    );
    assert!(mock.rejections().is_empty(), "{:?}", mock.rejections());
    let delivered = push_delivery::Entity::find()
        .filter(push_delivery::Column::Status.eq(DeliveryStatus::Delivered))
        .all(&db)
        .await
        .unwrap();
    assert_eq!(delivered.len(), ids.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_worker_killed_mid_batch_leaves_the_rest_to_another_instance() {
    let (database, organizer) = demo_database().await;
    let db = sea_orm::Database::connect(database.url.clone())
        .await
        .unwrap();
    let prefix = crate::helpers::unique_name("gwpushkill");
    let redis = "redis://127.0.0.1:6379";
    // A claims the whole batch and sends slowly (two at a time, 150 ms each).
    let mut a = instance(
        &database,
        redis,
        &prefix,
        &push_env(&[
            ("INSTANCE_ID", "push-a"),
            ("PUSH_BATCH", "30"),
            ("PUSH_CONCURRENCY", "2"),
            ("PUSH_LEASE_MS", "2000"),
        ]),
    )
    .await;
    let mock = MockPushService::start(1).await.unwrap();
    mock.expect_vapid_key(&public_key(&a).await).unwrap();
    mock.set_delay(Duration::from_millis(150));
    let event = event_id(&a, &marathon()).await;
    let ids = subscribers(&a, &db, &mock, &event, 30).await;

    cancel(
        &a,
        &organizer,
        &event,
        "CANCELLED",
        "Public events are banned",
    )
    .await;
    assert!(
        mock.wait_until(Duration::from_secs(10), |r| r.len() >= 4)
            .await
    );
    let claimed = push_delivery::Entity::find().all(&db).await.unwrap();
    assert_eq!(claimed.len(), 30);
    assert!(
        claimed
            .iter()
            .all(|d| d.claimed_by.as_deref() == Some("push-a")),
        "A claimed the whole batch"
    );
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let sent_by_a = mock.received().len();
    assert!(sent_by_a < 30, "A was killed mid-batch ({sent_by_a} sent)");

    mock.set_delay(Duration::ZERO);
    let _b = instance(
        &database,
        redis,
        &prefix,
        &push_env(&[("INSTANCE_ID", "push-b")]),
    )
    .await;
    let everyone = |received: &[gateway_tests::push_service::Received]| {
        ids.iter().all(|id| {
            received
                .iter()
                .any(|r| r.subscription == *id && r.status == 201)
        })
    };
    assert!(
        mock.wait_until(Duration::from_secs(15), everyone).await,
        "every browser gets the alert"
    );
    assert!(mock.rejections().is_empty(), "{:?}", mock.rejections());
    let settle = async {
        loop {
            let pending = push_delivery::Entity::find()
                .filter(push_delivery::Column::Status.ne(DeliveryStatus::Delivered))
                .all(&db)
                .await
                .unwrap();
            if pending.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), settle)
        .await
        .expect("every delivery ends delivered");
}
