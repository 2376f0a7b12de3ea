//! The mail a runner gets for an alert: composed from the same log entry as the WebSocket
//! frame and the push, in plain text and HTML, with a link to the race page, the
//! organizer's reason whole, and what the runner can do next (the refund choice and its
//! deadline, in the event's zone).

use entities::event::{self, EventStatus};
use entities::refund_request::{RefundOption, RefundStatus};

use super::{Notice, NoticeMessage, RefundDecisionMessage, StatusChangeMessage, TimeZone};

/// A composed alert mail, without its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertMail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The mail for `notice` to a runner called `runner_name`; `event` is the event as it is
/// now (for the refund deadline). `None` for a notice that is not mailed.
pub fn compose(
    notice: &Notice,
    event: Option<&event::Model>,
    runner_name: &str,
    public_url: &str,
) -> Option<AlertMail> {
    let base = public_url.trim_end_matches('/');
    let paragraphs = match &notice.message {
        NoticeMessage::StatusChange(message) => status_change(message, event, base),
        NoticeMessage::RefundDecision(message) => refund_decision(message, event, base),
        NoticeMessage::Unreadable(_) => return None,
    };
    let (subject, lines, link) = paragraphs;
    let greeting = format!("Dear {runner_name},");
    let footer = "You receive this because you are registered for this race. \
                  This message was sent automatically; replies are not read.";
    let mut text = format!("{greeting}\n\n");
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><body><p>{}</p>",
        escape(&greeting)
    );
    for line in &lines {
        text.push_str(line);
        text.push_str("\n\n");
        html.push_str(&format!("<p>{}</p>", escape(line)));
    }
    text.push_str(&format!("{link}\n\n-- \n{footer}\n"));
    html.push_str(&format!(
        "<p><a href=\"{0}\">{0}</a></p><hr><p><small>{1}</small></p></body></html>",
        escape(&link),
        escape(footer)
    ));
    Some(AlertMail {
        subject,
        text,
        html,
    })
}

type Parts = (String, Vec<String>, String);

fn status_change(message: &StatusChangeMessage, event: Option<&event::Model>, base: &str) -> Parts {
    let zone = TimeZone::parse(&message.time_zone).ok();
    let when = |at| match zone {
        Some(zone) => format!(
            "{} ({})",
            zone.local(at).format("%-d %B %Y, %H:%M"),
            message.time_zone
        ),
        None => at.format("%-d %B %Y, %H:%M UTC").to_string(),
    };
    let name = &message.event_name;
    let (subject, what) = match message.status {
        EventStatus::Cancelled => (
            format!("{name} is cancelled"),
            format!(
                "{name}, planned for {}, is cancelled.",
                when(message.starts_at)
            ),
        ),
        EventStatus::Suspended => (
            format!("{name} is suspended"),
            format!(
                "{name}, planned for {}, is suspended. We will write again as soon as it is decided.",
                when(message.starts_at)
            ),
        ),
        EventStatus::Rescheduled => (
            format!("{name} moves to {}", when(message.starts_at)),
            format!("{name} moves to a new start: {}.", when(message.starts_at)),
        ),
        EventStatus::Scheduled => (
            format!("{name} is on again"),
            format!("{name} is on again: start {}.", when(message.starts_at)),
        ),
        EventStatus::Completed => (format!("{name} is over"), format!("{name} is over.")),
    };
    let mut lines = vec![what, format!("The organizer says: {}", message.reason)];
    let deadline = event.and_then(|e| e.refund_deadline);
    match (message.status, deadline) {
        (EventStatus::Cancelled | EventStatus::Rescheduled, Some(deadline)) => {
            lines.push(format!(
                "What you can do: on the race page, choose a full refund of your fee, or keep \
                 your starter kit and give the rest to charity. Applications close at the end \
                 of {} ({}).",
                deadline.format("%-d %B %Y"),
                message.time_zone
            ));
        }
        (EventStatus::Cancelled, None) => lines.push(
            "No refund is offered for this race; the race page says what happens next.".into(),
        ),
        _ => lines.push("The race page has the details.".into()),
    }
    (
        subject,
        lines,
        format!("{base}/events/{}", message.event_slug),
    )
}

fn refund_decision(
    message: &RefundDecisionMessage,
    event: Option<&event::Model>,
    base: &str,
) -> Parts {
    let name = &message.event_name;
    let option = match message.option {
        RefundOption::FullRefund => "a full refund",
        RefundOption::KitAndDonate => "your starter kit and a donation to charity",
    };
    let outcome = match message.status {
        RefundStatus::Approved => "approved",
        RefundStatus::Rejected => "declined",
        RefundStatus::Paid => "paid",
        _ => "updated",
    };
    let mut lines = vec![format!("Your request for {option} ({name}) is {outcome}.")];
    if let Some(note) = &message.note {
        lines.push(format!("The organizer says: {note}"));
    }
    let link = match event {
        Some(event) => format!("{base}/events/{}", event.slug),
        None => format!("{base}/"),
    };
    (
        format!("{name}: your refund request is {outcome}"),
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
