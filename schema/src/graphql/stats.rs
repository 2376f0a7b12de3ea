//! Participation statistics over GraphQL: `participationStats` for one event and
//! `partnerSummary` for a sponsor's dashboard. Organizers see their events' figures in
//! full; partners (accounts, or keys with STATS_READ) see the events they sponsor with
//! small groups suppressed (see `domain::suppression`). A suppressed group is left out of
//! the answer entirely, its keys too: a partner comparing the list before and after a
//! known person registers would otherwise read that person's age group or gender off the
//! keys that appear ("70+", "MALE"), whatever the counts say.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use entities::event;

use super::accounts::Organization;
use super::events::Event;
use super::guards::api;
use super::ids::parse_id;
use super::loaders::{DistanceId, loader};
use super::money::Money;
use super::partner_access::stats_reader;
use crate::error::{Graphql, to_graphql};
use race_office::domain;
use race_office::error::ApiError;
use race_office::services::stats::{
    self as service, Audience, Figures, Group, GroupKey, KeyValue, StatsReader,
};

/// What registrations are grouped by.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "race_office::domain::Dimension")]
pub enum Dimension {
    /// The distance registered for (value: the distance's id).
    Distance,
    /// FEMALE, MALE or OTHER.
    Gender,
    /// Age on race day: U20, 20-29, 30-39, 40-49, 50-59, 60-69, 70+.
    AgeGroup,
    /// ISO 3166-1 alpha-2 code.
    Country,
    /// As the runner typed it.
    City,
    /// The day of registration in the event's own time zone (YYYY-MM-DD).
    RegistrationDate,
    /// PENDING, READY or ISSUED.
    StarterKit,
    /// NONE (no request), FULL_REFUND or KIT_AND_DONATE, whatever the request's status.
    RefundOption,
}

