//! The `Date` scalar: a calendar date, `YYYY-MM-DD`, with no time zone of its own (a
//! policy date is read in the event's zone), in the years 1900 to 2199 (see
//! `domain::calendar`): a date outside them is refused as the scalar is read, so it
//! answers BAD_USER_INPUT wherever it is given.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;

use race_office::domain::{FIRST_YEAR, LAST_YEAR, check_date};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

/// A calendar date with no time of day or zone, as an RFC 3339 full-date string
/// `YYYY-MM-DD` (e.g. `2020-03-31`), in the years 1900 to 2199. A policy date (a refund
/// deadline, the first kit-issue day) is read in the event's time zone: a deadline holds
/// until 23:59:59 there.
#[Scalar(
    name = "Date",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339#section-5.6"
)]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => {
                let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map_err(|_| InputValueError::custom("a Date is written YYYY-MM-DD"))?;
                check_date("a Date", date).map(Date).map_err(|_| {
                    InputValueError::custom(format!(
                        "a Date is in the years {FIRST_YEAR} to {LAST_YEAR}"
                    ))
                })
            }
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_far_from_now_are_not_dates() {
        let parse = |text: &str| <Date as ScalarType>::parse(Value::String(text.into()));
        assert_eq!(
            parse("2020-03-31").ok(),
            NaiveDate::from_ymd_opt(2020, 3, 31).map(Date)
        );
        for far in [
            "+262142-12-31",
            "-262143-01-01",
            "9999-12-31",
            "1899-12-31",
            "2200-01-01",
        ] {
            assert!(parse(far).is_err(), "{far}");
        }
    }
}
