//! What the push and mail workers share: a queue of deliveries claimed in batches under
//! short leases and sent with bounded concurrency. `send_due` keeps `concurrency` sends in
//! flight (each a task, so the costly part, a push's encryption, runs on every delivery
//! thread), claims more before the queue runs dry, renews the leases every third of their
//! length while the worker lives, records outcomes in batches (claims and writes go on
//! beside the sends, which do not wait for them), and on shutdown lets sends
//! in flight finish briefly, records them and gives unstarted claims back. `keep_draining`
//! runs a drain whenever the worker is rung, its poll comes round, or until shutdown.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::task::{JoinError, JoinHandle};
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

/// A claim under way, with the cache it took along.
type Claiming<Q> = Pin<
    Box<dyn Future<Output = (<Q as Queue>::Cache, anyhow::Result<Vec<<Q as Queue>::Job>>)> + Send>,
>;

/// Claims and sends until nothing is due (or shutdown); returns how many were attempted.
/// Claims and writes run beside the sends, never in their way: while a batch is claimed
/// or outcomes are written, the sends in flight go on and finished ones are replaced.
pub async fn send_due<Q: Queue>(
    queue: &Arc<Q>,
    pace: Pace,
    shutdown: &CancellationToken,
) -> anyhow::Result<usize> {
    let mut cache = Some(Q::Cache::default());
    let mut claiming: Option<Claiming<Q>> = None;
    let mut recording: Option<JoinHandle<anyhow::Result<()>>> = None;
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
        if !exhausted
            && claiming.is_none()
            && waiting.len() < pace.concurrency
            && let Some(cache) = cache.take()
        {
            claiming = Some(claim(queue.clone(), cache));
        }
        while in_flight.len() < pace.concurrency
            && let Some(job) = waiting.pop_front()
        {
            in_flight.push(tokio::spawn(queue.clone().send(job)));
        }
        // One write at a time; outcomes gather meanwhile.
        if recording.is_none() && outcomes.len() >= pace.record_every {
            recording = Some(tokio::spawn(record(
                queue.clone(),
                std::mem::take(&mut outcomes),
            )));
        }
        if in_flight.is_empty() && claiming.is_none() {
            break;
        }
        tokio::select! {
            Some(done) = in_flight.next() => {
                // A panicked send loses its outcome; its lease runs out and it is retried.
                if let Ok(done) = done {
                    attempted += 1;
                    outcomes.push(done);
                }
            }
            (returned, claimed) = under_way(claiming.as_mut()), if claiming.is_some() =>
            {
                claiming = None;
                cache = Some(returned);
                match claimed {
                    Ok(jobs) if jobs.is_empty() => exhausted = true,
                    Ok(jobs) => waiting.extend(jobs),
                    Err(error) => {
                        failure = Some(error);
                        exhausted = true;
                    }
                }
            }
            written = under_way(recording.as_mut()), if recording.is_some() =>
            {
                recording = None;
                if let Err(error) = joined(written) {
                    failure = Some(error);
                    exhausted = true;
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
    // Stopping or done: a claim under way is finished so that its rows are given back,
    // sends in flight finish (briefly when stopping), every outcome is written, and
    // unstarted claims go back so another instance need not wait.
    if let Some(claiming) = claiming.take() {
        match claiming.await {
            (_, Ok(jobs)) => waiting.extend(jobs),
            (_, Err(error)) => failure = failure.or(Some(error)),
        }
    }
    let finish = async {
        while let Some(done) = in_flight.next().await {
            if let Ok(done) = done {
                attempted += 1;
                outcomes.push(done);
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_ON_SHUTDOWN, finish).await;
    if let Some(recording) = recording.take() {
        joined(recording.await)?;
    }
    flush(queue.as_ref(), &mut outcomes).await?;
    queue.release(waiting.iter().map(Q::id).collect()).await?;
    match failure {
        Some(error) => Err(error),
        None => Ok(attempted),
    }
}

/// The work under way, or never (for a `select!` branch that is off when there is none).
async fn under_way<F: Future + Unpin>(work: Option<&mut F>) -> F::Output {
    match work {
        Some(work) => work.await,
        None => std::future::pending().await,
    }
}

fn claim<Q: Queue>(queue: Arc<Q>, mut cache: Q::Cache) -> Claiming<Q> {
    Box::pin(async move {
        let claimed = queue.claim(&mut cache).await;
        (cache, claimed)
    })
}

async fn record<Q: Queue>(queue: Arc<Q>, outcomes: Vec<Q::Done>) -> anyhow::Result<()> {
    queue.record(&outcomes).await
}

/// A background write's result; a panicked one counts as failed (its outcomes stay
/// claimed and are sent again once their lease runs out).
fn joined(written: Result<anyhow::Result<()>, JoinError>) -> anyhow::Result<()> {
    written.map_err(|e| anyhow::Error::new(e).context("recording outcomes"))?
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use tokio::sync::Notify;

    /// `total` deliveries, claimed ten at a time, whose first write is held until every
    /// one of them has been sent.
    struct HeldWrite {
        total: usize,
        claimed: AtomicUsize,
        sent: AtomicUsize,
        writes: AtomicUsize,
        recorded: Mutex<Vec<i64>>,
        all_sent: Notify,
    }

    #[async_trait::async_trait]
    impl Queue for HeldWrite {
        type Job = i64;
        type Done = i64;
        type Cache = ();

        async fn claim(&self, (): &mut ()) -> anyhow::Result<Vec<i64>> {
            let from = self.claimed.fetch_add(10, SeqCst).min(self.total);
            let to = (from + 10).min(self.total);
            Ok((from as i64..to as i64).collect())
        }

        fn id(job: &i64) -> i64 {
            *job
        }

        async fn send(self: Arc<Self>, job: i64) -> i64 {
            tokio::task::yield_now().await;
            if self.sent.fetch_add(1, SeqCst) + 1 == self.total {
                self.all_sent.notify_one();
            }
            job
        }

        async fn record(&self, done: &[i64]) -> anyhow::Result<()> {
            if self.writes.fetch_add(1, SeqCst) == 0 {
                self.all_sent.notified().await;
            }
            self.recorded.lock().expect("recorded").extend(done);
            Ok(())
        }

        async fn renew(&self, _: DateTime<Utc>) -> anyhow::Result<()> {
            Ok(())
        }

        async fn release(&self, ids: Vec<i64>) -> anyhow::Result<()> {
            anyhow::ensure!(ids.is_empty(), "nothing is left unsent: {ids:?}");
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sends_go_on_while_outcomes_are_written() {
        let queue = Arc::new(HeldWrite {
            total: 100,
            claimed: AtomicUsize::new(0),
            sent: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
            recorded: Mutex::new(Vec::new()),
            all_sent: Notify::new(),
        });
        let pace = Pace {
            concurrency: 4,
            lease: Duration::from_secs(30),
            record_every: 10,
        };
        // Were the sends to wait for the first write, that write would wait forever.
        let attempted = tokio::time::timeout(
            Duration::from_secs(10),
            send_due(&queue, pace, &CancellationToken::new()),
        )
        .await
        .expect("the sends went on while the first write was held")
        .expect("drained");
        assert_eq!(attempted, 100);
        let mut recorded = queue.recorded.lock().expect("recorded").clone();
        recorded.sort_unstable();
        assert_eq!(recorded, (0..100).collect::<Vec<i64>>(), "each once");
    }
}
