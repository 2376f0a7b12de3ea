//! The bus between instances over Redis pub/sub. The relay PUBLISHes each notification id
//! on `<prefix>:notifications` through a `ConnectionManager` (which reconnects by itself);
//! each instance keeps ONE subscription (not one per WebSocket) and rings its hub.
//!
//! Redis is only the doorbell: the hub reads the log itself. So while the subscription is
//! down the hub polls the log every `outage_poll`, and even while it is up every `poll`
//! (a safety net for a ring lost or held up on the way), and after reconnecting it catches
//! up. An outage therefore delays a notice by at most the outage poll, and loses nothing.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio_util::sync::CancellationToken;

use super::Publisher;
use super::hub::Hub;

pub fn channel(prefix: &str) -> String {
    format!("{prefix}:notifications")
}

/// How long one Redis operation or connection attempt may take before it counts as failed.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Publishes notification ids on the channel.
pub struct RedisPublisher {
    connection: ConnectionManager,
    channel: String,
}

/// A connection that reconnects by itself, opened lazily: a gateway starts even while
/// Redis is down, and commands fail fast (their callers retry) until it is back.
pub fn connection_manager(client: redis::Client) -> anyhow::Result<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(REDIS_TIMEOUT))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client, config)
        .context("creating the Redis connection manager")
}

impl RedisPublisher {
    pub fn new(client: redis::Client, prefix: &str) -> anyhow::Result<Self> {
        Ok(Self {
            connection: connection_manager(client)?,
            channel: channel(prefix),
        })
    }
}

#[async_trait]
impl Publisher for RedisPublisher {
    async fn publish(&self, id: i64) -> anyhow::Result<()> {
        let mut connection = self.connection.clone();
        let _receivers: i64 = connection
            .publish(&self.channel, id)
            .await
            .context("PUBLISH to Redis")?;
        Ok(())
    }
}

/// How a hub listens to Redis.
pub struct Listener {
    pub client: redis::Client,
    pub prefix: String,
    /// How often the hub reads the log while the subscription is up.
    pub poll: Duration,
    /// How often it reads the log while the subscription is down.
    pub outage_poll: Duration,
}

impl Listener {
    /// Keeps this instance's one subscription alive until shutdown, polling the log beside
    /// it.
    pub async fn run(self, hub: Arc<Hub>, shutdown: CancellationToken) {
        let channel = channel(&self.prefix);
        let mut backoff = Duration::from_millis(100);
        loop {
            let session = async {
                let mut pubsub = self.client.get_async_pubsub().await?;
                pubsub.subscribe(&channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            };
            // An unreachable Redis can take the whole timeout to refuse: the log is read on
            // the short poll meanwhile too.
            let mut session = std::pin::pin!(tokio::time::timeout(REDIS_TIMEOUT, session));
            let mut waiting = tokio::time::interval(self.outage_poll);
            let subscribed = loop {
                tokio::select! {
                    result = &mut session => break result,
                    _ = waiting.tick() => catch_up(&hub).await,
                    () = shutdown.cancelled() => return,
                }
            };
            match subscribed {
                Ok(Ok(pubsub)) => {
                    backoff = Duration::from_millis(100);
                    tracing::info!(%channel, "hub subscribed to Redis");
                    // Whatever was appended while we were away is in the log.
                    catch_up(&hub).await;
                    let mut messages = pubsub.into_on_message();
                    let mut poll = tokio::time::interval(self.poll);
                    loop {
                        let message = tokio::select! {
                            message = messages.next() => message,
                            _ = poll.tick() => { catch_up(&hub).await; continue; }
                            () = shutdown.cancelled() => return,
                        };
                        let Some(message) = message else {
                            tracing::warn!(
                                "Redis subscription lost: polling the log until it is back"
                            );
                            break;
                        };
                        match message.get_payload::<i64>() {
                            Ok(id) => {
                                if let Err(error) = hub.ring(id).await {
                                    tracing::error!(%error, id, "hub could not read a notification from the log");
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
            // Redis is away: read the log on the short poll until it is time to reconnect.
            let reconnect_at = tokio::time::Instant::now() + backoff;
            let mut poll = tokio::time::interval(self.outage_poll);
            loop {
                tokio::select! {
                    _ = poll.tick() => catch_up(&hub).await,
                    () = tokio::time::sleep_until(reconnect_at) => break,
                    () = shutdown.cancelled() => return,
                }
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}

async fn catch_up(hub: &Hub) {
    if let Err(error) = hub.catch_up().await {
        tracing::error!(%error, "hub could not read the notification log");
    }
}

#[cfg(test)]
mod tests {
    use redis::ConnectionAddr;

    #[test]
    fn a_rediss_url_is_a_verified_tls_connection() {
        let client = redis::Client::open("rediss://:secret@cache.almaty-marathon.kz:6380/0")
            .expect("rediss:// is accepted");
        match client.get_connection_info().addr() {
            ConnectionAddr::TcpTls {
                host,
                port,
                insecure,
                ..
            } => {
                assert_eq!((host.as_str(), *port), ("cache.almaty-marathon.kz", 6380));
                assert!(!insecure, "the certificate is checked");
            }
            other => panic!("not TLS: {other:?}"),
        }
        assert!(matches!(
            redis::Client::open("redis://127.0.0.1:6379")
                .unwrap()
                .get_connection_info()
                .addr(),
            ConnectionAddr::Tcp(..)
        ));
    }
}
