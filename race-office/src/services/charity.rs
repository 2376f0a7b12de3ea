//! Charity projects and donations.
//!
//! The allocation rule: a donation to an event's programme (a donated fee share) goes
//! whole to that event's project with the largest shortfall (target minus raised) at the
//! moment, ties to the lower id (once every target is met, that is the least over-funded
//! project). Money is never split across projects, so every amount stays exact. With no
//! project in the programme the donation stays unallocated. Direct gifts name their project.
//!
//! Ownership: every project belongs to one organization (`organization_id`), the one
//! whose organizer created it (the demo's programme and history: the Courage to be the
//! First fund). Only that organization's organizers change it or record gifts to it;
//! projects are public, so anyone else is told FORBIDDEN, as for another's event. A project
//! may name an event only its owner's organization organizes.
//!
//! Sums: amounts are at most `Money::MAX_MINOR`, and every total is exact however many
//! donations there are (see [`donation_sums`]).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use entities::charity_project::CharityStatus;
use entities::donation::DonationSource;
use entities::{account, charity_project, donation};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TryGetable,
};

use super::organizations::{acting_organization, find_organized};
use crate::domain::{LongText, Money, ShortText};
use crate::error::{ApiError, ApiResult};

/// A project's details, validated at the edge.
pub struct ProjectInput {
    pub event_id: Option<i64>,
    pub beneficiary: ShortText,
    pub description: LongText,
    pub city: ShortText,
    pub year: i32,
    pub target: Money,
    pub status: CharityStatus,
    pub report: Option<LongText>,
}

/// Bounds of a project's text, for the edge that parses it.
pub const BENEFICIARY_MAX: usize = 300;
pub const CITY_MAX: usize = 100;
pub const DESCRIPTION_MAX: usize = 10_000;
pub const REPORT_MAX: usize = 50_000;
/// A donor's name as shown in reports.
pub const DONOR_NAME_MAX: usize = 200;

fn check_project(input: &ProjectInput) -> ApiResult<()> {
    if !(1990..=2100).contains(&input.year) {
        return Err(ApiError::bad_input("year must be between 1990 and 2100"));
    }
    Ok(())
}

/// The actor acts for the organization that owns `project`. Projects are public, so
/// another organization's organizer is told FORBIDDEN (as for another's event).
fn check_owner(actor: &account::Model, project: &charity_project::Model) -> ApiResult<()> {
    if acting_organization(actor)? != project.organization_id {
        return Err(ApiError::Forbidden(
            "your organization does not run this charity project",
        ));
    }
    Ok(())
}

/// A project may fund only an event its owner's organization organizes.
async fn check_event(
    db: &impl ConnectionTrait,
    actor: &account::Model,
    event_id: Option<i64>,
) -> ApiResult<()> {
    if let Some(event_id) = event_id {
        find_organized(db, actor, event_id).await?;
    }
    Ok(())
}

/// Creates a project owned by the actor's organization.
pub async fn create_project(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    actor: &account::Model,
    input: ProjectInput,
) -> ApiResult<charity_project::Model> {
    check_project(&input)?;
    let owner = acting_organization(actor)?;
    check_event(db, actor, input.event_id).await?;
    insert_project(db, now, owner, input).await
}

