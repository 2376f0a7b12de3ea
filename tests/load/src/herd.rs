//! Load tool: the herd after a cancellation. Starts the gateway (release build) on a fresh
//! PostgreSQL database with the demo, cancels the upcoming marathon, and at once sends
//! `--visitors` page loads spread evenly over `--window-secs`: each is the runner page's
//! own race list (`Races`, read from the page's manifest, `server/web/documents.json`)
//! over GET without a credential, as the page sends it. Reports the latency of the page
//! loads, whether every one showed the cancellation, and the database's transactions
//! over the herd (PostgreSQL's own count), so that runs of different sizes can be set
//! side by side: with the response cache they should not grow with the herd.
//!
//!     cargo build --release --workspace && ./target/release/load herd [--response-cache false]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use gateway_tests::{Gateway, TestDatabase, marathon, post_graphql};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::percentile_ms;

/// The herd after a cancellation.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Page loads in the herd.
    #[arg(long, default_value_t = 18_000)]
    visitors: usize,
    /// The herd arrives evenly over this many seconds after the cancellation.
    #[arg(long, default_value_t = 30)]
    window_secs: u64,
    /// Page loads in flight at most (one process holds at most 20,000 open files).
    #[arg(long, default_value_t = 512)]
    in_flight: usize,
    /// The gateway's RESPONSE_CACHE.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    response_cache: bool,
    #[command(flatten)]
    postgres: crate::Postgres,
}

/// The page's race list, as its manifest holds it.
pub(crate) fn races_document() -> anyhow::Result<String> {
    let manifest: Value = serde_json::from_str(include_str!("../../../server/web/documents.json"))?;
    manifest
        .as_object()
        .context("the manifest is a map")?
        .values()
        .filter_map(Value::as_str)
        .find(|text| text.starts_with("query Races"))
        .map(str::to_owned)
        .context("the page's manifest has no Races document")
}

/// PostgreSQL's count of this database's transactions (every statement outside one is
/// one); read after forcing this backend's statistics out.
pub(crate) async fn transactions(db: &DatabaseConnection) -> anyhow::Result<i64> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT xact_commit + xact_rollback AS n FROM pg_stat_database \
             WHERE datname = current_database()"
                .to_owned(),
        ))
        .await?
        .context("no statistics row")?;
    Ok(row.try_get("", "n")?)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        visitors,
        window_secs,
        in_flight,
        response_cache,
        postgres,
    } = args;
    let races = Arc::new(races_document()?);
    let scratch = TestDatabase::postgres(&postgres.url, "gw_herd").await?;
    let gateway = Gateway::start(&[
        ("DATABASE_URL", scratch.url.clone()),
        ("SEED_DEMO", "true".into()),
        ("RESPONSE_CACHE", response_cache.to_string()),
        // Every visitor is 127.0.0.1 here.
        ("WS_MAX_SOCKETS_PER_ADDRESS", "100000".into()),
    ])
    .await?;
    let db = Database::connect(&scratch.url).await?;
    let organizer = gateway_tests::organizer_token(
        &db,
        "director@almaty-marathon.kz",
        "courage-to-be-the-first",
    )
    .await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(in_flight)
        .build()?;
    let url = format!("{}/graphql", gateway.address);
    let slug = marathon();
    let event = post_graphql(
        &client,
        &gateway.address,
        None,
        &json!({ "query": "query($s: String!) { eventBySlug(slug: $s) { id } }", "variables": { "s": slug } }),
    )
    .await?["data"]["eventBySlug"]["id"]
        .as_str()
        .context("the demo's marathon")?
        .to_owned();
    // One page load before, so that the answer the herd would reuse was cached stale.
    client
        .get(&url)
        .query(&[("query", races.as_str())])
        .send()
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = transactions(&db).await?;

    let cancelled = post_graphql(
        &client,
        &gateway.address,
        Some(&organizer),
        &json!({ "query": "mutation($input: ChangeEventStatusInput!) { changeEventStatus(input: $input) { status } }",
                 "variables": { "input": { "eventId": event, "status": "CANCELLED", "reason": "Public events are banned" } } }),
    )
    .await?;
    if cancelled["data"]["changeEventStatus"]["status"] != "CANCELLED" {
        return Err(anyhow!("the cancellation failed: {cancelled}"));
    }
    let started = Instant::now();
    let gap = Duration::from_secs(window_secs).as_secs_f64() / visitors.max(1) as f64;
    let slots = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut loads = Vec::with_capacity(visitors);
    for i in 0..visitors {
        let due = started + Duration::from_secs_f64(gap * i as f64);
        tokio::time::sleep_until(due.into()).await;
        let slot = slots.clone().acquire_owned().await?;
        let (client, url, races, slug) = (client.clone(), url.clone(), races.clone(), slug.clone());
        loads.push(tokio::spawn(async move {
            let sent = Instant::now();
            let answer = async {
                let response = client
                    .get(&url)
                    .query(&[("query", races.as_str())])
                    .send()
                    .await?;
                let status = response.status().as_u16();
                let body: Value = response.json().await?;
                anyhow::Ok((status, body))
            }
            .await;
            drop(slot);
            let took = sent.elapsed();
            let told = match &answer {
                Ok((200, body)) => body["data"]["events"]["edges"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|edge| {
                        edge["node"]["slug"] == slug && edge["node"]["status"] == "CANCELLED"
                    }),
                _ => false,
            };
            (took, answer.map(|(status, _)| status).ok(), told, sent)
        }));
    }
    let mut latencies = Vec::with_capacity(visitors);
    let (mut failed, mut untold) = (0usize, 0usize);
    let mut last_sent = started;
    for load in loads {
        let (took, status, told, sent) = load.await?;
        latencies.push(took);
        last_sent = last_sent.max(sent);
        if status != Some(200) {
            failed += 1;
        } else if !told {
            untold += 1;
        }
    }
    let elapsed = started.elapsed();
    // PostgreSQL sends a backend's counts out when it goes idle, at most once a second.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = transactions(&db).await?;
    latencies.sort_unstable();
    let herd_secs = last_sent.duration_since(started).as_secs_f64().max(1e-3);
    println!(
        "herd: {visitors} page loads (the page's Races document, GET, no credential) over {:.1} s, \
         response cache {}",
        herd_secs,
        if response_cache { "on" } else { "off" }
    );
    println!(
        "latency ms: p50 {:.2}, p99 {:.2}, max {:.2}",
        percentile_ms(&latencies, 50.0),
        percentile_ms(&latencies, 99.0),
        percentile_ms(&latencies, 100.0)
    );
    println!("not 200: {failed}; 200 without the cancellation: {untold}");
    let herd_transactions = after - before;
    println!(
        "database transactions during the herd (the cancellation and its pipeline included): \
         {herd_transactions} ({:.1}/s over {:.1} s)",
        herd_transactions as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    if failed > 0 || untold > 0 {
        return Err(anyhow!(
            "{failed} page loads failed, {untold} missed the cancellation"
        ));
    }
    Ok(())
}
