//! The alert mail worker: queues one mail per targeted runner straight from the log,
//! claims due mails in batches under short leases (any instance may run one, as with
//! pushes), composes each from the same log entry as the WebSocket frame and the push,
//! sends them with bounded concurrency over the pooled transport, and records each
//! outcome as soon as a handful have come back, so that a crash repeats as few as possible.
//!
//! Outcomes: accepted, the runner is reached; a 5xx reply, failed with the reply kept; a
//! 4xx or no connection, retried with exponential back-off until the attempt limit.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use race_office::domain::alert_mail;
use race_office::services::mail_deliveries::{self, Claimed, Outcome};
use race_office::services::notifications;
use race_office::{Mail, MailError, Mailer, OutboxBell};
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::alerts::live_first::LiveFirst;
use crate::metrics;
use crate::settings::MailSettings;

pub struct MailWorkerConfig {
    /// This instance's name, recorded on the mails it claims.
    pub instance: String,
    pub concurrency: usize,
    pub batch: u64,
    pub lease: Duration,
    pub poll: Duration,
    pub max_attempts: i32,
    pub retry_base: Duration,
    /// `UNREACHED`'s escalation window.
    pub escalate_after: Duration,
    /// Base URL of the SPA, for the link in each mail and the `Message-ID`'s domain.
    pub public_url: String,
}

impl MailWorkerConfig {
    pub fn new(settings: &MailSettings, instance: String, public_url: String) -> Self {
        Self {
            instance,
            concurrency: settings.concurrency as usize,
            batch: settings.batch,
            lease: settings.lease,
            poll: settings.poll,
            max_attempts: settings.max_attempts,
            retry_base: settings.retry_base,
            escalate_after: settings.escalate_after,
            public_url,
        }
    }
}

/// The longest wait between attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);
/// Outcomes are written once this many have come back (or when the work runs out).
const RECORD_EVERY: usize = 32;
/// Log rows whose mails are queued per transaction.
const ENQUEUE_BATCH: u64 = 100;
/// How long a stopping worker waits for mails in flight.
const DRAIN_ON_SHUTDOWN: Duration = Duration::from_secs(5);

/// What one drain did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Mail deliveries queued from the log (one per targeted runner).
    pub queued: u64,
    /// Mails attempted.
    pub attempted: usize,
}

/// One claimed mail, composed.
struct Job {
    claimed: Claimed,
    /// `None` when it cannot be made (the account or the notification is gone).
    mail: Option<Mail>,
    committed_at: DateTime<Utc>,
}

pub struct MailWorker {
    db: DatabaseConnection,
    mailer: Arc<dyn Mailer>,
    config: MailWorkerConfig,
    /// Waited for before a change's mails go: the live channel goes first.
    live: Arc<LiveFirst>,
}

impl MailWorker {
    pub fn new(
        db: DatabaseConnection,
        mailer: Arc<dyn Mailer>,
        config: MailWorkerConfig,
        live: Arc<LiveFirst>,
    ) -> Self {
        Self {
            db,
            mailer,
            config,
            live,
        }
    }

    /// Queues what the log holds and sends every mail due now, then returns (tests).
    pub async fn drain_once(&self) -> anyhow::Result<Drained> {
        self.drain(&CancellationToken::new()).await
    }

    /// Drains whenever there may be work, until shutdown.
    pub async fn run(self: Arc<Self>, bell: Arc<OutboxBell>, shutdown: CancellationToken) {
        loop {
            if let Err(error) = self.drain(&shutdown).await {
                tracing::error!(
                    error = format!("{error:#}"),
                    "mail worker failed: will retry"
                );
            }
            if shutdown.is_cancelled() {
                break;
            }
            tokio::select! {
                () = bell.mail_rung() => {},
                () = tokio::time::sleep(self.config.poll) => {},
                () = shutdown.cancelled() => break,
            }
        }
    }

