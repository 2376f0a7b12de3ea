//! Sending one push message: encrypted (RFC 8291 aes128gcm, by `encrypt`) and VAPID-signed
//! (RFC 8292, by `vapid`), posted through the workspace's rustls client. Push services speak
//! HTTP/2 over TLS: ALPN offers h2 first (http/1.1 as fallback), and the pool keeps one h2
//! connection per push-service origin that carries every request in flight to it. Their
//! certificates are checked against the built-in roots and any `PUSH_EXTRA_ROOTS_PEM`.
//!
//! Each origin is owed its own bounds: at most `PUSH_CONCURRENCY_PER_ORIGIN` requests in
//! flight to it (a slow service cannot take every slot from the others), and after it
//! answers 429 or 503 with `Retry-After`, no request to it until then (at most
//! [`MAX_ORIGIN_QUIET`]): its other deliveries are postponed unsent, not attempted.
//!
//! The endpoint is a URL a browser gave us, so every request is checked again here: the
//! URL against the push policy (allowlisted host, https), and every address the host
//! resolves to against the private ranges, in the resolver itself, so that no DNS answer
//! can point a request inside our network. Redirects are not followed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use race_office::domain::{PushEndpoint, PushPolicy};
use race_office::services::push_deliveries::Recipient;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{AUTHORIZATION, HeaderMap, RETRY_AFTER};
use url::Host;

use super::encrypt::{self, BrowserKeys, EncryptError};
use super::vapid::{VapidError, VapidSigner};

/// A message ready for any subscription: the plaintext is encrypted per subscription.
#[derive(Debug)]
pub struct Alert {
    /// Small JSON a service worker can show.
    pub payload: Vec<u8>,
    pub ttl: u32,
    pub urgency: Urgency,
    /// One per event, so a newer alert replaces an older unread one.
    pub topic: String,
}

/// How soon the phone should wake for a message (RFC 8030 §5.3, the `Urgency` header).
/// RFC 8030 also has `very-low`, which no alert of ours is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    Low,
    Normal,
    High,
}

impl Urgency {
    /// The header's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
        }
    }
}

