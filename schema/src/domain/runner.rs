//! A runner's details given when registering: country and city.

use super::text::ShortText;
use crate::error::ApiError;

/// An ISO 3166-1 alpha-2 country code, upper-cased (`KZ`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let code = raw.trim();
        // Bounded before it is upper-cased (which copies it).
        let code = if code.len() == 2 {
            code.to_ascii_uppercase()
        } else {
            String::new()
        };
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

/// A city name: one line, trimmed, 1 to 100 characters.
#[derive(Debug, Clone)]
pub struct City(ShortText);

impl City {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        ShortText::parse("city", raw, Self::MAX_CHARS).map(Self)
    }

    pub fn into_inner(self) -> String {
        self.0.into_inner()
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
        for bad in ["", "K", "KAZ", "K1", "K\u{0}", "ÄÖ"] {
            assert!(CountryCode::parse(bad).is_err(), "{bad}");
        }
        assert!(City::parse("  ").is_err());
        assert!(City::parse("\u{202e}ytamlA").is_err());
        assert_eq!(
            City::parse(" Almaty ").map(City::into_inner).ok(),
            Some("Almaty".into())
        );
    }
}
