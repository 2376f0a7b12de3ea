//! Account inputs: email, password and display name.

use super::text::{ShortText, check_characters};
use crate::error::ApiError;

/// A syntactically plausible email address, trimmed and lower-cased so that uniqueness
/// ignores case. Deliverability is proven by the reset mail, not by a regex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_BYTES: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let invalid = || ApiError::bad_input("email is not a valid address");
        let trimmed = raw.trim();
        // Bounded before it is lower-cased (which copies it).
        if trimmed.len() > Self::MAX_BYTES {
            return Err(invalid());
        }
        if check_characters("email", raw, false).is_err() {
            return Err(invalid());
        }
        let email = trimmed.to_lowercase();
        if email.len() > Self::MAX_BYTES || email.chars().any(char::is_whitespace) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !domain.contains("..");
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: long enough to resist guessing, short enough to bound hashing work,
/// and free of control characters (no keyboard types them; spaces are kept as typed).
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 128;

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
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
        assert!(Email::parse(&format!("{}@example.kz", "a".repeat(300))).is_err());
    }

    #[test]
    fn password_length_is_bounded() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert!(Password::parse("long enough\u{0}pass").is_err());
        assert!(Password::parse("long enough\npass").is_err());
        assert!(Password::parse(" spaces kept inside and out ").is_ok());
        assert!(Password::parse("long enough pass").is_ok());
        assert_eq!(
            format!("{:?}", Password::parse("long enough pass").ok()),
            "Some(Password(<redacted>))"
        );
    }

    #[test]
    fn display_name_is_trimmed_and_bounded() {
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"a".repeat(101)).is_err());
        assert!(DisplayName::parse("Ai\u{202e}gerim").is_err());
        assert!(DisplayName::parse("Ai\ngerim").is_err());
        assert_eq!(
            DisplayName::parse(" Aigerim ")
                .map(DisplayName::into_inner)
                .ok(),
            Some("Aigerim".into())
        );
    }
}
