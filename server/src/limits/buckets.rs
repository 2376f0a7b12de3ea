//! The fleet's rate-limit counters in Redis: one key per bucket and window, counted by one
//! Lua script (add, open the window if new, answer the count and what the window has
//! left), so every instance spends the same budget. While Redis is away each instance
//! counts in its own memory, and says so in its log: limits weaken to one instance's,
//! never to none.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use race_office::throttle::{Buckets, MemoryBuckets};
use redis::aio::ConnectionManager;

const ADD: &str = r"
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if n < 0 then
  redis.call('SET', KEYS[1], 0, 'KEEPTTL')
  n = 0
end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  left = tonumber(ARGV[2])
end
return {n, left}
";

pub struct RedisBuckets {
    connection: ConnectionManager,
    prefix: String,
    fallback: MemoryBuckets,
    /// Whether the last call fell back, so that an outage is logged once, and its end too.
    degraded: AtomicBool,
}

impl RedisBuckets {
    pub fn new(connection: ConnectionManager, prefix: &str) -> Self {
        Self {
            connection,
            prefix: format!("{prefix}:rate"),
            fallback: MemoryBuckets::default(),
            degraded: AtomicBool::new(false),
        }
    }
}

#[async_trait::async_trait]
impl Buckets for RedisBuckets {
    async fn add(&self, key: &str, cost: i64, window: Duration) -> (i64, Duration) {
        let mut connection = self.connection.clone();
        let millis = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        // EVAL with the script's text: a few hundred bytes, and nothing to reload after a
        // Redis restart.
        let answer: redis::RedisResult<(i64, i64)> = redis::cmd("EVAL")
            .arg(ADD)
            .arg(1)
            .arg(format!("{}:{key}", self.prefix))
            .arg(cost)
            .arg(millis)
            .query_async(&mut connection)
            .await;
        match answer {
            Ok((count, left)) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::warn!("rate limits are the fleet's again (Redis answers)");
                }
                let left = Duration::from_millis(u64::try_from(left).unwrap_or(millis));
                (count, left)
            }
            Err(error) => {
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, "Redis is away: rate limits are counted per instance until it answers");
                }
                crate::metrics::rate_limits_degraded();
                self.fallback.add_now(key, cost, window)
            }
        }
    }
}
