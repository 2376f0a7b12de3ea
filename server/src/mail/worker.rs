//! The alert mail worker: queues one mail per targeted runner straight from the log,
//! claims due mails in batches under short leases (any instance may run one, as with
//! pushes), composes each from the same log entry as the WebSocket frame and the push,
//! sends them with bounded concurrency over the pooled transport, and records each
//! outcome as soon as a handful have come back, so that a crash repeats as few as possible.
//!
//! Outcomes: accepted, the runner is reached; a 5xx reply, failed with the reply kept; a
//! 4xx or no connection, retried with exponential back-off until the attempt limit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use race_office::domain::alert_mail;
use race_office::services::mail_deliveries::{self, Claimed, Outcome};
use race_office::services::notifications;
use race_office::{Mail, MailError, Mailer, OutboxBell};
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::alerts::live_first::LiveFirst;
use crate::delivery::pump;
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

/// What one drain did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Mail deliveries queued from the log (one per targeted runner).
    pub queued: u64,
    /// Mails attempted.
    pub attempted: usize,
}

/// One claimed mail, composed.
pub struct Job {
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
    pub async fn drain_once(self: &Arc<Self>) -> anyhow::Result<Drained> {
        self.drain(&CancellationToken::new()).await
    }

    /// Drains whenever there may be work, until shutdown.
    pub async fn run(self: Arc<Self>, bell: Arc<OutboxBell>, shutdown: CancellationToken) {
        let poll = self.config.poll;
        pump::keep_draining(
            "mail worker",
            poll,
            shutdown.clone(),
            || async { self.drain(&shutdown).await.map(drop) },
            || bell.mail_rung(),
        )
        .await;
    }

    async fn drain(self: &Arc<Self>, shutdown: &CancellationToken) -> anyhow::Result<Drained> {
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
        let pace = pump::Pace {
            concurrency: self.config.concurrency,
            lease: self.config.lease,
            record_every: RECORD_EVERY,
        };
        drained.attempted = pump::send_due(self, pace, shutdown).await?;
        Ok(drained)
    }
}

#[async_trait::async_trait]
impl pump::Queue for MailWorker {
    type Job = Job;
    type Done = (Claimed, Outcome);
    type Cache = ();

    async fn claim(&self, (): &mut ()) -> anyhow::Result<Vec<Job>> {
        self.claim_batch().await
    }

    fn id(job: &Job) -> i64 {
        job.claimed.id
    }

    async fn send(self: Arc<Self>, job: Job) -> (Claimed, Outcome) {
        let outcome = send(
            &*self.mailer,
            &job,
            self.config.max_attempts,
            self.config.retry_base,
        )
        .await;
        count(&job, &outcome);
        (job.claimed, outcome)
    }

    /// Writes the outcomes so far. On failure they stay claimed: the lease runs out and the
    /// mails are sent again (with the same Message-ID).
    async fn record(&self, outcomes: &[(Claimed, Outcome)]) -> anyhow::Result<()> {
        mail_deliveries::record(&self.db, Utc::now(), outcomes)
            .await
            .with_context(|| format!("recording {} mail outcomes", outcomes.len()))
    }

    async fn renew(&self, until: DateTime<Utc>) -> anyhow::Result<()> {
        mail_deliveries::renew(&self.db, &self.config.instance, until)
            .await
            .context("renewing the mail claims")?;
        Ok(())
    }

    async fn release(&self, ids: Vec<i64>) -> anyhow::Result<()> {
        mail_deliveries::release(&self.db, ids)
            .await
            .context("giving back unsent mails")
    }
}

impl MailWorker {
    /// Claims a batch and composes each mail (three queries: runners, notices, events).
    async fn claim_batch(&self) -> anyhow::Result<Vec<Job>> {
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
            metrics::delivery_yield(
                "mail_after_push",
                self.live
                    .pushes_sent(crate::alerts::live_first::PUSH_PROMISE)
                    .await,
            );
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
