//! Money in integer minor units with its ISO 4217 currency. Never a float: the GraphQL
//! amount is a decimal string in major units ("12500.00").

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
    /// Parses a non-negative decimal amount in major units, with at most as many decimals
    /// as the currency has minor digits.
    pub fn parse(amount: &str, currency: &str) -> Result<Self, ApiError> {
        let currency = Currency::parse(currency)?;
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
        let whole: i64 = whole.parse().map_err(|_| invalid())?;
        let padded = format!("{fraction:0<width$}", width = currency.exponent as usize);
        let fraction: i64 = if padded.is_empty() {
            0
        } else {
            padded.parse().map_err(|_| invalid())?
        };
        let minor = whole
            .checked_mul(scale)
            .and_then(|m| m.checked_add(fraction))
            .ok_or_else(invalid)?;
        Ok(Self { minor, currency })
    }

    /// The amount as a decimal string in major units: 1250000 tiyn is "12500.00".
    pub fn amount(&self) -> String {
        let exponent = self.currency.exponent;
        if exponent == 0 {
            return self.minor.to_string();
        }
        let scale = 10_i64.pow(exponent);
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        let scale = scale as u64;
        format!(
            "{sign}{}.{:0width$}",
            abs / scale,
            abs % scale,
            width = exponent as usize
        )
    }
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
    }
}
