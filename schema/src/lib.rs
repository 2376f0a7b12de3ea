//! The GraphQL API of the race-day gateway: types, queries, mutations and subscriptions,
//! DataLoaders, guards and the document guard. Every rule it applies is the race office's
//! ([`race_office`]); this crate says how clients ask and how refusals read.

pub mod error;
pub mod graphql;

pub use graphql::{
    AUDIENCE_SUBSCRIPTIONS, ApiSchema, Limits, NoticeSource, ReplayFrom, ReplayTap,
    VIEWER_INDEPENDENT_SUBSCRIPTIONS, build_schema, sdl,
};