    async fn drain(&self, shutdown: &CancellationToken) -> anyhow::Result<Drained> {
        let mut drained = Drained::default();
        let after = chrono::Duration::from_std(self.config.escalate_after)?;
        loop {
            let (rows, queued) =
                mail_deliveries::enqueue_from_log(&self.db, Utc::now(), after, ENQUEUE_BATCH)
                    .await
                    .context("queueing alert mails from the notification log")?;
            drained.queued += queued;
            if (rows as u64) < ENQUEUE_BATCH {
                break;
            }
        }
        drained.attempted = self.send_due(shutdown).await?;
        Ok(drained)
    }

    /// Claims and sends until nothing is due (or shutdown), `concurrency` at a time.
    async fn send_due(&self, shutdown: &CancellationToken) -> anyhow::Result<usize> {
        let mut queue: VecDeque<Job> = VecDeque::new();
        let mut in_flight = FuturesUnordered::new();
        let mut outcomes: Vec<(Claimed, Outcome)> = Vec::new();
        let mut attempted = 0;
        let mut exhausted = false;
        let mut failure = None;
        let mut renew = tokio::time::interval(self.config.lease / 3);
        renew.tick().await;
        while !shutdown.is_cancelled() {
            if !exhausted && queue.len() < self.config.concurrency {
                match self.claim().await {
                    Ok(jobs) if jobs.is_empty() => exhausted = true,
                    Ok(jobs) => queue.extend(jobs),
                    Err(error) => {
                        failure = Some(error);
                        exhausted = true;
                    }
                }
            }
            while in_flight.len() < self.config.concurrency
                && let Some(job) = queue.pop_front()
            {
                let mailer = self.mailer.clone();
                let (max_attempts, retry_base) = (self.config.max_attempts, self.config.retry_base);
                in_flight.push(async move {
                    let outcome = send(&*mailer, &job, max_attempts, retry_base).await;
                    count(&job, &outcome);
                    (job.claimed, outcome)
                });
            }
            if in_flight.is_empty() {
                break;
            }
            tokio::select! {
                Some(done) = in_flight.next() => {
                    attempted += 1;
                    outcomes.push(done);
                    if outcomes.len() >= RECORD_EVERY {
                        self.record(&mut outcomes).await?;
                    }
                }
                _ = renew.tick() => {
                    let until = Utc::now() + chrono::Duration::from_std(self.config.lease)?;
                    if let Err(error) = mail_deliveries::renew(&self.db, &self.config.instance, until).await {
                        tracing::warn!(%error, "could not renew the mail claims");
                    }
                }
                () = shutdown.cancelled() => {}
            }
        }
        let finish = async {
            while let Some(done) = in_flight.next().await {
                attempted += 1;
                outcomes.push(done);
            }
        };
        let _ = tokio::time::timeout(DRAIN_ON_SHUTDOWN, finish).await;
        self.record(&mut outcomes).await?;
        let unstarted: Vec<i64> = queue.iter().map(|job| job.claimed.id).collect();
        mail_deliveries::release(&self.db, unstarted)
            .await
            .context("giving back unsent mails")?;
        match failure {
            Some(error) => Err(error),
            None => Ok(attempted),
        }
    }

