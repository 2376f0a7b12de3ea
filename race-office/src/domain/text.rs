//! The one home for what a text argument may hold. Every string from outside is parsed
//! into one of these (or a newtype built on them) at the edge, before it costs anything,
//! so that nothing unbounded, no control character and no NUL (which PostgreSQL refuses in
//! text, an error the client would see as INTERNAL) goes further.
//!
//! - [`ShortText`], one line (names, venues, cities, donor names): trimmed, 1 to `max`
//!   characters, nothing below U+0020, no DEL, no C1 control (U+0080-U+009F), and no bidi
//!   embedding, override or isolate (U+202A-U+202E, U+2066-U+2069), which reorder what a
//!   reader sees ("Evil\u{202E}gnp.exe" shows as "Evilexe.png").
//!   Required text also needs one visible character ([`is_visible`]): a name that is only
//!   a zero-width space (U+200B) or other format characters shows as nothing at all.
//! - [`LongText`] (descriptions, reasons, notes, reports): the same, except that newline
//!   and tab are allowed; trimmed, 0 to `max` characters.
//! - [`token`]: opaque values we gave out (reset and confirmation tokens, cursors):
//!   printable ASCII only, at most `max` bytes.

use crate::error::ApiError;

/// Whether `c` may never appear in text; `multiline` allows newline and tab.
fn is_forbidden(c: char, multiline: bool) -> bool {
    match c {
        '\n' | '\t' => !multiline,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

/// Refuses control characters (newline and tab too, unless `multiline`) and bidi controls.
pub fn check_characters(field: &str, text: &str, multiline: bool) -> Result<(), ApiError> {
    if text.chars().any(|c| is_forbidden(c, multiline)) {
        return Err(ApiError::bad_input(if multiline {
            format!("{field} must not contain control characters other than newline and tab")
        } else {
            format!("{field} must be one line without control characters")
        }));
    }
    Ok(())
}

/// Whether `c` shows as something a reader sees: a letter, digit, punctuation or symbol
/// (Unicode general categories L, N, P and S). Not spaces, controls, format characters
/// (zero-width space and joiners, the byte-order mark, the soft hyphen, tag characters),
/// private-use or unassigned code points, marks on their own, nor the letters and symbols
/// that are drawn blank (the Hangul fillers and the braille blank).
pub fn is_visible(c: char) -> bool {
    use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};
    !matches!(
        c,
        '\u{115f}' | '\u{1160}' | '\u{3164}' | '\u{ffa0}' | '\u{2800}'
    ) && matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Letter
            | GeneralCategoryGroup::Number
            | GeneralCategoryGroup::Punctuation
            | GeneralCategoryGroup::Symbol
    )
}

/// Checks `raw` holds only allowed characters (all of it: a control character is refused,
/// not trimmed away), then trims it and checks it is `min` to `max` characters. The byte
/// length is checked first: a character is at most 4 bytes, so anything longer than
/// `4 * max` bytes (after trimming) is refused without being scanned.
fn parse(
    field: &str,
    raw: &str,
    min: usize,
    max: usize,
    multiline: bool,
) -> Result<String, ApiError> {
    let text = raw.trim();
    let too_long = || {
        ApiError::bad_input(if min == 0 {
            format!("{field} must be at most {max} characters")
        } else {
            format!("{field} must be {min} to {max} characters")
        })
    };
    if text.len() > max.saturating_mul(4) {
        return Err(too_long());
    }
    check_characters(field, raw, multiline)?;
    let chars = text.chars().count();
    if !(min..=max).contains(&chars) {
        return Err(too_long());
    }
    if min > 0 && !text.chars().any(is_visible) {
        return Err(ApiError::bad_input(format!(
            "{field} must contain a visible character"
        )));
    }
    Ok(text.to_owned())
}

/// One line of text: trimmed, 1 to `max` characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortText(String);

impl ShortText {
    pub fn parse(field: &str, raw: &str, max: usize) -> Result<Self, ApiError> {
        parse(field, raw, 1, max, false).map(Self)
    }

