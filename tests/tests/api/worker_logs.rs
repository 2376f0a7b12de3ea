//! A background worker's failure is logged with its cause: what the worker was doing and
//! the database's own words, not a client's "internal error".

use std::time::Duration;

use gateway_tests::{Backend, Gateway, TestDatabase};
use sea_orm::ConnectionTrait;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_worker_whose_query_fails_logs_what_it_was_doing_and_why() {
    let database = TestDatabase::create(Backend::Postgres).await.unwrap();
    let gateway = Gateway::start_logged(
        &[
            ("DATABASE_URL", database.url.clone()),
            ("PUSH_POLL_MS", "50".into()),
        ],
        "warn",
    )
    .await
    .unwrap();
    let db = sea_orm::Database::connect(&database.url).await.unwrap();
    db.execute_unprepared("DROP TABLE push_delivery CASCADE")
        .await
        .unwrap();
    let line = gateway
        .wait_for_log(
            &[
                "push worker failed",
                "claiming push deliveries",
                "relation \\\"push_delivery\\\" does not exist",
            ],
            Duration::from_secs(10),
        )
        .await;
    assert!(
        line.is_some(),
        "no log line names the cause; the log was:\n{}",
        gateway.logs().join("\n")
    );
}
