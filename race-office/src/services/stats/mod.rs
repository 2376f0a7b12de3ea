//! Participation statistics: who may read which event's figures, reading them from the
//! counters (never from the registrations), and the charity money an event raised.
//!
//! The counters (`participation_count`) hold, per event, the total, every dimension's
//! groups and every pair's groups, changed in the transaction of each registration,
//! starter-kit step and refund request (see [`counters`]). A query reads one small range
//! of them, so it costs the same at a hundred runners as at a million, and its figures
//! are exact at the instant of its snapshot even while registrations keep arriving.

pub mod counters;
mod publish;
mod rebuild;

use entities::event_organization::OrganizationRole;
use entities::{donation, event, event_organization, participation_count};
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

pub use publish::{Audience, Counters, Figures, Group, GroupKey, KeyValue};
pub use rebuild::{rebuild, rebuild_event, rebuild_missing};

use crate::domain::Dimension;
use crate::domain::participation::NO_DIMENSION;
use crate::domain::suppression::MIN_GROUP;
use crate::error::{ApiError, ApiResult};

/// Who reads statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsReader {
    /// An organizer: every event its organization organizes, unsuppressed.
    Organizer { organization_id: i64 },
    /// A partner account or key: the events its organization partners (for a key, only
    /// those the issuing organization organizes), small groups suppressed.
    Partner {
        organization_id: i64,
        issuer_organization_id: Option<i64>,
    },
}

impl StatsReader {
    pub fn audience(self) -> Audience {
        match self {
            Self::Organizer { .. } => Audience::Organizer,
            Self::Partner { .. } => Audience::Partner,
        }
    }

    /// Whether the reader's links to an event let it read the event's figures.
    fn may_read(self, links: &[event_organization::Model]) -> bool {
        let has = |organization_id: i64, role: OrganizationRole| {
            links
                .iter()
                .any(|l| l.organization_id == organization_id && l.role == role)
        };
        match self {
            Self::Organizer { organization_id } => {
                has(organization_id, OrganizationRole::Organizer)
            }
            Self::Partner {
                organization_id,
                issuer_organization_id,
            } => {
                has(organization_id, OrganizationRole::Partner)
                    && issuer_organization_id.is_none_or(|i| has(i, OrganizationRole::Organizer))
            }
        }
    }
}

/// The event, if the reader may read its figures. An event that exists but is not the
/// reader's answers FORBIDDEN (events are public), as `find_organized` does.
pub async fn find_event(
    db: &impl ConnectionTrait,
    reader: StatsReader,
    event_id: i64,
) -> ApiResult<event::Model> {
    let found = event::Entity::find_by_id(event_id)
        .find_with_related(event_organization::Entity)
        .all(db)
        .await?;
    let (event, links) = found
        .into_iter()
        .next()
        .ok_or(ApiError::NotFound("event"))?;
    if !reader.may_read(&links) {
        return Err(ApiError::Forbidden(
            "your organization may not read this event's statistics",
        ));
    }
    Ok(event)
}

/// The events a partner reads, soonest first.
pub async fn partner_events(
    db: &impl ConnectionTrait,
    reader: StatsReader,
) -> ApiResult<Vec<event::Model>> {
    let StatsReader::Partner {
        organization_id,
        issuer_organization_id,
    } = reader
    else {
        return Err(ApiError::Forbidden("only a partner has a partner summary"));
    };
    let linked = |organization_id: i64, role: OrganizationRole| {
        event::Column::Id.in_subquery(
            Query::select()
                .column(event_organization::Column::EventId)
                .from(event_organization::Entity)
                .and_where(event_organization::Column::OrganizationId.eq(organization_id))
                .and_where(event_organization::Column::Role.eq(role))
                .to_owned(),
        )
    };
    let mut query =
        event::Entity::find().filter(linked(organization_id, OrganizationRole::Partner));
    if let Some(issuer) = issuer_organization_id {
        query = query.filter(linked(issuer, OrganizationRole::Organizer));
    }
    Ok(query
        .order_by_asc(event::Column::StartsAt)
        .order_by_asc(event::Column::Id)
        .all(db)
        .await?)
}

/// At most two distinct dimensions.
pub fn check_group_by(group_by: &[Dimension]) -> ApiResult<()> {
    match group_by {
        [] | [_] => Ok(()),
        [a, b] if a != b => Ok(()),
        [_, _] => Err(ApiError::bad_input("groupBy names a dimension twice")),
        _ => Err(ApiError::bad_input("groupBy takes at most two dimensions")),
    }
}

/// The counter rows a query needs: the total, each named dimension (the margins a
/// partner's suppression needs), and the pair. One indexed range read per part.
async fn load(
    db: &impl ConnectionTrait,
    event_id: i64,
    group_by: &[Dimension],
) -> ApiResult<Vec<participation_count::Model>> {
    let part = |a: &str, b: &str| {
        Condition::all()
            .add(participation_count::Column::DimensionA.eq(a))
            .add(participation_count::Column::DimensionB.eq(b))
    };
    let mut parts = Condition::any().add(part(NO_DIMENSION, NO_DIMENSION));
    for dimension in group_by {
        parts = parts.add(part(dimension.code(), NO_DIMENSION));
    }
    if let [first, second] = group_by {
        let (a, b) = (first.min(second), first.max(second));
        parts = parts.add(part(a.code(), b.code()));
    }
    Ok(participation_count::Entity::find()
        .filter(participation_count::Column::EventId.eq(event_id))
        .filter(parts)
        .all(db)
        .await?)
}

/// An event's registrations grouped by up to two dimensions, as `audience` may see them.
#[tracing::instrument(skip(db, event), fields(event_id = event.id))]
pub async fn participation(
    db: &impl ConnectionTrait,
    event: &event::Model,
    group_by: &[Dimension],
    audience: Audience,
) -> ApiResult<Figures> {
    check_group_by(group_by)?;
    let rows = load(db, event.id, group_by).await?;
    Ok(Counters { rows: &rows }.publish(group_by, audience))
}

/// Money an event's charity programme raised (donated fee shares and direct gifts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharityFigures {
    /// `None` for a partner when there are 1 to 4 donations: a sum of so few could
    /// identify a donor's gift.
    pub donations: Option<i64>,
    /// (currency, minor units) per currency; `None` when suppressed. i128: the sum of
    /// many bounded amounts (see `charity::donation_sums`).
    pub raised: Option<Vec<(String, i128)>>,
}

#[tracing::instrument(skip(db))]
pub async fn charity_raised(
    db: &impl ConnectionTrait,
    event_id: i64,
    audience: Audience,
) -> ApiResult<CharityFigures> {
    let sums = super::charity::donation_sums::<String>(
        db,
        donation::Column::Currency,
        Condition::all().add(donation::Column::EventId.eq(event_id)),
    )
    .await?;
    let mut rows: Vec<(String, super::charity::DonationSum)> = sums.into_iter().collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let donations: i64 = rows.iter().map(|(_, sum)| sum.count).sum();
    if audience == Audience::Partner && donations > 0 && donations < MIN_GROUP {
        return Ok(CharityFigures {
            donations: None,
            raised: None,
        });
    }
    Ok(CharityFigures {
        donations: Some(donations),
        raised: Some(
            rows.into_iter()
                .map(|(currency, sum)| (currency, sum.raised))
                .collect(),
        ),
    })
}
