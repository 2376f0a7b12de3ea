//! Live alerts: `eventStatusChanged` and `myNotifications`. The resolvers do not listen to
//! anything themselves: each execution is handed a [`NoticeSource`] by the server, which
//! decides how subscribers are fed (see the WebSocket layer's fan-out):
//!
//! - `Probe`: a fresh subscription is checked (arguments, caller, cursor age), nothing read;
//! - `One(notice)`: a notice the hub already holds, executed once for every subscriber that
//!   shares the same operation, yielding at most one item;
//! - `Replay`: the log, for a subscriber catching up from its cursor to where it joins the
//!   live feed, so that the seam has no gap and no duplicate.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use async_graphql::{Context, Enum, ID, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::stream::{self, BoxStream, StreamExt};

use super::events::EventStatusChange;
use super::guards::{api, signed_in};
use super::ids::{parse_id, to_id};
use super::refunds::{RefundOption, RefundStatus};
use crate::error::{Graphql, to_graphql};
use race_office::context::ApiContext;
use race_office::domain::{Notice, NotificationKind, RefundDecisionMessage};
use race_office::error::ApiError;
use race_office::services::{notifications, registrations};

/// Rows read from the log per replay query.
const REPLAY_BATCH: u64 = 500;

/// Root subscription fields whose every item is the same whoever asks: an operation made
/// only of these is executed once per notice for all its subscribers, whatever their
/// credentials. Everything reachable from their types (EventStatusChange, Event, Distance,
/// Organization, Money, RefundPolicy) must stay viewer-independent; a test in
/// `graphql/mod.rs` pins that reachable set, so a field added there is looked at before it
/// is shared.
pub const VIEWER_INDEPENDENT_SUBSCRIPTIONS: &[&str] = &["eventStatusChanged"];

/// Root subscription fields whose item for a notice is the same for every viewer the
/// notice concerns (`registrations::concerns`), and nothing for the others: an operation
/// made only of these is executed once per notice for all the viewers it concerns, and
/// not at all for the rest. Everything reachable from their types is pinned like the
/// viewer-independent set (`graphql/mod.rs`).
pub const AUDIENCE_SUBSCRIPTIONS: &[&str] = &["myNotifications"];

/// Where one execution of a subscription takes its notices from.
#[derive(Clone, Debug)]
pub enum NoticeSource {
    /// Check the arguments, the caller and the cursor; yield nothing.
    Probe,
    /// This notice only (a shared execution): at most one item.
    One(Arc<Notice>),
    /// From the log, up to notice `up_to` (where the subscriber joins the live feed).
    Replay {
        from: ReplayFrom,
        up_to: i64,
        /// A client cursor further behind than this many notifications is refused.
        max_behind: u64,
        /// The newest notices the hub holds, in order and without a gap: a replay they
        /// cover whole (a runner back within moments, its instance gone) is answered from
        /// them, not from the log.
        held: Vec<Arc<Notice>>,
        /// Where each replayed item's notice is recorded, for a transport whose events
        /// carry the cursor.
        tap: ReplayTap,
    },
}

/// The notice each replayed item came from, for a transport whose events carry the replay
/// cursor (SSE's `id:`): the resolver records a notice as it yields its item, and the
/// transport reads it when that item's answer arrives. Items are answered one at a time and
/// in order (the next is not read before the last is answered), so the newest recorded is
/// the answer's.
#[derive(Clone, Debug, Default)]
pub struct ReplayTap(Arc<AtomicI64>);

impl ReplayTap {
    fn record(&self, notice: i64) {
        self.0.store(notice, Ordering::Release);
    }

    /// The notice of the item answered last; `None` before the first.
    pub fn latest(&self) -> Option<i64> {
        Some(self.0.load(Ordering::Acquire)).filter(|id| *id > 0)
    }
}

/// Where a replay starts.
#[derive(Clone, Copy, Debug)]
pub enum ReplayFrom {
    /// After the client's own `after` argument (when it gave one; else nothing to replay).
    Client,
    /// After this notice id (a subscriber that fell behind, or one that joined after
    /// asking "from now").
    Notice(i64),
}

