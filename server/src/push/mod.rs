//! The push worker: queues the deliveries of new notifications straight from the log,
//! claims due deliveries in batches (any instance may run one; a claim is a lease, so each
//! delivery is worked on by one instance at a time), sends them with bounded concurrency
//! over pooled connections, and records the outcomes in batches.
//!
//! Outcomes: 2xx delivered; 404/410 the subscription is pruned; 429 and 5xx (and network
//! errors) retried with exponential backoff that honours Retry-After, until the attempt
//! limit, then failed with the reason; any other answer fails at once.
//!
//! `drain_once` runs what is due now and returns; `run` does that whenever a local commit,
//! the hub or the poll says there may be work, until shutdown.

pub mod alert;
pub mod encrypt;
pub mod sender;
pub mod vapid;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use race_office::OutboxBell;
use race_office::domain::{AckKey, Language};
use race_office::services::notifications;
use race_office::services::push_deliveries::{self, Claimed, FailureClass, Outcome, Recipient};
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::alerts::live_first::LiveFirst;
use crate::delivery::pump;
use crate::metrics::{self, PushOutcome};
use crate::settings::PushSettings;
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

impl WorkerConfig {
    pub fn new(settings: &PushSettings, instance: String, public_url: String) -> Self {
        Self {
            instance,
            concurrency: settings.concurrency as usize,
            batch: settings.batch,
            lease: settings.lease,
            poll: settings.poll,
            max_attempts: settings.max_attempts,
            retry_base: settings.retry_base,
            public_url,
        }
    }
}

/// The longest wait between attempts, whatever Retry-After says.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);
/// Outcomes are written once this many have accumulated (or when the work runs out).
const RECORD_EVERY: usize = 200;
/// Log rows whose deliveries are queued per transaction.
const ENQUEUE_BATCH: u64 = 100;

/// A claimed delivery with what it needs.
pub struct Job {
    claimed: Claimed,
    subscription: Option<Recipient>,
    alert: Option<Arc<Alert>>,
    /// When its notification was committed, for the delivery delay.
    committed_at: Option<DateTime<Utc>>,
}

/// A notification's alert in one language (none when it cannot be shown as a push) and
/// its commit time.
pub type Composed = (Option<Arc<Alert>>, DateTime<Utc>);
/// Alerts composed so far, by notification and language.
pub type Alerts = HashMap<(i64, Language), Composed>;

/// What one drain did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Deliveries queued from the log.
    pub queued: u64,
    /// Deliveries attempted (each ended delivered, retried, failed, pruned or dropped).
    pub attempted: usize,
}

pub struct Worker {
    db: DatabaseConnection,
    sender: Arc<Sender>,
    config: WorkerConfig,
    /// Makes each delivery's acknowledgement token.
    ack_key: AckKey,
    /// Waited for before a change's pushes are encrypted: the live channel goes first.
    live: Arc<LiveFirst>,
    /// The newest notification whose pushes began to be sent, and when (a test hook).
    started: std::sync::Mutex<Option<(i64, std::time::Instant)>>,
}

impl Worker {
    pub fn new(
        db: DatabaseConnection,
        sender: Arc<Sender>,
        config: WorkerConfig,
        ack_key: AckKey,
        live: Arc<LiveFirst>,
    ) -> Self {
        Self {
            db,
            sender,
            config,
            ack_key,
            live,
            started: std::sync::Mutex::new(None),
        }
    }

    /// The newest notification whose pushes began to be encrypted and sent, and when.
    pub fn last_started(&self) -> Option<(i64, std::time::Instant)> {
        *self
            .started
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues what the log holds and sends every delivery due now, then returns. Tests
    /// call this with the background worker off, to assert step by step.
    pub async fn drain_once(self: &Arc<Self>) -> anyhow::Result<Drained> {
        self.drain(&CancellationToken::new()).await
    }

    /// Drains whenever there may be work, until shutdown.
    pub async fn run(self: Arc<Self>, bell: Arc<OutboxBell>, shutdown: CancellationToken) {
        let poll = self.config.poll;
        pump::keep_draining(
            "push worker",
            poll,
            shutdown.clone(),
            || async { self.drain(&shutdown).await.map(drop) },
            || bell.push_rung(),
        )
        .await;
    }

    async fn drain(self: &Arc<Self>, shutdown: &CancellationToken) -> anyhow::Result<Drained> {
        let mut drained = Drained::default();
        loop {
            let (rows, queued) =
                push_deliveries::enqueue_from_log(&self.db, Utc::now(), ENQUEUE_BATCH)
                    .await
                    .context("queueing push deliveries from the notification log")?;
            drained.queued += queued;
            if (rows as u64) < ENQUEUE_BATCH {
                break;
            }
        }
        let pace = pump::Pace {
            concurrency: self.config.concurrency,
            lease: self.config.lease,
            record_every: RECORD_EVERY,
        };
        // Mail waits while pushes go out (a push is promised within 5 s, a mail minutes).
        let _pushing = self.live.pushing();
        drained.attempted = pump::send_due(self, pace, shutdown).await?;
        Ok(drained)
    }
}

#[async_trait::async_trait]
impl pump::Queue for Worker {
    type Job = Job;
    type Done = (Claimed, Outcome);
    type Cache = Alerts;

