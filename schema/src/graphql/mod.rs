//! The GraphQL schema: resolvers split by domain and merged, the DataLoaders they share,
//! guards, and an extension that gives every error an `extensions.code`.

mod accounts;
mod alerts;
mod charity;
mod date;
mod error_codes;
mod events;
mod guards;
mod ids;
mod loaders;
mod money;
mod partner_access;
mod partner_keys;
mod push;
mod refunds;
mod registrations;
mod stats;

use async_graphql::dataloader::DataLoader;
use async_graphql::{MergedObject, MergedSubscription, Schema};

use crate::context::ApiContext;

pub use alerts::{NoticeSource, ReplayFrom, VIEWER_INDEPENDENT_SUBSCRIPTIONS};
pub use error_codes::{GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED};

#[derive(MergedObject, Default)]
pub struct Query(
    accounts::AccountQuery,
    events::EventQuery,
    registrations::RegistrationQuery,
    refunds::RefundQuery,
    charity::CharityQuery,
    push::PushQuery,
    stats::StatsQuery,
    partner_keys::PartnerKeyQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    accounts::AccountMutation,
    events::EventMutation,
    registrations::RegistrationMutation,
    refunds::RefundMutation,
    charity::CharityMutation,
    push::PushMutation,
    partner_keys::PartnerKeyMutation,
);

#[derive(MergedSubscription, Default)]
pub struct Subscription(alerts::AlertSubscription);

pub type ApiSchema = Schema<Query, Mutation, Subscription>;

/// Bounds on what one query may ask for.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub depth: usize,
    pub complexity: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            depth: 10,
            complexity: 500,
        }
    }
}

fn builder(limits: Limits) -> async_graphql::SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .extension(error_codes::ErrorCodes)
    .extension(partner_access::PartnerKeyScopes)
    .limit_depth(limits.depth)
    .limit_complexity(limits.complexity)
}

/// The schema with its shared data. `introspection: false` answers introspection queries
/// as if the fields did not exist (production deployments that publish their SDL
/// elsewhere).
pub fn build_schema(ctx: ApiContext, limits: Limits, introspection: bool) -> ApiSchema {
    let loader = DataLoader::new(loaders::DbLoader::new(ctx.db.clone()), tokio::spawn);
    let builder = builder(limits).data(loader).data(ctx);
    if introspection {
        builder.finish()
    } else {
        builder.disable_introspection().finish()
    }
}

/// The SDL clients rely on (committed as `schema/schema.graphql`).
pub fn sdl() -> String {
    builder(Limits::default()).finish().sdl()
}

#[cfg(test)]
mod tests {
    /// The committed SDL is the contract; a change to it must be deliberate. Regenerate
    /// with `cargo run -p server -- export-schema > schema/schema.graphql`.
    #[test]
    fn the_committed_sdl_matches_the_code() {
        let committed = include_str!("../../schema.graphql");
        let current = super::sdl();
        assert!(
            committed == current,
            "schema/schema.graphql is out of date: run `cargo run -p server -- export-schema > schema/schema.graphql`"
        );
    }
}
