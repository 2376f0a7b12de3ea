//! Generated documents: random selection trees over a handful of fragments (cycles,
//! self-spreads and unknown fragments included, or not), doubling chains, deep literals
//! and token soup, written with varied separators and values whose text would count if it
//! were not inside a string.

use proptest::prelude::*;

const FRAGMENTS: usize = 6;

#[derive(Clone, Debug)]
enum Sel {
    Field {
        alias: bool,
        name: &'static str,
        argument: Option<String>,
        children: Vec<Sel>,
    },
    /// `FRAGMENTS` and above name a fragment that is not defined.
    Spread(usize),
    Inline {
        on: bool,
        children: Vec<Sel>,
    },
}

#[derive(Clone, Debug)]
pub(super) struct Doc {
    operations: Vec<Vec<Sel>>,
    fragments: Vec<Vec<Sel>>,
    /// `fragmentF1` instead of `fragment F1`, per fragment.
    glued: Vec<bool>,
}

/// Argument values whose text holds what would count if it were not inside a value.
fn argument() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{"),
        Just("}"),
        Just("["),
        Just("("),
        Just("...F0"),
        Just("#"),
        Just("on"),
        Just("a: b"),
        Just("@d"),
        Just("\\\""),
        Just("\\\\"),
        Just("é"),
        Just(" "),
    ];
    // No lone quote or backslash: before the closing `"""` they would end the string
    // early or escape its end, and the document would not parse.
    let block_piece = prop_oneof![
        Just("{"),
        Just("...F1 "),
        Just("\"\" "),
        Just("\\\"\"\""),
        Just("#"),
        Just("\n"),
        Just("}"),
        Just("\\ "),
    ];
    prop_oneof![
        prop::collection::vec(piece, 0..8).prop_map(|p| format!("(s: \"{}\")", p.concat())),
        prop::collection::vec(block_piece, 0..8)
            .prop_map(|p| format!("(s: \"\"\"{}\"\"\")", p.concat())),
        (0usize..6).prop_map(|n| format!("(x: {}1{})", "[".repeat(n), "]".repeat(n))),
        Just("(x: {a: {b: [1, 2]}}, y: $v)".to_owned()),
    ]
}

fn selections() -> impl Strategy<Value = Vec<Sel>> {
    let leaf = prop_oneof![
        3 => (any::<bool>(), prop::sample::select(vec!["__typename", "a", "b", "on"]), prop::option::of(argument()))
            .prop_map(|(alias, name, argument)| Sel::Field { alias, name, argument, children: Vec::new() }),
        3 => (0..FRAGMENTS + 1).prop_map(Sel::Spread),
    ];
    let tree = leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            (any::<bool>(), prop::collection::vec(inner.clone(), 1..4)).prop_map(
                |(alias, children)| {
                    Sel::Field {
                        alias,
                        name: "a",
                        argument: None,
                        children,
                    }
                }
            ),
            (any::<bool>(), prop::collection::vec(inner, 1..4))
                .prop_map(|(on, children)| Sel::Inline { on, children }),
        ]
    });
    prop::collection::vec(tree, 1..5)
}

/// Points fragment `i`'s spreads at fragments before it (or at an unknown one), so the
/// graph has no cycle.
fn spread_down(selections: &mut [Sel], i: usize) {
    for selection in selections {
        match selection {
            Sel::Spread(target) if *target < FRAGMENTS => {
                *target = if i == 0 { FRAGMENTS } else { *target % i };
            }
            Sel::Spread(_) => {}
            Sel::Field { children, .. } | Sel::Inline { children, .. } => spread_down(children, i),
        }
    }
}

/// Random spread graphs: half of them acyclic, the others with cycles, self-spreads and
/// unknown fragments.
pub(super) fn random_documents() -> impl Strategy<Value = Doc> {
    (
        prop::collection::vec(selections(), 1..3),
        prop::collection::vec(selections(), FRAGMENTS),
        prop::collection::vec(any::<bool>(), FRAGMENTS),
        any::<bool>(),
    )
        .prop_map(|(operations, mut fragments, glued, cycles)| {
            if !cycles {
                for (i, fragment) in fragments.iter_mut().enumerate() {
                    spread_down(fragment, i);
                }
            }
            Doc {
                operations,
                fragments,
                glued,
            }
        })
}

