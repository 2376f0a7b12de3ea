//! Values validated at the edge: once built by `parse`, they cannot be invalid inside.

mod account;
mod event;
mod money;
mod notification;
pub mod participation;
mod partner;
mod push;
mod refund;
mod runner;
pub mod suppression;

pub use account::{DisplayName, Email, Password};
pub use event::{EventName, Reason, Slug, TimeZone, check_transition};
pub use money::{Currency, Money};
pub use notification::{Notice, NotificationKind, RefundDecisionMessage, StatusChangeMessage};
pub use participation::Dimension;
pub use partner::{PartnerScope, ScopeSet};
pub use push::{DEFAULT_PUSH_HOSTS, PushEndpoint, PushKeys, PushPolicy, is_public_address};
pub use refund::{
    BasisPoints, FeeSplit, is_after_local_date, is_on_or_after_local_date,
    is_on_or_before_local_date, split_fee,
};
pub use runner::{City, CountryCode};
