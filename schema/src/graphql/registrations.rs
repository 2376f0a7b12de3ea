//! Registrations over GraphQL: a runner registers and sees their own; an organizer lists
//! an event's and moves starter kits along.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use entities::account::Role as AccountRole;
use entities::registration;

use super::codes::CountryCode as CountryCodeScalar;
use super::date::Date;
use super::events::{Distance, Event};
use super::guards::{RoleGuard, api, organized_event, signed_in};
use super::ids::{id_cursor, page_size, parse_id, parse_id_cursor, to_id};
use super::loaders::{DistanceId, EventId, RefundOf, loader};
use super::money::Money;
use super::refunds::RefundRequest;
use crate::error::{Graphql, to_graphql};
use race_office::domain::{City, CountryCode};
use race_office::error::ApiError;
use race_office::services::registrations::{
    self as service, RegistrationFilter as ServiceFilter, RegistrationInput,
};

/// The size of the race T-shirt a runner bought with their registration.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entities::registration::TshirtSize")]
pub enum TshirtSize {
    /// Extra small.
    Xs,
    /// Small.
    S,
    /// Medium.
    M,
    /// Large.
    L,
    /// Extra large.
    Xl,
    /// Double extra large.
    Xxl,
}

/// Where a runner's starter kit (bib, T-shirt, medal) stands; it moves forward only,
/// PENDING -> READY -> ISSUED.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entities::registration::StarterKit")]
pub enum StarterKitState {
    /// Not yet packed.
    Pending,
    /// Packed, waiting for the runner to collect it.
    Ready,
    /// Handed to the runner (from the event's `kitIssueFrom` date on).
    Issued,
}

/// Whether a registration still holds its fee.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entities::registration::RegistrationStatus")]
pub enum RegistrationStatus {
    /// Registered, fee held.
    Confirmed,
    /// The fee was paid back (a FULL_REFUND marked paid); no starter kit.
    Refunded,
}

/// The gender a runner gave, for the organizer's age-and-gender groups.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entities::registration::Gender")]
pub enum Gender {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Another gender.
    Other,
}

pub struct Registration(pub registration::Model);

/// A runner's place in an event. Handed only to the runner and to the event's organizers.
#[Object]
impl Registration {
    /// The registration's opaque id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// Unique within the event.
    async fn bib(&self) -> i32 {
        self.0.bib
    }

    /// Whether the fee is still held or was paid back.
    async fn state(&self) -> RegistrationStatus {
        self.0.state.into()
    }

    /// The fee paid.
    async fn fee(&self) -> Money {
        Money::from_minor(self.0.fee_minor, &self.0.currency)
    }

    /// The T-shirt size chosen; null when the runner bought none.
    async fn tshirt_size(&self) -> Option<TshirtSize> {
        self.0.tshirt_size.map(Into::into)
    }

    /// True when a T-shirt was bought (a size was chosen).
    async fn tshirt_paid(&self) -> bool {
        self.0.tshirt_paid
    }

    /// Where the starter kit stands.
    async fn starter_kit(&self) -> StarterKitState {
        self.0.starter_kit.into()
    }

    /// As the runner gave it; null when not given.
    async fn gender(&self) -> Option<Gender> {
        self.0.gender.map(Into::into)
    }

    /// As the runner gave it; null when not given.
    async fn birth_date(&self) -> Option<Date> {
        self.0.birth_date.map(Date)
    }

    /// The runner's country; null when not given.
    async fn country(&self) -> Option<CountryCodeScalar> {
        self.0.country.clone().map(CountryCodeScalar)
    }

    /// The runner's city as typed (1 to 100 characters); null when not given.
    async fn city(&self) -> Option<&str> {
        self.0.city.as_deref()
    }

    /// When the runner registered.
    async fn registered_at(&self) -> DateTime<Utc> {
        self.0.registered_at
    }

    /// The event registered for.
    async fn event(&self, ctx: &Context<'_>) -> async_graphql::Result<Event> {
        loader(ctx)?
            .load_one(EventId(self.0.event_id))
            .await?
            .map(Event::from)
            .ok_or_else(|| to_graphql(ApiError::NotFound("event")))
    }

    /// The distance registered for.
    async fn distance(&self, ctx: &Context<'_>) -> async_graphql::Result<Distance> {
        loader(ctx)?
            .load_one(DistanceId(self.0.distance_id))
            .await?
            .map(Distance)
            .ok_or_else(|| to_graphql(ApiError::NotFound("distance")))
    }

