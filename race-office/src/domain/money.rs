//! Money in integer minor units with its ISO 4217 currency. Never a float: the GraphQL
//! amount is a decimal string in major units ("12500.00").
//!
//! Every amount from outside is at most [`Money::MAX_MINOR`] = 10^15 minor units (KZT
//! 10,000,000,000,000.00; 10^15 yen): some thousand times the largest budget a race
//! could have, and a thousand times below i64::MAX (about 9.22 x 10^18), so that a
//! thousand amounts always sum within a 64-bit integer. That is what lets the database
//! add donations in buckets of a thousand without overflowing (see
//! `services::charity::donation_sums`); the buckets, and any other total, are added in
//! i128.

use crate::error::ApiError;

/// A currency code with the number of minor-unit digits it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    code: [u8; 3],
    exponent: u32,
}

/// Currencies a race may charge in, with their minor-unit digits (ISO 4217).
const KNOWN: &[(&str, u32)] = &[
    ("KZT", 2),
    ("USD", 2),
    ("EUR", 2),
    ("RUB", 2),
    ("KGS", 2),
    ("UZS", 2),
    ("GBP", 2),
    ("JPY", 0),
    ("KRW", 0),
];

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        if raw.len() != 3 {
            return Err(ApiError::bad_input(
                "currency must be a three-letter ISO 4217 code",
            ));
        }
        KNOWN
            .iter()
            .find(|(code, _)| *code == raw)
            .and_then(|(code, exponent)| {
                let bytes: [u8; 3] = code.as_bytes().try_into().ok()?;
                Some(Self {
                    code: bytes,
                    exponent: *exponent,
                })
            })
            .ok_or_else(|| ApiError::bad_input(format!("unsupported currency: {raw}")))
    }

    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    pub fn exponent(&self) -> u32 {
        self.exponent
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    /// The largest amount accepted from outside, in minor units: see the module header.
    pub const MAX_MINOR: i64 = 1_000_000_000_000_000;

    /// Parses a non-negative decimal amount in major units, with at most as many decimals
    /// as the currency has minor digits, and at most [`Self::MAX_MINOR`].
    pub fn parse(amount: &str, currency: &str) -> Result<Self, ApiError> {
        let currency = Currency::parse(currency)?;
        // Twenty digits and a point say more than the maximum can; refuse longer unread.
        if amount.len() > 24 {
            return Err(Self::too_large(currency));
        }
        let invalid = || {
            ApiError::bad_input(format!(
                "amount must be a non-negative decimal with at most {} decimals",
                currency.exponent
            ))
        };
        let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
        let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || !digits_only(whole)
            || !digits_only(fraction)
            || fraction.len() > currency.exponent as usize
            || (amount.contains('.') && fraction.is_empty())
        {
            return Err(invalid());
        }
        let scale = 10_i64.pow(currency.exponent);
        // Only digits by now: a whole part that does not parse is too large for an i64.
        let whole: i64 = whole.parse().map_err(|_| Self::too_large(currency))?;
        let padded = format!("{fraction:0<width$}", width = currency.exponent as usize);
        let fraction: i64 = if padded.is_empty() {
            0
        } else {
            padded.parse().map_err(|_| invalid())?
        };
        let minor = whole
            .checked_mul(scale)
            .and_then(|m| m.checked_add(fraction))
            .filter(|minor| *minor <= Self::MAX_MINOR)
            .ok_or_else(|| Self::too_large(currency))?;
        Ok(Self { minor, currency })
    }

    fn too_large(currency: Currency) -> ApiError {
        ApiError::bad_input(format!(
            "amount must be at most {} {}",
            format_minor(i128::from(Self::MAX_MINOR), currency.exponent),
            currency.code()
        ))
    }

    /// The amount as a decimal string in major units: 1250000 tiyn is "12500.00".
    pub fn amount(&self) -> String {
        format_minor(i128::from(self.minor), self.currency.exponent)
    }
}

/// `minor` units as a decimal string with `exponent` decimals: (1250000, 2) is
/// "12500.00". Takes i128 so that totals past i64 print exactly too.
pub fn format_minor(minor: i128, exponent: u32) -> String {
    if exponent == 0 {
        return minor.to_string();
    }
    let scale = 10_u128.pow(exponent);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = exponent as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_trip_in_minor_units() {
        let fee = Money::parse("12500", "KZT").ok();
        assert_eq!(fee.map(|m| m.minor), Some(1_250_000));
        assert_eq!(fee.map(|m| m.amount()), Some("12500.00".to_owned()));
        assert_eq!(Money::parse("0.5", "KZT").map(|m| m.minor).ok(), Some(50));
        assert_eq!(
            Money::parse("3000", "JPY").map(|m| m.amount()).ok(),
            Some("3000".to_owned())
        );
    }

    #[test]
    fn thirty_five_million_tenge_does_not_overflow() {
        let total = Money::parse("35000000.00", "KZT").ok();
        assert_eq!(total.map(|m| m.minor), Some(3_500_000_000));
        assert_eq!(total.map(|m| m.amount()), Some("35000000.00".to_owned()));
    }

    #[test]
    fn malformed_amounts_and_currencies_are_refused() {
        for bad in [
            "",
            "-1",
            "1.234",
            "1.",
            ".5",
            "1e3",
            "12 500",
            "99999999999999999999",
        ] {
            assert!(Money::parse(bad, "KZT").is_err(), "{bad}");
        }
        assert!(Money::parse("1", "kzt").is_err());
        assert!(Money::parse("1", "XYZ").is_err());
        assert!(Money::parse("1.5", "JPY").is_err());
        assert!(Money::parse("1", "KZTKZT").is_err());
        assert!(Money::parse(&"1".repeat(100_000), "KZT").is_err());
    }

    #[test]
    fn amounts_are_bounded_well_below_overflow() {
        let max = Money::parse("10000000000000.00", "KZT").ok();
        assert_eq!(max.map(|m| m.minor), Some(Money::MAX_MINOR));
        for over in [
            "10000000000000.01",
            "92233720368547758.07",
            "99999999999999999",
        ] {
            let err = Money::parse(over, "KZT").unwrap_err();
            assert_eq!(
                err.message(),
                "amount must be at most 10000000000000.00 KZT",
                "{over}"
            );
        }
        assert!(Money::parse("1000000000000000", "JPY").is_ok());
        assert!(Money::parse("1000000000000001", "JPY").is_err());
        // A thousand maximal amounts still fit in an i64: the bucket rule's premise.
        assert!(Money::MAX_MINOR.checked_mul(1000).is_some());
    }

    #[test]
    fn totals_past_i64_print_exactly() {
        let total = i128::from(Money::MAX_MINOR) * 9_301;
        assert_eq!(format_minor(total, 2), "93010000000000000.00");
        assert_eq!(
            format_minor(i128::from(i64::MAX) * 2, 0),
            "18446744073709551614"
        );
        assert_eq!(format_minor(-2, 2), "-0.02");
        assert_eq!(format_minor(5, 2), "0.05");
    }
}
