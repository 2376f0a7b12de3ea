//! Values validated at the edge: once built by `parse`, they cannot be invalid inside.

mod account;
pub mod alert_mail;
mod calendar;
mod event;
mod language;
pub mod messages;
mod money;
mod notification;
pub mod participation;
mod partner;
mod push;
mod push_ack;
mod refund;
mod runner;
pub mod suppression;
mod text;

pub use account::{DisplayName, Email, Password};
pub use calendar::{FIRST_YEAR, Instant, LAST_YEAR, check_date};
pub use event::MAX_DISTANCES_PER_EVENT;
pub use event::{
    EventName, Reason, Slug, TimeZone, check_future_start, check_transition, check_transition_at,
    event_zone, local_rfc3339, registration_at,
};
pub use language::{Language, LocalizedText, check_translations};
pub use money::{Currency, Money, format_minor};
pub use notification::{
    EmailPolicy, Notice, NoticeMessage, NotificationKind, RefundDecisionMessage,
    StatusChangeMessage,
};
pub use participation::Dimension;
pub use partner::{PartnerScope, ScopeSet};
pub use push::{
    DEFAULT_MAX_SUBSCRIPTIONS_PER_ACCOUNT, DEFAULT_PUSH_HOSTS, PushEndpoint, PushKeys, PushPolicy,
    is_public_address,
};
pub use push_ack::{ACK_TOKEN_LEN, AckKey, PushAction};
pub use refund::{
    BasisPoints, FeeSplit, REFUND_NOTICE_DAYS, check_deadline_after_cancellation,
    earliest_deadline, is_after_local_date, is_on_or_after_local_date, is_on_or_before_local_date,
    split_fee,
};
pub use runner::{City, CountryCode};
pub use text::{LongText, ShortText, check_characters, token};

// The vocabulary the database stores, named here so that hosts speak the race office's
// words without reaching for its tables.
pub use entities::account::Role;
pub use entities::event::EventStatus;
pub use entities::organization::OrganizationKind;
