//! The hub: one per instance. Rung with a notification id (from Redis, in-process, or its
//! own poll while Redis is away), it reads from the log every row it has not broadcast yet
//! up to that id, with their events in one query, and broadcasts each as one shared
//! `Arc<Notice>` to every local subscriber.
//!
//! Notification ids are gap-free and follow commit order, so "the last id broadcast" says
//! exactly what the hub has seen: a ring for an id it has passed is a repeat (the relay
//! publishes at least once) and costs nothing; a ring further ahead means the rings in
//! between were lost, and the read covers them too.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use race_office::OutboxBell;
use race_office::domain::Notice;
use race_office::services::{notifications, registrations};
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::{Mutex, broadcast};

use super::live_first::LiveFirst;
use crate::metrics;

/// Rows read from the log per query.
const READ_BATCH: u64 = 500;
/// The newest notices kept in memory for replays: a race day has a handful of changes, so
/// a runner whose instance died moments ago is always within them.
const HELD: usize = 64;

pub struct Hub {
    db: DatabaseConnection,
    sender: broadcast::Sender<Arc<Notice>>,
    /// The last id broadcast; the lock also keeps broadcasts in order.
    last_id: Mutex<i64>,
    /// The same, readable without waiting for a broadcast in progress.
    seen: AtomicI64,
    /// Rung for each notice, so this instance's push worker queues and sends at once.
    bell: Arc<OutboxBell>,
    /// Told how many subscriber groups each notice goes to, so deliveries wait for them.
    live: Arc<LiveFirst>,
    /// The newest [`HELD`] notices broadcast, in order and without a gap (ids are).
    held: std::sync::RwLock<VecDeque<Arc<Notice>>>,
}

impl Hub {
    /// A hub that starts after everything already in the log.
    pub async fn start(
        db: DatabaseConnection,
        buffer: usize,
        bell: Arc<OutboxBell>,
        live: Arc<LiveFirst>,
    ) -> Result<Arc<Self>, DbErr> {
        let last = notifications::last_id(&db).await?;
        let (sender, _) = broadcast::channel(buffer.max(16));
        Ok(Arc::new(Self {
            db,
            sender,
            last_id: Mutex::new(last),
            seen: AtomicI64::new(last),
            bell,
            live,
            held: std::sync::RwLock::new(VecDeque::with_capacity(HELD)),
        }))
    }

    /// The log holds notifications up to `id`: broadcast those not broadcast yet.
    pub async fn ring(&self, id: i64) -> Result<(), DbErr> {
        if id <= self.seen.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut last = self.last_id.lock().await;
        self.fill(&mut last, id).await
    }

    /// Broadcasts whatever the log holds past the last id seen (after a reconnect, and on
    /// each poll while the bus is away).
    pub async fn catch_up(&self) -> Result<(), DbErr> {
        let mut last = self.last_id.lock().await;
        self.fill(&mut last, i64::MAX).await
    }

    /// Who waits for this hub's fan-out before delivering.
    pub fn live(&self) -> &LiveFirst {
        &self.live
    }

    /// The last id broadcast.
    pub fn last_seen(&self) -> i64 {
        self.seen.load(Ordering::Acquire)
    }

    async fn fill(&self, last: &mut i64, up_to: i64) -> Result<(), DbErr> {
        while *last < up_to {
            let notices = notifications::notices_after(&self.db, *last, up_to, READ_BATCH).await?;
            let full = notices.len() as u64 == READ_BATCH;
            for notice in notices {
                *last = notice.id;
                self.seen.store(notice.id, Ordering::Release);
                let delay = (chrono::Utc::now() - notice.created_at)
                    .to_std()
                    .unwrap_or_default();
                if self.sender.receiver_count() > 0 {
                    self.load_audience(&notice).await;
                }
                let notice = Arc::new(notice);
                self.hold(&notice);
                // Every receiver is a subscriber group (see the fan-out).
                self.live.broadcast(notice.id, self.sender.receiver_count());
                // No receiver is fine: nobody is subscribed on this instance right now.
                let _ = self.sender.send(notice);
                tracing::debug!(
                    id = *last,
                    groups = self.sender.receiver_count(),
                    "hub broadcast a notice"
                );
                metrics::alert_reached("hub", delay);
                self.bell.ring_push();
            }
            if !full {
                break;
            }
        }
        Ok(())
    }
}

impl Hub {
    /// Who a status change concerns (the runners registered for its event), read here on
    /// the pipeline's pool, so that `myNotifications` answers it without a read of its own
    /// on the requests' pool, where a storm of reconnecting clients may be queued. On a
    /// failure the subscriptions read it themselves.
    async fn load_audience(&self, notice: &Notice) {
        if let Err(error) = registrations::audience(&self.db, notice).await {
            tracing::warn!(%error, notice = notice.id, "the hub could not read who a change concerns");
        }
    }

    /// Keeps `notice` among the newest, before it is broadcast: a subscriber joining after
    /// the broadcast finds it held.
    fn hold(&self, notice: &Arc<Notice>) {
        let mut held = match self.held.write() {
            Ok(held) => held,
            Err(poisoned) => poisoned.into_inner(),
        };
        if held.len() == HELD {
            held.pop_front();
        }
        held.push_back(notice.clone());
    }

    /// The newest notices held, up to `up_to`, oldest first (empty before the first).
    pub fn held(&self, up_to: i64) -> Vec<Arc<Notice>> {
        let held = match self.held.read() {
            Ok(held) => held,
            Err(poisoned) => poisoned.into_inner(),
        };
        held.iter().filter(|n| n.id <= up_to).cloned().collect()
    }

    /// A receiver of every notice broadcast from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Notice>> {
        self.sender.subscribe()
    }
}
