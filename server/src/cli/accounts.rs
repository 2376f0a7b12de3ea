//! `gateway accounts create`: an organizer, partner or runner account, the password read
//! from standard input (never from the command line, where `ps` would show it).

use anyhow::{Context, anyhow, bail};
use clap::ValueEnum;
use race_office::domain::{DisplayName, Email, OrganizationKind, Password, Role};
use race_office::services::{accounts, organizations};
use sea_orm::DatabaseConnection;

use super::service_error;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
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

pub async fn run(db: &DatabaseConnection, command: Command) -> anyhow::Result<()> {
    let Command::Create {
        role,
        email,
        organization,
        display_name,
    } = command;
    let password = read_password()?;
    let email = Email::parse(&email).map_err(service_error)?;
    let display_name = display_name.unwrap_or_else(|| {
        email
            .as_str()
            .split('@')
            .next()
            .unwrap_or_default()
            .to_owned()
    });
    let organization_id = match organization {
        Some(slug) => {
            let organization = organizations::find_by_slug(db, &slug)
                .await
                .map_err(service_error)?
                .ok_or_else(|| {
                    anyhow!("no organization with slug {slug} (gateway organizations create)")
                })?;
            // An organizer of a sponsor could create events as the sponsor, and a partner
            // account of an organizer would read nothing: refuse both here.
            let fits = matches!(
                (role, organization.kind),
                (RoleArg::Organizer, OrganizationKind::Organizer)
                    | (RoleArg::Partner, OrganizationKind::Partner)
                    | (RoleArg::Runner, _)
            );
            if !fits {
                bail!("{slug} is an organization of kind {:?}", organization.kind);
            }
            Some(organization.id)
        }
        None => None,
    };
    let account = accounts::create_account(
        db,
        chrono::Utc::now(),
        accounts::NewAccount {
            email,
            password: Password::parse(&password).map_err(service_error)?,
            display_name: DisplayName::parse(&display_name).map_err(service_error)?,
            role: role.into(),
            organization_id,
        },
    )
    .await
    .map_err(service_error)
    .context("creating the account")?;
    println!(
        "account {} created: {} ({:?})",
        account.id, account.email, account.role
    );
    Ok(())
}

/// The first line of standard input, without its line ending.
fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
