//! The command line: `serve` (the default) and the operator's commands, one module each.

mod accounts;
mod organizations;
mod seed;
mod stats;
mod vapid;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::database;
use crate::settings::Settings;
use crate::startup::{Application, shutdown_signal};

#[derive(Parser, Debug)]
#[command(
    name = "gateway",
    version,
    about = "GraphQL gateway and alert hub for race organizers"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve GraphQL (the default).
    Serve,
    /// Apply database migrations.
    Migrate,
    /// Add data: `--demo` seeds the Almaty Marathon 2020 story (idempotent);
    /// `--runners N` adds N synthetic runners (deterministic per index).
    Seed(seed::Args),
    /// Print the GraphQL SDL.
    ExportSchema,
    /// Manage accounts.
    #[command(subcommand)]
    Accounts(accounts::Command),
    /// Manage organizations: organizers of races and their partners.
    #[command(subcommand)]
    Organizations(organizations::Command),
    /// Participation statistics.
    #[command(subcommand)]
    Stats(stats::Command),
    /// Web Push keys.
    #[command(subcommand)]
    Vapid(vapid::Command),
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = cli.settings;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            Application::build(settings)
                .await?
                .run_until_stopped(shutdown_signal())
                .await
        }
        Command::Migrate => {
            connect(&settings).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Seed(args) => seed::run(&connect(&settings).await?, args).await,
        Command::ExportSchema => {
            print!("{}", schema::sdl());
            Ok(())
        }
        Command::Accounts(command) => accounts::run(&connect(&settings).await?, command).await,
        Command::Organizations(command) => {
            organizations::run(&connect(&settings).await?, command).await
        }
        Command::Stats(command) => stats::run(&connect(&settings).await?, command).await,
        Command::Vapid(command) => vapid::run(command),
    }
}

/// A small pool for a one-off command, with the migrations applied.
async fn connect(settings: &Settings) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let db = database::connect(&settings.database.url(), 2, database::Ping::Always)
        .await
        .context("connecting to the database")?;
    database::migrate(&db)
        .await
        .context("migrating the database")?;
    Ok(db)
}

/// An error from the race office, for the operator: a refusal's code and message, or an
/// internal failure with its cause.
fn service_error(error: race_office::ApiError) -> anyhow::Error {
    error.into_anyhow()
}
