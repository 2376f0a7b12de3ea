//! Load tool: the SPA's race list beside PostGraphile 4.14 (issue 24). Starts the gateway
//! (release build) on a fresh PostgreSQL database with the demo, adds events through the
//! organizer's mutations until the public race list holds `--events` (each with its
//! distances), and starts PostGraphile 4.14 on the same database. Both are asked the same
//! thing by POST without a credential: the runner page's own `Races` document (from its
//! manifest, `server/web/documents.json`) on the gateway, the same events with their
//! distances through the foreign-key connection on PostGraphile. The answers are checked
//! to carry the same events and distances; then rounds alternate between the two, the
//! same number of keep-alive connections each, and the ratio of the mean rates is printed.
//!
//!     cargo build --release --workspace && ./target/release/load spa [--response-cache false]

mod postgraphile;
mod rounds;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use gateway_tests::{Gateway, TestDatabase, post_graphql};
use sea_orm::{Database, DatabaseConnection};
use serde_json::{Value, json};

use crate::herd::{races_document, transactions};
use crate::percentile_ms;
use postgraphile::PostGraphile;
use rounds::{Round, Target};

/// The SPA query beside PostGraphile 4.14.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Events in the public race list (the demo's and more made by its organizer).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(3..=25))]
    events: u32,
    /// Keep-alive connections, each with a client of its own.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Rounds on each server, alternating.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Seconds per round.
    #[arg(long, default_value_t = 10)]
    round_secs: u64,
    /// Seconds of warm-up on each server before the first round.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// The gateway's RESPONSE_CACHE.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    response_cache: bool,
    /// Where PostGraphile 4.14 is (installed from the npm registry when missing); never
    /// inside what git tracks. Default: data/postgraphile under the workspace root.
    #[arg(long)]
    postgraphile_dir: Option<PathBuf>,
    /// PostGraphile's --cluster-workers; left out, one process (its default).
    #[arg(long)]
    postgraphile_workers: Option<u32>,
    #[command(flatten)]
    postgres: crate::Postgres,
}

/// The same events and fields as the page's `Races`, as far as PostGraphile exposes them:
/// the columns, the organizers, distances and status changes through their foreign keys,
/// in the gateway's order (start, then id). `placesLeft` is `capacity - registeredCount`.
const POSTGRAPHILE_RACES: &str = "query Races {
  allEvents(first: 25, orderBy: [STARTS_AT_ASC, ID_ASC]) { edges { node {
    id slug name description venue status registrationState startsAt timeZone
    capacity registeredCount
    eventOrganizationsByEventId { nodes { organizationId } }
    refundDeadline kitShareBp
    distancesByEventId { nodes { id name lengthM feeMinor currency } }
    eventStatusChangesByEventId { nodes { id previousStatus status reason reasons startsAt occurredAt } }
  } } } }";

/// Kazakh cities for the events the tool adds to the demo's.
const CITIES: [&str; 22] = [
    "Astana",
    "Shymkent",
    "Karaganda",
    "Aktobe",
    "Taraz",
    "Pavlodar",
    "Oskemen",
    "Semey",
    "Atyrau",
    "Kostanay",
    "Kyzylorda",
    "Oral",
    "Petropavl",
    "Aktau",
    "Temirtau",
    "Turkistan",
    "Kokshetau",
    "Taldykorgan",
    "Ekibastuz",
    "Rudny",
    "Zhezkazgan",
    "Balkhash",
];

/// An event as both answers must show it: its slug, and its distances' names, lengths in
/// meters, fees in minor units and currencies, sorted.
type Race = (String, Vec<(String, i64, i64, String)>);

