//! What the last background check of the database and Redis found: `/readyz` reads it
//! (`http/health.rs` keeps it fresh), so asking costs nothing.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use sea_orm::DatabaseConnection;

/// How often the background check runs.
pub const REFRESH: Duration = Duration::from_millis(500);

const UNKNOWN: u8 = 0;
const DOWN: u8 = 1;
const UP: u8 = 2;

/// What the last background check found.
#[derive(Debug, Default)]
pub struct Readiness {
    database: AtomicU8,
    redis: AtomicU8,
}

impl Readiness {
    /// Pings the database and Redis (each within 2 s) and keeps the answers.
    pub async fn refresh(
        &self,
        db: &DatabaseConnection,
        redis: Option<&redis::aio::ConnectionManager>,
    ) {
        let within = |ok: bool| if ok { UP } else { DOWN };
        let database = matches!(
            tokio::time::timeout(Duration::from_secs(2), db.ping()).await,
            Ok(Ok(()))
        );
        self.database.store(within(database), Ordering::Release);
        let redis = match redis {
            None => UNKNOWN,
            Some(connection) => within(ping_redis(connection).await),
        };
        self.redis.store(redis, Ordering::Release);
    }

    pub fn database(&self) -> bool {
        self.database.load(Ordering::Acquire) == UP
    }

    pub fn redis(&self) -> Option<bool> {
        match self.redis.load(Ordering::Acquire) {
            UNKNOWN => None,
            state => Some(state == UP),
        }
    }
}

async fn ping_redis(connection: &redis::aio::ConnectionManager) -> bool {
    let mut connection = connection.clone();
    let check = async {
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
    };
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(2), check).await,
        Ok(Ok(_))
    )
}