/// Why a request was not made or did not complete. The variant decides what the worker
/// does; the error with its causes (`what: why: deeper cause`) is what the delivery records.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The endpoint is not (or no longer) acceptable: never retried.
    #[error("{0}")]
    Refused(String),
    /// The message cannot be made for this subscription: never retried.
    #[error(transparent)]
    Invalid(#[from] Unsendable),
    /// The push service's host did not resolve: worth retrying.
    #[error("resolving {host}")]
    Unresolved {
        host: String,
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Connection, TLS or timeout: worth retrying. Stripped of its URL: endpoints are
    /// capability URLs and stay out of records.
    #[error(transparent)]
    Network(reqwest::Error),
    /// Not sent: the push service asked every sender to wait (`Retry-After`) until then.
    #[error("the push service asked to be left alone until later (Retry-After)")]
    Postponed { until: Instant },
}

/// Why a message cannot be made for a subscription: its keys are unusable, or ours are.
#[derive(Debug, thiserror::Error)]
pub enum Unsendable {
    #[error("the topic is not at most 32 base64url characters")]
    Topic,
    #[error(transparent)]
    Vapid(#[from] VapidError),
    #[error("encrypting")]
    Encrypt(#[from] EncryptError),
}

/// The push service's answer.
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
}

/// The longest an origin is left alone after one `Retry-After`: a service may answer 429
/// for one subscription (a device's own rate), and that must not silence it for everyone
/// for an hour. The delivery that got the answer still waits its whole `Retry-After`.
pub const MAX_ORIGIN_QUIET: Duration = Duration::from_secs(60);

/// Origins remembered at most; past this, the idle ones are forgotten (endpoints may name
/// any subdomain of an allowed host).
const MAX_ORIGINS: usize = 1024;

/// What one push-service origin is owed.
struct Origin {
    in_flight: tokio::sync::Semaphore,
    /// No request before this: the origin's last `Retry-After`.
    quiet_until: Mutex<Option<Instant>>,
    /// Until a request to the origin has been tried, requests go one at a time: the pool
    /// then opens one connection and learns that it speaks h2, instead of opening one per
    /// request in flight while the first handshake runs (32 TLS connections to the
    /// benchmark's push service, measured). Tried, not answered: a service that is down
    /// must not have its requests time out one by one.
    tried: AtomicBool,
    first: tokio::sync::Mutex<()>,
}

impl Origin {
    fn quiet_until(&self) -> Option<Instant> {
        let until = *self.quiet_until.lock().unwrap_or_else(|p| p.into_inner());
        until.filter(|until| *until > Instant::now())
    }

    fn leave_alone_for(&self, wait: Duration) {
        let until = Instant::now() + wait.min(MAX_ORIGIN_QUIET);
        let mut quiet = self.quiet_until.lock().unwrap_or_else(|p| p.into_inner());
        if quiet.is_none_or(|was| was < until) {
            *quiet = Some(until);
        }
    }
}

/// The origins pushed to, each with its bounds.
struct Origins {
    per_origin: usize,
    by_origin: Mutex<HashMap<String, Arc<Origin>>>,
}

impl Origins {
    fn get(&self, origin: &str) -> Arc<Origin> {
        let mut by_origin = self.by_origin.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = by_origin.get(origin) {
            return found.clone();
        }
        if by_origin.len() >= MAX_ORIGINS {
            let per_origin = self.per_origin;
            by_origin.retain(|_, o| {
                Arc::strong_count(o) > 1
                    || o.in_flight.available_permits() < per_origin
                    || o.quiet_until().is_some()
            });
        }
        let made = Arc::new(Origin {
            in_flight: tokio::sync::Semaphore::new(self.per_origin),
            quiet_until: Mutex::new(None),
            tried: AtomicBool::new(false),
            first: tokio::sync::Mutex::new(()),
        });
        by_origin.insert(origin.to_owned(), made.clone());
        made
    }
}

/// How long a host's checked addresses are reused: one lookup serves thousands of pushes.
const DNS_CACHE_FOR: Duration = Duration::from_secs(60);

/// Why a host cannot be reached.
#[derive(Debug, Clone, thiserror::Error)]
enum LookupError {
    /// It resolves only to addresses the policy forbids: never to be fetched.
    #[error("{0} resolves to no public address")]
    Refused(String),
    /// Resolution failed: maybe later.
    #[error("resolving {host}")]
    Unavailable {
        host: String,
        #[source]
        source: Arc<std::io::Error>,
    },
}

type Lookup = Result<Vec<SocketAddr>, LookupError>;

/// Resolves names, keeping only addresses the policy allows, with a short cache. Used both
/// before a request (a host with no allowed address is refused, not retried) and as the
/// HTTP client's resolver (so the connection goes only to a checked address).
struct GuardedResolver {
    policy: Arc<PushPolicy>,
    cache: Mutex<HashMap<String, (Lookup, Instant)>>,
}

impl GuardedResolver {
    async fn lookup(&self, host: &str) -> Lookup {
        if let Ok(cache) = self.cache.lock()
            && let Some((found, at)) = cache.get(host)
            && at.elapsed() < DNS_CACHE_FOR
        {
            return found.clone();
        }
        let found = match tokio::net::lookup_host((host, 0)).await {
            Ok(resolved) => {
                let allowed: Vec<SocketAddr> = resolved
                    .filter(|address| self.policy.address_allowed(host, address.ip()))
                    .collect();
                if allowed.is_empty() {
                    Err(LookupError::Refused(host.to_owned()))
                } else {
                    Ok(allowed)
                }
            }
            // Not cached: a resolver hiccup should be retried soon.
            Err(error) => {
                return Err(LookupError::Unavailable {
                    host: host.to_owned(),
                    source: Arc::new(error),
                });
            }
        };
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(host.to_owned(), (found.clone(), Instant::now()));
        }
        found
    }
}

struct ClientResolver(Arc<GuardedResolver>);

impl Resolve for ClientResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = self.0.clone();
        Box::pin(async move {
            let addresses = resolver.lookup(name.as_str()).await?;
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

/// Why `PUSH_EXTRA_ROOTS_PEM` cannot be used; the gateway does not start with it.
#[derive(Debug, thiserror::Error)]
pub enum RootsError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a PEM bundle of certificates")]
    Parse {
        path: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    Empty { path: PathBuf },
}

/// The certificates of a PEM file (one or more), to trust besides the built-in roots.
pub fn extra_roots(path: &Path) -> Result<Vec<reqwest::Certificate>, RootsError> {
    let pem = std::fs::read(path).map_err(|source| RootsError::Read {
        path: path.to_owned(),
        source,
    })?;
    let roots =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| RootsError::Parse {
            path: path.to_owned(),
            source,
        })?;
    if roots.is_empty() {
        return Err(RootsError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(roots)
}

/// How often an HTTP/2 connection to a push service is pinged while requests are in
/// flight, and how long a pong may take: every push to an origin rides one connection, so
/// a connection that died silently (a NAT forgetting it) must be noticed before each
/// request's own timeout.
const H2_KEEP_ALIVE: Duration = Duration::from_secs(20);
const H2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Sender {
    client: reqwest::Client,
    policy: Arc<PushPolicy>,
    resolver: Arc<GuardedResolver>,
    signer: VapidSigner,
    origins: Origins,
}

impl Sender {
    /// `per_origin` bounds the requests in flight to one origin, and so the HTTP/1.1
    /// connections kept to it (a push service without h2); over h2 there is one.
    /// `extra_roots` are trusted besides the built-in roots.
    pub fn new(
        policy: Arc<PushPolicy>,
        signer: VapidSigner,
        timeout: Duration,
        per_origin: usize,
        extra_roots: Vec<reqwest::Certificate>,
    ) -> Result<Self, reqwest::Error> {
        let resolver = Arc::new(GuardedResolver {
            policy: policy.clone(),
            cache: Mutex::new(HashMap::new()),
        });
        let mut builder = reqwest::Client::builder()
            .dns_resolver(Arc::new(ClientResolver(resolver.clone())))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(per_origin)
            .pool_idle_timeout(Duration::from_secs(90))
            .http2_keep_alive_interval(H2_KEEP_ALIVE)
            .http2_keep_alive_timeout(H2_KEEP_ALIVE_TIMEOUT)
            .user_agent(concat!("race-day-gateway/", env!("CARGO_PKG_VERSION")));
        for root in extra_roots {
            builder = builder.add_root_certificate(root);
        }
        let client = builder.build()?;
        Ok(Self {
            client,
            policy,
            resolver,
            signer,
            origins: Origins {
                per_origin,
                by_origin: Mutex::new(HashMap::new()),
            },
        })
    }

    /// Encrypts `alert` for `subscription` with this delivery's acknowledgement token,
    /// signs, and posts it.
    pub async fn send(
        &self,
        subscription: &Recipient,
        alert: &Alert,
        ack_token: &str,
    ) -> Result<Answer, SendError> {
        let endpoint = PushEndpoint::parse(&subscription.endpoint, &self.policy)
            .map_err(|e| SendError::Refused(e.message()))?;
        let url = endpoint.url();
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        match (literal, url.host_str()) {
            (Some(ip), Some(host)) if !self.policy.address_allowed(host, ip) => {
                return Err(SendError::Refused("endpoint is a private address".into()));
            }
            (None, Some(host)) => match self.resolver.lookup(host).await {
                Ok(_) => {}
                Err(LookupError::Unavailable { host, source }) => {
                    return Err(SendError::Unresolved { host, source });
                }
                Err(refused @ LookupError::Refused(_)) => {
                    return Err(SendError::Refused(refused.to_string()));
                }
            },
            _ => {}
        }
        // A topic replaces an older unread message only if push services accept it.
        if alert.topic.len() > 32
            || !alert
                .topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(Unsendable::Topic.into());
        }
        // The VAPID audience is the origin: scheme, host and any non-default port.
        let origin = url.origin().ascii_serialization();
        let bounds = self.origins.get(&origin);
        if let Some(until) = bounds.quiet_until() {
            return Err(SendError::Postponed { until });
        }
        let authorization = self
            .signer
            .authorization(&origin)
            .map_err(Unsendable::Vapid)?;
        let keys = BrowserKeys::from_base64(&subscription.p256dh, &subscription.auth)
            .map_err(Unsendable::Encrypt)?;
        let body =
            encrypt::encrypt(&keys, &alert.payload_for(ack_token)).map_err(Unsendable::Encrypt)?;
        let request = self
            .client
            .post(url.clone())
            .header("TTL", alert.ttl)
            .header("Urgency", alert.urgency.as_str())
            .header("Topic", alert.topic.as_str())
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .header(AUTHORIZATION, authorization);
        // Never closed, so acquiring fails only if it were: then send unbounded.
        let _permit = bounds.in_flight.acquire().await.ok();
        let mut _first = None;
        if !bounds.tried.load(Ordering::Acquire) {
            let turn = bounds.first.lock().await;
            if !bounds.tried.load(Ordering::Acquire) {
                _first = Some(turn);
            }
        }
        // The origin may have asked for quiet while this one waited its turn.
        if let Some(until) = bounds.quiet_until() {
            return Err(SendError::Postponed { until });
        }
        let sent = request.body(body).send().await;
        bounds.tried.store(true, Ordering::Release);
        let response = sent.map_err(|e| SendError::Network(e.without_url()))?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        if matches!(status, 429 | 503)
            && let Some(wait) = retry_after
        {
            bounds.leave_alone_for(wait);
        }
        // Read the (small) body so the connection goes back to the pool.
        let _ = response.bytes().await;
        Ok(Answer {
            status,
            retry_after,
        })
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_is_read_as_seconds_or_as_a_date() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(120)).to_rfc2822();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        let parsed = retry_after(&headers).unwrap();
        assert!((110..=120).contains(&parsed.as_secs()), "{parsed:?}");
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn an_unusable_extra_roots_file_says_which_file_and_why() {
        let missing =
            std::env::temp_dir().join(format!("no-such-roots-{}.pem", std::process::id()));
        let error = extra_roots(&missing).unwrap_err();
        assert!(matches!(error, RootsError::Read { .. }), "{error:?}");
        assert!(error.to_string().contains(&missing.display().to_string()));
        let cause = std::error::Error::source(&error).unwrap();
        assert!(
            cause
                .downcast_ref::<std::io::Error>()
                .map(std::io::Error::kind)
                == Some(std::io::ErrorKind::NotFound),
            "{cause:?}"
        );

        let not_pem = std::env::temp_dir().join(format!("not-roots-{}.pem", std::process::id()));
        std::fs::write(&not_pem, "just some text, no certificate\n").unwrap();
        let error = extra_roots(&not_pem).unwrap_err();
        std::fs::remove_file(&not_pem).unwrap();
        assert!(matches!(error, RootsError::Empty { .. }), "{error:?}");
        assert!(
            error.to_string().contains("holds no PEM certificate"),
            "{error}"
        );
    }
}
