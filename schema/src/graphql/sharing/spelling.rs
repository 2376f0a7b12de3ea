//! Sharing that spelling cannot defeat. Subscriptions asking the same thing in other words
//! (aliases, field order, repeated fields, whitespace, variables or inline values) share
//! one execution: each is rewritten to a canonical document, which its group executes, and
//! the canonical answer is reshaped into each spelling's own (its aliases, its order) once
//! per notice and spelling, so members that spell alike still share bytes.
//!
//! Fragments (named and inline) are flattened into the selection they stand in, and
//! `@skip` / `@include` are decided from their values: the schema has no interface or
//! union, so every valid type condition holds and a fragment's fields are plainly the
//! parent's. Variables of the built-in scalar types are written into the canonical text;
//! a document with another kind of variable, or another directive, is grouped by its
//! text, as before.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_graphql::parser::types::{
    BaseType, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::{Name, Variables};
use async_graphql_value::ConstValue;
use serde_json::value::RawValue;
use serde_json::{Map, Value as Json};

/// The canonical form of one member's subscription.
pub struct Canonical {
    /// The document the group executes (parsed, and cached, by the fan-out); its text is
    /// the group's key.
    pub text: String,
    /// How the canonical answer becomes this member's.
    pub shape: Arc<Shape>,
    /// The member's spelling: members with equal keys get the same bytes.
    pub spelling: Arc<str>,
}

/// A member's selection in its own order: (its response key, the canonical response key,
/// the shape below when the field has a selection).
#[derive(Debug, Default)]
pub struct Shape(Vec<(String, String, Option<Shape>)>);

/// One canonical field: its sub-selection keyed by (name, arguments as written).
#[derive(Default)]
struct Node {
    children: BTreeMap<(String, String), Node>,
}

const BUILT_IN: [&str; 5] = ["ID", "String", "Int", "Float", "Boolean"];

/// The canonical form of `document`'s operation, if it is a plain subscription.
pub fn canonical(
    document: &ExecutableDocument,
    name: Option<&str>,
    variables: &Variables,
) -> Option<Canonical> {
    let operation = super::operation_of(document, name)?;
    if operation.ty != OperationType::Subscription || !operation.directives.is_empty() {
        return None;
    }
    // Each variable's value, when its type is a built-in scalar (or a list of them).
    let mut values: BTreeMap<Name, ConstValue> = BTreeMap::new();
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        let mut base = &definition.var_type.node.base;
        while let BaseType::List(inner) = base {
            base = &inner.base;
        }
        let BaseType::Named(type_name) = base else {
            return None;
        };
        if !BUILT_IN.contains(&type_name.as_str()) {
            return None;
        }
        let value = variables
            .get(&definition.name.node)
            .cloned()
            .or_else(|| definition.default_value.as_ref().map(|d| d.node.clone()))
            .unwrap_or(ConstValue::Null);
        values.insert(definition.name.node.clone(), value);
    }
    let selection = Collector {
        document,
        values: &values,
    };
    let fields = selection.collect(&[&operation.selection_set.node])?;
    let mut root = Node::default();
    selection.add(&fields, true, &mut root)?;
    let shape = selection.shape(&fields, true, &root)?;
    let mut text = String::from("subscription ");
    print(&root, &mut text);
    let spelling = format!("{shape:?}");
    Some(Canonical {
        text,
        shape: Arc::new(shape),
        spelling: Arc::from(spelling),
    })
}

