//! Answers in the order of their selection. The GraphQL specification orders a response's
//! keys as its selection set does ("Serialized Map Ordering"), but async-graphql 7.2
//! resolves an object's fields concurrently and keeps them in the order they finish
//! (`FuturesUnordered` in `do_resolve_container`): a field behind a DataLoader comes after
//! a plain one selected later. So every answer is put back in selection order before it
//! is serialized, on every transport.

use std::collections::BTreeMap;

use async_graphql::Name;
use async_graphql::parser::types::{ExecutableDocument, Field, SelectionSet};
use async_graphql_value::ConstValue;

use super::spelling::{Collector, by_response_key};
use super::{Document, operation_of};

/// Puts `response`'s data in the order `document`'s operation selects it. Objects whose
/// selection cannot be decided (an unknown directive) are left as they are.
pub fn in_selection_order(
    response: &mut async_graphql::Response,
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &async_graphql::Variables,
) {
    let Some(operation) = operation_of(document, operation_name) else {
        return;
    };
    let mut values: BTreeMap<Name, ConstValue> = BTreeMap::new();
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        let value = variables
            .get(&definition.name.node)
            .cloned()
            .or_else(|| definition.default_value.as_ref().map(|d| d.node.clone()))
            .unwrap_or(ConstValue::Null);
        values.insert(definition.name.node.clone(), value);
    }
    let collector = Collector {
        document,
        values: &values,
    };
    order(
        &mut response.data,
        &[&operation.selection_set.node],
        &collector,
    );
}

impl Document {
    /// [`in_selection_order`] for a document the fan-out keeps parsed.
    pub fn order(
        &self,
        response: &mut async_graphql::Response,
        operation_name: Option<&str>,
        variables: &async_graphql::Variables,
    ) {
        in_selection_order(response, &self.parsed, operation_name, variables);
    }
}

/// Orders `value` as `sets` select it; the selection is collected once, however long a
/// list under it is.
fn order<'a>(value: &mut ConstValue, sets: &[&'a SelectionSet], collector: &Collector<'a>) {
    let Some(selected) = collector.collect(sets) else {
        return;
    };
    arrange(value, &by_response_key(&selected), collector);
}

fn arrange<'a>(
    value: &mut ConstValue,
    groups: &[(&'a str, Vec<&'a Field>)],
    collector: &Collector<'a>,
) {
    match value {
        ConstValue::List(items) => {
            for item in items {
                arrange(item, groups, collector);
            }
        }
        ConstValue::Object(fields) => {
            let mut answered = std::mem::take(fields);
            for (key, group) in groups {
                if let Some((name, mut value)) = answered.shift_remove_entry(*key) {
                    let sets: Vec<&'a SelectionSet> =
                        group.iter().map(|f| &f.selection_set.node).collect();
                    if sets.iter().any(|set| !set.items.is_empty()) {
                        order(&mut value, &sets, collector);
                    }
                    fields.insert(name, value);
                }
            }
            // Nothing should be left; if anything is, it keeps its place after the rest.
            fields.extend(answered);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ordered(query: &str, data: serde_json::Value) -> String {
        let document = async_graphql::parser::parse_query(query).unwrap();
        let mut response = async_graphql::Response::new(ConstValue::from_json(data).unwrap());
        in_selection_order(
            &mut response,
            &document,
            None,
            &async_graphql::Variables::from_json(serde_json::json!({ "yes": true })),
        );
        response.data.into_json().unwrap().to_string()
    }

    #[test]
    fn keys_follow_the_selection_through_lists_fragments_and_aliases() {
        let answer = ordered(
            "query($yes: Boolean!) { charitySummary { projects { beneficiary r: raised { amount } ...T } yearsToDate @include(if: $yes) } } fragment T on CharityProject { target { currency amount } }",
            serde_json::json!({ "charitySummary": { "yearsToDate": 10, "projects": [
                { "target": { "amount": "1", "currency": "KZT" }, "r": { "amount": "2" }, "beneficiary": "School" }
            ] } }),
        );
        assert_eq!(
            answer,
            r#"{"charitySummary":{"projects":[{"beneficiary":"School","r":{"amount":"2"},"target":{"currency":"KZT","amount":"1"}}],"yearsToDate":10}}"#
        );
    }
}
