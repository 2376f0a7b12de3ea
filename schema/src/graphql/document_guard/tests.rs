//! Unit tests of the document guard: the lexer's corners (strings, block strings,
//! comments, the grammar's quirks), each limit just under and just over, and the hostile
//! documents of issue 10.

use super::hostile::open;
use super::hostile::{fragment_bomb, nested_literal};
use super::{Limit, Refusal, check, measure};
use crate::graphql::Limits;

fn refused(text: &str, limits: &Limits) -> Option<Limit> {
    check(text, limits).err().map(|refusal| refusal.limit)
}

/// The smallest value of one limit that accepts `text`: the document measures that much.
fn measured(text: &str, limit: Limit) -> usize {
    let set = |max: usize| {
        let mut limits = open();
        match limit {
            Limit::Nesting => limits.nesting = max,
            Limit::Tokens => limits.tokens = max,
            Limit::Aliases => limits.aliases = max,
            Limit::Directives => limits.directives = max,
            Limit::FragmentSpreads => limits.fragment_spreads = max,
            Limit::ExpandedSelections => limits.expanded_selections = max,
            Limit::Complexity => limits.complexity = max,
        }
        limits
    };
    let mut max = 0;
    while refused(text, &set(max)).is_some() {
        assert_eq!(refused(text, &set(max)), Some(limit), "{text}");
        max += 1;
    }
    max
}

/// Fields and selections once fragments are expanded.
fn expanded(text: &str) -> (u64, u64) {
    let size = measure(text, &open()).expect("open limits accept everything");
    (size.fields, size.selections)
}

/// The parser accepts the document: the guard's reading of it is then the one that counts.
fn parses(text: &str) {
    if let Err(error) = async_graphql::parser::parse_query(text) {
        panic!("the parser refuses {text:?}: {error}");
    }
}

#[test]
fn brackets_inside_strings_comments_and_block_strings_do_not_nest() {
    let text = "{ a(s: \"{[(\\\"{[(\", t: \"\"\"\n{[( \\\"\"\" {[(\n\"\"\") # {[({[(\n b }";
    parses(text);
    assert_eq!(measured(text, Limit::Nesting), 2);
    assert_eq!(expanded(text), (2, 2));
}

#[test]
fn spreads_and_aliases_inside_strings_and_comments_do_not_count() {
    let text = "{ a(s: \"...F x: y\", t: \"\"\"...F @d\"\"\") # ...F a: b @c\n }";
    parses(text);
    assert_eq!(measured(text, Limit::FragmentSpreads), 0);
    assert_eq!(measured(text, Limit::Aliases), 0);
    assert_eq!(measured(text, Limit::Directives), 0);
    assert_eq!(expanded(text), (1, 1));
}

#[test]
fn a_backslash_before_three_quotes_does_not_end_a_block_string() {
    // `\"""` is an escaped delimiter, also after another backslash: the grammar reads
    // `\\"""` as `\` then `\"""`.
    let text = "{ a(s: \"\"\" \\\\\"\"\" {{{ \"\"\") }";
    parses(text);
    assert_eq!(measured(text, Limit::Nesting), 2);
}

#[test]
fn an_unterminated_block_string_is_read_as_the_parser_reads_it() {
    // No closing `"""`: the parser takes `""` for an empty string and goes on, so the
    // list after it nests for real.
    let text = "{ a(x: [\"\"\" \" [[[]]] ]) }";
    parses(text);
    assert_eq!(measured(text, Limit::Nesting), 6);
}

#[test]
fn a_string_ends_at_a_line_end() {
    // The parser refuses the string at the line end; nothing after it is hidden from the
    // guard either.
    let text = "{ a(s: \"abc\n[[[[ ]]]]\") }";
    assert_eq!(measured(text, Limit::Nesting), 6);
}

#[test]
fn keywords_are_prefixes_as_in_the_grammar() {
    // The grammar matches `fragment` and `query` as prefixes: `fragmentF0` defines F0.
    let text =
        "queryQ { ...F1 } fragmentF0 on Query { __typename } fragmentF1 on Query { ...F0 ...F0 }";
    parses(text);
    assert_eq!(expanded(text), (2, 5));
}

#[test]
fn on_after_a_comment_is_a_fragment_name_not_a_type_condition() {
    // `... on#\nT` spreads a fragment named `on` and then selects the field `T`.
    let text = "{ ... on#c\nT } fragment on on Query { a b c }";
    parses(text);
    assert_eq!(expanded(text), (4, 5));
    assert_eq!(measured(text, Limit::FragmentSpreads), 1);
    let inline = "{ ... on T { a } ...on,U { b } ... @include(if: true) { c } }";
    parses(inline);
    assert_eq!(expanded(inline), (3, 6));
    assert_eq!(measured(inline, Limit::FragmentSpreads), 0);
}

