//! What a runner's phone shows: the push payload for a status change, composed once per
//! notification and encrypted per subscription, always within [`PAYLOAD_BUDGET`]: a
//! reason too long for one push is shortened at a character boundary with an ellipsis
//! (the page shows it whole), while the ids, status, start and link stay whole.

use super::sender::{Alert, Urgency};
use chrono::{DateTime, Utc};
use race_office::domain::EventStatus;
use race_office::domain::{Language, StatusChangeMessage, TimeZone, messages};
use serde_json::{Value, json};

/// Push services keep undelivered messages at most about four weeks.
const MAX_TTL_SECS: i64 = 28 * 24 * 3600;
/// Even for a race already under way, an alert is worth an hour of a phone being off.
const MIN_TTL_SECS: i64 = 3600;

/// The largest plaintext a push may carry, in bytes of serialized JSON. RFC 8291 sends one
/// aes128gcm record of at most 4,096 bytes, leaving 4096 - 86 (header) - 16 (tag) - 1
/// (padding delimiter) = 3,993 bytes of plaintext; the web-push crate (0.11) refuses more
/// than 3,052. The budget is the smaller, so whichever encrypts the payload accepts it.
pub const PAYLOAD_BUDGET: usize = 3052;
/// The plaintext one RFC 8291 record holds: 4,096 bytes less the header (salt 16, record
/// size 4, key id length 1, key id 65), the AEAD tag (16) and the padding delimiter (1).
const RFC_8291_PLAINTEXT: usize = 4096 - (16 + 4 + 1 + 65) - 16 - 1;
const _: () = assert!(PAYLOAD_BUDGET <= RFC_8291_PLAINTEXT);
/// Where a delivery's acknowledgement token goes: `"ack":"` and as many characters as a
/// token has, so that every delivery's payload has the size the budget was checked for.
pub const ACK_PLACEHOLDER: &str = concat!("\"ack\":\"", "________________________________", "\"");
const _: () = assert!(ACK_PLACEHOLDER.len() == 7 + race_office::domain::ACK_TOKEN_LEN + 1);
/// What marks a shortened text.
const ELLIPSIS: char = '…';

impl Alert {
    /// The payload for one delivery: the acknowledgement placeholder the composer reserved
    /// (same length, so the budget holds) replaced by that delivery's token.
    pub fn payload_for(&self, ack_token: &str) -> std::borrow::Cow<'_, [u8]> {
        let placeholder = ACK_PLACEHOLDER.as_bytes();
        match self
            .payload
            .windows(placeholder.len())
            .position(|window| window == placeholder)
        {
            Some(at) if ack_token.len() == race_office::domain::ACK_TOKEN_LEN => {
                let mut payload = self.payload.clone();
                payload[at + 7..at + 7 + ack_token.len()].copy_from_slice(ack_token.as_bytes());
                std::borrow::Cow::Owned(payload)
            }
            _ => std::borrow::Cow::Borrowed(&self.payload),
        }
    }
}

/// The alert for notification `id`, a status change (decoded once, by the log's reader), in
/// `language`: the title from the message files, the body the organizer's reason in that
/// language when they gave it.
pub fn compose(
    id: i64,
    message: &StatusChangeMessage,
    language: Language,
    public_url: &str,
    now: DateTime<Utc>,
) -> Option<Alert> {
    let local_start = match TimeZone::parse(&message.time_zone) {
        Ok(zone) => messages::date_time(language, &zone.local(message.starts_at)),
        Err(_) => format!("{} UTC", messages::date_time(language, &message.starts_at)),
    };
    let args = [
        ("event", message.event_name.as_str()),
        ("start", local_start.as_str()),
    ];
    let (key, urgency) = match message.status {
        EventStatus::Cancelled => ("push-cancelled", Urgency::High),
        EventStatus::Suspended => ("push-suspended", Urgency::High),
        EventStatus::Rescheduled => ("push-rescheduled", Urgency::High),
        EventStatus::Scheduled => ("push-scheduled", Urgency::Normal),
        EventStatus::Completed => ("push-completed", Urgency::Low),
    };
    let title = messages::text(language, key, &args);
    let payload = fit_payload(
        json!({
            "ack": &ACK_PLACEHOLDER[7..7 + race_office::domain::ACK_TOKEN_LEN],
            "title": "",
            "body": "",
            "eventId": message.event_id.to_string(),
            "status": message.status,
            "notificationId": id.to_string(),
            "startsAt": message.starts_at,
            "url": format!("{}/events/{}", public_url.trim_end_matches('/'), message.event_slug),
        }),
        &title,
        message.reason_in(language),
    )?;
    // Until the race starts (the alert matters until then), within the services' bounds.
    let ttl = (message.starts_at - now)
        .num_seconds()
        .clamp(MIN_TTL_SECS, MAX_TTL_SECS);
    Some(Alert {
        payload,
        ttl: u32::try_from(ttl).unwrap_or(u32::MAX),
        urgency,
        topic: format!("event-{}", message.event_id),
    })
}

