//! Load tool: what a hostile document can still cost. On the demo's upcoming race given 40
//! distances (36 written straight to the database, past the 30 an organizer may add, as old
//! rows would be), it times:
//!
//! - the deepest nested-list query the budget lets through (`event { distances { event {
//!   distances { name } } } }`), and checks that one level more is refused before it runs;
//! - one status change heard by 300 alias-distinct subscriptions over 3 sockets, each as
//!   deep as the subscription budget allows: the gateway's CPU for that change;
//! - a plain query sent while that change fans out.
//!
//! Each figure has its floor beside it, measured in the same run: `{ __typename }` for a
//! request, and the same change heard by one subscription for the fan-out.
//!
//!     cargo build --release --workspace && ./target/release/load cost

use anyhow::{Context, anyhow};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use gateway_tests::{Gateway, TestDatabase, marathon, post_graphql};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::percentile_ms;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Sockets, each holding `--per-socket` alias-distinct subscriptions.
    #[arg(long, default_value_t = 3)]
    sockets: usize,
    #[arg(long, default_value_t = 100)]
    per_socket: usize,
    /// Timed repetitions of each query.
    #[arg(long, default_value_t = 50)]
    repeat: usize,
    #[command(flatten)]
    postgres: crate::Postgres,
}

const DEEPEST: &str =
    "query($e: ID!) { event(id: $e) { distances { event { distances { name } } } } }";
const ONE_LEVEL_MORE: &str = "query($e: ID!) { event(id: $e) { distances { event { distances { event { distances { name } } } } } } }";
/// The deepest subscription the default budget (300) takes: priced 93.
const SUBSCRIPTION_SELECTION: &str = "id status event { distances { event { name } } }";

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn timed(
    client: &reqwest::Client,
    address: &str,
    body: &Value,
) -> anyhow::Result<(Duration, usize, Value)> {
    let started = Instant::now();
    let text = client
        .post(format!("{address}/graphql"))
        .json(body)
        .send()
        .await?
        .text()
        .await?;
    let took = started.elapsed();
    let value: Value = serde_json::from_str(&text)?;
    Ok((took, text.len(), value))
}

/// p50 and p99 of `repeat` runs of `body`, and the size of its answer.
async fn latency(
    client: &reqwest::Client,
    address: &str,
    body: &Value,
    repeat: usize,
) -> anyhow::Result<(f64, f64, usize)> {
    let mut took = Vec::new();
    let mut size = 0;
    for _ in 0..repeat.max(1) {
        let (elapsed, bytes, value) = timed(client, address, body).await?;
        if !value["errors"].is_null() {
            return Err(anyhow!("refused: {value}"));
        }
        took.push(elapsed);
        size = bytes;
    }
    took.sort();
    Ok((percentile_ms(&took, 50.0), percentile_ms(&took, 99.0), size))
}

async fn socket(url: &str) -> anyhow::Result<Socket> {
    let mut socket = gateway_tests::gateway::websocket_from(url, IpAddr::V4(Ipv4Addr::LOCALHOST))
        .await
        .context("websocket")?;
    socket
        .send(Message::text(
            json!({ "type": "connection_init" }).to_string(),
        ))
        .await?;
    expect(&mut socket, "connection_ack").await?;
    Ok(socket)
}

/// Reads until a message of `kind` (answering pings), or fails after 20 s.
async fn expect(socket: &mut Socket, kind: &str) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .map_err(|_| anyhow!("no {kind} within 20 s"))?
            .context("closed")??;
        let Message::Text(text) = message else {
            continue;
        };
        let value: Value = serde_json::from_str(&text)?;
        match value["type"].as_str() {
            Some(k) if k == kind => return Ok(value),
            Some("ping") => {
                socket
                    .send(Message::text(json!({ "type": "pong" }).to_string()))
                    .await?;
            }
            Some("error") => return Err(anyhow!("refused: {value}")),
            _ => {}
        }
    }
}

/// Opens `sockets` sockets with `per_socket` subscriptions each, every one with an alias
/// of its own; a ping answered on each proves they are all in place.
async fn subscribe(
    url: &str,
    event: &str,
    sockets: usize,
    per_socket: usize,
) -> anyhow::Result<Vec<Socket>> {
    let mut open = Vec::new();
    for s in 0..sockets {
        let mut socket = socket(url).await?;
        for n in 0..per_socket {
            let query = format!(
                "subscription($e: ID) {{ s{s}n{n}: eventStatusChanged(eventId: $e) {{ {SUBSCRIPTION_SELECTION} }} }}"
            );
            let message = json!({ "id": format!("{n}"), "type": "subscribe",
                "payload": { "query": query, "variables": { "e": event } } });
            socket.send(Message::text(message.to_string())).await?;
        }
        socket
            .send(Message::text(json!({ "type": "ping" }).to_string()))
            .await?;
        expect(&mut socket, "pong").await?;
        open.push(socket);
    }
    Ok(open)
}

