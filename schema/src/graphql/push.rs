//! Web Push over GraphQL: the VAPID public key for `pushManager.subscribe`, subscribing a
//! browser (the standard PushSubscription JSON) and unsubscribing it, and, for
//! organizers, what became of each alert's pushes.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entities::account::Role;

use super::bounds;
use super::events::{Event, EventStatus};
use super::guards::{RoleGuard, api, organized_event, signed_in};
use super::ids::{parse_id, to_id};
use super::loaders::{EventId, loader};
use crate::error::Graphql;
use race_office::domain::{PushEndpoint, PushKeys};
use race_office::services::push_deliveries;
use race_office::services::push_subscriptions::{self, NewSubscription, SubscriptionView};

/// The `keys` of a browser's PushSubscription.
#[derive(InputObject)]
pub struct PushKeysInput {
    /// The browser's P-256 public key, base64url (65 bytes uncompressed).
    #[graphql(name = "p256dh")]
    p256dh: String,
    /// The browser's auth secret, base64url (16 bytes).
    auth: String,
}

/// A browser's PushSubscription (what `pushManager.subscribe` resolves to, as JSON), and
/// the events it is to be alerted about.
#[derive(InputObject)]
pub struct SubscribePushInput {
    /// `PushSubscription.endpoint`: an https URL of an allowed push service.
    endpoint: String,
    /// `PushSubscription.keys`: what pushes to this browser are encrypted for.
    keys: PushKeysInput,
    /// The events to be alerted about. Left out: every event the runner is registered
    /// for, now or later.
    event_ids: Option<Vec<ID>>,
}

pub struct PushSubscription(SubscriptionView);

/// A browser subscribed to alerts.
#[Object]
impl PushSubscription {
    /// The subscription's opaque id.
    async fn id(&self) -> ID {
        to_id(self.0.subscription.id)
    }

    /// The push service URL the browser gave; `unsubscribePush` takes it.
    async fn endpoint(&self) -> &str {
        &self.0.subscription.endpoint
    }

    /// True when it follows every event the runner is registered for.
    async fn all_registered_events(&self) -> bool {
        self.0.subscription.all_registered_events
    }

    /// The events it names (empty when it follows all registered events; at most 100).
    #[graphql(complexity = "bounds::list(bounds::SUBSCRIBED_EVENTS, child_complexity)")]
    async fn events(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Event>> {
        let loaded = loader(ctx)?
            .load_many(self.0.event_ids.iter().map(|id| EventId(*id)))
            .await?;
        Ok(self
            .0
            .event_ids
            .iter()
            .filter_map(|id| loaded.get(&EventId(*id)).cloned().map(Event::from))
            .take(bounds::SUBSCRIBED_EVENTS)
            .collect())
    }

    /// When the browser subscribed.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.subscription.created_at
    }
}

/// What became of one alert's pushes.
#[derive(SimpleObject)]
pub struct PushReport {
    /// The alert (a `Notification.id`; `reachReport` takes it).
    notification_id: ID,
    /// The status the event took in this alert.
    status: EventStatus,
    /// The organizer's reason, as written.
    reason: String,
    /// When the change was made.
    occurred_at: DateTime<Utc>,
    /// One per matching subscription.
    queued: i64,
    /// Attempted at least once.
    sent: i64,
    /// Accepted by the push service.
    delivered: i64,
    /// Given up (a final 4xx, or too many attempts).
    failed: i64,
    /// The push service said the subscription is gone; it was deleted.
    pruned: i64,
    /// Its subscription was deleted before it could be sent.
    dropped: i64,
    /// Waiting, in flight or retrying.
    pending: i64,
    /// HTTP requests made, retries included.
    attempts: i64,
    /// Why the newest failed push was given up: the push service's status or the network
    /// error, and the attempts made. Null when none failed.
    last_error: Option<String>,
    /// Failed pushes counted by why they were given up; classes with none are left out
    /// (one entry per class: at most 5).
    #[graphql(complexity = "bounds::list(bounds::FAILURE_CLASSES, child_complexity)")]
    failures_by_class: Vec<PushFailureCount>,
}

/// How many pushes of an alert were given up for one reason.
#[derive(SimpleObject)]
pub struct PushFailureCount {
    /// Why they were given up.
    class: PushFailureClass,
    /// How many.
    count: i64,
}

