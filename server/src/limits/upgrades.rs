//! WebSocket upgrades per client address (RATE_WS_UPGRADES_PER_ADDRESS a minute, a GCRA
//! kept in this instance's memory): a reconnect storm from one address is slowed down
//! before it costs a socket. The limiter keeps an entry per address it has seen, so a task
//! forgets, every minute, the addresses whose burst is whole again.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::DefaultKeyedRateLimiter;
use governor::clock::{Clock, DefaultClock};
use tokio_util::sync::CancellationToken;

pub struct Upgrades {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl Upgrades {
    /// `per_minute` upgrades per address (at least one).
    pub fn per_minute(per_minute: u32) -> Self {
        let quota = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: governor::RateLimiter::keyed(governor::Quota::per_minute(quota)),
        }
    }

    /// Counts one upgrade from `address`; `Err` with how long it must wait when it is over.
    pub fn check(&self, address: IpAddr) -> Result<(), Duration> {
        self.limiter
            .check_key(&address)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets the addresses whose burst is whole again.
    fn forget_recovered(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Forgets recovered addresses every minute, until shutdown.
    pub async fn forget_recovered_every_minute(self: Arc<Self>, shutdown: CancellationToken) {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = every.tick() => self.forget_recovered(),
                () = shutdown.cancelled() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_over_its_upgrades_waits_and_another_does_not() {
        let upgrades = Upgrades::per_minute(2);
        let here: IpAddr = "203.0.113.9".parse().unwrap();
        let there: IpAddr = "198.51.100.4".parse().unwrap();
        assert!(upgrades.check(here).is_ok());
        assert!(upgrades.check(here).is_ok());
        let wait = upgrades.check(here).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(30));
        assert!(upgrades.check(there).is_ok());
    }
}
