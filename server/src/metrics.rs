//! What an operator watches, through the `metrics` facade and a Prometheus exporter served
//! on the admin listener. Every metric's name and meaning is here, recorded through the
//! small functions below so that call sites say what happened, not how it is counted.
//!
//! Labels are the gateway's, not a client's: an operation is labelled by its name only
//! when the gateway knows that name (the runner page's documents, `web/api.js`); any other
//! name is `other`, so that nobody can grow the series or crowd the real operations out.

use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Seconds buckets from a millisecond to a minute.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The process's one recorder (tests start several gateways in one process; they share
/// it), installed on first use.
pub fn handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            process_collector().describe();
            // The usual `*_build_info` series: constant 1, the version in its label, so a
            // dashboard can join on it or tell a fleet mid-deploy.
            gauge!("gateway_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            Some(handle)
        })
        .clone()
}

/// The Prometheus text for /metrics; the process's own figures are read at that moment.
pub fn render() -> String {
    let Some(handle) = handle() else {
        return String::new();
    };
    process_collector().collect();
    handle.render()
}

/// The usual `process_*` series (open file descriptors and their limit, CPU seconds,
/// resident and virtual memory, threads, start time), read from the OS at each scrape: one
/// gateway holds about 19,900 WebSockets under a 20,000 descriptor limit, so the operator
/// must see the one against the other.
fn process_collector() -> &'static metrics_process::Collector {
    static COLLECTOR: OnceLock<metrics_process::Collector> = OnceLock::new();
    COLLECTOR.get_or_init(metrics_process::Collector::default)
}

/// A lookup of a public read's answer: `hit`, `miss`, or `unknown` (the generation could
/// not be read, nothing cached).
pub fn response_cache(outcome: &'static str) {
    counter!("gateway_response_cache_total", "outcome" => outcome).increment(1);
}

/// The class of an HTTP response's status, the only label of `gateway_http_responses_total`
/// (a client picks neither path nor status, so nobody can grow the series).
pub fn http_response(status: u16) {
    let class = match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    counter!("gateway_http_responses_total", "class" => class).increment(1);
}

fn describe() {
    describe_gauge!(
        "gateway_websocket_connections",
        "Open GraphQL WebSocket connections."
    );
    describe_gauge!("gateway_subscriptions", "Active GraphQL subscriptions.");
    describe_histogram!(
        "gateway_acknowledgement_batch_size",
        "Pages' acknowledgements written by one statement (PostgreSQL)."
    );
    describe_counter!(
        "gateway_subscription_executions_total",
        "Executions of a subscription operation for an alert: one per shared group, or one \
         for every account group an alert concerns that asks the same personal question."
    );
    describe_gauge!(
        "gateway_subscription_groups",
        "Shared executions: subscriptions that ask the same question for the same viewer \
         are one group, executed once per alert (read when scraped)."
    );
    describe_counter!(
        "gateway_notifications_relayed_total",
        "Outbox rows this instance published."
    );
    describe_counter!(
        "gateway_notices_broadcast_total",
        "Notifications this instance's hub broadcast to local subscribers."
    );
    describe_counter!(
        "gateway_response_cache_total",
        "Lookups of public reads' answers by outcome: hit, miss, unknown (the generation \
         could not be read: nothing cached)."
    );
    describe_counter!(
        "gateway_http_responses_total",
        "HTTP responses of the public listener by status class (1xx to 5xx); a WebSocket \
         upgrade is a 1xx."
    );
    describe_counter!(
        "gateway_graphql_requests_total",
        "GraphQL requests over HTTP."
    );
    describe_gauge!(
        "gateway_build_info",
        "Always 1; the gateway's version in the `version` label."
    );
    describe_counter!(
        "gateway_pushes_total",
        "Push attempts by outcome: delivered (a push service accepted it), retried (429, 5xx or a network error), failed (given up), pruned (404 or 410: the subscription is deleted); and postponed: not sent, its push service's Retry-After still running."
    );
    describe_counter!(
        "gateway_push_failures_total",
        "Push deliveries given up, by class: REJECTED, UNAVAILABLE, NETWORK, REFUSED, INVALID."
    );
    describe_histogram!(
        "gateway_delivery_yield_seconds",
        "How long a batch of pushes or mails waited for this instance's fan-out of its change."
    );
    describe_counter!(
        "gateway_mails_total",
        "Alert mail attempts by outcome: sent (accepted by the SMTP server), retried, refused."
    );
    describe_histogram!(
        "gateway_mail_accepted_after_seconds",
        "From an alert's commit to its mail's acceptance by the SMTP server."
    );
    describe_counter!(
        "gateway_acknowledgements_total",
        "Alerts acknowledged by runners, by channel: page, push_displayed, push_clicked."
    );
    describe_counter!(
        "gateway_acknowledgement_tokens_refused_total",
        "Push acknowledgement tokens refused: forged, or used again for the same action."
    );
    describe_histogram!(
        "gateway_graphql_request_duration_seconds",
        "GraphQL requests over HTTP, by operation name, type and outcome code."
    );
    describe_histogram!(
        "gateway_alert_delay_seconds",
        "From the commit of a notification to its hub broadcast (stage=hub) and to each \
         WebSocket write (stage=websocket)."
    );
    describe_histogram!(
        "gateway_push_request_duration_seconds",
        "Push requests, by outcome class (2xx, 4xx, 5xx, network, refused)."
    );
    describe_histogram!(
        "gateway_push_delivery_delay_seconds",
        "From the commit of a notification to a push service accepting its message."
    );
    describe_gauge!(
        "gateway_relay_lag_seconds",
        "Age of the oldest notification not yet published (0 when none waits)."
    );
    describe_gauge!(
        "gateway_db_pool_connections",
        "Database pool connections, by state (in_use, idle)."
    );
    describe_histogram!(
        "gateway_db_pool_wait_seconds",
        "How long a probe waited for a database connection: time spent waiting for the pool."
    );
    describe_counter!(
        "gateway_rate_limited_total",
        "Requests and messages refused by a rate limit, by limit."
    );
}

