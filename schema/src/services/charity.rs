//! Charity projects and donations.
//!
//! The allocation rule: a donation to an event's programme (a donated fee share) goes
//! whole to that event's project with the largest shortfall (target minus raised) at the
//! moment, ties to the lower id (once every target is met, that is the least over-funded
//! project). Money is never split across projects, so every amount stays exact. With no
//! project in the programme the donation stays unallocated. Direct gifts name their project.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use entities::charity_project::CharityStatus;
use entities::donation::DonationSource;
use entities::{account, charity_project, donation};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::events::{acting_organization, find_organized};
use crate::domain::Money;
use crate::error::{ApiError, ApiResult};

/// A project's details, validated at the edge.
pub struct ProjectInput {
    pub event_id: Option<i64>,
    pub beneficiary: String,
    pub description: String,
    pub city: String,
    pub year: i32,
    pub target: Money,
    pub status: CharityStatus,
    pub report: Option<String>,
}

fn check_project(input: &ProjectInput) -> ApiResult<()> {
    let within = |value: &str, max: usize| !value.trim().is_empty() && value.chars().count() <= max;
    if !within(&input.beneficiary, 300) || !within(&input.city, 100) {
        return Err(ApiError::bad_input(
            "beneficiary and city must be 1 to 300 and 1 to 100 characters",
        ));
    }
    if input.description.chars().count() > 10_000
        || input
            .report
            .as_ref()
            .is_some_and(|r| r.chars().count() > 50_000)
    {
        return Err(ApiError::bad_input("description or report is too long"));
    }
    if !(1990..=2100).contains(&input.year) {
        return Err(ApiError::bad_input("year must be between 1990 and 2100"));
    }
    Ok(())
}

/// The actor may manage a project of this event (or, for a project of no event, any
/// organizer may).
async fn check_may_manage(
    db: &impl ConnectionTrait,
    actor: &account::Model,
    event_id: Option<i64>,
) -> ApiResult<()> {
    match event_id {
        Some(event_id) => find_organized(db, actor, event_id).await.map(|_| ()),
        None => acting_organization(actor).map(|_| ()),
    }
}

pub async fn create_project(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    actor: &account::Model,
    input: ProjectInput,
) -> ApiResult<charity_project::Model> {
    check_project(&input)?;
    check_may_manage(db, actor, input.event_id).await?;
    insert_project(db, now, input).await
}

