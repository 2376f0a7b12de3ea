//! Event inputs and the lifecycle rule: which status may follow which.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};

use entities::event::{EventStatus, RegistrationState};

use super::text::{LongText, ShortText, check_characters};
use crate::error::ApiError;

/// The most distances one event may have: a trail festival has a dozen. Lists are priced
/// by their maximum before a query runs, so this bound is part of every query's cost.
pub const MAX_DISTANCES_PER_EVENT: usize = 30;

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

/// The zone an event's times are shown in and its deadlines judged in. Its name was
/// validated when the event was written; this is the one place it is read back.
pub fn event_zone(event: &entities::event::Model) -> Result<TimeZone, ApiError> {
    TimeZone::parse(&event.time_zone)
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
    /// The longest reason, in characters; its translations have the same bound.
    pub const MAX_CHARS: usize = 1000;

    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        LongText::parse_required("reason", raw, Self::MAX_CHARS).map(Self)
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

/// A start an organizer gives (a new event, a reschedule) lies in the future: runners
/// register and pay for it, and a reschedule is announced to them.
pub fn check_future_start(starts_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), ApiError> {
    if starts_at <= now {
        return Err(ApiError::bad_input("startsAt must be in the future"));
    }
    Ok(())
}

/// [`check_transition`] at `now` for an event that starts at `starts_at`: once the start
/// has passed, the race has happened or has not, so it may only be completed or cancelled
/// after the fact (with its reason); suspending, resuming or rescheduling it is refused.
pub fn check_transition_at(
    from: EventStatus,
    to: EventStatus,
    starts_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    check_transition(from, to)?;
    if now >= starts_at && !matches!(to, EventStatus::Cancelled | EventStatus::Completed) {
        return Err(ApiError::InvalidStatusTransition(format!(
            "the event started at {}: it can only be cancelled or completed now, not become {}",
            starts_at.to_rfc3339(),
            status_name(to)
        )));
    }
    Ok(())
}

/// Registration as it stands at `now`: it closes by itself at the start, whatever state
/// is stored.
pub fn registration_at(
    stored: RegistrationState,
    starts_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> RegistrationState {
    if now >= starts_at {
        RegistrationState::Closed
    } else {
        stored
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

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
    }

    #[test]
    fn a_start_given_lies_in_the_future() {
        let now = at("2026-12-01T12:00:00Z");
        assert!(check_future_start(at("2026-12-01T12:00:01Z"), now).is_ok());
        for past in [
            "2026-12-01T12:00:00Z",
            "1999-04-18T03:00:00Z",
            "2001-01-01T00:00:00Z",
        ] {
            let err = check_future_start(at(past), now).unwrap_err();
            assert_eq!(err.code(), "BAD_USER_INPUT", "{past}");
        }
    }

    #[test]
    fn a_started_event_may_only_be_cancelled_or_completed() {
        let starts = at("2027-04-18T03:00:00Z");
        let before = at("2027-04-18T02:59:59Z");
        for from in EventStatus::iter() {
            for to in EventStatus::iter() {
                let allowed = check_transition(from, to).is_ok();
                assert_eq!(
                    check_transition_at(from, to, starts, before).is_ok(),
                    allowed
                );
                let after_start =
                    allowed && matches!(to, EventStatus::Cancelled | EventStatus::Completed);
                let at_start = check_transition_at(from, to, starts, starts);
                assert_eq!(at_start.is_ok(), after_start, "{from:?} -> {to:?}");
                if let Err(err) = at_start {
                    assert_eq!(err.code(), "INVALID_STATUS_TRANSITION");
                }
            }
        }
    }

    #[test]
    fn registration_closes_by_itself_at_the_start() {
        let starts = at("2027-04-18T03:00:00Z");
        for stored in RegistrationState::iter() {
            assert_eq!(
                registration_at(stored, starts, at("2027-04-18T02:59:59Z")),
                stored
            );
            assert_eq!(
                registration_at(stored, starts, starts),
                RegistrationState::Closed
            );
        }
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
