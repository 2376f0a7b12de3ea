//! Load tool: partner statistics at scale. Starts the gateway (release build) on a fresh
//! PostgreSQL database, seeds N synthetic runners into one event with `gateway seed
//! --runners N`, then measures, with the same number of concurrent clients:
//!
//! 1. `participationStats(eventId, groupBy: [DISTANCE, AGE_GROUP])` through the gateway
//!    with a partner key (counters, suppression, HTTP, GraphQL: the whole path);
//! 2. the naive way: `SELECT distance_id, <age bracket>, count(*) FROM registration
//!    WHERE event_id = $1 GROUP BY 1, 2` straight on PostgreSQL;
//! 3. the same stats queries while registrations keep arriving through the gateway, then
//!    checks that the figures equal the direct SQL count exactly.
//!
//!     cargo build --release --workspace && ./target/release/load partner-stats --runners 100000

mod measure;

use anyhow::{Context, anyhow};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use gateway_tests::{Gateway, TestDatabase, gateway_binary, runner_tokens};
use measure::{graphql, measure, report};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait, Statement};
use serde_json::{Value, json};

const STATS: &str =
    "query($e: ID!) { participationStats(eventId: $e, groupBy: [DISTANCE, AGE_GROUP]) {
    total withheld groups { keys { value } count suppressed } } }";

/// (distance id, age bracket) -> count
type Table = BTreeMap<(String, String), i64>;

fn from_answer(data: &Value) -> anyhow::Result<Table> {
    let groups = data["participationStats"]["groups"]
        .as_array()
        .with_context(|| format!("no groups: {data}"))?;
    let mut table = Table::new();
    for group in groups {
        let key = |i: usize| group["keys"][i]["value"].as_str().unwrap_or("").to_owned();
        let count = group["count"].as_i64().context("a suppressed group")?;
        table.insert((key(0), key(1)), count);
    }
    Ok(table)
}

/// The naive way: GROUP BY over the registrations.
struct Naive {
    sql: String,
    event_id: i64,
}

impl Naive {
    async fn run(&self, db: &DatabaseConnection) -> anyhow::Result<Table> {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                sea_orm::DatabaseBackend::Postgres,
                &self.sql,
                [self.event_id.into()],
            ))
            .await?;
        rows.iter()
            .map(|row| {
                let distance: i64 = row.try_get("", "distance_id")?;
                let age: String = row.try_get("", "age_group")?;
                let n: i64 = row.try_get("", "n")?;
                Ok(((distance.to_string(), age), n))
            })
            .collect()
    }
}

