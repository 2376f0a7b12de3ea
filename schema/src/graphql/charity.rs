//! Charity over GraphQL: the projects, what they raised, the yearly summary, and the
//! organizer's CRUD and direct donations.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entities::account::Role as AccountRole;
use entities::{charity_project, donation};

use super::accounts::Organization;
use super::guards::{RoleGuard, api, signed_in};
use super::ids::{parse_id, to_id};
use super::loaders::{OrganizationId, RaisedBy, loader};
use super::money::{Money, MoneyInput};
use crate::error::{Graphql, to_graphql};
use race_office::domain::{LongText, ShortText};
use race_office::error::ApiError;
use race_office::services::charity::{
    self as service, BENEFICIARY_MAX, CITY_MAX, DESCRIPTION_MAX, DONOR_NAME_MAX, ProjectInput,
    REPORT_MAX,
};

/// Where a charity project stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entities::charity_project::CharityStatus")]
pub enum CharityStatus {
    /// Announced; raising money.
    Planned,
    /// Under way.
    InProgress,
    /// Done; `report` says what was achieved.
    Completed,
}

/// Where a donation came from.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entities::donation::DonationSource")]
pub enum DonationSource {
    /// The donated share of a runner's fee.
    FeeShare,
    /// A gift recorded by an organizer.
    Direct,
}

pub struct CharityProject(pub charity_project::Model);

/// A charity project of the organizer's programme (a school's running track, a
/// children's hospital ward), funded by donated fee shares and direct gifts. Public.
#[Object]
impl CharityProject {
    /// The project's opaque id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// Who it helps, one line.
    async fn beneficiary(&self) -> &str {
        &self.0.beneficiary
    }

    /// What it does, plain text that may run over lines (empty when none).
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// The city it is in.
    async fn city(&self) -> &str {
        &self.0.city
    }

    /// The programme year it belongs to.
    async fn year(&self) -> i32 {
        self.0.year
    }

    /// Where it stands.
    async fn status(&self) -> CharityStatus {
        self.0.status.into()
    }

    /// What was achieved, plain text; null until written.
    async fn report(&self) -> Option<&str> {
        self.0.report.as_deref()
    }

    /// The money it aims to raise.
    async fn target(&self) -> Money {
        Money::from_minor(self.0.target_minor, &self.0.currency)
    }

    /// The sum of its donations.
    async fn raised(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        let raised = loader(ctx)?
            .load_one(RaisedBy(self.0.id))
            .await?
            .unwrap_or(0);
        Ok(Money::from_total(raised, &self.0.currency))
    }

    /// The event whose programme funds it; null for a project of no event.
    async fn event_id(&self) -> Option<ID> {
        self.0.event_id.map(to_id)
    }

    /// The organization that runs it: only its organizers change it or record gifts to it.
    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Organization> {
        loader(ctx)?
            .load_one(OrganizationId(self.0.organization_id))
            .await?
            .map(Organization)
            .ok_or_else(|| to_graphql(ApiError::NotFound("organization")))
    }
}

pub struct Donation(pub donation::Model);

/// Money given to the charity programme: a runner's donated fee share, or a gift an
/// organizer recorded.
#[Object]
impl Donation {
    /// The donation's opaque id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// A fee share or a direct gift.
    async fn source(&self) -> DonationSource {
        self.0.source.into()
    }

    /// How much, in the fee's or gift's currency.
    async fn amount(&self) -> Money {
        Money::from_minor(self.0.amount_minor, &self.0.currency)
    }

    /// The `CharityProject.id` it went to (a fee share is allocated to one of the
    /// event's projects); null when it was allocated to none.
    async fn project_id(&self) -> Option<ID> {
        self.0.project_id.map(to_id)
    }

    /// When it was recorded.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A year of the charity programme.
#[derive(SimpleObject)]
pub struct CharitySummary {
    /// The year summed up.
    year: i32,
    /// The year's projects (at most 100).
    #[graphql(
        complexity = "super::bounds::list(super::bounds::CHARITY_PROJECTS, child_complexity)"
    )]
    projects: Vec<CharityProject>,
    /// Raised by the year's projects, one entry per currency.
    #[graphql(complexity = "super::bounds::list(super::bounds::CURRENCIES, child_complexity)")]
    total_raised: Vec<Money>,
    /// Their targets, one entry per currency.
    #[graphql(complexity = "super::bounds::list(super::bounds::CURRENCIES, child_complexity)")]
    total_target: Vec<Money>,
    /// Projects of this year and every year before.
    projects_to_date: i32,
    /// Years with at least one project, up to this one.
    years_to_date: i32,
}

/// A charity project's fields, given whole on creation and on every change.
#[derive(InputObject)]
pub struct CharityProjectInput {
    /// The event whose programme funds it (donated fee shares flow to its projects).
    event_id: Option<ID>,
    /// Who it helps: one line, 1 to 300 characters.
    beneficiary: String,
    /// What it does: at most 10,000 characters, may run over lines.
    #[graphql(default)]
    description: String,
    /// The city it is in: one line, 1 to 100 characters.
    city: String,
    /// The programme year, 1990 to 2100.
    year: i32,
    /// The money it aims to raise, at most 10^15 minor units.
    target: MoneyInput,
    /// Where it stands (PLANNED unless given).
    #[graphql(default_with = "CharityStatus::Planned")]
    status: CharityStatus,
    /// What was achieved: at most 50,000 characters.
    report: Option<String>,
}