/// What a notification tells.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum NotificationType {
    /// An event the runner is registered for changed status: `eventStatusChange` is set.
    EventStatusChanged,
    /// The organizer decided on the runner's refund request, or paid it:
    /// `refundDecision` is set.
    RefundDecided,
}

/// An organizer's decision on the runner's refund request.
#[derive(SimpleObject)]
pub struct RefundDecided {
    /// The `RefundRequest.id` decided.
    refund_request_id: ID,
    /// The `Registration.id` it is for.
    registration_id: ID,
    /// The `Event.id` of the cancelled event.
    event_id: ID,
    /// The event's name, to show without another query.
    event_name: String,
    /// What the runner had chosen.
    option: RefundOption,
    /// The request's status as decided: APPROVED, REJECTED, or PAID.
    status: RefundStatus,
    /// The organizer's note to the runner, if any.
    note: Option<String>,
    /// When it was decided (or paid).
    decided_at: DateTime<Utc>,
}

impl From<&RefundDecisionMessage> for RefundDecided {
    fn from(m: &RefundDecisionMessage) -> Self {
        Self {
            refund_request_id: to_id(m.refund_request_id),
            registration_id: to_id(m.registration_id),
            event_id: to_id(m.event_id),
            event_name: m.event_name.clone(),
            option: m.option.into(),
            status: m.status.into(),
            note: m.note.clone(),
            decided_at: m.decided_at,
        }
    }
}

pub struct Notification(pub Arc<Notice>);

/// One of a runner's notifications. Its `id` is the cursor for `myNotifications(after:)`.
#[Object]
impl Notification {
    /// The notification's id in the log: ids grow in commit order, and one is the
    /// `after` cursor of `myNotifications` and the `upTo` of `acknowledgeNotifications`.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// What it tells; null for a kind this API does not know (ignore such an item).
    async fn kind(&self) -> Option<NotificationType> {
        match self.0.kind()? {
            NotificationKind::EventStatusChanged => Some(NotificationType::EventStatusChanged),
            NotificationKind::RefundDecided => Some(NotificationType::RefundDecided),
        }
    }

    /// The status change, when `kind` is EVENT_STATUS_CHANGED; else null.
    async fn event_status_change(&self) -> Option<EventStatusChange> {
        let message = self.0.status_change()?;
        Some(EventStatusChange::from_message(
            message,
            self.0.event.clone(),
        ))
    }

    /// The refund decision, when `kind` is REFUND_DECIDED; else null.
    async fn refund_decision(&self) -> Option<RefundDecided> {
        self.0.refund_decision().map(RefundDecided::from)
    }
}

fn status_change_of(notice: &Notice) -> Option<EventStatusChange> {
    notice
        .status_change()
        .map(|m| EventStatusChange::from_message(m, notice.event.clone()))
}

/// The notices after `after` up to `up_to`, if `held` (ordered, without a gap) holds every
/// one of them.
fn held_after(held: &[Arc<Notice>], after: i64, up_to: i64) -> Option<Vec<Arc<Notice>>> {
    let (first, last) = (held.first()?.id, held.last()?.id);
    (first <= after + 1 && last >= up_to).then(|| {
        held.iter()
            .filter(|notice| notice.id > after && notice.id <= up_to)
            .cloned()
            .collect()
    })
}

/// The notice id the client's status-change cursor stands for (0 before the first).
async fn status_change_notice(api: &ApiContext, after: i64) -> Result<i64, ApiError> {
    if after == 0 {
        return Ok(0);
    }
    Ok(notifications::notice_of_status_change(&api.db, after)
        .await?
        .unwrap_or(0))
}

fn too_old(behind: i64, max_behind: u64) -> Result<(), ApiError> {
    if u64::try_from(behind).unwrap_or(0) > max_behind {
        return Err(ApiError::CursorTooOld(max_behind));
    }
    Ok(())
}

type Items<T> = BoxStream<'static, async_graphql::Result<T>>;

#[derive(Default)]
pub struct AlertQuery;

