//! Answers to public reads, kept serialised: the race list, an event, its distances, the
//! charity projects and totals, asked without a credential (`schema::public_reads` says
//! which documents qualify). Right after a cancellation thousands of runners open the page
//! at once; they are answered from memory instead of each reading the database.
//!
//! An answer is dropped by the writes themselves, not by a guess at a lifetime: every
//! mutation that may change a public read bumps a generation before it answers (on every
//! instance: the generation lives in Redis when the fleet has one, `<prefix>:public-reads`),
//! and an answer is served only while the generation it was computed under is current.
//! The generation is read before executing, so an answer that raced a write is stored
//! under the old one and never served. Where the generation cannot be read (Redis down or
//! slow) nothing is served from or kept in the cache. `registrationState` changes with the
//! clock, when the race starts: such an answer holds until then ([`ValidUntil`]). A
//! longest age (`RESPONSE_CACHE_MAX_AGE_MS`) bounds what no signal can reach: a write made
//! outside the API, by hand, to the database.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, header};
use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};

use crate::settings::ResponseCacheSettings;

/// The longest a lookup waits for Redis's generation before answering from the database.
const GENERATION_WAIT: Duration = Duration::from_millis(100);

/// A document, its operation and its variables, hashed.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key([u8; 32]);

impl Key {
    /// The request as sent: the same text, operation and variables share an answer.
    pub fn of(request: &async_graphql::Request) -> Self {
        let mut hash = Sha256::new();
        hash.update(request.query.as_bytes());
        hash.update([0]);
        hash.update(request.operation_name.as_deref().unwrap_or("").as_bytes());
        hash.update([0]);
        hash.update(
            serde_json::to_vec(&request.variables)
                .unwrap_or_default()
                .as_slice(),
        );
        Self(hash.finalize().into())
    }
}

struct Entry {
    generation: u64,
    body: Bytes,
    etag: HeaderValue,
    stored: Instant,
    valid_until: Option<DateTime<Utc>>,
}

/// What a lookup found.
pub enum Lookup {
    /// The answer, and its entity tag.
    Hit(Bytes, HeaderValue),
    /// Not there: execute, and keep the answer under this generation.
    Miss(u64),
    /// The generation is unknown: execute, keep nothing.
    Unknown,
}

/// Where the generation is kept: in this process (one instance), or in Redis (a fleet).
enum Generation {
    Local(AtomicU64),
    Redis {
        connection: ConnectionManager,
        key: String,
    },
}

pub struct ResponseCache {
    generation: Generation,
    entries: Mutex<(HashMap<Key, Entry>, usize)>,
    enabled: bool,
    max_entries: usize,
    max_bytes: usize,
    max_age: Duration,
}