/// `frame` serialized with `title` and `body` filled in, shortened to fit the budget: the
/// body first (it is the organizer's free text), the title only if even an empty body
/// leaves no room for it. `None` if the other fields alone exceed the budget.
fn fit_payload(mut frame: Value, title: &str, body: &str) -> Option<Vec<u8>> {
    frame["title"] = Value::from(title);
    frame["body"] = Value::from("");
    let without_body = serde_json::to_vec(&frame).ok()?.len();
    if without_body > PAYLOAD_BUDGET {
        frame["title"] = Value::from("");
        let bare = serde_json::to_vec(&frame).ok()?.len();
        let room = PAYLOAD_BUDGET.checked_sub(bare)?;
        frame["title"] = Value::from(shorten(title, room));
    } else {
        frame["body"] = Value::from(shorten(body, PAYLOAD_BUDGET - without_body));
    }
    let payload = serde_json::to_vec(&frame).ok()?;
    (payload.len() <= PAYLOAD_BUDGET).then_some(payload)
}

/// `text` whole if its JSON string contents take at most `room` bytes; otherwise its
/// longest prefix, cut at a character boundary, that fits with an ellipsis after it.
fn shorten(text: &str, room: usize) -> String {
    let total: usize = text.chars().map(escaped_len).sum();
    if total <= room {
        return text.to_owned();
    }
    let Some(mut room) = room.checked_sub(ELLIPSIS.len_utf8()) else {
        return String::new();
    };
    let mut end = 0;
    for (at, c) in text.char_indices() {
        let len = escaped_len(c);
        if len > room {
            break;
        }
        room -= len;
        end = at + c.len_utf8();
    }
    // A joiner left at the cut would glue the ellipsis onto half an emoji.
    let kept = text[..end].trim_end_matches('\u{200d}');
    format!("{kept}{ELLIPSIS}")
}

