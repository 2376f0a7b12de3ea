//! Gives every error an `extensions.code`: resolver errors carry their own; a query that
//! does not parse or validate (including the depth and complexity limits) gets a GraphQL
//! code; any other error the engine raises about the input becomes `BAD_USER_INPUT`.
//! The codes the engine's side gives (not a resolver's) are defined here.

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Value, Variables};
use std::sync::Arc;

pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
/// The document guard refused the document before parsing it: it passes one of the
/// document limits (nesting, tokens, aliases, directives, fragment spreads, expanded
/// selections, or complexity counted with `__typename`). `extensions.limit` names the
/// setting, `extensions.max` its value. A request error, like a parse failure: HTTP 400
/// for `application/graphql-response+json` clients.
pub const QUERY_TOO_LARGE: &str = "QUERY_TOO_LARGE";

pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes)
    }
}

fn with_code(mut error: ServerError, code: &str) -> ServerError {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", Value::from(code));
    }
    error
}

#[async_trait::async_trait]
impl Extension for ErrorCodes {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        response.errors = response
            .errors
            .into_iter()
            .map(|e| with_code(e, "BAD_USER_INPUT"))
            .collect();
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables)
            .await
            .map_err(|e| with_code(e, GRAPHQL_PARSE_FAILED))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| {
                    // A value of the wrong type (an unknown enum value such as a language
                    // we lack, a string for an Int) is the user's input, as Apollo counts
                    // it; the document itself is sound.
                    let code = if e.message.starts_with("Invalid value for argument") {
                        "BAD_USER_INPUT"
                    } else {
                        GRAPHQL_VALIDATION_FAILED
                    };
                    with_code(e, code)
                })
                .collect()
        })
    }
}