pub async fn run(args: Args) -> anyhow::Result<()> {
    let races = races_document()?;
    let dir = args
        .postgraphile_dir
        .clone()
        .unwrap_or_else(postgraphile::default_dir);
    let version = postgraphile::ensure_installed(&dir)?;
    let scratch = TestDatabase::postgres(&args.postgres.url, "gw_spa").await?;
    let gateway = Gateway::start(&[
        ("DATABASE_URL", scratch.url.clone()),
        ("SEED_DEMO", "true".into()),
        ("RESPONSE_CACHE", args.response_cache.to_string()),
        // Every request comes from 127.0.0.1 here: no per-address limit may refuse it.
        ("RATE_AUTH_PER_ADDRESS", "1000000".into()),
        ("RATE_WS_UPGRADES_PER_ADDRESS", "1000000".into()),
        ("WS_MAX_SOCKETS_PER_ADDRESS", "1000000".into()),
    ])
    .await
    .context("starting the gateway")?;
    let db = Database::connect(&scratch.url)
        .await
        .context("connecting to the scratch database")?;
    let client = reqwest::Client::new();
    add_events(&client, &gateway.address, &db, &races, args.events as usize).await?;
    // Started after the gateway migrated: PostGraphile reads the schema once.
    let postgraphile = PostGraphile::start(&dir, &scratch.url, args.postgraphile_workers)
        .await
        .context("starting PostGraphile")?;

    let gateway_body = json!({ "query": races, "operationName": "Races" }).to_string();
    let postgraphile_body =
        json!({ "query": POSTGRAPHILE_RACES, "operationName": "Races" }).to_string();
    let (gateway_answer, gateway_len) = answer(
        &client,
        &format!("{}/graphql", gateway.address),
        &gateway_body,
    )
    .await?;
    let (postgraphile_answer, postgraphile_len) =
        answer(&client, &postgraphile.url, &postgraphile_body).await?;
    let from_gateway = gateway_races(&gateway_answer)?;
    let from_postgraphile = postgraphile_races(&postgraphile_answer)?;
    if from_gateway.len() != args.events as usize || from_gateway != from_postgraphile {
        bail!(
            "the answers differ (or hold other than {} events):\ngateway: {from_gateway:?}\n\
             PostGraphile: {from_postgraphile:?}",
            args.events
        );
    }
    let distances: usize = from_gateway.iter().map(|(_, d)| d.len()).sum();
    let targets = [
        Target {
            name: "gateway",
            url: format!("{}/graphql", gateway.address),
            body: gateway_body,
            answer_len: gateway_len,
        },
        Target {
            name: "PostGraphile",
            url: postgraphile.url.clone(),
            body: postgraphile_body,
            answer_len: postgraphile_len,
        },
    ];

    println!(
        "spa: the runner page's Races document (POST, no credential) on the gateway, allEvents \
         with its connections on PostGraphile {version}; the same {} events and {distances} \
         distances in both answers ({gateway_len} and {postgraphile_len} bytes)",
        from_gateway.len()
    );
    println!(
        "gateway: response cache {}; per-address limits raised for a load from one address \
         (RATE_AUTH_PER_ADDRESS, RATE_WS_UPGRADES_PER_ADDRESS, WS_MAX_SOCKETS_PER_ADDRESS = \
         1000000; none applies to an anonymous query)",
        if args.response_cache { "on" } else { "off" }
    );
    println!(
        "PostGraphile: {}, NODE_ENV=production, no watch, no GraphiQL, no query log",
        match args.postgraphile_workers {
            Some(n) => format!("{n} cluster workers"),
            None => "one process".into(),
        }
    );
    println!("load average before: {}", load_average());
    println!(
        "{} keep-alive connections, {} alternating rounds of {} s, after {} s of warm-up each",
        args.connections, args.rounds, args.round_secs, args.warmup_secs
    );

    for target in &targets {
        rounds::run(
            target,
            args.connections,
            Duration::from_secs(args.warmup_secs),
        )
        .await?;
    }
    println!(
        "round | server       | requests/s | p50 ms | p99 ms | errors | db transactions/request"
    );
    let mut rates = [Vec::new(), Vec::new()];
    for round in 1..=args.rounds {
        for (i, target) in targets.iter().enumerate() {
            let before = transactions(&db).await?;
            let measured = rounds::run(
                target,
                args.connections,
                Duration::from_secs(args.round_secs),
            )
            .await?;
            // PostgreSQL sends a backend's counts out when it goes idle, at most once a second.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let spent = transactions(&db).await? - before;
            print_round(round, target.name, &measured, spent);
            rates[i].push(measured.rate());
        }
    }
    let mean = |rates: &[f64]| rates.iter().sum::<f64>() / rates.len().max(1) as f64;
    let (gateway_rate, postgraphile_rate) = (mean(&rates[0]), mean(&rates[1]));
    println!(
        "mean: gateway {gateway_rate:.0}/s, PostGraphile {postgraphile_rate:.0}/s: {:.2}x",
        gateway_rate / postgraphile_rate.max(1e-9)
    );
    println!("load average after: {}", load_average());
    drop(postgraphile);
    drop(gateway);
    Ok(())
}

fn print_round(round: u32, name: &str, measured: &Round, spent: i64) {
    println!(
        "{round:>5} | {name:<12} | {:>10.0} | {:>6.2} | {:>6.2} | {:>6} | {:.3}",
        measured.rate(),
        percentile_ms(&measured.latencies, 50.0),
        percentile_ms(&measured.latencies, 99.0),
        measured.errors,
        spent as f64 / measured.answered.max(1) as f64
    );
}

/// The machine's load average, as /proc says it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}

/// POSTs `body` and returns the answer parsed and its length; a status other than 200 or
/// an answer with errors fails.
async fn answer(client: &reqwest::Client, url: &str, body: &str) -> anyhow::Result<(Value, usize)> {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .with_context(|| format!("asking {url}"))?;
    let status = response.status();
    let text = response.text().await?;
    let parsed: Value = serde_json::from_str(&text)
        .with_context(|| format!("{url} answered {status} with what is not JSON: {text:.300}"))?;
    if !status.is_success() || parsed.get("errors").is_some() {
        bail!("{url} answered {status}: {text:.2000}");
    }
    Ok((parsed, text.len()))
}

