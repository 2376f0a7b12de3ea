//! The mail a runner gets for an alert, in the runner's language: composed from the same
//! log entry as the WebSocket frame and the push, in plain text and HTML, with a link to
//! the race page, the organizer's reason whole (their translation when they gave one),
//! and what the runner can do next (the refund choice and its deadline, in the event's
//! zone). The words come from the message files (`messages.rs`).

use entities::event::{self, EventStatus};
use entities::refund_request::{RefundOption, RefundStatus};

use super::messages::{date, date_time, text};
use super::{
    Language, Notice, NoticeMessage, RefundDecisionMessage, StatusChangeMessage, TimeZone,
};

/// A composed alert mail, without its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertMail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The mail for `notice` to a runner called `runner_name` who reads `language`; `event`
/// is the event as it is now (for the refund deadline). `None` for a notice not mailed.
pub fn compose(
    notice: &Notice,
    event: Option<&event::Model>,
    runner_name: &str,
    language: Language,
    public_url: &str,
) -> Option<AlertMail> {
    let base = public_url.trim_end_matches('/');
    let (subject, lines, link) = match &notice.message {
        NoticeMessage::StatusChange(message) => status_change(message, event, language, base),
        NoticeMessage::RefundDecision(message) => refund_decision(message, event, language, base),
        NoticeMessage::Unreadable(_) => return None,
    };
    let greeting = text(language, "mail-greeting", &[("name", runner_name)]);
    let footer = text(language, "mail-footer", &[]);
    let mut plain = format!("{greeting}\n\n");
    let mut html = format!(
        "<!doctype html><html lang=\"{}\"><body><p>{}</p>",
        language.tag(),
        escape(&greeting)
    );
    for line in &lines {
        plain.push_str(line);
        plain.push_str("\n\n");
        html.push_str(&format!("<p>{}</p>", escape(line)));
    }
    plain.push_str(&format!("{link}\n\n-- \n{footer}\n"));
    html.push_str(&format!(
        "<p><a href=\"{0}\">{0}</a></p><hr><p><small>{1}</small></p></body></html>",
        escape(&link),
        escape(&footer)
    ));
    Some(AlertMail {
        subject,
        text: plain,
        html,
    })
}

type Parts = (String, Vec<String>, String);

fn status_change(
    message: &StatusChangeMessage,
    event: Option<&event::Model>,
    language: Language,
    base: &str,
) -> Parts {
    let start = match TimeZone::parse(&message.time_zone) {
        Ok(zone) => format!(
            "{} ({})",
            date_time(language, &zone.local(message.starts_at)),
            message.time_zone
        ),
        Err(_) => format!("{} (UTC)", date_time(language, &message.starts_at)),
    };
    let args = [
        ("event", message.event_name.as_str()),
        ("start", start.as_str()),
    ];
    let (subject_key, body_key) = match message.status {
        EventStatus::Cancelled => ("push-cancelled", "mail-cancelled"),
        EventStatus::Suspended => ("push-suspended", "mail-suspended"),
        EventStatus::Rescheduled => ("push-rescheduled", "mail-rescheduled"),
        EventStatus::Scheduled => ("mail-subject-scheduled", "mail-scheduled"),
        EventStatus::Completed => ("push-completed", "mail-completed"),
    };
    let mut lines = vec![
        text(language, body_key, &args),
        text(
            language,
            "mail-reason",
            &[("reason", message.reason_in(language))],
        ),
    ];
    let deadline = event.and_then(|e| e.refund_deadline);
    lines.push(match (message.status, deadline) {
        (EventStatus::Cancelled | EventStatus::Rescheduled, Some(deadline)) => text(
            language,
            "mail-refund-choice",
            &[
                ("deadline", &date(language, deadline)),
                ("zone", &message.time_zone),
            ],
        ),
        (EventStatus::Cancelled, None) => text(language, "mail-no-refund", &[]),
        _ => text(language, "mail-details", &[]),
    });
    (
        text(language, subject_key, &args),
        lines,
        format!("{base}/events/{}", message.event_slug),
    )
}

fn refund_decision(
    message: &RefundDecisionMessage,
    event: Option<&event::Model>,
    language: Language,
    base: &str,
) -> Parts {
    let option = text(
        language,
        match message.option {
            RefundOption::FullRefund => "refund-full",
            RefundOption::KitAndDonate => "refund-kit-and-donate",
        },
        &[],
    );
    let outcome = text(
        language,
        match message.status {
            RefundStatus::Approved => "refund-approved",
            RefundStatus::Rejected => "refund-rejected",
            RefundStatus::Paid => "refund-paid",
            _ => "refund-updated",
        },
        &[],
    );
    let event_name = message.event_name.as_str();
    let mut lines = vec![text(
        language,
        "mail-refund",
        &[
            ("option", &option),
            ("event", event_name),
            ("outcome", &outcome),
        ],
    )];
    if let Some(note) = &message.note {
        lines.push(text(language, "mail-reason", &[("reason", note)]));
    }
    let link = match event {
        Some(event) => format!("{base}/events/{}", event.slug),
        None => format!("{base}/"),
    };
    (
        text(
            language,
            "mail-refund-subject",
            &[("event", event_name), ("outcome", &outcome)],
        ),
        lines,
        link,
    )
}

/// Text made safe for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_cannot_be_injected_through_the_reason() {
        assert_eq!(
            escape("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