pub fn websocket_opened() {
    gauge!("gateway_websocket_connections").increment(1.0);
}

pub fn websocket_closed() {
    gauge!("gateway_websocket_connections").decrement(1.0);
}

pub fn subscriptions_started(n: usize) {
    gauge!("gateway_subscriptions").increment(n as f64);
}

pub fn acknowledgements_written(n: usize) {
    histogram!("gateway_acknowledgement_batch_size").record(n as f64);
}

pub fn subscription_executed() {
    counter!("gateway_subscription_executions_total").increment(1);
}

pub fn subscription_groups(n: usize) {
    gauge!("gateway_subscription_groups").set(n as f64);
}

pub fn subscriptions_ended(n: usize) {
    gauge!("gateway_subscriptions").decrement(n as f64);
}

pub fn notifications_relayed(n: usize) {
    counter!("gateway_notifications_relayed_total").increment(n as u64);
}

/// A notice reached `stage` (`hub` or `websocket`) `delay` after its commit.
pub fn alert_reached(stage: &'static str, delay: Duration) {
    if stage == "websocket" {
        // Once per subscriber per alert: the handle is looked up once, not each time.
        static WEBSOCKET: OnceLock<metrics::Histogram> = OnceLock::new();
        WEBSOCKET
            .get_or_init(|| histogram!("gateway_alert_delay_seconds", "stage" => "websocket"))
            .record(delay.as_secs_f64());
        return;
    }
    histogram!("gateway_alert_delay_seconds", "stage" => stage).record(delay.as_secs_f64());
    counter!("gateway_notices_broadcast_total").increment(1);
}

pub fn graphql_request(operation: Option<&str>, kind: &'static str, outcome: &str, took: Duration) {
    counter!("gateway_graphql_requests_total").increment(1);
    histogram!(
        "gateway_graphql_request_duration_seconds",
        "operation" => operation_label(operation),
        "type" => kind,
        "outcome" => outcome.to_owned(),
    )
    .record(took.as_secs_f64());
}

/// How a push attempt ended, for counting.
pub enum PushOutcome {
    Delivered,
    Retried,
    Failed,
    Pruned,
}

pub fn push_attempt(class: &'static str, outcome: Option<PushOutcome>, took: Duration) {
    histogram!("gateway_push_request_duration_seconds", "class" => class)
        .record(took.as_secs_f64());
    let outcome = match outcome {
        Some(PushOutcome::Delivered) => "delivered",
        Some(PushOutcome::Retried) => "retried",
        Some(PushOutcome::Failed) => "failed",
        Some(PushOutcome::Pruned) => "pruned",
        None => return,
    };
    counter!("gateway_pushes_total", "outcome" => outcome).increment(1);
}

