//! The GraphQL schema: resolvers split by domain and merged, the DataLoaders they share,
//! guards, an extension that gives every error an `extensions.code`, and the document
//! guard that measures every document before it is parsed.

mod accounts;
mod alerts;
mod bounds;
mod charity;
mod codes;
pub mod cost;
mod date;
pub mod document_guard;
mod error_codes;
mod events;
mod guards;
mod ids;
mod languages;
mod loaders;
mod money;
mod organizations;
mod partner_access;
mod partner_keys;
pub mod public_reads;
mod push;
mod reach;
mod refunds;
mod registrations;
pub mod sharing;
mod stats;

use async_graphql::dataloader::DataLoader;
use async_graphql::{MergedObject, MergedSubscription, Schema};

use race_office::context::ApiContext;

pub use alerts::{
    AUDIENCE_SUBSCRIPTIONS, NoticeSource, ReplayFrom, ReplayTap, VIEWER_INDEPENDENT_SUBSCRIPTIONS,
};
pub use error_codes::{GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, QUERY_TOO_LARGE};

/// What can be read: events and their distances, charity projects (public); the
/// signed-in account and its registrations, refund requests and alert log; for
/// organizers, an event's registrations, refund requests, push and reach reports and
/// partner keys; for organizers and partners, participation statistics.
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
    alerts::AlertQuery,
    reach::ReachQuery,
);

/// What can be changed: accounts and sessions, registrations and refund requests for
/// runners; events, distances, status changes (which alert runners), refund decisions,
/// charity projects, partners and partner keys for organizers; Web Push subscriptions and
/// acknowledgements of alerts.
#[derive(MergedObject, Default)]
pub struct Mutation(
    accounts::AccountMutation,
    events::EventMutation,
    organizations::OrganizationMutation,
    registrations::RegistrationMutation,
    refunds::RefundMutation,
    charity::CharityMutation,
    push::PushMutation,
    partner_keys::PartnerKeyMutation,
    reach::ReachMutation,
);

/// Live alerts, over WebSocket (`graphql-transport-ws` or `graphql-ws`) or Server-Sent
/// Events (graphql-sse): every item once, in commit order, and with `after` a replay of
/// what was missed, with no gap and no repeat.
#[derive(MergedSubscription, Default)]
pub struct Subscription(alerts::AlertSubscription);

pub type ApiSchema = Schema<Query, Mutation, Subscription>;

/// Bounds on what one query may ask for. `depth` and `complexity` are checked by the
/// engine after parsing; the others by the document guard on the text, before parsing.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest selection nesting, fragments expanded.
    pub depth: usize,
    /// The budget of a query or mutation: its price, a field counting 1, a page `first`
    /// times an item and a list its declared bound times an item ([`bounds`]). The guard's
    /// expanded field count (`__typename` included) is held to it too.
    pub complexity: usize,
    /// The budget of a subscription, executed again for every alert while it lives.
    pub subscription_complexity: usize,
    /// Deepest nesting of brackets, braces and parentheses in the text, all counted
    /// together: the parser recurses on it.
    pub nesting: usize,
    /// Most tokens (names, punctuators, values; not comments) in the text.
    pub tokens: usize,
    /// Most aliases in the text.
    pub aliases: usize,
    /// Most directives in the text.
    pub directives: usize,
    /// Most fragment spreads in the text.
    pub fragment_spreads: usize,
    /// Most selections (fields, fragment spreads, inline fragments) of all the document's
    /// operations once every fragment spread is replaced by its fragment: the steps the
    /// engine walks, which a chain of fragments selecting nothing can multiply too.
    pub expanded_selections: usize,
}

