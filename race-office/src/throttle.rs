//! Rate limits on the operations worth attacking: signing in (guessing passwords; each try
//! costs an argon2 hash), signing up, and mail a stranger can make us send (sign-up and
//! reset mail). Every count lives in [`Buckets`]: Redis when the fleet has one (so N
//! instances allow what one allows), this process's memory otherwise. A refusal says how
//! long to wait.
//!
//! Guessing is limited per address, per (account, address), and per account with a slower
//! budget; a browser that signed in to the account before carries a device token (OWASP's
//! device cookies) and spends a budget of its own instead, so an attacker who spends the
//! account's budget does not lock its owner out. Only failures stay counted: a successful
//! sign-in gives back what it was charged.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::ApiError;

/// Where a request comes from, as the server determined it (the peer, or a trusted
/// proxy's `X-Forwarded-For`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// Counters in fixed windows, shared by whoever shares the store.
#[async_trait::async_trait]
pub trait Buckets: Send + Sync {
    /// Adds `cost` (negative to give back) to `key`'s window of length `window`, opening
    /// one if none is open; answers the count after adding and the time the window has left.
    async fn add(&self, key: &str, cost: i64, window: Duration) -> (i64, Duration);
}

/// Windows in this process's memory: the embedded default, and the fallback while Redis
/// is away.
#[derive(Default)]
pub struct MemoryBuckets {
    windows: Mutex<HashMap<String, (i64, Instant)>>,
}

/// Windows kept at most; past it the closed ones go.
const MEMORY_KEYS: usize = 100_000;

impl MemoryBuckets {
    pub fn add_now(&self, key: &str, cost: i64, window: Duration) -> (i64, Duration) {
        let now = Instant::now();
        let Ok(mut windows) = self.windows.lock() else {
            return (0, window);
        };
        if windows.len() >= MEMORY_KEYS {
            windows.retain(|_, (_, ends)| *ends > now);
        }
        let entry = windows.entry(key.to_owned()).or_insert((0, now + window));
        if entry.1 <= now {
            *entry = (0, now + window);
        }
        entry.0 = (entry.0 + cost).max(0);
        (entry.0, entry.1.saturating_duration_since(now))
    }
}

#[async_trait::async_trait]
impl Buckets for MemoryBuckets {
    async fn add(&self, key: &str, cost: i64, window: Duration) -> (i64, Duration) {
        self.add_now(key, cost, window)
    }
}

/// How many in how long.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    pub max: u32,
    pub window: Duration,
}

impl Quota {
    pub fn per_minute(max: u32) -> Self {
        Self {
            max,
            window: Duration::from_secs(60),
        }
    }

    pub fn per_hour(max: u32) -> Self {
        Self {
            max,
            window: Duration::from_secs(3600),
        }
    }
}

/// The limits, as set.
#[derive(Debug, Clone, Copy)]
pub struct Quotas {
    /// Every attempt (sign-in, sign-up, reset) from one address.
    pub per_address: Quota,
    /// Sign-up and reset per email; failed sign-ins per (account, address) and per device.
    pub per_account: Quota,
    /// Failed sign-ins on one account from browsers without its device token.
    pub sign_in_failures_per_account: Quota,
    /// Sign-up and reset mail to one address.
    pub mail_per_recipient: Quota,
}

impl Default for Quotas {
    /// Generous limits, for tools and tests that build a schema without settings.
    fn default() -> Self {
        let open = Quota::per_minute(1_000_000);
        Self {
            per_address: open,
            per_account: open,
            sign_in_failures_per_account: open,
            mail_per_recipient: open,
        }
    }
}

/// What a sign-in attempt was charged, to give back when it succeeds.
#[must_use]
pub struct SignInCharge {
    keys: Vec<(String, Quota)>,
}

pub struct Throttle {
    buckets: Arc<dyn Buckets>,
    quotas: Quotas,
}

/// Case and surrounding blanks do not make another account.
fn account_key(email: &str) -> String {
    email.trim().to_lowercase()
}

impl Throttle {
    pub fn new(buckets: Arc<dyn Buckets>, quotas: Quotas) -> Self {
        Self { buckets, quotas }
    }

    /// Counts one against `key`; refused (and not counted) when the quota is spent.
    async fn take(&self, key: &str, quota: Quota) -> Result<(), ApiError> {
        let (count, left) = self.buckets.add(key, 1, quota.window).await;
        if count > i64::from(quota.max) {
            self.buckets.add(key, -1, quota.window).await;
            return Err(ApiError::RateLimited(left.max(Duration::from_secs(1))));
        }
        Ok(())
    }

    /// Takes one from each of `keys`, or from none.
    async fn take_all(&self, keys: &[(String, Quota)]) -> Result<(), ApiError> {
        for (taken, (key, quota)) in keys.iter().enumerate() {
            if let Err(refused) = self.take(key, *quota).await {
                for (key, quota) in &keys[..taken] {
                    self.buckets.add(key, -1, quota.window).await;
                }
                return Err(refused);
            }
        }
        Ok(())
    }

    fn address_key(address: Option<&ClientAddress>) -> Option<(String, IpAddr)> {
        address.map(|ClientAddress(ip)| (format!("addr:{ip}"), *ip))
    }

    /// One sign-up or reset request, from `address` (when known) about `email`: both must
    /// have room.
    pub async fn auth_attempt(
        &self,
        address: Option<&ClientAddress>,
        email: Option<&str>,
    ) -> Result<(), ApiError> {
        let mut keys = Vec::new();
        if let Some((key, _)) = Self::address_key(address) {
            keys.push((key, self.quotas.per_address));
        }
        if let Some(email) = email {
            keys.push((
                format!("account:{}", account_key(email)),
                self.quotas.per_account,
            ));
        }
        self.take_all(&keys).await
    }

