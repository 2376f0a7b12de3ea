//! A withdrawn credential stops working everywhere, open sockets included. Each WebSocket
//! that holds a credential registers here; a sign-out, a password reset or a key
//! revocation closes the sockets that hold it, on this instance at once and on the others
//! through Redis (`<prefix>:revocations`). Because a message can be lost (Redis down at
//! that moment), a sweep also re-checks every registered credential against the database
//! every `recheck`.
//!
//! The registry also keeps the runner sessions read lately (`SESSION_CACHE_MS`), so that a
//! reconnect storm or a burst of acknowledgements does not read the database once per
//! request: the same withdrawals drop them (and an account's change, `Revoked::Changed`),
//! and a short lifetime bounds a message Redis lost.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use race_office::domain::Role;
use race_office::services::accounts::Session;
use race_office::services::{accounts, partner_keys};
use race_office::{Revocations, Revoked, Viewer};
use redis::AsyncCommands;
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Credentials checked against the database per query by the sweep.
const CHECK_BATCH: usize = 1000;
/// Sessions kept at most; past this the cache starts over (a flood of distinct tokens
/// costs each one read, and no memory that stays).
const MAX_SESSIONS: usize = 50_000;

/// What a registered socket holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Held {
    Session { account_id: i64, token_hash: String },
    PartnerKey { key_id: i64 },
}

struct Entry {
    held: Held,
    /// Notified when the credential is withdrawn.
    revoked: Arc<Notify>,
}

/// A runner session read lately.
struct KnownSession {
    session: Session,
    read_at: std::time::Instant,
}

/// The open sockets that hold a credential, by socket; and the runner sessions read
/// lately, by token hash.
#[derive(Default)]
pub struct Registry {
    sockets: Mutex<HashMap<u64, Entry>>,
    next: AtomicU64,
    sessions: Mutex<HashMap<String, KnownSession>>,
    /// How long a session read is trusted (zero: not kept).
    session_ttl: Duration,
}

/// A socket's place in the registry; leaving it (drop) unregisters the socket.
pub struct Registration {
    registry: Arc<Registry>,
    id: u64,
    /// Notified when the socket's credential is withdrawn.
    pub revoked: Arc<Notify>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut sockets) = self.registry.sockets.lock() {
            sockets.remove(&self.id);
        }
    }
}

impl Registry {
    /// A registry that keeps the runner sessions it is told of for `session_ttl`.
    pub fn new(session_ttl: Duration) -> Self {
        Self {
            session_ttl,
            ..Self::default()
        }
    }

    /// The account of a runner session read less than `SESSION_CACHE_MS` ago, unexpired
    /// and not withdrawn since.
    pub fn known_session(&self, token_hash: &str, now: DateTime<Utc>) -> Option<Session> {
        let sessions = self.sessions.lock().ok()?;
        let known = sessions.get(token_hash)?;
        (known.read_at.elapsed() < self.session_ttl && known.session.expires_at > now)
            .then(|| known.session.clone())
    }

    /// Keeps a session just read from the database; only a runner's (an organizer's or a
    /// partner's powers may change under it).
    pub fn remember_session(&self, session: &Session) {
        if self.session_ttl.is_zero() || session.account.role != Role::Runner {
            return;
        }
        let Ok(mut sessions) = self.sessions.lock() else {
            return;
        };
        if sessions.len() >= MAX_SESSIONS {
            sessions.clear();
        }
        sessions.insert(
            session.token_hash.clone(),
            KnownSession {
                session: session.clone(),
                read_at: std::time::Instant::now(),
            },
        );
    }

    /// Drops the sessions `what` withdrew or changed.
    fn forget_sessions(&self, what: &Revoked) {
        let Ok(mut sessions) = self.sessions.lock() else {
            return;
        };
        match what {
            Revoked::Session { token_hash } => {
                sessions.remove(token_hash);
            }
            Revoked::Account { account_id } | Revoked::Changed { account_id } => {
                sessions.retain(|_, known| known.session.account.id != *account_id);
            }
            Revoked::PartnerKey { .. } => {}
        }
    }

