//! The alert pipeline across gateway processes sharing one PostgreSQL and one Redis: a
//! change made on one instance reaches subscribers of another; Redis restarts and killed
//! connections lose nothing; an instance that dies between commit and publish leaves its
//! change to another instance's relay.

use std::process::Command;
use std::time::Duration;

use gateway_tests::Gateway;
use gateway_tests::redis::{OwnRedis, RefusingPort};
use serde_json::json;

use crate::alerts::{CHANGE_STATUS, STATUS_CHANGED};
use crate::helpers::{Backend, TestDatabase, marathon, marathon_name, unique_name};
use crate::ws_client::{TRANSPORT, Ws};

/// A demo database (migrated and seeded) and an organizer's token on it.
pub(crate) async fn demo_database() -> (TestDatabase, String) {
    let database = TestDatabase::create(Backend::Postgres).await.unwrap();
    let db = server::database::connect(&database.url, 2, server::database::Ping::Always)
        .await
        .unwrap();
    server::database::migrate(&db).await.unwrap();
    race_office::services::demo::seed_demo(&db).await.unwrap();
    let token = gateway_tests::organizer_token(
        &db,
        "director@almaty-marathon.kz",
        "courage-to-be-the-first",
    )
    .await
    .unwrap();
    (database, token)
}

pub(crate) async fn instance(
    database: &TestDatabase,
    redis_url: &str,
    prefix: &str,
    extra: &[(&str, &str)],
) -> Gateway {
    Gateway::start(&instance_env(database, redis_url, prefix, extra))
        .await
        .expect("gateway instance starts")
}

