//! What participation statistics count: the eight dimensions a registration is grouped
//! by, its key in each (the age bracket on race day, the registration day in the event's
//! own zone), and the counter cells one registration occupies: the event's total, one
//! per dimension and one per pair of dimensions (1 + 8 + 28 = 37).
//!
//! Every path that counts (a registration, a kit moving, a refund request, the bulk
//! seed, a rebuild) derives keys with [`RunnerKeys::of`], so the maintained counters and
//! a rebuild cannot disagree about which group a runner is in.

use chrono::{DateTime, Months, NaiveDate, Utc};
use entities::refund_request::RefundOption;
use entities::registration::{Gender, StarterKit};
use entities::{event, registration};
use sea_orm::ActiveEnum as _;

mod tally;

pub use tally::{Cell, Tally};

use super::TimeZone;
use crate::error::ApiError;

/// What registrations are grouped by. The order is fixed: a pair is stored with its
/// dimensions in this order, whichever order a query names them in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    Distance,
    Gender,
    AgeGroup,
    Country,
    City,
    RegistrationDate,
    StarterKit,
    RefundOption,
}

impl Dimension {
    pub const ALL: [Self; 8] = [
        Self::Distance,
        Self::Gender,
        Self::AgeGroup,
        Self::Country,
        Self::City,
        Self::RegistrationDate,
        Self::StarterKit,
        Self::RefundOption,
    ];

    /// The code stored in `participation_count.dimension_a` / `dimension_b`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Distance => "DISTANCE",
            Self::Gender => "GENDER",
            Self::AgeGroup => "AGE_GROUP",
            Self::Country => "COUNTRY",
            Self::City => "CITY",
            Self::RegistrationDate => "REGISTRATION_DATE",
            Self::StarterKit => "STARTER_KIT",
            Self::RefundOption => "REFUND_OPTION",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.code() == code)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// The stored code of "no dimension" (the total, or the second half of a single).
pub const NO_DIMENSION: &str = "";
/// The key of a runner who did not give a detail (gender, birth date, country, city).
pub const UNKNOWN: &str = "";

/// The age brackets, youngest first, with the age each starts at.
pub const AGE_BRACKETS: [(&str, u32); 7] = [
    ("U20", 0),
    ("20-29", 20),
    ("30-39", 30),
    ("40-49", 40),
    ("50-59", 50),
    ("60-69", 60),
    ("70+", 70),
];

/// Age brackets judged on one race day: a runner is `n` or older on race day when born on
/// or before race day minus `n` years (a 29 February race day minus a non-leap number of
/// years is 28 February). Ages change when the race day does, which is why rescheduling
/// to another day rebuilds an event's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgeBrackets {
    /// Born on or before `thresholds[i]`: at least `AGE_BRACKETS[i + 1].1` years old.
    thresholds: [NaiveDate; 6],
}

impl AgeBrackets {
    pub fn on(race_day: NaiveDate) -> Self {
        let threshold = |years: u32| {
            race_day
                .checked_sub_months(Months::new(12 * years))
                .unwrap_or(NaiveDate::MIN)
        };
        Self {
            thresholds: [
                threshold(20),
                threshold(30),
                threshold(40),
                threshold(50),
                threshold(60),
                threshold(70),
            ],
        }
    }

    pub fn bracket(&self, birth_date: NaiveDate) -> &'static str {
        let older = self
            .thresholds
            .iter()
            .filter(|threshold| birth_date <= **threshold)
            .count();
        AGE_BRACKETS[older].0
    }

    /// The same rule as a SQL `CASE` over `column` (a DATE; ISO text on SQLite), for
    /// counting directly in the database: tests and the naive benchmark use it.
    pub fn sql_case(&self, column: &str) -> String {
        let mut sql = format!("CASE WHEN {column} IS NULL THEN '{UNKNOWN}'");
        for (i, threshold) in self.thresholds.iter().enumerate().rev() {
            sql.push_str(&format!(
                " WHEN {column} <= '{}' THEN '{}'",
                threshold.format("%Y-%m-%d"),
                AGE_BRACKETS[i + 1].0
            ));
        }
        sql.push_str(&format!(" ELSE '{}' END", AGE_BRACKETS[0].0));
        sql
    }
}

/// What an event contributes to a runner's keys: its race day and its zone.
#[derive(Debug, Clone, Copy)]
pub struct KeyRules {
    pub brackets: AgeBrackets,
    pub zone: chrono_tz::Tz,
}

impl KeyRules {
    pub fn for_event(event: &event::Model) -> Result<Self, ApiError> {
        let zone = TimeZone::parse(&event.time_zone)?.tz();
        Ok(Self {
            brackets: AgeBrackets::on(race_day(event.starts_at, zone)),
            zone,
        })
    }
}

