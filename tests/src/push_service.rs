//! A stand-in for a browser push service (the one third party we cannot run), as strict
//! as a real one: it hands out browser-like subscriptions (a P-256 key pair and an auth
//! secret per subscription), verifies each request's VAPID token (RFC 8292: ES256
//! signature by the key in `k`, `aud` equal to its own origin, `exp` within 24 hours, a
//! `mailto:`/`https:` subject) and decrypts the body with the subscription's private key
//! (RFC 8291 aes128gcm). Requests that fail either check are answered 401/400 and
//! recorded as rejections. Responses can be scripted per subscription (429 with
//! Retry-After, 500, 410, …).
//!
//! Like FCM, autopush and Apple's service it speaks TLS with HTTP/2 (ALPN h2, http/1.1 as
//! fallback) on a certificate for 127.0.0.1 and localhost signed by a CA this process makes
//! once ([`ca_pem_path`]; gateways trust it through `PUSH_EXTRA_ROOTS_PEM`), and records
//! each request's HTTP version. [`Transport::Plain`] is the old plain HTTP/1.1, kept for the
//! load tool's earlier figures.

use anyhow::{Context, anyhow};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::Value;

mod tls;

pub use axum::http::Version;
pub use tls::ca_pem_path;

/// The `PUSH_TRUSTED_ORIGINS` under which a gateway pushes to the mocks (any port): https
/// on loopback, which only a trusted origin may be.
pub const TRUSTED_ORIGIN: &str = "https://127.0.0.1";

/// What a gateway child needs to push to this process's mocks over TLS: the trusted origin
/// and the test CA.
pub fn gateway_env() -> anyhow::Result<Vec<(&'static str, String)>> {
    Ok(vec![
        ("PUSH_TRUSTED_ORIGINS", TRUSTED_ORIGIN.to_owned()),
        ("PUSH_EXTRA_ROOTS_PEM", ca_pem_path()?.display().to_string()),
    ])
}

/// What a browser would hand to `subscribePush`.
#[derive(Debug, Clone)]
pub struct BrowserSubscription {
    pub id: u64,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
}

/// One accepted request.
#[derive(Debug, Clone)]
pub struct Received {
    pub subscription: u64,
    pub at: Instant,
    /// The status the mock answered.
    pub status: u16,
    /// The decrypted JSON payload (`None` when this request was not sampled).
    pub payload: Option<Value>,
    pub ttl: Option<u32>,
    pub urgency: Option<String>,
    pub topic: Option<String>,
    /// The HTTP version the request came over (HTTP/2 when ALPN chose h2).
    pub version: Version,
    /// Which TLS connection carried it (numbered from 1 as accepted; `None` when plain).
    pub connection: Option<u64>,
}

/// The TLS connection a request came on, numbered as accepted.
#[derive(Debug, Clone, Copy)]
struct Connection(u64);

/// How the mock is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TLS on the test CA's certificate, HTTP/2 by ALPN (http/1.1 as fallback): what real
    /// push services speak.
    Tls,
    /// Plain HTTP/1.1, as the mock spoke before (the load tool's `--plain-http`).
    Plain,
}

/// A scripted answer: status and optional Retry-After seconds.
#[derive(Debug, Clone, Copy)]
pub struct Scripted {
    pub status: u16,
    pub retry_after_secs: Option<u64>,
}

struct Keys {
    private: Vec<u8>,
    public: Vec<u8>,
    auth: Vec<u8>,
}

#[derive(Default)]
struct Inner {
    keys: HashMap<u64, Keys>,
    script: HashMap<u64, VecDeque<Scripted>>,
    received: Vec<Received>,
    rejections: Vec<String>,
    verified_tokens: HashSet<String>,
}

struct Shared {
    origin: String,
    /// The VAPID public key requests must be signed with, once known.
    vapid_key: Mutex<Option<Vec<u8>>>,
    /// Decrypt one request in this many (1: all); the others are only counted.
    decrypt_every: u64,
    /// Wait this long before answering (to catch a worker mid-batch).
    delay: Mutex<Duration>,
    requests: AtomicU64,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: AtomicU64,
    most_in_flight: AtomicU64,
    /// TLS connections that completed their handshake.
    connections: AtomicU64,
    /// TLS handshakes that failed (a client that does not trust the certificate).
    handshake_failures: AtomicU64,
    inner: Mutex<Inner>,
}

pub struct MockPushService {
    shared: Arc<Shared>,
    transport: Transport,
    next_id: AtomicU64,
    _server: tokio::task::JoinHandle<()>,
}

impl MockPushService {
    /// Starts over TLS and HTTP/2 on 127.0.0.1, port 0; decrypts one request in
    /// `decrypt_every`.
    pub async fn start(decrypt_every: u64) -> anyhow::Result<Self> {
        Self::start_with(Transport::Tls, decrypt_every).await
    }

