//! Refunds over GraphQL: the event's policy, a runner's request, the organizer's decision
//! and payment, and the default outcome for those who filed nothing.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entities::account::Role as AccountRole;
use entities::refund_request;

use super::date::Date;
use super::events::Event;
use super::guards::{RoleGuard, api, organized_event, signed_in};
use super::ids::{id_cursor, page_size, parse_id, parse_id_cursor, to_id};
use super::loaders::{RegistrationId, loader};
use super::money::Money;
use super::registrations::Registration;
use crate::error::{Graphql, to_graphql};
use race_office::domain::{BasisPoints, LongText};
use race_office::error::ApiError;
use race_office::services::refunds::{
    self as service, RefundChoice, RefundPolicy as ServicePolicy,
};

/// What a runner of a cancelled event chooses for their fee.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entities::refund_request::RefundOption")]
pub enum RefundOption {
    /// The whole fee back; no kit.
    FullRefund,
    /// Starter kit, T-shirt and medal for the kit share; the rest to charity.
    KitAndDonate,
}

/// Where a refund request stands: SUBMITTED -> APPROVED | REJECTED; an approved
/// FULL_REFUND then -> PAID.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entities::refund_request::RefundStatus")]
pub enum RefundStatus {
    /// Filed by the runner, waiting for the organizer's decision.
    Submitted,
    /// Accepted by the organizer (a KIT_AND_DONATE donation is then recorded).
    Approved,
    /// Turned down by the organizer; `decisionNote` says why.
    Rejected,
    /// The full refund was paid back to the runner.
    Paid,
}

/// An organizer's decision on a submitted refund request.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum RefundDecision {
    /// Accept the request.
    Approved,
    /// Turn it down.
    Rejected,
}

pub struct RefundRequest(pub refund_request::Model);

/// A runner's choice for their registration of a cancelled event, with how the fee is
/// split. The three amounts add up to the fee, exactly, in its currency.
#[Object]
impl RefundRequest {
    /// The request's opaque id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// What the runner chose.
    async fn option(&self) -> RefundOption {
        self.0.option.into()
    }

    /// The runner agreed that the rest of the fee goes to charity (always true under
    /// KIT_AND_DONATE).
    async fn donation_consent(&self) -> bool {
        self.0.donation_consent
    }

    /// Where the request stands.
    async fn status(&self) -> RefundStatus {
        self.0.status.into()
    }

    /// Paid back to the runner.
    async fn refund(&self) -> Money {
        Money::from_minor(self.0.refund_minor, &self.0.currency)
    }

    /// Kept as starter kit, T-shirt and medal.
    async fn kit_share(&self) -> Money {
        Money::from_minor(self.0.kit_share_minor, &self.0.currency)
    }

    /// Given to the event's charity programme.
    async fn donation(&self) -> Money {
        Money::from_minor(self.0.donation_minor, &self.0.currency)
    }

    /// True when the policy's default outcome was applied because nothing was filed.
    async fn is_default(&self) -> bool {
        self.0.is_default
    }

    /// When it was filed (or the default outcome applied).
    async fn submitted_at(&self) -> DateTime<Utc> {
        self.0.submitted_at
    }

    /// When the organizer decided; null while SUBMITTED.
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.decided_at
    }

    /// The organizer's note to the runner with the decision, if any.
    async fn decision_note(&self) -> Option<&str> {
        self.0.decision_note.as_deref()
    }

    /// When the refund was paid back; null unless PAID.
    async fn paid_at(&self) -> Option<DateTime<Utc>> {
        self.0.paid_at
    }

    /// The registration it is for.
    async fn registration(&self, ctx: &Context<'_>) -> async_graphql::Result<Registration> {
        loader(ctx)?
            .load_one(RegistrationId(self.0.registration_id))
            .await?
            .map(Registration)
            .ok_or_else(|| to_graphql(ApiError::NotFound("registration")))
    }
}

/// What a cancelled event offers its runners.
#[derive(SimpleObject)]
pub struct RefundPolicy {
    /// Last day to apply, in the event's time zone (inclusive, until 23:59:59 there).
    deadline: Option<Date>,
    /// The last instant applications are accepted, in UTC.
    deadline_ends_at: Option<DateTime<Utc>>,
    /// Share of the fee kept as kit, T-shirt and medal, in basis points (5000 = 50%).
    kit_share_basis_points: i32,
    /// Share donated under KIT_AND_DONATE, in basis points.
    donation_basis_points: i32,
    /// The outcome for a runner who files nothing by the deadline.
    default_option: RefundOption,
    /// First day starter kits are issued, in the event's time zone.
    kit_issue_from: Option<Date>,
}

