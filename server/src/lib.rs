//! The `gateway` service: typed configuration, the database connection, the HTTP surface
//! (GraphQL over HTTP, GraphiQL, health), mail delivery, and the command line.

pub mod alerts;
pub mod cli;
pub mod config;
pub mod database;
pub mod http;
pub mod mailer;
pub mod metrics;
pub mod push;
pub mod startup;
pub mod telemetry;

pub use config::Settings;
pub use startup::Application;
