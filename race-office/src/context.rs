//! What the API needs from its host: the database, the time, a way to send mail, and who
//! is asking.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use entities::account;
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;

use crate::domain::{PushPolicy, ScopeSet};
use crate::throttle::Throttle;

/// The time, passed in so that rules judged against "now" (deadlines, expiry) are testable.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A message to one person. Every mail we send is automatic (`Auto-Submitted:
/// auto-generated`), so that auto-responders stay quiet.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    /// The plain-text body.
    pub body: String,
    /// The same in HTML, sent beside the text as multipart/alternative.
    pub html: Option<String>,
    /// A stable `Message-ID` (without angle brackets), so that a mail sent again after a
    /// crash can be recognised as the same; made by the transport when `None`.
    pub message_id: Option<String>,
}

/// Sends mail (password recovery). The server picks SMTP, a folder, or the log.
#[async_trait::async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: Mail) -> Result<(), MailError>;
}

/// The cause of a mail failure, from a transport the core does not know (SMTP, files).
pub type MailCause = Box<dyn std::error::Error + Send + Sync>;

/// Why a mail was not sent. Every case is logged and never shown to the client; the
/// variants say whether the mail itself was at fault or its delivery.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The recipient is not an address the transport accepts.
    #[error("recipient")]
    Recipient(#[source] MailCause),
    /// The message could not be built from the mail.
    #[error("building mail")]
    Message(#[source] MailCause),
    /// The mail server refused the mail for good (an SMTP 5xx reply, kept whole): sending
    /// it again cannot help.
    #[error("refused: {reply}")]
    Refused { reply: String },
    /// The transport did not take the mail (a temporary SMTP refusal, no connection, a
    /// file that could not be written): it may work later.
    #[error("{transport}")]
    Delivery {
        /// What was handing it over: `SMTP`, `writing <path>`.
        transport: String,
        #[source]
        source: MailCause,
    },
}

/// Everything the resolvers share, stored once in the schema's data.
#[derive(Clone)]
pub struct ApiContext {
    /// The pool every resolver and service queries through.
    pub db: DatabaseConnection,
    /// "Now" for expiry and lifecycle rules.
    pub clock: Arc<dyn Clock>,
    /// Delivers password-reset links.
    pub mailer: Arc<dyn Mailer>,
    /// Base URL of the SPA, used to build links in mail.
    pub public_url: String,
    /// Rung after a transaction that appended to the notification log has committed.
    pub outbox: Arc<OutboxBell>,
    /// Which push endpoints are accepted, and the VAPID key browsers subscribe with.
    pub push: Arc<PushContext>,
    /// Rate limits on signing in, signing up and reset mail.
    pub throttle: Arc<Throttle>,
    /// Told when a credential is withdrawn, so that open sockets holding it close.
    pub revocations: Arc<dyn Revocations>,
    /// Counts what an operator watches and only the API sees (acknowledgements).
    pub tally: Arc<dyn Tally>,
    /// Where a page's acknowledgement is written.
    pub page_acknowledgements: Arc<dyn PageAcknowledgements>,
    /// Told after a mutation that may have changed what anyone may read without a
    /// credential, before the mutation answers.
    pub public_reads: Arc<dyn PublicReads>,
}

/// What anyone may read without a credential (the race list, an event, its distances, the
/// charity projects and their totals) changes only by a mutation; the server caches those
/// answers and drops them on every instance when told, before the mutation answers.
#[async_trait::async_trait]
pub trait PublicReads: Send + Sync {
    async fn changed(&self);
}

/// Where a page's acknowledgement (`acknowledgeNotifications`) is written: at once, or
/// gathered with the others waiting into one statement (the server does, on PostgreSQL:
/// every page open acknowledges an alert in the same second). Either way the answer
/// comes after the write has committed.
#[async_trait::async_trait]
pub trait PageAcknowledgements: Send + Sync {
    /// What [`crate::services::reach::acknowledge_page`] answers.
    async fn acknowledge(
        &self,
        account_id: i64,
        up_to: i64,
        now: DateTime<Utc>,
    ) -> crate::ApiResult<u64>;
}

/// Each acknowledgement written by itself (SQLite, tools, tests).
pub struct OneByOne(pub DatabaseConnection);

#[async_trait::async_trait]
impl PageAcknowledgements for OneByOne {
    async fn acknowledge(
        &self,
        account_id: i64,
        up_to: i64,
        now: DateTime<Utc>,
    ) -> crate::ApiResult<u64> {
        crate::services::reach::acknowledge_page(&self.0, account_id, up_to, now).await
    }
}

/// What the API counts for the operator; the server keeps the metrics.
pub trait Tally: Send + Sync {
    /// `count` alerts newly acknowledged on `channel` (`page`, `push_displayed`,
    /// `push_clicked`).
    fn acknowledged(&self, channel: &'static str, count: u64);
    /// A push acknowledgement token refused (forged, or used again).
    fn acknowledgement_refused(&self);
}

/// For tools and tests that count nothing.
pub struct NoTally;

impl Tally for NoTally {
    fn acknowledged(&self, _: &'static str, _: u64) {}
    fn acknowledgement_refused(&self) {}
}

/// A credential withdrawn. The server closes every socket that holds it, on every
/// instance; each socket also re-checks its credential before a new operation and
/// periodically, for a message lost on the way.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Revoked {
    /// One session ended (sign-out): its token's hash.
    Session { token_hash: String },
    /// Every session of an account (a password reset).
    Account { account_id: i64 },
    /// A partner key revoked.
    PartnerKey { key_id: i64 },
    /// An account's details changed (its name, its language): nothing is withdrawn and
    /// no socket closes, but every instance drops the copy of the account it keeps for
    /// its sessions.
    Changed { account_id: i64 },
}

/// Where the API announces a withdrawn credential (after the change has committed).
pub trait Revocations: Send + Sync {
    fn revoked(&self, what: Revoked);
}

/// For tools and tests that build a schema without sockets to close.
pub struct NoSockets;

impl Revocations for NoSockets {
    fn revoked(&self, _: Revoked) {}
}

/// Wakes this instance's readers of the notification log (the relay, the push enqueuer)
/// when a local transaction has appended to it, so they act at once instead of at their
/// next poll. Other instances' appends reach them through the hub or their polls.
#[derive(Default)]
pub struct OutboxBell {
    relay: Notify,
    push: Notify,
    mail: Notify,
}

impl OutboxBell {
    /// Call after the commit (never inside the transaction: a reader woken too early would
    /// not see the row yet).
    pub fn ring(&self) {
        self.relay.notify_one();
        self.push.notify_one();
        self.mail.notify_one();
    }

    /// Wakes only the push worker (new deliveries are due, from another instance's append).
    pub fn ring_push(&self) {
        self.push.notify_one();
        self.mail.notify_one();
    }

    pub async fn relay_rung(&self) {
        self.relay.notified().await;
    }

    pub async fn push_rung(&self) {
        self.push.notified().await;
    }

    pub async fn mail_rung(&self) {
        self.mail.notified().await;
    }
}

/// What the API knows of Web Push; sending is the server's business.
#[derive(Debug, Clone, Default)]
pub struct PushContext {
    pub policy: PushPolicy,
    /// The VAPID public key, base64url, for the SPA's `pushManager.subscribe`.
    pub public_key: String,
    /// Checks the tokens service workers acknowledge pushes with.
    pub ack_key: crate::domain::AckKey,
}

/// The language the request's `Accept-Language` asks for (English when it asks for none
/// of ours): a new account's language when the sign-up form gives none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreferredLanguage(pub crate::domain::Language);

/// Who is asking: resolved from the bearer token once per request.
#[derive(Debug, Clone, Default)]
pub enum Viewer {
    #[default]
    Anonymous,
    Account {
        account: account::Model,
        /// SHA-256 of the bearer token, so `signOut` can end exactly this session.
        token_hash: String,
    },
    /// A partner API key (`pk_…`): no account, so everything that needs one refuses it
    /// with FORBIDDEN; it reads statistics and public event data as its scopes allow.
    PartnerKey(PartnerGrant),
}

impl Viewer {
    pub fn account(&self) -> Option<&account::Model> {
        match self {
            Self::Anonymous | Self::PartnerKey(_) => None,
            Self::Account { account, .. } => Some(account),
        }
    }
}

/// What a valid partner key grants.
#[derive(Debug, Clone)]
pub struct PartnerGrant {
    pub key_id: i64,
    /// The partner organization it acts for.
    pub organization_id: i64,
    /// The organizer organization that issued it: only its events are visible.
    pub issuer_organization_id: i64,
    pub scopes: ScopeSet,
}
