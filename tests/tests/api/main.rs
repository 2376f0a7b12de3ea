//! The gateway's black-box tests: the real server over HTTP, a fresh database per test,
//! on PostgreSQL and on SQLite. Test names are sentences.
// A failed expectation is how a test fails: unwrap and expect are the point here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod ws_client;

mod accounts;
mod alerts;
mod alerts_cluster;
mod balancer;
mod browser;
mod charity;
mod charity_ownership;
mod codegen;
mod cost;
mod deployment;
mod docs_examples;
mod documents;
mod events;
mod fanout;
mod fleet_limits;
mod harness;
mod hostile_documents;
mod hostile_inputs;
mod http_protocol;
mod keep_alive;
mod lifecycle;
mod live_first;
mod operations;
mod partner_keys;
mod partner_stats;
mod password_hashing;
mod promise;
mod public_url;
mod push;
mod push_cluster;
mod push_failures;
mod push_payload;
mod push_subscriptions;
mod push_tls;
mod reach;
mod refunds;
mod registrations;
mod response_cache;
mod response_order;
mod sockets;
mod sse;
mod stats_counts;
mod worker_logs;
