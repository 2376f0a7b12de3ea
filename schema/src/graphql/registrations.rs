//! Registrations over GraphQL: a runner registers and sees their own; an organizer lists
//! an event's and moves starter kits along.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use entities::account::Role as AccountRole;
use entities::registration;

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

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entities::registration::TshirtSize")]
pub enum TshirtSize {
    Xs,
    S,
    M,
    L,
    Xl,
    Xxl,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entities::registration::StarterKit")]
pub enum StarterKitState {
    Pending,
    Ready,
    Issued,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entities::registration::RegistrationStatus")]
pub enum RegistrationStatus {
    Confirmed,
    Refunded,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entities::registration::Gender")]
pub enum Gender {
    Female,
    Male,
    Other,
}

/// A runner's place in an event. Handed only to the runner and to the event's organizers.
pub struct Registration(pub registration::Model);

#[Object]
impl Registration {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// Unique within the event.
    async fn bib(&self) -> i32 {
        self.0.bib
    }

    async fn state(&self) -> RegistrationStatus {
        self.0.state.into()
    }

    /// The fee paid.
    async fn fee(&self) -> Money {
        Money::from_minor(self.0.fee_minor, &self.0.currency)
    }

    async fn tshirt_size(&self) -> Option<TshirtSize> {
        self.0.tshirt_size.map(Into::into)
    }

    async fn tshirt_paid(&self) -> bool {
        self.0.tshirt_paid
    }

    async fn starter_kit(&self) -> StarterKitState {
        self.0.starter_kit.into()
    }

    async fn gender(&self) -> Option<Gender> {
        self.0.gender.map(Into::into)
    }

    async fn birth_date(&self) -> Option<Date> {
        self.0.birth_date.map(Date)
    }

    async fn country(&self) -> Option<&str> {
        self.0.country.as_deref()
    }

    async fn city(&self) -> Option<&str> {
        self.0.city.as_deref()
    }

    async fn registered_at(&self) -> DateTime<Utc> {
        self.0.registered_at
    }

    async fn event(&self, ctx: &Context<'_>) -> async_graphql::Result<Event> {
        loader(ctx)?
            .load_one(EventId(self.0.event_id))
            .await?
            .map(Event::from)
            .ok_or_else(|| to_graphql(ApiError::NotFound("event")))
    }

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

#[derive(InputObject)]
pub struct RegisterInput {
    distance_id: ID,
    /// A T-shirt is bought by choosing its size.
    tshirt_size: Option<TshirtSize>,
    gender: Option<Gender>,
    birth_date: Option<Date>,
    /// ISO 3166-1 alpha-2, e.g. KZ.
    country: Option<String>,
    city: Option<String>,
}

#[derive(InputObject, Default)]
pub struct RegistrationFilter {
    distance_id: Option<ID>,
    starter_kit: Option<StarterKitState>,
    state: Option<RegistrationStatus>,
    bib: Option<i32>,
}

#[derive(Default)]
pub struct RegistrationQuery;

#[Object]
impl RegistrationQuery {
    /// One registration: the viewer's own, or one of an event they organize.
    async fn registration(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Registration> {
        let viewer = signed_in(ctx).graphql()?;
        let id = parse_id(&id, "registration").graphql()?;
        Ok(Registration(
            service::find_visible(&api(ctx).graphql()?.db, viewer, id)
                .await
                .graphql()?,
        ))
    }

    /// An event's registrations, for its organizers (Relay connection by id).
    #[graphql(
        guard = "RoleGuard(AccountRole::Organizer)",
        complexity = "super::ids::page_complexity(first, child_complexity)"
    )]
    async fn registrations(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        filter: Option<RegistrationFilter>,
        first: Option<i32>,
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
    /// Registers the signed-in runner for a distance. Errors: REGISTRATION_CLOSED,
    /// ALREADY_REGISTERED, SOLD_OUT.
    #[graphql(guard = "RoleGuard(AccountRole::Runner)")]
    async fn register(
        &self,
        ctx: &Context<'_>,
        input: RegisterInput,
    ) -> async_graphql::Result<Registration> {
        let api = api(ctx).graphql()?;
        let fields = RegistrationInput {
            distance_id: parse_id(&input.distance_id, "distance").graphql()?,
            tshirt_size: input.tshirt_size.map(Into::into),
            gender: input.gender.map(Into::into),
            birth_date: input.birth_date.map(|d| d.0),
            country: input
                .country
                .as_deref()
                .map(CountryCode::parse)
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
    /// event's kit-issue date.
    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn advance_starter_kit(
        &self,
        ctx: &Context<'_>,
        registration_id: ID,
        to: StarterKitState,
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