    async fn claim(&self, alerts: &mut Alerts) -> anyhow::Result<Vec<Job>> {
        self.claim_batch(alerts).await
    }

    fn id(job: &Job) -> i64 {
        job.claimed.id
    }

    async fn send(self: Arc<Self>, job: Job) -> (Claimed, Outcome) {
        let started = std::time::Instant::now();
        let ack_token = self.ack_key.token(job.claimed.id);
        let outcome = deliver(
            &self.sender,
            &job,
            &ack_token,
            self.config.max_attempts,
            self.config.retry_base,
        )
        .await;
        count(&job, &outcome, started.elapsed());
        log_given_up(&job, &outcome);
        (job.claimed, outcome)
    }

    /// Writes the outcomes gathered so far. On failure they stay claimed: the lease runs
    /// out and the deliveries are sent again.
    async fn record(&self, outcomes: &[(Claimed, Outcome)]) -> anyhow::Result<()> {
        push_deliveries::record(&self.db, Utc::now(), outcomes)
            .await
            .with_context(|| format!("recording {} push outcomes", outcomes.len()))
    }

    async fn renew(&self, until: DateTime<Utc>) -> anyhow::Result<()> {
        push_deliveries::renew(&self.db, &self.config.instance, until)
            .await
            .context("renewing the push claims")?;
        Ok(())
    }

    async fn release(&self, ids: Vec<i64>) -> anyhow::Result<()> {
        push_deliveries::release(&self.db, ids)
            .await
            .context("giving back unsent push deliveries")
    }
}

impl Worker {
    /// Claims a batch and loads its subscriptions and (new) notifications in two queries.
    async fn claim_batch(&self, alerts: &mut Alerts) -> anyhow::Result<Vec<Job>> {
        let now = Utc::now();
        let lease_until = now + chrono::Duration::from_std(self.config.lease)?;
        let claimed = push_deliveries::claim(
            &self.db,
            &self.config.instance,
            now,
            lease_until,
            self.config.batch,
        )
        .await
        .context("claiming push deliveries")?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        // The live channel first: this instance's fan-out of the change is executed for
        // every subscriber group before its pushes are encrypted (bounded).
        if let Some(through) = claimed.iter().map(|c| c.notification_id).max() {
            metrics::delivery_yield("push", self.live.settled(through).await);
            let mut started = self
                .started
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if started.is_none_or(|(newest, _)| newest < through) {
                *started = Some((through, std::time::Instant::now()));
            }
        }
        let subscriptions = push_deliveries::subscriptions(
            &self.db,
            claimed.iter().filter_map(|c| c.subscription_id),
        )
        .await
        .context("loading the subscriptions of claimed deliveries")?;
        // Each (notification, language) is composed once, in the claim that first needs it.
        let language_of = |c: &Claimed| {
            c.subscription_id
                .and_then(|id| subscriptions.get(&id))
                .map_or(Language::En, |s| s.language)
        };
        let mut missing: Vec<(i64, Language)> = claimed
            .iter()
            .map(|c| (c.notification_id, language_of(c)))
            .filter(|key| !alerts.contains_key(key))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            let notices = notifications::by_ids(&self.db, missing.iter().map(|(id, _)| *id))
                .await
                .context("loading the notifications of claimed deliveries")?;
            for (id, language) in missing {
                let notice = notices.iter().find(|notice| notice.id == id);
                let alert = notice
                    .and_then(|notice| {
                        alert::compose(
                            notice.id,
                            notice.status_change()?,
                            language,
                            &self.config.public_url,
                            now,
                        )
                    })
                    .map(Arc::new);
                alerts.insert(
                    (id, language),
                    (alert, notice.map_or(now, |n| n.created_at)),
                );
            }
        }
        Ok(claimed
            .into_iter()
            .map(|claimed| {
                let composed = alerts.get(&(claimed.notification_id, language_of(&claimed)));
                Job {
                    subscription: claimed
                        .subscription_id
                        .and_then(|id| subscriptions.get(&id).cloned()),
                    alert: composed.and_then(|(alert, _)| alert.clone()),
                    committed_at: composed.map(|(_, at)| *at),
                    claimed,
                }
            })
            .collect())
    }
}

