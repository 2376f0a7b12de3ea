//! Every limit the gateway itself keeps on what one client may start or hold, in one
//! place. The rules on accounts and addresses (sign-in, sign-up, reset mail) belong to the
//! race office (`race_office::throttle`); here are the counters they run on in a fleet and
//! the limits that only a transport knows of:
//!
//! - [`buckets`]: the race office's counters kept in Redis, so a fleet spends one budget
//!   (fixed windows, one Lua script; memory while Redis is away);
//! - [`upgrades`]: WebSocket upgrades per address per minute (RATE_WS_UPGRADES_PER_ADDRESS),
//!   with the task that forgets addresses whose burst is whole again;
//! - [`per_address`]: open WebSockets and live operations per address on this instance
//!   (WS_MAX_SOCKETS_PER_ADDRESS, WS_MAX_SUBSCRIPTIONS_PER_ADDRESS);
//! - [`window`]: operations started on one socket per fixed minute
//!   (WS_MAX_OPERATIONS_PER_MINUTE).
//!
//! Each refusal is counted by `metrics::rate_limited` where it is made, under the limit's
//! name.

pub mod buckets;
pub mod per_address;
pub mod upgrades;
pub mod window;
