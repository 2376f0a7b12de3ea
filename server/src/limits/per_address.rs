//! Concurrent WebSockets and live operations per client address, on this instance. The
//! upgrade rate (RATE_WS_UPGRADES_PER_ADDRESS) slows an address down; these caps stop it
//! from holding tens of thousands of sockets or subscriptions once it has them. They are
//! kept per instance because what they protect (file descriptors, memory, fan-out work)
//! is each instance's own; the defaults leave room for a venue's shared address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct PerAddress {
    /// Sockets and live operations per address; an address with neither is removed.
    counts: Mutex<HashMap<IpAddr, (u32, u32)>>,
}

/// A socket counted against its address until dropped.
pub struct SocketSlot {
    owner: Arc<PerAddress>,
    address: IpAddr,
}

impl PerAddress {
    fn change(&self, address: IpAddr, change: impl FnOnce(&mut (u32, u32)) -> bool) -> bool {
        let Ok(mut counts) = self.counts.lock() else {
            return true;
        };
        let entry = counts.entry(address).or_default();
        let taken = change(entry);
        if *entry == (0, 0) {
            counts.remove(&address);
        }
        taken
    }

    /// One more socket from `address`, unless it already holds `max`.
    pub fn open_socket(self: &Arc<Self>, address: IpAddr, max: u32) -> Option<SocketSlot> {
        let opened = self.change(address, |(sockets, _)| {
            let room = *sockets < max;
            if room {
                *sockets += 1;
            }
            room
        });
        opened.then(|| SocketSlot {
            owner: self.clone(),
            address,
        })
    }

    /// One more live operation from `address`, unless it already holds `max`.
    pub fn start_operation(&self, address: IpAddr, max: u32) -> bool {
        self.change(address, |(_, operations)| {
            let room = *operations < max;
            if room {
                *operations += 1;
            }
            room
        })
    }

    /// `n` operations of `address` ended.
    pub fn end_operations(&self, address: IpAddr, n: usize) {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.change(address, |(_, operations)| {
            *operations = operations.saturating_sub(n);
            true
        });
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        self.owner.change(self.address, |(sockets, _)| {
            *sockets = sockets.saturating_sub(1);
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_its_sockets_and_operations_and_gets_them_back() {
        let caps = Arc::new(PerAddress::default());
        let here: IpAddr = "203.0.113.9".parse().unwrap();
        let there: IpAddr = "198.51.100.4".parse().unwrap();
        let first = caps.open_socket(here, 2).unwrap();
        let _second = caps.open_socket(here, 2).unwrap();
        assert!(caps.open_socket(here, 2).is_none());
        assert!(caps.open_socket(there, 2).is_some());
        drop(first);
        assert!(caps.open_socket(here, 2).is_some());
        assert!(caps.start_operation(here, 2));
        assert!(caps.start_operation(here, 2));
        assert!(!caps.start_operation(here, 2));
        caps.end_operations(here, 2);
        assert!(caps.start_operation(here, 2));
    }
}
