//! The command line: `serve` (the default), `migrate`, `seed --demo`, `export-schema`,
//! `accounts create`, `stats rebuild`, `vapid generate`.

use clap::{Parser, Subcommand, ValueEnum};
use entities::account::Role;
use schema::domain::{DisplayName, Email, Password};
use schema::services::{accounts, organizations};

use crate::config::Settings;
use crate::database;
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
    Seed {
        #[arg(long)]
        demo: bool,
        /// How many synthetic runners to add.
        #[arg(long)]
        runners: Option<u64>,
        /// The event they register for (default: the synthetic race).
        #[arg(long, requires = "runners")]
        event: Option<String>,
    },
    /// Print the GraphQL SDL.
    ExportSchema,
    /// Manage accounts.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Participation statistics.
    #[command(subcommand)]
    Stats(StatsCommand),
    /// Web Push keys.
    #[command(subcommand)]
    Vapid(VapidCommand),
}

#[derive(Subcommand, Debug)]
pub enum StatsCommand {
    /// Recompute the participation counters from the registrations.
    Rebuild {
        /// Only this event (default: every event).
        #[arg(long)]
        event: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum VapidCommand {
    /// Print a new VAPID key pair, as the VAPID_PRIVATE_KEY setting and its public key.
    Generate,
}

#[derive(Subcommand, Debug)]
pub enum AccountsCommand {
    /// Create an account; the password is read from standard input.
    Create {
        #[arg(long, value_enum)]
        role: RoleArg,
        #[arg(long)]
        email: String,
        /// Slug of the organization an organizer or partner acts for.
        #[arg(long)]
        organization: Option<String>,
        /// Name shown to others (default: the part of the email before `@`).
        #[arg(long)]
        display_name: Option<String>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum RoleArg {
    Organizer,
    Partner,
    Runner,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Organizer => Role::Organizer,
            RoleArg::Partner => Role::Partner,
            RoleArg::Runner => Role::Runner,
        }
    }
}

pub async fn run(cli: Cli) -> Result<(), String> {
    let settings = cli.settings;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            Application::build(settings)
                .await?
                .run_until_stopped(shutdown_signal())
                .await
        }
        Command::Migrate => {
            let db = connect(&settings).await?;
            tracing::info!("migrations applied");
            drop(db);
            Ok(())
        }
        Command::Seed {
            demo,
            runners,
            event,
        } => {
            if !demo && runners.is_none() {
                return Err("say what to seed: --demo and/or --runners N".into());
            }
            let db = connect(&settings).await?;
            if demo {
                let report = schema::services::demo::seed_demo(&db)
                    .await
                    .map_err(|e| e.message())?;
                println!(
                    "organizations created: {}, events created: {}, charity projects created: {}",
                    report.organizations_created,
                    report.events_created,
                    report.charity_projects_created
                );
            }
            if let Some(count) = runners {
                let started = std::time::Instant::now();
                let report = schema::services::synthetic::seed_runners(
                    &db,
                    chrono::Utc::now(),
                    count,
                    event.as_deref(),
                )
                .await
                .map_err(|e| e.message())?;
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
        Command::Stats(StatsCommand::Rebuild { event }) => {
            let db = connect(&settings).await?;
            let started = std::time::Instant::now();
            let rebuilt = schema::services::stats::rebuild(&db, event.as_deref())
                .await
                .map_err(|e| e.message())?;
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
        Command::ExportSchema => {
            print!("{}", schema::sdl());
            Ok(())
        }
        Command::Vapid(VapidCommand::Generate) => {
            use secrecy::ExposeSecret;
            // Standard output only, for the operator to put in a secret store; never logged.
            let (private, public) = crate::push::vapid::generate()?;
            println!("VAPID_PRIVATE_KEY={}", private.expose_secret());
            println!("# public key (webPushPublicKey): {public}");
            Ok(())
        }
        Command::Accounts(AccountsCommand::Create {
            role,
            email,
            organization,
            display_name,
        }) => {
            let db = connect(&settings).await?;
            let password = read_password().await?;
            let email = Email::parse(&email).map_err(|e| e.message())?;
            let display_name = display_name.unwrap_or_else(|| {
                email
                    .as_str()
                    .split('@')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            });
            let organization_id = match organization {
                Some(slug) => Some(
                    organizations::find_by_slug(&db, &slug)
                        .await
                        .map_err(|e| e.message())?
                        .ok_or_else(|| format!("no organization with slug {slug}"))?
                        .id,
                ),
                None => None,
            };
            let account = accounts::create_account(
                &db,
                chrono::Utc::now(),
                accounts::NewAccount {
                    email,
                    password: Password::parse(&password).map_err(|e| e.message())?,
                    display_name: DisplayName::parse(&display_name).map_err(|e| e.message())?,
                    role: role.into(),
                    organization_id,
                },
            )
            .await
            .map_err(|e| e.message())?;
            println!(
                "account {} created: {} ({:?})",
                account.id, account.email, account.role
            );
            Ok(())
        }
    }
}

async fn connect(settings: &Settings) -> Result<sea_orm::DatabaseConnection, String> {
    let db = database::connect(&settings.database_url(), 2)
        .await
        .map_err(|e| format!("connecting to the database: {e}"))?;
    database::migrate(&db)
        .await
        .map_err(|e| format!("migrating: {e}"))?;
    Ok(db)
}

/// The first line of standard input, without its line ending (a CLI may block here).
async fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("reading the password from standard input: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
