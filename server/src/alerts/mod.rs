//! The alert pipeline's moving parts in one instance: the relay that rings every hub for
//! each new row of the notification log, the bus that carries the ring between instances
//! (Redis pub/sub, or in-process for the embedded default), the hub that reads the rows
//! from the log, and the fan-out that executes each subscription once per notice for all
//! who share it. The log is the source of truth; the bus is only a doorbell, so a lost
//! ring delays a notice and never loses it.

pub mod fanout;
pub mod hub;
pub mod live_first;
pub mod log_end;
pub mod redis_bus;
pub mod relay;

use std::sync::Arc;

use async_trait::async_trait;

/// Rings every instance's hub: "the log holds notifications up to this id".
#[async_trait]
pub trait Publisher: Send + Sync {
    async fn publish(&self, id: i64) -> anyhow::Result<()>;
}

/// Redis and this instance's own hub: the hub here hears the relay at once, whatever
/// Redis is doing; the other instances hear it through Redis (or their polls).
pub struct Both {
    pub local: Arc<hub::Hub>,
    pub remote: Arc<dyn Publisher>,
}

#[async_trait]
impl Publisher for Both {
    async fn publish(&self, id: i64) -> anyhow::Result<()> {
        if let Err(error) = self.local.ring(id).await {
            tracing::warn!(%error, id, "the local hub could not read the log");
        }
        self.remote.publish(id).await
    }
}

/// The embedded default: the relay rings this instance's hub directly.
pub struct InProcess(pub Arc<hub::Hub>);

#[async_trait]
impl Publisher for InProcess {
    async fn publish(&self, id: i64) -> anyhow::Result<()> {
        self.0.ring(id).await?;
        Ok(())
    }
}
