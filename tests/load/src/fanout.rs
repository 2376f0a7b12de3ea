//! Load tool: fan-out of one cancellation to many `eventStatusChanged` subscribers.
//!
//!     cargo build --release --workspace && ./target/release/load fanout --subscribers 19900 --instances 1
//!     ./target/release/load fanout --subscribers 20000 --instances 2
//!
//! Every process here may hold at most 20,000 open files (sockets count), so one gateway
//! instance can take about 19,900 WebSockets, and the clients are spread over worker
//! processes of at most --per-worker (10,000) connections each, using source addresses
//! 127.0.0.2, 127.0.0.3, … so ephemeral ports do not run short. Each worker and gateway is
//! started through `sh -c 'ulimit -n 20000; exec …'` to raise its open-file limit.
//!
//! Measures, from the mutation's HTTP response to each subscriber's receipt (wall clock
//! on this one machine): p50, p99, max, how many received (and none missing), and each
//! gateway's resident memory per connection (RSS after subscribing minus before, divided
//! by its connections).

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use gateway_tests::{TestDatabase, free_port, gateway_binary};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

const SUBSCRIBE: &str =
    "subscription($e: ID) { eventStatusChanged(eventId: $e) { id status event { id name } } }";

/// One client socket: handshake, subscribe, then wait for the one alert.
async fn subscriber(
    url: String,
    source: IpAddr,
    event: String,
    ready: tokio::sync::mpsc::Sender<()>,
) -> Option<i64> {
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::new(source, 0)).ok()?;
    let target: SocketAddr = url
        .trim_start_matches("ws://")
        .split('/')
        .next()?
        .parse()
        .ok()?;
    let stream = socket.connect(target).await.ok()?;
    let mut request = url.into_client_request().ok()?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().ok()?,
    );
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .ok()?;
    ws.send(Message::Text(
        json!({ "type": "connection_init" }).to_string().into(),
    ))
    .await
    .ok()?;
    let _ack = ws.next().await?;
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIBE, "variables": { "e": event } } });
    ws.send(Message::Text(subscribe.to_string().into()))
        .await
        .ok()?;
    let _ = ready.send(()).await;
    while let Some(Ok(message)) = ws.next().await {
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).ok()?;
            match value["type"].as_str() {
                Some("next") => return Some(now_micros()),
                Some("ping") => {
                    let _ = ws
                        .send(Message::Text(json!({ "type": "pong" }).to_string().into()))
                        .await;
                }
                _ => {}
            }
        }
    }
    None
}

/// One client process of a fan-out run (started by `load fanout`, not by hand).
#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// The gateway's WebSocket URL.
    #[arg(long)]
    url: String,
    /// The event to subscribe to.
    #[arg(long)]
    event: String,
    /// Connections this worker opens.
    #[arg(long)]
    count: usize,
    /// Last octet of the first 127.0.0.x source address.
    #[arg(long, default_value_t = 2)]
    first_ip: u8,
}

/// Worker mode: open `count` subscribers, say READY, wait, print receipts as JSON.
pub async fn worker(args: WorkerArgs) -> Result<(), String> {
    let WorkerArgs {
        url,
        event,
        count,
        first_ip,
    } = args;
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(count.max(1));
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        // 5,000 connections per source address.
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, first_ip + (i / 5000) as u8));
        tasks.push(tokio::spawn(subscriber(
            url.clone(),
            source,
            event.clone(),
            ready_tx.clone(),
        )));
        if i % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    drop(ready_tx);
    let mut ready = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while ready < count && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), ready_rx.recv()).await {
            Ok(Some(())) => ready += 1,
            Ok(None) => break,
            Err(_) => {}
        }
    }
    println!("READY {ready}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut receipts = Vec::with_capacity(count);
    for task in tasks {
        if let Ok(Ok(Some(at))) = tokio::time::timeout(Duration::from_secs(60), task).await {
            receipts.push(at);
        }
    }
    println!("{}", json!({ "receipts": receipts }));
    Ok(())
}

