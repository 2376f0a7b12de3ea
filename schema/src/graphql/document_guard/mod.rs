//! The document guard: measures a GraphQL document's text in one linear pass, before
//! anything parses it, and refuses it with `QUERY_TOO_LARGE` when it passes a limit:
//! nesting of brackets, braces and parentheses (the parser recurses on it, and a few
//! thousand levels overflow a worker's stack), tokens, aliases, directives, fragment
//! spreads, and the selections its operations make once fragments are expanded (sized per
//! fragment, so a fragment bomb costs its length to measure), whose fields, `__typename`
//! included, are also held to the complexity limit.
//!
//! It runs as an extension before every parse the schema makes (HTTP and WebSocket alike),
//! and as [`check`] for callers that parse a document themselves.

mod expansion;
pub mod hostile;
mod lexer;
mod shape;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerError, ServerResult, Value, Variables};

use super::Limits;
use super::error_codes::QUERY_TOO_LARGE;

/// Which limit a document passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Nesting,
    Tokens,
    Aliases,
    Directives,
    FragmentSpreads,
    ExpandedSelections,
    /// The expanded field count passed the complexity limit: async-graphql's complexity
    /// leaves `__typename` out, this count does not.
    Complexity,
}

impl Limit {
    /// The setting that raises it.
    pub fn setting(self) -> &'static str {
        match self {
            Self::Nesting => "QUERY_NESTING_LIMIT",
            Self::Tokens => "QUERY_TOKEN_LIMIT",
            Self::Aliases => "QUERY_ALIAS_LIMIT",
            Self::Directives => "QUERY_DIRECTIVE_LIMIT",
            Self::FragmentSpreads => "QUERY_FRAGMENT_SPREAD_LIMIT",
            Self::ExpandedSelections => "QUERY_EXPANDED_SELECTION_LIMIT",
            Self::Complexity => "QUERY_COMPLEXITY_LIMIT",
        }
    }

    /// Its value in `limits`.
    pub fn max(self, limits: &Limits) -> usize {
        match self {
            Self::Nesting => limits.nesting,
            Self::Tokens => limits.tokens,
            Self::Aliases => limits.aliases,
            Self::Directives => limits.directives,
            Self::FragmentSpreads => limits.fragment_spreads,
            Self::ExpandedSelections => limits.expanded_selections,
            Self::Complexity => limits.complexity,
        }
    }
}

/// A document refused, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub limit: Limit,
    /// The limit's value.
    pub max: usize,
}

impl Refusal {
    pub fn message(&self) -> String {
        let max = self.max;
        let what = match self.limit {
            Limit::Nesting => {
                format!("nests brackets, braces and parentheses more than {max} deep")
            }
            Limit::Tokens => format!("has more than {max} tokens"),
            Limit::Aliases => format!("has more than {max} aliases"),
            Limit::Directives => format!("has more than {max} directives"),
            Limit::FragmentSpreads => format!("has more than {max} fragment spreads"),
            Limit::ExpandedSelections => format!(
                "makes more than {max} selections (fields, fragment spreads, inline fragments) once its fragments are expanded"
            ),
            Limit::Complexity => format!(
                "selects more than {max} fields (__typename included) once its fragments are expanded"
            ),
        };
        format!(
            "The document {what}; the limit is the setting {}.",
            self.limit.setting()
        )
    }

    /// As a GraphQL error: `extensions.code` is `QUERY_TOO_LARGE`, `extensions.limit` the
    /// setting, `extensions.max` its value.
    pub fn to_server_error(&self) -> ServerError {
        let mut error = ServerError::new(self.message(), None);
        let extensions = error.extensions.get_or_insert_with(Default::default);
        extensions.set("code", Value::from(QUERY_TOO_LARGE));
        extensions.set("limit", Value::from(self.limit.setting()));
        extensions.set("max", Value::from(self.max));
        error
    }
}

/// Selections once fragments are expanded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Size {
    /// Field selections, `__typename` included.
    pub fields: u64,
    /// Fields, fragment spreads and inline fragments: the steps the engine takes.
    pub selections: u64,
}

impl Size {
    const FIELD: Size = Size {
        fields: 1,
        selections: 1,
    };
    /// A fragment spread or an inline fragment.
    const FRAGMENT: Size = Size {
        fields: 0,
        selections: 1,
    };

    fn plus(self, other: Size) -> Size {
        Size {
            fields: self.fields.saturating_add(other.fields),
            selections: self.selections.saturating_add(other.selections),
        }
    }
}

/// Measures `text`: its size once fragments are expanded, or the first limit it passes.
fn measure(text: &str, limits: &Limits) -> Result<Size, Refusal> {
    let refuse = |limit: Limit| Refusal {
        limit,
        max: limit.max(limits),
    };
    let caps = shape::Caps {
        nesting: limits.nesting,
        tokens: limits.tokens,
        aliases: limits.aliases,
        directives: limits.directives,
        fragment_spreads: limits.fragment_spreads,
    };
    let definitions = shape::walk(text, &caps).map_err(refuse)?;
    let size = expansion::expanded(&definitions);
    let over = |count: u64, max: usize| count > u64::try_from(max).unwrap_or(u64::MAX);
    if over(size.fields, limits.complexity) {
        return Err(refuse(Limit::Complexity));
    }
    if over(size.selections, limits.expanded_selections) {
        return Err(refuse(Limit::ExpandedSelections));
    }
    Ok(size)
}

/// Accepts `text` or says which limit it passes. Linear in the text, and it stops at the
/// first limit passed.
pub fn check(text: &str, limits: &Limits) -> Result<(), Refusal> {
    measure(text, limits).map(|_| ())
}

/// The guard as an extension: every document the schema parses is checked first.
pub struct DocumentGuard(pub Limits);

impl ExtensionFactory for DocumentGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentGuard(self.0))
    }
}

#[async_trait::async_trait]
impl Extension for DocumentGuard {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        check(query, &self.0).map_err(|refusal| refusal.to_server_error())?;
        next.run(ctx, query, variables).await
    }
}
