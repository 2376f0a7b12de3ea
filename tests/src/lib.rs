//! What the gateway's black-box tests (`tests/api/`, one binary) and its load tools (the
//! `gateway-load` package in `load/`) share: a database per test or run, the gateway as a
//! child process, accounts made in bulk, the mock push service, a real SMTP server, and the
//! demo's upcoming race as a seed run today names it.

pub mod accounts;
pub mod database;
pub mod demo;
pub mod gateway;
pub mod haproxy;
pub mod promise;
pub mod push_service;
pub mod redis;
pub mod smtp;

pub use accounts::{organizer_token, runner_token, runner_tokens};
pub use database::{Backend, TestDatabase, postgres_admin_url, unique_name};
pub use demo::{marathon, marathon_date, marathon_name, marathon_starts_at, marathon_year};
pub use gateway::{Gateway, gateway_binary, post_graphql};
pub use smtp::{ReceivedMail, SmtpServer};
