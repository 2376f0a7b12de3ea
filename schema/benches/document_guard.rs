//! How long the document guard takes on the largest hostile documents a request may carry
//! (64 KiB), beside GraphiQL's introspection query. A measurement, not a test:
//!
//!     cargo bench -p schema --bench document_guard

use std::hint::black_box;
use std::time::Instant;

use schema::Limits;
use schema::graphql::document_guard::check;
use schema::graphql::document_guard::hostile::{fragment_bomb, nested_literal, open};

fn main() {
    let fragments = fragment_bomb(1500);
    let nested = nested_literal(32 * 1024);
    let introspection =
        include_str!("../src/graphql/document_guard/graphiql_introspection.graphql");
    let expansion_only = Limits {
        expanded_selections: 1000,
        ..open()
    };
    let cases: [(&str, &str, Limits); 4] = [
        ("fragment bomb, defaults", &fragments, Limits::default()),
        (
            "fragment bomb, only the expansion limited",
            &fragments,
            expansion_only,
        ),
        ("nested literal, defaults", &nested, Limits::default()),
        ("GraphiQL introspection", introspection, Limits::default()),
    ];
    for (name, text, limits) in cases {
        let rounds = 200u32;
        let started = Instant::now();
        for _ in 0..rounds {
            black_box(check(black_box(text), &limits).is_ok());
        }
        let each = started.elapsed() / rounds;
        println!("{name}: {} bytes, {each:?} per check", text.len());
    }
}