/// Partner statistics at scale, against the naive GROUP BY.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Synthetic runners seeded into the event.
    #[arg(long, default_value_t = 100_000)]
    runners: usize,
    /// Concurrent clients in each phase.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Length of each phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Registrations arriving through the gateway during phase 3.
    #[arg(long, default_value_t = 2000)]
    arrivals: usize,
    #[command(flatten)]
    postgres: crate::Postgres,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        runners,
        concurrency,
        seconds,
        arrivals,
        postgres,
    } = args;
    let server = postgres.url;

    let scratch = TestDatabase::postgres(&server, "gw_partner_stats").await?;
    let gateway = Gateway::start(&[
        ("DATABASE_URL", scratch.url.clone()),
        ("SEED_DEMO", "true".into()),
    ])
    .await?;
    let url = gateway.address.clone();

    let seeding = Instant::now();
    let seeded = std::process::Command::new(gateway_binary())
        .args(["seed", "--runners", &runners.to_string()])
        .env("DATABASE_URL", &scratch.url)
        .env("RUST_LOG", "warn")
        .output()
        .context("gateway seed")?;
    if !seeded.status.success() {
        return Err(anyhow!(
            String::from_utf8_lossy(&seeded.stderr).into_owned()
        ));
    }
    print!(
        "gateway seed --runners {runners}: {}",
        String::from_utf8_lossy(&seeded.stdout)
    );
    println!(
        "(seed command took {:.1} s)",
        seeding.elapsed().as_secs_f64()
    );

    let db = Database::connect(
        sea_orm::ConnectOptions::new(scratch.url.clone())
            .max_connections(concurrency as u32 + 2)
            .sqlx_logging(false)
            .to_owned(),
    )
    .await?;
    let organizer = gateway_tests::organizer_token(
        &db,
        "director@courage-to-be-the-first.test",
        "courage-to-be-the-first",
    )
    .await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency * 2)
        .build()?;
    let kaspi = race_office::services::organizations::find_by_slug(&db, "kaspi-kz")
        .await
        .map_err(race_office::ApiError::into_anyhow)?
        .context("demo partner missing")?;
    let issued = graphql(
        &client,
        &url,
        Some(&organizer),
        "mutation($input: IssuePartnerKeyInput!) { issuePartnerKey(input: $input) { key } }",
        json!({ "input": { "organizationId": kaspi.id.to_string(), "scopes": ["STATS_READ"],
                "expiresAt": (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339() } }),
    )
    .await?;
    let key = issued["issuePartnerKey"]["key"]
        .as_str()
        .context("no key")?
        .to_owned();
    let event = graphql(
        &client,
        &url,
        None,
        "{ eventBySlug(slug: \"synthetic-race\") { id startsAt timeZone distances { id } } }",
        json!({}),
    )
    .await?;
    let event = &event["eventBySlug"];
    let event_id = event["id"]
        .as_str()
        .context("no synthetic race")?
        .to_owned();
    let distances: Vec<String> = event["distances"]
        .as_array()
        .context("no distances")?
        .iter()
        .filter_map(|d| d["id"].as_str().map(str::to_owned))
        .collect();
    let model = entities::event::Entity::find_by_id(event_id.parse::<i64>()?)
        .one(&db)
        .await?
        .context("no synthetic race")?;
    let rules = race_office::domain::participation::KeyRules::for_event(&model)
        .map_err(race_office::ApiError::into_anyhow)?;
    let naive = Arc::new(Naive {
        sql: format!(
            "SELECT distance_id, {} AS age_group, count(*) AS n FROM registration WHERE event_id = $1 GROUP BY 1, 2",
            rules.brackets.sql_case("birth_date")
        ),
        event_id: model.id,
    });

    let first = graphql(&client, &url, Some(&key), STATS, json!({ "e": event_id })).await?;
    let total = first["participationStats"]["total"].as_i64().unwrap_or(-1);
    println!(
        "{runners} runners; total seen by the partner: {total}; {concurrency} concurrent clients, {seconds} s per phase"
    );

    // 1. Through the gateway, with the partner key.
    let stats_call = {
        let (client, url, key, event_id) =
            (client.clone(), url.clone(), key.clone(), event_id.clone());
        move |_| {
            let (client, url, key, event_id) =
                (client.clone(), url.clone(), key.clone(), event_id.clone());
            async move {
                graphql(&client, &url, Some(&key), STATS, json!({ "e": event_id }))
                    .await
                    .map(|_| ())
            }
        }
    };
    let latencies = measure(concurrency, seconds, stats_call.clone()).await?;
    report(
        "participationStats via gateway (counters)",
        &latencies,
        seconds,
    );

    // 2. The naive GROUP BY, straight on PostgreSQL.
    let naive_call = {
        let (db, naive) = (db.clone(), naive.clone());
        move |_| {
            let (db, naive) = (db.clone(), naive.clone());
            async move { naive.run(&db).await.map(|_| ()) }
        }
    };
    let latencies = measure(concurrency, seconds, naive_call).await?;
    report("naive GROUP BY on PostgreSQL", &latencies, seconds);

    // 3. Stats while registrations keep arriving through the gateway.
    let tokens = Arc::new(runner_tokens(&db, "arrival", arrivals).await?);
    let done = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let registering = Instant::now();
    let mut registerers = Vec::new();
    for _ in 0..concurrency.div_ceil(2) {
        let (client, url, tokens, distances, next, done) = (
            client.clone(),
            url.clone(),
            tokens.clone(),
            distances.clone(),
            next.clone(),
            done.clone(),
        );
        registerers.push(tokio::spawn(async move {
            let mut registered = 0_usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= tokens.len() {
                    break;
                }
                graphql(
                    &client,
                    &url,
                    Some(&tokens[i]),
                    "mutation($input: RegisterInput!) { register(input: $input) { id } }",
                    json!({ "input": { "distanceId": distances[i % distances.len()], "gender": "FEMALE",
                            "birthDate": format!("{}-06-15", 1950 + i % 55), "country": "KZ", "city": "Almaty" } }),
                )
                .await?;
                registered += 1;
            }
            done.store(true, Ordering::Relaxed);
            Ok::<_, anyhow::Error>(registered)
        }));
    }
    let live = measure(concurrency, seconds, stats_call).await?;
    let mut registered = 0;
    for r in registerers {
        registered += r.await??;
    }
    let register_seconds = registering.elapsed().as_secs_f64();
    report(
        "participationStats while registrations arrive",
        &live,
        seconds,
    );
    println!(
        "registrations through the gateway meanwhile: {registered} in {register_seconds:.1} s ({:.0}/s){}",
        registered as f64 / register_seconds,
        if done.load(Ordering::Relaxed) {
            ""
        } else {
            " (still running when the phase ended)"
        }
    );

    // Exact: the organizer's (unsuppressed) figures, the partner's and the naive count agree.
    let organizer_view = from_answer(
        &graphql(
            &client,
            &url,
            Some(&organizer),
            STATS,
            json!({ "e": event_id }),
        )
        .await?,
    )?;
    let partner_view =
        from_answer(&graphql(&client, &url, Some(&key), STATS, json!({ "e": event_id })).await?)?;
    let direct = naive.run(&db).await?;
    let expected = (runners + arrivals) as i64;
    let counted: i64 = direct.values().sum();
    let exact = organizer_view == direct && partner_view == direct && counted == expected;
    println!(
        "{}: {} groups, {counted} registrations (expected {expected})",
        if exact {
            "CHECK OK: stats equal the direct SQL count"
        } else {
            "CHECK FAILED"
        },
        direct.len()
    );
    drop(gateway);
    db.close().await.ok();
    drop(scratch);
    if exact {
        Ok(())
    } else {
        Err(anyhow!("the figures differ from the direct count"))
    }
}
