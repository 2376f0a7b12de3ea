//! Rate limits on the operations worth attacking: signing in (guessing passwords; each try
//! costs an argon2 hash), signing up and asking for reset mail. Keyed by the client's
//! address and by the email address tried, so that neither one address nor many addresses
//! against one account get far. A refusal says how long to wait.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// Where a request comes from, as the server determined it (the peer, or a trusted
/// proxy's `X-Forwarded-For`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// How often the limiters forget keys that have recovered their whole burst.
const FORGET_EVERY: u64 = 4096;

pub struct Throttle {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    per_account: DefaultKeyedRateLimiter<String>,
    checks: AtomicU64,
}

impl Throttle {
    /// Limits per minute, each with a burst of the same size.
    pub fn new(per_address_per_minute: u32, per_account_per_minute: u32) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Self {
            per_address: RateLimiter::keyed(quota(per_address_per_minute)),
            per_account: RateLimiter::keyed(quota(per_account_per_minute)),
            checks: AtomicU64::new(0),
        }
    }

    /// One attempt at signing in, signing up or asking for a reset, from `address` (when
    /// known) about `email` (when there is one). Both must have room.
    pub fn auth_attempt(
        &self,
        address: Option<&ClientAddress>,
        email: Option<&str>,
    ) -> Result<(), ApiError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            self.per_address.retain_recent();
            self.per_account.retain_recent();
        }
        let now = DefaultClock::default().now();
        if let Some(ClientAddress(address)) = address
            && let Err(not_until) = self.per_address.check_key(address)
        {
            return Err(ApiError::RateLimited(not_until.wait_time_from(now)));
        }
        if let Some(email) = email {
            // Case and surrounding blanks do not make another account.
            let key = email.trim().to_lowercase();
            if let Err(not_until) = self.per_account.check_key(&key) {
                return Err(ApiError::RateLimited(not_until.wait_time_from(now)));
            }
        }
        Ok(())
    }
}

impl Default for Throttle {
    /// Generous limits, for tools and tests that build a schema without settings.
    fn default() -> Self {
        Self::new(1_000_000, 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_address_and_an_account_each_get_their_burst_and_no_more() {
        let throttle = Throttle::new(3, 2);
        let here = ClientAddress("203.0.113.9".parse().unwrap());
        let there = ClientAddress("198.51.100.4".parse().unwrap());
        assert!(
            throttle
                .auth_attempt(Some(&here), Some("a@example.kz"))
                .is_ok()
        );
        assert!(
            throttle
                .auth_attempt(Some(&here), Some("A@Example.kz "))
                .is_ok()
        );
        // The account is spent, whoever asks.
        let refused = throttle.auth_attempt(Some(&there), Some("a@example.kz"));
        assert!(matches!(refused, Err(ApiError::RateLimited(wait)) if wait > Duration::ZERO));
        // The address has one attempt left, for another account; then none.
        assert!(
            throttle
                .auth_attempt(Some(&here), Some("b@example.kz"))
                .is_ok()
        );
        assert!(
            throttle
                .auth_attempt(Some(&here), Some("c@example.kz"))
                .is_err()
        );
        assert!(
            throttle
                .auth_attempt(Some(&there), Some("c@example.kz"))
                .is_ok()
        );
    }
}
