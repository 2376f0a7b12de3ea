//! Live alerts: `eventStatusChanged` and `myNotifications`. Each subscription first takes
//! a receiver from the bus, then replays from the log what came after the client's cursor,
//! then streams live notices, skipping any it already sent, so the seam has no gap and no
//! duplicate. A subscriber that falls behind (the bus dropped notices for it) replays from
//! the log instead of missing them.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::{Context, Enum, ID, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::events::EventStatusChange;
use super::guards::{api, signed_in};
use super::ids::{parse_id, to_id};
use super::refunds::{RefundOption, RefundStatus};
use crate::context::ApiContext;
use crate::error::ApiError;
use crate::services::notifications::{self, Notice, NotificationKind, RefundDecisionMessage};
use crate::services::registrations;

/// Rows read from the log per replay query.
const REPLAY_BATCH: u64 = 500;
/// How long a runner's set of registered events is trusted before it is read again.
const REGISTRATIONS_TTL: Duration = Duration::from_secs(30);

fn parse_cursor(after: Option<String>) -> Result<Option<i64>, ApiError> {
    after
        .map(|a| {
            let invalid = || ApiError::bad_input("after must be an id this API gave out");
            // An i64 has at most 19 digits: longer is no id of ours.
            if a.len() > 19 {
                return Err(invalid());
            }
            a.parse::<i64>().map_err(|_| invalid())
        })
        .transpose()
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum NotificationType {
    EventStatusChanged,
    RefundDecided,
}

/// An organizer's decision on the runner's refund request.
#[derive(SimpleObject)]
pub struct RefundDecided {
    refund_request_id: ID,
    registration_id: ID,
    event_id: ID,
    event_name: String,
    option: RefundOption,
    status: RefundStatus,
    note: Option<String>,
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

/// One of a runner's notifications. Its `id` is the cursor for `myNotifications(after:)`.
pub struct Notification(Arc<Notice>);

#[Object]
impl Notification {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn kind(&self) -> Option<NotificationType> {
        match self.0.kind? {
            NotificationKind::EventStatusChanged => Some(NotificationType::EventStatusChanged),
            NotificationKind::RefundDecided => Some(NotificationType::RefundDecided),
        }
    }

    async fn event_status_change(&self) -> Option<EventStatusChange> {
        let message = self.0.status_change.as_ref()?;
        Some(EventStatusChange::from_message(
            message,
            self.0.event.clone(),
        ))
    }

    async fn refund_decision(&self) -> Option<RefundDecided> {
        self.0.refund_decision.as_ref().map(RefundDecided::from)
    }
}

fn status_change_of(notice: &Notice) -> Option<EventStatusChange> {
    notice
        .status_change
        .as_ref()
        .map(|m| EventStatusChange::from_message(m, notice.event.clone()))
}

/// The events a runner is registered for, re-read at most every [`REGISTRATIONS_TTL`].
struct RegisteredEvents {
    account_id: i64,
    events: HashSet<i64>,
    read_at: Instant,
}

impl RegisteredEvents {
    async fn load(api: &ApiContext, account_id: i64) -> Result<Self, ApiError> {
        let events = registrations::of_runner(&api.db, account_id)
            .await?
            .into_iter()
            .map(|r| r.event_id)
            .collect();
        Ok(Self {
            account_id,
            events,
            read_at: Instant::now(),
        })
    }

    async fn refresh_if_stale(&mut self, api: &ApiContext) -> Result<(), ApiError> {
        if self.read_at.elapsed() > REGISTRATIONS_TTL {
            *self = Self::load(api, self.account_id).await?;
        }
        Ok(())
    }

    fn concerns(&self, notice: &Notice) -> bool {
        match notice.kind {
            Some(NotificationKind::EventStatusChanged) => {
                notice.event_id.is_some_and(|e| self.events.contains(&e))
            }
            Some(NotificationKind::RefundDecided) => notice.account_id == Some(self.account_id),
            None => false,
        }
    }

    fn ids(&self) -> Vec<i64> {
        self.events.iter().copied().collect()
    }
}

#[derive(Default)]
pub struct AlertSubscription;

#[Subscription]
impl AlertSubscription {
    /// Status changes of one event (or of all, without `eventId`). With `after` (an
    /// `EventStatusChange.id`), first every change after it, then live ones.
    async fn event_status_changed(
        &self,
        ctx: &Context<'_>,
        event_id: Option<ID>,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<EventStatusChange>> + use<>>
    {
        let api = api(ctx)?.clone();
        let event_filter = event_id
            .as_ref()
            .map(|id| parse_id(id, "event"))
            .transpose()?;
        let after = parse_cursor(after)?;
        let mut live = api.bus.subscribe();
        // Without a cursor the stream starts now: everything committed so far is "before".
        let mut cursor = match after {
            Some(after) => after,
            None => last_status_change_id(&api).await?,
        };
        let wanted = move |notice: &Notice| {
            notice.kind == Some(NotificationKind::EventStatusChanged)
                && event_filter.is_none_or(|e| notice.event_id == Some(e))
        };
        Ok(async_stream::stream! {
            let mut replay = after.is_some();
            loop {
                if replay {
                    loop {
                        let rows = match notifications::status_changes_after(&api.db, cursor, event_filter, REPLAY_BATCH).await {
                            Ok(rows) => rows,
                            Err(e) => { yield Err(e.into()); return; }
                        };
                        let done = (rows.len() as u64) < REPLAY_BATCH;
                        for row in rows {
                            let notice = Notice::decode(&row, None);
                            if let Some(change) = status_change_of(&notice) {
                                cursor = change.change.id;
                                yield Ok(change);
                            }
                        }
                        if done { break; }
                    }
                    replay = false;
                }
                match live.recv().await {
                    Ok(notice) => {
                        if !wanted(&notice) { continue; }
                        let Some(change) = status_change_of(&notice) else { continue };
                        if change.change.id <= cursor { continue; }
                        cursor = change.change.id;
                        yield Ok(change);
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "slow subscriber: replaying from the log");
                        replay = true;
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        })
    }

    /// The signed-in runner's notifications: status changes of events they are registered
    /// for, and decisions on their refund requests. With `after` (a `Notification.id`),
    /// first those after it, then live ones.
    async fn my_notifications(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Notification>> + use<>>
    {
        let account_id = signed_in(ctx)?.id;
        let api = api(ctx)?.clone();
        let after = parse_cursor(after)?;
        let mut live = api.bus.subscribe();
        let mut cursor = match after {
            Some(after) => after,
            None => notifications::last_id(&api.db).await?,
        };
        let mut mine = RegisteredEvents::load(&api, account_id).await?;
        Ok(async_stream::stream! {
            let mut replay = after.is_some();
            loop {
                if replay {
                    loop {
                        let rows = match notifications::personal_after(&api.db, account_id, &mine.ids(), cursor, REPLAY_BATCH).await {
                            Ok(rows) => rows,
                            Err(e) => { yield Err(e.into()); return; }
                        };
                        let done = (rows.len() as u64) < REPLAY_BATCH;
                        for row in rows {
                            cursor = row.id;
                            yield Ok(Notification(Arc::new(Notice::decode(&row, None))));
                        }
                        if done { break; }
                    }
                    replay = false;
                }
                match live.recv().await {
                    Ok(notice) => {
                        if notice.id <= cursor { continue; }
                        if let Err(e) = mine.refresh_if_stale(&api).await { yield Err(e.into()); return; }
                        if !mine.concerns(&notice) { continue; }
                        cursor = notice.id;
                        yield Ok(Notification(notice));
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "slow subscriber: replaying from the log");
                        replay = true;
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        })
    }
}

/// The newest status change's id, the starting point of a stream without a cursor.
async fn last_status_change_id(api: &ApiContext) -> Result<i64, ApiError> {
    use entities::event_status_change;
    use sea_orm::{EntityTrait, QueryOrder};
    let newest = event_status_change::Entity::find()
        .order_by_desc(event_status_change::Column::Id)
        .one(&api.db)
        .await?;
    Ok(newest.map(|c| c.id).unwrap_or(0))
}
