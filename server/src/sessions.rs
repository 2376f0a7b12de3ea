//! Runners' sessions read from the database for every token asked at the same moment: a
//! dead instance's runners arrive at a survivor that never saw their tokens, thousands
//! within a second ([`crate::gather`]).

use std::collections::HashMap;
use std::sync::Arc;

use race_office::services::accounts::{self, Session};
use sea_orm::DatabaseConnection;

use crate::gather::Gathered;

/// Token hashes looked up per statement at most.
const SESSIONS_PER_QUERY: usize = 1000;

/// Sessions by token hash, read for every token asked at the same moment.
pub type SessionReads = Arc<Gathered<String, Session>>;

/// Reads sessions from `db`, unexpired as `clock` says when the read begins.
pub fn session_reads(db: DatabaseConnection, clock: Arc<dyn race_office::Clock>) -> SessionReads {
    Gathered::new(Box::new(move |hashes| {
        let (db, now) = (db.clone(), clock.now());
        Box::pin(async move {
            let mut found = HashMap::with_capacity(hashes.len());
            // A round can be as large as the requests waiting (a flood of made-up tokens
            // among them): a statement's parameters stay bounded.
            for some in hashes.chunks(SESSIONS_PER_QUERY) {
                for session in accounts::sessions_by_hash(&db, now, some).await? {
                    found.insert(session.token_hash.clone(), session);
                }
            }
            Ok(found)
        })
    }))
}