#[test]
fn a_byte_order_mark_and_commas_are_whitespace() {
    let text = "\u{feff}{ a, b,,, c }";
    parses(text);
    assert_eq!(measured(text, Limit::Tokens), 5);
    assert_eq!(expanded(text), (3, 3));
}

#[test]
fn numbers_are_lexed_as_the_grammar_lexes_them() {
    // `0123` is two numbers to the grammar; `-1.5e+3` one.
    let text = "{ a(x: [0123 -1.5e+3]) }";
    parses(text);
    assert_eq!(measured(text, Limit::Tokens), 12);
}

#[test]
fn nesting_just_under_and_just_over() {
    let text = nested_literal(10);
    // The body, the arguments, the input object, then the lists.
    assert_eq!(measured(&text, Limit::Nesting), 13);
    let limits = Limits {
        nesting: 13,
        ..open()
    };
    assert_eq!(refused(&text, &limits), None);
    assert_eq!(refused(&nested_literal(11), &limits), Some(Limit::Nesting));
}

#[test]
fn tokens_just_under_and_just_over() {
    let text = "query Q($id: ID!) { event(id: $id) { name } }";
    assert_eq!(measured(text, Limit::Tokens), 21);
    let limits = Limits {
        tokens: 21,
        ..open()
    };
    assert_eq!(refused(text, &limits), None);
    assert_eq!(
        refused(&format!("{text} # comments are not tokens"), &limits),
        None
    );
    assert_eq!(
        refused(&text.replace("name", "name id"), &limits),
        Some(Limit::Tokens)
    );
}

#[test]
fn aliases_just_under_and_just_over() {
    // Colons in arguments, input objects and variable definitions are not aliases.
    let text = "query($n: Int) { a: events(first: $n, filter: {status: [CANCELLED]}) { b: id } }";
    parses(text);
    assert_eq!(measured(text, Limit::Aliases), 2);
    let limits = Limits {
        aliases: 2,
        ..open()
    };
    assert_eq!(refused(text, &limits), None);
    assert_eq!(
        refused(&text.replace("b: id", "b: id c: id"), &limits),
        Some(Limit::Aliases)
    );
}

#[test]
fn directives_just_under_and_just_over() {
    let text = "query Q @a { f @b(if: true) ...F @c ... @d { g } } fragment F on Query @e { h }";
    parses(text);
    assert_eq!(measured(text, Limit::Directives), 5);
    let limits = Limits {
        directives: 5,
        ..open()
    };
    assert_eq!(refused(text, &limits), None);
    assert_eq!(
        refused(&text.replace("{ h }", "{ h @f }"), &limits),
        Some(Limit::Directives)
    );
}

#[test]
fn fragment_spreads_just_under_and_just_over() {
    let text = fragment_bomb(3);
    assert_eq!(measured(&text, Limit::FragmentSpreads), 7);
    let limits = Limits {
        fragment_spreads: 7,
        ..open()
    };
    assert_eq!(refused(&text, &limits), None);
    assert_eq!(
        refused(&fragment_bomb(4), &limits),
        Some(Limit::FragmentSpreads)
    );
}

#[test]
fn expanded_selections_just_under_and_just_over() {
    // 64 fields, and 127 spreads on the way to them.
    let text = fragment_bomb(6);
    parses(&text);
    assert_eq!(expanded(&text), (64, 191));
    let limits = Limits {
        expanded_selections: 191,
        ..open()
    };
    assert_eq!(refused(&text, &limits), None);
    assert_eq!(
        refused(
            &text.replace("{ __typename }", "{ __typename id }"),
            &limits
        ),
        Some(Limit::ExpandedSelections)
    );
}

#[test]
fn a_chain_of_fragments_that_select_nothing_is_sized_by_its_spreads() {
    // No field at all, yet the engine would walk 2^30 spreads (22 levels took it 0.8 s).
    let text = fragment_bomb(30).replace("{ __typename }", "{ ...Missing }");
    parses(&text);
    assert_eq!(expanded(&text).0, 0);
    assert_eq!(
        refused(&text, &Limits::default()),
        Some(Limit::ExpandedSelections)
    );
}

#[test]
fn typename_counts_toward_the_complexity_limit() {
    // async-graphql's complexity leaves `__typename` out; the guard holds its count,
    // which keeps it, to the complexity limit too.
    let limits = Limits {
        complexity: 64,
        ..open()
    };
    assert_eq!(refused(&fragment_bomb(6), &limits), None);
    let over = check(&fragment_bomb(7), &limits).unwrap_err();
    assert_eq!(
        over,
        Refusal {
            limit: Limit::Complexity,
            max: 64
        }
    );
    assert!(over.message().contains("QUERY_COMPLEXITY_LIMIT"));
}

