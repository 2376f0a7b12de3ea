//! Load tool: the promise under faults, at the marathon's scale.
//!
//!     cargo build --release --workspace
//!     ./target/release/load promise --fault none
//!     ./target/release/load promise --fault redis-restart
//!     ./target/release/load promise --fault kill-relay
//!     ./target/release/load promise --fault kill-other
//!     ./target/release/load promise --fault pg-terminate
//!     ./target/release/load promise --fault redis-latency
//!
//! Two release gateways on one PostgreSQL database and a Redis of the run's own; 18,000
//! runners registered for the race, each with a phone (a `myNotifications` subscriber
//! that reconnects like the runner page: to the other instance first, with `after` = the
//! newest id it has, backing off with jitter) and a Web Push subscription at the mock push
//! service (in this process; VAPID verified on every request, one body in
//! --decrypt-every decrypted). Phones run in worker processes of at most --per-worker (the
//! open-file limit is 20,000 a process). The organizer cancels the race on instance a;
//! --fault-at-ms after the answer, the fault strikes. Prints who heard within 1 s, 5 s and
//! eventually, the pushes within 5 s and eventually, duplicates, and the fault's
//! timeline. Exits 0 only if every runner was told and every push delivered.

use anyhow::anyhow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gateway_tests::promise::{self, Fault, Phones, Plan};

/// The promise under one fault.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The fault injected during the fan-out.
    #[arg(long, value_enum, default_value = "none")]
    fault: Fault,
    /// Runners (each with a phone and a browser).
    #[arg(long, default_value_t = 18_000)]
    runners: usize,
    /// When the fault strikes, in ms after the cancellation's answer.
    #[arg(long, default_value_t = 50)]
    fault_at_ms: u64,
    /// How long Redis stays down (redis-restart) or the delay added (redis-latency), in ms.
    #[arg(long, default_value_t = 1500)]
    fault_for_ms: u64,
    /// How long to wait for everyone, in s.
    #[arg(long, default_value_t = 60)]
    window_secs: u64,
    /// Phones per worker process.
    #[arg(long, default_value_t = 9_000)]
    per_worker: usize,
    /// The mock push service decrypts one message in this many.
    #[arg(long, default_value_t = 50)]
    decrypt_every: u64,
    #[command(flatten)]
    postgres: crate::Postgres,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let plan = Plan {
        runners: args.runners,
        fault: args.fault,
        fault_at: Duration::from_millis(args.fault_at_ms),
        fault_for: Duration::from_millis(args.fault_for_ms),
        window: Duration::from_secs(args.window_secs),
        postgres: args.postgres.url,
        decrypt_every: args.decrypt_every,
        database: "gw_promise".into(),
        phones: Phones::Workers {
            per_worker: args.per_worker,
            exe: std::env::current_exe()?,
        },
        gateway_env: vec![("RUST_LOG".into(), "error".into())],
    };
    let report = promise::run(plan).await?;
    report.print();
    println!("{}", serde_json::to_string(&report)?);
    if report.kept() {
        Ok(())
    } else {
        Err(anyhow!("the promise was broken"))
    }
}

/// One process of phones (started by `load promise`, not by hand): subscribes them, says
/// `SUBSCRIBED n`, then `TOLD n` as phones hear, runs until a line arrives on standard
/// input, then prints what each heard as JSON.
#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// The instances' WebSocket URLs, comma-separated.
    #[arg(long, value_delimiter = ',')]
    urls: Vec<String>,
    /// The runners' token prefix.
    #[arg(long)]
    prefix: String,
    /// The first runner's index.
    #[arg(long)]
    first: usize,
    /// Runners in this process.
    #[arg(long)]
    count: usize,
    /// The notifications cursor to subscribe after.
    #[arg(long)]
    cursor: i64,
}

pub async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (subscribed, count) = tokio::sync::oneshot::channel();
    let told = Arc::new(AtomicUsize::new(0));
    let fleet = promise::runner::Fleet {
        urls: args.urls,
        prefix: args.prefix,
        first: args.first,
        count: args.count,
        cursor: args.cursor,
    };
    let phones = tokio::spawn(promise::runner::run_phones(
        fleet,
        subscribed,
        told.clone(),
        stopped,
    ));
    let count = count.await?;
    println!("SUBSCRIBED {count}");
    // How many phones have heard, as it changes (the tool waits for all of them).
    tokio::spawn(async move {
        let mut said = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = told.load(Ordering::Relaxed);
            if now != said {
                said = now;
                println!("TOLD {now}");
            }
        }
    });
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)
    })
    .await;
    let _ = stop.send(true);
    let heard = phones.await?;
    println!("{}", serde_json::to_string(&heard)?);
    Ok(())
}