/// A field's arguments as written in the canonical text: sorted, variables replaced by
/// their values, a root field's `after` left out (it says only where a member's replay
/// starts, never what the group executes).
fn arguments(field: &Field, values: &BTreeMap<Name, ConstValue>, root: bool) -> Option<String> {
    let mut written: Vec<(String, String)> = Vec::new();
    for (name, value) in &field.arguments {
        if root && name.node.as_str() == "after" {
            continue;
        }
        let value = value
            .node
            .clone()
            .into_const_with(|variable| values.get(&variable).cloned().ok_or(()))
            .ok()?;
        written.push((name.node.to_string(), value.to_string()));
    }
    written.sort();
    Some(
        written
            .iter()
            .map(|(name, value)| format!("{name}: {value}"))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// The canonical response key of the `index`-th field of `node`'s selection: its name,
/// or `_<index>` when the name comes twice (with other arguments). So the canonical text
/// has no more aliases than the member's (which the document guard has measured).
fn key_of(node: &Node, index: usize) -> Option<String> {
    let (name, _) = node.children.keys().nth(index)?;
    let twice = node.children.keys().filter(|(n, _)| n == name).count() > 1;
    Some(if twice {
        format!("_{index}")
    } else {
        name.clone()
    })
}

/// Nesting of fragments beyond which a document is left alone (validation refuses cycles,
/// but a member joining a group is canonicalised before anything validates it).
const MAX_FRAGMENT_DEPTH: usize = 16;

type Field = async_graphql::parser::types::Field;

/// A document's selections with its fragments and variable values at hand.
pub(super) struct Collector<'a> {
    pub(super) document: &'a ExecutableDocument,
    pub(super) values: &'a BTreeMap<Name, ConstValue>,
}

impl<'a> Collector<'a> {
    /// The fields `sets` select, in order, fragments flattened and skipped fields left
    /// out (GraphQL's CollectFields, with every type condition holding); `None` if a
    /// directive or fragment cannot be decided.
    pub(super) fn collect(&self, sets: &[&'a SelectionSet]) -> Option<Vec<&'a Field>> {
        let mut out = Vec::new();
        for set in sets {
            self.collect_into(set, 0, &mut out)?;
        }
        Some(out)
    }

    fn collect_into(
        &self,
        set: &'a SelectionSet,
        depth: usize,
        out: &mut Vec<&'a Field>,
    ) -> Option<()> {
        if depth > MAX_FRAGMENT_DEPTH {
            return None;
        }
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    if self.included(&field.node.directives)? {
                        out.push(&field.node);
                    }
                }
                Selection::InlineFragment(inline) => {
                    if self.included(&inline.node.directives)? {
                        self.collect_into(&inline.node.selection_set.node, depth + 1, out)?;
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let fragment = self
                        .document
                        .fragments
                        .get(&spread.node.fragment_name.node)?;
                    if self.included(&spread.node.directives)?
                        && self.included(&fragment.node.directives)?
                    {
                        self.collect_into(&fragment.node.selection_set.node, depth + 1, out)?;
                    }
                }
            }
        }
        Some(())
    }

    /// Whether `@skip` / `@include` keep a selection; `None` for any other directive or
    /// a condition that is not a boolean.
    fn included(
        &self,
        directives: &[async_graphql::Positioned<async_graphql::parser::types::Directive>],
    ) -> Option<bool> {
        let mut keep = true;
        for directive in directives {
            let directive = &directive.node;
            let condition = directive.get_argument("if")?.node.clone();
            let condition = condition
                .into_const_with(|variable| self.values.get(&variable).cloned().ok_or(()))
                .ok()?;
            let ConstValue::Boolean(condition) = condition else {
                return None;
            };
            match directive.name.node.as_str() {
                "skip" => keep &= !condition,
                "include" => keep &= condition,
                _ => return None,
            }
        }
        Some(keep)
    }

    /// Adds `fields` to the canonical tree under `node`.
    fn add(&self, fields: &[&'a Field], root: bool, node: &mut Node) -> Option<()> {
        for field in fields {
            let key = (
                field.name.node.to_string(),
                arguments(field, self.values, root)?,
            );
            let child = node.children.entry(key).or_default();
            let below = self.collect(&[&field.selection_set.node])?;
            self.add(&below, false, child)?;
        }
        Some(())
    }

    /// The member's shape over the canonical tree `node`: one entry per response key, in
    /// the order the key first comes, fields of the same key merged (as execution merges
    /// them).
    fn shape(&self, fields: &[&'a Field], root: bool, node: &Node) -> Option<Shape> {
        let mut entries: Vec<(String, String, Option<Shape>)> = Vec::new();
        for (response_key, group) in by_response_key(fields) {
            let first = group.first()?;
            let key = (
                first.name.node.to_string(),
                arguments(first, self.values, root)?,
            );
            let index = node.children.keys().position(|k| *k == key)?;
            let child = node.children.get(&key)?;
            // Every field answering under this key (validation made sure they agree).
            let sets: Vec<&SelectionSet> = group.iter().map(|f| &f.selection_set.node).collect();
            let below = if sets.iter().all(|set| set.items.is_empty()) {
                None
            } else {
                Some(self.shape(&self.collect(&sets)?, false, child)?)
            };
            entries.push((response_key.to_owned(), key_of(node, index)?, below));
        }
        Some(Shape(entries))
    }
}

/// Collected fields grouped by response key, each key where it first comes, with every
/// field answering under it (execution merges them into one entry).
pub(super) fn by_response_key<'a>(fields: &[&'a Field]) -> Vec<(&'a str, Vec<&'a Field>)> {
    let mut groups: Vec<(&'a str, Vec<&'a Field>)> = Vec::new();
    for field in fields {
        let key = field
            .alias
            .as_ref()
            .map_or(field.name.node.as_str(), |a| a.node.as_str());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(field),
            None => groups.push((key, vec![field])),
        }
    }
    groups
}

