//! Load tool: fan-out of status changes to many `eventStatusChanged` subscribers.
//!
//!     cargo build --release --workspace
//!     ./target/release/load fanout --subscribers 19900 --instances 1
//!     ./target/release/load fanout --subscribers 39800 --instances 2
//!     ./target/release/load fanout --subscribers 1000 --distinct
//!     ./target/release/load fanout --subscribers 19900 --languages
//!
//! Every process here may hold at most 20,000 open files (sockets count), so one gateway
//! instance can take about 19,900 WebSockets, and the clients are spread over worker
//! processes of at most --per-worker (10,000) connections each, using source addresses
//! 127.0.0.2, 127.0.0.3, … so ephemeral ports do not run short. Each worker and gateway is
//! started through `sh -c 'ulimit -n 20000; exec …'` to raise its open-file limit.
//!
//! Once every subscription is live, the organizer changes the race's status --rounds times
//! (SUSPENDED, SCHEDULED, …), --gap-ms apart, on instance 0. Measured for each round, from
//! the mutation's HTTP response to each subscriber's receipt (wall clock on this one
//! machine): how many received, p50, p99, max. Memory per instance: resident memory with
//! every subscription live, and the peak while they subscribed (VmHWM), each minus the
//! resident memory before the first client, divided by its connections. With --distinct
//! every subscriber's document differs (an alias of its own), so nothing can be shared.
//! With --languages the runners are spread over Kazakh, Russian and English (each socket's
//! upgrade says its `Accept-Language`, in turn), every change carries the reason in all
//! three, and the subscribers ask for the translations too: the frames are larger, and
//! the subscribers must still share one execution per change.

use anyhow::{Context, anyhow};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use gateway_tests::{Gateway, TestDatabase, gateway_binary, marathon};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// The subscription; `{alias}` is empty, or `a<n>:` for --distinct; with `translations`
/// the reason in every language as well (what the runner page asks).
fn document(alias: &str, translations: bool) -> String {
    let reasons = if translations {
        " reason reasons { language text }"
    } else {
        ""
    };
    format!(
        "subscription($e: ID) {{ {alias} eventStatusChanged(eventId: $e) {{ id status{reasons} event {{ id name }} }} }}"
    )
}

/// The locales a --languages run's sockets say they read, in turn.
const LOCALES: [&str; 3] = ["kk-KZ,kk;q=0.9", "ru-RU,ru;q=0.9", "en-US,en;q=0.9"];

/// A change's reason and its translations, as an Almaty organizer writes them.
fn reasons(round: usize) -> Value {
    json!([
        { "language": "KK", "text": format!("{}-хабарлама: қала әкімдігі жаппай іс-шараларға тыйым салды, марафон тоқтатылды.", round + 1) },
        { "language": "RU", "text": format!("Сообщение {}: акимат города запретил массовые мероприятия, марафон приостановлен.", round + 1) },
    ])
}

/// What one client socket does.
struct Client {
    url: String,
    /// The loopback address it connects from.
    source: IpAddr,
    event: String,
    /// Empty, or `a<n>:` for a document of its own.
    alias: String,
    /// Alerts it waits for.
    rounds: usize,
    /// The `Accept-Language` of its upgrade, and whether it asks for translations.
    language: Option<&'static str>,
}

/// The worker's signals to and from its clients.
struct Signals {
    ready: tokio::sync::mpsc::Sender<()>,
    done: tokio::sync::mpsc::Sender<()>,
    everyone_done: tokio::sync::watch::Receiver<bool>,
}

