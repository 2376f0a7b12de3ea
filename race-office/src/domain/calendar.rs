//! Dates and instants from outside, bounded to the years 1900 through 2199.
//!
//! Why those years: the oldest living runner was born after 1900, and no race, refund
//! deadline or key expiry is planned past 2199. Both ends are far inside what chrono holds
//! (years -262143 to 262142) and what PostgreSQL stores (timestamps 4713 BC to 294276 AD),
//! so the date arithmetic done on them (the day after a deadline, ages on race day, local
//! offsets) can never leave either range and fail as INTERNAL.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::error::ApiError;

pub const FIRST_YEAR: i32 = 1900;
pub const LAST_YEAR: i32 = 2199;

fn check_year(field: &str, year: i32) -> Result<(), ApiError> {
    if !(FIRST_YEAR..=LAST_YEAR).contains(&year) {
        return Err(ApiError::bad_input(format!(
            "{field} must be in the years {FIRST_YEAR} to {LAST_YEAR}"
        )));
    }
    Ok(())
}

/// A calendar date in the years 1900 to 2199.
pub fn check_date(field: &str, date: NaiveDate) -> Result<NaiveDate, ApiError> {
    check_year(field, date.year())?;
    Ok(date)
}

/// An instant in the years 1900 to 2199 (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(DateTime<Utc>);

impl Instant {
    pub fn parse(field: &str, at: DateTime<Utc>) -> Result<Self, ApiError> {
        check_year(field, at.year())?;
        Ok(Self(at))
    }

    /// An optional instant, checked when present.
    pub fn optional(field: &str, at: Option<DateTime<Utc>>) -> Result<Option<Self>, ApiError> {
        at.map(|at| Self::parse(field, at)).transpose()
    }

    pub fn get(self) -> DateTime<Utc> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_bounded_to_a_sane_range() {
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert!(check_date("birthDate", date(1900, 1, 1)).is_ok());
        assert!(check_date("deadline", date(2199, 12, 31)).is_ok());
        for far in [
            date(1899, 12, 31),
            date(2200, 1, 1),
            NaiveDate::MAX,
            NaiveDate::MIN,
        ] {
            let err = check_date("deadline", far).unwrap_err();
            assert_eq!(err.code(), "BAD_USER_INPUT", "{far}");
        }
    }

    #[test]
    fn instants_are_bounded_to_the_same_range() {
        assert!(Instant::parse("startsAt", DateTime::<Utc>::MAX_UTC).is_err());
        assert!(Instant::parse("startsAt", DateTime::<Utc>::MIN_UTC).is_err());
        assert!(Instant::parse("startsAt", DateTime::<Utc>::UNIX_EPOCH).is_ok());
        assert_eq!(
            Instant::optional("startsFrom", None).map_err(|e| e.code()),
            Ok(None)
        );
        let at = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!(
            Instant::optional("startsFrom", Some(at))
                .map(|i| i.map(Instant::get))
                .map_err(|e| e.code()),
            Ok(Some(at))
        );
    }
}
