//! `gateway stats rebuild [--event SLUG]`: recount the participation counters.

use anyhow::Context;
use sea_orm::DatabaseConnection;

use super::service_error;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Recompute the participation counters from the registrations.
    Rebuild {
        /// Only this event (default: every event).
        #[arg(long)]
        event: Option<String>,
    },
}

pub async fn run(db: &DatabaseConnection, command: Command) -> anyhow::Result<()> {
    let Command::Rebuild { event } = command;
    let started = std::time::Instant::now();
    let rebuilt = race_office::services::stats::rebuild(db, event.as_deref())
        .await
        .map_err(service_error)
        .context("rebuilding the participation counters")?;
    for (slug, registrations) in &rebuilt {
        println!("{slug}: {registrations} registrations counted");
    }
    println!(
        "participation counters rebuilt for {} events in {:.1} s",
        rebuilt.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
