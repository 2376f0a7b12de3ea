//! Runners' Web Push subscriptions: subscribing (idempotent on the endpoint), choosing
//! events, unsubscribing, listing. Every change is one transaction.
//!
//! A subscription never moves between accounts: the endpoint is the browser's, and the
//! account that subscribed it keeps it until it unsubscribes (or the push service says it
//! is gone). The same endpoint from another account is refused with CONFLICT, even with
//! the same keys: moving it would hand one runner's alerts to another, and a second row
//! would alert one browser twice. A browser that changes hands is freed by its account's
//! `unsubscribePush` (a client does so on sign-out), or when the push service answers 404
//! or 410 for it. An account holds at most `PushPolicy::max_subscriptions_per_account`.

use chrono::{DateTime, Utc};
use entities::{account, event, push_subscription, push_subscription_event};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::domain::{PushEndpoint, PushKeys};
use crate::error::{ApiError, ApiResult};

/// What `subscribePush` was given, validated.
pub struct NewSubscription {
    pub endpoint: PushEndpoint,
    pub keys: PushKeys,
    /// `None`: every event the runner is registered for, now or later.
    pub event_ids: Option<Vec<i64>>,
}

/// A subscription with the events it names (empty when it follows every registration).
pub struct SubscriptionView {
    pub subscription: push_subscription::Model,
    pub event_ids: Vec<i64>,
}

/// Most events one subscription may name: enough for any runner's season.
const MAX_EVENTS: usize = 100;

fn taken() -> ApiError {
    ApiError::Conflict(
        "this browser is subscribed by another account, which must unsubscribe it first".into(),
    )
}

/// Subscribes the runner's browser. The endpoint identifies the browser: the same account
/// subscribing it again (new keys, other events) updates its one row, so a browser never
/// gets an alert twice. Another account's endpoint, or one more than the account may
/// hold, is CONFLICT.
#[tracing::instrument(skip(db, runner, new), fields(account_id = runner.id))]
pub async fn subscribe(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    runner: &account::Model,
    new: NewSubscription,
    max_per_account: usize,
) -> ApiResult<SubscriptionView> {
    let mut event_ids = new.event_ids.clone().unwrap_or_default();
    event_ids.sort_unstable();
    event_ids.dedup();
    if event_ids.len() > MAX_EVENTS {
        return Err(ApiError::bad_input(format!(
            "a subscription may name at most {MAX_EVENTS} events"
        )));
    }
    if new.event_ids.as_ref().is_some_and(Vec::is_empty) {
        return Err(ApiError::bad_input(
            "eventIds must name at least one event, or be left out for all your events",
        ));
    }
    let endpoint = new.endpoint.into_inner();
    let txn = super::begin_write(db).await?;
    let found = event::Entity::find()
        .filter(event::Column::Id.is_in(event_ids.iter().copied()))
        .count(&txn)
        .await?;
    if found != event_ids.len() as u64 {
        return Err(ApiError::NotFound("event"));
    }
    // The account's row lock on PostgreSQL makes count-then-insert safe against a
    // concurrent subscribe of the same account; SQLite's write transaction already is.
    if txn.get_database_backend() == DbBackend::Postgres {
        account::Entity::find_by_id(runner.id)
            .lock_exclusive()
            .one(&txn)
            .await?;
    }
    let existing = push_subscription::Entity::find()
        .filter(push_subscription::Column::Endpoint.eq(&endpoint))
        .one(&txn)
        .await?;
    match existing {
        Some(row) if row.account_id != runner.id => return Err(taken()),
        Some(_) => {}
        None => {
            let held = push_subscription::Entity::find()
                .filter(push_subscription::Column::AccountId.eq(runner.id))
                .count(&txn)
                .await?;
            if held >= max_per_account as u64 {
                return Err(ApiError::Conflict(format!(
                    "an account may hold at most {max_per_account} push subscriptions: \
                     unsubscribe a browser first"
                )));
            }
        }
    }
    push_subscription::Entity::insert(push_subscription::ActiveModel {
        account_id: Set(runner.id),
        endpoint: Set(endpoint.clone()),
        p256dh: Set(new.keys.p256dh.clone()),
        auth: Set(new.keys.auth.clone()),
        all_registered_events: Set(new.event_ids.is_none()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        // Another account's row (subscribed since the check above) is left as it is.
        OnConflict::column(push_subscription::Column::Endpoint)
            .update_columns([
                push_subscription::Column::P256dh,
                push_subscription::Column::Auth,
                push_subscription::Column::AllRegisteredEvents,
                push_subscription::Column::UpdatedAt,
            ])
            .action_and_where(push_subscription::Column::AccountId.eq(runner.id))
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    let subscription = push_subscription::Entity::find()
        .filter(push_subscription::Column::Endpoint.eq(&endpoint))
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::internal("push subscription vanished"))?;
    if subscription.account_id != runner.id {
        return Err(taken());
    }
    push_subscription_event::Entity::delete_many()
        .filter(push_subscription_event::Column::SubscriptionId.eq(subscription.id))
        .exec(&txn)
        .await?;
    if !event_ids.is_empty() {
        push_subscription_event::Entity::insert_many(event_ids.iter().map(|event_id| {
            push_subscription_event::ActiveModel {
                subscription_id: Set(subscription.id),
                event_id: Set(*event_id),
            }
        }))
        .exec_without_returning(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(SubscriptionView {
        subscription,
        event_ids,
    })
}

/// Deletes the runner's subscription with this endpoint (in any spelling of its host);
/// false when there was none. Deliveries still queued for it are dropped by the workers.
#[tracing::instrument(skip(db, runner, endpoint), fields(account_id = runner.id))]
pub async fn unsubscribe(
    db: &impl ConnectionTrait,
    runner: &account::Model,
    endpoint: &str,
) -> ApiResult<bool> {
    let endpoint = PushEndpoint::normalize(endpoint)?;
    let deleted = push_subscription::Entity::delete_many()
        .filter(push_subscription::Column::Endpoint.eq(endpoint))
        .filter(push_subscription::Column::AccountId.eq(runner.id))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected > 0)
}

/// The runner's subscriptions, oldest first, with the events each names.
pub async fn of_account(
    db: &impl ConnectionTrait,
    account_id: i64,
) -> ApiResult<Vec<SubscriptionView>> {
    let rows = push_subscription::Entity::find()
        .filter(push_subscription::Column::AccountId.eq(account_id))
        .order_by_asc(push_subscription::Column::Id)
        .find_with_related(push_subscription_event::Entity)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(subscription, events)| SubscriptionView {
            subscription,
            event_ids: events.into_iter().map(|e| e.event_id).collect(),
        })
        .collect())
}