fn print(node: &Node, out: &mut String) {
    out.push('{');
    for (index, ((name, arguments), child)) in node.children.iter().enumerate() {
        out.push(' ');
        let key = key_of(node, index).unwrap_or_else(|| name.clone());
        if key != *name {
            out.push_str(&key);
            out.push_str(": ");
        }
        out.push_str(name);
        if !arguments.is_empty() {
            out.push('(');
            out.push_str(arguments);
            out.push(')');
        }
        if !child.children.is_empty() {
            out.push(' ');
            print(child, out);
        }
    }
    out.push_str(" }");
}

/// A member's answer (`{"data": …, "errors": …}` as JSON text) from the canonical one.
pub fn reshape(canonical: &str, shape: &Shape) -> Option<Box<RawValue>> {
    let mut answer: Map<String, Json> = serde_json::from_str(canonical).ok()?;
    if let Some(data) = answer.get_mut("data") {
        *data = reshape_value(data, shape);
    }
    if let Some(Json::Array(errors)) = answer.get_mut("errors") {
        for error in errors {
            if let Some(Json::Array(path)) = error.get_mut("path") {
                rename_path(path, shape);
            }
        }
    }
    serde_json::value::to_raw_value(&answer).ok()
}

fn reshape_value(value: &Json, shape: &Shape) -> Json {
    match value {
        Json::Object(fields) => Json::Object(
            shape
                .0
                .iter()
                .map(|(key, canonical, below)| {
                    let value = fields.get(canonical).unwrap_or(&Json::Null);
                    let value = match below {
                        Some(below) => reshape_value(value, below),
                        None => value.clone(),
                    };
                    (key.clone(), value)
                })
                .collect(),
        ),
        Json::Array(items) => Json::Array(items.iter().map(|i| reshape_value(i, shape)).collect()),
        other => other.clone(),
    }
}