/// A delivery not sent because its push service asked to be left alone (`Retry-After`).
pub fn push_postponed() {
    counter!("gateway_pushes_total", "outcome" => "postponed").increment(1);
}

/// A delivery given up, by why (`REJECTED`, `UNAVAILABLE`, `NETWORK`, `REFUSED`, `INVALID`).
pub fn push_given_up(class: &'static str) {
    counter!("gateway_push_failures_total", "class" => class).increment(1);
}

/// How long a batch of `channel` (`push`, `mail`) waited for the live channel's fan-out.
pub fn delivery_yield(channel: &'static str, waited: Duration) {
    histogram!("gateway_delivery_yield_seconds", "channel" => channel).record(waited.as_secs_f64());
}

/// The API's counts, kept here with the rest.
pub struct Tally;

impl race_office::context::Tally for Tally {
    fn acknowledged(&self, channel: &'static str, count: u64) {
        acknowledged(channel, count);
    }

    fn acknowledgement_refused(&self) {
        acknowledgement_refused();
    }
}

/// An alert mail the SMTP server accepted, `delay` after its notification was committed.
pub fn mail_sent(delay: Duration) {
    counter!("gateway_mails_total", "outcome" => "sent").increment(1);
    histogram!("gateway_mail_accepted_after_seconds").record(delay.as_secs_f64());
}

/// An alert mail `retried` (a temporary refusal) or `refused` (for good).
pub fn mail_outcome(outcome: &'static str) {
    counter!("gateway_mails_total", "outcome" => outcome).increment(1);
}

/// Alerts acknowledged, by channel: `page`, `push_displayed`, `push_clicked`.
pub fn acknowledged(channel: &'static str, count: u64) {
    counter!("gateway_acknowledgements_total", "channel" => channel).increment(count);
}

/// A push acknowledgement token refused (forged, or used again).
pub fn acknowledgement_refused() {
    counter!("gateway_acknowledgement_tokens_refused_total").increment(1);
}

pub fn push_delivered_after(delay: Duration) {
    histogram!("gateway_push_delivery_delay_seconds").record(delay.as_secs_f64());
}

pub fn relay_lag(lag: Duration) {
    gauge!("gateway_relay_lag_seconds").set(lag.as_secs_f64());
}

pub fn db_pool(in_use: u32, idle: u32, waited: Duration) {
    gauge!("gateway_db_pool_connections", "state" => "in_use").set(f64::from(in_use));
    gauge!("gateway_db_pool_connections", "state" => "idle").set(f64::from(idle));
    histogram!("gateway_db_pool_wait_seconds").record(waited.as_secs_f64());
}

pub fn rate_limited(limit: &'static str) {
    counter!("gateway_rate_limited_total", "limit" => limit).increment(1);
}

/// A rate-limit count made in this instance's memory because Redis did not answer.
pub fn rate_limits_degraded() {
    counter!("gateway_rate_limits_degraded_total").increment(1);
}

/// The label for an operation's name: its own when the gateway knows it, else `other`.
fn operation_label(operation: Option<&str>) -> &'static str {
    let Some(name) = operation else {
        return "anonymous";
    };
    known_operations().get(name).copied().unwrap_or("other")
}

/// The names of the runner page's operations, read from its documents as embedded in the
/// binary, so the list cannot drift from the page.
fn known_operations() -> &'static HashSet<&'static str> {
    static KNOWN: OnceLock<HashSet<&'static str>> = OnceLock::new();
    KNOWN.get_or_init(|| operation_names(include_str!("../web/api.js")))
}

/// Every `query Name`, `mutation Name` and `subscription Name` that opens a template
/// string (a backtick, then the keyword).
fn operation_names(text: &'static str) -> HashSet<&'static str> {
    let mut names = HashSet::new();
    for keyword in ["`query ", "`mutation ", "`subscription "] {
        for (at, _) in text.match_indices(keyword) {
            let rest = &text[at + keyword.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if end > 0 {
                names.insert(&rest[..end]);
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_gateway_s_own_operation_names_become_labels() {
        assert_eq!(operation_label(None), "anonymous");
        for page in ["Races", "SignIn", "ChangeEventStatus", "MyNotifications"] {
            assert_eq!(operation_label(Some(page)), page);
        }
        for made_up in ["Cancel Race", "Op0", "signIn", "", &"x".repeat(65)] {
            assert_eq!(operation_label(Some(made_up)), "other");
        }
    }
}