    /// Registers a socket signed in as `viewer`; `None` for an anonymous one (nothing to
    /// withdraw).
    pub fn register(self: &Arc<Self>, viewer: &Viewer) -> Option<Registration> {
        let held = match viewer {
            Viewer::Anonymous => return None,
            Viewer::Account {
                account,
                token_hash,
            } => Held::Session {
                account_id: account.id,
                token_hash: token_hash.clone(),
            },
            Viewer::PartnerKey(grant) => Held::PartnerKey {
                key_id: grant.key_id,
            },
        };
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let revoked = Arc::new(Notify::new());
        self.sockets.lock().ok()?.insert(
            id,
            Entry {
                held,
                revoked: revoked.clone(),
            },
        );
        Some(Registration {
            registry: self.clone(),
            id,
            revoked,
        })
    }

    /// Closes (notifies) every socket holding what was withdrawn, and forgets the sessions
    /// it withdrew or changed; returns how many sockets.
    pub fn revoke(&self, what: &Revoked) -> usize {
        self.forget_sessions(what);
        let Ok(sockets) = self.sockets.lock() else {
            return 0;
        };
        let mut closed = 0;
        for entry in sockets.values() {
            let matches = match (what, &entry.held) {
                (
                    Revoked::Session { token_hash },
                    Held::Session {
                        token_hash: held, ..
                    },
                ) => held == token_hash,
                (
                    Revoked::Account { account_id },
                    Held::Session {
                        account_id: held, ..
                    },
                ) => held == account_id,
                (Revoked::PartnerKey { key_id }, Held::PartnerKey { key_id: held }) => {
                    held == key_id
                }
                _ => false,
            };
            if matches {
                // `notify_one` keeps a permit, so a socket busy elsewhere still sees it.
                entry.revoked.notify_one();
                closed += 1;
            }
        }
        closed
    }

    /// Re-checks every registered credential against the database and closes the sockets
    /// whose credential is gone; returns how many were closed.
    pub async fn sweep(&self, db: &DatabaseConnection) -> anyhow::Result<usize> {
        let (sessions, keys) = {
            let sockets = self
                .sockets
                .lock()
                .map_err(|_| anyhow::anyhow!("the socket registry lock is poisoned"))?;
            let mut sessions = HashSet::new();
            let mut keys = HashSet::new();
            for entry in sockets.values() {
                match &entry.held {
                    Held::Session { token_hash, .. } => {
                        sessions.insert(token_hash.clone());
                    }
                    Held::PartnerKey { key_id } => {
                        keys.insert(*key_id);
                    }
                }
            }
            (sessions, keys)
        };
        let now = Utc::now();
        let mut closed = 0;
        let sessions: Vec<String> = sessions.into_iter().collect();
        for batch in sessions.chunks(CHECK_BATCH) {
            let live = accounts::live_sessions(db, now, batch.to_vec())
                .await
                .context("checking the sessions of open sockets")?;
            for token_hash in batch.iter().filter(|h| !live.contains(*h)) {
                closed += self.revoke(&Revoked::Session {
                    token_hash: token_hash.clone(),
                });
            }
        }
        let keys: Vec<i64> = keys.into_iter().collect();
        for batch in keys.chunks(CHECK_BATCH) {
            let live = partner_keys::live_keys(db, now, batch.to_vec())
                .await
                .context("checking the partner keys of open sockets")?;
            for key_id in batch.iter().filter(|k| !live.contains(*k)) {
                closed += self.revoke(&Revoked::PartnerKey { key_id: *key_id });
            }
        }
        Ok(closed)
    }

    /// Sweeps every `every` until shutdown.
    pub async fn sweep_every(
        self: Arc<Self>,
        db: DatabaseConnection,
        every: Duration,
        shutdown: CancellationToken,
    ) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {},
                () = shutdown.cancelled() => return,
            }
            match self.sweep(&db).await {
                Ok(0) => {}
                Ok(closed) => tracing::info!(closed, "closed sockets whose credential is gone"),
                Err(error) => tracing::warn!(error = format!("{error:#}"), "socket sweep failed"),
            }
        }
    }
}

/// The API's side: withdraws on this instance at once and tells the others.
pub struct Revocation {
    pub registry: Arc<Registry>,
    redis: Option<(redis::aio::ConnectionManager, String)>,
}

pub fn channel(prefix: &str) -> String {
    format!("{prefix}:revocations")
}

impl Revocation {
    pub fn new(
        registry: Arc<Registry>,
        redis: Option<(redis::aio::ConnectionManager, &str)>,
    ) -> Self {
        Self {
            registry,
            redis: redis.map(|(connection, prefix)| (connection, channel(prefix))),
        }
    }
}

