//! The GraphQL API of the race-day gateway: types, queries and mutations, DataLoaders and
//! guards, and the domain rules they call (accounts, the event lifecycle). It knows nothing
//! of HTTP or Redis: the server hands it a database, a [`Clock`] and a [`Mailer`].

pub mod context;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod services;

pub use context::{
    ApiContext, Bus, Clock, Mail, Mailer, OutboxBell, PartnerGrant, PushContext, SystemClock,
    Viewer,
};
pub use error::{ApiError, ApiResult};
pub use graphql::{ApiSchema, Limits, build_schema, sdl};
