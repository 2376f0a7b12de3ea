//! What the notification log carries: the kinds of notification and their messages, and a
//! log row decoded once into a `Notice` that every local subscriber and the push composer
//! share. Storage lives in `services::notifications`; this is the data alone.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use entities::event::EventStatus;
use entities::refund_request::{RefundOption, RefundStatus};
use entities::{event, notification};
use serde::{Deserialize, Serialize};

/// What a notification announces; stored as its SCREAMING_CASE name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    EventStatusChanged,
    RefundDecided,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EventStatusChanged => "EVENT_STATUS_CHANGED",
            Self::RefundDecided => "REFUND_DECIDED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "EVENT_STATUS_CHANGED" => Some(Self::EventStatusChanged),
            "REFUND_DECIDED" => Some(Self::RefundDecided),
            _ => None,
        }
    }
}

/// Who is mailed about an alert, chosen by the organizer per change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmailPolicy {
    /// Every runner it concerns, at once.
    All,
    /// The runners who have not acknowledged it on any channel within the escalation
    /// window (`ALERT_EMAIL_AFTER_SECS`).
    #[default]
    Unreached,
    /// Nobody.
    None,
}

impl EmailPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "ALL",
            Self::Unreached => "UNREACHED",
            Self::None => "NONE",
        }
    }

    /// A stored policy; rows from before mail (none stored) are not mailed.
    pub fn parse(raw: Option<&str>) -> Self {
        match raw {
            Some("ALL") => Self::All,
            Some("UNREACHED") => Self::Unreached,
            _ => Self::None,
        }
    }
}

/// What the log carries for a status change: enough for a push message or a WebSocket
/// payload without another query.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusChangeMessage {
    pub status_change_id: i64,
    pub event_id: i64,
    pub event_name: String,
    pub event_slug: String,
    pub time_zone: String,
    pub previous_status: Option<EventStatus>,
    pub status: EventStatus,
    pub reason: String,
    /// Translations of `reason` by the organizer (none before languages).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<super::LocalizedText>,
    pub starts_at: DateTime<Utc>,
    pub occurred_at: DateTime<Utc>,
}

impl StatusChangeMessage {
    /// The reason in `language` when the organizer gave it, else the reason as written.
    pub fn reason_in(&self, language: super::Language) -> &str {
        self.reasons
            .iter()
            .find(|t| t.language == language)
            .map_or(self.reason.as_str(), |t| t.text.as_str())
    }
}

/// What the log carries for an organizer's decision on a runner's refund request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundDecisionMessage {
    pub refund_request_id: i64,
    pub registration_id: i64,
    pub event_id: i64,
    pub event_name: String,
    pub option: RefundOption,
    pub status: RefundStatus,
    pub note: Option<String>,
    pub decided_at: DateTime<Utc>,
}

/// What a notice says: one message per kind.
#[derive(Debug, Clone)]
pub enum NoticeMessage {
    StatusChange(StatusChangeMessage),
    RefundDecision(RefundDecisionMessage),
    /// A kind this build does not know (`None`), or a payload it could not read (logged
    /// when decoded): the notice still takes its place in the log's order.
    Unreadable(Option<NotificationKind>),
}

/// A notification decoded once, shared by every local subscriber.
#[derive(Debug, Clone)]
pub struct Notice {
    pub id: i64,
    pub event_id: Option<i64>,
    pub account_id: Option<i64>,
    pub message: NoticeMessage,
    /// The event as it is now, loaded once per notice so that subscribers do not query it.
    pub event: Option<Arc<event::Model>>,
    /// When the notification was appended (its transaction's time): alert delays start here.
    pub created_at: DateTime<Utc>,
    /// For a status change: the accounts registered for the event, read once per notice
    /// by whichever subscriber needs them first and shared by the rest (thousands of
    /// runners' subscriptions ask the same question of the same notice).
    pub audience: Arc<tokio::sync::OnceCell<Arc<HashSet<i64>>>>,
}

impl Notice {
    /// Decodes a log row; an unreadable payload leaves its message out (and is logged).
    pub fn decode(row: &notification::Model, event: Option<Arc<event::Model>>) -> Self {
        let kind = NotificationKind::parse(&row.kind);
        let message = match kind {
            Some(NotificationKind::EventStatusChanged) => {
                decode_payload(row).map(NoticeMessage::StatusChange)
            }
            Some(NotificationKind::RefundDecided) => {
                decode_payload(row).map(NoticeMessage::RefundDecision)
            }
            None => None,
        };
        Self {
            id: row.id,
            event_id: row.event_id,
            account_id: row.account_id,
            message: message.unwrap_or(NoticeMessage::Unreadable(kind)),
            event,
            created_at: row.created_at,
            audience: Arc::default(),
        }
    }
}

impl Notice {
    /// What kind of notification this is, when this build knows it.
    pub fn kind(&self) -> Option<NotificationKind> {
        match &self.message {
            NoticeMessage::StatusChange(_) => Some(NotificationKind::EventStatusChanged),
            NoticeMessage::RefundDecision(_) => Some(NotificationKind::RefundDecided),
            NoticeMessage::Unreadable(kind) => *kind,
        }
    }

    pub fn status_change(&self) -> Option<&StatusChangeMessage> {
        match &self.message {
            NoticeMessage::StatusChange(message) => Some(message),
            _ => None,
        }
    }

    pub fn refund_decision(&self) -> Option<&RefundDecisionMessage> {
        match &self.message {
            NoticeMessage::RefundDecision(message) => Some(message),
            _ => None,
        }
    }
}

fn decode_payload<T: serde::de::DeserializeOwned>(row: &notification::Model) -> Option<T> {
    serde_json::from_str(&row.payload)
        .map_err(|error| tracing::error!(id = row.id, %error, "unreadable notification payload"))
        .ok()
}
