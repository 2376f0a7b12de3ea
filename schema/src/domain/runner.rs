//! A runner's details given when registering: country and city.

use crate::error::ApiError;

/// An ISO 3166-1 alpha-2 country code, upper-cased (`KZ`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let code = raw.trim().to_ascii_uppercase();
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ApiError::bad_input(
                "country must be a two-letter ISO 3166-1 code",
            ));
        }
        Ok(Self(code))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A city name: trimmed, 1 to 100 characters.
#[derive(Debug, Clone)]
pub struct City(String);

impl City {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let city = raw.trim();
        if city.is_empty() || city.chars().count() > 100 || city.chars().any(char::is_control) {
            return Err(ApiError::bad_input(
                "city must be 1 to 100 printable characters",
            ));
        }
        Ok(Self(city.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_codes_are_two_letters() {
        assert_eq!(
            CountryCode::parse(" kz ").map(CountryCode::into_inner).ok(),
            Some("KZ".into())
        );
        for bad in ["", "K", "KAZ", "K1"] {
            assert!(CountryCode::parse(bad).is_err(), "{bad}");
        }
        assert!(City::parse("  ").is_err());
        assert_eq!(
            City::parse(" Almaty ").map(City::into_inner).ok(),
            Some("Almaty".into())
        );
    }
}
