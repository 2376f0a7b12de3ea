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

/// Where an event stands. CANCELLED and COMPLETED are final; RESCHEDULED may repeat,
/// each time with a new start; a SUSPENDED event resumes as SCHEDULED. Once the start has
/// passed an event may only be cancelled or completed.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entities::event::EventStatus")]
pub enum EventStatus {
    /// Announced and going ahead as planned.
    Scheduled,
    /// On hold until further notice (registration is suspended with it).
    Suspended,
    /// Will not take place; runners may apply for a refund under the event's
    /// `refundPolicy`. Final.
    Cancelled,
    /// Moved to a new start (`startsAt`), going ahead then.
    Rescheduled,
    /// Took place. Final.
    Completed,
}

/// Whether runners may register. Registration closes by itself at the start, whatever
/// the organizer set.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entities::event::RegistrationState")]
pub enum RegistrationState {
    /// Runners may register while places are left.
    Open,
    /// Paused (for instance while the event is suspended); may open again.
    Suspended,
    /// Not taking registrations.
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

/// A race day: its start and time zone, venue, places, distances, status and the refund
/// policy that applies if it is cancelled. Public: anyone may read it.
#[Object]
impl Event {
    /// The event's opaque id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// Its URL-safe handle, unique, e.g. `almaty-marathon-2020`: the page's address of the
    /// event, and what `eventBySlug` takes.
    async fn slug(&self) -> &str {
        &self.0.slug
    }

    /// Its name, e.g. "Almaty Marathon 2020".
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The organizer's description, plain text that may run over lines (empty when none).
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// Where the race starts, one line.
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

    /// How many runners it takes, over all its distances.
    async fn capacity(&self) -> i32 {
        self.0.capacity
    }

    /// Places taken.
    async fn registered_count(&self) -> i32 {
        self.0.registered_count
    }

    /// Places still free: `capacity` minus `registeredCount`, never below zero.
    async fn places_left(&self) -> i32 {
        (self.0.capacity - self.0.registered_count).max(0)
    }

    /// What runners are offered if the event is cancelled, and when kits are issued.
    async fn refund_policy(&self) -> super::refunds::RefundPolicy {
        super::refunds::RefundPolicy::of(&self.0)
    }

    /// Where the event stands now; `statusHistory` says how it got there.
    async fn status(&self) -> EventStatus {
        self.0.status.into()
    }

    /// As it stands now: CLOSED from the start on, whatever was set.
    async fn registration_state(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<RegistrationState> {
        let now = api(ctx).graphql()?.clock.now();
        // A cached answer holds until the race starts, when registration closes.
        if now < self.0.starts_at
            && let Some(until) = ctx.data_opt::<super::public_reads::ValidUntil>()
        {
            until.at_most(self.0.starts_at);
        }
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

/// A distance of an event (marathon, half marathon, 10 km, …): what a runner registers
/// for, and pays its fee.
#[Object]
impl Distance {
    /// The distance's opaque id; `register` takes it.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// Its name, unique within the event, e.g. "Half marathon".
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Its length in meters (42195 for a marathon).
    async fn length_meters(&self) -> i32 {
        self.0.length_m
    }

    /// The entry fee.
    async fn fee(&self) -> Money {
        Money::from_minor(self.0.fee_minor, &self.0.currency)
    }

    /// The event it belongs to.
    async fn event(&self, ctx: &Context<'_>) -> async_graphql::Result<Event> {
        loader(ctx)?
            .load_one(EventId(self.0.event_id))
            .await?
            .map(Event::from)
            .ok_or_else(|| to_graphql(ApiError::NotFound("event")))
    }
}

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

/// One change of an event's status. Its `id` is also the cursor for
/// `eventStatusChanged(after:)`: ids follow commit order.
#[Object]
impl EventStatusChange {
    /// The change's id; ids follow commit order, and one is the `after` cursor of
    /// `eventStatusChanged`.
    async fn id(&self) -> ID {
        to_id(self.change.id)
    }

    /// The event that changed, as it stands now.
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

    /// The status the event took.
    async fn status(&self) -> EventStatus {
        self.change.status.into()
    }

    /// Why, as the organizer wrote it (up to 1000 characters, may run over lines); see
    /// `reasons` for its translations.
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

    /// When the organizer made the change.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.change.occurred_at
    }
}

/// Narrows `events`; every field given must hold.
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
        #[graphql(desc = "Only the events that match; left out, every event.")] filter: Option<
            EventFilter,
        >,
        #[graphql(desc = "How many events, 1 to 100 (default 20); BAD_USER_INPUT beyond.")]
        first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the page before, to read the next one.")]
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

    /// The event with this id; null when there is none (or the id could not be one).
    async fn event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "An `Event.id`.")] id: ID,
    ) -> async_graphql::Result<Option<Event>> {
        let Ok(id) = parse_id(&id, "event") else {
            return Ok(None);
        };
        Ok(loader(ctx)?.load_one(EventId(id)).await?.map(Event::from))
    }

    /// The event with this slug; null when there is none (or the slug could not be one).
    async fn event_by_slug(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "An `Event.slug`, e.g. `almaty-marathon-2020`.")] slug: String,
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