impl CharityProjectInput {
    fn parse(self) -> async_graphql::Result<ProjectInput> {
        Ok(ProjectInput {
            event_id: self
                .event_id
                .as_ref()
                .map(|id| parse_id(id, "event"))
                .transpose()
                .graphql()?,
            beneficiary: ShortText::parse("beneficiary", &self.beneficiary, BENEFICIARY_MAX)
                .graphql()?,
            description: LongText::parse("description", &self.description, DESCRIPTION_MAX)
                .graphql()?,
            city: ShortText::parse("city", &self.city, CITY_MAX).graphql()?,
            year: self.year,
            target: self.target.parse().graphql()?,
            status: self.status.into(),
            report: self
                .report
                .as_deref()
                .map(|report| LongText::parse("report", report, REPORT_MAX))
                .transpose()
                .graphql()?,
        })
    }
}

#[derive(Default)]
pub struct CharityQuery;

#[Object]
impl CharityQuery {
    /// Charity projects of a year, or of every year (at most 100).
    #[graphql(
        complexity = "super::bounds::list(super::bounds::CHARITY_PROJECTS, child_complexity)"
    )]
    async fn charity_projects(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The programme year; left out, every year (oldest first).")] year: Option<
            i32,
        >,
    ) -> async_graphql::Result<Vec<CharityProject>> {
        let projects = service::projects(&api(ctx).graphql()?.db, year)
            .await
            .graphql()?;
        Ok(
            super::bounds::first(projects, super::bounds::CHARITY_PROJECTS)
                .into_iter()
                .map(CharityProject)
                .collect(),
        )
    }

    /// Raised against target per project and in total for a year, and the history to date.
    async fn charity_summary(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The programme year, e.g. 2020.")] year: i32,
    ) -> async_graphql::Result<CharitySummary> {
        let summary = service::summary(&api(ctx).graphql()?.db, year)
            .await
            .graphql()?;
        let total = |pick: fn(&(i128, i128)) -> i128| {
            summary
                .totals
                .iter()
                .map(|(currency, t)| Money::from_total(pick(t), currency))
                .collect::<Vec<_>>()
        };
        Ok(CharitySummary {
            year,
            total_raised: total(|t| t.0),
            total_target: total(|t| t.1),
            projects: summary
                .projects
                .into_iter()
                .take(super::bounds::CHARITY_PROJECTS)
                .map(|(p, _)| CharityProject(p))
                .collect(),
            projects_to_date: summary.projects_to_date as i32,
            years_to_date: summary.years_to_date as i32,
        })
    }
}

#[derive(Default)]
pub struct CharityMutation;

#[Object]
impl CharityMutation {
    /// Creates a project run by your organization; with `eventId`, of an event it
    /// organizes. Amounts: at most 10^15 minor units. Errors: FORBIDDEN (not an
    /// organizer, or another's event), BAD_USER_INPUT (a field out of bounds).
    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn create_charity_project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project's fields.")] input: CharityProjectInput,
    ) -> async_graphql::Result<CharityProject> {
        let api = api(ctx).graphql()?;
        let created = service::create_project(
            &api.db,
            api.clock.now(),
            signed_in(ctx).graphql()?,
            input.parse()?,
        )
        .await
        .graphql()?;
        Ok(CharityProject(created))
    }

    /// Changes a project your organization runs (FORBIDDEN for another's).
    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn update_charity_project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A `CharityProject.id`.")] id: ID,
        #[graphql(desc = "All its fields, as they are to be.")] input: CharityProjectInput,
    ) -> async_graphql::Result<CharityProject> {
        let id = parse_id(&id, "charity project").graphql()?;
        let updated = service::update_project(
            &api(ctx).graphql()?.db,
            signed_in(ctx).graphql()?,
            id,
            input.parse()?,
        )
        .await
        .graphql()?;
        Ok(CharityProject(updated))
    }

    /// Records a gift made directly to a project your organization runs (FORBIDDEN for
    /// another's). The amount is at most 10^15 minor units; the donor's name one line of
    /// at most 200 characters.
    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn record_donation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A `CharityProject.id` your organization runs.")] project_id: ID,
        #[graphql(desc = "The gift, more than zero, in the project's currency.")]
        amount: MoneyInput,
        #[graphql(desc = "Who gave it, one line of at most 200 characters; left out: anonymous.")]
        donor_name: Option<String>,
    ) -> async_graphql::Result<Donation> {
        let api = api(ctx).graphql()?;
        let amount = amount.parse().graphql()?;
        let donor_name =
            ShortText::optional("donorName", donor_name.as_deref(), DONOR_NAME_MAX).graphql()?;
        let id = parse_id(&project_id, "charity project").graphql()?;
        let created = service::record_direct_donation(
            &api.db,
            api.clock.now(),
            signed_in(ctx).graphql()?,
            id,
            amount,
            donor_name,
        )
        .await
        .graphql()?;
        Ok(Donation(created))
    }
}
