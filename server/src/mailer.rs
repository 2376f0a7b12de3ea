//! Mail delivery: SMTP when configured; otherwise each mail is written as a file in
//! MAIL_DIR, or, failing that, to the log: whole on the embedded default (so a developer
//! can still reset a password), but only its recipient and subject once DATABASE_URL
//! names a real database, because a reset link is a secret and logs are not.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use race_office::{Mail, MailError, Mailer};
use secrecy::ExposeSecret;

use anyhow::Context;

use crate::settings::MailSettings;

/// The mailer the settings ask for. `embedded`: the embedded default (SQLite under
/// ./data), the one case where a mail may be written whole to the log.
pub fn from_settings(settings: &MailSettings, embedded: bool) -> anyhow::Result<Arc<dyn Mailer>> {
    if let Some(url) = &settings.smtp_url {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .context("SMTP_URL")?
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
        let message = Message::builder()
            .from(self.from.clone())
            .to(mail
                .to
                .parse()
                .map_err(|e| MailError::Recipient(Box::new(e)))?)
            .subject(mail.subject)
            .body(mail.body)
            .map_err(|e| MailError::Message(Box::new(e)))?;
        self.transport
            .send(message)
            .await
            .map_err(|e| MailError::Delivery {
                transport: "SMTP".into(),
                source: Box::new(e),
            })?;
        Ok(())
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
        let text = format!(
            "To: {}\nSubject: {}\n\n{}",
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
        } else {
            tracing::error!(to = %mail.to, subject = %mail.subject, "mail not delivered: set SMTP_URL or MAIL_DIR");
        }
        Ok(())
    }
}