impl Default for Limits {
    /// Sized for a public API whose GraphiQL must work: GraphiQL 4's introspection query
    /// has nesting 10, 163 tokens, no alias or directive, 8 spreads, and 230 selections
    /// (220 of them fields) once expanded. Tokens, aliases and directives follow GraphQL
    /// Armor's defaults (1000, 15, 50); nesting stays far below the thousand-odd levels
    /// that overflow a worker's stack.
    fn default() -> Self {
        Self {
            // GraphiQL's introspection query nests 14 deep.
            depth: 15,
            // The runner page's race list (25 races with their distances and history)
            // costs 8,200, a sponsor's summary of 10 events by age group 15,000; two
            // levels of `distances { event { distances … } } }` under one event 931;
            // three levels 27,931, refused.
            complexity: 20_000,
            // An alert with its race and the race's distances is under 100.
            subscription_complexity: 300,
            nesting: 32,
            tokens: 1000,
            aliases: 15,
            directives: 50,
            fragment_spreads: 100,
            expanded_selections: 1000,
        }
    }
}

/// The description of the `DateTime` scalar, in place of the one async-graphql gives it
/// (which names a Rust type). Its `@specifiedBy` (RFC 3339) is async-graphql's.
const DATE_TIME: &str = "An instant, as an RFC 3339 date-time string with an offset, e.g.\n\
    `2020-04-19T02:00:00+00:00`. Answers are always in UTC; show them in the event's\n\
    `timeZone` (an IANA zone), as `Event.startsAtLocal` does for the start. Inputs may\n\
    carry any offset (`2020-04-19T08:00:00+06:00` is the same instant), and lie in the\n\
    years 1900 to 2199.";

/// The descriptions of the Relay connections, which async-graphql leaves without one.
fn describe_connections(
    builder: async_graphql::SchemaBuilder<Query, Mutation, Subscription>,
) -> async_graphql::SchemaBuilder<Query, Mutation, Subscription> {
    use async_graphql::connection::Connection;
    builder
        .override_output_type_description::<Connection<String, events::Event>>(
            "A page of events (Relay cursor connection): `edges` with their cursors, or\n\
             just `nodes`, and `pageInfo.endCursor` to pass as `after` for the next page.",
        )
        .override_output_type_description::<Connection<String, registrations::Registration>>(
            "A page of an event's registrations (Relay cursor connection), oldest first.",
        )
        .override_output_type_description::<Connection<String, refunds::RefundRequest>>(
            "A page of an event's refund requests (Relay cursor connection), oldest first.",
        )
        .override_output_type_description::<Connection<String, reach::ReachRunner>>(
            "A page of a reach report's runners (Relay cursor connection), by account.",
        )
        .override_output_type_description::<Connection<String, alerts::Notification>>(
            "A page of the runner's alert log (Relay cursor connection), newest first.",
        )
}

fn builder(limits: Limits) -> async_graphql::SchemaBuilder<Query, Mutation, Subscription> {
    describe_connections(Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    ))
    .override_output_type_description::<chrono::DateTime<chrono::Utc>>(DATE_TIME)
    .extension(error_codes::ErrorCodes)
    .extension(document_guard::DocumentGuard(limits))
    .extension(partner_access::PartnerKeyScopes)
    .extension(cost::CostBudget(limits))
    .extension(public_reads::PublicWrites)
    .limit_depth(limits.depth)
}

/// The schema with its shared data. `introspection: false` answers introspection queries
/// as if the fields did not exist (production deployments that publish their SDL
/// elsewhere), and validation errors suggest no names ("Did you mean signIn?" would spell
/// the schema out all the same).
pub fn build_schema(ctx: ApiContext, limits: Limits, introspection: bool) -> ApiSchema {
    let loader = DataLoader::new(loaders::DbLoader::new(ctx.db.clone()), tokio::spawn);
    let builder = builder(limits).data(loader).data(ctx);
    if introspection {
        builder.finish()
    } else {
        builder
            .disable_introspection()
            .disable_suggestions()
            .finish()
    }
}

