//! Load tool: the promise under faults, at the marathon's scale.
//!
//!     cargo build --release --workspace
//!     ./target/release/load promise --fault none
//!     ./target/release/load promise --fault redis-restart
//!     ./target/release/load promise --fault kill-relay
//!     ./target/release/load promise --fault kill-other
//!     ./target/release/load promise --fault pg-terminate
//!     ./target/release/load promise --fault redis-latency
//!     ./target/release/load promise --fault none --email all
//!     ./target/release/load promise --fault redis-restart --email all
//!     ./target/release/load promise --fault none --email unreached --email-after-secs 20
//!     ./target/release/load promise --via haproxy --fault kill-other
//!     ./target/release/load promise --via haproxy --fault rolling-restart --fault-at-ms 1500
//!
//! Two release gateways on one PostgreSQL database, a Redis of the run's own and an SMTP
//! server of the run's own (tests/smtp/server.py, aiosmtpd on 127.0.0.1, journal only
//! unless --smtp-maildir); 18,000 runners registered for the race, every one with an email
//! address. The first --page-open of them have the page open: a phone (a `myNotifications`
//! subscriber that reconnects like the runner page: to the other instance first, with
//! `after` = the newest id it has, backing off with jitter, and acknowledges what it showed
//! with `acknowledgeNotifications(upTo)`); the last --push of them a Web Push subscription
//! at the mock push service (in this process; VAPID verified on every request, one body in
//! --decrypt-every decrypted). The defaults are the mix: 9,000 with the page open, 6,000
//! with push only, 3,000 with mail only; `--page-open 18000 --push 18000 --email none` is
//! the scenario before mail (every runner on both channels). Phones run in worker
//! processes of at most --per-worker (the open-file limit is 20,000 a process). The
//! organizer cancels the race on instance a with `email: --email`; --fault-at-ms after the
//! answer, the fault strikes. Prints who heard within 1 s, 5 s and eventually, the pushes
//! within 5 s and eventually, duplicates, the mails the SMTP server accepted (when, twice
//! or not, who was neither acknowledged nor mailed by the deadline), the gateway's reach
//! report, the fault's timeline, and this machine's floor timed before the run (one push's
//! primitives, one WebSocket frame written and read on loopback). Exits 0 only if every phone was told, every push
//! delivered, every runner acknowledged or mailed by the deadline and nobody mailed twice.

use anyhow::anyhow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gateway_tests::promise::{self, Email, Fault, Phones, Plan, Via};

/// The promise under one fault.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The fault injected during the fan-out.
    #[arg(long, value_enum, default_value = "none")]
    fault: Fault,
    /// How phones and the organizer reach the instances: straight, or through Debian's
    /// HAProxy with deploy/haproxy.cfg (one balancer per 9,000 phones).
    #[arg(long, value_enum, default_value = "direct")]
    via: Via,
    /// Registered runners, every one with an email address.
    #[arg(long, default_value_t = 18_000)]
    runners: usize,
    /// Runners with the page open (the first ones), each a phone; at most --runners.
    #[arg(long, default_value_t = 9_000)]
    page_open: usize,
    /// Runners with a Web Push subscription (the last ones); at most --runners.
    #[arg(long, default_value_t = 6_000)]
    push: usize,
    /// The cancellation's email policy.
    #[arg(long, value_enum, default_value = "none")]
    email: Email,
    /// ALERT_EMAIL_AFTER_SECS of the gateways: how long UNREACHED waits for an
    /// acknowledgement before mailing.
    #[arg(long, default_value_t = 20)]
    email_after_secs: u64,
    /// The mail promise: every runner acknowledged or mailed within the escalation
    /// window (unreached) plus this, in s.
    #[arg(long, default_value_t = 60)]
    mail_within_secs: u64,
    /// The phones do not acknowledge what they show (the page does; this measures the
    /// scenario without it).
    #[arg(long)]
    no_acknowledge: bool,
    /// A phone acknowledges what it showed after a random wait below this, in ms (0: at
    /// once, as soon as it has it).
    #[arg(long, default_value_t = 0)]
    ack_jitter_ms: u64,
    /// The SMTP server also writes every mail into a Maildir, one file each (as the tests'
    /// server does), instead of its journal only.
    #[arg(long)]
    smtp_maildir: bool,
    /// More environment for both gateways, KEY=VALUE (e.g. MAIL_CONCURRENCY=32); may repeat.
    #[arg(long = "gateway-env", value_parser = key_value)]
    gateway_env: Vec<(String, String)>,
    /// When the fault strikes, in ms after the cancellation's answer (rolling-restart: when
    /// the organizer cancels, in ms after the second instance was told to stop).
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

/// `--gateway-env KEY=VALUE`, split at the first `=`.
fn key_value(text: &str) -> anyhow::Result<(String, String)> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| anyhow!("{text:?} is not KEY=VALUE"))
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.page_open > args.runners || args.push > args.runners {
        return Err(anyhow!("--page-open and --push are at most --runners"));
    }
    let mut gateway_env = vec![("RUST_LOG".to_owned(), "error".to_owned())];
    gateway_env.extend(args.gateway_env);
    let plan = Plan {
        runners: args.runners,
        page_open: args.page_open,
        push: args.push,
        email: args.email,
        escalate_after: Duration::from_secs(args.email_after_secs),
        mail_within: Duration::from_secs(args.mail_within_secs),
        smtp_maildir: args.smtp_maildir,
        acknowledge: !args.no_acknowledge,
        ack_jitter: Duration::from_millis(args.ack_jitter_ms),
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
        gateway_env,
        via: args.via,
    };
    // Timed first, with nothing else running: the figures below are read against it.
    let floor = crate::machine_floor::measure()?;
    let (frames, pushes) = (plan.page_open, plan.push);
    let report = promise::run(plan).await?;
    report.print();
    println!("{}", floor.describe(frames, pushes));
    println!("{}", serde_json::to_string(&report)?);
    println!(
        "{}",
        serde_json::json!({ "floor": { "push_us": floor.push_us, "frame_us": floor.frame_us, "sockets": floor.sockets } })
    );
    if report.kept() {
        Ok(())
    } else {
        Err(anyhow!("the promise was broken"))
    }
}

/// One process of phones (started by `load promise`, not by hand): subscribes them, says
/// `SUBSCRIBED n`, then `TOLD n` as phones hear and `ACKED n` as they acknowledge, runs
/// until a line arrives on standard input, then prints what each heard as JSON.
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
    /// Acknowledge what is shown, as the page does.
    #[arg(long)]
    acknowledge: bool,
    /// Wait a random time below this before each acknowledgement, in ms.
    #[arg(long, default_value_t = 0)]
    ack_jitter_ms: u64,
}

pub async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (subscribed, count) = tokio::sync::oneshot::channel();
    let told = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(AtomicUsize::new(0));
    let fleet = promise::runner::Fleet {
        acknowledge: args.acknowledge.then(|| {
            promise::runner::Acknowledge::new(
                &args.urls,
                acked.clone(),
                Duration::from_millis(args.ack_jitter_ms),
            )
        }),
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
    // How many phones have heard and acknowledged, as it changes (the tool waits for
    // all of them).
    tokio::spawn(async move {
        let (mut said_told, mut said_acked) = (0, 0);
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = told.load(Ordering::Relaxed);
            if now != said_told {
                said_told = now;
                println!("TOLD {now}");
            }
            let now = acked.load(Ordering::Relaxed);
            if now != said_acked {
                said_acked = now;
                println!("ACKED {now}");
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
