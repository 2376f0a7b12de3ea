//! The alert pipeline's moving parts in one instance: the relay that rings every hub for
//! each new row of the notification log, the bus that carries the ring between instances
//! (Redis pub/sub, or in-process for the embedded default), and the hub that reads the rows
//! from the log and feeds local subscribers. The log is the source of truth; the bus is
//! only a doorbell, so a lost ring delays a notice and never loses it.

pub mod hub;
pub mod redis_bus;
pub mod relay;

use std::sync::Arc;

use async_trait::async_trait;

/// Rings every instance's hub: "the log holds notifications up to this id".
#[async_trait]
pub trait Publisher: Send + Sync {
    async fn publish(&self, id: i64) -> anyhow::Result<()>;
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
