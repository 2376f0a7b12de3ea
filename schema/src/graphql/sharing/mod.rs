//! What the fan-out needs to know of a subscription document to share its executions:
//! which operation it runs, whether its answer depends on who asks, which variables only
//! say where a replay starts (`after`), and its canonical spelling. These are conventions
//! of the subscriptions this crate defines, so they live beside them.

mod order;
mod spelling;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection,
    SelectionSet,
};
use async_graphql_value::Value;

pub use order::in_selection_order;
pub use spelling::{Canonical, Shape, canonical, reshape};

use super::{AUDIENCE_SUBSCRIPTIONS, VIEWER_INDEPENDENT_SUBSCRIPTIONS};

/// The operation a request runs (the spec's GetOperation): the named one, or the only one.
pub fn operation_of<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a OperationDefinition> {
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| &op.node)
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// A document parsed once, and what the fan-out needs to know of each operation in it.
pub struct Document {
    pub parsed: ExecutableDocument,
}

impl Document {
    pub fn operation(&self, name: Option<&str>) -> Option<&OperationDefinition> {
        operation_of(&self.parsed, name)
    }

    pub fn kind(&self, name: Option<&str>) -> Option<OperationType> {
        self.operation(name).map(|op| op.ty)
    }

    /// The root fields of the operation, through fragments (a fragment cycle is left to
    /// validation; here it just stops).
    pub fn root_fields(&self, name: Option<&str>) -> Vec<&async_graphql::parser::types::Field> {
        fn walk<'a>(
            document: &'a ExecutableDocument,
            set: &'a SelectionSet,
            depth: usize,
            out: &mut Vec<&'a async_graphql::parser::types::Field>,
        ) {
            if depth > 16 {
                return;
            }
            for item in &set.items {
                match &item.node {
                    Selection::Field(field) => out.push(&field.node),
                    Selection::InlineFragment(inline) => {
                        walk(document, &inline.node.selection_set.node, depth + 1, out)
                    }
                    Selection::FragmentSpread(spread) => {
                        if let Some(fragment) =
                            document.fragments.get(&spread.node.fragment_name.node)
                        {
                            walk(document, &fragment.node.selection_set.node, depth + 1, out)
                        }
                    }
                }
            }
        }
        let mut out = Vec::new();
        if let Some(op) = self.operation(name) {
            walk(&self.parsed, &op.selection_set.node, 0, &mut out);
        }
        out
    }

    /// Whether every root field's answer is the same whoever asks.
    pub fn shared_by_everyone(&self, name: Option<&str>) -> bool {
        let fields = self.root_fields(name);
        !fields.is_empty()
            && fields.iter().all(|field| {
                let name = field.name.node.as_str();
                name == "__typename" || VIEWER_INDEPENDENT_SUBSCRIPTIONS.contains(&name)
            })
    }

    /// Whether every root field's answer to a notice is the same for every viewer it
    /// concerns (and nothing for the others): executed once per notice for all of them.
    pub fn shared_by_audience(&self, name: Option<&str>) -> bool {
        let fields = self.root_fields(name);
        !fields.is_empty()
            && fields.iter().all(|field| {
                let name = field.name.node.as_str();
                name == "__typename" || AUDIENCE_SUBSCRIPTIONS.contains(&name)
            })
    }

    /// Variables that feed a root field's `after`: they do not change what a group
    /// executes (only where a member's replay starts), so they stay out of its key.
    pub fn cursor_variables(&self, name: Option<&str>) -> Vec<String> {
        self.root_fields(name)
            .iter()
            .flat_map(|field| field.arguments.iter())
            .filter(|(argument, _)| argument.node.as_str() == "after")
            .filter_map(|(_, value)| match &value.node {
                Value::Variable(variable) => Some(variable.to_string()),
                _ => None,
            })
            .collect()
    }
}
