//! Load tool: one cancellation to the marathon's whole field by Web Push.
//!
//!     cargo build --release --workspace && ./target/release/load push-fanout --subscriptions 18000
//!
//! Seeds the demo data in a scratch PostgreSQL database, inserts N runners each with a
//! browser-like push subscription to the demo's upcoming Almaty Marathon (keys made by the
//! mock push service, rows inserted directly: the subscribe path is covered by the tests),
//! starts the release gateway (one instance, in-process bus), cancels the race, and
//! waits until the mock push service has accepted all N messages. The mock verifies every
//! request's VAPID token (each distinct token once) and decrypts one body in
//! --decrypt-every (default 50), so that it is not the bottleneck. It speaks TLS and HTTP/2
//! as real push services do (the gateway trusts the tool's CA through
//! `PUSH_EXTRA_ROOTS_PEM`); `--plain-http` runs it over plain HTTP/1.1, as the figures
//! before 2026-12-07 were measured.
//!
//! Prints: the time from the mutation's response until the last message arrived,
//! messages per second, the gateway's CPU time per message (user + system, from /proc),
//! and, measured in the same run on one thread of this tool, the floor any sender pays:
//! the primitives alone (P-256 key pair, ECDH, HKDF, AES-128-GCM; see `floor`), with the
//! gateway's CPU per message divided by it. The web-push crate's message build, the floor
//! of the README's earlier figures, is timed and printed too.

pub(crate) mod floor;

use anyhow::{Context, anyhow};
use std::time::{Duration, Instant};

use gateway_tests::push_service::{self, MockPushService, Transport};
use gateway_tests::{Gateway, TestDatabase, marathon, post_graphql};
use sea_orm::{EntityTrait, Set};
use serde_json::json;

