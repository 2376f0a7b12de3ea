//! Operations started on one socket, per fixed window of a minute
//! (WS_MAX_OPERATIONS_PER_MINUTE): a socket that subscribes and completes in a loop is
//! refused (`RATE_LIMITED`, no `retryAfter`) until its minute is over. Kept by the socket's
//! own task, so it needs no lock.

use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

pub struct OperationWindow {
    /// When the current window began.
    started: Instant,
    /// Operations started in it.
    count: u32,
    max: u32,
}

impl OperationWindow {
    pub fn new(max: u32) -> Self {
        Self {
            started: Instant::now(),
            count: 0,
            max,
        }
    }

    /// Counts one more operation; `false` when the window's are spent.
    pub fn take(&mut self) -> bool {
        if self.started.elapsed() >= WINDOW {
            self.started = Instant::now();
            self.count = 0;
        } else if self.count >= self.max {
            return false;
        }
        self.count += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_starts_its_operations_a_minute_then_waits_for_the_next() {
        let mut window = OperationWindow::new(2);
        assert!(window.take());
        assert!(window.take());
        assert!(!window.take());
        window.started = Instant::now().checked_sub(WINDOW).unwrap();
        assert!(window.take());
        assert!(window.take());
        assert!(!window.take());
    }
}