    /// The refund request filed for it, if any.
    async fn refund_request(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<RefundRequest>> {
        Ok(loader(ctx)?
            .load_one(RefundOf(self.0.id))
            .await?
            .map(RefundRequest))
    }
}

/// A runner's registration for one distance, with the details the organizer asks for
/// (all optional but the distance).
#[derive(InputObject)]
pub struct RegisterInput {
    /// The `Distance.id` to run; its fee is the registration's fee.
    distance_id: ID,
    /// A T-shirt is bought by choosing its size.
    tshirt_size: Option<TshirtSize>,
    /// The runner's gender, for age-and-gender groups.
    gender: Option<Gender>,
    /// The runner's birth date, a past date after 1900 (BAD_USER_INPUT otherwise).
    birth_date: Option<Date>,
    /// The runner's country, e.g. `KZ` (lower case accepted).
    country: Option<CountryCodeScalar>,
    /// The runner's city: one line, 1 to 100 characters.
    city: Option<String>,
}

/// Narrows an event's `registrations`; every field given must hold.
#[derive(InputObject, Default)]
pub struct RegistrationFilter {
    /// Registered for this distance of the event.
    distance_id: Option<ID>,
    /// Whose starter kit stands here.
    starter_kit: Option<StarterKitState>,
    /// Confirmed or refunded.
    state: Option<RegistrationStatus>,
    /// With this bib number.
    bib: Option<i32>,
}

#[derive(Default)]
pub struct RegistrationQuery;

#[Object]
impl RegistrationQuery {
    /// One registration: the viewer's own, or one of an event they organize. NOT_FOUND
    /// for any other, as for an unknown id.
    async fn registration(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A `Registration.id`.")] id: ID,
    ) -> async_graphql::Result<Registration> {
        let viewer = signed_in(ctx).graphql()?;
        let id = parse_id(&id, "registration").graphql()?;
        Ok(Registration(
            service::find_visible(&api(ctx).graphql()?.db, viewer, id)
                .await
                .graphql()?,
        ))
    }

    /// An event's registrations, for its organizers (Relay connection by id, oldest
    /// first). Errors: FORBIDDEN (not an organizer of the event), NOT_FOUND,
    /// BAD_USER_INPUT (`first` out of bounds, a cursor not from this connection).
    #[graphql(
        guard = "RoleGuard(AccountRole::Organizer)",
        complexity = "super::ids::page_complexity(first, child_complexity)"
    )]
    async fn registrations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event, one your organization organizes.")] event_id: ID,
        #[graphql(desc = "Only the registrations that match; left out, all of them.")]
        filter: Option<RegistrationFilter>,
        #[graphql(desc = "How many, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the page before, to read the next one.")]
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Registration>> {
        let api = api(ctx).graphql()?;
        let event = organized_event(ctx, &event_id).await?;
        let limit = page_size(first).graphql()?;
        let filter = filter.unwrap_or_default();
        let service_filter = ServiceFilter {
            distance_id: filter
                .distance_id
                .as_ref()
                .map(|id| parse_id(id, "distance"))
                .transpose()
                .graphql()?,
            starter_kit: filter.starter_kit.map(Into::into),
            state: filter.state.map(Into::into),
            bib: filter.bib,
        };
        let after_id = after
            .as_deref()
            .map(parse_id_cursor)
            .transpose()
            .graphql()?;
        let mut rows = service::list_for_event(&api.db, event.id, &service_filter, after_id, limit)
            .await
            .graphql()?;
        let has_next = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let mut connection = Connection::new(after_id.is_some(), has_next);
        connection.edges.extend(
            rows.into_iter()
                .map(|r| Edge::new(id_cursor(r.id), Registration(r))),
        );
        Ok(connection)
    }
}

#[derive(Default)]
pub struct RegistrationMutation;

#[Object]
impl RegistrationMutation {
    /// Registers the signed-in runner for a distance, at the distance's fee; one
    /// registration per runner and event. Errors: UNAUTHENTICATED, FORBIDDEN (not a
    /// runner), NOT_FOUND (an unknown distance), BAD_USER_INPUT (a detail out of
    /// bounds), REGISTRATION_CLOSED (not open, or the event has started),
    /// ALREADY_REGISTERED, SOLD_OUT (no place left).
    #[graphql(guard = "RoleGuard(AccountRole::Runner)")]
    async fn register(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The distance and the runner's details.")] input: RegisterInput,
    ) -> async_graphql::Result<Registration> {
        let api = api(ctx).graphql()?;
        let fields = RegistrationInput {
            distance_id: parse_id(&input.distance_id, "distance").graphql()?,
            tshirt_size: input.tshirt_size.map(Into::into),
            gender: input.gender.map(Into::into),
            birth_date: input.birth_date.map(|d| d.0),
            country: input
                .country
                .map(|c| CountryCode::parse(&c.0))
                .transpose()
                .graphql()?,
            city: input
                .city
                .as_deref()
                .map(City::parse)
                .transpose()
                .graphql()?,
        };
        let created =
            service::register(&api.db, api.clock.now(), signed_in(ctx).graphql()?, fields)
                .await
                .graphql()?;
        Ok(Registration(created))
    }

    /// Moves a starter kit one step (PENDING -> READY -> ISSUED); issuing starts on the
    /// event's kit-issue date. Errors: FORBIDDEN (not an organizer of the event),
    /// NOT_FOUND, BAD_USER_INPUT (to PENDING), CONFLICT (the kit is not one step before
    /// `to`, or the fee was refunded), KIT_ISSUE_NOT_STARTED (ISSUED before
    /// `kitIssueFrom`, or none set).
    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn advance_starter_kit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A registration of an event your organization organizes.")]
        registration_id: ID,
        #[graphql(desc = "The next step: READY, then ISSUED.")] to: StarterKitState,
    ) -> async_graphql::Result<Registration> {
        let api = api(ctx).graphql()?;
        let id = parse_id(&registration_id, "registration").graphql()?;
        let moved = service::advance_starter_kit(
            &api.db,
            api.clock.now(),
            signed_in(ctx).graphql()?,
            id,
            to.into(),
        )
        .await
        .graphql()?;
        Ok(Registration(moved))
    }
}