    /// One sign-in attempt. `device` is the device token's id when the browser showed a
    /// valid one for this account: it then spends its own budget, not the account's.
    pub async fn sign_in_attempt(
        &self,
        address: Option<&ClientAddress>,
        email: &str,
        device: Option<&str>,
    ) -> Result<SignInCharge, ApiError> {
        let account = account_key(email);
        let mut keys = Vec::new();
        let mut given_back = Vec::new();
        let address = Self::address_key(address);
        if let Some((key, _)) = &address {
            keys.push((key.clone(), self.quotas.per_address));
        }
        match device {
            Some(device) => {
                let key = format!("device:{device}");
                keys.push((key.clone(), self.quotas.per_account));
                given_back.push((key, self.quotas.per_account));
            }
            None => {
                let per_account = (
                    format!("signin:{account}"),
                    self.quotas.sign_in_failures_per_account,
                );
                keys.push(per_account.clone());
                given_back.push(per_account);
                if let Some((_, ip)) = &address {
                    let pair = (format!("signin:{account}:{ip}"), self.quotas.per_account);
                    keys.push(pair.clone());
                    given_back.push(pair);
                }
            }
        }
        self.take_all(&keys).await?;
        Ok(SignInCharge { keys: given_back })
    }

    /// The attempt succeeded: it was no guess, and costs the account nothing.
    pub async fn sign_in_succeeded(&self, charge: SignInCharge) {
        for (key, quota) in charge.keys {
            self.buckets.add(&key, -1, quota.window).await;
        }
    }

    /// Whether one more sign-up or reset mail may go to `recipient`; counted when it may.
    pub async fn mail_allowed(&self, recipient: &str) -> bool {
        let key = format!("mail:{}", account_key(recipient));
        self.take(&key, self.quotas.mail_per_recipient)
            .await
            .is_ok()
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new(Arc::new(MemoryBuckets::default()), Quotas::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(per_address: u32, per_account: u32, failures: u32) -> Throttle {
        Throttle::new(
            Arc::new(MemoryBuckets::default()),
            Quotas {
                per_address: Quota::per_minute(per_address),
                per_account: Quota::per_minute(per_account),
                sign_in_failures_per_account: Quota::per_hour(failures),
                mail_per_recipient: Quota::per_hour(2),
            },
        )
    }

    #[tokio::test]
    async fn an_address_and_an_account_each_get_their_quota_and_no_more() {
        let throttle = throttle(3, 2, 100);
        let here = ClientAddress("203.0.113.9".parse().unwrap());
        let there = ClientAddress("198.51.100.4".parse().unwrap());
        assert!(
            throttle
                .auth_attempt(Some(&here), Some("a@example.kz"))
                .await
                .is_ok()
        );
        assert!(
            throttle
                .auth_attempt(Some(&here), Some("A@Example.kz "))
                .await
                .is_ok()
        );
        // The account is spent, whoever asks.
        let refused = throttle
            .auth_attempt(Some(&there), Some("a@example.kz"))
            .await;
        assert!(matches!(refused, Err(ApiError::RateLimited(wait)) if wait > Duration::ZERO));
        // The address has one attempt left (the refusal above took nothing), then none.
        assert!(
            throttle
                .auth_attempt(Some(&here), Some("b@example.kz"))
                .await
                .is_ok()
        );
        assert!(
            throttle
                .auth_attempt(Some(&here), Some("c@example.kz"))
                .await
                .is_err()
        );
        assert!(
            throttle
                .auth_attempt(Some(&there), Some("c@example.kz"))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn successful_sign_ins_cost_nothing_and_failures_do() {
        let throttle = throttle(1000, 3, 100);
        let here = ClientAddress("203.0.113.9".parse().unwrap());
        for _ in 0..10 {
            let charge = throttle
                .sign_in_attempt(Some(&here), "a@x.kz", None)
                .await
                .unwrap();
            throttle.sign_in_succeeded(charge).await;
        }
        for _ in 0..3 {
            let _failed = throttle
                .sign_in_attempt(Some(&here), "a@x.kz", None)
                .await
                .unwrap();
        }
        assert!(
            throttle
                .sign_in_attempt(Some(&here), "a@x.kz", None)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_device_the_account_trusts_signs_in_after_strangers_spent_the_account() {
        let throttle = throttle(1000, 5, 4);
        // Strangers from many addresses spend the account's budget for untrusted browsers.
        for n in 0..4 {
            let stranger = ClientAddress(format!("198.51.100.{n}").parse().unwrap());
            let _failed = throttle
                .sign_in_attempt(Some(&stranger), "director@x.kz", None)
                .await
                .unwrap();
        }
        let owner = ClientAddress("203.0.113.9".parse().unwrap());
        assert!(
            throttle
                .sign_in_attempt(Some(&owner), "director@x.kz", None)
                .await
                .is_err()
        );
        let charge = throttle
            .sign_in_attempt(Some(&owner), "director@x.kz", Some("device-1"))
            .await
            .unwrap();
        throttle.sign_in_succeeded(charge).await;
    }

    #[tokio::test]
    async fn mail_to_one_recipient_is_capped() {
        let throttle = throttle(1000, 1000, 1000);
        assert!(throttle.mail_allowed("a@x.kz").await);
        assert!(throttle.mail_allowed("A@x.kz").await);
        assert!(!throttle.mail_allowed("a@x.kz").await);
        assert!(throttle.mail_allowed("b@x.kz").await);
    }
}
