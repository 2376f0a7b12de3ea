//! Every list a client can select has a declared maximum. The complexity limit multiplies
//! what one item of a list costs by its maximum, so that a document is priced before
//! anything runs (`event { distances { event { distances … } } }` costs 30 × 30 × …), and
//! the resolvers never return more than the maximum, so the price holds even for rows
//! written before a bound existed. Where a list grows by itself (a race's status history, a
//! runner's registrations) the newest items are kept.

/// Distances of one event; refused on write beyond it (`addDistance`).
pub const DISTANCES: usize = race_office::domain::MAX_DISTANCES_PER_EVENT;
/// Organizers, and partners, of one event.
pub const ORGANIZATIONS: usize = 10;
/// A race's status history: the newest changes, oldest first.
pub const STATUS_HISTORY: usize = 20;
/// A runner's own registrations, refund requests and donations: the newest.
pub const PERSONAL: usize = 50;
/// An account's push subscriptions (PUSH_MAX_SUBSCRIPTIONS_PER_ACCOUNT is capped by it).
pub const PUSH_SUBSCRIPTIONS: usize = 20;
/// Events one push subscription names (refused on write beyond it).
pub const SUBSCRIBED_EVENTS: usize = 100;
/// Charity projects in one answer.
pub const CHARITY_PROJECTS: usize = 100;
/// Sums per currency.
pub const CURRENCIES: usize = 8;
/// Alerts in a push report: the newest.
pub const PUSH_REPORTS: usize = 50;
/// Why pushes were given up, one entry per class.
pub const FAILURE_CLASSES: usize = 5;
/// Partner keys of one organization.
pub const PARTNER_KEYS: usize = 100;
/// Events in a partner's summary.
pub const PARTNER_EVENTS: usize = 10;
/// Groups in one participation figure (a country dimension has 249 values, a year of
/// registration days 366).
pub const STATS_GROUPS: usize = 300;
/// Keys of one group: one per dimension grouped by.
pub const STATS_KEYS: usize = 3;

/// What a list costs in the complexity limit: one item's cost times the most items.
pub fn list(bound: usize, child_complexity: usize) -> usize {
    bound.saturating_mul(child_complexity.max(1))
}

/// The first `bound` items.
pub fn first<T>(mut items: Vec<T>, bound: usize) -> Vec<T> {
    items.truncate(bound);
    items
}

/// The last `bound` items, in their order.
pub fn last<T>(mut items: Vec<T>, bound: usize) -> Vec<T> {
    let skip = items.len().saturating_sub(bound);
    items.split_off(skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_costs_its_bound_times_an_item() {
        assert_eq!(list(30, 4), 120);
        // Even an item with nothing counted costs one.
        assert_eq!(list(30, 0), 30);
        assert_eq!(list(usize::MAX, 2), usize::MAX);
    }

    /// What the engine counts for `query`, read by async-graphql's analyzer before any
    /// resolver runs (none can here: the schema has no data).
    async fn complexity_of(query: &str) -> usize {
        let schema = super::super::builder(super::super::Limits {
            complexity: usize::MAX,
            depth: 64,
            ..Default::default()
        })
        .extension(async_graphql::extensions::Analyzer)
        .finish();
        let response = schema.execute(query).await;
        match response.extensions.get("analyzer") {
            Some(async_graphql::Value::Object(analyzer)) => match analyzer.get("complexity") {
                Some(async_graphql::Value::Number(n)) => {
                    usize::try_from(n.as_u64().unwrap_or(0)).unwrap_or(0)
                }
                other => panic!("no complexity: {other:?}"),
            },
            other => panic!("no analyzer output: {other:?} {:?}", response.errors),
        }
    }

    #[tokio::test]
    async fn a_chain_of_lists_costs_the_product_of_their_bounds() {
        let one = complexity_of("{ event(id: \"1\") { distances { name } } }").await;
        assert_eq!(one, 1 + DISTANCES);
        let chain = complexity_of(
            "{ event(id: \"1\") { distances { event { distances { event { distances { name } } } } } } }",
        )
        .await;
        assert_eq!(chain, 1 + DISTANCES * (1 + DISTANCES * (1 + DISTANCES)));
        assert!(chain > super::super::Limits::default().complexity);
    }

    /// The runner page's race list (server/web/api.js, `EVENTS`) fits the default budget.
    #[tokio::test]
    async fn the_runner_page_s_race_list_fits_the_budget() {
        let page = complexity_of(
            "{ events(first: 25) { edges { node {
                id slug name description venue status registrationState startsAt startsAtLocal timeZone
                placesLeft
                organizers { id }
                refundPolicy { deadline deadlineEndsAt kitShareBasisPoints donationBasisPoints }
                distances { id name lengthMeters fee { amount currency } }
                statusHistory { id previousStatus status reason startsAt occurredAt }
            } } } }",
        )
        .await;
        println!("the page's race list costs {page}");
        assert!(page <= super::super::Limits::default().complexity, "{page}");
    }

    #[test]
    fn first_and_last_keep_order_and_bound() {
        assert_eq!(first(vec![1, 2, 3, 4], 2), [1, 2]);
        assert_eq!(last(vec![1, 2, 3, 4], 2), [3, 4]);
        assert_eq!(last(vec![1, 2], 5), [1, 2]);
    }
}