impl RefundPolicy {
    pub fn of(event: &entities::event::Model) -> Self {
        let deadline_ends_at = event.refund_deadline.and_then(|date| {
            race_office::domain::TimeZone::parse(&event.time_zone)
                .ok()?
                .end_of(date)
        });
        Self {
            deadline: event.refund_deadline.map(Date),
            deadline_ends_at,
            kit_share_basis_points: event.kit_share_bp,
            donation_basis_points: BasisPoints::WHOLE - event.kit_share_bp,
            default_option: RefundOption::KitAndDonate,
            kit_issue_from: event.kit_issue_from.map(Date),
        }
    }
}

/// A runner's choice for one of their registrations.
#[derive(InputObject)]
pub struct RequestRefundInput {
    /// The runner's own registration of a cancelled event.
    registration_id: ID,
    /// A full refund, or the kit plus a donation.
    option: RefundOption,
    /// Required (true) for KIT_AND_DONATE.
    #[graphql(default)]
    donation_consent: bool,
}

/// An event's refund policy, replaced whole.
#[derive(InputObject)]
pub struct RefundPolicyInput {
    /// The event, one your organization organizes.
    event_id: ID,
    /// Last day to apply, in the event's zone; null: no refunds offered. Once the event
    /// is cancelled it may only move later, to at least 7 days ahead, and never be
    /// removed.
    deadline: Option<Date>,
    /// Share of the fee kept as kit, T-shirt and medal under KIT_AND_DONATE, 0 to 10000
    /// basis points (5000 = 50%); the rest is donated.
    #[graphql(default = 5000)]
    kit_share_basis_points: i32,
    /// First day starter kits are issued, in the event's zone; null: not yet set.
    kit_issue_from: Option<Date>,
}

#[derive(Default)]
pub struct RefundQuery;

#[Object]
impl RefundQuery {
    /// An event's refund requests, for its organizers (Relay connection by id, oldest
    /// first). Errors: FORBIDDEN (not an organizer of the event), NOT_FOUND,
    /// BAD_USER_INPUT (`first` out of bounds, a cursor not from this connection).
    #[graphql(
        guard = "RoleGuard(AccountRole::Organizer)",
        complexity = "super::ids::page_complexity(first, child_complexity)"
    )]
    async fn refund_requests(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event, one your organization organizes.")] event_id: ID,
        #[graphql(desc = "Only requests in this status; left out, any.")] status: Option<
            RefundStatus,
        >,
        #[graphql(desc = "Only requests with this option; left out, any.")] option: Option<
            RefundOption,
        >,
        #[graphql(desc = "How many, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the page before, to read the next one.")]
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, RefundRequest>> {
        let api = api(ctx).graphql()?;
        let event = organized_event(ctx, &event_id).await?;
        let limit = page_size(first).graphql()?;
        let after_id = after
            .as_deref()
            .map(parse_id_cursor)
            .transpose()
            .graphql()?;
        let mut rows = service::list_for_event(
            &api.db,
            event.id,
            status.map(Into::into),
            option.map(Into::into),
            after_id,
            limit,
        )
        .await
        .graphql()?;
        let has_next = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let mut connection = Connection::new(after_id.is_some(), has_next);
        connection.edges.extend(
            rows.into_iter()
                .map(|r| Edge::new(id_cursor(r.id), RefundRequest(r))),
        );
        Ok(connection)
    }
}

#[derive(Default)]
pub struct RefundMutation;

#[Object]
impl RefundMutation {
    /// A runner's choice for their registration of a cancelled event, by the deadline
    /// (judged in the event's time zone). Errors: ALREADY_REQUESTED, DEADLINE_PASSED,
    /// REFUND_NOT_AVAILABLE (the event is not cancelled, or has no refund policy),
    /// BAD_USER_INPUT (KIT_AND_DONATE without `donationConsent: true`), NOT_FOUND (not
    /// the runner's registration).
    #[graphql(guard = "RoleGuard(AccountRole::Runner)")]
    async fn request_refund(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The registration and the runner's choice.")] input: RequestRefundInput,
    ) -> async_graphql::Result<RefundRequest> {
        let api = api(ctx).graphql()?;
        let choice = RefundChoice {
            registration_id: parse_id(&input.registration_id, "registration").graphql()?,
            option: input.option.into(),
            donation_consent: input.donation_consent,
        };
        Ok(RefundRequest(
            service::request_refund(&api.db, api.clock.now(), signed_in(ctx).graphql()?, choice)
                .await
                .graphql()?,
        ))
    }