/// What the schema says of `text` without running it: the errors of parsing, the document
/// guard, validation (the depth limit included) and the cost budget, at the default
/// limits; none for a document the gateway would run. For the checks of documents kept
/// elsewhere (the runner page's manifest).
pub async fn validate(text: &str) -> Vec<async_graphql::ServerError> {
    builder(Limits::default())
        .extension(validated::Validated)
        .finish()
        .execute(text)
        .await
        .errors
}

mod validated {
    use std::sync::Arc;

    use async_graphql::Response;
    use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};

    /// Stops a request once it has validated: nothing resolves, so no data is needed.
    pub struct Validated;

    impl ExtensionFactory for Validated {
        fn create(&self) -> Arc<dyn Extension> {
            Arc::new(Validated)
        }
    }

    #[async_trait::async_trait]
    impl Extension for Validated {
        async fn execute(
            &self,
            _ctx: &ExtensionContext<'_>,
            _operation_name: Option<&str>,
            _next: NextExecute<'_>,
        ) -> Response {
            Response::default()
        }
    }
}

/// The SDL clients rely on (committed as `schema/schema.graphql`), with each custom
/// scalar's `@specifiedBy`.
pub fn sdl() -> String {
    builder(Limits::default())
        .finish()
        .sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}

#[cfg(test)]
mod tests {
    /// `validate` tells a document the schema takes from one naming a field it lacks, a
    /// subscription included (it is validated, never run).
    #[tokio::test]
    async fn validate_refuses_a_document_naming_a_field_the_schema_lacks() {
        assert!(
            super::validate("query Ok { events(first: 1) { edges { node { id } } } }")
                .await
                .is_empty()
        );
        assert!(
            super::validate("subscription S { myNotifications { id } }")
                .await
                .is_empty()
        );
        let errors =
            super::validate("query Gone { events(first: 1) { edges { node { gone } } } }").await;
        assert!(
            errors.iter().any(|e| e.message.contains("gone")),
            "{errors:?}"
        );
        assert!(!super::validate("query {").await.is_empty());
    }

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

