//! `gateway organizations create` and `gateway organizations link`: the organizations a
//! deployment starts from (no mutation creates one), and the partners of its events.

use anyhow::Context;
use clap::ValueEnum;
use race_office::domain::{OrganizationKind, Slug};
use race_office::services::{events, organizations};
use sea_orm::DatabaseConnection;

use super::service_error;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create an organization: an organizer of races (the default) or a partner (sponsor).
    Create {
        /// Short name used in links and commands, e.g. `courage-to-be-the-first`.
        #[arg(long)]
        slug: String,
        /// Name shown to runners.
        #[arg(long)]
        name: String,
        #[arg(long, value_enum, default_value = "organizer")]
        kind: KindArg,
    },
    /// Make a partner organization a partner (sponsor) of an event.
    Link {
        /// The event's slug.
        #[arg(long)]
        event: String,
        /// The partner organization's slug.
        #[arg(long)]
        partner: String,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum KindArg {
    Organizer,
    Partner,
}

impl From<KindArg> for OrganizationKind {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::Organizer => OrganizationKind::Organizer,
            KindArg::Partner => OrganizationKind::Partner,
        }
    }
}

pub async fn run(db: &DatabaseConnection, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Create { slug, name, kind } => {
            let slug = Slug::parse(&slug).map_err(service_error)?;
            let created = organizations::create(db, chrono::Utc::now(), slug, &name, kind.into())
                .await
                .map_err(service_error)
                .context("creating the organization")?;
            println!(
                "organization {} created: {} ({:?})",
                created.id, created.slug, created.kind
            );
        }
        Command::Link { event, partner } => {
            let event = Slug::parse(&event).map_err(service_error)?;
            let partner = Slug::parse(&partner).map_err(service_error)?;
            let (event, partner) = events::link_partner_by_slugs(db, &event, &partner)
                .await
                .map_err(service_error)
                .context("linking the partner")?;
            println!("{} now partners {}", partner.slug, event.slug);
        }
    }
    Ok(())
}
