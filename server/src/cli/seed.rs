//! `gateway seed --demo` and `gateway seed --runners N [--event SLUG]`.

use anyhow::{Context, bail};
use sea_orm::DatabaseConnection;

use super::service_error;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The 2020 demo data (idempotent).
    #[arg(long)]
    demo: bool,
    /// How many synthetic runners to add.
    #[arg(long)]
    runners: Option<u64>,
    /// The event they register for (default: the synthetic race).
    #[arg(long, requires = "runners")]
    event: Option<String>,
}

pub async fn run(db: &DatabaseConnection, args: Args) -> anyhow::Result<()> {
    if !args.demo && args.runners.is_none() {
        bail!("say what to seed: --demo and/or --runners N");
    }
    if args.demo {
        let report = race_office::services::demo::seed_demo(db)
            .await
            .map_err(service_error)
            .context("seeding the demo data")?;
        println!(
            "organizations created: {}, events created: {}, charity projects created: {}",
            report.organizations_created, report.events_created, report.charity_projects_created
        );
    }
    if let Some(count) = args.runners {
        let started = std::time::Instant::now();
        let report = race_office::services::synthetic::seed_runners(
            db,
            chrono::Utc::now(),
            count,
            args.event.as_deref(),
        )
        .await
        .map_err(service_error)
        .context("seeding synthetic runners")?;
        println!(
            "synthetic runners added to {}: {}, refund requests: {}, donations: {} in {:.1} s",
            report.event_slug,
            report.runners,
            report.refund_requests,
            report.donations,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
