//! Event inputs and the lifecycle rule: which status may follow which.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};

use entities::event::EventStatus;

use super::text::{LongText, ShortText, check_characters};
use crate::error::ApiError;

/// A URL-safe event or organization handle: lower-case letters, digits and inner hyphens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let ok = (2..=80).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-');
        if !ok {
            return Err(ApiError::bad_input(
                "slug must be 2 to 80 lower-case letters, digits or inner hyphens",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An IANA time zone name that the tz database knows (`Asia/Almaty`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(chrono_tz::Tz);

impl From<chrono_tz::Tz> for TimeZone {
    fn from(zone: chrono_tz::Tz) -> Self {
        Self(zone)
    }
}

impl TimeZone {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        // The longest IANA name is 32 characters; anything longer is not echoed back.
        if raw.len() > 64 {
            return Err(ApiError::bad_input("timeZone is not an IANA time zone"));
        }
        check_characters("timeZone", raw, false)?;
        chrono_tz::Tz::from_str(raw)
            .map(Self)
            .map_err(|_| ApiError::bad_input(format!("unknown IANA time zone: {raw}")))
    }

    pub fn tz(self) -> chrono_tz::Tz {
        self.0
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// `at` as the clock on the wall there shows it.
    pub fn local(self, at: DateTime<Utc>) -> DateTime<chrono_tz::Tz> {
        at.with_timezone(&self.0)
    }

    /// The calendar date `at` falls on there: deadlines, race days and "registered on"
    /// are all judged by it.
    pub fn date_of(self, at: DateTime<Utc>) -> NaiveDate {
        self.local(at).date_naive()
    }

    /// The last instant of `date` there, in UTC (a deadline "by 31 March" ends at
    /// 23:59:59 local time).
    pub fn end_of(self, date: NaiveDate) -> Option<DateTime<Utc>> {
        let next_day = date.succ_opt()?.and_hms_opt(0, 0, 0)?;
        let start_of_next = next_day.and_local_timezone(self.0).earliest()?;
        Some(start_of_next.with_timezone(&Utc) - chrono::Duration::seconds(1))
    }
}

/// `at` in the zone named `zone`, RFC 3339 with the local offset (UTC if the name is not a
/// zone we know: a stored event always has a valid one).
pub fn local_rfc3339(at: DateTime<Utc>, zone: &str) -> String {
    match TimeZone::parse(zone) {
        Ok(tz) => tz.local(at).to_rfc3339(),
        Err(_) => at.to_rfc3339(),
    }
}

/// An event name: one line, trimmed, 1 to 200 characters.
#[derive(Debug, Clone)]
pub struct EventName(ShortText);

impl EventName {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        ShortText::parse("name", raw, 200).map(Self)
    }

    pub fn into_inner(self) -> String {
        self.0.into_inner()
    }
}

/// Why an event's status changed: runners read it in their alert, so it is required;
/// it may run over lines.
#[derive(Debug, Clone)]
pub struct Reason(LongText);

impl Reason {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        LongText::parse_required("reason", raw, 1000).map(Self)
    }

    pub fn into_inner(self) -> String {
        self.0.into_inner()
    }
}

/// Whether an event may move from `from` to `to`.
///
/// CANCELLED and COMPLETED are final. RESCHEDULED may repeat (each time with a new start);
/// any other status may not be set again. A suspended event resumes as SCHEDULED.
pub fn check_transition(from: EventStatus, to: EventStatus) -> Result<(), ApiError> {
    use EventStatus::*;
    let allowed = match from {
        Cancelled | Completed => false,
        Scheduled => matches!(to, Suspended | Cancelled | Rescheduled | Completed),
        Suspended => matches!(to, Scheduled | Cancelled | Rescheduled),
        Rescheduled => matches!(
            to,
            Scheduled | Suspended | Cancelled | Rescheduled | Completed
        ),
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::InvalidStatusTransition(format!(
            "an event that is {} cannot become {}",
            status_name(from),
            status_name(to)
        )))
    }
}

fn status_name(status: EventStatus) -> &'static str {
    match status {
        EventStatus::Scheduled => "SCHEDULED",
        EventStatus::Suspended => "SUSPENDED",
        EventStatus::Cancelled => "CANCELLED",
        EventStatus::Rescheduled => "RESCHEDULED",
        EventStatus::Completed => "COMPLETED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    #[test]
    fn final_statuses_accept_nothing() {
        for to in EventStatus::iter() {
            assert!(check_transition(EventStatus::Cancelled, to).is_err());
            assert!(check_transition(EventStatus::Completed, to).is_err());
        }
    }

    #[test]
    fn only_rescheduling_may_repeat() {
        for status in EventStatus::iter() {
            assert_eq!(
                check_transition(status, status).is_ok(),
                status == EventStatus::Rescheduled
            );
        }
    }

    #[test]
    fn a_suspended_race_resumes_or_is_cancelled() {
        assert!(check_transition(EventStatus::Suspended, EventStatus::Scheduled).is_ok());
        assert!(check_transition(EventStatus::Suspended, EventStatus::Cancelled).is_ok());
        assert!(check_transition(EventStatus::Suspended, EventStatus::Completed).is_err());
    }

    #[test]
    fn slugs_and_zones_are_checked() {
        assert!(Slug::parse("almaty-marathon-2020").is_ok());
        for bad in ["A", "-x", "x-", "Almaty", "a b", "a_b"] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            TimeZone::parse("Asia/Almaty").map(TimeZone::name).ok(),
            Some("Asia/Almaty")
        );
        assert!(TimeZone::parse("Mars/Olympus").is_err());
        assert!(TimeZone::parse("Asia/Almaty\u{0}").is_err());
        assert!(TimeZone::parse(&"A".repeat(100_000)).is_err());
    }

    #[test]
    fn names_are_one_line_and_reasons_may_have_lines() {
        assert!(EventName::parse("Almaty Marathon 2020").is_ok());
        assert!(EventName::parse("Almaty\nMarathon").is_err());
        assert!(EventName::parse(&"n".repeat(201)).is_err());
        assert_eq!(
            Reason::parse(" Banned.\nSee the decree. ")
                .map(Reason::into_inner)
                .ok(),
            Some("Banned.\nSee the decree.".into())
        );
        assert!(Reason::parse("  ").is_err());
        assert!(Reason::parse("Ban\u{0}").is_err());
    }
}
