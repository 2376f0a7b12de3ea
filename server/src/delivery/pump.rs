//! What the push and mail workers share: a queue of deliveries claimed in batches under
//! short leases and sent with bounded concurrency. `send_due` keeps `concurrency` sends in
//! flight (each a task, so the costly part, a push's encryption, runs on every delivery
//! thread), claims more before the queue runs dry, renews the leases every third of their
//! length while the worker lives, records outcomes in batches, and on shutdown lets sends
//! in flight finish briefly, records them and gives unstarted claims back. `keep_draining`
//! runs a drain whenever the worker is rung, its poll comes round, or until shutdown.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio_util::sync::CancellationToken;

/// How long a stopping worker waits for sends in flight.
const DRAIN_ON_SHUTDOWN: Duration = Duration::from_secs(5);

/// A queue of leased deliveries (pushes, mails).
#[async_trait::async_trait]
pub trait Queue: Send + Sync + 'static {
    /// A claimed delivery with what it needs to be sent.
    type Job: Send + 'static;
    /// How one send ended, as recorded.
    type Done: Send + 'static;
    /// What one drain keeps from claim to claim (alerts already composed).
    type Cache: Default + Send;

    /// Claims a batch (empty when nothing is due).
    async fn claim(&self, cache: &mut Self::Cache) -> anyhow::Result<Vec<Self::Job>>;
    /// The delivery's id, to give an unstarted claim back.
    fn id(job: &Self::Job) -> i64;
    /// Sends one delivery; runs as a task of its own.
    async fn send(self: Arc<Self>, job: Self::Job) -> Self::Done;
    /// Writes outcomes (never called with none).
    async fn record(&self, done: &[Self::Done]) -> anyhow::Result<()>;
    /// Extends this worker's leases until `until`.
    async fn renew(&self, until: DateTime<Utc>) -> anyhow::Result<()>;
    /// Gives claimed but unstarted deliveries back.
    async fn release(&self, ids: Vec<i64>) -> anyhow::Result<()>;
}

/// How a queue is worked.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Sends in flight at once.
    pub concurrency: usize,
    /// A claim's length; renewed every third of it.
    pub lease: Duration,
    /// Outcomes written once this many have come back (or when the work runs out).
    pub record_every: usize,
}

/// Claims and sends until nothing is due (or shutdown); returns how many were attempted.
pub async fn send_due<Q: Queue>(
    queue: &Arc<Q>,
    pace: Pace,
    shutdown: &CancellationToken,
) -> anyhow::Result<usize> {
    let mut cache = Q::Cache::default();
    let mut waiting: VecDeque<Q::Job> = VecDeque::new();
    let mut in_flight = FuturesUnordered::new();
    let mut outcomes: Vec<Q::Done> = Vec::new();
    let mut attempted = 0;
    let mut exhausted = false;
    let mut failure = None;
    // Claims are short leases, renewed while this worker lives: a dead worker's claims go
    // to another instance within one lease.
    let mut renew = tokio::time::interval(pace.lease / 3);
    renew.tick().await;
    while !shutdown.is_cancelled() {
        // Keep the pipeline full: claim more before the queue runs dry.
        if !exhausted && waiting.len() < pace.concurrency {
            match queue.claim(&mut cache).await {
                Ok(jobs) if jobs.is_empty() => exhausted = true,
                Ok(jobs) => waiting.extend(jobs),
                Err(error) => {
                    failure = Some(error);
                    exhausted = true;
                }
            }
        }
        while in_flight.len() < pace.concurrency
            && let Some(job) = waiting.pop_front()
        {
            in_flight.push(tokio::spawn(queue.clone().send(job)));
        }
        if in_flight.is_empty() {
            break;
        }
        tokio::select! {
            Some(done) = in_flight.next() => {
                // A panicked send loses its outcome; its lease runs out and it is retried.
                if let Ok(done) = done {
                    attempted += 1;
                    outcomes.push(done);
                }
                if outcomes.len() >= pace.record_every {
                    flush(queue.as_ref(), &mut outcomes).await?;
                }
            }
            _ = renew.tick() => {
                let until = Utc::now() + chrono::Duration::from_std(pace.lease)?;
                if let Err(error) = queue.renew(until).await {
                    tracing::warn!(error = format!("{error:#}"), "could not renew the claims");
                }
            }
            () = shutdown.cancelled() => {}
        }
    }
    // Stopping or done: let sends in flight finish (briefly when stopping), record them,
    // and give unstarted claims back so another instance need not wait.
    let finish = async {
        while let Some(done) = in_flight.next().await {
            if let Ok(done) = done {
                attempted += 1;
                outcomes.push(done);
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_ON_SHUTDOWN, finish).await;
    flush(queue.as_ref(), &mut outcomes).await?;
    queue.release(waiting.iter().map(Q::id).collect()).await?;
    match failure {
        Some(error) => Err(error),
        None => Ok(attempted),
    }
}

/// Writes the outcomes gathered so far and forgets them, written or not: unwritten ones
/// stay claimed, and are sent again once their lease runs out.
async fn flush<Q: Queue>(queue: &Q, outcomes: &mut Vec<Q::Done>) -> anyhow::Result<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let written = queue.record(outcomes).await;
    outcomes.clear();
    written
}

/// Runs `drain` whenever `rung` resolves or `poll` comes round, until shutdown; a failed
/// drain is logged and tried again.
pub async fn keep_draining<D, R>(
    what: &'static str,
    poll: Duration,
    shutdown: CancellationToken,
    mut drain: impl FnMut() -> D,
    mut rung: impl FnMut() -> R,
) where
    D: Future<Output = anyhow::Result<()>>,
    R: Future<Output = ()>,
{
    loop {
        if let Err(error) = drain().await {
            tracing::error!(error = format!("{error:#}"), "{what} failed: will retry");
        }
        if shutdown.is_cancelled() {
            break;
        }
        tokio::select! {
            () = rung() => {},
            () = tokio::time::sleep(poll) => {},
            () = shutdown.cancelled() => break,
        }
    }
}
