//! Property tests: generated documents measured by the guard and, independently, by
//! async-graphql's own parser and a naive expander over its syntax tree. The guard never
//! panics; on a document whose operations reach no spread cycle its expanded count is
//! exactly the naive one, so it never accepts one whose expansion passes the limit; one
//! that reaches a cycle and that it accepts, the engine itself refuses.

mod documents;
mod oracle;

use proptest::prelude::*;

use super::hostile::open;
use super::{Limit, measure};
use crate::graphql::Limits;
use documents::{doubling_chains, nested_argument, random_documents, render, soup};
use oracle::judge;

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_spread_graphs_are_measured_exactly_or_left_to_a_refusing_engine(
        doc in random_documents(),
        seps in prop::collection::vec(0usize..6, 1..16),
        limit in 1usize..200,
        complexity in prop_oneof![Just(usize::MAX), 1usize..100],
    ) {
        judge(&render(&doc, &seps), limit, complexity)?;
    }

    #[test]
    fn doubling_chains_are_refused_once_they_pass_the_limit(
        doc in doubling_chains(),
        seps in prop::collection::vec(0usize..6, 1..4),
        limit in 1usize..5000,
        complexity in prop_oneof![Just(usize::MAX), 1usize..3000],
    ) {
        judge(&render(&doc, &seps), limit, complexity)?;
    }

    #[test]
    fn nesting_is_refused_exactly_past_the_limit(
        kinds in prop::collection::vec(any::<bool>(), 0..300),
        limit in 1usize..200,
    ) {
        let (text, nesting) = nested_argument(&kinds);
        if kinds.len() < 40 {
            prop_assert!(async_graphql::parser::parse_query(&text).is_ok(), "{}", text);
        }
        let limits = Limits { nesting: limit, ..open() };
        let verdict = measure(&text, &limits).err().map(|refusal| refusal.limit);
        prop_assert_eq!(verdict, (nesting > limit).then_some(Limit::Nesting), "{}", text);
    }

    #[test]
    fn token_soup_never_panics(text in soup(), limit in 0usize..20) {
        let limits = Limits {
            nesting: limit,
            fragment_spreads: limit,
            expanded_selections: limit,
            ..open()
        };
        let _ = measure(&text, &limits);
        let _ = measure(&text, &open());
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>(), limit in 0usize..40) {
        let limits = Limits {
            nesting: limit,
            tokens: limit,
            aliases: limit,
            directives: limit,
            fragment_spreads: limit,
            expanded_selections: limit,
            ..open()
        };
        let _ = measure(&text, &limits);
        let _ = measure(&text, &open());
    }
}
