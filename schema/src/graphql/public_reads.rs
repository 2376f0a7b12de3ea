//! What anyone may read without a credential, and what changes it. The server caches the
//! answers of anonymous queries whose every root field is a public read ([`PUBLIC_ROOTS`]),
//! so it must learn of every write that could change them: a mutation tells
//! [`race_office::PublicReads`] before it answers unless each of its root fields is one
//! that touches no public read ([`PRIVATE_MUTATIONS`]: an allowlist, so a mutation added
//! later drops the cache until someone says otherwise). Time changes one public read,
//! `Event.registrationState` (closed once the race starts): its resolver says until when
//! the answer holds ([`ValidUntil`]).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection};
use async_graphql::{Response, ServerResult, Variables};
use chrono::{DateTime, Utc};
use race_office::ApiContext;

/// Root fields of public event data: the race list, an event, the charity projects and
/// their totals. Partner keys with `EVENTS_READ` reach the same.
pub const PUBLIC_ROOTS: &[&str] = &[
    "events",
    "event",
    "eventBySlug",
    "charityProjects",
    "charitySummary",
];

/// Mutations that write nothing a public read shows: accounts and sessions, devices,
/// acknowledgements, partner keys, a runner's starter kit and refund request (a request
/// changes no count; a decision may, and is not listed).
pub const PRIVATE_MUTATIONS: &[&str] = &[
    "signUp",
    "confirmSignUp",
    "signIn",
    "signOut",
    "requestPasswordReset",
    "resetPassword",
    "updateAccount",
    "subscribePush",
    "unsubscribePush",
    "acknowledgeNotifications",
    "acknowledgePush",
    "issuePartnerKey",
    "revokePartnerKey",
    "advanceStarterKit",
    "requestRefund",
    "__typename",
];

/// Whether an answer to `document` may be shared by every anonymous client: a query whose
/// every root selection is a public read (a fragment at the root is not looked into, and
/// is not shared).
pub fn is_public_read(document: &ExecutableDocument, operation_name: Option<&str>) -> bool {
    let Some(operation) = (match operation_name {
        Some(name) => document
            .operations
            .iter()
            .find(|(op_name, _)| op_name.map(|n| n.as_str()) == Some(name)),
        None => {
            let mut operations = document.operations.iter();
            match (operations.next(), operations.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        }
    }) else {
        return false;
    };
    let operation = &operation.1.node;
    operation.ty == OperationType::Query
        && operation.selection_set.node.items.iter().all(|item| {
            matches!(&item.node, Selection::Field(field)
                if PUBLIC_ROOTS.contains(&field.node.name.node.as_str())
                    || field.node.name.node == "__typename")
        })
}

/// Whether any mutation in `document` may change a public read.
fn may_change_public_reads(document: &ExecutableDocument) -> bool {
    document.operations.iter().any(|(_, operation)| {
        operation.node.ty == OperationType::Mutation
            && !operation.node.selection_set.node.items.iter().all(|item| {
                matches!(&item.node, Selection::Field(field)
                    if PRIVATE_MUTATIONS.contains(&field.node.name.node.as_str()))
            })
    })
}

/// Until when an answer holds by the clock alone (put in a request's data by whoever
/// caches it, who keeps a clone to read afterwards; resolvers that read the clock narrow
/// it).
#[derive(Default, Clone)]
pub struct ValidUntil(Arc<Mutex<Option<DateTime<Utc>>>>);

impl ValidUntil {
    /// The answer changes at `at`.
    pub fn at_most(&self, at: DateTime<Utc>) {
        let mut until = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *until = Some(until.map_or(at, |current| current.min(at)));
    }

    pub fn get(&self) -> Option<DateTime<Utc>> {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The extension telling [`race_office::PublicReads`] after a mutation that may have
/// changed a public read: after it has run (and committed), before it answers, on every
/// transport.
pub struct PublicWrites;

impl ExtensionFactory for PublicWrites {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PublicWritesOfOneRequest::default())
    }
}

#[derive(Default)]
struct PublicWritesOfOneRequest {
    changes: AtomicBool,
}

#[async_trait::async_trait]
impl Extension for PublicWritesOfOneRequest {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if may_change_public_reads(&document) {
            self.changes.store(true, Ordering::Relaxed);
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let response = next.run(ctx, operation_name).await;
        if self.changes.load(Ordering::Relaxed)
            && let Some(api) = ctx.data_opt::<ApiContext>()
        {
            api.public_reads.changed().await;
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    fn doc(text: &str) -> ExecutableDocument {
        parse_query(text).unwrap()
    }

    #[test]
    fn only_queries_of_public_roots_are_shared() {
        assert!(is_public_read(&doc("{ events { nodes { id } } }"), None));
        assert!(is_public_read(
            &doc(
                "query A { event(id: 1) { placesLeft } charitySummary(year: 2020) { __typename } }"
            ),
            Some("A")
        ));
        assert!(!is_public_read(&doc("{ me { id } }"), None));
        assert!(!is_public_read(
            &doc("{ events { nodes { id } } me { id } }"),
            None
        ));
        assert!(!is_public_read(
            &doc("{ ...F } fragment F on Query { events { nodes { id } } }"),
            None
        ));
        assert!(!is_public_read(
            &doc("{ __schema { types { name } } }"),
            None
        ));
        assert!(!is_public_read(&doc("mutation { signOut }"), None));
        // Two operations and no name: nothing says which runs.
        assert!(!is_public_read(
            &doc("query A { events { nodes { id } } } query B { me { id } }"),
            None
        ));
        assert!(!is_public_read(
            &doc("query A { events { nodes { id } } } query B { me { id } }"),
            Some("B")
        ));
    }

    #[test]
    fn a_mutation_not_known_to_be_private_changes_public_reads() {
        assert!(!may_change_public_reads(&doc(
            "mutation { signOut acknowledgeNotifications(upTo: 1) }"
        )));
        assert!(may_change_public_reads(&doc(
            "mutation { signOut register(input: {}) { id } }"
        )));
        assert!(may_change_public_reads(&doc(
            "mutation { ...F } fragment F on Mutation { signOut }"
        )));
        assert!(may_change_public_reads(&doc(
            "mutation { aFieldAddedLater }"
        )));
        assert!(!may_change_public_reads(&doc(
            "{ events { nodes { id } } }"
        )));
    }

    #[test]
    fn the_earliest_change_bounds_the_answer() {
        let until = ValidUntil::default();
        assert_eq!(until.get(), None);
        let (early, late) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        until.at_most(late);
        until.at_most(early);
        until.at_most(late);
        assert_eq!(until.get(), Some(early));
    }
}
