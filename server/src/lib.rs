//! The `gateway` service: typed configuration, the database connection, the HTTP surface
//! (GraphQL over HTTP, GraphiQL, health), mail delivery, and the command line.

pub mod acknowledgements;
pub mod alerts;
pub mod app;
pub mod cli;
pub mod database;
pub mod delivery;
pub mod documents;
pub mod gather;
pub mod http;
pub mod limits;
pub mod mail;
pub mod metrics;
pub mod push;
pub mod readiness;
pub mod revocation;
pub mod sessions;
pub mod settings;
pub mod startup;
pub mod telemetry;

pub use settings::Settings;
pub use startup::{Application, Pipeline};
