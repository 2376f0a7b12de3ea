//! Account inputs: email, password and display name.

use super::text::{ShortText, check_characters, is_visible};
use crate::error::ApiError;

/// An email address as RFC 5321 mailboxes are written by people: a dot-atom local part
/// and a host name of at least two labels, trimmed and lower-cased so that uniqueness
/// ignores case. The grammar is the `email_address` crate's, configured strictly (no
/// display text, no address literal such as `a@[127.0.0.1]`); on top of it we refuse quoted
/// local parts (`"a b"@x.kz`), which the crate allows but no mail service hands out and
/// which only serve to smuggle spaces and `@` into an address. Deliverability is proven
/// by the reset mail, not here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_BYTES: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let invalid = || ApiError::bad_input("email is not a valid address");
        let trimmed = raw.trim();
        // Bounded before it is lower-cased (which copies it) or parsed.
        if trimmed.is_empty() || trimmed.len() > Self::MAX_BYTES {
            return Err(invalid());
        }
        let email = trimmed.to_lowercase();
        // Lower-casing may grow a string (İ becomes two characters).
        if email.len() > Self::MAX_BYTES {
            return Err(invalid());
        }
        let strict = email_address::Options::default()
            .with_required_tld()
            .without_domain_literal()
            .without_display_text();
        let parsed = email_address::EmailAddress::parse_with_options(&email, strict)
            .map_err(|_| invalid())?;
        // The crate takes any non-ASCII character as text (RFC 6532); a bidi override, a
        // zero-width space or a control character is not one a person can read or type.
        if parsed.local_part().starts_with('"') || !email.chars().all(is_visible) {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: long enough to resist guessing, short enough to bound hashing work,
/// free of control characters (no keyboard types them; spaces are kept as typed), and not
/// among the most common: zxcvbn (Dropbox's estimator, with its lists of common passwords,
/// words, names and keyboard patterns) must put it beyond a million guesses (score 2 of 4
/// or more). `password12`, ten spaces and `qwertyuiop` are long enough and refused.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 128;
    /// zxcvbn's score 2: more than 10^6 guesses, which an online attacker held to a few
    /// tries a minute per account cannot make.
    pub const MIN_STRENGTH: zxcvbn::Score = zxcvbn::Score::Two;
    /// Words of this site an attacker tries first.
    const SITE_WORDS: [&str; 4] = ["almaty", "marathon", "gateway", "runner"];

    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let chars = raw.chars().count();
        if raw.len() > 4 * Self::MAX_CHARS || !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&chars)
        {
            return Err(ApiError::bad_input(format!(
                "password must be {} to {} characters",
                Self::MIN_CHARS,
                Self::MAX_CHARS
            )));
        }
        check_characters("password", raw, false)?;
        let strength = zxcvbn::zxcvbn(raw, &Self::SITE_WORDS);
        if strength.score() < Self::MIN_STRENGTH {
            let why = strength
                .feedback()
                .and_then(|f| f.warning())
                .map(|w| format!(" ({})", w.to_string().trim_end_matches('.').to_lowercase()))
                .unwrap_or_default();
            return Err(ApiError::bad_input(format!(
                "password is among the most common or too easy to guess{why}: choose a longer \
                 one, a few unrelated words for instance"
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The name shown to organizers: one line, trimmed, 1 to 100 characters.
#[derive(Debug, Clone)]
pub struct DisplayName(ShortText);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        ShortText::parse("displayName", raw, 100).map(Self)
    }

    pub fn into_inner(self) -> String {
        self.0.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Runner@Example.KZ ").map(|e| e.0).ok(),
            Some("runner@example.kz".into())
        );
        for bad in [
            "",
            "runner",
            "@example.kz",
            "runner@",
            "runner@kz",
            "a b@example.kz",
            "a@b@c.kz",
            "a@.kz",
            "a\u{0}@b.kz",
            "a\u{202e}@b.kz",
            "a\u{85}b@c.kz",
            "a\u{200b}@b.kz",
            // Quoted local parts and address literals, though RFC 5322 has them.
            "\"a b\"@x.kz",
            "\"ab\"@x.kz",
            "a\"b@x.kz",
            "\"a@b\"@x.kz",
            "a@[127.0.0.1]",
            "a@[ipv6:::1]",
            // Display text, comments, dots out of place.
            "Runner <runner@example.kz>",
            "runner(comment)@example.kz",
            ".a@b.kz",
            "a.@b.kz",
            "a..b@c.kz",
            "a@b..kz",
            "a@-b.kz",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
        assert!(Email::parse(&format!("{}@example.kz", "a".repeat(300))).is_err());
        assert!(Email::parse(&format!("{}@example.kz", "a".repeat(65))).is_err());
        for good in [
            "first.last@example.kz",
            "runner+almaty@mail.example.kz",
            "o'brien@example.ie",
            "a@b.kz",
        ] {
            assert!(Email::parse(good).is_ok(), "{good} should be accepted");
        }
    }

    #[test]
    fn password_length_is_bounded() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert!(Password::parse("long enough\u{0}pass").is_err());
        assert!(Password::parse("long enough\npass").is_err());
        assert!(Password::parse(" spaces kept inside and out ").is_ok());
        assert!(Password::parse("long enough pass").is_ok());
        assert!(Password::parse("correct horse battery staple").is_ok());
        assert_eq!(
            format!("{:?}", Password::parse("long enough pass").ok()),
            "Some(Password(<redacted>))"
        );
    }

    #[test]
    fn common_passwords_are_refused() {
        for common in [
            "password12",
            "          ",
            "qwertyuiop",
            "1234567890",
            "Password123",
            "passw0rd12",
            "aaaaaaaaaaaa",
            "almatymarathon",
        ] {
            let err = Password::parse(common).map(|_| ()).expect_err(common);
            assert_eq!(err.code(), "BAD_USER_INPUT", "{common:?}");
            assert!(
                err.message()
                    .starts_with("password is among the most common or too easy to guess"),
                "{common:?}: {}",
                err.message()
            );
        }
        let err = Password::parse("password12")
            .map(|_| ())
            .expect_err("common");
        assert!(
            err.message().contains("common password)"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn display_name_is_trimmed_and_bounded() {
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"a".repeat(101)).is_err());
        assert!(DisplayName::parse("Ai\u{202e}gerim").is_err());
        assert!(DisplayName::parse("Ai\ngerim").is_err());
        assert!(DisplayName::parse("\u{200b}").is_err());
        assert!(DisplayName::parse("\u{200b}\u{2060}\u{feff}").is_err());
        assert_eq!(
            DisplayName::parse(" Aigerim ")
                .map(DisplayName::into_inner)
                .ok(),
            Some("Aigerim".into())
        );
    }
}
