//! The operators' listener (ADMIN_BIND): Prometheus metrics and the same health checks as
//! the public port, kept off the public network.

use axum::Router;
use axum::routing::get;

use super::health;
use crate::app::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state)
}

async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    crate::metrics::subscription_groups(state.fanout.groups());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        crate::metrics::render(),
    )
}