/// A new event of the organizer's organization.
#[derive(InputObject)]
pub struct CreateEventInput {
    /// Its URL-safe handle: 2 to 80 lower-case letters, digits or inner hyphens, unique
    /// (CONFLICT when taken).
    slug: String,
    /// Its name: one line, 1 to 200 characters.
    name: String,
    /// Plain text that may run over lines, at most 10,000 characters.
    #[graphql(default)]
    description: String,
    /// Where the race starts: one line, at most 500 characters.
    venue: String,
    /// The start, as an instant (UTC or with an offset); it must lie in the future.
    starts_at: DateTime<Utc>,
    /// IANA time zone, e.g. `Asia/Almaty`.
    time_zone: String,
    /// How many runners it takes, 0 to 1,000,000.
    capacity: i32,
    /// Whether runners may register from the start (CLOSED unless given).
    #[graphql(default_with = "RegistrationState::Closed")]
    registration_state: RegistrationState,
}

/// Changes to an event's descriptive fields; fields left out stay as they are. The start
/// and the status change only through `changeEventStatus`.
#[derive(InputObject)]
pub struct UpdateEventInput {
    /// The event, one your organization organizes.
    event_id: ID,
    /// The new name: one line, 1 to 200 characters.
    name: Option<String>,
    /// The new description: at most 10,000 characters.
    description: Option<String>,
    /// The new venue: one line, at most 500 characters.
    venue: Option<String>,
    /// The new capacity, 0 to 1,000,000 and not below the registrations already taken
    /// (CONFLICT).
    capacity: Option<i32>,
    /// Open, suspend or close registration. It cannot open for a cancelled or completed
    /// event, nor once the event has started (CONFLICT).
    registration_state: Option<RegistrationState>,
}

/// A distance's name, length and fee.
#[derive(InputObject)]
pub struct DistanceFields {
    /// One line, 1 to 100 characters, unique within the event (CONFLICT).
    name: String,
    /// The length in meters, 1 to 1,000,000.
    length_meters: i32,
    /// The entry fee: at most 10^15 minor units, with no more decimals than the currency
    /// has.
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

/// A change of an event's status, announced to its runners.
#[derive(InputObject)]
pub struct ChangeEventStatusInput {
    /// The event, one your organization organizes.
    event_id: ID,
    /// The status it takes: a move `EventStatus` allows, else
    /// INVALID_STATUS_TRANSITION.
    status: EventStatus,
    /// Shown to runners in the alert: required, 1 to 1000 characters, may run over
    /// lines.
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
    /// Creates an event organized by the organizer's organization, SCHEDULED, with no
    /// distances yet (`addDistance`). Errors: UNAUTHENTICATED, FORBIDDEN (not an
    /// organizer), BAD_USER_INPUT (a field out of bounds, a start not in the future, an
    /// unknown time zone), CONFLICT (the slug is taken).
    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn create_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new event's fields.")] input: CreateEventInput,
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

    /// Changes an event's descriptive fields or its registration state. Errors:
    /// FORBIDDEN (not an organizer of the event), NOT_FOUND, BAD_USER_INPUT, CONFLICT
    /// (see the input's fields).
    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn update_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event and the fields to change.")] input: UpdateEventInput,
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

    /// Adds a distance to an event your organization organizes; an event has at most 30
    /// (BAD_USER_INPUT beyond). Errors: FORBIDDEN, NOT_FOUND, BAD_USER_INPUT, CONFLICT
    /// (a distance of that name exists).
    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn add_distance(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event, one your organization organizes.")] event_id: ID,
        #[graphql(desc = "The distance's name, length and fee.")] input: DistanceFields,
    ) -> async_graphql::Result<Distance> {
        let api = api(ctx).graphql()?;
        let fields = input.parse().graphql()?;
        let event = organized_event(ctx, &event_id).await?;
        let added = service::add_distance(&api.db, api.clock.now(), event.id, fields)
            .await
            .graphql()?;
        Ok(Distance(added))
    }

    /// Replaces a distance's name, length and fee. Errors: FORBIDDEN (not an organizer
    /// of its event), NOT_FOUND, BAD_USER_INPUT, CONFLICT (the name is another
    /// distance's).
    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn update_distance(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A `Distance.id` of an event your organization organizes.")]
        distance_id: ID,
        #[graphql(desc = "Its new name, length and fee (all three).")] input: DistanceFields,
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
    /// every runner it concerns: live on the page, by Web Push, and by mail per `email`.
    /// A cancellation closes registration, and moves a refund deadline less than 7 days
    /// ahead to 7 days ahead (in the event's zone). Errors: FORBIDDEN (not an organizer of the event), NOT_FOUND,
    /// INVALID_STATUS_TRANSITION (a move `EventStatus` does not allow, or any but cancel
    /// and complete after the start; complete before it), BAD_USER_INPUT (a reason out
    /// of bounds; `startsAt` missing, unchanged or past when rescheduling, or given
    /// otherwise), CONFLICT (the event changed meanwhile: reload and try again).
    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn change_event_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event, its new status, the reason and who is mailed.")]
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