/// Fragment i spreads fragment i-1 twice (2^levels fields, or none when fragment 0
/// only spreads an unknown fragment), plus random extra spreads, which close cycles when
/// they point up the chain.
pub(super) fn doubling_chains() -> impl Strategy<Value = Doc> {
    (
        1usize..40,
        prop::collection::vec((0usize..40, 0usize..40), 0..3),
        any::<bool>(),
    )
        .prop_map(|(levels, extra, empty)| {
            let mut fragments: Vec<Vec<Sel>> = (0..=levels)
                .map(|i| {
                    if i == 0 && empty {
                        vec![Sel::Spread(usize::MAX)]
                    } else if i == 0 {
                        vec![Sel::Field {
                            alias: false,
                            name: "__typename",
                            argument: None,
                            children: Vec::new(),
                        }]
                    } else {
                        vec![Sel::Spread(i - 1), Sel::Spread(i - 1)]
                    }
                })
                .collect();
            for (from, to) in extra {
                if let Some(fragment) = fragments.get_mut(from % (levels + 1)) {
                    fragment.push(Sel::Spread(to % (levels + 1)));
                }
            }
            Doc {
                operations: vec![vec![Sel::Spread(levels)]],
                glued: vec![false; fragments.len()],
                fragments,
            }
        })
}

/// Writes a document's text, with separators (whitespace, commas, comments holding
/// braces and spreads, byte order marks) picked in turn from `seps`.
struct Renderer<'a> {
    text: String,
    seps: &'a [usize],
    next: usize,
    fragments: usize,
}

impl Renderer<'_> {
    fn sep(&mut self) {
        let pick = self
            .seps
            .get(self.next % self.seps.len().max(1))
            .copied()
            .unwrap_or(0);
        self.next += 1;
        self.text.push_str(match pick {
            0 => " ",
            1 => ",",
            2 => "\n",
            3 => " # { [ ( ...F0 a: b @d \"\"\"\n",
            4 => "\u{feff}",
            _ => "\t",
        });
    }

    fn push(&mut self, piece: &str) {
        self.text.push_str(piece);
        self.sep();
    }

    fn set(&mut self, selections: &[Sel]) {
        self.push("{");
        for selection in selections {
            match selection {
                Sel::Field {
                    alias,
                    name,
                    argument,
                    children,
                } => {
                    if *alias {
                        self.push("x:");
                    }
                    self.push(name);
                    if let Some(argument) = argument {
                        self.push(argument);
                    }
                    if !children.is_empty() {
                        self.set(children);
                    }
                }
                Sel::Spread(i) => {
                    let name = if *i < self.fragments {
                        format!("...F{i}")
                    } else {
                        "...Missing".to_owned()
                    };
                    self.push(&name);
                }
                Sel::Inline { on, children } => {
                    self.push(if *on { "... on Query" } else { "..." });
                    self.set(children);
                }
            }
        }
        self.push("}");
    }
}

pub(super) fn render(doc: &Doc, seps: &[usize]) -> String {
    let mut out = Renderer {
        text: String::new(),
        seps,
        next: 0,
        fragments: doc.fragments.len(),
    };
    for (i, operation) in doc.operations.iter().enumerate() {
        out.push(&format!("query Q{i}($v: Int)"));
        out.set(operation);
    }
    for (i, fragment) in doc.fragments.iter().enumerate() {
        if doc.glued.get(i) == Some(&true) {
            out.push(&format!("fragmentF{i}"));
        } else {
            out.push("fragment");
            out.push(&format!("F{i}"));
        }
        out.push("on Query");
        out.set(fragment);
    }
    out.text
}

/// A field whose argument nests lists and input objects (one per entry of `kinds`, with
/// brackets in strings and a comment that do not count), and the nesting the text then
/// has: the operation's body, the arguments, the levels.
pub(super) fn nested_argument(kinds: &[bool]) -> (String, usize) {
    let mut open = String::new();
    let mut close = String::new();
    for &list in kinds {
        if list {
            open.push('[');
            close.insert(0, ']');
        } else {
            open.push_str("{k: \"}]\", j: ");
            close.insert(0, '}');
        }
    }
    (
        format!("query {{ a(x: {open}1{close}) {{ b }} }} # {{{{{{"),
        2 + kinds.len(),
    )
}

/// Token soup: every lexical corner, in any order.
pub(super) fn soup() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        "...",
        "... on Query",
        "on",
        "fragment",
        "fragmentF",
        "query",
        "F",
        "G",
        "a",
        "__typename",
        ":",
        "@d",
        "\"",
        "\"\"\"",
        "\\",
        "#",
        "\n",
        " ",
        ",",
        "$v",
        "1",
        "0123",
        "\u{feff}",
        "é",
        "on#c\n",
        "x: ",
        "\"s{\"",
        "\"\"\"b}\"\"\"",
    ]);
    prop::collection::vec(piece, 0..60).prop_map(|pieces| pieces.join(" "))
}
