//! The languages runners read: Kazakh, Russian, English. A runner's language is chosen at
//! sign-up (the form's choice, else the browser's `Accept-Language`) and may be changed;
//! alerts, pushes and mail are composed in it.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Language {
    Kk,
    Ru,
    #[default]
    En,
}

impl Language {
    pub const ALL: [Language; 3] = [Language::Kk, Language::Ru, Language::En];

    /// The stored and GraphQL name: `KK`, `RU`, `EN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kk => "KK",
            Self::Ru => "RU",
            Self::En => "EN",
        }
    }

    /// The BCP 47 tag: `kk`, `ru`, `en`.
    pub fn tag(self) -> &'static str {
        match self {
            Self::Kk => "kk",
            Self::Ru => "ru",
            Self::En => "en",
        }
    }

    /// A stored name; anything else is English (rows older than languages).
    pub fn parse_stored(raw: &str) -> Self {
        match raw {
            "KK" => Self::Kk,
            "RU" => Self::Ru,
            _ => Self::En,
        }
    }

    /// A BCP 47 tag's language (`ru-KZ` is Russian); `None` for one we lack.
    pub fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.split(['-', '_']).next()?.trim();
        if primary.eq_ignore_ascii_case("kk") {
            Some(Self::Kk)
        } else if primary.eq_ignore_ascii_case("ru") {
            Some(Self::Ru)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Self::En)
        } else {
            None
        }
    }

    /// The language an `Accept-Language` header asks for: the one of ours with the highest
    /// weight (ties in the header's order); English when the header is absent, malformed,
    /// or asks only for languages we lack. Never an error. Bounded: a header longer than
    /// 1 KiB, or its entries past the 32nd, are not read.
    pub fn negotiate(header: Option<&str>) -> Self {
        const MAX_BYTES: usize = 1024;
        const MAX_ENTRIES: usize = 32;
        let Some(header) = header.filter(|h| h.len() <= MAX_BYTES) else {
            return Self::En;
        };
        let mut best: Option<(u16, Self)> = None;
        for entry in header.split(',').take(MAX_ENTRIES) {
            let mut parts = entry.split(';');
            let Some(language) = parts.next().and_then(|tag| Self::from_tag(tag.trim())) else {
                continue;
            };
            let weight = match parts.next().map(str::trim) {
                None => 1000,
                Some(q) => match q.strip_prefix("q=").and_then(quality) {
                    Some(weight) => weight,
                    None => continue,
                },
            };
            if weight > 0 && best.is_none_or(|(w, _)| weight > w) {
                best = Some((weight, language));
            }
        }
        best.map_or(Self::En, |(_, language)| language)
    }
}

/// A q-value (`0`, `0.5`, `1.000`) in thousandths; `None` when malformed.
fn quality(text: &str) -> Option<u16> {
    let value: f32 = text.parse().ok()?;
    (0.0..=1.0)
        .contains(&value)
        .then(|| (value * 1000.0).round() as u16)
}

/// An organizer's text in one language (a reason's translation), bounded like the text
/// it translates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalizedText {
    pub language: Language,
    pub text: String,
}

/// Translations of a text: at most one per language, none empty or over `max_chars`.
pub fn check_translations(
    field: &str,
    texts: Vec<LocalizedText>,
    max_chars: usize,
) -> Result<Vec<LocalizedText>, ApiError> {
    let mut seen = Vec::new();
    let mut checked = Vec::with_capacity(texts.len());
    for mut translation in texts {
        if seen.contains(&translation.language) {
            return Err(ApiError::bad_input(format!(
                "{field} has {} twice",
                translation.language.as_str()
            )));
        }
        seen.push(translation.language);
        translation.text =
            super::text::LongText::parse_required(field, &translation.text, max_chars)?
                .into_inner();
        checked.push(translation);
    }
    checked.sort_by_key(|t| t.language);
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_our_best_and_never_fails() {
        let cases = [
            (None, Language::En),
            (Some("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7"), Language::Ru),
            (Some("kk-KZ, ru;q=0.9"), Language::Kk),
            (Some("de-DE,en;q=0.3,ru;q=0.5"), Language::Ru),
            (Some("fr, de"), Language::En),
            (Some(";;;,,q=,ru;q=abc"), Language::En),
            (Some("ru;q=0"), Language::En),
            (Some("en;q=0.4, kk;q=0.4"), Language::En),
            (Some("*"), Language::En),
        ];
        for (header, expected) in cases {
            assert_eq!(Language::negotiate(header), expected, "{header:?}");
        }
        let huge = "x-x;q=0.1,".repeat(200) + "ru";
        assert_eq!(Language::negotiate(Some(&huge)), Language::En, "not read");
    }

    #[test]
    fn a_language_twice_or_an_empty_translation_is_refused() {
        let t = |language, text: &str| LocalizedText {
            language,
            text: text.into(),
        };
        assert!(
            check_translations(
                "reasons",
                vec![t(Language::Ru, "а"), t(Language::Ru, "б")],
                10
            )
            .is_err()
        );
        assert!(check_translations("reasons", vec![t(Language::Kk, "  ")], 10).is_err());
        assert!(
            check_translations("reasons", vec![t(Language::Kk, "ұзын мәтін мұнда")], 5).is_err()
        );
        let ok = check_translations(
            "reasons",
            vec![t(Language::En, "b"), t(Language::Kk, "a")],
            10,
        )
        .unwrap();
        assert_eq!(ok[0].language, Language::Kk);
    }
}
