//! What a runner's phone shows: the push payload for a status change, composed once per
//! notification and encrypted per subscription.

use chrono::{DateTime, Utc};
use entities::event::EventStatus;
use schema::domain::StatusChangeMessage;
use serde_json::json;
use web_push::Urgency;

use super::sender::Alert;

/// Push services keep undelivered messages at most about four weeks.
const MAX_TTL_SECS: i64 = 28 * 24 * 3600;
/// Even for a race already under way, an alert is worth an hour of a phone being off.
const MIN_TTL_SECS: i64 = 3600;

/// The alert for notification `id`, a status change (decoded once, by the log's reader).
pub fn compose(
    id: i64,
    message: &StatusChangeMessage,
    public_url: &str,
    now: DateTime<Utc>,
) -> Option<Alert> {
    let local_start = message
        .time_zone
        .parse::<chrono_tz::Tz>()
        .map(|zone| {
            message
                .starts_at
                .with_timezone(&zone)
                .format("%-d %B %Y, %H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| message.starts_at.format("%-d %B %Y, %H:%M UTC").to_string());
    let (title, urgency) = match message.status {
        EventStatus::Cancelled => (
            format!("{} is cancelled", message.event_name),
            Urgency::High,
        ),
        EventStatus::Suspended => (
            format!("{} is suspended", message.event_name),
            Urgency::High,
        ),
        EventStatus::Rescheduled => (
            format!("{} moves to {local_start}", message.event_name),
            Urgency::High,
        ),
        EventStatus::Scheduled => (
            format!("{} is on again: {local_start}", message.event_name),
            Urgency::Normal,
        ),
        EventStatus::Completed => (format!("{} is over", message.event_name), Urgency::Low),
    };
    let payload = json!({
        "title": title,
        "body": &message.reason,
        "eventId": message.event_id.to_string(),
        "status": message.status,
        "notificationId": id.to_string(),
        "startsAt": message.starts_at,
        "url": format!("{}/events/{}", public_url.trim_end_matches('/'), message.event_slug),
    });
    // Until the race starts (the alert matters until then), within the services' bounds.
    let ttl = (message.starts_at - now)
        .num_seconds()
        .clamp(MIN_TTL_SECS, MAX_TTL_SECS);
    Some(Alert {
        payload: serde_json::to_vec(&payload).ok()?,
        ttl: u32::try_from(ttl).unwrap_or(u32::MAX),
        urgency,
        topic: format!("event-{}", message.event_id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(status: EventStatus, starts_in_days: i64) -> StatusChangeMessage {
        let now = Utc::now();
        StatusChangeMessage {
            status_change_id: 7,
            event_id: 3,
            event_name: "Almaty Marathon 2027".into(),
            event_slug: "almaty-marathon-2027".into(),
            time_zone: "Asia/Almaty".into(),
            previous_status: Some(EventStatus::Scheduled),
            status,
            reason: "Public events are banned".into(),
            starts_at: now + chrono::Duration::days(starts_in_days),
            occurred_at: now,
        }
    }

    #[test]
    fn a_cancellation_is_urgent_and_says_why_in_the_organizers_words() {
        let alert = compose(
            42,
            &message(EventStatus::Cancelled, 20),
            "https://spa.kz/",
            Utc::now(),
        )
        .unwrap();
        let payload: serde_json::Value = serde_json::from_slice(&alert.payload).unwrap();
        assert_eq!(payload["title"], "Almaty Marathon 2027 is cancelled");
        assert_eq!(payload["body"], "Public events are banned");
        assert_eq!(payload["notificationId"], "42");
        assert_eq!(payload["status"], "CANCELLED");
        assert_eq!(payload["url"], "https://spa.kz/events/almaty-marathon-2027");
        assert_eq!(alert.urgency, Urgency::High);
        assert_eq!(alert.topic, "event-3");
        assert!((19 * 86400..=20 * 86400).contains(&i64::from(alert.ttl)));
    }

    #[test]
    fn the_ttl_stays_within_the_push_services_bounds() {
        let far = compose(42, &message(EventStatus::Suspended, 400), "", Utc::now()).unwrap();
        assert_eq!(i64::from(far.ttl), MAX_TTL_SECS);
        let past = compose(42, &message(EventStatus::Completed, -2), "", Utc::now()).unwrap();
        assert_eq!(i64::from(past.ttl), MIN_TTL_SECS);
        assert_eq!(past.urgency, Urgency::Low);
    }
}