/// The environment of an [`instance`].
fn instance_env<'a>(
    database: &TestDatabase,
    redis_url: &str,
    prefix: &str,
    extra: &[(&'a str, &str)],
) -> Vec<(&'a str, String)> {
    let mut env = vec![
        ("DATABASE_URL", database.url.clone()),
        ("REDIS_URL", redis_url.to_owned()),
        ("REDIS_CHANNEL_PREFIX", prefix.to_owned()),
        ("SEED_DEMO", "false".to_owned()),
        ("RELAY_POLL_MS", "100".to_owned()),
        ("RELAY_LEASE_MS", "1500".to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    env
}

fn ws_url(gateway: &Gateway) -> String {
    format!("{}/graphql/ws", gateway.address.replace("http://", "ws://"))
}

pub(crate) async fn cancel(
    gateway: &Gateway,
    token: &str,
    event: &str,
    status: &str,
    reason: &str,
) {
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/graphql", gateway.address))
        .bearer_auth(token)
        .json(&json!({ "query": CHANGE_STATUS, "variables": { "input": { "eventId": event, "status": status, "reason": reason } } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body.get("errors").is_none(), "{body}");
}

pub(crate) async fn event_id(gateway: &Gateway, slug: &str) -> String {
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/graphql", gateway.address))
        .json(&json!({ "query": "query($s: String!) { eventBySlug(slug: $s) { id } }", "variables": { "s": slug } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"]["eventBySlug"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

async fn statuses(ws: &mut Ws, id: &str, n: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..n {
        let payload = ws.payload(id).await;
        seen.push(
            payload["data"]["eventStatusChanged"]["reason"]
                .as_str()
                .unwrap_or("?")
                .to_owned(),
        );
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_on_instance_b_hears_a_cancellation_made_on_instance_a() {
    let (database, organizer) = demo_database().await;
    let redis = OwnRedis::start().await.expect("redis-server starts");
    let prefix = unique_name("gwcluster");
    let a = instance(&database, &redis.url(), &prefix, &[]).await;
    let b = instance(&database, &redis.url(), &prefix, &[]).await;
    let event = event_id(&a, &marathon()).await;
    let mut ws = Ws::init(&ws_url(&b), TRANSPORT, None).await;
    ws.subscribe(TRANSPORT, "s", STATUS_CHANGED, json!({ "e": event }))
        .await;
    ws.settle().await;
    cancel(&a, &organizer, &event, "SUSPENDED", "Awaiting a decision").await;
    cancel(
        &a,
        &organizer,
        &event,
        "CANCELLED",
        "Public events are banned",
    )
    .await;
    assert_eq!(
        statuses(&mut ws, "s", 1).await,
        ["Awaiting a decision"],
        "the suspension is heard first"
    );
    // ...and the cancellation next: its frame proves the suspension did not come twice.
    let payload = ws.payload("s").await;
    assert_eq!(payload["data"]["eventStatusChanged"]["status"], "CANCELLED");
    assert_eq!(
        payload["data"]["eventStatusChanged"]["event"]["name"],
        marathon_name()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_while_redis_restarts_are_all_delivered() {
    let (database, organizer) = demo_database().await;
    let mut redis = OwnRedis::start().await.expect("redis-server starts");
    // Its log kept, to see the relay meet the outage.
    let env = instance_env(&database, &redis.url(), &unique_name("gwrestart"), &[]);
    let gateway = Gateway::start_logged(&env, "warn")
        .await
        .expect("gateway instance starts");
    let event = event_id(&gateway, &marathon()).await;
    let mut ws = Ws::init(&ws_url(&gateway), TRANSPORT, None).await;
    ws.subscribe(TRANSPORT, "s", STATUS_CHANGED, json!({ "e": event }))
        .await;
    ws.settle().await;
    cancel(&gateway, &organizer, &event, "SUSPENDED", "before").await;
    assert_eq!(statuses(&mut ws, "s", 1).await, ["before"]);

    redis.stop();
    cancel(&gateway, &organizer, &event, "SCHEDULED", "while down 1").await;
    cancel(&gateway, &organizer, &event, "SUSPENDED", "while down 2").await;
    // Restarted only once the relay has tried to publish them and failed.
    assert!(
        gateway
            .wait_for_log(&["relay could not publish"], Duration::from_secs(10))
            .await
            .is_some(),
        "the relay never met the outage: {:?}",
        gateway.logs()
    );
    redis.restart().await.expect("redis-server starts again");
    assert_eq!(
        statuses(&mut ws, "s", 2).await,
        ["while down 1", "while down 2"]
    );
    cancel(&gateway, &organizer, &event, "SCHEDULED", "after").await;
    // A sentinel after it: the next frame, so "after" did not come twice.
    cancel(&gateway, &organizer, &event, "SUSPENDED", "sentinel").await;
    assert_eq!(statuses(&mut ws, "s", 2).await, ["after", "sentinel"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_after_client_kill_are_all_delivered() {
    let (database, organizer) = demo_database().await;
    let redis = OwnRedis::start().await.expect("redis-server starts");
    let gateway = instance(&database, &redis.url(), &unique_name("gwkill"), &[]).await;
    let event = event_id(&gateway, &marathon()).await;
    let mut ws = Ws::init(&ws_url(&gateway), TRANSPORT, None).await;
    ws.subscribe(TRANSPORT, "s", STATUS_CHANGED, json!({ "e": event }))
        .await;
    ws.settle().await;

    // The hub's subscription, then every connection (the relay's publisher too).
    assert!(redis_cli(redis.port, &["CLIENT", "KILL", "TYPE", "pubsub"]).trim() != "0");
    cancel(
        &gateway,
        &organizer,
        &event,
        "SUSPENDED",
        "after pubsub kill",
    )
    .await;
    assert_eq!(statuses(&mut ws, "s", 1).await, ["after pubsub kill"]);
    redis_cli(redis.port, &["CLIENT", "KILL", "TYPE", "normal"]);
    redis_cli(redis.port, &["CLIENT", "KILL", "TYPE", "pubsub"]);
    cancel(
        &gateway,
        &organizer,
        &event,
        "SCHEDULED",
        "after all killed 1",
    )
    .await;
    cancel(
        &gateway,
        &organizer,
        &event,
        "SUSPENDED",
        "after all killed 2",
    )
    .await;
    // A sentinel: the next frame after those two, so neither came twice.
    cancel(&gateway, &organizer, &event, "SCHEDULED", "sentinel").await;
    assert_eq!(
        statuses(&mut ws, "s", 3).await,
        ["after all killed 1", "after all killed 2", "sentinel"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_left_unpublished_by_a_dead_instance_is_published_by_another() {
    let (database, organizer) = demo_database().await;
    let prefix = unique_name("gwfailover");
    // Instance A holds the relay lease but cannot reach Redis: it commits changes and
    // never publishes them. Then it dies.
    let refusing = RefusingPort::new().unwrap();
    let dead_redis = format!("redis://127.0.0.1:{}", refusing.port);
    let mut a = instance(
        &database,
        &dead_redis,
        &prefix,
        &[("INSTANCE_ID", "instance-a")],
    )
    .await;
    // A change on A before B exists: A's relay, the only one with work, takes the lease,
    // and keeps renewing it while the row stays unpublished, so B never holds it first.
    let event = event_id(&a, &marathon()).await;
    cancel(&a, &organizer, &event, "SUSPENDED", "left on A first").await;
    let db = sea_orm::Database::connect(database.url.clone())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let lease = loop {
        let lease = <entities::relay_lease::Entity as sea_orm::EntityTrait>::find()
            .all(&db)
            .await
            .unwrap();
        if let Some(lease) = lease.into_iter().next() {
            break lease;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no relay took the lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        lease.holder, "instance-a",
        "A holds the lease and cannot publish"
    );
    let redis = OwnRedis::start().await.expect("redis-server starts");
    let b = instance(
        &database,
        &redis.url(),
        &prefix,
        &[("INSTANCE_ID", "instance-b"), ("RELAY_POLL_MS", "1000")],
    )
    .await;
    let mut ws = Ws::init(&ws_url(&b), TRANSPORT, None).await;
    ws.subscribe(TRANSPORT, "s", STATUS_CHANGED, json!({ "e": event }))
        .await;
    ws.settle().await;
    cancel(&a, &organizer, &event, "SCHEDULED", "committed on A").await;
    a.child.kill().unwrap();
    a.child.wait().unwrap();

    // B's hub reads the change from the log (its poll does not wait for the relay)...
    let payload = ws.payload("s").await;
    assert_eq!(
        payload["data"]["eventStatusChanged"]["reason"],
        "committed on A"
    );
    // ...and once A's lease has expired, B takes it over and publishes what A left.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let lease = <entities::relay_lease::Entity as sea_orm::EntityTrait>::find()
            .all(&db)
            .await
            .unwrap();
        let unpublished = <entities::notification::Entity as sea_orm::EntityTrait>::find()
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .filter(|n| n.published_at.is_none())
            .count();
        if lease[0].holder == "instance-b" && unpublished == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "B did not take over the expired lease and publish: holder {}, {unpublished} unpublished",
            lease[0].holder
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // B has now published A's change too: a sentinel change on B must be the next frame,
    // so the hub did not hand "committed on A" out a second time.
    cancel(&b, &organizer, &event, "CANCELLED", "after the takeover").await;
    let sentinel = ws.payload("s").await;
    assert_eq!(
        sentinel["data"]["eventStatusChanged"]["reason"], "after the takeover",
        "{sentinel}"
    );
}
