//! Mail delivery: SMTP when configured (pooled connections); otherwise each mail is
//! written as a file in MAIL_DIR, or, failing that, to the log: whole on the embedded
//! default (so a developer can still reset a password), but only its recipient and subject
//! once DATABASE_URL names a real database, because a reset link is a secret and logs are
//! not. The alert mail worker (`worker.rs`) sends through the same transport.

pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use race_office::{Mail, MailError, Mailer};
use secrecy::ExposeSecret;

use anyhow::Context;

use crate::settings::MailSettings;

/// The mailer the settings ask for. `embedded`: the embedded default (SQLite under
/// ./data), the one case where a mail may be written whole to the log.
pub fn from_settings(settings: &MailSettings, embedded: bool) -> anyhow::Result<Arc<dyn Mailer>> {
    if let Some(url) = &settings.smtp_url {
        // One pooled connection per mail in flight: an alert to 18,000 runners reuses them
        // rather than greeting the server 18,000 times.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .context("SMTP_URL")?
            .pool_config(PoolConfig::new().max_size(settings.concurrency))
            .build();
        let from: Mailbox = settings.mail_from.parse().context("MAIL_FROM")?;
        return Ok(Arc::new(SmtpMailer { transport, from }));
    }
    if let Some(dir) = &settings.mail_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("MAIL_DIR {}", dir.display()))?;
        return Ok(Arc::new(FolderMailer {
            dir: dir.clone(),
            sequence: AtomicU64::new(0),
        }));
    }
    let include_body = embedded;
    if include_body {
        tracing::warn!("neither SMTP_URL nor MAIL_DIR is set: mail is written to the log");
    } else {
        tracing::error!("neither SMTP_URL nor MAIL_DIR is set: mail cannot be delivered");
    }
    Ok(Arc::new(LogMailer { include_body }))
}

struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: Mail) -> Result<(), MailError> {
        let builder = Message::builder()
            .from(self.from.clone())
            .to(mail
                .to
                .parse()
                .map_err(|e| MailError::Recipient(Box::new(e)))?)
            .subject(mail.subject)
            .header(AutoSubmitted)
            .message_id(mail.message_id.map(|id| format!("<{id}>")));
        let message = match mail.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(mail.body, html)),
            // Said outright: without it a reader takes the text for US-ASCII, and Kazakh or
            // Russian arrives garbled.
            None => builder
                .header(lettre::message::header::ContentType::TEXT_PLAIN)
                .body(mail.body),
        }
        .map_err(|e| MailError::Message(Box::new(e)))?;
        self.transport.send(message).await.map_err(|e| {
            // A 5xx is the server's last word on this mail; anything else may pass later.
            if e.is_permanent() {
                MailError::Refused {
                    reply: e.to_string(),
                }
            } else {
                MailError::Delivery {
                    transport: "SMTP".into(),
                    source: Box::new(e),
                }
            }
        })?;
        Ok(())
    }
}

/// `Auto-Submitted: auto-generated` (RFC 3834): every mail we send is automatic, so that
/// vacation responders and mailing lists leave it alone.
#[derive(Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".into())
    }
}

/// Writes `<UTC timestamp>-<n>.txt` text files; one mail per file, never overwritten.
struct FolderMailer {
    dir: PathBuf,
    sequence: AtomicU64,
}

#[async_trait::async_trait]
impl Mailer for FolderMailer {
    async fn send(&self, mail: Mail) -> Result<(), MailError> {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.f");
        let path = self.dir.join(format!("{stamp}-{n}.txt"));
        let message_id = mail
            .message_id
            .map(|id| format!("Message-ID: <{id}>\n"))
            .unwrap_or_default();
        let text = format!(
            "To: {}\nSubject: {}\n{message_id}Auto-Submitted: auto-generated\n\n{}",
            mail.to, mail.subject, mail.body
        );
        tokio::fs::write(&path, text)
            .await
            .map_err(|e| MailError::Delivery {
                transport: format!("writing {}", path.display()),
                source: Box::new(e),
            })
    }
}

struct LogMailer {
    /// Only on the embedded default: the body may hold a password-reset link.
    include_body: bool,
}

#[async_trait::async_trait]
impl Mailer for LogMailer {
    async fn send(&self, mail: Mail) -> Result<(), MailError> {
        if self.include_body {
            tracing::info!(to = %mail.to, subject = %mail.subject, body = %mail.body, "mail (no SMTP configured)");
            return Ok(());
        }
        tracing::error!(to = %mail.to, subject = %mail.subject, "mail not delivered: set SMTP_URL or MAIL_DIR");
        // Not delivered, and said so: an alert's reach report must not count it as emailed.
        Err(MailError::Refused {
            reply: "not delivered: neither SMTP_URL nor MAIL_DIR is set".into(),
        })
    }
}
