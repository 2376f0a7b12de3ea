//! The `CountryCode` and `CurrencyCode` scalars: ISO codes that travel as plain strings
//! (`"KZ"`, `"KZT"`), checked as the scalar is read, so a code no country or currency of
//! ours has answers BAD_USER_INPUT wherever it is given, before any resolver runs. What
//! is stored is shown as it is.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

use race_office::domain;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountryCode(pub String);

/// An ISO 3166-1 alpha-2 country code in use, upper case: `KZ`, `RU`, `US`. Read in any
/// case (`kz` is `KZ`), surrounding spaces ignored; user-assigned (`XK`), reserved (`UK`)
/// and withdrawn (`SU`) codes are refused.
#[Scalar(
    name = "CountryCode",
    specified_by_url = "https://www.iso.org/iso-3166-country-codes.html"
)]
impl ScalarType for CountryCode {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => domain::CountryCode::parse(text)
                .map(|code| Self(code.into_inner()))
                .map_err(|e| InputValueError::custom(e.message())),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyCode(pub String);

/// An ISO 4217 currency code a race may charge in, upper case: `KZT`, `RUB`, `USD`,
/// `EUR`, `KGS`, `UZS`, `GBP`, `JPY`, `KRW`. Its minor unit (two decimals, none for
/// `JPY` and `KRW`) is how many decimals a `Money.amount` in it has.
#[Scalar(
    name = "CurrencyCode",
    specified_by_url = "https://www.iso.org/iso-4217-currency-codes.html"
)]
impl ScalarType for CurrencyCode {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => domain::Currency::parse(text)
                .map(|currency| Self(currency.code().to_owned()))
                .map_err(|e| InputValueError::custom(e.message())),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<T: ScalarType + async_graphql::InputType>(
        value: Value,
    ) -> Result<T, async_graphql::ServerError> {
        <T as ScalarType>::parse(value).map_err(|e| e.into_server_error(Default::default()))
    }

    #[test]
    fn country_codes_are_read_in_any_case_and_checked() {
        assert_eq!(
            read::<CountryCode>(Value::from("kz")),
            Ok(CountryCode("KZ".into()))
        );
        for bad in ["Kazakhstan", "ZZ", "UK", ""] {
            let message = read::<CountryCode>(Value::from(bad)).unwrap_err().message;
            assert!(message.contains("ISO 3166-1 alpha-2"), "{bad}: {message}");
        }
        assert!(read::<CountryCode>(Value::from(7)).is_err());
        assert_eq!(CountryCode("KZ".into()).to_value(), Value::from("KZ"));
    }

    #[test]
    fn currency_codes_are_ours_only() {
        assert_eq!(
            read::<CurrencyCode>(Value::from("KZT")),
            Ok(CurrencyCode("KZT".into()))
        );
        for bad in ["kzt", "XYZ", "TENGE", ""] {
            assert!(read::<CurrencyCode>(Value::from(bad)).is_err(), "{bad}");
        }
        // A stored code is shown as it is, whatever it is.
        assert_eq!(CurrencyCode("XTS".into()).to_value(), Value::from("XTS"));
    }
}
