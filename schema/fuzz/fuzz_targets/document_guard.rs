//! Any text: the guard never panics, and what it accepts the parser parses (its recursion
//! stays within the nesting limit) and, when no operation reaches a spread cycle (the
//! engine refuses those itself), expands within the limits. Small limits, so that the
//! fuzzer reaches them with short inputs.
#![no_main]

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use libfuzzer_sys::fuzz_target;
use schema::Limits;
use schema::graphql::document_guard;

const LIMITS: Limits = Limits {
    depth: 10,
    complexity: 16,
    nesting: 8,
    tokens: 64,
    aliases: 4,
    directives: 4,
    fragment_spreads: 8,
    expanded_selections: 32,
};

fn spreads_in<'a>(set: &'a SelectionSet, out: &mut Vec<&'a str>) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => spreads_in(&field.node.selection_set.node, out),
            Selection::InlineFragment(inline) => spreads_in(&inline.node.selection_set.node, out),
            Selection::FragmentSpread(spread) => out.push(spread.node.fragment_name.node.as_str()),
        }
    }
}

/// Whether a spread cycle is reachable from `name` (three-colour depth-first search).
fn reaches_cycle<'a>(
    doc: &'a ExecutableDocument,
    name: &'a str,
    colour: &mut HashMap<&'a str, u8>,
) -> bool {
    match colour.get(name) {
        Some(1) => return true,
        Some(_) => return false,
        None => {}
    }
    let Some(fragment) = doc.fragments.get(name) else {
        return false;
    };
    colour.insert(name, 1);
    let mut children = Vec::new();
    spreads_in(&fragment.node.selection_set.node, &mut children);
    let cyclic = children
        .into_iter()
        .any(|child| reaches_cycle(doc, child, colour));
    colour.insert(name, 2);
    cyclic
}

/// Fields and selections, every spread expanded, counted until the selections pass `budget`.
fn count(doc: &ExecutableDocument, set: &SelectionSet, total: &mut (u64, u64), budget: u64) {
    for selection in &set.items {
        if total.1 > budget {
            return;
        }
        total.1 += 1;
        match &selection.node {
            Selection::Field(field) => {
                total.0 += 1;
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

fuzz_target!(|text: &str| {
    let _ = document_guard::check(text, &Limits::default());
    if document_guard::check(text, &LIMITS).is_err() {
        return;
    }
    let Ok(doc) = async_graphql::parser::parse_query(text) else {
        return;
    };
    let mut colour = HashMap::new();
    for (_, operation) in doc.operations.iter() {
        let mut spreads = Vec::new();
        spreads_in(&operation.node.selection_set.node, &mut spreads);
        if spreads
            .into_iter()
            .any(|name| reaches_cycle(&doc, name, &mut colour))
        {
            return;
        }
    }
    let budget = LIMITS.expanded_selections as u64;
    let mut total = (0, 0);
    for (_, operation) in doc.operations.iter() {
        count(&doc, &operation.node.selection_set.node, &mut total, budget);
    }
    assert!(
        total.1 <= budget,
        "accepted {} selections: {text:?}",
        total.1
    );
    assert!(
        total.0 <= LIMITS.complexity as u64,
        "accepted {} fields: {text:?}",
        total.0
    );
});
