//! The Money output type and input.

use async_graphql::{InputObject, SimpleObject};

use super::codes::CurrencyCode;
use race_office::domain;
use race_office::error::ApiError;

/// An exact amount: `amount` is a decimal string in major units ("12500.00"), safe where
/// a 32-bit Int would overflow; `currency` is the ISO 4217 code. Stored as integer minor
/// units, so no rounding ever happens; add amounts only in the same currency.
#[derive(SimpleObject, Debug, Clone)]
pub struct Money {
    /// Decimal string in major units with the currency's minor digits, e.g. "12500.00"
    /// (KZT), "3000" (JPY); never a float.
    pub amount: String,
    /// The ISO 4217 code the amount is in.
    pub currency: CurrencyCode,
}

impl Money {
    /// From stored minor units; an unknown stored currency is shown as-is in minor units.
    pub fn from_minor(minor: i64, currency: &str) -> Self {
        Self::from_total(i128::from(minor), currency)
    }

    /// From a total in minor units, which may exceed an i64 (many bounded amounts).
    pub fn from_total(minor: i128, currency: &str) -> Self {
        match domain::Currency::parse(currency) {
            Ok(c) => Self {
                amount: domain::format_minor(minor, c.exponent()),
                currency: CurrencyCode(c.code().into()),
            },
            Err(_) => Self {
                amount: minor.to_string(),
                currency: CurrencyCode(currency.into()),
            },
        }
    }
}

/// An amount given by an organizer: a fee, a target, a gift.
#[derive(InputObject, Debug, Clone)]
#[graphql(name = "MoneyInput")]
pub struct MoneyInput {
    /// Decimal string in major units, e.g. "12500.00": not negative, with at most as
    /// many decimals as the currency has minor digits, and at most 10^15 minor units
    /// (BAD_USER_INPUT otherwise).
    pub amount: String,
    /// The ISO 4217 code the amount is in.
    pub currency: CurrencyCode,
}

impl MoneyInput {
    pub fn parse(&self) -> Result<domain::Money, ApiError> {
        domain::Money::parse(&self.amount, &self.currency.0)
    }
}
