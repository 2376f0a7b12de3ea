//! Live first: the page open on a WebSocket has a 1 s promise, a push 5 s and a mail
//! minutes, so a change's pushes and mails wait until this instance's fan-out of it has
//! been executed by every subscriber group and handed to their sockets, at most
//! `DELIVERY_YIELD_MS`. The hub says how many groups a notice went to; each group says when
//! it has executed it; the delivery workers wait for the hub to have read their
//! notification and for the count to reach zero.
//!
//! Only the newest notice is followed: a newer one replaces an older still in progress
//! (live first holds for the newest change, and a burst never piles up waits). A group
//! that fell behind the hub, or ended meanwhile, never reports: the wait's bound covers it.
//!
//! Then pushes before mail: while the push worker is sending, the mail worker waits, at
//! most [`PUSH_PROMISE`] after the newest fan-out settled (so a queue of push retries
//! never holds mail back for longer than that, whatever the number of batches).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The newest notice broadcast, and the groups yet to execute it.
#[derive(Debug, Default, Clone, Copy)]
struct Pending {
    notice: i64,
    groups: usize,
    /// When the last group executed it (a test hook, and for the metric).
    settled_at: Option<Instant>,
}

/// A push is promised within this of the change; mail waits for pushes no longer.
pub const PUSH_PROMISE: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct LiveFirst {
    pending: Mutex<Pending>,
    settled: Notify,
    max_wait: Duration,
    /// Push drains sending now.
    pushing: AtomicUsize,
    pushed: Notify,
}

/// A push drain with deliveries to send; mail waits while one lives.
pub struct Pushing<'a>(&'a LiveFirst);

impl Drop for Pushing<'_> {
    fn drop(&mut self) {
        if self.0.pushing.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.pushed.notify_waiters();
        }
    }
}

impl LiveFirst {
    pub fn new(max_wait: Duration) -> Self {
        Self {
            pending: Mutex::new(Pending::default()),
            settled: Notify::new(),
            max_wait,
            pushing: AtomicUsize::new(0),
            pushed: Notify::new(),
        }
    }

    /// The push worker has deliveries to send, until the guard drops.
    pub fn pushing(&self) -> Pushing<'_> {
        self.pushing.fetch_add(1, Ordering::AcqRel);
        Pushing(self)
    }

    /// Waits while pushes are being sent, at most until `bound` ([`PUSH_PROMISE`]) after
    /// the newest fan-out settled (or from now, if none has); returns how long it waited.
    pub async fn pushes_sent(&self, bound: Duration) -> Duration {
        let started = Instant::now();
        let until = self.pending().settled_at.unwrap_or(started) + bound;
        loop {
            let notified = self.pushed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.pushing.load(Ordering::Acquire) == 0 {
                return started.elapsed();
            }
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                return started.elapsed();
            };
            if tokio::time::timeout(left, notified).await.is_err() {
                return started.elapsed();
            }
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The hub is broadcasting `notice` to `groups` subscriber groups.
    pub fn broadcast(&self, notice: i64, groups: usize) {
        let mut pending = self.pending();
        *pending = Pending {
            notice,
            groups,
            settled_at: (groups == 0).then(Instant::now),
        };
        // Waiters for this notice may go when there is nobody to serve first; others
        // look again.
        self.settled.notify_waiters();
    }

    /// A group has executed `notice` and handed its frame to its members (or had nothing
    /// to send them).
    pub fn executed(&self, notice: i64) {
        let mut pending = self.pending();
        if pending.notice != notice || pending.groups == 0 {
            return;
        }
        pending.groups -= 1;
        if pending.groups == 0 {
            pending.settled_at = Some(Instant::now());
            self.settled.notify_waiters();
        }
    }

    /// Waits until the hub has broadcast notice `through` (a delivery's notification) and
    /// every group has executed the newest notice, at most the bound; returns how long it
    /// waited. (Deliveries are woken by the commit itself, before the hub has read it.)
    pub async fn settled(&self, through: i64) -> Duration {
        let started = Instant::now();
        loop {
            let notified = self.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let pending = *self.pending();
            if pending.notice >= through && pending.groups == 0 {
                return started.elapsed();
            }
            let Some(left) = self.max_wait.checked_sub(started.elapsed()) else {
                return started.elapsed();
            };
            if tokio::time::timeout(left, notified).await.is_err() {
                return started.elapsed();
            }
        }
    }

    /// The newest notice followed, and when its fan-out was executed by every group.
    pub fn last_settled(&self) -> (i64, Option<Instant>) {
        let pending = self.pending();
        (pending.notice, pending.settled_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deliveries_wait_for_every_group_of_the_newest_notice_and_no_longer() {
        let live = std::sync::Arc::new(LiveFirst::new(Duration::from_secs(5)));
        live.broadcast(7, 2);
        let waiting = tokio::spawn({
            let live = live.clone();
            async move { live.settled(7).await }
        });
        tokio::task::yield_now().await;
        live.executed(6);
        live.executed(7);
        assert!(!waiting.is_finished(), "one group is still executing");
        assert_eq!(live.last_settled(), (7, None));
        live.executed(7);
        waiting.await.unwrap();
        assert!(live.last_settled().1.is_some());

        // A group that never reports holds deliveries back for the bound only.
        let bounded = LiveFirst::new(Duration::from_millis(50));
        bounded.broadcast(8, 1);
        assert!(bounded.settled(8).await >= Duration::from_millis(50));
        // So does a notice the hub has not read yet.
        let early = LiveFirst::new(Duration::from_millis(50));
        assert!(early.settled(1).await >= Duration::from_millis(50));
        early.broadcast(1, 0);
        assert!(early.settled(1).await < Duration::from_millis(50));
    }

    #[tokio::test]
    async fn mail_waits_for_the_pushes_being_sent_and_no_longer_than_their_promise() {
        let live = std::sync::Arc::new(LiveFirst::new(Duration::from_secs(5)));
        let promise = Duration::from_millis(100);
        let quick = live.pushes_sent(promise).await;
        assert!(quick < Duration::from_millis(50), "none sending");
        let pushing = live.pushing();
        let waiting = tokio::spawn({
            let live = live.clone();
            async move { live.pushes_sent(Duration::from_secs(5)).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "pushes are being sent");
        drop(pushing);
        waiting.await.unwrap();

        // However many drains follow each other, mail waits at most the promise after the
        // newest fan-out settled, not the promise again for every batch.
        live.broadcast(9, 0);
        let _pushing = live.pushing();
        tokio::time::sleep(Duration::from_millis(60)).await;
        let waited = live.pushes_sent(promise).await;
        assert!(
            waited < Duration::from_millis(60),
            "{waited:?}: counted from the fan-out"
        );
        let again = live.pushes_sent(promise).await;
        assert!(again < Duration::from_millis(10), "past the promise");
    }
}
