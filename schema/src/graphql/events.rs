//! Events over GraphQL: the public listing and lookups, and the organizer's mutations,
//! including `changeEventStatus`, where an alert begins.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use entities::event_organization::OrganizationRole;
use entities::{account::Role as AccountRole, distance, event, event_status_change};

use super::accounts::Organization;
use super::bounds;
use super::guards::{RoleGuard, api, organized_event, signed_in};
use super::ids::{parse_id, to_id};
use super::loaders::{DistancesOf, EventId, HistoryOf, OrganizationsOf, loader};
use super::money::{Money, MoneyInput};
use crate::error::{Graphql, to_graphql};
use race_office::domain::{
    EventName, Instant, LongText, Reason, ShortText, Slug, StatusChangeMessage, TimeZone,
};
use race_office::error::ApiError;
use race_office::services::events::{self as service, DistanceInput, EventFilter as ServiceFilter};
use std::sync::Arc;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entities::event::EventStatus")]
pub enum EventStatus {
    Scheduled,
    Suspended,
    Cancelled,
    Rescheduled,
    Completed,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entities::event::RegistrationState")]
pub enum RegistrationState {
    Open,
    Suspended,
    Closed,
}

/// Who is mailed about a status change.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
#[graphql(remote = "race_office::domain::EmailPolicy")]
pub enum EmailPolicy {
    /// Every registered runner, at once.
    All,
    /// The runners who have not acknowledged the alert on any channel (the page, a push
    /// shown or clicked) within the escalation window (`ALERT_EMAIL_AFTER_SECS`, 600 s
    /// unless configured).
    #[default]
    Unreached,
    /// Nobody.
    None,
}

pub struct Event(pub Arc<event::Model>);

impl From<event::Model> for Event {
    fn from(model: event::Model) -> Self {
        Self(Arc::new(model))
    }
}

#[Object]
impl Event {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn slug(&self) -> &str {
        &self.0.slug
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn description(&self) -> &str {
        &self.0.description
    }

    async fn venue(&self) -> &str {
        &self.0.venue
    }

    /// The start, in UTC.
    async fn starts_at(&self) -> DateTime<Utc> {
        self.0.starts_at
    }

    /// The start in the event's own time zone, e.g. `2020-04-19T08:00:00+06:00`.
    async fn starts_at_local(&self) -> String {
        race_office::domain::local_rfc3339(self.0.starts_at, &self.0.time_zone)
    }

    /// IANA time zone of the event; deadlines are judged in it.
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }

    async fn capacity(&self) -> i32 {
        self.0.capacity
    }

    /// Places taken.
    async fn registered_count(&self) -> i32 {
        self.0.registered_count
    }

    async fn places_left(&self) -> i32 {
        (self.0.capacity - self.0.registered_count).max(0)
    }

    /// What runners are offered if the event is cancelled, and when kits are issued.
    async fn refund_policy(&self) -> super::refunds::RefundPolicy {
        super::refunds::RefundPolicy::of(&self.0)
    }

    async fn status(&self) -> EventStatus {
        self.0.status.into()
    }

