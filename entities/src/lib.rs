//! sea-orm entity models of the race-day gateway: the shape of each table and how tables
//! relate. Data only: the rules that govern them live in the race office (`race-office/`).

pub mod account;
pub mod charity_project;
pub mod distance;
pub mod donation;
pub mod event;
pub mod event_organization;
pub mod event_status_change;
pub mod mail_delivery;
pub mod notification;
pub mod notification_counter;
pub mod notification_receipt;
pub mod organization;
pub mod participation_count;
pub mod partner_key;
pub mod password_reset;
pub mod pending_sign_up;
pub mod push_delivery;
pub mod push_subscription;
pub mod push_subscription_event;
pub mod refund_request;
pub mod registration;
pub mod relay_lease;
pub mod session;
pub mod vapid_key;