#[Object]
impl AlertQuery {
    /// The id of the newest notification. A client that subscribes to `myNotifications`
    /// with `after` set to this (and, on every reconnect, to the newest id it has received
    /// since) misses nothing from this moment on.
    async fn notifications_cursor(&self, ctx: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(to_id(
            notifications::last_id(&api(ctx).graphql()?.db).await?,
        ))
    }
}

#[derive(Default)]
pub struct AlertSubscription;

#[Subscription]
impl AlertSubscription {
    /// Status changes of one event (or of all, without `eventId`). With `after` (an
    /// `EventStatusChange.id`), first every change after it, then live ones. Public: no
    /// sign-in needed. Errors: CURSOR_TOO_OLD (`after` is further behind than the
    /// replay horizon: read the current state, then subscribe without it).
    async fn event_status_changed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event to follow; left out, every event.")] event_id: Option<ID>,
        #[graphql(desc = "The newest `EventStatusChange.id` the client has; left out, live only.")]
        after: Option<String>,
    ) -> async_graphql::Result<Items<EventStatusChange>> {
        let api = api(ctx).graphql()?.clone();
        let event_filter = event_id
            .as_ref()
            .map(|id| parse_id(id, "event"))
            .transpose()
            .graphql()?;
        let after = super::ids::parse_log_cursor(after).graphql()?;
        let wanted = move |notice: &Notice| {
            notice.kind() == Some(NotificationKind::EventStatusChanged)
                && event_filter.is_none_or(|e| notice.event_id == Some(e))
        };
        match ctx
            .data_opt::<NoticeSource>()
            .cloned()
            .unwrap_or(NoticeSource::Probe)
        {
            NoticeSource::Probe => Ok(stream::empty().boxed()),
            NoticeSource::One(notice) => {
                let item = wanted(&notice).then(|| status_change_of(&notice)).flatten();
                Ok(stream::iter(item.map(Ok)).boxed())
            }
            NoticeSource::Replay {
                from,
                up_to,
                max_behind,
                tap,
                ..
            } => {
                // Status changes are replayed by their own cursor when the client gave one,
                // else by notice id.
                let (by_change, from_notice) = match (from, after) {
                    (ReplayFrom::Client, Some(after)) => {
                        let notice = status_change_notice(&api, after).await.graphql()?;
                        too_old(up_to - notice, max_behind).graphql()?;
                        (Some(after), notice)
                    }
                    (ReplayFrom::Client, None) => return Ok(stream::empty().boxed()),
                    (ReplayFrom::Notice(notice), _) => (None, notice),
                };
                Ok(async_stream::stream! {
                    let mut change_cursor = by_change.unwrap_or(0);
                    let mut notice_cursor = from_notice;
                    loop {
                        let page = match by_change {
                            Some(_) => notifications::status_changes_after(&api.db, change_cursor, event_filter, up_to, REPLAY_BATCH).await,
                            None => notifications::notices_after(&api.db, notice_cursor, up_to, REPLAY_BATCH).await,
                        };
                        let notices = match page {
                            Ok(notices) => notices,
                            Err(e) => { yield Err(to_graphql(ApiError::from(e))); return; }
                        };
                        let done = (notices.len() as u64) < REPLAY_BATCH;
                        for notice in notices {
                            notice_cursor = notice.id;
                            if let Some(change) = status_change_of(&notice).filter(|_| wanted(&notice)) {
                                change_cursor = change.change.id;
                                tap.record(notice.id);
                                yield Ok(change);
                            }
                        }
                        if done { break; }
                    }
                }
                .boxed())
            }
        }
    }

    /// The signed-in runner's notifications: status changes of events they are registered
    /// for, and decisions on their refund requests. With `after` (a `Notification.id`),
    /// first those after it, then live ones. Errors: UNAUTHENTICATED (send the token in
    /// `connection_init`), CURSOR_TOO_OLD (see `eventStatusChanged`).
    async fn my_notifications(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The newest `Notification.id` the client has (or \
                          `notificationsCursor`); left out, live only.")]
        after: Option<String>,
    ) -> async_graphql::Result<Items<Notification>> {
        let account_id = signed_in(ctx).graphql()?.id;
        let api = api(ctx).graphql()?.clone();
        let after = super::ids::parse_log_cursor(after).graphql()?;
        match ctx
            .data_opt::<NoticeSource>()
            .cloned()
            .unwrap_or(NoticeSource::Probe)
        {
            NoticeSource::Probe => Ok(stream::empty().boxed()),
            NoticeSource::One(notice) => {
                let item = registrations::concerns(&api.db, account_id, &notice)
                    .await
                    .map_err(ApiError::from)
                    .graphql()?
                    .then(|| Ok(Notification(notice)));
                Ok(stream::iter(item).boxed())
            }
            NoticeSource::Replay {
                from,
                up_to,
                max_behind,
                held,
                tap,
            } => {
                let from = match (from, after) {
                    (ReplayFrom::Client, Some(after)) => {
                        too_old(up_to - after, max_behind).graphql()?;
                        after
                    }
                    (ReplayFrom::Client, None) => return Ok(stream::empty().boxed()),
                    (ReplayFrom::Notice(notice), _) => notice,
                };
                if from >= up_to {
                    return Ok(stream::empty().boxed());
                }
                if let Some(notices) = held_after(&held, from, up_to) {
                    // Whom each concerns is read once per notice and shared (usually
                    // already read by the hub), so a replay from memory reads nothing.
                    return Ok(async_stream::stream! {
                        for notice in notices {
                            match registrations::concerns(&api.db, account_id, &notice).await {
                                Ok(true) => {
                                    tap.record(notice.id);
                                    yield Ok(Notification(notice));
                                }
                                Ok(false) => {}
                                Err(e) => { yield Err(to_graphql(ApiError::from(e))); return; }
                            }
                        }
                    }
                    .boxed());
                }
                let events = registrations::events_of_runner(&api.db, account_id)
                    .await
                    .graphql()?;
                Ok(async_stream::stream! {
                    let mut cursor = from;
                    loop {
                        let notices = match notifications::personal_after(&api.db, account_id, &events, cursor, up_to, REPLAY_BATCH).await {
                            Ok(notices) => notices,
                            Err(e) => { yield Err(to_graphql(ApiError::from(e))); return; }
                        };
                        let done = (notices.len() as u64) < REPLAY_BATCH;
                        for notice in notices {
                            cursor = notice.id;
                            tap.record(notice.id);
                            yield Ok(Notification(Arc::new(notice)));
                        }
                        if done { break; }
                    }
                }
                .boxed())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use race_office::domain::NoticeMessage;

    fn held(ids: std::ops::RangeInclusive<i64>) -> Vec<Arc<Notice>> {
        ids.map(|id| {
            Arc::new(Notice {
                id,
                event_id: None,
                account_id: None,
                message: NoticeMessage::Unreadable(None),
                event: None,
                created_at: Utc::now(),
                audience: Default::default(),
            })
        })
        .collect()
    }

    fn ids(notices: Option<Vec<Arc<Notice>>>) -> Option<Vec<i64>> {
        notices.map(|n| n.iter().map(|n| n.id).collect())
    }

    #[test]
    fn a_replay_is_served_from_memory_only_when_memory_holds_all_of_it() {
        let memory = held(10..=14);
        // From just before the oldest held, and from within: every one is there.
        assert_eq!(
            ids(held_after(&memory, 9, 14)),
            Some(vec![10, 11, 12, 13, 14])
        );
        assert_eq!(ids(held_after(&memory, 12, 13)), Some(vec![13]));
        // Older than memory reaches: notice 9 would be missed, so the log answers.
        assert_eq!(ids(held_after(&memory, 8, 14)), None);
        // Beyond what memory holds (committed, not yet broadcast here): the log answers.
        assert_eq!(ids(held_after(&memory, 12, 15)), None);
        // Nothing held yet (an instance just started).
        assert_eq!(ids(held_after(&[], 12, 13)), None);
    }
}