/// Why a push was given up.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entities::push_delivery::FailureClass")]
pub enum PushFailureClass {
    /// The push service refused it for good (a 4xx other than 404, 410 and 429).
    Rejected,
    /// The push service answered 429 or 5xx until the attempts ran out.
    Unavailable,
    /// No answer (connection, TLS, DNS, timeout) until the attempts ran out.
    Network,
    /// Never sent: the endpoint is outside the push policy.
    Refused,
    /// Never sent: the subscription's keys could not be used to encrypt or sign.
    Invalid,
}

#[derive(Default)]
pub struct PushQuery;

#[Object]
impl PushQuery {
    /// The VAPID public key (base64url), the `applicationServerKey` for
    /// `pushManager.subscribe`.
    async fn web_push_public_key(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(api(ctx).graphql()?.push.public_key.clone())
    }

    /// Per alert of the event (newest first, at most 50): pushes queued, sent, delivered,
    /// failed and pruned. For the event's organizers: FORBIDDEN for anyone else,
    /// NOT_FOUND for an unknown event.
    #[graphql(
        guard = "RoleGuard(Role::Organizer)",
        complexity = "bounds::list(bounds::PUSH_REPORTS, child_complexity)"
    )]
    async fn push_reports(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event, one your organization organizes.")] event_id: ID,
    ) -> async_graphql::Result<Vec<PushReport>> {
        let api = api(ctx).graphql()?;
        let event = organized_event(ctx, &event_id).await?;
        Ok(
            push_deliveries::event_reports(&api.db, event.id, bounds::PUSH_REPORTS as u64)
                .await
                .graphql()?
                .into_iter()
                .map(|(message, report)| PushReport {
                    notification_id: to_id(report.notification_id),
                    status: message.status.into(),
                    reason: message.reason,
                    occurred_at: message.occurred_at,
                    queued: report.queued,
                    sent: report.sent,
                    delivered: report.delivered,
                    failed: report.failed,
                    pruned: report.pruned,
                    dropped: report.dropped,
                    pending: report.pending,
                    attempts: report.attempts,
                    last_error: report.last_error,
                    failures_by_class: report
                        .failures_by_class
                        .into_iter()
                        .map(|(class, count)| PushFailureCount {
                            class: class.into(),
                            count,
                        })
                        .collect(),
                })
                .collect(),
        )
    }
}

#[derive(Default)]
pub struct PushMutation;

#[Object]
impl PushMutation {
    /// Subscribes this browser to alerts by Web Push; subscribing the same endpoint again
    /// updates it. The endpoint's host is compared lower-cased and without a trailing dot.
    /// Errors: BAD_USER_INPUT (endpoint not an https URL of an allowed push service, or
    /// keys of the wrong size or off the curve), NOT_FOUND (an unknown event), CONFLICT
    /// (the endpoint is another account's, or the account already holds the most
    /// subscriptions it may, 20 unless configured).
    async fn subscribe_push(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The browser's PushSubscription and the events to follow.")]
        input: SubscribePushInput,
    ) -> async_graphql::Result<PushSubscription> {
        let runner = signed_in(ctx).graphql()?;
        let api = api(ctx).graphql()?;
        let endpoint = PushEndpoint::parse(&input.endpoint, &api.push.policy).graphql()?;
        let keys = PushKeys::parse(&input.keys.p256dh, &input.keys.auth).graphql()?;
        let event_ids = input
            .event_ids
            .map(|ids| {
                ids.iter()
                    .map(|id| parse_id(id, "event"))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()
            .graphql()?;
        let view = push_subscriptions::subscribe(
            &api.db,
            api.clock.now(),
            runner,
            NewSubscription {
                endpoint,
                keys,
                event_ids,
            },
            api.push.policy.max_subscriptions_per_account,
        )
        .await
        .graphql()?;
        Ok(PushSubscription(view))
    }

    /// Removes the signed-in account's subscription with this endpoint (its host in any
    /// case, with or without a trailing dot); false when there was none.
    async fn unsubscribe_push(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `PushSubscription.endpoint` to remove.")] endpoint: String,
    ) -> async_graphql::Result<bool> {
        let runner = signed_in(ctx).graphql()?;
        push_subscriptions::unsubscribe(&api(ctx).graphql()?.db, runner, &endpoint)
            .await
            .graphql()
    }
}

/// The account's own push subscriptions (for `me { pushSubscriptions }`).
pub async fn of_account(
    ctx: &Context<'_>,
    account_id: i64,
) -> async_graphql::Result<Vec<PushSubscription>> {
    let subscriptions = push_subscriptions::of_account(&api(ctx).graphql()?.db, account_id)
        .await
        .graphql()?;
    Ok(bounds::first(subscriptions, bounds::PUSH_SUBSCRIPTIONS)
        .into_iter()
        .map(PushSubscription)
        .collect())
}
