//! What runners read, in their language: the message files under `race-office/messages/`
//! (Project Fluent, one folder per language), compiled into the binary. Dates are written
//! from the files too (month names, word order): Debian's Chromium has no Kazakh locale
//! data, and neither has the standard library, so neither `Intl` nor chrono can say
//! "2027 ж. 18 сәуір".

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate};
use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader, langid};

use super::Language;

fluent_templates::static_loader! {
    static MESSAGES = {
        locales: "./messages",
        fallback_language: "en",
        // No Unicode isolation marks around placeables: they would show in a mail's
        // subject and count against a push's budget.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

static KK: LanguageIdentifier = langid!("kk");
static RU: LanguageIdentifier = langid!("ru");
static EN: LanguageIdentifier = langid!("en");

fn identifier(language: Language) -> &'static LanguageIdentifier {
    match language {
        Language::Kk => &KK,
        Language::Ru => &RU,
        Language::En => &EN,
    }
}

/// Message `key` in `language` with `args`. Every key exists in every language (a test
/// checks the files), so the fallback to English never shows.
pub fn text(language: Language, key: &str, args: &[(&'static str, &str)]) -> String {
    let args: HashMap<Cow<'static, str>, FluentValue> = args
        .iter()
        .map(|(name, value)| (Cow::Borrowed(*name), FluentValue::from(value.to_string())))
        .collect();
    MESSAGES.lookup_with_args(identifier(language), key, &args)
}

fn month(language: Language, month: u32) -> String {
    text(language, &format!("month-{month}"), &[])
}

/// A day as `language` writes it: "18 April 2027", "18 апреля 2027 г.", "2027 ж. 18 сәуір".
pub fn date(language: Language, day: NaiveDate) -> String {
    text(
        language,
        "date",
        &[
            ("day", &day.day().to_string()),
            ("month", &month(language, day.month())),
            ("year", &day.year().to_string()),
        ],
    )
}

/// A moment in a zone as `language` writes it: "18 April 2027, 08:00".
pub fn date_time<Tz: chrono::TimeZone>(language: Language, at: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    text(
        language,
        "date-time",
        &[
            ("day", &at.day().to_string()),
            ("month", &month(language, at.month())),
            ("year", &at.year().to_string()),
            ("time", &at.format("%H:%M").to_string()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use fluent_syntax::ast;

    use super::*;

    /// Every message of a language's files, with the variables it uses.
    fn messages(language: &str) -> BTreeMap<String, BTreeSet<String>> {
        let mut found = BTreeMap::new();
        for file in ["alerts.ftl", "accounts.ftl"] {
            found.extend(messages_of(&format!(
                "{}/messages/{language}/{file}",
                env!("CARGO_MANIFEST_DIR")
            )));
        }
        found
    }

    fn messages_of(path: &str) -> BTreeMap<String, BTreeSet<String>> {
        let source = std::fs::read_to_string(path).unwrap();
        let resource = fluent_syntax::parser::parse(source.as_str())
            .unwrap_or_else(|(_, errors)| panic!("{path}: {errors:?}"));
        let mut found = BTreeMap::new();
        for entry in resource.body {
            if let ast::Entry::Message(message) = entry {
                let mut variables = BTreeSet::new();
                if let Some(pattern) = &message.value {
                    for element in &pattern.elements {
                        if let ast::PatternElement::Placeable {
                            expression:
                                ast::Expression::Inline(ast::InlineExpression::VariableReference { id }),
                        } = element
                        {
                            variables.insert(id.name.to_string());
                        }
                    }
                }
                found.insert(message.id.name.to_string(), variables);
            }
        }
        found
    }

    #[test]
    fn every_message_is_in_every_language_with_the_same_placeables() {
        let english = messages("en");
        assert!(english.len() > 30);
        for language in ["ru", "kk"] {
            let other = messages(language);
            let missing: Vec<_> = english.keys().filter(|k| !other.contains_key(*k)).collect();
            let extra: Vec<_> = other.keys().filter(|k| !english.contains_key(*k)).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{language}: missing {missing:?}, extra {extra:?}"
            );
            for (key, variables) in &english {
                assert_eq!(
                    &other[key], variables,
                    "{language}: {key} uses other placeables"
                );
            }
        }
    }

    #[test]
    fn dates_are_written_the_way_each_language_writes_them() {
        let day = NaiveDate::from_ymd_opt(2027, 4, 18).unwrap();
        assert_eq!(date(Language::En, day), "18 April 2027");
        assert_eq!(date(Language::Ru, day), "18 апреля 2027 г.");
        assert_eq!(date(Language::Kk, day), "2027 ж. 18 сәуір");
        let at = day.and_hms_opt(8, 0, 0).unwrap().and_utc();
        assert_eq!(date_time(Language::Kk, &at), "2027 ж. 18 сәуір, 08:00");
        assert_eq!(
            text(
                Language::Ru,
                "push-cancelled",
                &[("event", "Алматы марафоны")]
            ),
            "Алматы марафоны отменён"
        );
    }
}