async fn metric(client: &reqwest::Client, address: &str, name: &str) -> i64 {
    let Ok(response) = client.get(format!("{address}/metrics")).send().await else {
        return -1;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn with_ulimit(exe: &std::path::Path, args: &[String]) -> Command {
    let mut line = format!("ulimit -n 20000; exec '{}'", exe.display());
    for arg in args {
        line.push_str(&format!(" '{arg}'"));
    }
    let mut command = Command::new("sh");
    command.arg("-c").arg(line);
    command
}

/// One cancellation to many `eventStatusChanged` subscribers.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Subscribers in all, split evenly over the instances.
    #[arg(long, default_value_t = 19_900)]
    subscribers: usize,
    /// Gateway instances (sharing PostgreSQL and Redis).
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Connections per client process (the open-file limit is 20,000 a process).
    #[arg(long, default_value_t = 10_000)]
    per_worker: usize,
    #[command(flatten)]
    postgres: crate::Postgres,
    /// The Redis the instances share.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
}

pub async fn run(args: Args) -> Result<(), String> {
    let Args {
        subscribers,
        instances,
        per_worker,
        postgres,
        redis,
    } = args;
    let postgres = postgres.url;

    let (scratch, db) = TestDatabase::postgres_with_demo(&postgres, "gw_fanout").await?;
    let token = gateway_tests::organizer_token(
        &db,
        "director@courage-to-be-the-first.test",
        "courage-to-be-the-first",
    )
    .await?;

    let prefix = format!("fanout{}", std::process::id());
    let mut gateways = Vec::new();
    for _ in 0..instances {
        let port = free_port()?;
        let admin = free_port()?;
        let child = with_ulimit(&gateway_binary(), &[])
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("ADMIN_BIND", format!("127.0.0.1:{admin}"))
            .env("DATABASE_URL", &scratch.url)
            .env("DATABASE_MAX_CONNECTIONS", "8")
            .env("REDIS_URL", &redis)
            .env("REDIS_CHANNEL_PREFIX", &prefix)
            .env("SEED_DEMO", "false")
            .env("HUB_BUFFER", "4096")
            // The clients come from a handful of loopback addresses.
            .env("RATE_WS_UPGRADES_PER_ADDRESS", "1000000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        gateways.push((
            child,
            format!("http://127.0.0.1:{port}"),
            format!("http://127.0.0.1:{admin}"),
        ));
    }
    let client = reqwest::Client::new();
    for (_, address, _) in &gateways {
        let deadline = Instant::now() + Duration::from_secs(30);
        while client
            .get(format!("{address}/readyz"))
            .send()
            .await
            .map(|r| !r.status().is_success())
            .unwrap_or(true)
        {
            if Instant::now() > deadline {
                return Err(format!("{address} not ready"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let event = {
        let body: Value = client
            .post(format!("{}/graphql", gateways[0].1))
            .json(&json!({ "query": "{ eventBySlug(slug: \"almaty-marathon-2027\") { id } }" }))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        body["data"]["eventBySlug"]["id"]
            .as_str()
            .ok_or("no event")?
            .to_owned()
    };
    let rss_before: Vec<u64> = gateways
        .iter()
        .map(|(child, _, _)| rss_kib(child.id()))
        .collect();

    // Workers: each takes up to `per_worker` connections on one gateway.
    let per_instance = subscribers / instances;
    let mut workers = Vec::new();
    let mut next_ip = 2_u8;
    for (index, (_, address, _)) in gateways.iter().enumerate() {
        let mut left = per_instance
            + if index == 0 {
                subscribers % instances
            } else {
                0
            };
        while left > 0 {
            let count = left.min(per_worker);
            left -= count;
            let url = format!("{}/graphql/ws", address.replace("http://", "ws://"));
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let args = vec![
                "fanout-worker".to_owned(),
                "--url".into(),
                url,
                "--event".into(),
                event.clone(),
                "--count".into(),
                count.to_string(),
                "--first-ip".into(),
                next_ip.to_string(),
            ];
            next_ip += count.div_ceil(5000) as u8;
            let child = with_ulimit(&exe, &args)
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| e.to_string())?;
            workers.push(child);
        }
    }
    let mut readers = Vec::new();
    let mut connected = 0;
    for worker in &mut workers {
        let stdout = worker.stdout.take().ok_or("worker stdout")?;
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        connected += line
            .trim()
            .strip_prefix("READY ")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        readers.push(reader);
    }
    // Wait until every subscription is live on the gateways.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut live = 0;
        for (_, _, admin) in &gateways {
            live += metric(&client, admin, "gateway_subscriptions").await.max(0) as usize;
        }
        if live >= connected || Instant::now() > deadline {
            println!(
                "{connected} clients connected, {live} subscriptions live on {instances} instance(s)"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after: Vec<u64> = gateways
        .iter()
        .map(|(child, _, _)| rss_kib(child.id()))
        .collect();
    let connections: Vec<i64> = {
        let mut all = Vec::new();
        for (_, _, admin) in &gateways {
            all.push(metric(&client, admin, "gateway_websocket_connections").await);
        }
        all
    };

    let mutation = json!({ "query": "mutation($input: ChangeEventStatusInput!) { changeEventStatus(input: $input) { status } }",
        "variables": { "input": { "eventId": event, "status": "CANCELLED", "reason": "Public events are banned" } } });
    let answer: Value = client
        .post(format!("{}/graphql", gateways[0].1))
        .bearer_auth(&token)
        .json(&mutation)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let responded = now_micros();
    if answer.get("errors").is_some() {
        return Err(format!("mutation failed: {answer}"));
    }

    let mut latencies_us: Vec<i64> = Vec::new();
    for reader in &mut readers {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        let report: Value =
            serde_json::from_str(line.trim()).map_err(|e| format!("worker report: {e}: {line}"))?;
        for at in report["receipts"].as_array().cloned().unwrap_or_default() {
            latencies_us.push(at.as_i64().unwrap_or(0) - responded);
        }
    }
    for mut worker in workers {
        let _ = worker.wait();
    }
    latencies_us.sort_unstable();
    let pick = |p: f64| -> f64 {
        if latencies_us.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * (latencies_us.len() - 1) as f64).round() as usize;
        latencies_us[rank] as f64 / 1000.0
    };
    println!(
        "subscribers: {subscribers} asked, {connected} connected, {} received, {} missing",
        latencies_us.len(),
        subscribers - latencies_us.len()
    );
    println!(
        "latency from mutation response, ms: p50 {:.1}, p99 {:.1}, max {:.1} (min {:.1})",
        pick(50.0),
        pick(99.0),
        pick(100.0),
        pick(0.0)
    );
    for (i, ((before, after), connections)) in rss_before
        .iter()
        .zip(&rss_after)
        .zip(&connections)
        .enumerate()
    {
        let per = if *connections > 0 {
            (after.saturating_sub(*before)) as f64 / *connections as f64
        } else {
            f64::NAN
        };
        println!(
            "instance {i}: {connections} connections, RSS {before} KiB -> {after} KiB, {per:.1} KiB per connection"
        );
    }
    for (mut child, _, _) in gateways {
        let _ = child.kill();
        let _ = child.wait();
    }
    db.close().await.ok();
    drop(scratch);
    Ok(())
}