/// Changes the race's status and waits for every subscription's frame: the gateway's CPU
/// for it, the time to the last frame, and a plain query's latency sent meanwhile.
async fn change(
    gateway: &Gateway,
    client: &reqwest::Client,
    organizer: &str,
    event: &str,
    status: &str,
    sockets: &mut [Socket],
    per_socket: usize,
) -> anyhow::Result<(f64, f64, f64)> {
    let cpu_before = gateway.cpu_micros().context("cpu")?;
    let started = Instant::now();
    let changed = post_graphql(
        client,
        &gateway.address,
        Some(organizer),
        &json!({ "query": "mutation($i: ChangeEventStatusInput!) { changeEventStatus(input: $i) { id } }",
                 "variables": { "i": { "eventId": event, "status": status, "reason": "load cost" } } }),
    )
    .await?;
    if !changed["errors"].is_null() {
        return Err(anyhow!("changeEventStatus: {changed}"));
    }
    let plain = json!({ "query": format!("{{ eventBySlug(slug: \"{}\") {{ id name status }} }}", marathon()) });
    let (plain_took, _, _) = timed(client, &gateway.address, &plain).await?;
    for socket in sockets.iter_mut() {
        for _ in 0..per_socket {
            expect(socket, "next").await?;
        }
    }
    let last = started.elapsed();
    // The work may finish a moment after the last frame is read.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cpu = gateway
        .cpu_micros()
        .context("cpu")?
        .saturating_sub(cpu_before);
    Ok((
        cpu as f64 / 1000.0,
        last.as_secs_f64() * 1000.0,
        plain_took.as_secs_f64() * 1000.0,
    ))
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let (scratch, db) = TestDatabase::postgres_with_demo(&args.postgres.url, "gw_cost").await?;
    let race = entities::event::Entity::find()
        .filter(entities::event::Column::Slug.eq(marathon()))
        .one(&db)
        .await?
        .context("no demo race")?;
    for n in 0..36 {
        race_office::services::events::insert_distance(
            &db,
            chrono::Utc::now(),
            race.id,
            race_office::services::events::DistanceInput {
                name: format!("Trail {n}"),
                length_m: 1000 + n,
                fee: race_office::domain::Money::parse("1000", "KZT")
                    .map_err(race_office::ApiError::into_anyhow)?,
            },
        )
        .await
        .map_err(race_office::ApiError::into_anyhow)?;
    }
    let organizer =
        gateway_tests::organizer_token(&db, "director@cost.test", "courage-to-be-the-first")
            .await?;
    let gateway = Gateway::start(&[
        ("DATABASE_URL", scratch.url.clone()),
        ("SEED_DEMO", "false".into()),
    ])
    .await?;
    let client = reqwest::Client::new();
    let event = post_graphql(
        &client,
        &gateway.address,
        None,
        &json!({ "query": "query($s: String!) { eventBySlug(slug: $s) { id distances { id } } }",
                 "variables": { "s": marathon() } }),
    )
    .await?;
    let event_id = event["data"]["eventBySlug"]["id"]
        .as_str()
        .with_context(|| format!("no event: {event}"))?
        .to_owned();
    let shown = event["data"]["eventBySlug"]["distances"]
        .as_array()
        .map_or(0, Vec::len);
    println!("race with 40 distances in the database: {shown} answered (the bound is 30)");

    let floor = json!({ "query": "{ __typename }" });
    let (floor_p50, floor_p99, _) = latency(&client, &gateway.address, &floor, args.repeat).await?;
    let deepest = json!({ "query": DEEPEST, "variables": { "e": event_id } });
    let (p50, p99, bytes) = latency(&client, &gateway.address, &deepest, args.repeat).await?;
    println!(
        "deepest nested-list query allowed (2 levels, 900 names): p50 {p50:.2} ms, p99 {p99:.2} ms, {bytes} bytes; floor {{ __typename }}: p50 {floor_p50:.2} ms, p99 {floor_p99:.2} ms"
    );
    let refused_body = json!({ "query": ONE_LEVEL_MORE, "variables": { "e": event_id } });
    let (refused_took, _, refused) = timed(&client, &gateway.address, &refused_body).await?;
    println!(
        "one level more: {} (cost {}) in {:.2} ms, before anything ran",
        refused["errors"][0]["extensions"]["code"],
        refused["errors"][0]["extensions"]["cost"],
        refused_took.as_secs_f64() * 1000.0
    );

    let url = format!("{}/graphql/ws", gateway.address.replace("http://", "ws://"));
    // The floor: the same change heard by one subscription.
    let mut one = subscribe(&url, &event_id, 1, 1).await?;
    let (floor_cpu, floor_last, _) = change(
        &gateway,
        &client,
        &organizer,
        &event_id,
        "SUSPENDED",
        &mut one,
        1,
    )
    .await?;
    drop(one);
    let mut open = subscribe(&url, &event_id, args.sockets, args.per_socket).await?;
    let (cpu, last, plain) = change(
        &gateway,
        &client,
        &organizer,
        &event_id,
        "SCHEDULED",
        &mut open,
        args.per_socket,
    )
    .await?;
    println!(
        "one change to {} alias-distinct subscriptions ({} sockets; priced {SUBSCRIPTION_SELECTION:?}): gateway CPU {cpu:.1} ms, last frame {last:.1} ms after the mutation was sent; a plain query meanwhile {plain:.2} ms; floor (one subscription): CPU {floor_cpu:.1} ms, frame {floor_last:.1} ms",
        args.sockets * args.per_socket,
        args.sockets,
    );
    drop(open);
    drop(gateway);
    db.close().await.ok();
    drop(scratch);
    Ok(())
}
