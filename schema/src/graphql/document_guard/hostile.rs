//! The hostile documents the guard exists for, built to a size, and limits that refuse
//! nothing: for its tests, its benchmark and anyone checking a deployment's limits.

use crate::graphql::Limits;

/// Limits that refuse nothing, so that one of them can be set alone.
pub fn open() -> Limits {
    Limits {
        depth: usize::MAX,
        complexity: usize::MAX,
        subscription_complexity: usize::MAX,
        nesting: usize::MAX,
        tokens: usize::MAX,
        aliases: usize::MAX,
        directives: usize::MAX,
        fragment_spreads: usize::MAX,
        expanded_selections: usize::MAX,
    }
}

/// `query { ...F<levels> }` where F0 selects `__typename` and each next fragment spreads
/// the previous one twice: 2^levels fields once expanded.
pub fn fragment_bomb(levels: usize) -> String {
    let mut text = format!("query {{ ...F{levels} }} fragment F0 on Query {{ __typename }}");
    for i in 1..=levels {
        text.push_str(&format!(
            " fragment F{i} on Query {{ ...F{} ...F{} }}",
            i - 1,
            i - 1
        ));
    }
    text
}

/// A list literal in an argument, nested `levels` deep.
pub fn nested_literal(levels: usize) -> String {
    format!(
        "{{ events(filter: {{status: {}{}}}) {{ id }} }}",
        "[".repeat(levels),
        "]".repeat(levels)
    )
}
