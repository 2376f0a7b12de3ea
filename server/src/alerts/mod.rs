//! The alert pipeline's moving parts in one instance: the hub that feeds local
//! subscribers, the bus that carries notifications between instances (Redis pub/sub, or
//! in-process for the embedded default), and the relay that drains the outbox onto it.

pub mod hub;
pub mod redis_bus;
pub mod relay;

use async_trait::async_trait;
use entities::notification;

/// Hands a log row to every instance's hub.
#[async_trait]
pub trait Publisher: Send + Sync {
    async fn publish(&self, row: &notification::Model) -> Result<(), String>;
}

/// The embedded default: the relay hands rows straight to this instance's hub.
pub struct InProcess(pub std::sync::Arc<hub::Hub>);

#[async_trait]
impl Publisher for InProcess {
    async fn publish(&self, row: &notification::Model) -> Result<(), String> {
        self.0.ingest(row.clone()).await.map_err(|e| e.message())
    }
}
