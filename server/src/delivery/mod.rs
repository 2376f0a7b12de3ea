//! The delivery pool: pushes and mails are prepared and sent on a tokio runtime of their
//! own (`DELIVERY_THREADS`), whose threads run at `DELIVERY_NICE` (10). The kernel then gives a core to
//! the live channel's threads (HTTP, WebSocket, the fan-out: nice 0) first whenever both
//! want it, while a delivery thread still has any core nobody else uses. Encrypting 18,000
//! pushes can therefore never hold a runner's WebSocket frame back.
//!
//! The runtime outlives every worker on it: it is shut down when the application goes,
//! after the workers have stopped.

pub mod pump;

use std::future::Future;

use anyhow::Context;
use thread_priority::{ThreadPriority, ThreadPriorityValue};
use tokio::runtime::{Handle, Runtime};

/// The `ThreadPriority::Crossplatform` value that is `nice` on Linux: the crate maps its
/// 0 to 99 onto nice 19 to -20 as `floor(39 * (1 - p / 99)) - 20` (22 is nice 10, a CFS
/// weight of 110 against 1,024 for nice 0).
fn crossplatform(nice: u8) -> Option<u8> {
    (0..=99u8).find(|&p| (39.0 * (1.0 - f32::from(p) / 99.0)) as i32 - 20 == i32::from(nice))
}

pub struct DeliveryPool {
    runtime: Option<Runtime>,
}

impl DeliveryPool {
    pub fn new(threads: usize, nice: u8) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .max_blocking_threads(threads.max(1))
            .thread_name("delivery")
            .on_thread_start(move || lower_priority(nice))
            .enable_all()
            .build()
            .context("starting the delivery runtime")?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    pub fn handle(&self) -> Option<Handle> {
        self.runtime.as_ref().map(|r| r.handle().clone())
    }

    /// Runs `work` on the delivery threads.
    pub fn spawn<F>(&self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if let Some(handle) = self.handle() {
            handle.spawn(work);
        }
    }
}

impl Drop for DeliveryPool {
    fn drop(&mut self) {
        // Dropping a runtime inside another's context would panic; this never blocks.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Why a delivery thread could not be lowered to its nice value.
#[derive(Debug, thiserror::Error)]
enum NotLowered {
    #[error("no priority is nice {0}")]
    NoSuchNice(u8),
    /// thread-priority says why only in words.
    #[error("priority {priority} is out of range: {why}")]
    OutOfRange { priority: u8, why: String },
    #[error("setting the thread's priority")]
    Refused(#[source] thread_priority::Error),
}

fn lower_priority(nice: u8) {
    if nice == 0 {
        return;
    }
    let lowered = crossplatform(nice)
        .ok_or(NotLowered::NoSuchNice(nice))
        .and_then(|priority| {
            ThreadPriorityValue::try_from(priority)
                .map_err(|why| NotLowered::OutOfRange { priority, why })
        })
        .and_then(|value| {
            thread_priority::set_current_thread_priority(ThreadPriority::Crossplatform(value))
                .map_err(NotLowered::Refused)
        });
    if let Err(error) = lowered {
        let error = anyhow::Error::new(error);
        tracing::warn!(
            error = format!("{error:#}"),
            "a delivery thread keeps the live channel's priority"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nice value of the calling thread, from /proc.
    fn nice() -> Option<i32> {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
        stat.rsplit(')')
            .next()?
            .split_whitespace()
            .nth(16)?
            .parse()
            .ok()
    }

    #[test]
    fn delivery_threads_run_at_their_nice_value_and_the_rest_do_not() {
        let outside = nice();
        for wanted in [0, 5, 10, 19] {
            let pool = DeliveryPool::new(1, wanted).unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            pool.spawn(async move {
                let _ = tx.send((nice(), std::thread::current().name().map(str::to_owned)));
            });
            let (inside, name) = rx.recv().unwrap();
            assert_eq!(inside, Some(i32::from(wanted)));
            assert_eq!(name.as_deref(), Some("delivery"));
        }
        assert_eq!(nice(), outside, "the caller's thread is untouched");
    }
}
