//! Domain operations as plain async functions over a database connection, callable from
//! resolvers, the CLI and tests alike. Every state change is one transaction.

pub mod accounts;
pub mod charity;
pub mod demo;
pub mod events;
pub mod organizations;
pub mod refunds;
pub mod registrations;
mod secrets;
pub mod synthetic;

pub use secrets::{hash_token, new_token};
