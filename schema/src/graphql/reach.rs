//! Reach: runners acknowledge what they were shown (the page, and the service worker for a
//! push, with the token the push carries), read their alert log back, and organizers read
//! who an alert reached and who they must still phone.

use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use entities::account::Role;

use super::alerts::Notification;
use super::guards::{RoleGuard, api, organized_event, signed_in};
use super::ids::{id_cursor, parse_id, parse_id_cursor, to_id};
use crate::error::Graphql;
use race_office::domain::PushAction as DomainPushAction;
use race_office::error::ApiError;
use race_office::services::reach::{self, ReachFilter as DomainFilter, ReachedRunner};
use race_office::services::{notifications, registrations};

/// What a service worker reports about a push it received.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PushAcknowledgement {
    /// It showed the notification.
    Displayed,
    /// The runner clicked it.
    Clicked,
}

/// Which runners of a reach report to list.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum ReachFilter {
    /// Neither acknowledged nor emailed (yet): the ones to phone.
    #[default]
    Unreached,
    /// Their mail was refused for good.
    EmailFailed,
}

/// Where an alert's mail to one runner stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entities::mail_delivery::MailStatus")]
pub enum MailStatus {
    /// Waiting for the escalation window to end, or for a retry.
    Pending,
    /// Accepted by the mail server.
    Sent,
    /// Refused for good; `emailReply` says why.
    Failed,
    /// Not needed: the runner acknowledged the alert first.
    Acknowledged,
    /// Not mailed: the organizer chose `EmailPolicy.NONE`.
    NotMailed,
}

/// A runner in a reach report's list, for a director to phone.
#[derive(SimpleObject)]
pub struct ReachRunner {
    /// The runner's display name.
    name: String,
    /// The runner's address.
    email: String,
    /// Where the alert's mail to them stands.
    email_status: MailStatus,
    /// The mail server's refusal, when there was one.
    email_reply: Option<String>,
}

impl From<ReachedRunner> for ReachRunner {
    fn from(r: ReachedRunner) -> Self {
        Self {
            name: r.display_name,
            email: r.email,
            email_status: r.mail_status.into(),
            email_reply: r.last_reply,
        }
    }
}

pub struct ReachReport {
    notification_id: i64,
    reach: reach::Reach,
}

/// Who one alert reached, channel by channel, and who must still be phoned. Each
/// targeted runner counts once per line.
#[Object]
impl ReachReport {
    /// The alert (a `Notification.id`, as `myNotifications` and `pushReports` carry).
    async fn notification_id(&self) -> ID {
        to_id(self.notification_id)
    }

    /// Runners the alert concerns (registered for the event; the one runner of a refund
    /// decision). Zero for a moment after the change, until its targets are queued.
    async fn targeted(&self) -> i64 {
        self.reach.targeted
    }

    /// Runners who acknowledged it on any channel.
    async fn acknowledged(&self) -> i64 {
        self.reach.acknowledged
    }

    /// Runners whose page showed it.
    async fn live_seen(&self) -> i64 {
        self.reach.live_seen
    }

    /// Runners with a push accepted by their push service.
    async fn push_delivered(&self) -> i64 {
        self.reach.push_delivered
    }

    /// Runners whose browser reported showing the push.
    async fn push_displayed(&self) -> i64 {
        self.reach.push_displayed
    }

    /// Runners who clicked the push.
    async fn push_clicked(&self) -> i64 {
        self.reach.push_clicked
    }

    /// Runners whose mail the mail server accepted.
    async fn emailed(&self) -> i64 {
        self.reach.emailed
    }

    /// Runners whose mail was refused for good.
    async fn email_failed(&self) -> i64 {
        self.reach.email_failed
    }

    /// Runners whose mail is still to be sent (the escalation window, or retries).
    async fn email_pending(&self) -> i64 {
        self.reach.email_pending
    }

    /// Targeted runners who neither acknowledged nor were emailed.
    async fn unreached(&self) -> i64 {
        self.reach.unreached
    }

