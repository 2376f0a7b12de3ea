//! Runners' Web Push subscriptions: subscribing (idempotent on the endpoint), choosing
//! events, unsubscribing, listing. Every change is one transaction.

use chrono::{DateTime, Utc};
use entities::{account, event, push_subscription, push_subscription_event};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
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

/// Subscribes the runner's browser. The endpoint identifies the browser: subscribing it
/// again (new keys, other events, or another account signed in on it) updates the one
/// row, so a browser never gets an alert twice.
#[tracing::instrument(skip(db, runner, new), fields(account_id = runner.id))]
pub async fn subscribe(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    runner: &account::Model,
    new: NewSubscription,
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
        OnConflict::column(push_subscription::Column::Endpoint)
            .update_columns([
                push_subscription::Column::AccountId,
                push_subscription::Column::P256dh,
                push_subscription::Column::Auth,
                push_subscription::Column::AllRegisteredEvents,
                push_subscription::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    let subscription = push_subscription::Entity::find()
        .filter(push_subscription::Column::Endpoint.eq(&endpoint))
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::Internal("push subscription vanished".into()))?;
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

/// Deletes the runner's subscription with this endpoint; false when there was none.
/// Deliveries still queued for it are dropped by the workers.
#[tracing::instrument(skip(db, runner, endpoint), fields(account_id = runner.id))]
pub async fn unsubscribe(
    db: &impl ConnectionTrait,
    runner: &account::Model,
    endpoint: &str,
) -> ApiResult<bool> {
    let deleted = push_subscription::Entity::delete_many()
        .filter(push_subscription::Column::Endpoint.eq(endpoint.trim()))
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