/// The bytes `c` takes inside a JSON string as serde_json writes it: quote, backslash and
/// control characters escaped, everything else as UTF-8.
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\u{8}' | '\u{c}' | '\n' | '\r' | '\t' => 2,
        c if u32::from(c) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: EventStatus, starts_in_days: i64) -> StatusChangeMessage {
        row_with(
            status,
            starts_in_days,
            "Almaty Marathon 2027",
            "Public events are banned",
        )
    }

    fn row_with(
        status: EventStatus,
        starts_in_days: i64,
        event_name: &str,
        reason: &str,
    ) -> StatusChangeMessage {
        let now = Utc::now();
        StatusChangeMessage {
            status_change_id: 7,
            event_id: 3,
            event_name: event_name.into(),
            event_slug: "almaty-marathon-2027".into(),
            time_zone: "Asia/Almaty".into(),
            previous_status: Some(EventStatus::Scheduled),
            status,
            reason: reason.into(),
            reasons: Vec::new(),
            starts_at: now + chrono::Duration::days(starts_in_days),
            occurred_at: now,
        }
    }

    #[test]
    fn a_cancellation_is_urgent_and_says_why_in_the_organizers_words() {
        let alert = compose(
            42,
            &row(EventStatus::Cancelled, 20),
            Language::En,
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
    fn each_delivery_carries_its_own_token_in_the_same_room() {
        let alert = compose(
            42,
            &row(EventStatus::Cancelled, 20),
            Language::En,
            "",
            Utc::now(),
        )
        .unwrap();
        let key = race_office::domain::AckKey::derive(b"secret");
        let (first, second) = (
            alert.payload_for(&key.token(7)),
            alert.payload_for(&key.token(8)),
        );
        assert_eq!(first.len(), alert.payload.len());
        let first: serde_json::Value = serde_json::from_slice(&first).unwrap();
        let second: serde_json::Value = serde_json::from_slice(&second).unwrap();
        assert_eq!(key.verify(first["ack"].as_str().unwrap()), Some(7));
        assert_eq!(key.verify(second["ack"].as_str().unwrap()), Some(8));
        assert_eq!(first["body"], second["body"]);
    }

    #[test]
    fn each_runner_reads_the_alert_in_their_language_within_the_budget() {
        let mut message = row_with(EventStatus::Cancelled, 20, "Алматы марафоны 2027", "x");
        // Kazakh and Russian take two bytes a letter: a reason at its 1,000-character
        // bound is 2,000 bytes, and its escapes more.
        message.reasons = vec![
            race_office::domain::LocalizedText {
                language: Language::Kk,
                text: "Қоғамдық іс-шараларға тыйым салынды. ".repeat(27),
            },
            race_office::domain::LocalizedText {
                language: Language::Ru,
                text: "Массовые мероприятия запрещены\"<>\n".repeat(30),
            },
        ];
        for (language, title) in [
            (Language::Kk, "Алматы марафоны 2027 болдырылмады"),
            (Language::Ru, "Алматы марафоны 2027 отменён"),
            (Language::En, "Алматы марафоны 2027 is cancelled"),
        ] {
            let alert = compose(42, &message, language, "https://spa.kz", Utc::now()).unwrap();
            assert!(alert.payload.len() <= PAYLOAD_BUDGET, "{language:?}");
            let payload: serde_json::Value = serde_json::from_slice(&alert.payload).unwrap();
            assert_eq!(payload["title"], title);
            let body = payload["body"].as_str().unwrap();
            let reason = message.reason_in(language);
            let start: String = reason.chars().take(8).collect();
            assert!(body.starts_with(&start), "{language:?}: {body}");
        }
    }

    #[test]
    fn the_ttl_stays_within_the_push_services_bounds() {
        let far = compose(
            42,
            &row(EventStatus::Suspended, 400),
            Language::En,
            "",
            Utc::now(),
        )
        .unwrap();
        assert_eq!(i64::from(far.ttl), MAX_TTL_SECS);
        let past = compose(
            42,
            &row(EventStatus::Completed, -2),
            Language::En,
            "",
            Utc::now(),
        )
        .unwrap();
        assert_eq!(i64::from(past.ttl), MIN_TTL_SECS);
        assert_eq!(past.urgency, Urgency::Low);
    }

    /// Composes a cancellation with `reason` and checks what every payload must keep.
    fn fitted(event_name: &str, reason: &str) -> (Vec<u8>, serde_json::Value) {
        let row = row_with(EventStatus::Cancelled, 20, event_name, reason);
        let alert =
            compose(42, &row, Language::En, "https://spa.kz", Utc::now()).expect("composed");
        assert!(
            alert.payload.len() <= PAYLOAD_BUDGET,
            "{} bytes",
            alert.payload.len()
        );
        let payload: serde_json::Value = serde_json::from_slice(&alert.payload).unwrap();
        assert_eq!(payload["notificationId"], "42");
        assert_eq!(payload["eventId"], "3");
        assert_eq!(payload["status"], "CANCELLED");
        assert_eq!(payload["url"], "https://spa.kz/events/almaty-marathon-2027");
        (alert.payload, payload)
    }

    /// The body is a prefix of `reason` plus an ellipsis, and one more character of the
    /// reason would not have fitted.
    fn assert_cut_as_late_as_fits(payload: &[u8], body: &str, reason: &str) {
        let kept = body.strip_suffix(ELLIPSIS).expect("ends with an ellipsis");
        assert!(reason.starts_with(kept));
        assert!(kept.chars().count() < reason.chars().count());
        let next = reason[kept.len()..].chars().next().unwrap();
        assert!(
            payload.len() + escaped_len(next) > PAYLOAD_BUDGET,
            "{} bytes used, the next character ({next:?}) would have fitted",
            payload.len()
        );
    }

    #[test]
    fn a_reason_of_a_thousand_chinese_characters_is_shortened_to_fit_with_an_ellipsis() {
        let reason: String = "因公共活动禁令取消比赛"
            .chars()
            .cycle()
            .take(1000)
            .collect();
        assert_eq!(reason.len(), 3000);
        let (bytes, payload) = fitted("Almaty Marathon 2027", &reason);
        let body = payload["body"].as_str().unwrap();
        assert_cut_as_late_as_fits(&bytes, body, &reason);
        assert_eq!(payload["title"], "Almaty Marathon 2027 is cancelled");
    }

    #[test]
    fn a_reason_of_a_thousand_emoji_is_cut_between_characters_never_inside_one() {
        let reason: String = "🏃🚫🌧️⛔".chars().cycle().take(1000).collect();
        let (bytes, payload) = fitted("Almaty Marathon 2027", &reason);
        let body = payload["body"].as_str().unwrap();
        assert_cut_as_late_as_fits(&bytes, body, &reason);
        // Every character kept is one of the reason's whole characters.
        assert!(
            body.chars()
                .all(|c| c == ELLIPSIS || "🏃🚫🌧️⛔".contains(c))
        );
    }

    #[test]
    fn a_joined_emoji_cut_at_its_joiner_leaves_no_dangling_joiner() {
        // Mother and daughter, held together by a zero-width joiner: room for the mother,
        // the joiner and the ellipsis, not for the daughter.
        let pair = "👩\u{200d}👧";
        assert_eq!(shorten(pair, 4 + 3 + 3), "👩…");
        assert_eq!(shorten(pair, pair.len()), pair);
        assert_eq!(shorten(pair, 2), "");
    }

    #[test]
    fn escaped_characters_are_counted_as_they_are_sent() {
        // Each control character takes six bytes as \u00XX; quotes and newlines two.
        let reason: String = "\u{1}\"\n".chars().cycle().take(1000).collect();
        let (bytes, payload) = fitted("Almaty Marathon 2027", &reason);
        assert_cut_as_late_as_fits(&bytes, payload["body"].as_str().unwrap(), &reason);
    }

    #[test]
    fn a_reason_that_fits_is_sent_whole() {
        let reason: String = "禁".repeat(900);
        let (_, payload) = fitted("Almaty Marathon 2027", &reason);
        assert_eq!(payload["body"], reason.as_str());
    }

    #[test]
    fn the_longest_event_name_and_reason_still_fit() {
        let name: String = "🏁".repeat(200);
        let reason: String = "🏁".repeat(1000);
        let (_, payload) = fitted(&name, &reason);
        assert_eq!(payload["title"], format!("{name} is cancelled"));
        assert!(payload["body"].as_str().unwrap().ends_with(ELLIPSIS));
    }

    #[test]
    fn a_title_alone_over_the_budget_is_shortened_too() {
        let frame = json!({ "title": "", "body": "", "eventId": "3" });
        let title = "Ж".repeat(2000);
        let payload = fit_payload(frame, &title, "reason").unwrap();
        assert!(payload.len() <= PAYLOAD_BUDGET);
        let value: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(value["body"], "");
        assert!(value["title"].as_str().unwrap().ends_with(ELLIPSIS));
    }

    #[test]
    fn a_payload_of_the_whole_budget_is_accepted_by_the_encryption() {
        let reason: String = "因".repeat(1000);
        let row = row_with(EventStatus::Cancelled, 20, "Almaty Marathon 2027", &reason);
        let alert = compose(42, &row, Language::En, "https://spa.kz", Utc::now()).unwrap();
        assert!(alert.payload.len() > PAYLOAD_BUDGET - 3, "uses the budget");
        let (pair, auth) = ece::generate_keypair_and_auth_secret().unwrap();
        let public = pair.raw_components().unwrap().public_key().to_vec();
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let info = web_push::SubscriptionInfo::new(
            "https://fcm.googleapis.com/fcm/send/x".to_owned(),
            b64.encode(&public),
            b64.encode(auth),
        );
        let mut builder = web_push::WebPushMessageBuilder::new(&info);
        builder.set_payload(web_push::ContentEncoding::Aes128Gcm, &alert.payload);
        let message = builder.build().expect("the crate accepts the payload");
        let encrypted = message.payload.unwrap().content;
        assert!(encrypted.len() <= 4096, "{} bytes", encrypted.len());
        let plain = ece::decrypt(&pair.raw_components().unwrap(), &auth, &encrypted).unwrap();
        assert_eq!(plain, alert.payload);
    }
}