    /// As it stands now: CLOSED from the start on, whatever was set.
    async fn registration_state(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<RegistrationState> {
        let now = api(ctx).graphql()?.clock.now();
        Ok(
            race_office::domain::registration_at(self.0.registration_state, self.0.starts_at, now)
                .into(),
        )
    }

    /// The distances, longest first (at most 30).
    #[graphql(complexity = "bounds::list(bounds::DISTANCES, child_complexity)")]
    async fn distances(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Distance>> {
        let rows = loader(ctx)?.load_one(DistancesOf(self.0.id)).await?;
        Ok(bounds::first(rows.unwrap_or_default(), bounds::DISTANCES)
            .into_iter()
            .map(Distance)
            .collect())
    }

    /// Organizers of the event (at most 10).
    #[graphql(complexity = "bounds::list(bounds::ORGANIZATIONS, child_complexity)")]
    async fn organizers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Organization>> {
        self.organizations(ctx, OrganizationRole::Organizer).await
    }

    /// Partners (sponsors) of the event (at most 10).
    #[graphql(complexity = "bounds::list(bounds::ORGANIZATIONS, child_complexity)")]
    async fn partners(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Organization>> {
        self.organizations(ctx, OrganizationRole::Partner).await
    }

    /// The statuses the event has had, oldest first: the newest 20.
    #[graphql(complexity = "bounds::list(bounds::STATUS_HISTORY, child_complexity)")]
    async fn status_history(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<EventStatusChange>> {
        let rows = loader(ctx)?.load_one(HistoryOf(self.0.id)).await?;
        Ok(
            bounds::last(rows.unwrap_or_default(), bounds::STATUS_HISTORY)
                .into_iter()
                .map(EventStatusChange::new)
                .collect(),
        )
    }
}

impl Event {
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        role: OrganizationRole,
    ) -> async_graphql::Result<Vec<Organization>> {
        let rows = loader(ctx)?.load_one(OrganizationsOf(self.0.id)).await?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .filter(|(r, _)| *r == role)
            .take(bounds::ORGANIZATIONS)
            .map(|(_, org)| Organization(org))
            .collect())
    }
}

pub struct Distance(pub distance::Model);

#[Object]
impl Distance {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn length_meters(&self) -> i32 {
        self.0.length_m
    }

    /// The entry fee.
    async fn fee(&self) -> Money {
        Money::from_minor(self.0.fee_minor, &self.0.currency)
    }

    async fn event(&self, ctx: &Context<'_>) -> async_graphql::Result<Event> {
        loader(ctx)?
            .load_one(EventId(self.0.event_id))
            .await?
            .map(Event::from)
            .ok_or_else(|| to_graphql(ApiError::NotFound("event")))
    }
}

/// One change of an event's status. Its `id` is also the cursor for
/// `eventStatusChanged(after:)`: ids follow commit order.
pub struct EventStatusChange {
    pub change: event_status_change::Model,
    /// The event, when the hub already loaded it for every subscriber at once.
    pub event: Option<Arc<event::Model>>,
}

impl EventStatusChange {
    pub fn new(change: event_status_change::Model) -> Self {
        Self {
            change,
            event: None,
        }
    }

    /// From a decoded notification, sharing the hub's copy of the event.
    pub fn from_message(message: &StatusChangeMessage, event: Option<Arc<event::Model>>) -> Self {
        Self {
            change: event_status_change::Model {
                id: message.status_change_id,
                event_id: message.event_id,
                previous_status: message.previous_status,
                status: message.status,
                reason: message.reason.clone(),
                reasons: (!message.reasons.is_empty())
                    .then(|| serde_json::to_string(&message.reasons).ok())
                    .flatten(),
                starts_at: message.starts_at,
                changed_by: None,
                occurred_at: message.occurred_at,
            },
            event,
        }
    }
}

#[Object]
impl EventStatusChange {
    async fn id(&self) -> ID {
        to_id(self.change.id)
    }

    async fn event(&self, ctx: &Context<'_>) -> async_graphql::Result<Event> {
        if let Some(event) = &self.event {
            return Ok(Event(event.clone()));
        }
        loader(ctx)?
            .load_one(EventId(self.change.event_id))
            .await?
            .map(Event::from)
            .ok_or_else(|| to_graphql(ApiError::NotFound("event")))
    }

    /// Null for the first line, when the event was announced.
    async fn previous_status(&self) -> Option<EventStatus> {
        self.change.previous_status.map(Into::into)
    }

    async fn status(&self) -> EventStatus {
        self.change.status.into()
    }

    async fn reason(&self) -> &str {
        &self.change.reason
    }

    /// The organizer's translations of `reason` (none when they gave none).
    #[graphql(complexity = "bounds::list(3, child_complexity)")]
    async fn reasons(&self) -> Vec<super::languages::LocalizedText> {
        self.change
            .reasons
            .as_deref()
            .and_then(|json| {
                serde_json::from_str::<Vec<race_office::domain::LocalizedText>>(json).ok()
            })
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect()
    }

    /// The event's start as of this change (the new start when rescheduled).
    async fn starts_at(&self) -> DateTime<Utc> {
        self.change.starts_at
    }

    async fn occurred_at(&self) -> DateTime<Utc> {
        self.change.occurred_at
    }
}

#[derive(InputObject, Default)]
pub struct EventFilter {
    /// Any of these statuses.
    status: Option<Vec<EventStatus>>,
    /// Starting at or after this instant.
    starts_from: Option<DateTime<Utc>>,
    /// Starting before this instant.
    starts_before: Option<DateTime<Utc>>,
    /// Organized or partnered by this organization.
    organization_id: Option<ID>,
}

/// An event's description: text that may run over lines.
const DESCRIPTION_MAX: usize = 10_000;
/// Where the start is: one line.
const VENUE_MAX: usize = 500;
/// A distance's name ("Half marathon"): one line.
const DISTANCE_NAME_MAX: usize = 100;

#[derive(Default)]
pub struct EventQuery;

#[Object]
impl EventQuery {
    /// Events ordered by start (Relay connection). `first` is 1 to 100, default 20.
    #[graphql(complexity = "super::ids::page_complexity(first, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        filter: Option<EventFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Event>> {
        let first = super::ids::page_size(first).graphql()?;
        let filter = filter.unwrap_or_default();
        let organization_id = match &filter.organization_id {
            Some(id) => Some(parse_id(id, "organization").graphql()?),
            None => None,
        };
        let statuses = filter.status.map(|given| {
            // At most the five statuses, however long the list sent.
            let mut statuses: Vec<entities::event::EventStatus> = Vec::new();
            for status in given {
                if !statuses.contains(&status.into()) {
                    statuses.push(status.into());
                }
            }
            statuses
        });
        let service_filter = ServiceFilter {
            statuses,
            starts_from: Instant::optional("startsFrom", filter.starts_from)
                .graphql()?
                .map(Instant::get),
            starts_before: Instant::optional("startsBefore", filter.starts_before)
                .graphql()?
                .map(Instant::get),
            organization_id,
        };
        let after_key = after
            .as_deref()
            .map(super::ids::parse_start_cursor)
            .transpose()
            .graphql()?;
        let limit = first;
        let mut rows =
            service::list_events(&api(ctx).graphql()?.db, &service_filter, after_key, limit)
                .await
                .graphql()?;
        let has_next = rows.len() as u64 > limit;
        rows.truncate(first as usize);
        let mut connection = Connection::new(after_key.is_some(), has_next);
        connection.edges.extend(
            rows.into_iter()
                .map(|e| Edge::new(super::ids::start_cursor(e.starts_at, e.id), Event::from(e))),
        );
        Ok(connection)
    }

    async fn event(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Event>> {
        let Ok(id) = parse_id(&id, "event") else {
            return Ok(None);
        };
        Ok(loader(ctx)?.load_one(EventId(id)).await?.map(Event::from))
    }

    /// The event with this slug; null when there is none (or the slug could not be one).
    async fn event_by_slug(
        &self,
        ctx: &Context<'_>,
        slug: String,
    ) -> async_graphql::Result<Option<Event>> {
        let Ok(slug) = Slug::parse(&slug) else {
            return Ok(None);
        };
        Ok(service::find_by_slug(&api(ctx).graphql()?.db, &slug)
            .await
            .graphql()?
            .map(Event::from))
    }
}

#[derive(InputObject)]
pub struct CreateEventInput {
    slug: String,
    name: String,
    #[graphql(default)]
    description: String,
    venue: String,
    /// The start, as an instant (UTC or with an offset).
    starts_at: DateTime<Utc>,
    /// IANA time zone, e.g. `Asia/Almaty`.
    time_zone: String,
    capacity: i32,
    #[graphql(default_with = "RegistrationState::Closed")]
    registration_state: RegistrationState,
}

#[derive(InputObject)]
pub struct UpdateEventInput {
    event_id: ID,
    name: Option<String>,
    description: Option<String>,
    venue: Option<String>,
    capacity: Option<i32>,
    registration_state: Option<RegistrationState>,
}

#[derive(InputObject)]
pub struct DistanceFields {
    name: String,
    length_meters: i32,
    fee: MoneyInput,
}

impl DistanceFields {
    fn parse(&self) -> Result<DistanceInput, ApiError> {
        Ok(DistanceInput {
            name: ShortText::parse("name", &self.name, DISTANCE_NAME_MAX)?.into_inner(),
            length_m: self.length_meters,
            fee: self.fee.parse()?,
        })
    }
}

#[derive(InputObject)]
pub struct ChangeEventStatusInput {
    event_id: ID,
    status: EventStatus,
    /// Shown to runners in the alert.
    reason: String,
    /// The reason in other languages, one per language, each bounded like the reason; a
    /// runner reads the one in their language when there is one.
    reasons: Option<Vec<super::languages::LocalizedTextInput>>,
    /// The new start; required when, and only when, rescheduling.
    starts_at: Option<DateTime<Utc>>,
    /// Who is mailed about it (every registered runner has an address).
    #[graphql(default)]
    email: EmailPolicy,
}

#[derive(Default)]
pub struct EventMutation;

#[Object]
impl EventMutation {
    /// Creates an event organized by the organizer's organization.
    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn create_event(
        &self,
        ctx: &Context<'_>,
        input: CreateEventInput,
    ) -> async_graphql::Result<Event> {
        let api = api(ctx).graphql()?;
        let new = service::NewEvent {
            slug: Slug::parse(&input.slug).graphql()?,
            name: EventName::parse(&input.name).graphql()?,
            description: LongText::parse("description", &input.description, DESCRIPTION_MAX)
                .graphql()?
                .into_inner(),
            venue: ShortText::parse("venue", &input.venue, VENUE_MAX)
                .graphql()?
                .into_inner(),
            starts_at: Instant::parse("startsAt", input.starts_at).graphql()?.get(),
            time_zone: TimeZone::parse(&input.time_zone).graphql()?,
            capacity: input.capacity,
            registration_state: input.registration_state.into(),
        };
        let created =
            service::create_event(&api.db, api.clock.now(), signed_in(ctx).graphql()?, new)
                .await
                .graphql()?;
        Ok(Event::from(created))
    }

    /// Changes an event's descriptive fields or its registration state.
    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn update_event(
        &self,
        ctx: &Context<'_>,
        input: UpdateEventInput,
    ) -> async_graphql::Result<Event> {
        let api = api(ctx).graphql()?;
        let patch = service::EventPatch {
            name: input
                .name
                .as_deref()
                .map(EventName::parse)
                .transpose()
                .graphql()?,
            description: input
                .description
                .as_deref()
                .map(|d| LongText::parse("description", d, DESCRIPTION_MAX))
                .transpose()
                .graphql()?
                .map(LongText::into_inner),
            venue: input
                .venue
                .as_deref()
                .map(|v| ShortText::parse("venue", v, VENUE_MAX))
                .transpose()
                .graphql()?
                .map(ShortText::into_inner),
            capacity: input.capacity,
            registration_state: input.registration_state.map(Into::into),
        };
        let event_id = parse_id(&input.event_id, "event").graphql()?;
        let updated = service::update_event(
            &api.db,
            api.clock.now(),
            signed_in(ctx).graphql()?,
            event_id,
            patch,
        )
        .await
        .graphql()?;
        Ok(Event::from(updated))
    }

    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn add_distance(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        input: DistanceFields,
    ) -> async_graphql::Result<Distance> {
        let api = api(ctx).graphql()?;
        let fields = input.parse().graphql()?;
        let event = organized_event(ctx, &event_id).await?;
        let added = service::add_distance(&api.db, api.clock.now(), event.id, fields)
            .await
            .graphql()?;
        Ok(Distance(added))
    }

    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn update_distance(
        &self,
        ctx: &Context<'_>,
        distance_id: ID,
        input: DistanceFields,
    ) -> async_graphql::Result<Distance> {
        let fields = input.parse().graphql()?;
        let distance_id = parse_id(&distance_id, "distance").graphql()?;
        let updated = service::update_distance(
            &api(ctx).graphql()?.db,
            signed_in(ctx).graphql()?,
            distance_id,
            fields,
        )
        .await
        .graphql()?;
        Ok(Distance(updated))
    }

    /// Suspends, cancels, reschedules, resumes or completes an event, and announces it to
    /// every subscribed runner.
    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn change_event_status(
        &self,
        ctx: &Context<'_>,
        input: ChangeEventStatusInput,
    ) -> async_graphql::Result<Event> {
        let api = api(ctx).graphql()?;
        let change = service::StatusChange {
            event_id: parse_id(&input.event_id, "event").graphql()?,
            status: input.status.into(),
            reason: Reason::parse(&input.reason).graphql()?,
            reasons: race_office::domain::check_translations(
                "reasons",
                input
                    .reasons
                    .unwrap_or_default()
                    .into_iter()
                    .map(Into::into)
                    .collect(),
                Reason::MAX_CHARS,
            )
            .graphql()?,
            starts_at: Instant::optional("startsAt", input.starts_at)
                .graphql()?
                .map(Instant::get),
            email: input.email.into(),
        };
        let (event, _) = service::change_status(
            &api.db,
            &api.outbox,
            api.clock.now(),
            signed_in(ctx).graphql()?,
            change,
        )
        .await
        .graphql()?;
        Ok(Event::from(event))
    }
}
