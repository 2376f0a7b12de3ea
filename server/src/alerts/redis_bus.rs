//! Notifications between instances over Redis pub/sub: the relay PUBLISHes each log row
//! on `<prefix>:notifications`; each instance keeps ONE subscription (not one per
//! WebSocket) and feeds its hub. After any disconnect it reconnects with backoff and has
//! the hub catch up from the log, so nothing published meanwhile is lost.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use entities::notification;
use futures_util::StreamExt;
use redis::AsyncCommands;
use tokio::sync::{Mutex, watch};

use super::Publisher;
use super::hub::Hub;

pub fn channel(prefix: &str) -> String {
    format!("{prefix}:notifications")
}

/// Publishes rows as JSON on the channel.
pub struct RedisPublisher {
    client: redis::Client,
    channel: String,
    /// One multiplexed connection, re-opened after a failure.
    connection: Mutex<Option<redis::aio::MultiplexedConnection>>,
}

impl RedisPublisher {
    pub fn new(client: redis::Client, prefix: &str) -> Self {
        Self {
            client,
            channel: channel(prefix),
            connection: Mutex::new(None),
        }
    }
}

#[async_trait]
impl Publisher for RedisPublisher {
    async fn publish(&self, row: &notification::Model) -> Result<(), String> {
        let message = serde_json::to_string(&WireRow::from(row)).map_err(|e| e.to_string())?;
        let mut slot = self.connection.lock().await;
        if slot.is_none() {
            let connection = tokio::time::timeout(
                Duration::from_secs(2),
                self.client.get_multiplexed_async_connection(),
            )
            .await
            .map_err(|_| "connecting to Redis timed out".to_owned())?
            .map_err(|e| e.to_string())?;
            *slot = Some(connection);
        }
        let Some(connection) = slot.as_mut() else {
            return Err("no Redis connection".into());
        };
        let sent: Result<i64, _> = tokio::time::timeout(
            Duration::from_secs(2),
            connection.publish(&self.channel, message),
        )
        .await
        .unwrap_or_else(|_| {
            Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "publish timed out",
            )))
        });
        match sent {
            Ok(_) => Ok(()),
            Err(e) => {
                *slot = None;
                Err(e.to_string())
            }
        }
    }
}

/// A log row as it travels on the channel.
#[derive(serde::Serialize, serde::Deserialize)]
struct WireRow {
    id: i64,
    kind: String,
    event_id: Option<i64>,
    status_change_id: Option<i64>,
    account_id: Option<i64>,
    payload: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<&notification::Model> for WireRow {
    fn from(row: &notification::Model) -> Self {
        Self {
            id: row.id,
            kind: row.kind.clone(),
            event_id: row.event_id,
            status_change_id: row.status_change_id,
            account_id: row.account_id,
            payload: row.payload.clone(),
            created_at: row.created_at,
        }
    }
}

impl From<WireRow> for notification::Model {
    fn from(row: WireRow) -> Self {
        Self {
            id: row.id,
            kind: row.kind,
            event_id: row.event_id,
            status_change_id: row.status_change_id,
            account_id: row.account_id,
            payload: row.payload,
            created_at: row.created_at,
            published_at: None,
        }
    }
}

/// Keeps this instance's one subscription alive until shutdown.
pub async fn listen(
    client: redis::Client,
    prefix: String,
    hub: Arc<Hub>,
    mut shutdown: watch::Receiver<bool>,
) {
    let channel = channel(&prefix);
    let mut backoff = Duration::from_millis(100);
    loop {
        let session = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::select! {
            result = tokio::time::timeout(Duration::from_secs(3), session) => result,
            _ = shutdown.changed() => return,
        };
        match pubsub {
            Ok(Ok(pubsub)) => {
                backoff = Duration::from_millis(100);
                tracing::info!(%channel, "hub subscribed to Redis");
                // Whatever was published while we were away is in the log.
                if let Err(e) = hub.catch_up().await {
                    tracing::error!(error = %e.message(), "hub catch-up failed");
                }
                let mut messages = pubsub.into_on_message();
                loop {
                    let message = tokio::select! {
                        message = messages.next() => message,
                        _ = shutdown.changed() => return,
                    };
                    let Some(message) = message else {
                        tracing::warn!("Redis subscription lost: reconnecting");
                        break;
                    };
                    let row = message
                        .get_payload::<String>()
                        .map_err(|e| e.to_string())
                        .and_then(|text| {
                            serde_json::from_str::<WireRow>(&text).map_err(|e| e.to_string())
                        });
                    match row {
                        Ok(row) => {
                            if let Err(e) = hub.ingest(row.into()).await {
                                tracing::error!(error = %e.message(), "hub could not take a notification");
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%error, "ignoring an unreadable message on the channel")
                        }
                    }
                }
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, ?backoff, "Redis subscription failed: retrying")
            }
            Err(_) => tracing::warn!(?backoff, "Redis subscription timed out: retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {},
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}
