//! How a cancelled race's fee is split, and how dates in a policy are judged.
//!
//! The rounding rule: the kit share is the fee times the kit percentage, rounded DOWN to
//! the minor unit; the donation is the rest. So the charity receives any fraction of a
//! tiyn, kit share plus donation is always exactly the fee, and a full refund is the fee.

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::error::ApiError;

/// A share in basis points: 0 to 10,000 (5,000 is 50%).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasisPoints(i32);

impl BasisPoints {
    pub const WHOLE: i32 = 10_000;

    pub fn parse(raw: i32) -> Result<Self, ApiError> {
        if !(0..=Self::WHOLE).contains(&raw) {
            return Err(ApiError::bad_input(
                "a share must be 0 to 10000 basis points",
            ));
        }
        Ok(Self(raw))
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

/// Where a fee goes, in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeSplit {
    pub refund: i64,
    pub kit_share: i64,
    pub donation: i64,
}

/// Splits `fee` for a full refund (`full == true`) or for kit-and-donate with the kit
/// share `kit`. Exact: see the module's rounding rule.
pub fn split_fee(fee: i64, full: bool, kit: BasisPoints) -> FeeSplit {
    if full {
        return FeeSplit {
            refund: fee,
            kit_share: 0,
            donation: 0,
        };
    }
    // i128: fee * 10,000 cannot overflow even for the largest i64 fee.
    let kit_share =
        (i128::from(fee) * i128::from(kit.get()) / i128::from(BasisPoints::WHOLE)) as i64;
    FeeSplit {
        refund: 0,
        kit_share,
        donation: fee - kit_share,
    }
}

/// Days of notice runners get to apply for a refund once an event is cancelled: its
/// deadline is never sooner than this many days after the change that sets it (the
/// cancellation itself, or a later `setRefundPolicy`), counted in the event's zone.
pub const REFUND_NOTICE_DAYS: u64 = 7;

/// The earliest deadline a change at `now` may leave a cancelled event with.
pub fn earliest_deadline(now: DateTime<Utc>, zone: Tz) -> NaiveDate {
    let today = local_date(now, zone);
    today
        .checked_add_days(Days::new(REFUND_NOTICE_DAYS))
        .unwrap_or(today)
}

/// Whether a cancelled event's refund deadline may change from `current` to `new` at
/// `now`: unchanged, or later than it was and at least [`REFUND_NOTICE_DAYS`] ahead.
/// Runners plan on the deadline they were told; moving it sooner, or removing it, would
/// take away time they counted on (and let the default outcome be applied at once).
pub fn check_deadline_after_cancellation(
    current: Option<NaiveDate>,
    new: Option<NaiveDate>,
    now: DateTime<Utc>,
    zone: Tz,
) -> Result<(), ApiError> {
    if new == current {
        return Ok(());
    }
    let Some(new) = new else {
        return Err(ApiError::bad_input(
            "the event is cancelled: its refund deadline cannot be removed",
        ));
    };
    if let Some(current) = current
        && new < current
    {
        return Err(ApiError::bad_input(format!(
            "the event is cancelled: its refund deadline can only move later than {current}"
        )));
    }
    let earliest = earliest_deadline(now, zone);
    if new < earliest {
        return Err(ApiError::bad_input(format!(
            "the refund deadline must give runners {REFUND_NOTICE_DAYS} days' notice: {earliest} or later in the event's time zone"
        )));
    }
    Ok(())
}

/// The calendar date it is now in the event's zone.
fn local_date(now: DateTime<Utc>, zone: Tz) -> NaiveDate {
    super::TimeZone::from(zone).date_of(now)
}

/// True until the last instant of `date` in `zone` (a deadline "by 31 March").
pub fn is_on_or_before_local_date(now: DateTime<Utc>, zone: Tz, date: NaiveDate) -> bool {
    local_date(now, zone) <= date
}

/// True once `date` has ended in `zone`.
pub fn is_after_local_date(now: DateTime<Utc>, zone: Tz, date: NaiveDate) -> bool {
    local_date(now, zone) > date
}

/// True from the first instant of `date` in `zone` (kits "issued from 20 April").
pub fn is_on_or_after_local_date(now: DateTime<Utc>, zone: Tz, date: NaiveDate) -> bool {
    local_date(now, zone) >= date
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Asia::Almaty;
    use proptest::prelude::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Almaty
            .with_ymd_and_hms(y, mo, d, h, mi, s)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_marathon_deadline_is_judged_in_almaty() {
        let deadline = NaiveDate::from_ymd_opt(2020, 3, 31).unwrap();
        assert!(is_on_or_before_local_date(
            at(2020, 3, 31, 23, 59, 59),
            Almaty,
            deadline
        ));
        assert!(!is_on_or_before_local_date(
            at(2020, 4, 1, 0, 0, 0),
            Almaty,
            deadline
        ));
        // 31 March 20:00 UTC is already 1 April in Almaty (UTC+6 in 2020): out.
        let utc = Utc.with_ymd_and_hms(2020, 3, 31, 20, 0, 0).unwrap();
        assert!(!is_on_or_before_local_date(utc, Almaty, deadline));
        assert!(is_after_local_date(utc, Almaty, deadline));
    }

    #[test]
    fn a_cancelled_events_deadline_only_moves_later_with_a_weeks_notice() {
        let date = |m, d| NaiveDate::from_ymd_opt(2020, m, d).unwrap();
        // 12 March 2020, 18:00 in Almaty: the earliest deadline is 19 March.
        let now = at(2020, 3, 12, 18, 0, 0);
        assert_eq!(earliest_deadline(now, Almaty), date(3, 19));
        let check = |current, new| check_deadline_after_cancellation(current, new, now, Almaty);
        assert!(
            check(Some(date(3, 31)), Some(date(3, 31))).is_ok(),
            "unchanged"
        );
        assert!(check(Some(date(3, 31)), Some(date(4, 30))).is_ok(), "later");
        assert!(check(None, Some(date(3, 19))).is_ok(), "a week's notice");
        for (current, new) in [
            (Some(date(3, 31)), Some(date(3, 30))),
            (Some(date(3, 31)), None),
            (None, Some(date(3, 18))),
            (Some(date(3, 1)), Some(date(3, 18))),
            (None, Some(NaiveDate::from_ymd_opt(2019, 5, 1).unwrap())),
        ] {
            let err = check(current, new).unwrap_err();
            assert_eq!(err.code(), "BAD_USER_INPUT", "{current:?} -> {new:?}");
        }
        // Judged in the event's zone: 12 March 20:00 UTC is already 13 March in Almaty.
        let late = Utc.with_ymd_and_hms(2020, 3, 12, 20, 0, 0).unwrap();
        assert_eq!(earliest_deadline(late, Almaty), date(3, 20));
    }

    #[test]
    fn kits_are_issued_from_the_first_instant_of_the_day() {
        let from = NaiveDate::from_ymd_opt(2020, 4, 20).unwrap();
        assert!(!is_on_or_after_local_date(
            at(2020, 4, 19, 23, 59, 59),
            Almaty,
            from
        ));
        assert!(is_on_or_after_local_date(
            at(2020, 4, 20, 0, 0, 0),
            Almaty,
            from
        ));
    }

    #[test]
    fn an_odd_fee_gives_the_odd_tiyn_to_charity() {
        let half = BasisPoints::parse(5000).unwrap();
        assert_eq!(
            split_fee(1_500_001, false, half),
            FeeSplit {
                refund: 0,
                kit_share: 750_000,
                donation: 750_001
            }
        );
        assert_eq!(
            split_fee(1_500_001, true, half),
            FeeSplit {
                refund: 1_500_001,
                kit_share: 0,
                donation: 0
            }
        );
        assert!(BasisPoints::parse(10_001).is_err());
        assert!(BasisPoints::parse(-1).is_err());
    }

    proptest! {
        #[test]
        fn a_split_is_exact_and_rounds_the_kit_share_down(fee in 0_i64..=i64::MAX / 2, bp in 0_i32..=10_000) {
            let kit = BasisPoints::parse(bp).unwrap();
            let split = split_fee(fee, false, kit);
            prop_assert_eq!(split.kit_share + split.donation, fee);
            prop_assert_eq!(split.refund, 0);
            prop_assert!(split.kit_share >= 0 && split.donation >= 0);
            // kit_share = floor(fee * bp / 10000): it is at most the exact share and
            // less than one minor unit below it.
            let exact = i128::from(fee) * i128::from(bp);
            let kit_scaled = i128::from(split.kit_share) * 10_000;
            prop_assert!(kit_scaled <= exact && exact - kit_scaled < 10_000);
        }

        #[test]
        fn a_full_refund_is_the_fee(fee in 0_i64..=i64::MAX, bp in 0_i32..=10_000) {
            let split = split_fee(fee, true, BasisPoints::parse(bp).unwrap());
            prop_assert_eq!(split, FeeSplit { refund: fee, kit_share: 0, donation: 0 });
        }
    }
}