    /// Starts on 127.0.0.1, port 0, over `transport`.
    pub async fn start_with(transport: Transport, decrypt_every: u64) -> anyhow::Result<Self> {
        let tls = match transport {
            Transport::Tls => Some(tls::acceptor()?),
            Transport::Plain => None,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let shared = Arc::new(Shared {
            origin: format!("{scheme}://127.0.0.1:{port}"),
            vapid_key: Mutex::new(None),
            decrypt_every: decrypt_every.max(1),
            delay: Mutex::new(Duration::ZERO),
            requests: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            most_in_flight: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            handshake_failures: AtomicU64::new(0),
            inner: Mutex::new(Inner::default()),
        });
        let app = Router::new()
            .route("/push/{id}", post(push))
            .with_state(shared.clone());
        let server = match tls {
            Some(acceptor) => tokio::spawn(tls::serve(listener, acceptor, app, shared.clone())),
            None => tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }),
        };
        Ok(Self {
            shared,
            transport,
            next_id: AtomicU64::new(1),
            _server: server,
        })
    }

    /// `https://127.0.0.1:<port>` (`http://` when plain): the VAPID audience it expects.
    pub fn origin(&self) -> &str {
        &self.shared.origin
    }

    /// What a gateway's `PUSH_TRUSTED_ORIGINS` must say to push here (any port).
    pub fn trusted_origin(&self) -> &'static str {
        match self.transport {
            Transport::Tls => TRUSTED_ORIGIN,
            Transport::Plain => "http://127.0.0.1",
        }
    }

    /// TLS connections accepted so far (handshake done).
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// TLS handshakes that failed so far.
    pub fn handshake_failures(&self) -> u64 {
        self.shared.handshake_failures.load(Ordering::Relaxed)
    }

    /// Requests must be signed by this VAPID public key (base64url).
    pub fn expect_vapid_key(&self, public_key: &str) -> anyhow::Result<()> {
        let key = URL_SAFE_NO_PAD.decode(public_key)?;
        *lock(&self.shared.vapid_key) = Some(key);
        Ok(())
    }

    /// A new browser subscription, as `pushManager.subscribe` would create it.
    pub fn subscribe(&self) -> anyhow::Result<BrowserSubscription> {
        let (pair, auth) = ece::generate_keypair_and_auth_secret()?;
        let components = pair.raw_components()?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let keys = Keys {
            private: components.private_key().to_vec(),
            public: components.public_key().to_vec(),
            auth: auth.to_vec(),
        };
        let subscription = BrowserSubscription {
            id,
            endpoint: format!("{}/push/{id}", self.shared.origin),
            p256dh: URL_SAFE_NO_PAD.encode(&keys.public),
            auth: URL_SAFE_NO_PAD.encode(&keys.auth),
        };
        lock(&self.shared.inner).keys.insert(id, keys);
        Ok(subscription)
    }

    /// The next answers for a subscription, in order; 201 once they run out.
    pub fn script(&self, subscription: u64, answers: &[Scripted]) {
        lock(&self.shared.inner)
            .script
            .entry(subscription)
            .or_default()
            .extend(answers.iter().copied());
    }

    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.shared.delay) = delay;
    }

    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared.inner).received.clone()
    }

    /// How many requests passed both checks and were answered 2xx.
    pub fn delivered(&self) -> usize {
        lock(&self.shared.inner)
            .received
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .count()
    }

    /// Requests refused for a bad VAPID token or an undecryptable body, with why.
    pub fn rejections(&self) -> Vec<String> {
        lock(&self.shared.inner).rejections.clone()
    }

    /// All requests, accepted or not.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// The most requests this service was answering at once.
    pub fn most_in_flight(&self) -> u64 {
        self.shared.most_in_flight.load(Ordering::Relaxed)
    }

    /// Waits until `done` holds of what was received, or `timeout` passes.
    pub async fn wait_until(&self, timeout: Duration, done: impl Fn(&[Received]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&lock(&self.shared.inner).received) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn push(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<u64>,
    version: Version,
    connection: Option<axum::Extension<Connection>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let n = shared.requests.fetch_add(1, Ordering::Relaxed);
    let _answering = Answering::new(&shared);
    let delay = *lock(&shared.delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let reject = |status: StatusCode, why: String| {
        lock(&shared.inner).rejections.push(why);
        status.into_response()
    };
    if header(&headers, "content-encoding").as_deref() != Some("aes128gcm") {
        return reject(
            StatusCode::BAD_REQUEST,
            "Content-Encoding is not aes128gcm".into(),
        );
    }
    let Some(ttl) = header(&headers, "ttl").and_then(|t| t.parse::<u32>().ok()) else {
        return reject(StatusCode::BAD_REQUEST, "TTL header missing".into());
    };
    if let Err(why) = verify_vapid(&shared, header(&headers, "authorization").as_deref()) {
        return reject(StatusCode::UNAUTHORIZED, format!("{why:#}"));
    }
    let sampled = n % shared.decrypt_every == 0;
    let payload = if sampled {
        let decrypted = {
            let inner = lock(&shared.inner);
            let Some(keys) = inner.keys.get(&id) else {
                drop(inner);
                return StatusCode::GONE.into_response();
            };
            let components = ece::EcKeyComponents::new(keys.private.clone(), keys.public.clone());
            ece::decrypt(&components, &keys.auth, &body)
        };
        match decrypted
            .map_err(anyhow::Error::from)
            .and_then(|plain| serde_json::from_slice::<Value>(&plain).map_err(anyhow::Error::from))
        {
            Ok(value) => Some(value),
            Err(why) => return reject(StatusCode::BAD_REQUEST, format!("cannot decrypt: {why}")),
        }
    } else {
        None
    };
    let answer = lock(&shared.inner)
        .script
        .get_mut(&id)
        .and_then(VecDeque::pop_front)
        .unwrap_or(Scripted {
            status: 201,
            retry_after_secs: None,
        });
    lock(&shared.inner).received.push(Received {
        subscription: id,
        at: Instant::now(),
        status: answer.status,
        payload,
        ttl: Some(ttl),
        urgency: header(&headers, "urgency"),
        topic: header(&headers, "topic"),
        version,
        connection: connection.map(|axum::Extension(Connection(n))| n),
    });
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::CREATED);
    match answer.retry_after_secs {
        Some(secs) => (status, [("retry-after", secs.to_string())]).into_response(),
        None => status.into_response(),
    }
}

/// Counts a request in flight while it is answered.
struct Answering<'a>(&'a Shared);

