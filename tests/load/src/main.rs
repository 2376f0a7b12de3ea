//! `load`: the gateway's load tools, one subcommand each. Each starts the release
//! `gateway` (built beside this binary) on a scratch PostgreSQL database and prints what it
//! measured; the README's benchmark figures come from these.
//!
//!     cargo build --release --workspace
//!     ./target/release/load rush | fanout | push-fanout | partner-stats | promise | cost | herd | spa [--help]

mod cost;
mod fanout;
mod herd;
mod machine_floor;
mod partner_stats;
mod promise;
mod push_fanout;
mod rush;
mod spa;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "load",
    about = "Load tools for the race-day gateway (release builds)"
)]
struct Cli {
    #[command(subcommand)]
    command: Tool,
}

#[derive(Subcommand, Debug)]
enum Tool {
    /// A registration-opening rush: 18,000 places, more runners than places.
    Rush(rush::Args),
    /// One cancellation to many WebSocket subscribers, on one or more instances.
    Fanout(fanout::Args),
    /// A client process of `fanout` (started by it).
    #[command(hide = true)]
    FanoutWorker(fanout::WorkerArgs),
    /// One cancellation to the whole field by Web Push, against the mock push service.
    PushFanout(push_fanout::Args),
    /// Partner statistics over many runners, against the naive GROUP BY.
    PartnerStats(partner_stats::Args),
    /// The promise under one fault: 18,000 runners told by WebSocket, Web Push and mail.
    Promise(promise::Args),
    /// What hostile documents still cost: the deepest query allowed, and one change heard by
    /// 300 alias-distinct subscriptions.
    Cost(cost::Args),
    /// The herd of page loads right after a cancellation, against the response cache.
    Herd(herd::Args),
    /// The runner page's race list beside PostGraphile 4.14 on the same database.
    Spa(spa::Args),
    /// Phones of a `promise` run (started by it).
    #[command(hide = true)]
    PromiseWorker(promise::WorkerArgs),
}

/// The PostgreSQL server on which each tool creates (and drops) its scratch database.
#[derive(clap::Args, Debug)]
pub struct Postgres {
    /// PostgreSQL server URL, without a database name.
    #[arg(
        long = "postgres",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    pub url: String,
}

/// Percentile of sorted durations, in milliseconds.
pub fn percentile_ms(sorted: &[std::time::Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Tool::Rush(args) => rush::run(args).await,
        Tool::Fanout(args) => fanout::run(args).await,
        Tool::FanoutWorker(args) => fanout::worker(args).await,
        Tool::PushFanout(args) => push_fanout::run(args).await,
        Tool::PartnerStats(args) => partner_stats::run(args).await,
        Tool::Promise(args) => promise::run(args).await,
        Tool::Cost(args) => cost::run(args).await,
        Tool::Herd(args) => herd::run(args).await,
        Tool::Spa(args) => spa::run(args).await,
        Tool::PromiseWorker(args) => promise::worker(args).await,
    }
}