/// Inserts a project (shared with the demo seed).
pub async fn insert_project(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    input: ProjectInput,
) -> ApiResult<charity_project::Model> {
    Ok(charity_project::ActiveModel {
        event_id: Set(input.event_id),
        beneficiary: Set(input.beneficiary.trim().to_owned()),
        description: Set(input.description),
        city: Set(input.city.trim().to_owned()),
        year: Set(input.year),
        target_minor: Set(input.target.minor),
        currency: Set(input.target.currency.code().to_owned()),
        status: Set(input.status),
        report: Set(input.report),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

pub async fn update_project(
    db: &DatabaseConnection,
    actor: &account::Model,
    project_id: i64,
    input: ProjectInput,
) -> ApiResult<charity_project::Model> {
    check_project(&input)?;
    let txn = super::begin_write(db).await?;
    let found = charity_project::Entity::find_by_id(project_id)
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound("charity project"))?;
    check_may_manage(&txn, actor, found.event_id).await?;
    check_may_manage(&txn, actor, input.event_id).await?;
    let mut active: charity_project::ActiveModel = found.into();
    active.event_id = Set(input.event_id);
    active.beneficiary = Set(input.beneficiary.trim().to_owned());
    active.description = Set(input.description);
    active.city = Set(input.city.trim().to_owned());
    active.year = Set(input.year);
    active.target_minor = Set(input.target.minor);
    active.currency = Set(input.target.currency.code().to_owned());
    active.status = Set(input.status);
    active.report = Set(input.report);
    let updated = active.update(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

#[derive(FromQueryResult)]
struct Raised {
    project_id: i64,
    raised: i64,
}

/// Money raised per project (sum of its donations), for the given projects.
pub async fn raised_by_project(
    db: &impl ConnectionTrait,
    project_ids: &[i64],
) -> ApiResult<HashMap<i64, i64>> {
    if project_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = donation::Entity::find()
        .select_only()
        .column(donation::Column::ProjectId)
        .column_as(
            Expr::col(donation::Column::AmountMinor)
                .sum()
                .cast_as("BIGINT"),
            "raised",
        )
        .filter(donation::Column::ProjectId.is_in(project_ids.iter().copied()))
        .group_by(donation::Column::ProjectId)
        .into_model::<Raised>()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|r| (r.project_id, r.raised)).collect())
}

/// Picks projects for programme donations by the allocation rule, keeping its own tally
/// so a batch of donations is allocated as if one at a time.
pub struct Allocator {
    /// (project id, currency, shortfall)
    projects: Vec<(i64, String, i64)>,
}

impl Allocator {
    pub async fn for_event(db: &impl ConnectionTrait, event_id: i64) -> ApiResult<Self> {
        let projects = charity_project::Entity::find()
            .filter(charity_project::Column::EventId.eq(event_id))
            .order_by_asc(charity_project::Column::Id)
            .all(db)
            .await?;
        let ids: Vec<i64> = projects.iter().map(|p| p.id).collect();
        let raised = raised_by_project(db, &ids).await?;
        Ok(Self {
            projects: projects
                .into_iter()
                .map(|p| {
                    let shortfall = p.target_minor - raised.get(&p.id).copied().unwrap_or(0);
                    (p.id, p.currency, shortfall)
                })
                .collect(),
        })
    }

    /// The project for a donation of `amount` in `currency`, and the tally updated.
    pub fn allocate(&mut self, amount: i64, currency: &str) -> Option<i64> {
        let chosen = self
            .projects
            .iter_mut()
            .filter(|(_, c, _)| c == currency)
            // max_by_key keeps the last of equals: compare on (shortfall, -id) instead.
            .max_by_key(|(id, _, shortfall)| (*shortfall, -*id))?;
        chosen.2 -= amount;
        Some(chosen.0)
    }
}

/// A donation to record.
pub struct NewDonation {
    pub source: DonationSource,
    pub event_id: Option<i64>,
    pub project_id: Option<i64>,
    pub refund_request_id: Option<i64>,
    pub account_id: Option<i64>,
    pub donor_name: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
}

pub async fn insert_donations(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    donations: Vec<NewDonation>,
) -> ApiResult<()> {
    for chunk in donations.chunks(1000) {
        let rows = chunk.iter().map(|d| donation::ActiveModel {
            source: Set(d.source),
            event_id: Set(d.event_id),
            project_id: Set(d.project_id),
            refund_request_id: Set(d.refund_request_id),
            account_id: Set(d.account_id),
            donor_name: Set(d.donor_name.clone()),
            amount_minor: Set(d.amount_minor),
            currency: Set(d.currency.clone()),
            created_at: Set(now),
            ..Default::default()
        });
        donation::Entity::insert_many(rows).exec(db).await?;
    }
    Ok(())
}

/// An organizer records a gift made directly to a project.
pub async fn record_direct_donation(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    actor: &account::Model,
    project_id: i64,
    amount: Money,
    donor_name: Option<String>,
) -> ApiResult<donation::Model> {
    if amount.minor <= 0 {
        return Err(ApiError::bad_input("a donation must be more than zero"));
    }
    let txn = super::begin_write(db).await?;
    let project = charity_project::Entity::find_by_id(project_id)
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound("charity project"))?;
    check_may_manage(&txn, actor, project.event_id).await?;
    if project.currency != amount.currency.code() {
        return Err(ApiError::bad_input(format!(
            "this project collects {}",
            project.currency
        )));
    }
    let created = donation::ActiveModel {
        source: Set(DonationSource::Direct),
        event_id: Set(project.event_id),
        project_id: Set(Some(project.id)),
        refund_request_id: Set(None),
        account_id: Set(None),
        donor_name: Set(donor_name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())),
        amount_minor: Set(amount.minor),
        currency: Set(project.currency),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(created)
}

/// Projects of a year (or every year), oldest year first.
pub async fn projects(
    db: &impl ConnectionTrait,
    year: Option<i32>,
) -> ApiResult<Vec<charity_project::Model>> {
    let mut query = charity_project::Entity::find();
    if let Some(year) = year {
        query = query.filter(charity_project::Column::Year.eq(year));
    }
    Ok(query
        .order_by_asc(charity_project::Column::Year)
        .order_by_asc(charity_project::Column::Id)
        .all(db)
        .await?)
}

/// A year's projects with what they raised, totals per currency, and the history to date.
pub struct Summary {
    pub projects: Vec<(charity_project::Model, i64)>,
    /// currency -> (raised, target)
    pub totals: BTreeMap<String, (i64, i64)>,
    pub projects_to_date: i64,
    pub years_to_date: i64,
}

pub async fn summary(db: &impl ConnectionTrait, year: i32) -> ApiResult<Summary> {
    let of_year = projects(db, Some(year)).await?;
    let ids: Vec<i64> = of_year.iter().map(|p| p.id).collect();
    let raised = raised_by_project(db, &ids).await?;
    let mut totals: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let projects = of_year
        .into_iter()
        .map(|p| {
            let got = raised.get(&p.id).copied().unwrap_or(0);
            let total = totals.entry(p.currency.clone()).or_default();
            total.0 += got;
            total.1 += p.target_minor;
            (p, got)
        })
        .collect();
    let to_date: Vec<i32> = charity_project::Entity::find()
        .select_only()
        .column(charity_project::Column::Year)
        .filter(charity_project::Column::Year.lte(year))
        .into_tuple()
        .all(db)
        .await?;
    let years: std::collections::BTreeSet<i32> = to_date.iter().copied().collect();
    Ok(Summary {
        projects,
        totals,
        projects_to_date: to_date.len() as i64,
        years_to_date: years.len() as i64,
    })
}

/// A runner's own donations (their donated fee shares), newest first.
pub async fn of_runner(
    db: &impl ConnectionTrait,
    account_id: i64,
) -> ApiResult<Vec<donation::Model>> {
    Ok(donation::Entity::find()
        .filter(donation::Column::AccountId.eq(account_id))
        .order_by_desc(donation::Column::Id)
        .all(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_neediest_project_gets_the_donation_and_ties_go_to_the_lower_id() {
        let mut allocator = Allocator {
            projects: vec![
                (1, "KZT".into(), 100),
                (2, "KZT".into(), 300),
                (3, "KZT".into(), 300),
            ],
        };
        assert_eq!(allocator.allocate(250, "KZT"), Some(2));
        assert_eq!(allocator.allocate(10, "KZT"), Some(3));
        assert_eq!(allocator.allocate(10, "KZT"), Some(3));
        assert_eq!(allocator.allocate(10, "USD"), None);
    }
}
