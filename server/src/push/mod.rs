//! The push worker: claims due deliveries in batches (any instance may run one; a claim is
//! a lease, so each delivery is worked on by one instance at a time), sends them with
//! bounded concurrency over pooled connections, and records the outcomes in batches.
//!
//! Outcomes: 2xx delivered; 404/410 the subscription is pruned; 429 and 5xx (and network
//! errors) retried with exponential backoff that honours Retry-After, until the attempt
//! limit, then failed with the reason; any other answer fails at once.

pub mod alert;
pub mod encrypt;
pub mod sender;
pub mod vapid;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use entities::{notification, push_subscription};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use schema::services::push_deliveries::{self, Claimed, Outcome};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use tokio::sync::{Notify, watch};

use crate::metrics::Metrics;
use sender::{Alert, SendError, Sender};

pub struct WorkerConfig {
    /// This instance's name, recorded on the deliveries it claims.
    pub instance: String,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Deliveries claimed per query.
    pub batch: u64,
    /// How long a claim lasts: the time after which another instance retries the rest of
    /// a batch whose worker died.
    pub lease: Duration,
    /// How often an idle worker looks for due deliveries (retries, other instances' work).
    pub poll: Duration,
    /// Attempts before a delivery is given up.
    pub max_attempts: i32,
    /// The first retry's delay; doubled on each further attempt.
    pub retry_base: Duration,
    /// Base URL of the SPA, for the link in each alert.
    pub public_url: String,
}

/// The longest wait between attempts, whatever Retry-After says.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);
/// Outcomes are written once this many have accumulated (or when the work runs out).
const RECORD_EVERY: usize = 200;

/// A claimed delivery with what it needs.
struct Job {
    claimed: Claimed,
    subscription: Option<push_subscription::Model>,
    alert: Option<Arc<Alert>>,
}