/// Sends one job and says how it ended.
async fn deliver(
    sender: &Sender,
    job: &Job,
    ack_token: &str,
    max_attempts: i32,
    retry_base: Duration,
) -> Outcome {
    let Some(subscription) = &job.subscription else {
        return Outcome::Dropped;
    };
    let Some(alert) = &job.alert else {
        return Outcome::Failed {
            status_code: None,
            error: "the notification cannot be shown as a push message".into(),
            class: FailureClass::Invalid,
        };
    };
    let attempts = job.claimed.attempts;
    let retry = |status_code: Option<u16>, error: String, retry_after: Option<Duration>| {
        if attempts >= max_attempts {
            return Outcome::Failed {
                status_code,
                error: format!("gave up after {attempts} attempts: {error}"),
                class: if status_code.is_some() {
                    FailureClass::Unavailable
                } else {
                    FailureClass::Network
                },
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
    match sender.send(subscription, alert, ack_token).await {
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
                class: FailureClass::Rejected,
            },
        },
        Err(error @ (SendError::Network(_) | SendError::Unresolved { .. })) => {
            retry(None, chain(&error), None)
        }
        Err(SendError::Postponed { until }) => Outcome::Postponed {
            at: Utc::now()
                + chrono::Duration::from_std(
                    until.saturating_duration_since(std::time::Instant::now()),
                )
                .unwrap_or_default(),
        },
        Err(error @ SendError::Refused(_)) => Outcome::Failed {
            status_code: None,
            error: chain(&error),
            class: FailureClass::Refused,
        },
        Err(error @ SendError::Invalid(_)) => Outcome::Failed {
            status_code: None,
            error: chain(&error),
            class: FailureClass::Invalid,
        },
    }
}

/// An error and its causes, as the delivery records them: `what: why: deeper cause`.
fn chain(error: &SendError) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// One WARN line per delivery given up, so that an operator reading the log learns why
/// without the database. The endpoint is a capability (whoever knows it can push to the
/// device): only its origin is logged, never its path, nor any key.
fn log_given_up(job: &Job, outcome: &Outcome) {
    let Outcome::Failed {
        status_code,
        error,
        class,
    } = outcome
    else {
        return;
    };
    let origin = job
        .subscription
        .as_ref()
        .map(|subscription| endpoint_origin(&subscription.endpoint))
        .unwrap_or_else(|| "(no subscription)".into());
    tracing::warn!(
        delivery = job.claimed.id,
        notification = job.claimed.notification_id,
        origin = %origin,
        status = status_code.map(i64::from),
        class = %class_name(*class),
        attempts = job.claimed.attempts,
        error = %error,
        "push delivery given up"
    );
}

/// `https://host[:port]` of an endpoint, or a placeholder when it does not parse.
fn endpoint_origin(endpoint: &str) -> String {
    match url::Url::parse(endpoint) {
        Ok(url) if url.has_host() => url.origin().ascii_serialization(),
        _ => "(not a URL)".into(),
    }
}

/// The class's name, as in the GraphQL enum and the metric's label.
fn class_name(class: FailureClass) -> &'static str {
    match class {
        FailureClass::Rejected => "REJECTED",
        FailureClass::Unavailable => "UNAVAILABLE",
        FailureClass::Network => "NETWORK",
        FailureClass::Refused => "REFUSED",
        FailureClass::Invalid => "INVALID",
    }
}

/// Counts an attempt by how it ended and what the push service answered.
fn count(job: &Job, outcome: &Outcome, took: Duration) {
    let class = |status: Option<u16>| match status {
        Some(200..=299) => "2xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        Some(_) => "other",
        None => "network",
    };
    match outcome {
        Outcome::Delivered { status_code } => {
            metrics::push_attempt(
                class(Some(*status_code)),
                Some(PushOutcome::Delivered),
                took,
            );
            if let Some(at) = job.committed_at {
                metrics::push_delivered_after((Utc::now() - at).to_std().unwrap_or_default());
            }
        }
        Outcome::Retry { status_code, .. } => {
            metrics::push_attempt(class(*status_code), Some(PushOutcome::Retried), took)
        }
        Outcome::Failed {
            status_code,
            class: failure,
            ..
        } => {
            let class = if status_code.is_some() {
                class(*status_code)
            } else {
                "refused"
            };
            metrics::push_attempt(class, Some(PushOutcome::Failed), took);
            metrics::push_given_up(class_name(*failure));
        }
        Outcome::Pruned { status_code } => {
            metrics::push_attempt(class(Some(*status_code)), Some(PushOutcome::Pruned), took)
        }
        Outcome::Postponed { .. } => metrics::push_postponed(),
        Outcome::Dropped => {}
    }
}