/// The events of the gateway's `Races` answer.
fn gateway_races(answer: &Value) -> anyhow::Result<Vec<Race>> {
    let edges = answer["data"]["events"]["edges"]
        .as_array()
        .context("the gateway's answer has no events")?;
    edges
        .iter()
        .map(|edge| {
            let node = &edge["node"];
            let mut distances = node["distances"]
                .as_array()
                .context("an event without distances")?
                .iter()
                .map(|d| {
                    let amount = d["fee"]["amount"]
                        .as_str()
                        .context("a fee without amount")?;
                    let minor: i64 = amount
                        .replace('.', "")
                        .parse()
                        .with_context(|| format!("the fee {amount}"))?;
                    Ok((
                        text(&d["name"])?,
                        d["lengthMeters"].as_i64().context("a length")?,
                        minor,
                        text(&d["fee"]["currency"])?,
                    ))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            distances.sort();
            Ok((text(&node["slug"])?, distances))
        })
        .collect()
}

/// The events of PostGraphile's answer.
fn postgraphile_races(answer: &Value) -> anyhow::Result<Vec<Race>> {
    let edges = answer["data"]["allEvents"]["edges"]
        .as_array()
        .context("PostGraphile's answer has no events")?;
    edges
        .iter()
        .map(|edge| {
            let node = &edge["node"];
            let mut distances = node["distancesByEventId"]["nodes"]
                .as_array()
                .context("an event without distances")?
                .iter()
                .map(|d| {
                    // A bigint is a string in PostGraphile's answers.
                    let fee = text(&d["feeMinor"])?;
                    Ok((
                        text(&d["name"])?,
                        d["lengthM"].as_i64().context("a length")?,
                        fee.parse().with_context(|| format!("the fee {fee}"))?,
                        text(&d["currency"])?,
                    ))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            distances.sort();
            Ok((text(&node["slug"])?, distances))
        })
        .collect()
}

fn text(value: &Value) -> anyhow::Result<String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("not a string: {value}"))
}

/// Adds events, each with two or three distances, through the demo organizer's own
/// mutations until the public race list holds `wanted`.
async fn add_events(
    client: &reqwest::Client,
    address: &str,
    db: &DatabaseConnection,
    races: &str,
    wanted: usize,
) -> anyhow::Result<()> {
    let listed = post_graphql(client, address, None, &json!({ "query": races })).await?;
    let present = listed["data"]["events"]["edges"]
        .as_array()
        .map(Vec::len)
        .with_context(|| format!("the race list: {listed}"))?;
    let organizer =
        gateway_tests::organizer_token(db, "director@spa-load.test", "courage-to-be-the-first")
            .await
            .context("an organizer of the demo's organization")?;
    let now = chrono::Utc::now();
    for (i, city) in CITIES
        .iter()
        .enumerate()
        .take(wanted.saturating_sub(present))
    {
        // A week apart from a month ahead: in the future, and in the list's order.
        let starts = now + chrono::Duration::days(30 + 7 * i as i64);
        let created = post_graphql(
            client,
            address,
            Some(&organizer),
            &json!({
                "query": "mutation($input: CreateEventInput!) { createEvent(input: $input) { id } }",
                "variables": { "input": {
                    "slug": format!("{}-run-{}", city.to_lowercase(), starts.format("%Y")),
                    "name": format!("{city} Run {}", starts.format("%Y")),
                    "description": format!("A city run through {city}, on closed streets."),
                    "venue": format!("{city}, central square"),
                    "startsAt": starts.format("%Y-%m-%dT03:00:00+00:00").to_string(),
                    "timeZone": "Asia/Almaty",
                    "capacity": 2000 + 500 * i as i64,
                    "registrationState": "OPEN",
                } }
            }),
        )
        .await?;
        let event = created["data"]["createEvent"]["id"]
            .as_str()
            .with_context(|| format!("creating the {city} event: {created}"))?
            .to_owned();
        let mut distances = vec![("5 km", 5_000, "3000.00"), ("10 km", 10_000, "5000.00")];
        if i % 2 == 0 {
            distances.push(("Half marathon", 21_097, "9000.00"));
        }
        for (name, length, fee) in distances {
            let added = post_graphql(
                client,
                address,
                Some(&organizer),
                &json!({
                    "query": "mutation($event: ID!, $input: DistanceFields!) { addDistance(eventId: $event, input: $input) { id } }",
                    "variables": { "event": event, "input": {
                        "name": name, "lengthMeters": length,
                        "fee": { "amount": fee, "currency": "KZT" },
                    } }
                }),
            )
            .await?;
            if added["data"]["addDistance"]["id"].as_str().is_none() {
                bail!("adding {name} to the {city} event: {added}");
            }
        }
    }
    Ok(())
}
