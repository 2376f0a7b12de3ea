//! The independent measure: async-graphql's own parser, then a naive expansion of its
//! syntax tree with a budget, and the engine itself for the documents the guard leaves to
//! it (those whose operations reach a spread cycle).

use std::collections::HashMap;
use std::sync::OnceLock;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use proptest::prelude::*;

use super::super::hostile::open;
use super::super::{Limit, Size, measure};
use crate::graphql::{ApiSchema, Limits, builder};

/// What the document's operations select once fragments are expanded.
#[derive(Debug, PartialEq)]
enum Truth {
    /// No operation reaches a spread cycle: this many fields and selections (fields,
    /// spreads, inline fragments), counted until the selections passed the budget.
    Counted(Size),
    Cyclic,
}

fn spreads_in(set: &SelectionSet, out: &mut Vec<String>) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => spreads_in(&field.node.selection_set.node, out),
            Selection::InlineFragment(inline) => spreads_in(&inline.node.selection_set.node, out),
            Selection::FragmentSpread(spread) => {
                out.push(spread.node.fragment_name.node.to_string())
            }
        }
    }
}

/// Whether a spread cycle is reachable from `name` (three-colour depth-first search).
fn reaches_cycle(doc: &ExecutableDocument, name: &str, colour: &mut HashMap<String, u8>) -> bool {
    match colour.get(name) {
        Some(1) => return true,
        Some(_) => return false,
        None => {}
    }
    let Some(fragment) = doc.fragments.get(name) else {
        return false;
    };
    colour.insert(name.to_owned(), 1);
    let mut children = Vec::new();
    spreads_in(&fragment.node.selection_set.node, &mut children);
    let cyclic = children
        .iter()
        .any(|child| reaches_cycle(doc, child, colour));
    colour.insert(name.to_owned(), 2);
    cyclic
}

/// Counts selections one by one, expanding every spread, until they pass `budget`.
fn count(doc: &ExecutableDocument, set: &SelectionSet, total: &mut Size, budget: u64) {
    for selection in &set.items {
        if total.selections > budget {
            return;
        }
        total.selections += 1;
        match &selection.node {
            Selection::Field(field) => {
                total.fields += 1;
                count(doc, &field.node.selection_set.node, total, budget);
            }
            Selection::InlineFragment(inline) => {
                count(doc, &inline.node.selection_set.node, total, budget)
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = doc.fragments.get(&spread.node.fragment_name.node) {
                    count(doc, &fragment.node.selection_set.node, total, budget);
                }
            }
        }
    }
}

fn truth(doc: &ExecutableDocument, budget: u64) -> Truth {
    let mut colour = HashMap::new();
    for (_, operation) in doc.operations.iter() {
        let mut spreads = Vec::new();
        spreads_in(&operation.node.selection_set.node, &mut spreads);
        if spreads
            .iter()
            .any(|name| reaches_cycle(doc, name, &mut colour))
        {
            return Truth::Cyclic;
        }
    }
    let mut total = Size::default();
    for (_, operation) in doc.operations.iter() {
        count(doc, &operation.node.selection_set.node, &mut total, budget);
    }
    Truth::Counted(total)
}

/// The schema with every limit open: the engine alone stands between a document and work.
fn engine() -> &'static ApiSchema {
    static SCHEMA: OnceLock<ApiSchema> = OnceLock::new();
    SCHEMA.get_or_init(|| builder(open()).finish())
}

/// Holds the guard's verdict on `text`, with the expanded selection limit at `limit` and
/// the complexity limit at `complexity`, against the independent measure.
pub(super) fn judge(text: &str, limit: usize, complexity: usize) -> Result<(), TestCaseError> {
    let limits = Limits {
        expanded_selections: limit,
        complexity,
        ..open()
    };
    let verdict = measure(text, &limits);
    let Ok(doc) = async_graphql::parser::parse_query(text) else {
        return Ok(());
    };
    let budget = limit as u64;
    let refused = verdict.err().map(|refusal| refusal.limit);
    match truth(&doc, budget) {
        Truth::Counted(size) if size.selections > budget => prop_assert!(
            matches!(refused, Some(Limit::ExpandedSelections | Limit::Complexity)),
            "{:?} for {}",
            refused,
            text
        ),
        Truth::Counted(size) if size.fields > complexity as u64 => {
            prop_assert_eq!(refused, Some(Limit::Complexity), "{}", text)
        }
        Truth::Counted(size) => prop_assert_eq!(verdict, Ok(size), "{}", text),
        Truth::Cyclic => {
            if verdict.is_ok() {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let response = runtime.block_on(engine().execute(text));
                prop_assert!(!response.errors.is_empty(), "{}", text);
                prop_assert_eq!(response.data, async_graphql::Value::Null);
            }
        }
    }
    Ok(())
}
