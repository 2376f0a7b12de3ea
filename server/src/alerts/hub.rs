//! The hub: receives every notification once (from Redis or in-process), decodes it once,
//! loads its event once, and broadcasts one shared `Arc<Notice>` to every local subscriber.
//!
//! Notification ids are gap-free and follow commit order, so the hub knows exactly what it
//! has seen: a message whose id is more than one past the last one means messages were
//! missed (a Redis disconnect), and the hub reads them from the log first. Repeats (the
//! relay publishes at least once) are dropped.

use std::sync::Arc;

use entities::{event, notification};
use schema::services::notifications::{self, Notice};
use schema::{ApiError, Bus};
use sea_orm::{DatabaseConnection, EntityTrait};
use tokio::sync::{Mutex, broadcast};

use crate::metrics::Metrics;

pub struct Hub {
    db: DatabaseConnection,
    sender: broadcast::Sender<Arc<Notice>>,
    /// The last id broadcast; the lock also keeps broadcasts in order.
    last_id: Mutex<i64>,
    metrics: Arc<Metrics>,
}

impl Hub {
    /// A hub that starts after everything already in the log.
    pub async fn start(
        db: DatabaseConnection,
        buffer: usize,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>, ApiError> {
        let last = notifications::last_id(&db).await?;
        let (sender, _) = broadcast::channel(buffer.max(16));
        Ok(Arc::new(Self {
            db,
            sender,
            last_id: Mutex::new(last),
            metrics,
        }))
    }

    /// Takes one published row: drops a repeat, fills a gap from the log, broadcasts.
    pub async fn ingest(&self, row: notification::Model) -> Result<(), ApiError> {
        let mut last = self.last_id.lock().await;
        if row.id <= *last {
            return Ok(());
        }
        if row.id > *last + 1 {
            tracing::info!(
                from = *last + 1,
                to = row.id - 1,
                "hub missed notifications: reading them from the log"
            );
            self.fill(&mut last, row.id - 1).await?;
        }
        self.emit(&mut last, row).await
    }

    /// Broadcasts whatever the log holds past the last id seen (after a reconnect).
    pub async fn catch_up(&self) -> Result<(), ApiError> {
        let mut last = self.last_id.lock().await;
        self.fill(&mut last, i64::MAX).await
    }

    async fn fill(&self, last: &mut i64, up_to: i64) -> Result<(), ApiError> {
        loop {
            let rows = notifications::after(&self.db, *last, 500).await?;
            let full = rows.len() == 500;
            for row in rows.into_iter().filter(|r| r.id <= up_to) {
                self.emit(last, row).await?;
            }
            if !full || *last >= up_to {
                return Ok(());
            }
        }
    }

    async fn emit(&self, last: &mut i64, row: notification::Model) -> Result<(), ApiError> {
        let event = match row.event_id {
            Some(id) => event::Entity::find_by_id(id)
                .one(&self.db)
                .await?
                .map(Arc::new),
            None => None,
        };
        *last = row.id;
        let notice = Arc::new(Notice::decode(&row, event));
        // No receiver is fine: nobody is subscribed on this instance right now.
        let _ = self.sender.send(notice);
        self.metrics.notices_broadcast.inc();
        Ok(())
    }
}

impl Bus for Hub {
    fn subscribe(&self) -> broadcast::Receiver<Arc<Notice>> {
        self.sender.subscribe()
    }
}
