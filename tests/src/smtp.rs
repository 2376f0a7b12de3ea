//! A real SMTP server of a test's own (`tests/smtp/server.py`, on aiosmtpd), delivering
//! into a fresh Maildir that the test reads back, parsed.
//!
//! The gateway is pointed at it with `SMTP_URL=`[`SmtpServer::url`]: `smtp://127.0.0.1:PORT`
//! with no query is plain SMTP to lettre's `from_url` (no TLS, no STARTTLS: `?tls=required`
//! or `?tls=opportunistic` would ask for it). The server can be stopped "for a while" and
//! restarted on the same port and Maildir, to test what the gateway does when mail cannot be
//! handed over; addresses can be refused (`550 5.1.1`), from the start or while it runs.
//!
//! Each accepted message is one file per (message, recipient), its first line
//! `X-Envelope-To: ADDRESS` added by the server: [`ReceivedMail::envelope_to`]. Each is also
//! one line of the server's journal, with the time it was accepted ([`SmtpServer::accepted`]);
//! a server started with [`SmtpServer::start_journal_only`] writes only that (a load run's
//! 18,000 mails counted and timed without 18,000 files).
//!
//! Needs `python3` with aiosmtpd (`pip3 install aiosmtpd`; `.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use mailparse::{DispositionType, MailHeaderMap};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::unique_name;

/// The server script, beside this crate's sources.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/smtp/server.py");
/// How long the script may take to say where it listens.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a restart retries to bind the port the server had.
const REBIND_FOR: Duration = Duration::from_secs(5);
/// The script's exit status when it cannot bind (see server.py).
const CANNOT_LISTEN: i32 = 3;

/// An SMTP server child process and its Maildir; both gone when dropped.
pub struct SmtpServer {
    port: u16,
    /// A fresh temp dir: `Maildir/`, `refused` (read live by the server), `server.log`.
    root: PathBuf,
    /// Refused for the server's whole life, restarts included (`--refuse`).
    refused: Vec<String>,
    /// The journal only, no Maildir (`--journal-only`).
    journal_only: bool,
    child: Option<Child>,
}

/// One (message, recipient) the server accepted, from its journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// When the server accepted it (its clock, just before answering 250 to DATA).
    pub at: SystemTime,
    /// The RCPT TO address.
    pub envelope_to: String,
    /// `Message-ID:` as written, angle brackets included.
    pub message_id: Option<String>,
    /// The message's size as received, in bytes.
    pub bytes: usize,
}