/// The day a race starts on, in its own zone.
pub fn race_day(starts_at: DateTime<Utc>, zone: chrono_tz::Tz) -> NaiveDate {
    TimeZone::from(zone).date_of(starts_at)
}

/// The counted details of one registration.
#[derive(Debug, Clone, Copy)]
pub struct Counted<'a> {
    pub distance_id: i64,
    pub gender: Option<Gender>,
    pub birth_date: Option<NaiveDate>,
    pub country: Option<&'a str>,
    pub city: Option<&'a str>,
    pub registered_at: DateTime<Utc>,
    pub starter_kit: StarterKit,
    /// The option of its refund request, whatever the request's status; `None`: none filed.
    pub refund_option: Option<RefundOption>,
}

impl<'a> Counted<'a> {
    pub fn of(registration: &'a registration::Model, refund_option: Option<RefundOption>) -> Self {
        Self {
            distance_id: registration.distance_id,
            gender: registration.gender,
            birth_date: registration.birth_date,
            country: registration.country.as_deref(),
            city: registration.city.as_deref(),
            registered_at: registration.registered_at,
            starter_kit: registration.starter_kit,
            refund_option,
        }
    }
}

/// The key of `REFUND_OPTION` for a registration with no request.
pub const NO_REFUND: &str = "NONE";

/// A registration's key in each dimension, in [`Dimension::ALL`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerKeys(pub [String; 8]);

impl RunnerKeys {
    pub fn of(counted: &Counted<'_>, rules: &KeyRules) -> Self {
        Self([
            counted.distance_id.to_string(),
            counted.gender.map(|g| g.to_value()).unwrap_or_default(),
            counted
                .birth_date
                .map(|b| rules.brackets.bracket(b).to_owned())
                .unwrap_or_default(),
            counted.country.unwrap_or(UNKNOWN).to_owned(),
            counted.city.unwrap_or(UNKNOWN).to_owned(),
            TimeZone::from(rules.zone)
                .date_of(counted.registered_at)
                .format("%Y-%m-%d")
                .to_string(),
            counted.starter_kit.to_value(),
            counted
                .refund_option
                .map(|o| o.to_value())
                .unwrap_or_else(|| NO_REFUND.to_owned()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or(NaiveDate::MIN)
    }

    #[test]
    fn ages_are_judged_on_race_day() {
        let brackets = AgeBrackets::on(date("2027-09-19"));
        assert_eq!(
            brackets.bracket(date("2007-09-19")),
            "20-29",
            "20 on the day"
        );
        assert_eq!(
            brackets.bracket(date("2007-09-20")),
            "U20",
            "20 the day after"
        );
        assert_eq!(brackets.bracket(date("1957-09-19")), "70+");
        assert_eq!(brackets.bracket(date("1957-09-20")), "60-69");
        assert_eq!(brackets.bracket(date("1990-01-01")), "30-39");
        let leap = AgeBrackets::on(date("2028-02-29"));
        assert_eq!(leap.bracket(date("2008-02-29")), "20-29");
        assert_eq!(leap.bracket(date("2008-03-01")), "U20");
    }

    #[test]
    fn the_sql_case_names_the_same_thresholds() {
        let case = AgeBrackets::on(date("2027-09-19")).sql_case("birth_date");
        assert!(case.starts_with("CASE WHEN birth_date IS NULL THEN ''"));
        assert!(case.contains("WHEN birth_date <= '1957-09-19' THEN '70+'"));
        assert!(case.contains("WHEN birth_date <= '2007-09-19' THEN '20-29'"));
        assert!(case.ends_with("ELSE 'U20' END"));
    }

    fn keys(distance: &str, kit: &str) -> RunnerKeys {
        RunnerKeys(
            [
                distance,
                "MALE",
                "30-39",
                "KZ",
                "Almaty",
                "2027-05-01",
                kit,
                "NONE",
            ]
            .map(str::to_owned),
        )
    }

    #[test]
    fn a_registration_counts_in_37_cells_and_a_kit_move_in_16() {
        let mut tally = Tally::default();
        tally.add(&keys("1", "PENDING"), 1);
        let cells = tally.cells();
        assert_eq!(cells.len(), 37);
        assert_eq!(
            cells[0].0.dimension_a, NO_DIMENSION,
            "the total sorts first"
        );
        let mut sorted = cells.clone();
        sorted.sort();
        assert_eq!(cells, sorted);

        let mut moved = Tally::default();
        moved.shift(&keys("1", "PENDING"), &keys("1", "READY"));
        let cells = moved.cells();
        assert_eq!(cells.len(), 16, "8 cells with PENDING out, 8 with READY in");
        assert_eq!(cells.iter().map(|(_, d)| d).sum::<i64>(), 0);
        assert!(
            cells
                .iter()
                .all(|(c, _)| c.dimension_a == "STARTER_KIT" || c.dimension_b == "STARTER_KIT")
        );
    }
}
