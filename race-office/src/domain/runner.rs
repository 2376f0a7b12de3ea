//! A runner's details given when registering: country and city.

use super::text::ShortText;
use crate::error::ApiError;

/// The 249 officially assigned ISO 3166-1 alpha-2 codes, sorted (as the ISO 3166
/// Maintenance Agency lists them, and Debian's iso-codes and the tz database's
/// `iso3166.tab` repeat them). No user-assigned codes (`XK`, `ZZ`), no reserved ones
/// (`UK`, `EU`), no withdrawn ones (`SU`, `YU`, `AN`). A code the agency assigns later is
/// one line here.
const ISO_3166_ALPHA_2: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// An ISO 3166-1 alpha-2 country code that exists, upper-cased (`KZ`).
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
        if ISO_3166_ALPHA_2.binary_search(&code.as_str()).is_err() {
            return Err(ApiError::bad_input(
                "country must be an ISO 3166-1 alpha-2 code in use (KZ, RU, US, …)",
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
    fn the_code_table_is_sorted_two_upper_case_letters() {
        assert!(ISO_3166_ALPHA_2.windows(2).all(|w| w[0] < w[1]));
        assert!(
            ISO_3166_ALPHA_2
                .iter()
                .all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        );
    }

    #[test]
    fn country_codes_are_assigned_iso_codes() {
        assert_eq!(
            CountryCode::parse(" kz ").map(CountryCode::into_inner).ok(),
            Some("KZ".into())
        );
        for bad in [
            "", "K", "KAZ", "K1", "K\u{0}", "ÄÖ", "ZZ", "XK", "AA", "QM", "UK", "EU", "SU", "YU",
        ] {
            assert!(CountryCode::parse(bad).is_err(), "{bad}");
        }
        for good in ["KZ", "ru", "Us", "AX", "ZW", "SS", "BQ"] {
            assert!(CountryCode::parse(good).is_ok(), "{good}");
        }
        assert!(City::parse("  ").is_err());
        assert!(City::parse("\u{202e}ytamlA").is_err());
        assert_eq!(
            City::parse(" Almaty ").map(City::into_inner).ok(),
            Some("Almaty".into())
        );
    }
}