    /// Claims a batch and composes each mail (three queries: runners, notices, events).
    async fn claim(&self) -> anyhow::Result<Vec<Job>> {
        let now = Utc::now();
        let lease_until = now + chrono::Duration::from_std(self.config.lease)?;
        let claimed = mail_deliveries::claim(
            &self.db,
            &self.config.instance,
            now,
            lease_until,
            self.config.batch,
        )
        .await
        .context("claiming alert mails")?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(through) = claimed.iter().map(|c| c.notification_id).max() {
            metrics::delivery_yield("mail", self.live.settled(through).await);
        }
        let addressees =
            mail_deliveries::addressees(&self.db, claimed.iter().map(|c| c.account_id))
                .await
                .context("loading the runners of claimed mails")?;
        let mut ids: Vec<i64> = claimed.iter().map(|c| c.notification_id).collect();
        ids.dedup();
        let notices: HashMap<i64, _> = notifications::by_ids(&self.db, ids)
            .await
            .context("loading the notifications of claimed mails")?
            .into_iter()
            .map(|n| (n.id, n))
            .collect();
        let events = mail_deliveries::events(&self.db, notices.values().filter_map(|n| n.event_id))
            .await
            .context("loading the events of claimed mails")?;
        let domain = message_id_domain(&self.config.public_url);
        Ok(claimed
            .into_iter()
            .map(|claimed| {
                let notice = notices.get(&claimed.notification_id);
                let mail =
                    notice
                        .zip(addressees.get(&claimed.account_id))
                        .and_then(|(notice, to)| {
                            let event = notice.event_id.and_then(|id| events.get(&id));
                            let composed = alert_mail::compose(
                                notice,
                                event,
                                &to.name,
                                to.language,
                                &self.config.public_url,
                            )?;
                            Some(Mail {
                                to: to.email.clone(),
                                subject: composed.subject,
                                body: composed.text,
                                html: Some(composed.html),
                                message_id: Some(format!(
                                    "alert-{}.runner-{}@{domain}",
                                    claimed.notification_id, claimed.account_id
                                )),
                            })
                        });
                Job {
                    committed_at: notice.map_or(now, |n| n.created_at),
                    mail,
                    claimed,
                }
            })
            .collect())
    }

    /// Writes the outcomes so far. On failure they stay claimed: the lease runs out and the
    /// mails are sent again (with the same Message-ID).
    async fn record(&self, outcomes: &mut Vec<(Claimed, Outcome)>) -> anyhow::Result<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let written = mail_deliveries::record(&self.db, Utc::now(), outcomes)
            .await
            .with_context(|| format!("recording {} mail outcomes", outcomes.len()));
        outcomes.clear();
        written
    }
}

/// The host of the public URL, for Message-IDs that are ours.
fn message_id_domain(public_url: &str) -> String {
    url::Url::parse(public_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "localhost".into())
}

async fn send(mailer: &dyn Mailer, job: &Job, max_attempts: i32, retry_base: Duration) -> Outcome {
    let Some(mail) = job.mail.clone() else {
        return Outcome::Failed {
            reply: "the mail could not be composed (the runner or the alert is gone)".into(),
        };
    };
    match mailer.send(mail).await {
        Ok(()) => Outcome::Sent,
        Err(MailError::Refused { reply }) => Outcome::Failed { reply },
        Err(error @ (MailError::Recipient(_) | MailError::Message(_))) => Outcome::Failed {
            reply: chain(&error),
        },
        Err(error @ MailError::Delivery { .. }) => {
            let attempts = job.claimed.attempts;
            let reply = chain(&error);
            if attempts >= max_attempts {
                return Outcome::Failed {
                    reply: format!("gave up after {attempts} attempts: {reply}"),
                };
            }
            let backoff = retry_base.saturating_mul(1 << (attempts - 1).clamp(0, 16));
            let jitter = backoff / 10 * rand::random_range(0..=10) / 10;
            let delay = (backoff + jitter).min(MAX_RETRY_DELAY);
            Outcome::Retry {
                at: Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default(),
                reply,
            }
        }
    }
}

/// An error and its causes: `what: why: deeper cause`.
fn chain(error: &MailError) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

fn count(job: &Job, outcome: &Outcome) {
    match outcome {
        Outcome::Sent => {
            metrics::mail_sent((Utc::now() - job.committed_at).to_std().unwrap_or_default());
        }
        Outcome::Retry { .. } => metrics::mail_outcome("retried"),
        Outcome::Failed { reply } => {
            metrics::mail_outcome("refused");
            tracing::warn!(
                mail = job.claimed.id,
                notification = job.claimed.notification_id,
                account = job.claimed.account_id,
                reply = %reply,
                "alert mail refused"
            );
        }
    }
}