#[test]
fn fields_are_counted_in_every_operation_and_inline_fragment_but_not_in_unused_fragments() {
    let text = "query A { a ... on Query { b c } } query B { d { e } ...F } fragment F on Query { f } fragment Unused on Query { g h i }";
    parses(text);
    assert_eq!(expanded(text), (6, 8));
}

#[test]
fn cycles_and_unknown_fragments_end_the_measure_and_are_left_to_validation() {
    let text =
        "{ ...A ...Nope } fragment A on Query { a ...B ...A } fragment B on Query { b ...A ...B }";
    parses(text);
    assert_eq!(expanded(text), (2, 8));
}

#[test]
fn the_graphiql_introspection_query_passes_the_defaults() {
    // What GraphiQL 4 sends: graphql-js 16's getIntrospectionQuery() with its options
    // (descriptions on, schema description and input value deprecation off).
    let text = include_str!("graphiql_introspection.graphql");
    parses(text);
    assert_eq!(check(text, &Limits::default()), Ok(()));
    assert_eq!(measured(text, Limit::Nesting), 10);
    assert_eq!(measured(text, Limit::Tokens), 163);
    assert_eq!(measured(text, Limit::Aliases), 0);
    assert_eq!(measured(text, Limit::Directives), 0);
    assert_eq!(measured(text, Limit::FragmentSpreads), 8);
    assert_eq!(expanded(text), (220, 230));
}

#[test]
fn the_nested_literal_of_issue_10_is_refused_for_its_nesting() {
    let text = nested_literal(2000);
    assert!(text.len() > 4000);
    assert_eq!(
        check(&text, &Limits::default()),
        Err(Refusal {
            limit: Limit::Nesting,
            max: 32
        })
    );
}

#[test]
fn the_fragment_bomb_of_issue_10_is_refused_for_its_expansion() {
    let text = fragment_bomb(29);
    let refusal = check(&text, &Limits::default()).unwrap_err();
    assert_eq!(refusal.limit, Limit::Complexity);
    // With every other limit open, the measure is exact and saturates rather than wraps.
    assert_eq!(expanded(&text), (1 << 29, 3 * (1 << 29) - 1));
    assert_eq!(expanded(&fragment_bomb(70)), (u64::MAX, u64::MAX));
}

#[test]
fn a_64_kib_bomb_is_refused_without_being_parsed() {
    // A chain of 1,500 fragments that each spread the previous twice: 2^1500 fields.
    // Measured with every limit but the expansion open, so the whole text is walked and
    // every fragment sized: linear, or this test would not end.
    let text = fragment_bomb(1500);
    assert!(text.len() >= 64 * 1024, "{}", text.len());
    let limits = Limits {
        expanded_selections: 1000,
        ..open()
    };
    assert_eq!(refused(&text, &limits), Some(Limit::ExpandedSelections));
    assert_eq!(
        refused(&text, &Limits::default()),
        Some(Limit::FragmentSpreads)
    );
    let nested = nested_literal(32 * 1024);
    assert!(nested.len() >= 64 * 1024);
    assert_eq!(refused(&nested, &Limits::default()), Some(Limit::Nesting));
}

#[test]
fn a_refusal_is_a_coded_graphql_error_naming_the_limit_and_its_setting() {
    let refusal = Refusal {
        limit: Limit::Tokens,
        max: 1000,
    };
    let error = refusal.to_server_error();
    assert_eq!(
        error.message,
        "The document has more than 1000 tokens; the limit is the setting QUERY_TOKEN_LIMIT."
    );
    let json = serde_json::to_value(&error).expect("serializes");
    assert_eq!(json["extensions"]["code"], "QUERY_TOO_LARGE");
    assert_eq!(json["extensions"]["limit"], "QUERY_TOKEN_LIMIT");
    assert_eq!(json["extensions"]["max"], 1000);
}

#[test]
fn the_schema_refuses_hostile_documents_before_parsing_them() {
    let schema = crate::graphql::builder(Limits::default()).finish();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for text in [nested_literal(2000), fragment_bomb(29)] {
        let response = runtime.block_on(schema.execute(text.as_str()));
        assert_eq!(response.data, async_graphql::Value::Null);
        let json = serde_json::to_value(&response.errors).expect("serializes");
        assert_eq!(json[0]["extensions"]["code"], "QUERY_TOO_LARGE", "{json}");
    }
}
