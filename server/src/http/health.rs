//! Liveness (the process answers) and readiness (its database answers, and it is not
//! shutting down). Redis is reported, not required: without it alerts still flow (every
//! hub reads the log on a short poll), so an outage of the one Redis must not take every
//! instance out of the load balancer at once.
//!
//! Readiness costs nothing to ask: a background task pings the database and Redis every
//! [`REFRESH`] and keeps the answer (`crate::readiness`); `/readyz` reads it (a balancer checking every 500 ms,
//! or anyone on the public port, never reaches the database). The public listener says
//! only ready or not; the admin listener, where the balancer checks, says why.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::readiness::REFRESH;

/// Refreshes the readiness every [`REFRESH`] until shutdown.
pub async fn keep_fresh(state: AppState, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(REFRESH) => {},
            () = shutdown.cancelled() => return,
        }
        state
            .readiness
            .refresh(&state.db, state.redis.as_ref())
            .await;
    }
}

/// The process answers. The body names the instance (`INSTANCE_ID`, by default pid and
/// start time), so that a supervisor or a test can tell its own process's answer from that
/// of another one that took the same address.
pub async fn healthz(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "status": "ok", "instance": state.instance }))
}

fn ready(state: &AppState) -> (bool, bool, StatusCode) {
    let draining = state.draining.load(Ordering::Acquire);
    let ready = !draining && state.readiness.database();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (ready, draining, status)
}

/// The public listener's readiness: ready or not, nothing about what lies behind.
pub async fn readyz_public(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (ready, _, status) = ready(&state);
    (status, Json(json!({ "ready": ready })))
}

/// Ready when the database answered the last check and the instance is not stopping: a
/// stopping instance answers 503 first, so that a load balancer stops sending to it.
/// Redis, when configured, is reported (`"redis": false, "degraded": true` while it is
/// away).
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (ready, draining, status) = ready(&state);
    let redis = state.readiness.redis();
    (
        status,
        Json(json!({ "ready": ready, "draining": draining,
                     "database": state.readiness.database(), "redis": redis,
                     "degraded": redis == Some(false) })),
    )
}
