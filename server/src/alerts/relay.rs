//! The relay: drains the outbox (notification rows not yet published) onto the bus, in id
//! order, then marks them published. One instance at a time holds the relay lease, so
//! rows go out once and in order; a crash between publishing and marking makes the next
//! holder publish those rows again, and hubs drop the repeats by id. A lease that is not
//! renewed expires, and another instance takes over.
//!
//! Between publishing and marking, the relay enqueues the rows' Web Push deliveries
//! (idempotent), so a row marked published always has its pushes queued; publishing comes
//! first because WebSocket subscribers should not wait for the push queue.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use entities::{notification, relay_lease};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use tokio::sync::{Notify, watch};

use super::Publisher;
use crate::metrics::Metrics;

const LEASE: &str = "outbox";
const BATCH: u64 = 200;

pub struct RelayConfig {
    pub instance: String,
    pub poll: Duration,
    pub lease: Duration,
    /// Woken once pushes are queued, so this instance's push worker starts at once.
    pub push_wake: Arc<Notify>,
}

pub async fn run(
    db: DatabaseConnection,
    publisher: Arc<dyn Publisher>,
    config: RelayConfig,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        match relay_once(&db, publisher.as_ref(), &config, &metrics).await {
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "relay could not publish: will retry"),
        }
        tokio::select! {
            _ = wake.notified() => {},
            _ = tokio::time::sleep(config.poll) => {},
            _ = shutdown.changed() => break,
        }
    }
    // Let another instance take over at once rather than after the lease runs out.
    let _ = relay_lease::Entity::update_many()
        .col_expr(relay_lease::Column::ExpiresAt, Expr::value(Utc::now()))
        .filter(relay_lease::Column::Name.eq(LEASE))
        .filter(relay_lease::Column::Holder.eq(&config.instance))
        .exec(&db)
        .await;
}

/// Takes or renews the lease; true when this instance is the relay.
async fn hold_lease(db: &DatabaseConnection, config: &RelayConfig) -> Result<bool, String> {
    let now = Utc::now();
    let until = now + chrono::Duration::from_std(config.lease).map_err(|e| e.to_string())?;
    let renewed = relay_lease::Entity::update_many()
        .col_expr(
            relay_lease::Column::Holder,
            Expr::value(config.instance.clone()),
        )
        .col_expr(relay_lease::Column::ExpiresAt, Expr::value(until))
        .filter(relay_lease::Column::Name.eq(LEASE))
        .filter(
            Condition::any()
                .add(relay_lease::Column::Holder.eq(&config.instance))
                .add(relay_lease::Column::ExpiresAt.lt(now)),
        )
        .exec(db)
        .await
        .map_err(|e| e.to_string())?;
    if renewed.rows_affected == 1 {
        return Ok(true);
    }
    let inserted = relay_lease::Entity::insert(relay_lease::ActiveModel {
        name: Set(LEASE.into()),
        holder: Set(config.instance.clone()),
        expires_at: Set(until),
    })
    .on_conflict(
        OnConflict::column(relay_lease::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .map_err(|e| e.to_string())?;
    Ok(inserted == 1)
}

/// Publishes every unpublished row, oldest first, if this instance holds the lease.
async fn relay_once(
    db: &DatabaseConnection,
    publisher: &dyn Publisher,
    config: &RelayConfig,
    metrics: &Metrics,
) -> Result<usize, String> {
    let mut published = 0;
    loop {
        let rows = notification::Entity::find()
            .filter(notification::Column::PublishedAt.is_null())
            .order_by_asc(notification::Column::Id)
            .limit(BATCH)
            .all(db)
            .await
            .map_err(|e| e.to_string())?;
        // Only an instance with work takes or renews the lease: an idle relay writes nothing.
        if rows.is_empty() || !hold_lease(db, config).await? {
            return Ok(published);
        }
        let mut sent = Vec::with_capacity(rows.len());
        let mut failure = None;
        for row in &rows {
            match publisher.publish(row).await {
                Ok(()) => sent.push(row.id),
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        if !sent.is_empty() {
            // Publishing stops at the first failure: what went out is a prefix of `rows`.
            let went_out = &rows[..sent.len()];
            let queued = schema::services::push_deliveries::enqueue(db, went_out, Utc::now())
                .await
                .map_err(|e| e.message())?;
            if queued > 0 {
                config.push_wake.notify_one();
            }
            notification::Entity::update_many()
                .col_expr(notification::Column::PublishedAt, Expr::value(Utc::now()))
                .filter(notification::Column::Id.is_in(sent.iter().copied()))
                .exec(db)
                .await
                .map_err(|e| e.to_string())?;
            published += sent.len();
            metrics.notifications_relayed.add(sent.len() as u64);
        }
        if let Some(error) = failure {
            return Err(error);
        }
    }
}
