//! Counters and gauges served on /metrics in the Prometheus text format. Plain atomics:
//! the few numbers an operator of the alert pipeline needs, without a metrics framework.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub struct Metrics {
    pub websocket_connections: Gauge,
    pub subscriptions: Gauge,
    pub notifications_relayed: Counter,
    pub notices_broadcast: Counter,
    pub graphql_requests: Counter,
    pub pushes_delivered: Counter,
    pub pushes_retried: Counter,
    pub pushes_failed: Counter,
    pub pushes_pruned: Counter,
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        line(
            "gateway_websocket_connections",
            "gauge",
            "Open GraphQL WebSocket connections.",
            self.websocket_connections.get().to_string(),
        );
        line(
            "gateway_subscriptions",
            "gauge",
            "Active GraphQL subscriptions.",
            self.subscriptions.get().to_string(),
        );
        line(
            "gateway_notifications_relayed_total",
            "counter",
            "Outbox rows this instance published.",
            self.notifications_relayed.get().to_string(),
        );
        line(
            "gateway_notices_broadcast_total",
            "counter",
            "Notifications this instance's hub broadcast to local subscribers.",
            self.notices_broadcast.get().to_string(),
        );
        line(
            "gateway_graphql_requests_total",
            "counter",
            "GraphQL requests over HTTP.",
            self.graphql_requests.get().to_string(),
        );
        for (name, help, counter) in [
            (
                "gateway_pushes_delivered_total",
                "Push messages a push service accepted.",
                &self.pushes_delivered,
            ),
            (
                "gateway_pushes_retried_total",
                "Push attempts answered 429, 5xx or a network error, to be retried.",
                &self.pushes_retried,
            ),
            (
                "gateway_pushes_failed_total",
                "Push deliveries given up.",
                &self.pushes_failed,
            ),
            (
                "gateway_pushes_pruned_total",
                "Push subscriptions deleted after a 404 or 410.",
                &self.pushes_pruned,
            ),
        ] {
            line(name, "counter", help, counter.get().to_string());
        }
        out
    }
}