impl Revocations for Revocation {
    fn revoked(&self, what: Revoked) {
        let closed = self.registry.revoke(&what);
        if !matches!(what, Revoked::Changed { .. }) {
            tracing::info!(closed, "credential withdrawn: closing its sockets");
        }
        let Some((connection, channel)) = &self.redis else {
            return;
        };
        let Ok(message) = serde_json::to_string(&what) else {
            return;
        };
        let mut connection = connection.clone();
        let channel = channel.clone();
        tokio::spawn(async move {
            let sent: redis::RedisResult<i64> = connection.publish(&channel, message).await;
            if let Err(error) = sent {
                // The other instances' sweep closes their sockets within WS_AUTH_SWEEP_MS.
                tracing::warn!(%error, "could not tell other instances of a revocation");
            }
        });
    }
}

/// Closes this instance's sockets for revocations announced by other instances.
pub async fn listen(
    client: redis::Client,
    prefix: String,
    registry: Arc<Registry>,
    shutdown: CancellationToken,
) {
    let channel = channel(&prefix);
    let mut backoff = Duration::from_millis(100);
    loop {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let subscribed = tokio::select! {
            result = tokio::time::timeout(Duration::from_secs(2), subscribed) => result,
            () = shutdown.cancelled() => return,
        };
        if let Ok(Ok(pubsub)) = subscribed {
            backoff = Duration::from_millis(100);
            let mut messages = pubsub.into_on_message();
            loop {
                let message = tokio::select! {
                    message = messages.next() => message,
                    () = shutdown.cancelled() => return,
                };
                let Some(message) = message else { break };
                let what = message
                    .get_payload::<String>()
                    .ok()
                    .and_then(|text| serde_json::from_str::<Revoked>(&text).ok());
                match what {
                    Some(what) => {
                        registry.revoke(&what);
                    }
                    None => tracing::warn!("ignoring an unreadable revocation message"),
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {},
            () = shutdown.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(account_id: i64, token_hash: &str, role: Role) -> Session {
        Session {
            account: entities::account::Model {
                id: account_id,
                email: format!("runner{account_id}@almaty-marathon.kz"),
                password_hash: String::new(),
                display_name: "Runner".into(),
                role,
                organization_id: None,
                created_at: Utc::now(),
                language: "RU".into(),
            },
            token_hash: token_hash.to_owned(),
            expires_at: Utc::now() + chrono::Duration::hours(1),
        }
    }

    #[test]
    fn a_runner_session_is_known_until_withdrawn_changed_or_old() {
        let registry = Registry::new(Duration::from_secs(60));
        let now = Utc::now();
        registry.remember_session(&session(1, "a", Role::Runner));
        registry.remember_session(&session(1, "b", Role::Runner));
        registry.remember_session(&session(2, "c", Role::Runner));
        assert!(registry.known_session("a", now).is_some());

        registry.revoke(&Revoked::Session {
            token_hash: "a".into(),
        });
        assert!(registry.known_session("a", now).is_none(), "signed out");
        assert!(registry.known_session("b", now).is_some());

        registry.revoke(&Revoked::Changed { account_id: 1 });
        assert!(
            registry.known_session("b", now).is_none(),
            "changed: read again"
        );
        registry.revoke(&Revoked::Account { account_id: 2 });
        assert!(registry.known_session("c", now).is_none(), "password reset");

        // Past its expiry, or read longer ago than the cache's lifetime: read again.
        registry.remember_session(&session(3, "d", Role::Runner));
        assert!(
            registry
                .known_session("d", now + chrono::Duration::hours(2))
                .is_none()
        );
        let brief = Registry::new(Duration::from_millis(20));
        brief.remember_session(&session(3, "d", Role::Runner));
        assert!(brief.known_session("d", now).is_some());
        std::thread::sleep(Duration::from_millis(30));
        assert!(brief.known_session("d", now).is_none());
    }

    #[test]
    fn organizers_partners_and_an_unset_cache_keep_nothing() {
        let registry = Registry::new(Duration::from_secs(60));
        registry.remember_session(&session(1, "o", Role::Organizer));
        registry.remember_session(&session(2, "p", Role::Partner));
        assert!(registry.known_session("o", Utc::now()).is_none());
        assert!(registry.known_session("p", Utc::now()).is_none());
        let off = Registry::new(Duration::ZERO);
        off.remember_session(&session(3, "r", Role::Runner));
        assert!(off.known_session("r", Utc::now()).is_none());
    }
}