impl ResponseCache {
    pub fn new(settings: ResponseCacheSettings, redis: Option<(ConnectionManager, &str)>) -> Self {
        let generation = match redis {
            Some((connection, prefix)) => Generation::Redis {
                connection,
                key: format!("{prefix}:public-reads"),
            },
            None => Generation::Local(AtomicU64::new(0)),
        };
        Self {
            generation,
            entries: Mutex::new((HashMap::new(), 0)),
            enabled: settings.enabled,
            max_entries: usize::try_from(settings.max_entries).unwrap_or(usize::MAX),
            max_bytes: usize::try_from(settings.max_bytes).unwrap_or(usize::MAX),
            max_age: settings.max_age,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    async fn current(&self) -> Option<u64> {
        match &self.generation {
            Generation::Local(n) => Some(n.load(Ordering::Acquire)),
            Generation::Redis { connection, key } => {
                let mut connection = connection.clone();
                let read = connection.get::<_, Option<u64>>(key);
                match tokio::time::timeout(GENERATION_WAIT, read).await {
                    Ok(Ok(generation)) => Some(generation.unwrap_or(0)),
                    Ok(Err(error)) => {
                        tracing::debug!(%error, "public reads: generation unread, not cached");
                        None
                    }
                    Err(_) => None,
                }
            }
        }
    }

    pub async fn lookup(&self, key: &Key, now: DateTime<Utc>) -> Lookup {
        let Some(generation) = self.current().await else {
            crate::metrics::response_cache("unknown");
            return Lookup::Unknown;
        };
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.0.get(key) {
            Some(entry)
                if entry.generation == generation
                    && entry.stored.elapsed() < self.max_age
                    && entry.valid_until.is_none_or(|until| now < until) =>
            {
                crate::metrics::response_cache("hit");
                Lookup::Hit(entry.body.clone(), entry.etag.clone())
            }
            _ => {
                crate::metrics::response_cache("miss");
                Lookup::Miss(generation)
            }
        }
    }

    /// Keeps an answer computed under `generation`; past the limits the cache starts over
    /// (a flood of distinct documents costs each one execution, and no memory that stays).
    pub fn store(
        &self,
        key: Key,
        generation: u64,
        body: Bytes,
        valid_until: Option<DateTime<Utc>>,
    ) -> HeaderValue {
        let etag = etag(&body);
        if body.len() > self.max_bytes / 16 {
            return etag;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (map, bytes) = &mut *entries;
        if map.len() >= self.max_entries || *bytes + body.len() > self.max_bytes {
            map.clear();
            *bytes = 0;
        }
        *bytes += body.len();
        if let Some(old) = map.insert(
            key,
            Entry {
                generation,
                body,
                etag: etag.clone(),
                stored: Instant::now(),
                valid_until,
            },
        ) {
            *bytes -= old.body.len();
        }
        etag
    }

    /// A mutation may have changed a public read: every instance's answers are dropped.
    async fn bump(&self) {
        match &self.generation {
            Generation::Local(n) => {
                n.fetch_add(1, Ordering::AcqRel);
            }
            Generation::Redis { connection, key } => {
                let mut connection = connection.clone();
                if let Err(error) = connection.incr::<_, _, u64>(key, 1).await {
                    // The others read the same Redis: while it fails them, they keep
                    // nothing either; the longest age bounds the rest.
                    tracing::warn!(%error, "public reads: could not bump the generation");
                }
            }
        }
        // This instance's answers go at once whatever Redis said.
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.0.clear();
        entries.1 = 0;
    }
}

#[async_trait::async_trait]
impl race_office::PublicReads for ResponseCache {
    async fn changed(&self) {
        self.bump().await;
    }
}

/// A strong entity tag: the answer's SHA-256, shortened.
fn etag(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("\"{hex}\"")).unwrap_or(HeaderValue::from_static("\"-\""))
}

/// Whether the client's `If-None-Match` names `etag` (or `*`).
pub fn not_modified(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(etag) = etag.to_str() else {
        return false;
    };
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(max_entries: u8) -> ResponseCache {
        ResponseCache::new(
            ResponseCacheSettings {
                enabled: true,
                max_entries: u64::from(max_entries),
                max_bytes: 1 << 20,
                max_age: Duration::from_secs(60),
            },
            None,
        )
    }

    fn key(n: u8) -> Key {
        Key([n; 32])
    }

    #[tokio::test]
    async fn an_answer_is_served_until_a_write_bumps_the_generation() {
        let cache = cache(10);
        let now = Utc::now();
        let Lookup::Miss(generation) = cache.lookup(&key(1), now).await else {
            panic!("empty cache hit")
        };
        cache.store(key(1), generation, Bytes::from_static(b"{}"), None);
        assert!(matches!(cache.lookup(&key(1), now).await, Lookup::Hit(..)));
        race_office::PublicReads::changed(&cache).await;
        assert!(matches!(cache.lookup(&key(1), now).await, Lookup::Miss(g) if g == generation + 1));
    }

    #[tokio::test]
    async fn an_answer_computed_before_a_write_is_never_served_after_it() {
        let cache = cache(10);
        let now = Utc::now();
        let Lookup::Miss(before) = cache.lookup(&key(1), now).await else {
            panic!("empty cache hit")
        };
        // The write commits and bumps while the read is still executing.
        race_office::PublicReads::changed(&cache).await;
        cache.store(key(1), before, Bytes::from_static(b"{\"old\":1}"), None);
        assert!(matches!(cache.lookup(&key(1), now).await, Lookup::Miss(_)));
    }

    #[tokio::test]
    async fn an_answer_the_clock_changes_holds_until_then() {
        let cache = cache(10);
        let now = Utc::now();
        let starts = now + chrono::Duration::seconds(5);
        cache.store(key(1), 0, Bytes::from_static(b"{}"), Some(starts));
        assert!(matches!(cache.lookup(&key(1), now).await, Lookup::Hit(..)));
        assert!(matches!(
            cache.lookup(&key(1), starts).await,
            Lookup::Miss(_)
        ));
    }

    #[tokio::test]
    async fn past_its_limit_the_cache_starts_over() {
        let cache = cache(2);
        let now = Utc::now();
        for n in 0..3 {
            cache.store(key(n), 0, Bytes::from_static(b"{}"), None);
        }
        assert!(matches!(cache.lookup(&key(0), now).await, Lookup::Miss(_)));
        assert!(matches!(cache.lookup(&key(2), now).await, Lookup::Hit(..)));
    }

    #[test]
    fn if_none_match_is_read_as_a_list() {
        let tag = etag(b"{}");
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert!(!not_modified(&headers, &tag));
        let list = format!("\"other\", W/{}", tag.to_str().unwrap());
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(&list).unwrap());
        assert!(not_modified(&headers, &tag));
    }
}