    /// Every element of the public schema explains itself to the developer reading it in
    /// GraphiQL or the SDL: each type, field, argument, input field and enum value has a
    /// description (as GitHub's and Shopify's public schemas do), and every custom scalar
    /// names its specification with `@specifiedBy`. The built-in scalars and directives and
    /// the introspection types (`__*`) are the engine's and described by the spec. Fails
    /// naming every element that is missing one.
    #[test]
    fn every_element_of_the_schema_has_a_description() {
        use async_graphql::Positioned;
        use async_graphql::parser::parse_schema;
        use async_graphql::parser::types::{
            FieldDefinition, InputValueDefinition, TypeKind, TypeSystemDefinition,
        };

        const BUILT_IN_SCALARS: [&str; 5] = ["String", "Int", "Float", "Boolean", "ID"];
        const BUILT_IN_DIRECTIVES: [&str; 5] =
            ["include", "skip", "deprecated", "specifiedBy", "oneOf"];

        fn described(description: &Option<Positioned<String>>) -> bool {
            description
                .as_ref()
                .is_some_and(|d| !d.node.trim().is_empty())
        }
        /// Arguments are named `Type.field(argument:)`, input fields `Input.field`.
        fn inputs(
            name: impl Fn(&str) -> String,
            inputs: &[Positioned<InputValueDefinition>],
            elements: &mut usize,
            missing: &mut Vec<String>,
        ) {
            for input in inputs {
                *elements += 1;
                if !described(&input.node.description) {
                    missing.push(name(&input.node.name.node));
                }
            }
        }
        fn fields(
            ty: &str,
            fields: &[Positioned<FieldDefinition>],
            elements: &mut usize,
            missing: &mut Vec<String>,
        ) {
            for field in fields {
                *elements += 1;
                let name = format!("{ty}.{}", field.node.name.node);
                if !described(&field.node.description) {
                    missing.push(name.clone());
                }
                let arguments = &field.node.arguments;
                inputs(|a| format!("{name}({a}:)"), arguments, elements, missing);
            }
        }

        let document = parse_schema(super::sdl()).expect("the SDL parses");
        let mut missing = Vec::new();
        let mut unspecified = Vec::new();
        let mut elements = 0;
        for definition in &document.definitions {
            match definition {
                TypeSystemDefinition::Type(ty) => {
                    let name = ty.node.name.node.as_str();
                    if name.starts_with("__") || BUILT_IN_SCALARS.contains(&name) {
                        continue;
                    }
                    if !described(&ty.node.description) {
                        missing.push(name.to_string());
                    }
                    elements += 1;
                    match &ty.node.kind {
                        TypeKind::Scalar => {
                            let specified = ty
                                .node
                                .directives
                                .iter()
                                .any(|d| d.node.name.node == "specifiedBy");
                            if !specified {
                                unspecified.push(name.to_string());
                            }
                        }
                        TypeKind::Object(object) => {
                            fields(name, &object.fields, &mut elements, &mut missing);
                        }
                        TypeKind::Interface(interface) => {
                            fields(name, &interface.fields, &mut elements, &mut missing);
                        }
                        TypeKind::Union(_) => {}
                        TypeKind::Enum(enumeration) => {
                            for value in &enumeration.values {
                                elements += 1;
                                if !described(&value.node.description) {
                                    missing.push(format!("{name}.{}", value.node.value.node));
                                }
                            }
                        }
                        TypeKind::InputObject(input) => {
                            let input = &input.fields;
                            let name = |f: &str| format!("{name}.{f}");
                            inputs(name, input, &mut elements, &mut missing);
                        }
                    }
                }
                TypeSystemDefinition::Directive(directive) => {
                    let name = directive.node.name.node.as_str();
                    if BUILT_IN_DIRECTIVES.contains(&name) {
                        continue;
                    }
                    elements += 1;
                    if !described(&directive.node.description) {
                        missing.push(format!("@{name}"));
                    }
                    let arguments = &directive.node.arguments;
                    let name = |a: &str| format!("@{name}({a}:)");
                    inputs(name, arguments, &mut elements, &mut missing);
                }
                TypeSystemDefinition::Schema(_) => {}
            }
        }
        assert!(
            missing.is_empty(),
            "{} of the schema's {elements} elements have no description; write one (a doc \
             comment, or `#[graphql(desc = \"…\")]` on an argument):\n  {}",
            missing.len(),
            missing.join("\n  ")
        );
        assert!(
            unspecified.is_empty(),
            "custom scalars without `@specifiedBy(url:)`: {unspecified:?}"
        );
        // The walk saw the schema, not an empty document.
        assert!(elements > 300, "only {elements} elements walked");
    }

