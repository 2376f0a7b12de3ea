//! The log's end, read once for many subscribers at a time.
//!
//! A subscriber that resumes from its own cursor joins the live feed at the log's end as
//! it stands *after* its subscribe arrived (a notice it saw on another instance may not be
//! broadcast here yet). When an instance dies, thousands of its runners resume here within
//! a second: those asking at the same moment share one read ([`crate::gather`]).

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbErr};

use crate::gather::Gathered;
use race_office::services::notifications;

/// The notification log's last id, read for everyone asking at once.
pub struct LogEnd(Arc<Gathered<(), i64>>);

impl LogEnd {
    pub fn new(db: DatabaseConnection) -> Self {
        Self(Gathered::new(Box::new(move |_| {
            let db = db.clone();
            Box::pin(async move {
                let last = notifications::last_id(&db).await?;
                Ok(HashMap::from([((), last)]))
            })
        })))
    }

    /// The log's last id, read after this call began.
    pub async fn read(&self) -> Result<i64, Arc<DbErr>> {
        Ok(self.0.get(()).await?.unwrap_or(0))
    }

    /// Reads made so far.
    pub fn reads(&self) -> u64 {
        self.0.reads()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::{self, Ping};
    use sea_orm::ConnectionTrait;

    #[tokio::test]
    async fn subscribers_resuming_at_once_share_a_read_of_the_log() {
        // A file, not `sqlite::memory:`: each connection to memory is a database of its
        // own, and the pool may open another one.
        let folder = std::env::temp_dir().join(format!(
            "log-end-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        let url = format!("sqlite://{}/log.db?mode=rwc", folder.display());
        let db = database::connect(&url, 1, Ping::Always)
            .await
            .expect("a scratch database");
        database::migrate(&db).await.expect("migrated");
        db.execute_unprepared("UPDATE notification_counter SET last_id = 41")
            .await
            .expect("the log's end set");
        let log_end = Arc::new(LogEnd::new(db));
        let asks: Vec<_> = (0..200)
            .map(|_| {
                let log_end = log_end.clone();
                tokio::spawn(async move { log_end.read().await })
            })
            .collect();
        for ask in asks {
            assert_eq!(ask.await.expect("joined").expect("read"), 41);
        }
        assert!(
            log_end.reads() <= 2,
            "{} reads for 200 subscribers",
            log_end.reads()
        );
        let _ = std::fs::remove_dir_all(folder);
    }
}