/// One cancellation to the marathon's whole field by Web Push.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Browsers subscribed to the race.
    #[arg(long, default_value_t = 18_000)]
    subscriptions: usize,
    /// The mock push service decrypts one body in this many (it verifies every token).
    #[arg(long, default_value_t = 50)]
    decrypt_every: u64,
    /// The gateway's PUSH_CONCURRENCY.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The gateway's PUSH_CONCURRENCY_PER_ORIGIN (the mock is one origin).
    #[arg(long, default_value_t = 32)]
    concurrency_per_origin: usize,
    /// The mock over plain HTTP/1.1 instead of TLS with HTTP/2.
    #[arg(long)]
    plain_http: bool,
    #[command(flatten)]
    postgres: crate::Postgres,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let n = args.subscriptions;
    let decrypt_every = args.decrypt_every;
    let concurrency = args.concurrency.to_string();
    let postgres = args.postgres.url;

    let (scratch, db) = TestDatabase::postgres_with_demo(&postgres, "gw_push_fanout").await?;
    let slug = marathon();
    let event = entities::event::Entity::find()
        .all(&db)
        .await?
        .into_iter()
        .find(|e| e.slug == slug)
        .with_context(|| format!("no event {slug} in the demo"))?;

    let transport = if args.plain_http {
        Transport::Plain
    } else {
        Transport::Tls
    };
    let mock = MockPushService::start_with(transport, decrypt_every).await?;
    let setup = Instant::now();
    let mut browsers = Vec::with_capacity(n);
    for _ in 0..n {
        browsers.push(mock.subscribe()?);
    }
    let _ = gateway_tests::runner_tokens(&db, "push", n).await?;
    let accounts: Vec<i64> = {
        use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
        entities::account::Entity::find()
            .filter(entities::account::Column::Email.like("push-%@load.test"))
            .order_by_asc(entities::account::Column::Id)
            .all(&db)
            .await?
            .into_iter()
            .map(|a| a.id)
            .collect()
    };
    let now = chrono::Utc::now();
    for (chunk_browsers, chunk_accounts) in browsers.chunks(2000).zip(accounts.chunks(2000)) {
        let rows = chunk_browsers
            .iter()
            .zip(chunk_accounts)
            .map(|(b, account)| entities::push_subscription::ActiveModel {
                account_id: Set(*account),
                endpoint: Set(b.endpoint.clone()),
                p256dh: Set(b.p256dh.clone()),
                auth: Set(b.auth.clone()),
                all_registered_events: Set(false),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            });
        let ids = entities::push_subscription::Entity::insert_many(rows)
            .exec_with_returning_keys(&db)
            .await?;
        entities::push_subscription_event::Entity::insert_many(ids.into_iter().map(|id| {
            entities::push_subscription_event::ActiveModel {
                subscription_id: Set(id),
                event_id: Set(event.id),
            }
        }))
        .exec_without_returning(&db)
        .await?;
    }
    println!(
        "{n} subscriptions set up in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let organizer = gateway_tests::organizer_token(
        &db,
        "director@courage-to-be-the-first.test",
        "courage-to-be-the-first",
    )
    .await?;

    let mut env = vec![
        ("DATABASE_URL", scratch.url.clone()),
        ("SEED_DEMO", "false".into()),
        ("PUSH_TRUSTED_ORIGINS", mock.trusted_origin().to_owned()),
        ("PUSH_CONCURRENCY", concurrency.clone()),
        (
            "PUSH_CONCURRENCY_PER_ORIGIN",
            args.concurrency_per_origin.to_string(),
        ),
    ];
    if transport == Transport::Tls {
        env.push((
            "PUSH_EXTRA_ROOTS_PEM",
            push_service::ca_pem_path()?.display().to_string(),
        ));
    }
    let gateway = Gateway::start(&env).await?;
    let client = reqwest::Client::new();
    let key = post_graphql(
        &client,
        &gateway.address,
        None,
        &json!({ "query": "{ webPushPublicKey }" }),
    )
    .await?;
    mock.expect_vapid_key(key["data"]["webPushPublicKey"].as_str().context("no key")?)?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let cpu_before = gateway.cpu_micros().context("gateway CPU")?;
    let mutation = json!({ "query": "mutation($input: ChangeEventStatusInput!) { changeEventStatus(input: $input) { status } }",
        "variables": { "input": { "eventId": event.id.to_string(), "status": "CANCELLED", "reason": "Public events are banned" } } });
    let answer = post_graphql(&client, &gateway.address, Some(&organizer), &mutation).await?;
    let responded = Instant::now();
    if answer.get("errors").is_some() {
        return Err(anyhow!("mutation failed: {answer}"));
    }
    let mut first = None;
    while mock.delivered() < n {
        if first.is_none() && mock.requests() > 0 {
            first = Some(responded.elapsed());
        }
        if responded.elapsed() > Duration::from_secs(300) {
            return Err(anyhow!("only {} of {n} arrived in 300 s", mock.delivered()));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all = responded.elapsed();
    let cpu = gateway.cpu_micros().context("gateway CPU")? - cpu_before;
    let received = mock.received();
    let mut distinct: Vec<u64> = received.iter().map(|r| r.subscription).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let decrypted = received.iter().filter(|r| r.payload.is_some()).count();
    let rejections = mock.rejections();

    let per_message = cpu as f64 / n as f64;
    // The floor encrypts what the gateway sent (the mock's first decrypted payload).
    let payload = match received.iter().find_map(|r| r.payload.as_ref()) {
        Some(sent) => serde_json::to_vec(sent)?,
        None => return Err(anyhow!("the mock decrypted no message")),
    };
    let keys = floor::decode(&browsers)?;
    let rounds = 5000.min(n * 10).max(1);
    let ring = floor::ring(&keys, &payload, rounds)?;
    let openssl = floor::openssl(&keys, &payload, rounds)?;
    let web_push = floor::web_push(&browsers, &payload, rounds.min(3000))?;
    let floor = ring.cpu.min(openssl.cpu);
    println!(
        "pushes: {n} subscriptions, {} requests, {} distinct subscriptions accepted, {} rejected, {decrypted} decrypted and checked",
        mock.requests(),
        distinct.len(),
        rejections.len()
    );
    let over_h2 = received
        .iter()
        .filter(|r| r.version == push_service::Version::HTTP_2)
        .count();
    println!(
        "transport: {}; {over_h2} of {} requests over HTTP/2, {} TLS connections",
        match transport {
            Transport::Tls => "TLS, ALPN h2 or http/1.1",
            Transport::Plain => "plain HTTP/1.1",
        },
        received.len(),
        mock.connections()
    );
    println!(
        "time from mutation response: first push {:.0} ms, all {n} {:.2} s; {:.0} messages/s",
        first.unwrap_or_default().as_secs_f64() * 1000.0,
        all.as_secs_f64(),
        n as f64 / all.as_secs_f64()
    );
    println!(
        "gateway CPU per message: {per_message:.0} us (user + system over the whole delivery, relay and queue included)"
    );
    println!(
        "floor, the primitives alone ({}-byte payload), one thread: ring {:.1} us CPU ({:.1} wall), openssl {:.1} us CPU ({:.1} wall); gateway / floor = {:.2}",
        payload.len(),
        ring.cpu,
        ring.wall,
        openssl.cpu,
        openssl.wall,
        per_message / floor.max(1.0)
    );
    println!(
        "web-push message build (the earlier floor), one thread: {:.0} us CPU, {:.0} us wall per message; gateway / that = {:.2}",
        web_push.cpu,
        web_push.wall,
        per_message / web_push.cpu.max(1.0)
    );
    if let Some(why) = rejections.first() {
        println!("first rejection: {why}");
    }
    drop(gateway);
    db.close().await.ok();
    drop(scratch);
    Ok(())
}
