//! The cost budget. async-graphql prices a document while validating it, before any
//! resolver runs: a field costs 1, a page `first` times an item, a list its declared bound
//! times an item ([`super::bounds`]). This refuses a document whose price passes the budget
//! of its kind, with `QUERY_TOO_COMPLEX`: queries and mutations `QUERY_COMPLEXITY_LIMIT`,
//! subscriptions the lower `SUBSCRIPTION_COMPLEXITY_LIMIT` (a subscription is executed
//! again for every alert, for as long as it lives). The same check runs on every transport,
//! since every transport executes through the schema.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{ServerError, ServerResult, ValidationResult, Value, Variables};

use super::Limits;

/// The document's price passes its budget. `extensions.limit` names the setting,
/// `extensions.max` its value, `extensions.cost` the document's price.
pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";

pub struct CostBudget(pub Limits);

impl ExtensionFactory for CostBudget {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Budget {
            limits: self.0,
            subscription: AtomicBool::new(false),
        })
    }
}

/// One request's check.
struct Budget {
    limits: Limits,
    /// Whether the document holds a subscription: then the lower budget applies to it.
    subscription: AtomicBool,
}

#[async_trait::async_trait]
impl Extension for Budget {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let subscription = document
            .operations
            .iter()
            .any(|(_, operation)| operation.node.ty == OperationType::Subscription);
        self.subscription.store(subscription, Ordering::Relaxed);
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let validated = next.run(ctx).await?;
        let (max, setting) = if self.subscription.load(Ordering::Relaxed) {
            (
                self.limits.subscription_complexity,
                "SUBSCRIPTION_COMPLEXITY_LIMIT",
            )
        } else {
            (self.limits.complexity, "QUERY_COMPLEXITY_LIMIT")
        };
        if validated.complexity <= max {
            return Ok(validated);
        }
        let mut error = ServerError::new(
            format!(
                "Query is too complex: it costs {} and the limit is {max} (a list counts its \
                 most items times one item)",
                validated.complexity
            ),
            None,
        );
        let extensions = error.extensions.get_or_insert_with(Default::default);
        extensions.set("code", Value::from(QUERY_TOO_COMPLEX));
        extensions.set("limit", Value::from(setting));
        extensions.set("max", Value::from(max));
        extensions.set("cost", Value::from(validated.complexity));
        Err(vec![error])
    }
}
