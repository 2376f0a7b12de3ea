//! The relay: rings every hub (through the bus) for each new row of the notification log,
//! in id order, then marks the rows published. One instance at a time holds the relay
//! lease, so rows go out once and in order; a crash between ringing and marking makes the
//! next holder ring again, and hubs ignore a ring for an id they have passed. A lease that
//! is not renewed expires, and another instance takes over.
//!
//! The relay knows nothing of Web Push: push deliveries are queued from the log by the
//! push workers themselves, so a Redis outage never holds them back.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use race_office::OutboxBell;
use race_office::services::notifications;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use super::Publisher;
use crate::metrics;

/// Rows published per read of the log.
const BATCH: u64 = 200;

pub struct Relay {
    db: DatabaseConnection,
    publisher: Arc<dyn Publisher>,
    /// This instance's name in the lease.
    instance: String,
    /// How long a lease lasts unless renewed.
    lease: Duration,
}

impl Relay {
    pub fn new(
        db: DatabaseConnection,
        publisher: Arc<dyn Publisher>,
        instance: String,
        lease: Duration,
    ) -> Self {
        Self {
            db,
            publisher,
            instance,
            lease,
        }
    }

    /// Publishes every unpublished row, oldest first, if this instance holds (or can take)
    /// the lease; returns how many went out. Only an instance with work takes or renews
    /// the lease: an idle relay writes nothing.
    pub async fn relay_once(&self) -> anyhow::Result<usize> {
        let mut published = 0;
        loop {
            let waiting = notifications::unpublished(&self.db, BATCH)
                .await
                .context("reading unpublished notifications")?;
            let oldest = waiting.first().map(|(_, created_at)| *created_at);
            metrics::relay_lag(oldest.map_or(Duration::ZERO, |at| {
                (Utc::now() - at).to_std().unwrap_or_default()
            }));
            if waiting.is_empty() || !self.hold_lease().await? {
                return Ok(published);
            }
            let ids: Vec<i64> = waiting.iter().map(|(id, _)| *id).collect();
            let mut sent = Vec::with_capacity(ids.len());
            let mut failure = None;
            for id in &ids {
                match self.publisher.publish(*id).await {
                    Ok(()) => sent.push(*id),
                    Err(error) => {
                        failure = Some(error.context(format!("publishing notification {id}")));
                        break;
                    }
                }
            }
            if !sent.is_empty() {
                notifications::mark_published(&self.db, &sent, Utc::now())
                    .await
                    .context("marking notifications published")?;
                published += sent.len();
                metrics::notifications_relayed(sent.len());
            }
            if let Some(error) = failure {
                return Err(error);
            }
        }
    }

    async fn hold_lease(&self) -> anyhow::Result<bool> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(self.lease).context("lease length")?;
        notifications::hold_relay_lease(&self.db, &self.instance, now, until)
            .await
            .context("taking the relay lease")
    }

    /// Relays whenever a local commit rings or the poll comes round, until shutdown; then
    /// gives the lease up so another instance takes over at once.
    pub async fn run(
        self: Arc<Self>,
        bell: Arc<OutboxBell>,
        poll: Duration,
        shutdown: CancellationToken,
    ) {
        loop {
            if let Err(error) = self.relay_once().await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "relay could not publish: will retry"
                );
            }
            tokio::select! {
                () = bell.relay_rung() => {},
                () = tokio::time::sleep(poll) => {},
                () = shutdown.cancelled() => break,
            }
        }
        if let Err(error) =
            notifications::release_relay_lease(&self.db, &self.instance, Utc::now()).await
        {
            tracing::warn!(%error, "could not give the relay lease up");
        }
    }
}
