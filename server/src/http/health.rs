//! Liveness (the process answers) and readiness (its database answers, and it is not
//! shutting down). Redis is reported, not required: without it alerts still flow (every
//! hub reads the log on a short poll), so an outage of the one Redis must not take every
//! instance out of the load balancer at once.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::app::AppState;

/// The process answers. The body names the instance (`INSTANCE_ID`, by default pid and
/// start time), so that a supervisor or a test can tell its own process's answer from that
/// of another one that took the same address.
pub async fn healthz(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "status": "ok", "instance": state.instance }))
}

/// Ready when the database answers and the instance is not stopping: a stopping instance
/// answers 503 first, so that a load balancer stops sending to it. Redis, when configured,
/// is reported (`"redis": false, "degraded": true` while it is away).
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let draining = state.draining.load(std::sync::atomic::Ordering::Acquire);
    let database = state.db.ping().await.is_ok();
    let redis = match &state.redis {
        None => None,
        Some(client) => Some(ping_redis(client).await),
    };
    let ready = !draining && database;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(
            json!({ "ready": ready, "draining": draining, "database": database, "redis": redis,
                     "degraded": redis == Some(false) }),
        ),
    )
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