/// One client socket: handshake, subscribe, then the receipt time of each of `rounds`
/// alerts (0 for one that never came).
async fn subscriber(client: Client, signals: Signals) -> Vec<i64> {
    let Client {
        url,
        source,
        event,
        alias,
        rounds,
        language,
    } = client;
    let Signals {
        ready,
        done,
        mut everyone_done,
    } = signals;
    let mut receipts = vec![0; rounds];
    let Some(mut ws) = connect(&url, source, language).await else {
        return receipts;
    };
    let subscribe = json!({ "id": "1", "type": "subscribe",
        "payload": { "query": document(&alias, language.is_some()), "variables": { "e": event } } });
    if ws
        .send(Message::Text(subscribe.to_string().into()))
        .await
        .is_err()
    {
        return receipts;
    }
    let _ = ready.send(()).await;
    let mut round = 0;
    while round < rounds {
        let Some(Ok(message)) = ws.next().await else {
            break;
        };
        if let Message::Text(text) = message {
            // Timestamped first, and told apart without parsing: the clients share the
            // machine's two cores with the gateway, so they should cost it as little as
            // possible.
            let at = now_micros();
            if text.contains(r#""type":"next""#) {
                receipts[round] = at;
                round += 1;
            } else if text.contains(r#""type":"ping""#) {
                let _ = ws.send(Message::Text(r#"{"type":"pong"}"#.into())).await;
            }
        }
    }
    // Closing now would cost the gateway work while others still wait for this round:
    // close once every subscriber of this worker has its alerts.
    let _ = done.send(()).await;
    let _ = everyone_done.wait_for(|done| *done).await;
    let _ = ws.close(None).await;
    receipts
}

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Connects from `source` and completes `connection_init`.
async fn connect(url: &str, source: IpAddr, language: Option<&str>) -> Option<Socket> {
    let mut ws = gateway_tests::gateway::websocket_speaking(url, source, language).await?;
    ws.send(Message::Text(
        json!({ "type": "connection_init" }).to_string().into(),
    ))
    .await
    .ok()?;
    let _ack = ws.next().await?;
    Some(ws)
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
    /// Alerts each subscriber waits for.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Give subscriber n the alias `a<offset + n>` (no sharing).
    #[arg(long)]
    distinct_from: Option<usize>,
    /// Subscribers spread over the three languages, asking for translations.
    #[arg(long)]
    languages: bool,
}

/// Worker mode: open `count` subscribers, say READY, wait, print receipts as JSON.
pub async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let WorkerArgs {
        url,
        event,
        count,
        first_ip,
        rounds,
        distinct_from,
        languages,
    } = args;
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(count.max(1));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel(count.max(1));
    let (all_done, everyone_done) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        // 5,000 connections per source address.
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, first_ip + (i / 5000) as u8));
        let alias = distinct_from.map_or(String::new(), |offset| format!("a{}:", offset + i));
        let client = Client {
            url: url.clone(),
            source,
            event: event.clone(),
            alias,
            rounds,
            language: languages.then_some(LOCALES[i % LOCALES.len()]),
        };
        let signals = Signals {
            ready: ready_tx.clone(),
            done: done_tx.clone(),
            everyone_done: everyone_done.clone(),
        };
        tasks.push(tokio::spawn(subscriber(client, signals)));
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
    std::io::stdout().flush()?;
    drop(done_tx);
    let mut done = 0;
    while done < ready {
        match tokio::time::timeout(Duration::from_secs(120), done_rx.recv()).await {
            Ok(Some(())) => done += 1,
            _ => break,
        }
    }
    let _ = all_done.send(true);
    let mut receipts = Vec::with_capacity(count);
    for task in tasks {
        match tokio::time::timeout(Duration::from_secs(120), task).await {
            Ok(Ok(times)) => receipts.push(times),
            _ => receipts.push(vec![0; rounds]),
        }
    }
    println!("{}", json!({ "receipts": receipts }));
    Ok(())
}