/// An error's path in the member's keys (list indexes stay).
fn rename_path(path: &mut [Json], shape: &Shape) {
    let mut at = Some(shape);
    for segment in path.iter_mut() {
        let (Json::String(key), Some(current)) = (&*segment, at) else {
            continue;
        };
        match current.0.iter().find(|(_, canonical, _)| canonical == key) {
            Some((own, _, below)) => {
                *segment = Json::String(own.clone());
                at = below.as_ref();
            }
            None => at = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(text: &str, variables: Json) -> Option<Canonical> {
        let parsed = async_graphql::parser::parse_query(text).unwrap();
        canonical(&parsed, None, &Variables::from_json(variables))
    }

    #[test]
    fn spellings_of_one_question_have_one_canonical_form() {
        let a = of(
            "subscription($e: ID) { x: eventStatusChanged(eventId: $e) { status id event { name } } }",
            serde_json::json!({ "e": "7" }),
        )
        .unwrap();
        let b = of(
            "subscription { eventStatusChanged(eventId: \"7\", after: \"3\") { id  id event { n: name } s: status } }",
            serde_json::json!({}),
        )
        .unwrap();
        let c = of(
            "subscription($f: ID, $after: String) { y: eventStatusChanged(after: $after, eventId: $f) { event { name } status id } }",
            serde_json::json!({ "f": "7", "after": "9" }),
        )
        .unwrap();
        assert_eq!(a.text, b.text);
        assert_eq!(a.text, c.text);
        assert_ne!(a.spelling, b.spelling);
        // Another event is another question.
        let other = of(
            "subscription($e: ID) { eventStatusChanged(eventId: $e) { id } }",
            serde_json::json!({ "e": "8" }),
        )
        .unwrap();
        assert_ne!(a.text, other.text);
    }

    #[test]
    fn the_canonical_answer_is_reshaped_into_each_spelling() {
        let member = of(
            "subscription($e: ID) { x: eventStatusChanged(eventId: $e) { s: status id event { n: name } status } }",
            serde_json::json!({ "e": "7" }),
        )
        .unwrap();
        // Canonical order: event, id, status; aliases only where a name comes twice.
        assert_eq!(
            member.text,
            "subscription { eventStatusChanged(eventId: \"7\") { event { name } id status } }"
        );
        let answer = r#"{"data":{"eventStatusChanged":{"event":{"name":"Almaty"},"id":"5","status":"CANCELLED"}}}"#;
        let own = reshape(answer, &member.shape).unwrap();
        assert_eq!(
            own.get(),
            r#"{"data":{"x":{"s":"CANCELLED","id":"5","event":{"n":"Almaty"},"status":"CANCELLED"}}}"#
        );
    }

    #[test]
    fn a_field_asked_with_other_arguments_gets_an_alias_of_its_own() {
        let member = of(
            "subscription { a: eventStatusChanged(eventId: \"1\") { id } b: eventStatusChanged(eventId: \"2\") { id } }",
            serde_json::json!({}),
        )
        .unwrap();
        assert_eq!(
            member.text,
            "subscription { _0: eventStatusChanged(eventId: \"1\") { id } _1: eventStatusChanged(eventId: \"2\") { id } }"
        );
        let own = reshape(
            r#"{"data":{"_0":{"id":"1"},"_1":{"id":"2"}}}"#,
            &member.shape,
        )
        .unwrap();
        assert_eq!(own.get(), r#"{"data":{"a":{"id":"1"},"b":{"id":"2"}}}"#);
    }

    #[test]
    fn fragments_and_conditions_are_spellings_too() {
        let plain = of(
            "subscription { eventStatusChanged(eventId: \"7\") { id status event { name } } }",
            serde_json::json!({}),
        )
        .unwrap();
        for text in [
            "subscription { ...F } fragment F on Subscription { eventStatusChanged(eventId: \"7\") { id ...G } } fragment G on EventStatusChange { status event { name } }",
            "subscription { eventStatusChanged(eventId: \"7\") { ... on EventStatusChange { id status } event { name } } }",
            "subscription($yes: Boolean!) { eventStatusChanged(eventId: \"7\") { id status reason @skip(if: true) event { name } ... @include(if: $yes) { id } } }",
        ] {
            let spelled = of(text, serde_json::json!({ "yes": true })).unwrap();
            assert_eq!(spelled.text, plain.text, "{text}");
        }
    }

    #[test]
    fn one_response_key_asked_twice_is_merged_as_execution_merges_it() {
        let member = of(
            "subscription { eventStatusChanged { e: event { name } ... on EventStatusChange { e: event { id } status } } }",
            serde_json::json!({}),
        )
        .unwrap();
        assert_eq!(
            member.text,
            "subscription { eventStatusChanged { event { id name } status } }"
        );
        let own = reshape(
            r#"{"data":{"eventStatusChanged":{"event":{"id":"1","name":"Almaty"},"status":"CANCELLED"}}}"#,
            &member.shape,
        )
        .unwrap();
        assert_eq!(
            own.get(),
            r#"{"data":{"eventStatusChanged":{"e":{"name":"Almaty","id":"1"},"status":"CANCELLED"}}}"#
        );
    }

    #[test]
    fn what_cannot_be_rewritten_safely_is_left_alone() {
        for text in [
            // A fragment that spreads itself (validation refuses it; here it just stops).
            "subscription { ...F } fragment F on Subscription { ...F }",
            "subscription { ...Missing }",
            "subscription { eventStatusChanged @deprecated { id } }",
            "subscription($l: Language) { eventStatusChanged { reason(language: $l) } }",
            "query { events { edges { cursor } } }",
        ] {
            assert!(of(text, serde_json::json!({})).is_none(), "{text}");
        }
    }
}