impl<'a> Answering<'a> {
    fn new(shared: &'a Shared) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.most_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(shared)
    }
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// RFC 8292: `Authorization: vapid t=<JWT>, k=<public key>`.
fn verify_vapid(shared: &Shared, authorization: Option<&str>) -> anyhow::Result<()> {
    let value = authorization.context("no Authorization header")?;
    let params = value
        .strip_prefix("vapid ")
        .context("Authorization is not the vapid scheme")?;
    let mut token = None;
    let mut key = None;
    for part in params.split(',') {
        let part = part.trim();
        if let Some(t) = part.strip_prefix("t=") {
            token = Some(t);
        } else if let Some(k) = part.strip_prefix("k=") {
            key = Some(k);
        }
    }
    let (token, key) = (token.context("no t=")?, key.context("no k=")?);
    let key = URL_SAFE_NO_PAD
        .decode(key)
        .map_err(|_| anyhow!("k is not base64url"))?;
    match &*lock(&shared.vapid_key) {
        Some(expected) if *expected != key => return Err(anyhow!("signed by an unexpected key")),
        _ => {}
    }
    if lock(&shared.inner).verified_tokens.contains(token) {
        return Ok(());
    }
    let mut parts = token.split('.');
    let (Some(head), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(anyhow!("the token is not a JWS"));
    };
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head)?)?;
    if header["alg"] != "ES256" {
        return Err(anyhow!("alg is {}, not ES256", header["alg"]));
    }
    let verifying =
        VerifyingKey::from_sec1_bytes(&key).map_err(|_| anyhow!("k is not a P-256 point"))?;
    let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature)?)
        .map_err(|_| anyhow!("the signature is not 64 bytes"))?;
    verifying
        .verify(format!("{head}.{claims}").as_bytes(), &signature)
        .map_err(|_| anyhow!("the ES256 signature does not verify"))?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims)?)?;
    if claims["aud"] != shared.origin.as_str() {
        return Err(anyhow!("aud is {}, not {}", claims["aud"], shared.origin));
    }
    let now = chrono::Utc::now().timestamp();
    let exp = claims["exp"].as_i64().context("no exp")?;
    if exp <= now || exp > now + 24 * 3600 {
        return Err(anyhow!("exp {exp} is not within the next 24 hours"));
    }
    let sub = claims["sub"].as_str().unwrap_or_default();
    if !(sub.starts_with("mailto:") || sub.starts_with("https:")) {
        return Err(anyhow!("sub {sub:?} is not a mailto: or https: URL"));
    }
    lock(&shared.inner).verified_tokens.insert(token.to_owned());
    Ok(())
}

/// For a test driving a browser from another process (the journey in `tests/browser/`):
/// what this mock accepted for one subscription, decrypted, so that it can be handed to
/// the page's service worker as the push service would.
impl MockPushService {
    /// Serves `GET /received/{subscription}` on a listener of its own (127.0.0.1, port
    /// 0), answering `{ "received": [{ status, payload, ttl, urgency, topic }], "rejections":
    /// [..] }`, and returns that listener's origin.
    pub async fn serve_received(&self) -> anyhow::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let app = Router::new()
            .route("/received/{id}", axum::routing::get(received_json))
            .with_state(self.shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(format!("http://127.0.0.1:{port}"))
    }
}

async fn received_json(State(shared): State<Arc<Shared>>, Path(id): Path<u64>) -> Response {
    let inner = lock(&shared.inner);
    let received: Vec<Value> = inner
        .received
        .iter()
        .filter(|r| r.subscription == id)
        .map(|r| {
            serde_json::json!({
                "status": r.status,
                "payload": r.payload,
                "ttl": r.ttl,
                "urgency": r.urgency,
                "topic": r.topic,
            })
        })
        .collect();
    axum::Json(serde_json::json!({ "received": received, "rejections": inner.rejections }))
        .into_response()
}
