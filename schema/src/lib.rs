//! The GraphQL API of the race-day gateway: types, queries and mutations, DataLoaders and
//! guards, and the domain rules they call (accounts, the event lifecycle). It knows nothing
//! of HTTP or Redis: the server hands it a database, a [`Clock`] and a [`Mailer`].

pub mod context;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod services;
pub mod throttle;

pub use context::{
    ApiContext, Clock, Mail, Mailer, NoSockets, OutboxBell, PartnerGrant, PushContext, Revocations,
    Revoked, SystemClock, Viewer,
};
pub use error::{ApiError, ApiResult};
pub use graphql::{
    ApiSchema, Limits, NoticeSource, ReplayFrom, VIEWER_INDEPENDENT_SUBSCRIPTIONS, build_schema,
    sdl,
};
pub use throttle::{ClientAddress, Throttle};