/// Many subscribers, a few status changes.
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
    /// Status changes, one after the other.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Time between status changes, in ms.
    #[arg(long, default_value_t = 2000)]
    gap_ms: u64,
    /// Every subscriber a document of its own (no sharing possible).
    #[arg(long)]
    distinct: bool,
    /// Runners spread over Kazakh, Russian and English; changes carry the reason in all
    /// three and subscribers ask for it.
    #[arg(long)]
    languages: bool,
    #[command(flatten)]
    postgres: crate::Postgres,
    /// The Redis the instances share.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let postgres = args.postgres.url.clone();
    let (scratch, db) = TestDatabase::postgres_with_demo(&postgres, "gw_fanout").await?;
    let token = gateway_tests::organizer_token(
        &db,
        "director@courage-to-be-the-first.test",
        "courage-to-be-the-first",
    )
    .await?;
    let prefix = format!("fanout{}", std::process::id());
    let mut gateways = Vec::new();
    for _ in 0..args.instances {
        let env = [
            ("DATABASE_URL", scratch.url.clone()),
            ("DATABASE_MAX_CONNECTIONS", "8".to_owned()),
            ("REDIS_URL", args.redis.clone()),
            ("REDIS_CHANNEL_PREFIX", prefix.clone()),
            ("SEED_DEMO", "false".to_owned()),
            ("HUB_BUFFER", "4096".to_owned()),
            // The clients come from a handful of loopback addresses.
            ("RATE_WS_UPGRADES_PER_ADDRESS", "1000000".to_owned()),
            ("WS_MAX_SOCKETS_PER_ADDRESS", "1000000".to_owned()),
            ("WS_MAX_SUBSCRIPTIONS_PER_ADDRESS", "10000000".to_owned()),
        ];
        gateways.push(Gateway::start_command(with_ulimit(&gateway_binary(), &[]), &env).await?);
    }
    let client = reqwest::Client::new();
    for gateway in &gateways {
        let deadline = Instant::now() + Duration::from_secs(30);
        while client
            .get(format!("{}/readyz", gateway.address))
            .send()
            .await
            .map(|r| !r.status().is_success())
            .unwrap_or(true)
        {
            if Instant::now() > deadline {
                return Err(anyhow!("{} not ready", gateway.address));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let event = {
        let body = gateway_tests::post_graphql(
            &client,
            &gateways[0].address,
            None,
            &json!({ "query": "query($s: String!) { eventBySlug(slug: $s) { id } }", "variables": { "s": marathon() } }),
        )
        .await?;
        body["data"]["eventBySlug"]["id"]
            .as_str()
            .context("no event")?
            .to_owned()
    };
    let rss_before: Vec<u64> = gateways
        .iter()
        .map(|g| proc_kib(g.child.id(), "VmRSS:"))
        .collect();

    // Workers: each takes up to `per_worker` connections on one gateway.
    let per_instance = args.subscribers / args.instances;
    let mut workers = Vec::new();
    let mut next_ip = 2_u8;
    let mut offset = 0;
    for (index, gateway) in gateways.iter().enumerate() {
        let mut left = per_instance
            + if index == 0 {
                args.subscribers % args.instances
            } else {
                0
            };
        while left > 0 {
            let count = left.min(args.per_worker);
            left -= count;
            let url = format!("{}/graphql/ws", gateway.address.replace("http://", "ws://"));
            let exe = std::env::current_exe()?;
            let mut worker_args = vec![
                "fanout-worker".to_owned(),
                "--url".into(),
                url,
                "--event".into(),
                event.clone(),
                "--count".into(),
                count.to_string(),
                "--first-ip".into(),
                next_ip.to_string(),
                "--rounds".into(),
                args.rounds.to_string(),
            ];
            if args.distinct {
                worker_args.extend(["--distinct-from".to_owned(), offset.to_string()]);
            }
            if args.languages {
                worker_args.push("--languages".to_owned());
            }
            offset += count;
            next_ip += count.div_ceil(5000) as u8;
            let child = with_ulimit(&exe, &worker_args)
                .stdout(Stdio::piped())
                .spawn()?;
            workers.push(child);
        }
    }
    let mut readers = Vec::new();
    let mut connected = 0;
    for worker in &mut workers {
        let stdout = worker.stdout.take().context("worker stdout")?;
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line)?;
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
        for gateway in &gateways {
            live += metric(&client, &gateway.admin, "gateway_subscriptions")
                .await
                .max(0) as usize;
        }
        if live >= connected || Instant::now() > deadline {
            println!(
                "{connected} clients connected, {live} subscriptions live on {} instance(s)",
                args.instances
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_live: Vec<u64> = gateways
        .iter()
        .map(|g| proc_kib(g.child.id(), "VmRSS:"))
        .collect();
    let rss_peak: Vec<u64> = gateways
        .iter()
        .map(|g| proc_kib(g.child.id(), "VmHWM:"))
        .collect();
    let mut connections = Vec::new();
    let mut groups = Vec::new();
    for gateway in &gateways {
        connections.push(metric(&client, &gateway.admin, "gateway_websocket_connections").await);
        groups.push(metric(&client, &gateway.admin, "gateway_subscription_groups").await);
    }

    let cpu_before: Vec<u64> = gateways.iter().map(|g| cpu_micros(g.child.id())).collect();
    let mut responded = Vec::new();
    for round in 0..args.rounds {
        if round > 0 {
            tokio::time::sleep(Duration::from_millis(args.gap_ms)).await;
        }
        let status = if round % 2 == 0 {
            "SUSPENDED"
        } else {
            "SCHEDULED"
        };
        let mut input =
            json!({ "eventId": event, "status": status, "reason": format!("Round {}", round + 1) });
        if args.languages {
            input["reason"] = json!(format!(
                "Notice {}: the city has banned mass events, and the marathon is suspended.",
                round + 1
            ));
            input["reasons"] = reasons(round);
        }
        let mutation = json!({ "query": "mutation($input: ChangeEventStatusInput!) { changeEventStatus(input: $input) { status } }",
            "variables": { "input": input } });
        let answer =
            gateway_tests::post_graphql(&client, &gateways[0].address, Some(&token), &mutation)
                .await?;
        responded.push(now_micros());
        if answer.get("errors").is_some() {
            return Err(anyhow!("mutation failed: {answer}"));
        }
    }

    let mut latencies_us: Vec<Vec<i64>> = vec![Vec::new(); args.rounds];
    let mut missing = vec![0usize; args.rounds];
    for reader in &mut readers {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let report: Value =
            serde_json::from_str(line.trim()).with_context(|| format!("worker report: {line}"))?;
        for times in report["receipts"].as_array().cloned().unwrap_or_default() {
            for (round, at) in times
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                match at.as_i64() {
                    Some(at) if at > 0 && round < args.rounds => {
                        latencies_us[round].push(at - responded[round]);
                    }
                    _ if round < args.rounds => missing[round] += 1,
                    _ => {}
                }
            }
        }
    }
    let cpu_used: Vec<u64> = gateways
        .iter()
        .zip(&cpu_before)
        .map(|(g, before)| cpu_micros(g.child.id()).saturating_sub(*before))
        .collect();
    for mut worker in workers {
        let _ = worker.wait();
    }
    println!(
        "subscribers: {} asked, {connected} connected{}{}",
        args.subscribers,
        if args.distinct {
            ", each with its own document"
        } else {
            ""
        },
        if args.languages {
            ", spread over Kazakh, Russian and English, asking for the reason in every language"
        } else {
            ""
        }
    );
    for (round, latencies) in latencies_us.iter_mut().enumerate() {
        latencies.sort_unstable();
        let pick = |p: f64| -> f64 {
            if latencies.is_empty() {
                return f64::NAN;
            }
            let rank = ((p / 100.0) * (latencies.len() - 1) as f64).round() as usize;
            latencies[rank] as f64 / 1000.0
        };
        println!(
            "round {}: {} received, {} missing; latency from the mutation's response, ms: p50 {:.1}, p99 {:.1}, max {:.1}",
            round + 1,
            latencies.len(),
            missing[round],
            pick(50.0),
            pick(99.0),
            pick(100.0)
        );
    }
    for (i, gateway) in gateways.iter().enumerate() {
        let n = connections[i].max(1) as f64;
        let before = rss_before[i];
        println!(
            "instance {i}: {} connections in {} shared execution(s); CPU {:.0} ms per round; RSS {before} KiB before, {} KiB live ({:.1} KiB per connection), peak {} KiB ({:.1} KiB per connection); {} KiB after the rounds",
            connections[i],
            groups[i],
            cpu_used[i] as f64 / 1000.0 / args.rounds.max(1) as f64,
            rss_live[i],
            rss_live[i].saturating_sub(before) as f64 / n,
            rss_peak[i],
            rss_peak[i].saturating_sub(before) as f64 / n,
            proc_kib(gateway.child.id(), "VmRSS:"),
        );
    }
    // Each is killed when dropped.
    drop(gateways);
    db.close().await.ok();
    drop(scratch);
    Ok(())
}

async fn metric(client: &reqwest::Client, admin: &str, name: &str) -> i64 {
    let Ok(response) = client.get(format!("{admin}/metrics")).send().await else {
        return -1;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(-1, |v| v as i64)
}

/// CPU time (user + system) a process has used, in µs (from /proc; 100 ticks a second).
fn cpu_micros(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let fields: Vec<String> = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .map(|ticks| ticks * 10_000)
        .unwrap_or(0)
}

/// A `/proc/<pid>/status` figure in KiB (`VmRSS:` resident now, `VmHWM:` its peak).
fn proc_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
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