    /// Approves or rejects a submitted request of an event your organization organizes,
    /// and tells the runner (a `myNotifications` alert). Approving KIT_AND_DONATE records
    /// the donation. Errors: FORBIDDEN, NOT_FOUND, BAD_USER_INPUT (a note over 2000
    /// characters), CONFLICT (already decided).
    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn decide_refund(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A `RefundRequest.id`.")] id: ID,
        #[graphql(desc = "Approve or reject.")] decision: RefundDecision,
        #[graphql(desc = "A note to the runner, at most 2000 characters; blank is none.")]
        note: Option<String>,
    ) -> async_graphql::Result<RefundRequest> {
        let api = api(ctx).graphql()?;
        let note = note
            .as_deref()
            .map(|note| LongText::parse("note", note, 2000))
            .transpose()
            .graphql()?
            .map(LongText::into_inner)
            .filter(|note| !note.is_empty());
        let status = match decision {
            RefundDecision::Approved => refund_request::RefundStatus::Approved,
            RefundDecision::Rejected => refund_request::RefundStatus::Rejected,
        };
        let id = parse_id(&id, "refund request").graphql()?;
        let decided = service::decide(
            &api.db,
            &api.outbox,
            api.clock.now(),
            signed_in(ctx).graphql()?,
            id,
            status,
            note,
        )
        .await
        .graphql()?;
        Ok(RefundRequest(decided))
    }

    /// Records that an approved full refund was paid back; the registration becomes
    /// REFUNDED and the runner is told. Errors: FORBIDDEN, NOT_FOUND, CONFLICT (not an
    /// approved FULL_REFUND).
    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn mark_refund_paid(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A `RefundRequest.id`.")] id: ID,
    ) -> async_graphql::Result<RefundRequest> {
        let api = api(ctx).graphql()?;
        let id = parse_id(&id, "refund request").graphql()?;
        let paid = service::mark_paid(
            &api.db,
            &api.outbox,
            api.clock.now(),
            signed_in(ctx).graphql()?,
            id,
        )
        .await
        .graphql()?;
        Ok(RefundRequest(paid))
    }

    /// After the deadline: kit plus donation for every registration with no request.
    /// Idempotent; returns how many registrations it applied to. Errors: FORBIDDEN,
    /// NOT_FOUND, REFUND_NOT_AVAILABLE (not cancelled, or no policy), CONFLICT (the
    /// deadline has not passed yet).
    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn apply_default_refund_outcome(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A cancelled event your organization organizes.")] event_id: ID,
    ) -> async_graphql::Result<i32> {
        let api = api(ctx).graphql()?;
        let id = parse_id(&event_id, "event").graphql()?;
        let applied =
            service::apply_default_outcome(&api.db, api.clock.now(), signed_in(ctx).graphql()?, id)
                .await
                .graphql()?;
        Ok(i32::try_from(applied).unwrap_or(i32::MAX))
    }

    /// Sets what a cancellation offers the event's runners: the deadline, the kit share
    /// and the kit-issue date. Errors: FORBIDDEN, NOT_FOUND, BAD_USER_INPUT (a share out
    /// of bounds; for a cancelled event, a deadline moved sooner or removed).
    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn set_refund_policy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event and its policy.")] input: RefundPolicyInput,
    ) -> async_graphql::Result<Event> {
        let api = api(ctx).graphql()?;
        let policy = ServicePolicy {
            deadline: input.deadline.map(|d| d.0),
            kit_share: BasisPoints::parse(input.kit_share_basis_points).graphql()?,
            kit_issue_from: input.kit_issue_from.map(|d| d.0),
        };
        let id = parse_id(&input.event_id, "event").graphql()?;
        Ok(Event::from(
            service::set_policy(
                &api.db,
                api.clock.now(),
                signed_in(ctx).graphql()?,
                id,
                policy,
            )
            .await
            .graphql()?,
        ))
    }
}