pub async fn run(
    db: DatabaseConnection,
    sender: Arc<Sender>,
    config: WorkerConfig,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut alerts: HashMap<i64, Option<Arc<Alert>>> = HashMap::new();
    let mut queue: VecDeque<Job> = VecDeque::new();
    let mut in_flight = FuturesUnordered::new();
    let mut outcomes: Vec<(Claimed, Outcome)> = Vec::new();
    let mut exhausted = false;
    loop {
        if *shutdown.borrow() {
            break;
        }
        // Keep the pipeline full: claim more before the queue runs dry.
        if !exhausted && queue.len() < config.concurrency {
            match claim(&db, &config, &mut alerts).await {
                Ok(jobs) if jobs.is_empty() => exhausted = true,
                Ok(jobs) => queue.extend(jobs),
                Err(error) => {
                    tracing::warn!(%error, "push worker could not claim deliveries");
                    exhausted = true;
                }
            }
        }
        while in_flight.len() < config.concurrency
            && let Some(job) = queue.pop_front()
        {
            let sender = sender.clone();
            let metrics = metrics.clone();
            let max_attempts = config.max_attempts;
            let retry_base = config.retry_base;
            // A task per message, so encryption (the costly part) runs on every core.
            in_flight.push(tokio::spawn(async move {
                let outcome = deliver(&sender, &job, max_attempts, retry_base).await;
                count(&metrics, &outcome);
                (job.claimed, outcome)
            }));
        }
        if in_flight.is_empty() {
            record(&db, &mut outcomes).await;
            if alerts.len() > 1000 {
                alerts.clear();
            }
            tokio::select! {
                _ = wake.notified() => {},
                _ = tokio::time::sleep(config.poll) => {},
                _ = shutdown.changed() => break,
            }
            exhausted = false;
            continue;
        }
        tokio::select! {
            Some(done) = in_flight.next() => {
                // A panicked send loses its outcome; its lease runs out and it is retried.
                outcomes.extend(done.ok());
                if outcomes.len() >= RECORD_EVERY {
                    record(&db, &mut outcomes).await;
                }
            }
            _ = wake.notified() => exhausted = false,
            _ = shutdown.changed() => break,
        }
    }
    // Shutting down: let requests in flight finish (briefly), record them, and give the
    // unstarted claims back so another instance need not wait for the lease.
    let drain = async {
        while let Some(done) = in_flight.next().await {
            outcomes.extend(done.ok());
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
    record(&db, &mut outcomes).await;
    let unstarted: Vec<i64> = queue.iter().map(|job| job.claimed.id).collect();
    if let Err(error) = push_deliveries::release(&db, unstarted).await {
        tracing::warn!(error = %error.message(), "could not release unsent push deliveries");
    }
}

/// Claims a batch and loads its subscriptions and (new) notifications in two queries.
async fn claim(
    db: &DatabaseConnection,
    config: &WorkerConfig,
    alerts: &mut HashMap<i64, Option<Arc<Alert>>>,
) -> Result<Vec<Job>, String> {
    let now = Utc::now();
    let lease_until = now + chrono::Duration::from_std(config.lease).map_err(|e| e.to_string())?;
    let claimed = push_deliveries::claim(db, &config.instance, now, lease_until, config.batch)
        .await
        .map_err(|e| e.message())?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let subscriptions =
        push_deliveries::subscriptions(db, claimed.iter().filter_map(|c| c.subscription_id))
            .await
            .map_err(|e| e.message())?;
    let missing: Vec<i64> = claimed
        .iter()
        .map(|c| c.notification_id)
        .filter(|id| !alerts.contains_key(id))
        .collect();
    if !missing.is_empty() {
        let rows = notification::Entity::find()
            .filter(notification::Column::Id.is_in(missing.iter().copied()))
            .all(db)
            .await
            .map_err(|e| e.to_string())?;
        for id in missing {
            let alert = rows
                .iter()
                .find(|row| row.id == id)
                .and_then(|row| alert::compose(row, &config.public_url, now))
                .map(Arc::new);
            alerts.insert(id, alert);
        }
    }
    Ok(claimed
        .into_iter()
        .map(|claimed| Job {
            subscription: claimed
                .subscription_id
                .and_then(|id| subscriptions.get(&id).cloned()),
            alert: alerts.get(&claimed.notification_id).cloned().flatten(),
            claimed,
        })
        .collect())
}

/// Sends one job and says how it ended.
async fn deliver(sender: &Sender, job: &Job, max_attempts: i32, retry_base: Duration) -> Outcome {
    let Some(subscription) = &job.subscription else {
        return Outcome::Dropped;
    };
    let Some(alert) = &job.alert else {
        return Outcome::Failed {
            status_code: None,
            error: "the notification cannot be shown as a push message".into(),
        };
    };
    let attempts = job.claimed.attempts;
    let retry = |status_code: Option<u16>, error: String, retry_after: Option<Duration>| {
        if attempts >= max_attempts {
            return Outcome::Failed {
                status_code,
                error: format!("gave up after {attempts} attempts: {error}"),
            };
        }
        let backoff = retry_base.saturating_mul(1 << (attempts - 1).clamp(0, 16));
        let jitter = backoff / 10 * rand::random_range(0..=10) / 10;
        let delay = retry_after
            .unwrap_or_default()
            .max(backoff + jitter)
            .min(MAX_RETRY_DELAY);
        Outcome::Retry {
            at: Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default(),
            status_code,
            error,
        }
    };
    match sender.send(subscription, alert).await {
        Ok(answer) => match answer.status {
            200..=299 => Outcome::Delivered {
                status_code: answer.status,
            },
            404 | 410 => Outcome::Pruned {
                status_code: answer.status,
            },
            429 | 500..=599 => retry(
                Some(answer.status),
                format!("HTTP {}", answer.status),
                answer.retry_after,
            ),
            status => Outcome::Failed {
                status_code: Some(status),
                error: format!("HTTP {status}"),
            },
        },
        Err(SendError::Network(error)) => retry(None, error, None),
        Err(SendError::Refused(error) | SendError::Invalid(error)) => Outcome::Failed {
            status_code: None,
            error,
        },
    }
}

fn count(metrics: &Metrics, outcome: &Outcome) {
    match outcome {
        Outcome::Delivered { .. } => metrics.pushes_delivered.inc(),
        Outcome::Retry { .. } => metrics.pushes_retried.inc(),
        Outcome::Failed { .. } => metrics.pushes_failed.inc(),
        Outcome::Pruned { .. } => metrics.pushes_pruned.inc(),
        Outcome::Dropped => {}
    }
}

async fn record(db: &DatabaseConnection, outcomes: &mut Vec<(Claimed, Outcome)>) {
    if outcomes.is_empty() {
        return;
    }
    if let Err(error) = push_deliveries::record(db, Utc::now(), outcomes).await {
        // Left claimed: the lease runs out and the deliveries are sent again.
        tracing::error!(error = %error.message(), "could not record push outcomes");
    }
    outcomes.clear();
}
