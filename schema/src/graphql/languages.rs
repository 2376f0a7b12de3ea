//! The languages runners read, and organizers' texts in several of them.

use async_graphql::{Enum, InputObject, SimpleObject};

/// A language alerts, pushes, mail and the runner page are written in.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "race_office::domain::Language")]
pub enum Language {
    /// Kazakh.
    Kk,
    /// Russian.
    Ru,
    /// English.
    En,
}

/// A text in one language.
#[derive(SimpleObject, Clone)]
pub struct LocalizedText {
    /// The language it is written in.
    pub language: Language,
    /// The text, as the organizer wrote it.
    pub text: String,
}

/// A text in one language (a translation of the organizer's reason).
#[derive(InputObject)]
pub struct LocalizedTextInput {
    /// The language it is written in; one text per language.
    pub language: Language,
    /// The text, bounded like the text it translates.
    pub text: String,
}

impl From<LocalizedTextInput> for race_office::domain::LocalizedText {
    fn from(input: LocalizedTextInput) -> Self {
        Self {
            language: input.language.into(),
            text: input.text,
        }
    }
}

impl From<race_office::domain::LocalizedText> for LocalizedText {
    fn from(text: race_office::domain::LocalizedText) -> Self {
        Self {
            language: text.language.into(),
            text: text.text,
        }
    }
}