/// Inserts a project owned by `organization_id` (shared with the demo seed).
pub async fn insert_project(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    organization_id: i64,
    input: ProjectInput,
) -> ApiResult<charity_project::Model> {
    Ok(charity_project::ActiveModel {
        event_id: Set(input.event_id),
        organization_id: Set(organization_id),
        beneficiary: Set(input.beneficiary.into_inner()),
        description: Set(input.description.into_inner()),
        city: Set(input.city.into_inner()),
        year: Set(input.year),
        target_minor: Set(input.target.minor),
        currency: Set(input.target.currency.code().to_owned()),
        status: Set(input.status),
        report: Set(input.report.map(LongText::into_inner)),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Changes a project; only its owner's organizers may, and it keeps its owner.
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
    check_owner(actor, &found)?;
    if input.event_id != found.event_id {
        check_event(&txn, actor, input.event_id).await?;
    }
    let mut active: charity_project::ActiveModel = found.into();
    active.event_id = Set(input.event_id);
    active.beneficiary = Set(input.beneficiary.into_inner());
    active.description = Set(input.description.into_inner());
    active.city = Set(input.city.into_inner());
    active.year = Set(input.year);
    active.target_minor = Set(input.target.minor);
    active.currency = Set(input.target.currency.code().to_owned());
    active.status = Set(input.status);
    active.report = Set(input.report.map(LongText::into_inner));
    let updated = active.update(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Donations counted and summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DonationSum {
    pub count: i64,
    /// Minor units; i128, since many bounded amounts may exceed an i64.
    pub raised: i128,
}

/// Ids per bucket summed by the database: see [`donation_sums`].
const SUM_BUCKET: i64 = 1_000;

/// Donations matching `filter`, counted and summed per value of `key`; exact however
/// many there are.
///
/// The database alone cannot add them safely: SQLite's SUM raises "integer overflow" past
/// an i64, and PostgreSQL's SUM(bigint) is a numeric that no longer fits the BIGINT it is
/// read as. So the database sums buckets of at most 1,000 consecutive ids (grouped by
/// `id / 1000` too), and the buckets are added here in i128. Every amount is at most
/// `Money::MAX_MINOR` = 10^15, so a bucket's sum is at most 1,000 x 10^15 = 10^18, below
/// i64::MAX (about 9.22 x 10^18); an i128 (about 1.7 x 10^38) holds 10^23 maximal
/// donations, more rows than any database here can hold. One row comes back per key and
/// thousand ids: the marathon's 18,000 donated shares are at most 19 rows per project.
pub async fn donation_sums<K>(
    db: &impl ConnectionTrait,
    key: donation::Column,
    filter: Condition,
) -> ApiResult<HashMap<K, DonationSum>>
where
    K: TryGetable + Eq + std::hash::Hash,
{
    let buckets: Vec<(K, i64, i64)> = donation::Entity::find()
        .select_only()
        .column(key)
        .column_as(
            Expr::col(donation::Column::Id).count().cast_as("BIGINT"),
            "donations",
        )
        .column_as(
            Expr::col(donation::Column::AmountMinor)
                .sum()
                .cast_as("BIGINT"),
            "raised",
        )
        .filter(filter)
        .group_by(key)
        .group_by(Expr::col(donation::Column::Id).div(SUM_BUCKET))
        .into_tuple()
        .all(db)
        .await?;
    let mut sums: HashMap<K, DonationSum> = HashMap::new();
    for (key, count, raised) in buckets {
        let sum = sums.entry(key).or_default();
        sum.count += count;
        sum.raised += i128::from(raised);
    }
    Ok(sums)
}

/// Money raised per project (sum of its donations), for the given projects.
pub async fn raised_by_project(
    db: &impl ConnectionTrait,
    project_ids: &[i64],
) -> ApiResult<HashMap<i64, i128>> {
    if project_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sums = donation_sums::<i64>(
        db,
        donation::Column::ProjectId,
        Condition::all().add(donation::Column::ProjectId.is_in(project_ids.iter().copied())),
    )
    .await?;
    Ok(sums.into_iter().map(|(id, sum)| (id, sum.raised)).collect())
}

/// Picks projects for programme donations by the allocation rule, keeping its own tally
/// so a batch of donations is allocated as if one at a time.
pub struct Allocator {
    /// (project id, currency, shortfall)
    projects: Vec<(i64, String, i128)>,
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
                    let shortfall =
                        i128::from(p.target_minor) - raised.get(&p.id).copied().unwrap_or(0);
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
        chosen.2 -= i128::from(amount);
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

/// An organizer of the project's owner records a gift made directly to it.
pub async fn record_direct_donation(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    actor: &account::Model,
    project_id: i64,
    amount: Money,
    donor_name: Option<ShortText>,
) -> ApiResult<donation::Model> {
    if amount.minor <= 0 {
        return Err(ApiError::bad_input("a donation must be more than zero"));
    }
    let txn = super::begin_write(db).await?;
    let project = charity_project::Entity::find_by_id(project_id)
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound("charity project"))?;
    check_owner(actor, &project)?;
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
        donor_name: Set(donor_name.map(ShortText::into_inner)),
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
    pub projects: Vec<(charity_project::Model, i128)>,
    /// currency -> (raised, target), in i128: the sum of many bounded amounts.
    pub totals: BTreeMap<String, (i128, i128)>,
    pub projects_to_date: i64,
    pub years_to_date: i64,
}

pub async fn summary(db: &impl ConnectionTrait, year: i32) -> ApiResult<Summary> {
    let of_year = projects(db, Some(year)).await?;
    let ids: Vec<i64> = of_year.iter().map(|p| p.id).collect();
    let raised = raised_by_project(db, &ids).await?;
    let mut totals: BTreeMap<String, (i128, i128)> = BTreeMap::new();
    let projects = of_year
        .into_iter()
        .map(|p| {
            let got = raised.get(&p.id).copied().unwrap_or(0);
            let total = totals.entry(p.currency.clone()).or_default();
            total.0 += got;
            total.1 += i128::from(p.target_minor);
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