impl SmtpServer {
    /// A server on a port the OS chooses, accepting every recipient.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_refusing(&[]).await
    }

    /// A server that answers RCPT TO any of `addresses` (compared case-insensitively)
    /// with `550 5.1.1 <address>: mailbox unavailable`, also after a restart.
    pub async fn start_refusing(addresses: &[&str]) -> anyhow::Result<Self> {
        Self::start_with(addresses, false).await
    }

    /// A server that accepts every recipient and writes only its journal
    /// ([`SmtpServer::accepted`]); [`SmtpServer::messages`] stays empty.
    pub async fn start_journal_only() -> anyhow::Result<Self> {
        Self::start_with(&[], true).await
    }

    async fn start_with(addresses: &[&str], journal_only: bool) -> anyhow::Result<Self> {
        let root = std::env::temp_dir().join(unique_name("smtp"));
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        let mut server = Self {
            port: 0,
            root,
            refused: addresses.iter().map(|a| a.to_string()).collect(),
            journal_only,
            child: None,
        };
        // On failure `server` is dropped here, and the temp dir with it.
        let (child, port) = server.spawn(0).await?;
        server.port = port;
        server.child = Some(child);
        Ok(server)
    }

    /// `smtp://127.0.0.1:PORT`: plain SMTP for lettre's `from_url` (the gateway's SMTP_URL).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The Maildir the server delivers into.
    pub fn maildir(&self) -> PathBuf {
        self.root.join("Maildir")
    }

    /// Refuses `addresses` from the next RCPT TO on, in addition to those given at start;
    /// an empty list takes back what an earlier call refused. The server re-reads the list
    /// on every RCPT, so no restart is needed.
    pub fn set_refused(&self, addresses: &[&str]) -> anyhow::Result<()> {
        // Written beside and renamed over, so that the server never reads half a list.
        let next = self.root.join("refused.next");
        let mut text = addresses.join("\n");
        text.push('\n');
        std::fs::write(&next, text).with_context(|| format!("writing {}", next.display()))?;
        std::fs::rename(&next, self.refuse_file()).context("replacing the refused list")?;
        Ok(())
    }

    /// Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it to exit: from
    /// then on a connection to its port is refused. Stopping a stopped server does nothing.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Some(pid) = child.id() {
            // SIGTERM through kill(1): std and tokio can only send SIGKILL.
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
            Ok(status) => {
                status.context("waiting for the SMTP server to exit")?;
            }
            Err(_) => {
                child.kill().await.context("killing the SMTP server")?;
            }
        }
        Ok(())
    }

    /// Starts the server again on the same port and Maildir (messages delivered before are
    /// kept), retrying the bind for up to 5 s. Stops it first if it runs.
    ///
    /// The port the OS chose at start is an ephemeral one: while the server is down, a
    /// client socket elsewhere may be given it, hence the retries (and, rarely, an error).
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await?;
        let started = Instant::now();
        loop {
            match self.spawn(self.port).await {
                Ok((child, _)) => {
                    self.child = Some(child);
                    return Ok(());
                }
                // The last of these is the error when the port stays taken.
                Err(Spawn::CannotListen(_)) if started.elapsed() < REBIND_FOR => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(failed) => return Err(failed.into()),
            }
        }
    }

    /// Every message delivered so far (Maildir `new/` and `cur/`), in the order delivered.
    ///
    /// Panics on a file it cannot read or parse: a harness fault, not the gateway's.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let mut files: Vec<(SystemTime, PathBuf)> = Vec::new();
        for sub in ["new", "cur"] {
            let dir = self.maildir().join(sub);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry
                    .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
                    .path();
                let modified = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                files.push((modified, path));
            }
        }
        // The file name (seconds, microseconds, pid, counter) breaks mtime ties.
        files.sort();
        files
            .iter()
            .map(|(_, path)| {
                let bytes = std::fs::read(path)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
                ReceivedMail::parse(&bytes)
                    .unwrap_or_else(|e| panic!("parsing {}: {e:#}", path.display()))
            })
            .collect()
    }

    /// Every (message, recipient) accepted so far, from the journal, in the order accepted
    /// (restarts included).
    ///
    /// Panics on a line it cannot parse: a harness fault, not the gateway's.
    pub fn accepted(&self) -> Vec<Accepted> {
        let text = match std::fs::read_to_string(self.journal()) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => panic!("reading {}: {e}", self.journal().display()),
        };
        // A last line without its newline is still being written.
        let whole = text.rfind('\n').map_or("", |end| &text[..end]);
        whole
            .lines()
            .map(|line| {
                let fields: Vec<&str> = line.split('\t').collect();
                let parsed = match fields[..] {
                    [at, to, id, bytes] => {
                        at.parse::<u64>()
                            .ok()
                            .zip(bytes.parse().ok())
                            .map(|(at, bytes)| Accepted {
                                at: SystemTime::UNIX_EPOCH + Duration::from_nanos(at),
                                envelope_to: to.to_owned(),
                                message_id: (id != "-").then(|| id.to_owned()),
                                bytes,
                            })
                    }
                    _ => None,
                };
                parsed.unwrap_or_else(|| panic!("a journal line that does not parse: {line:?}"))
            })
            .collect()
    }

    /// The journal: one line per (message, recipient) accepted.
    pub fn journal(&self) -> PathBuf {
        self.root.join("journal")
    }

    /// The messages once at least `n` have arrived, looking every 50 ms.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> anyhow::Result<Vec<ReceivedMail>> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return Ok(messages);
            }
            if Instant::now() >= deadline {
                let arrived: Vec<String> = messages
                    .iter()
                    .map(|m| format!("to {}: {:?}", m.envelope_to, m.subject))
                    .collect();
                bail!(
                    "{} of {n} mails arrived within {timeout:?}{}{}",
                    messages.len(),
                    if arrived.is_empty() { "" } else { ":\n  " },
                    arrived.join("\n  ")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn refuse_file(&self) -> PathBuf {
        self.root.join("refused")
    }

    /// Starts server.py on `port` (0: any) and reads the port it listens on.
    async fn spawn(&self, port: u16) -> Result<(Child, u16), Spawn> {
        let log_path = self.root.join("server.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Spawn::Failed(format!("opening {}: {e}", log_path.display())))?;
        let mut command = Command::new("python3");
        command
            .arg(SCRIPT)
            .args(["--port", &port.to_string()])
            .arg("--maildir")
            .arg(self.maildir())
            .arg("--refuse-file")
            .arg(self.refuse_file())
            .arg("--journal")
            .arg(self.journal());
        if self.journal_only {
            command.arg("--journal-only");
        }
        for address in &self.refused {
            command.args(["--refuse", address]);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Spawn::Failed(format!("starting python3 {SCRIPT}: {e}")))?;
        let Some(stdout) = child.stdout.take() else {
            return Err(Spawn::Failed(
                "the SMTP server's stdout is not piped".into(),
            ));
        };
        let mut lines = BufReader::new(stdout).lines();
        let first = match tokio::time::timeout(READY_TIMEOUT, lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(_) => {
                // Its stdout closed: it has exited (or is about to).
                let status = child.wait().await;
                let why = format!(
                    "the SMTP server (python3 {SCRIPT}) exited ({}) before listening; \
                     its stderr:\n{}",
                    status
                        .as_ref()
                        .map_or_else(|e| e.to_string(), |s| s.to_string()),
                    log_tail(&log_path)
                );
                return Err(match status {
                    Ok(s) if s.code() == Some(CANNOT_LISTEN) => Spawn::CannotListen(why),
                    _ => Spawn::Failed(why),
                });
            }
            Err(_) => {
                let _ = child.kill().await;
                return Err(Spawn::Failed(format!(
                    "the SMTP server (python3 {SCRIPT}) did not listen within {READY_TIMEOUT:?}; \
                     its stderr:\n{}",
                    log_tail(&log_path)
                )));
            }
        };
        let listening = first
            .strip_prefix("listening on 127.0.0.1:")
            .and_then(|p| p.trim().parse::<u16>().ok());
        match listening {
            Some(listening) if port == 0 || listening == port => Ok((child, listening)),
            _ => {
                let _ = child.kill().await;
                Err(Spawn::Failed(format!(
                    "the SMTP server's first line is {first:?}, \
                     not `listening on 127.0.0.1:{}`",
                    if port == 0 {
                        "PORT".into()
                    } else {
                        port.to_string()
                    }
                )))
            }
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.start_kill();
            // Gone before its Maildir is, so that no delivery races the removal.
            for _ in 0..100 {
                if !matches!(child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Why server.py did not come to listen; only `CannotListen` is worth retrying.
#[derive(Debug, thiserror::Error)]
enum Spawn {
    #[error("{0}")]
    CannotListen(String),
    #[error("{0}")]
    Failed(String),
}

/// The last lines of the server's stderr, for an error message.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// One message as one recipient received it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The RCPT TO address it was delivered for (not necessarily in To:).
    pub envelope_to: String,
    /// `Subject:`, RFC 2047 words decoded.
    pub subject: Option<String>,
    /// `Message-ID:` as written, angle brackets included.
    pub message_id: Option<String>,
    /// The first text/plain part that is not an attachment, transfer encoding and charset
    /// decoded, CRLF turned into LF.
    pub text: Option<String>,
    /// The first text/html part that is not an attachment, decoded as `text` is.
    pub html: Option<String>,
    /// The message as the client sent it (without the server's `X-Envelope-To:` line).
    pub raw: String,
    /// The top-level headers, values decoded, in order.
    headers: Vec<(String, String)>,
}

impl ReceivedMail {
    /// The first top-level header `name` (case-insensitive), RFC 2047 words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
    }

    fn parse(file: &[u8]) -> anyhow::Result<Self> {
        const PREFIX: &[u8] = b"X-Envelope-To: ";
        let Some(rest) = file.strip_prefix(PREFIX) else {
            bail!("no X-Envelope-To: line first");
        };
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("an unterminated X-Envelope-To: line")?;
        let envelope_to = String::from_utf8_lossy(&rest[..end]).trim().to_string();
        let message = &rest[end + 2..];

        let parsed = mailparse::parse_mail(message)?;
        let headers = parsed
            .headers
            .iter()
            .map(|h| (h.get_key(), h.get_value()))
            .collect();
        let part = |mimetype: &str| -> anyhow::Result<Option<String>> {
            let found = parsed.parts().find(|p| {
                p.ctype.mimetype.eq_ignore_ascii_case(mimetype)
                    && p.get_content_disposition().disposition != DispositionType::Attachment
            });
            Ok(match found {
                Some(p) => Some(p.get_body()?.replace("\r\n", "\n")),
                None => None,
            })
        };
        Ok(Self {
            envelope_to,
            subject: parsed.get_headers().get_first_value("Subject"),
            message_id: parsed
                .get_headers()
                .get_first_value("Message-ID")
                .map(|id| id.trim().to_string()),
            text: part("text/plain")?,
            html: part("text/html")?,
            raw: String::from_utf8_lossy(message).into_owned(),
            headers,
        })
    }
}

#[cfg(test)]
mod tests {
    use lettre::message::MultiPart;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    use super::*;

    fn mail(to: &str, id: &str) -> Message {
        Message::builder()
            .from("Race Office <office@race.test>".parse().unwrap())
            .to(to.parse().unwrap())
            .subject("Startnummer für Grüße")
            .message_id(Some(format!("<{id}@race.test>")))
            .multipart(MultiPart::alternative_plain_html(
                format!("Hallo {to},\nGrüße vom Lauf.\n"),
                format!("<p>Hallo {to}, Grüße vom Lauf.</p>"),
            ))
            .unwrap()
    }

    #[tokio::test]
    async fn delivers_refuses_stops_and_restarts() {
        let mut server = SmtpServer::start_refusing(&["gone@race.test"])
            .await
            .unwrap();
        // As the gateway builds its transport from SMTP_URL (server/src/mailer.rs).
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&server.url())
            .unwrap()
            .build();

        let refused = transport
            .send(mail("Gone@race.test", "refused"))
            .await
            .unwrap_err();
        assert!(refused.is_permanent(), "{refused}");
        assert!(refused.to_string().contains("550"), "{refused}");

        transport
            .send(mail("ana@race.test", "first"))
            .await
            .unwrap();
        let got = server.wait_for(1, Duration::from_secs(10)).await.unwrap();
        assert_eq!(got.len(), 1);
        let first = &got[0];
        assert_eq!(first.envelope_to, "ana@race.test");
        assert_eq!(first.message_id.as_deref(), Some("<first@race.test>"));
        assert_eq!(first.subject.as_deref(), Some("Startnummer für Grüße"));
        assert_eq!(first.header("to").as_deref(), Some("ana@race.test"));
        assert!(
            first
                .header("Content-Type")
                .unwrap()
                .starts_with("multipart/alternative"),
            "{:?}",
            first.header("Content-Type")
        );
        assert_eq!(
            first.text.as_deref(),
            Some("Hallo ana@race.test,\nGrüße vom Lauf.\n")
        );
        assert_eq!(
            first.html.as_deref(),
            Some("<p>Hallo ana@race.test, Grüße vom Lauf.</p>")
        );
        assert!(!first.raw.starts_with("X-Envelope-To"));

        // Refused live, then taken back.
        server.set_refused(&["ben@race.test"]).unwrap();
        let refused = transport
            .send(mail("ben@race.test", "live"))
            .await
            .unwrap_err();
        assert!(refused.is_permanent(), "{refused}");
        server.set_refused(&[]).unwrap();

        server.stop().await.unwrap();
        let down = transport
            .send(mail("ana@race.test", "down"))
            .await
            .unwrap_err();
        // Connection refused: lettre's connection error, neither a 4xx nor a 5xx reply
        // (a sender must keep the mail and try again).
        assert!(!down.is_permanent() && down.status().is_none(), "{down:?}");
        assert!(down.to_string().starts_with("Connection error"), "{down}");

        server.restart().await.unwrap();
        transport
            .send(mail("ana@race.test", "second"))
            .await
            .unwrap();
        let got = server.wait_for(2, Duration::from_secs(10)).await.unwrap();
        let ids: Vec<_> = got.iter().map(|m| m.message_id.clone().unwrap()).collect();
        assert_eq!(ids, ["<first@race.test>", "<second@race.test>"]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(server.messages().len(), 2, "nothing arrives twice");
        let journal: Vec<(String, Option<String>)> = server
            .accepted()
            .into_iter()
            .map(|a| (a.envelope_to, a.message_id))
            .collect();
        assert_eq!(
            journal,
            [
                ("ana@race.test".into(), Some("<first@race.test>".into())),
                ("ana@race.test".into(), Some("<second@race.test>".into())),
            ],
            "the journal holds what was accepted, across the restart"
        );

        let maildir = server.maildir();
        drop(server);
        assert!(!maildir.exists());
    }

    #[tokio::test]
    async fn journal_only_counts_and_times_without_files() {
        let server = SmtpServer::start_journal_only().await.unwrap();
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&server.url())
            .unwrap()
            .build();
        let before = SystemTime::now();
        for (to, id) in [
            ("ana@race.test", "a"),
            ("ben@race.test", "b"),
            ("ana@race.test", "a"),
        ] {
            transport.send(mail(to, id)).await.unwrap();
        }
        let accepted = server.accepted();
        let seen: Vec<(&str, Option<&str>)> = accepted
            .iter()
            .map(|a| (a.envelope_to.as_str(), a.message_id.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                ("ana@race.test", Some("<a@race.test>")),
                ("ben@race.test", Some("<b@race.test>")),
                ("ana@race.test", Some("<a@race.test>")),
            ]
        );
        assert!(accepted.iter().all(|a| a.at >= before && a.bytes > 100));
        assert!(server.messages().is_empty(), "no Maildir");
    }
}

/// What one SMTP connection from lettre (as the gateway builds its transport) sustains
/// against this server: a probe for docs/BENCHMARKS.md, not a test of anything (ignored;
/// run it with `cargo test --release -p gateway-tests --lib one_connection -- --ignored
/// --nocapture`). lettre writes a message's body and its closing `.` in two writes on a
/// socket without TCP_NODELAY: the second waits for the server's ACK of the first, which
/// the server delays (it has nothing to answer before the `.`).
#[cfg(test)]
mod probe {
    use super::*;
    use lettre::message::MultiPart;
    use lettre::transport::smtp::PoolConfig;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    #[tokio::test]
    #[ignore = "a probe that prints a figure, asserts nothing"]
    async fn one_connection_mails_per_second() {
        let server = SmtpServer::start_journal_only().await.unwrap();
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&server.url())
            .unwrap()
            .pool_config(PoolConfig::new().max_size(1))
            .build();
        // About the size of an alert mail (text and HTML).
        let body = "x".repeat(1500);
        for round in 0..3 {
            let started = Instant::now();
            for i in 0..50 {
                let mail = Message::builder()
                    .from("office@race.test".parse().unwrap())
                    .to(format!("runner-{i}@race.test").parse().unwrap())
                    .subject("Cancelled")
                    .multipart(MultiPart::alternative_plain_html(
                        body.clone(),
                        body.clone(),
                    ))
                    .unwrap();
                transport.send(mail).await.unwrap();
            }
            let took = started.elapsed();
            println!(
                "round {round}: 50 mails on one pooled connection in {took:?}, {:.1} ms a mail",
                took.as_secs_f64() * 1000.0 / 50.0
            );
        }
        // The same conversation on a socket with TCP_NODELAY (lettre's connection over a
        // stream of ours): what the gateway would get if its transport set it.
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port()))
            .await
            .unwrap();
        stream.set_nodelay(true).unwrap();
        let mut connection =
            lettre::transport::smtp::client::AsyncSmtpConnection::connect_with_transport(
                Box::new(stream),
                &lettre::transport::smtp::extension::ClientId::default(),
            )
            .await
            .unwrap();
        for round in 0..3 {
            let started = Instant::now();
            for i in 0..50 {
                let mail = Message::builder()
                    .from("office@race.test".parse().unwrap())
                    .to(format!("runner-{i}@race.test").parse().unwrap())
                    .subject("Cancelled")
                    .multipart(MultiPart::alternative_plain_html(
                        body.clone(),
                        body.clone(),
                    ))
                    .unwrap();
                connection
                    .send(mail.envelope(), &mail.formatted())
                    .await
                    .unwrap();
            }
            let took = started.elapsed();
            println!(
                "round {round}: 50 mails on one connection with TCP_NODELAY in {took:?}, {:.1} ms a mail",
                took.as_secs_f64() * 1000.0 / 50.0
            );
        }
    }
}
