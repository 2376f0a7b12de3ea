//! The demo's upcoming race as a seed run today names it. The seed picks its year with
//! `race_office::services::demo::next_race_year` (2027 until 24 March 2027, then 2028, …),
//! so the tests and load tools ask the same function instead of writing the year down.
//! What moves with it: the slug and name, race day (18 April, 08:00 in Almaty, 03:00 UTC),
//! the refund deadline (31 March) and the first day of kit issue (12 April).

use chrono::Utc;
use race_office::services::demo::{next_race_slug, next_race_year};

/// The year of the demo's upcoming race, for a seed run now.
pub fn marathon_year() -> i32 {
    next_race_year(Utc::now())
}

/// The slug of the demo's upcoming race (`almaty-marathon-2027` until 24 March 2027).
pub fn marathon() -> String {
    next_race_slug(Utc::now())
}

/// The name of the demo's upcoming race (`Almaty Marathon 2027` until 24 March 2027).
pub fn marathon_name() -> String {
    format!("Almaty Marathon {}", marathon_year())
}

/// A day of the upcoming race's year as a GraphQL `Date` (`2027-03-31` for `(3, 31)`).
pub fn marathon_date(month: u32, day: u32) -> String {
    format!("{}-{month:02}-{day:02}", marathon_year())
}

/// The upcoming race's start as the gateway prints it: 18 April of its year at 08:00 in
/// Almaty, `2027-04-18T03:00:00+00:00`.
pub fn marathon_starts_at() -> String {
    format!("{}T03:00:00+00:00", marathon_date(4, 18))
}