    /// An optional one-liner: absent or blank is `None`.
    pub fn optional(field: &str, raw: Option<&str>, max: usize) -> Result<Option<Self>, ApiError> {
        match raw {
            Some(raw) if !raw.trim().is_empty() => Self::parse(field, raw, max).map(Some),
            _ => Ok(None),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Text that may span lines: trimmed, at most `max` characters, newline and tab allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongText(String);

impl LongText {
    /// Possibly empty.
    pub fn parse(field: &str, raw: &str, max: usize) -> Result<Self, ApiError> {
        parse(field, raw, 0, max, true).map(Self)
    }

    /// At least one character once trimmed.
    pub fn parse_required(field: &str, raw: &str, max: usize) -> Result<Self, ApiError> {
        parse(field, raw, 1, max, true).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// An opaque value this API gave out (a token, a cursor): printable ASCII, 1 to `max`
/// bytes. Returned as given; whether it is known is for the caller to find out.
pub fn token<'a>(field: &str, raw: &'a str, max: usize) -> Result<&'a str, ApiError> {
    if raw.is_empty() || raw.len() > max || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_input(format!(
            "{field} is not a value this API gave out"
        )));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_text_is_trimmed_and_bounded() {
        assert_eq!(
            ShortText::parse("name", "  Almaty Marathon ", 20)
                .map(ShortText::into_inner)
                .map_err(|e| e.code()),
            Ok("Almaty Marathon".into())
        );
        assert!(ShortText::parse("name", "   ", 20).is_err());
        assert!(ShortText::parse("name", &"a".repeat(21), 20).is_err());
        assert!(ShortText::parse("name", &"a".repeat(20), 20).is_ok());
        // Characters, not bytes: twenty Cyrillic letters are forty bytes.
        assert!(ShortText::parse("name", &"ж".repeat(20), 20).is_ok());
        assert!(ShortText::parse("name", &"ж".repeat(21), 20).is_err());
        assert_eq!(
            ShortText::optional("donor", Some("  "), 20).map_err(|e| e.code()),
            Ok(None)
        );
        assert_eq!(
            ShortText::optional("donor", None, 20).map_err(|e| e.code()),
            Ok(None)
        );
    }

    #[test]
    fn control_and_bidi_characters_are_refused_in_one_line_text() {
        for bad in [
            "a\u{0}b",
            "a\nb",
            "a\tb",
            "a\rb",
            "a\u{1b}[31m",
            "a\u{7f}",
            "a\u{85}b",
            "a\u{9f}b",
            "Evil\u{202e}gnp.exe",
            "a\u{202a}b",
            "a\u{2066}b",
            "a\u{2069}b",
            // Refused, not trimmed away: NEL and newline count as whitespace for trim.
            "Almaty\u{85}",
            "Almaty\n",
            "\tAlmaty",
        ] {
            let err = ShortText::parse("name", bad, 50).expect_err(bad);
            assert_eq!(err.code(), "BAD_USER_INPUT", "{bad:?}");
        }
        // Marks and scripts that are text are fine: right-to-left mark, Kazakh, emoji.
        for good in ["Алматы", "a\u{200f}b", "Қазақстан 🏃", "O'Brien & Sons"] {
            assert!(ShortText::parse("name", good, 50).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn required_text_needs_a_visible_character() {
        for invisible in [
            "\u{200b}",
            "\u{200b}\u{200c}\u{200d}",
            "\u{feff}",
            "\u{00ad}",
            "\u{2060}",
            "\u{3164}",
            "\u{115f}\u{1160}",
            "\u{2800}",
            "\u{e0041}\u{e0042}",
            "\u{0301}",
            "\u{200f}",
            " \u{200b} ",
        ] {
            let err = ShortText::parse("displayName", invisible, 50).expect_err(invisible);
            assert_eq!(err.code(), "BAD_USER_INPUT", "{invisible:?}");
            assert_eq!(
                err.message(),
                "displayName must contain a visible character"
            );
            assert!(LongText::parse_required("reason", invisible, 50).is_err());
        }
        // Optional text may be empty, but not invisible.
        assert_eq!(
            LongText::parse("description", "", 50)
                .map(LongText::into_inner)
                .map_err(|e| e.code()),
            Ok(String::new())
        );
        assert!(ShortText::optional("donor", Some("\u{200b}"), 50).is_err());
        // Joiners inside visible text are kept: emoji sequences, Persian names.
        for good in [
            "👨\u{200d}👩\u{200d}👧",
            "می\u{200c}خواهم",
            "A\u{200b}",
            "·",
            "1",
            "€",
        ] {
            assert!(ShortText::parse("name", good, 50).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn long_text_allows_newline_and_tab_only() {
        assert_eq!(
            LongText::parse("description", "\n line one\n\tline two \n", 100)
                .map(LongText::into_inner)
                .map_err(|e| e.code()),
            Ok("line one\n\tline two".into())
        );
        assert_eq!(
            LongText::parse("description", "", 100)
                .map(LongText::into_inner)
                .map_err(|e| e.code()),
            Ok(String::new())
        );
        assert!(LongText::parse_required("reason", " \n ", 100).is_err());
        for bad in ["a\u{0}b", "a\rb", "a\u{7}b", "a\u{202e}b", "a\u{85}b"] {
            assert!(LongText::parse("description", bad, 100).is_err(), "{bad:?}");
        }
        assert!(LongText::parse("description", &"x".repeat(101), 100).is_err());
    }

    #[test]
    fn huge_text_is_refused_by_its_byte_length() {
        let huge = "x".repeat(1_000_000);
        let err = LongText::parse("description", &huge, 10_000).expect_err("too long");
        assert_eq!(
            err.message(),
            "description must be at most 10000 characters"
        );
    }

    #[test]
    fn tokens_are_printable_ascii_and_bounded() {
        assert_eq!(
            token("token", "reset_abc-DEF_123", 64).map_err(|e| e.code()),
            Ok("reset_abc-DEF_123")
        );
        for bad in ["", "reset_\u{0}", "reset abc", "reset_é", "reset_\n"] {
            assert!(token("token", bad, 64).is_err(), "{bad:?}");
        }
        assert!(token("token", &"a".repeat(65), 64).is_err());
    }
}