    /// The runners of `filter`, by account (Relay connection). `first` is 1 to 100,
    /// default 20.
    #[graphql(complexity = "super::ids::page_complexity(first, child_complexity)")]
    async fn runners(
        &self,
        ctx: &Context<'_>,
        #[graphql(default, desc = "Which runners: UNREACHED (default) or EMAIL_FAILED.")]
        filter: ReachFilter,
        #[graphql(desc = "How many, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the page before, to read the next one.")]
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, ReachRunner>> {
        let first = super::ids::page_size(first).graphql()?;
        let after_id = after
            .as_deref()
            .map(parse_id_cursor)
            .transpose()
            .graphql()?;
        let filter = match filter {
            ReachFilter::Unreached => DomainFilter::Unreached,
            ReachFilter::EmailFailed => DomainFilter::EmailFailed,
        };
        let mut rows = reach::runners(
            &api(ctx).graphql()?.db,
            self.notification_id,
            filter,
            after_id.unwrap_or(0),
            first + 1,
        )
        .await
        .graphql()?;
        let has_next = rows.len() as u64 > first;
        rows.truncate(first as usize);
        let mut connection = Connection::new(after_id.is_some(), has_next);
        connection.edges.extend(
            rows.into_iter()
                .map(|r| Edge::new(id_cursor(r.account_id), ReachRunner::from(r))),
        );
        Ok(connection)
    }
}

#[derive(Default)]
pub struct ReachQuery;

#[Object]
impl ReachQuery {
    /// Who an alert of an event you organize reached. NOT_FOUND for an unknown alert or
    /// one of an event you do not organize.
    #[graphql(guard = "RoleGuard(Role::Organizer)")]
    async fn reach_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The alert: a `Notification.id` or `PushReport.notificationId`.")]
        notification_id: ID,
    ) -> async_graphql::Result<ReachReport> {
        let api = api(ctx).graphql()?;
        let notification_id = parse_id(&notification_id, "notification").graphql()?;
        let event_id = reach::event_of(&api.db, notification_id)
            .await
            .graphql()?
            .ok_or(ApiError::NotFound("notification"))
            .graphql()?;
        organized_event(ctx, &to_id(event_id))
            .await
            .map_err(|_| crate::error::to_graphql(ApiError::NotFound("notification")))?;
        Ok(ReachReport {
            notification_id,
            reach: reach::report(&api.db, notification_id).await.graphql()?,
        })
    }

    /// The signed-in runner's alert log, newest first (Relay connection; `after` is older):
    /// what a reload or a second device shows. `first` is 1 to 100, default 20. The live
    /// subscription `myNotifications(after:)` continues from the newest id.
    #[graphql(complexity = "super::ids::page_complexity(first, child_complexity)")]
    async fn notification_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the page before: older notifications follow.")]
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Notification>> {
        let account_id = signed_in(ctx).graphql()?.id;
        let api = api(ctx).graphql()?;
        let first = super::ids::page_size(first).graphql()?;
        let before = after
            .as_deref()
            .map(parse_id_cursor)
            .transpose()
            .graphql()?;
        let events = registrations::events_of_runner(&api.db, account_id)
            .await
            .graphql()?;
        let mut notices =
            notifications::personal_before(&api.db, account_id, &events, before, first + 1)
                .await
                .map_err(ApiError::from)
                .graphql()?;
        let has_next = notices.len() as u64 > first;
        notices.truncate(first as usize);
        let mut connection = Connection::new(before.is_some(), has_next);
        connection.edges.extend(
            notices
                .into_iter()
                .map(|n| Edge::new(id_cursor(n.id), Notification(Arc::new(n)))),
        );
        Ok(connection)
    }
}

#[derive(Default)]
pub struct ReachMutation;

#[Object]
impl ReachMutation {
    /// The page showed the runner's notifications up to `upTo` (a `Notification.id`):
    /// acknowledges each of theirs up to it; returns how many were newly acknowledged.
    /// NOT_FOUND when `upTo` is not one of the runner's notifications.
    async fn acknowledge_notifications(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The newest `Notification.id` the page showed.")] up_to: ID,
    ) -> async_graphql::Result<i64> {
        let runner = signed_in(ctx).graphql()?;
        let api = api(ctx).graphql()?;
        let up_to = parse_id(&up_to, "notification")
            .map_err(|_| ApiError::NotFound("notification"))
            .graphql()?;
        let count = api
            .page_acknowledgements
            .acknowledge(runner.id, up_to, api.clock.now())
            .await
            .graphql()?;
        api.tally.acknowledged("page", count);
        Ok(i64::try_from(count).unwrap_or(i64::MAX))
    }

    /// A service worker's report that it showed a push, or that the runner clicked it,
    /// with the `ack` token that push carried (no session needed: the token names its
    /// delivery and works for that one only, once per action).
    /// INVALID_ACKNOWLEDGEMENT_TOKEN for a forged token or one already used for `action`.
    async fn acknowledge_push(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `ack` token in the push's payload.")] token: String,
        #[graphql(desc = "Shown, or clicked.")] action: PushAcknowledgement,
    ) -> async_graphql::Result<bool> {
        let api = api(ctx).graphql()?;
        let action = match action {
            PushAcknowledgement::Displayed => DomainPushAction::Displayed,
            PushAcknowledgement::Clicked => DomainPushAction::Clicked,
        };
        match reach::acknowledge_push(&api.db, &api.push.ack_key, &token, action, api.clock.now())
            .await
        {
            Ok(_) => {
                api.tally.acknowledged(
                    match action {
                        DomainPushAction::Displayed => "push_displayed",
                        DomainPushAction::Clicked => "push_clicked",
                    },
                    1,
                );
                Ok(true)
            }
            Err(error) => {
                if matches!(error, ApiError::InvalidAcknowledgementToken) {
                    api.tally.acknowledgement_refused();
                }
                Err(crate::error::to_graphql(error))
            }
        }
    }
}