    /// A subscription in `VIEWER_INDEPENDENT_SUBSCRIPTIONS` is executed once per notice
    /// for every subscriber, whoever they are; one in `AUDIENCE_SUBSCRIPTIONS` once per
    /// notice for every viewer the notice concerns. So every field reachable from their
    /// types must answer the same to everyone who gets it. This pins that reachable set: a field added to one of
    /// these types fails here until someone has checked that it reads no viewer (and only
    /// then adds it below), or takes the subscription out of the shared list.
    #[test]
    fn shared_subscriptions_reach_only_fields_checked_to_be_viewer_independent() {
        use async_graphql::parser::parse_schema;
        use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
        use std::collections::{BTreeMap, BTreeSet};

        fn named(ty: &Type) -> &str {
            match &ty.base {
                BaseType::Named(name) => name.as_str(),
                BaseType::List(inner) => named(inner),
            }
        }

        let document = parse_schema(super::sdl()).expect("the SDL parses");
        // Object type -> (field, its named type); scalars and enums have no fields.
        let mut objects: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for definition in &document.definitions {
            if let TypeSystemDefinition::Type(ty) = definition {
                let fields = match &ty.node.kind {
                    TypeKind::Object(object) => &object.fields,
                    TypeKind::Interface(interface) => &interface.fields,
                    TypeKind::Union(_) => panic!("a union: extend this walk to its members"),
                    _ => continue,
                };
                objects.insert(
                    ty.node.name.node.to_string(),
                    fields
                        .iter()
                        .map(|f| (f.node.name.node.to_string(), named(&f.node.ty.node).into()))
                        .collect(),
                );
            }
        }

        let mut reachable = BTreeSet::new();
        let mut todo: Vec<String> = super::VIEWER_INDEPENDENT_SUBSCRIPTIONS
            .iter()
            .chain(super::AUDIENCE_SUBSCRIPTIONS)
            .map(|root| {
                let fields = &objects["Subscription"];
                let (_, ty) = fields
                    .iter()
                    .find(|(name, _)| name == root)
                    .unwrap_or_else(|| panic!("{root} is no subscription field"));
                ty.clone()
            })
            .collect();
        let mut seen = BTreeSet::new();
        while let Some(ty) = todo.pop() {
            if !seen.insert(ty.clone()) {
                continue;
            }
            for (field, field_ty) in objects.get(&ty).into_iter().flatten() {
                reachable.insert(format!("{ty}.{field}"));
                todo.push(field_ty.clone());
            }
        }

        // Each checked by reading its resolver: public data of the race, no Viewer read,
        // no guard, the same for an anonymous socket, a runner and a partner key.
        let checked = [
            "Distance.event",
            "Distance.fee",
            "Distance.id",
            "Distance.lengthMeters",
            "Distance.name",
            "Event.capacity",
            "Event.description",
            "Event.distances",
            "Event.id",
            "Event.name",
            "Event.organizers",
            "Event.partners",
            "Event.placesLeft",
            "Event.refundPolicy",
            "Event.registeredCount",
            "Event.registrationState",
            "Event.slug",
            "Event.startsAt",
            "Event.startsAtLocal",
            "Event.status",
            "Event.statusHistory",
            "Event.timeZone",
            "Event.venue",
            "EventStatusChange.event",
            "EventStatusChange.id",
            "EventStatusChange.occurredAt",
            "EventStatusChange.previousStatus",
            "EventStatusChange.reason",
            "EventStatusChange.reasons",
            "EventStatusChange.startsAt",
            "LocalizedText.language",
            "LocalizedText.text",
            "EventStatusChange.status",
            "Notification.eventStatusChange",
            "Notification.id",
            "Notification.kind",
            // The decision on one runner's refund: only ever the item of that runner's
            // notice, which concerns nobody else.
            "Notification.refundDecision",
            "RefundDecided.decidedAt",
            "RefundDecided.eventId",
            "RefundDecided.eventName",
            "RefundDecided.note",
            "RefundDecided.option",
            "RefundDecided.refundRequestId",
            "RefundDecided.registrationId",
            "RefundDecided.status",
            "Money.amount",
            "Money.currency",
            "Organization.id",
            "Organization.kind",
            "Organization.name",
            "Organization.slug",
            "RefundPolicy.deadline",
            "RefundPolicy.deadlineEndsAt",
            "RefundPolicy.defaultOption",
            "RefundPolicy.donationBasisPoints",
            "RefundPolicy.kitIssueFrom",
            "RefundPolicy.kitShareBasisPoints",
        ];
        let checked: BTreeSet<String> = checked.iter().map(|f| f.to_string()).collect();
        let unchecked: Vec<_> = reachable.difference(&checked).collect();
        assert!(
            unchecked.is_empty(),
            "fields now reachable from a shared subscription, not yet checked to answer the \
             same to every viewer: {unchecked:?}"
        );
        // A field that left keeps the list honest too.
        let gone: Vec<_> = checked.difference(&reachable).collect();
        assert!(
            gone.is_empty(),
            "no longer reachable, drop from the list: {gone:?}"
        );
    }
}
