//! Values validated at the edge: once built by `parse`, they cannot be invalid inside.

mod account;
mod event;
mod money;

pub use account::{DisplayName, Email, Password};
pub use event::{EventName, Reason, Slug, TimeZone, check_transition};
pub use money::{Currency, Money};
