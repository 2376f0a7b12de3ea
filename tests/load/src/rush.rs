//! Load tool: a registration-opening rush. Starts the gateway (release build) on a fresh
//! PostgreSQL database, opens an event of 18,000 places, and lets 18,000 runners (plus
//! some late ones) register through GraphQL with 64 in flight at once. Reports
//! registrations per second and latency, then checks none was oversold.
//!
//!     cargo build --release --workspace && ./target/release/load rush

use anyhow::{Context, anyhow};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gateway_tests::{
    Gateway, TestDatabase, marathon_date, marathon_year, post_graphql, runner_tokens,
};
use sea_orm::{ConnectionTrait, Database, Statement};

use crate::percentile_ms;
use serde_json::{Value, json};

/// A GraphQL request to `address` (the gateway's base URL).
async fn graphql(
    client: &reqwest::Client,
    address: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    post_graphql(
        client,
        address,
        token,
        &json!({ "query": query, "variables": variables }),
    )
    .await
}

/// A registration-opening rush.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Places in the race, and runners who get one.
    #[arg(long, default_value_t = 18_000)]
    runners: usize,
    /// Runners who come after the race is full (each must be answered SOLD_OUT).
    #[arg(long, default_value_t = 500)]
    late: usize,
    /// Registrations in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    #[command(flatten)]
    postgres: crate::Postgres,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        runners,
        late,
        concurrency,
        postgres,
    } = args;
    let server = postgres.url;

    let scratch = TestDatabase::postgres(&server, "gw_registration_rush").await?;
    let gateway = Gateway::start(&[
        ("DATABASE_URL", scratch.url.clone()),
        ("SEED_DEMO", "true".into()),
    ])
    .await?;
    let url = gateway.address.clone();
    let db = Database::connect(&scratch.url).await?;

    // An organizer opens a race with exactly `runners` places.
    let organizer_token = gateway_tests::organizer_token(
        &db,
        "director@courage-to-be-the-first.test",
        "courage-to-be-the-first",
    )
    .await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let created = graphql(
        &client,
        &url,
        Some(&organizer_token),
        "mutation($input: CreateEventInput!) { createEvent(input: $input) { id } }",
        // On the demo race's day, so always ahead.
        json!({ "input": { "slug": format!("rush-{}", marathon_year()), "name": format!("Rush {}", marathon_year()), "venue": "Almaty",
                "startsAt": format!("{}T03:00:00Z", marathon_date(4, 18)),
                "timeZone": "Asia/Almaty", "capacity": runners, "registrationState": "OPEN" } }),
    )
    .await?;
    let event_id = created["data"]["createEvent"]["id"]
        .as_str()
        .with_context(|| format!("createEvent: {created}"))?
        .to_owned();
    let mut distances = Vec::new();
    for (name, length, fee) in [
        ("Marathon", 42195, "15000"),
        ("Half marathon", 21097, "12000"),
        ("10 km", 10000, "8000"),
    ] {
        let added = graphql(
            &client,
            &url,
            Some(&organizer_token),
            "mutation($e: ID!, $input: DistanceFields!) { addDistance(eventId: $e, input: $input) { id } }",
            json!({ "e": event_id, "input": { "name": name, "lengthMeters": length, "fee": { "amount": fee, "currency": "KZT" } } }),
        )
        .await?;
        distances.push(
            added["data"]["addDistance"]["id"]
                .as_str()
                .with_context(|| format!("addDistance: {added}"))?
                .to_owned(),
        );
    }

    let total = runners + late;
    let tokens = Arc::new(runner_tokens(&db, "rush", total).await?);
    let distances = Arc::new(distances);
    println!("{total} runners ready ({runners} places, {late} late); {concurrency} in flight");

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, url, tokens, distances, next) = (
            client.clone(),
            url.clone(),
            tokens.clone(),
            distances.clone(),
            next.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut outcomes: Vec<(Duration, String)> = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= tokens.len() {
                    break;
                }
                let sent = Instant::now();
                let answer = graphql(
                    &client,
                    &url,
                    Some(&tokens[i]),
                    "mutation($input: RegisterInput!) { register(input: $input) { bib } }",
                    json!({ "input": { "distanceId": distances[i % distances.len()], "tshirtSize": "M" } }),
                )
                .await;
                let outcome = match answer {
                    Ok(body) if body["data"]["register"]["bib"].is_number() => "registered".to_owned(),
                    Ok(body) => body["errors"][0]["extensions"]["code"].as_str().unwrap_or("no code").to_owned(),
                    Err(e) => format!("transport: {e}"),
                };
                outcomes.push((sent.elapsed(), outcome));
            }
            outcomes
        }));
    }
    let mut outcomes = Vec::new();
    for worker in workers {
        outcomes.extend(worker.await?);
    }
    let elapsed = started.elapsed();

    let registered = outcomes.iter().filter(|(_, o)| o == "registered").count();
    let sold_out = outcomes.iter().filter(|(_, o)| o == "SOLD_OUT").count();
    let other: Vec<&String> = outcomes
        .iter()
        .map(|(_, o)| o)
        .filter(|o| *o != "registered" && *o != "SOLD_OUT")
        .collect();
    let mut latencies: Vec<Duration> = outcomes
        .iter()
        .filter(|(_, o)| o == "registered")
        .map(|(d, _)| *d)
        .collect();
    latencies.sort_unstable();

    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n, COUNT(DISTINCT bib) AS bibs FROM registration".to_owned(),
        ))
        .await?
        .context("no count")?;
    let stored: i64 = row.try_get("", "n")?;
    let bibs: i64 = row.try_get("", "bibs")?;

    println!("requests: {total} in {:.2} s", elapsed.as_secs_f64());
    println!(
        "registered: {registered} ({:.0} registrations/s)",
        registered as f64 / elapsed.as_secs_f64()
    );
    println!("sold out: {sold_out}; other answers: {}", other.len());
    println!(
        "register latency ms: p50 {:.1}, p99 {:.1}, max {:.1}",
        percentile_ms(&latencies, 50.0),
        percentile_ms(&latencies, 99.0),
        percentile_ms(&latencies, 100.0)
    );
    println!("stored registrations: {stored}, distinct bibs: {bibs}");
    let ok = registered == runners
        && stored == runners as i64
        && bibs == stored
        && sold_out == late
        && other.is_empty();
    println!(
        "{}",
        if ok {
            "CHECK OK: all stored, none oversold"
        } else {
            "CHECK FAILED"
        }
    );
    drop(gateway);
    db.close().await.ok();
    drop(scratch);
    if ok {
        Ok(())
    } else {
        Err(anyhow!(
            "unexpected outcome; first others: {:?}",
            other.iter().take(3).collect::<Vec<_>>()
        ))
    }
}