fn count(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

pub struct StatsKey(GroupKey);

/// A group's key in one dimension.
#[Object]
impl StatsKey {
    /// The dimension this key is in.
    async fn dimension(&self) -> Dimension {
        self.0.dimension.into()
    }

    /// The key (see `Dimension`); null when the runners did not say, or when withheld.
    async fn value(&self) -> Option<&str> {
        match &self.0.value {
            KeyValue::Known(value) => Some(value),
            KeyValue::Unknown | KeyValue::Withheld => None,
        }
    }

    /// True for a city typed by fewer than 5 runners, which a partner does not see.
    async fn withheld(&self) -> bool {
        self.0.value == KeyValue::Withheld
    }

    /// For people: the distance's name, "20-29", "not given", "withheld", …
    async fn label(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        let value = match &self.0.value {
            KeyValue::Unknown => return Ok("not given".into()),
            KeyValue::Withheld => return Ok("withheld".into()),
            KeyValue::Known(value) => value,
        };
        if self.0.dimension == domain::Dimension::Distance
            && let Ok(id) = value.parse::<i64>()
            && let Some(distance) = loader(ctx)?.load_one(DistanceId(id)).await?
        {
            return Ok(distance.name);
        }
        Ok(match value.as_str() {
            "U20" => "under 20".into(),
            "70+" => "70 and over".into(),
            "NONE" if self.0.dimension == domain::Dimension::RefundOption => "no request".into(),
            other => other.to_owned(),
        })
    }
}

/// One group: its keys (one per dimension grouped by) and how many registrations it has.
/// A partner is not shown the groups it may not see (fewer than 5 registrations, or hidden
/// so that the others do not give one away): they are left out, keys and all.
#[derive(SimpleObject)]
pub struct StatsGroup {
    /// One key per dimension grouped by (at most 3).
    #[graphql(complexity = "super::bounds::list(super::bounds::STATS_KEYS, child_complexity)")]
    keys: Vec<StatsKey>,
    /// Always set: a suppressed group is left out instead (nullable for older clients).
    count: Option<i32>,
    /// Always false: a suppressed group is left out of the answer entirely (kept for
    /// older clients).
    suppressed: bool,
}

/// The groups as the reader is shown them: without the suppressed ones, which a partner
/// may not see even the keys of.
fn shown(groups: Vec<Group>) -> Vec<StatsGroup> {
    groups
        .into_iter()
        .filter(|g| g.count.is_some())
        .take(super::bounds::STATS_GROUPS)
        .map(StatsGroup::from)
        .collect()
}

impl From<Group> for StatsGroup {
    fn from(group: Group) -> Self {
        Self {
            keys: group.keys.into_iter().map(StatsKey).collect(),
            count: group.count.map(count),
            suppressed: group.count.is_none(),
        }
    }
}

/// The money an event's charity programme raised.
#[derive(SimpleObject)]
pub struct CharityRaised {
    /// True for a partner when there are 1 to 4 donations (a sum of so few could
    /// identify a donor's gift): `donations` and `amounts` are then null.
    suppressed: bool,
    /// How many donations (fee shares and direct gifts); null when suppressed.
    donations: Option<i32>,
    /// One amount per currency.
    #[graphql(complexity = "super::bounds::list(super::bounds::CURRENCIES, child_complexity)")]
    amounts: Option<Vec<Money>>,
}

/// An event's registrations, counted, as the caller may see them.
pub struct ParticipationStats {
    event: Arc<event::Model>,
    group_by: Vec<domain::Dimension>,
    audience: Audience,
    figures: Figures,
}

impl ParticipationStats {
    async fn one_list(
        &self,
        ctx: &Context<'_>,
        dimension: domain::Dimension,
    ) -> async_graphql::Result<Option<Vec<Group>>> {
        let figures = service::participation(
            &api(ctx).graphql()?.db,
            &self.event,
            &[dimension],
            self.audience,
        )
        .await
        .graphql()?;
        Ok(figures.groups)
    }
}

/// An event's registrations, counted by up to two dimensions, as the caller may see
/// them: in full for its organizers, with small groups suppressed for a partner.
#[Object]
impl ParticipationStats {
    /// The event counted.
    async fn event(&self) -> Event {
        Event(self.event.clone())
    }

    /// The dimensions the groups are keyed by, in the order asked.
    async fn group_by(&self) -> Vec<Dimension> {
        self.group_by.iter().map(|d| (*d).into()).collect()
    }

    /// True when small groups are suppressed (a partner's view).
    async fn suppression_applied(&self) -> bool {
        self.audience == Audience::Partner
    }

    /// Registrations taken (refunded ones included); null for a partner when 1 to 4.
    async fn total(&self) -> Option<i32> {
        self.figures.total.map(count)
    }

    /// The groups, ordered by key; with no `groupBy`, one group holding every
    /// registration. Empty when `withheld`. For a partner, suppressed groups are left
    /// out, keys and all. At most 300.
    #[graphql(complexity = "super::bounds::list(super::bounds::STATS_GROUPS, child_complexity)")]
    async fn groups(&self) -> Vec<StatsGroup> {
        shown(self.figures.groups.clone().unwrap_or_default())
    }

    /// True when no suppression could make these groups safe to show a partner (too few
    /// runners, or a table too sparse): `groups` is then empty.
    async fn withheld(&self) -> bool {
        self.figures.groups.is_none()
    }

    /// Registrations per day in the event's time zone; null when withheld. For a
    /// partner, suppressed days are left out. At most 300 days.
    #[graphql(complexity = "super::bounds::list(super::bounds::STATS_GROUPS, child_complexity)")]
    async fn registrations_over_time(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Vec<StatsGroup>>> {
        let groups = self
            .one_list(ctx, domain::Dimension::RegistrationDate)
            .await?;
        Ok(groups.map(shown))
    }

    /// Starter kits issued; null when suppressed.
    async fn kits_issued(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<i32>> {
        let Some(groups) = self.one_list(ctx, domain::Dimension::StarterKit).await? else {
            return Ok(None);
        };
        let issued = groups.into_iter().find(|g| {
            g.keys
                .first()
                .is_some_and(|k| k.value == KeyValue::Known("ISSUED".into()))
        });
        Ok(match issued {
            Some(group) => group.count.map(count),
            None => Some(0),
        })
    }

    /// Registrations by refund option (NONE: no request); null when withheld. For a
    /// partner, suppressed options are left out.
    #[graphql(complexity = "super::bounds::list(super::bounds::STATS_GROUPS, child_complexity)")]
    async fn refunds_by_option(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Vec<StatsGroup>>> {
        let groups = self.one_list(ctx, domain::Dimension::RefundOption).await?;
        Ok(groups.map(shown))
    }

    /// Money the event's charity programme raised.
    async fn charity_raised(&self, ctx: &Context<'_>) -> async_graphql::Result<CharityRaised> {
        let raised = service::charity_raised(&api(ctx).graphql()?.db, self.event.id, self.audience)
            .await
            .graphql()?;
        Ok(CharityRaised {
            suppressed: raised.donations.is_none(),
            donations: raised.donations.map(count),
            amounts: raised.raised.map(|amounts| {
                amounts
                    .iter()
                    .map(|(currency, minor)| Money::from_total(*minor, currency))
                    .collect()
            }),
        })
    }
}

/// A sponsor's dashboard: every event it partners, with its figures.
#[derive(SimpleObject)]
pub struct PartnerSummary {
    /// The partner organization.
    organization: Organization,
    /// The events it partners (at most 10).
    #[graphql(complexity = "super::bounds::list(super::bounds::PARTNER_EVENTS, child_complexity)")]
    events: Vec<ParticipationStats>,
}

fn group_by(dimensions: Option<Vec<Dimension>>) -> Result<Vec<domain::Dimension>, ApiError> {
    let dimensions: Vec<domain::Dimension> = dimensions
        .unwrap_or_default()
        .into_iter()
        .map(Into::into)
        .collect();
    service::check_group_by(&dimensions)?;
    Ok(dimensions)
}

#[derive(Default)]
pub struct StatsQuery;

#[Object]
impl StatsQuery {
    /// An event's registrations counted by up to two dimensions, with totals, kits,
    /// refunds and charity money. Organizers: their organization's events, every count.
    /// Partners: the events they sponsor, small groups suppressed. Errors:
    /// UNAUTHENTICATED, FORBIDDEN (runners; another's event), NOT_FOUND,
    /// BAD_USER_INPUT (more than two dimensions, or one twice).
    async fn participation_stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event to count.")] event_id: ID,
        #[graphql(desc = "Up to two dimensions, each once; left out, no grouping.")]
        group_by: Option<Vec<Dimension>>,
    ) -> async_graphql::Result<ParticipationStats> {
        let reader = stats_reader(ctx).graphql()?;
        let dimensions = self::group_by(group_by).graphql()?;
        let db = &api(ctx).graphql()?.db;
        let event = service::find_event(db, reader, parse_id(&event_id, "event").graphql()?)
            .await
            .graphql()?;
        let figures = service::participation(db, &event, &dimensions, reader.audience())
            .await
            .graphql()?;
        Ok(ParticipationStats {
            event: Arc::new(event),
            group_by: dimensions,
            audience: reader.audience(),
            figures,
        })
    }

    /// For a partner: every event it sponsors (for a key, those of the organizer that
    /// issued it), soonest first, each with its figures grouped by `groupBy`. Errors:
    /// FORBIDDEN for anyone but a partner, BAD_USER_INPUT (as `participationStats`).
    async fn partner_summary(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Up to two dimensions for every event's groups, each once.")]
        group_by: Option<Vec<Dimension>>,
    ) -> async_graphql::Result<PartnerSummary> {
        let reader = stats_reader(ctx).graphql()?;
        let StatsReader::Partner {
            organization_id, ..
        } = reader
        else {
            return Err(to_graphql(ApiError::Forbidden(
                "only a partner has a partner summary",
            )));
        };
        let dimensions = self::group_by(group_by).graphql()?;
        let db = &api(ctx).graphql()?.db;
        let organization = race_office::services::organizations::find(db, organization_id)
            .await
            .graphql()?;
        let mut events = Vec::new();
        let partnered = service::partner_events(db, reader).await.graphql()?;
        for event in super::bounds::first(partnered, super::bounds::PARTNER_EVENTS) {
            let figures = service::participation(db, &event, &dimensions, reader.audience())
                .await
                .graphql()?;
            events.push(ParticipationStats {
                event: Arc::new(event),
                group_by: dimensions.clone(),
                audience: reader.audience(),
                figures,
            });
        }
        Ok(PartnerSummary {
            organization: Organization(organization),
            events,
        })
    }
}
