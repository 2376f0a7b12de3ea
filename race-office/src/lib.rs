//! The race office: the domain rules of a road race (accounts, the event lifecycle,
//! registrations, refunds, charity, partner figures, alerts and push) and the services
//! that apply them to the database, one transaction per change. It knows nothing of
//! GraphQL, HTTP or Redis: its host hands it a database, a [`Clock`] and a [`Mailer`].

pub mod context;
pub mod domain;
pub mod error;
pub mod services;
pub mod throttle;

pub use context::{
    ApiContext, Clock, Mail, MailCause, MailError, Mailer, NoSockets, OneByOne, OutboxBell,
    PageAcknowledgements, PartnerGrant, PreferredLanguage, PublicReads, PushContext, Revocations,
    Revoked, SystemClock, Viewer,
};
pub use error::{ApiError, ApiResult};
pub use throttle::{ClientAddress, Throttle};
