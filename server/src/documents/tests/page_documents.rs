//! The runner page's documents and its manifest cannot drift apart: every GraphQL document
//! in the page's scripts (a string or template literal that starts with `query`,
//! `mutation`, `subscription` or `fragment`, or is a `{ field … }` shorthand; interpolations of
//! other constants resolved as the browser would) is in `server/web/documents.json`, and
//! nothing else is; and each of them validates against the schema, so a field the schema
//! loses fails here before a runner meets it.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use crate::documents::DocumentHash;
use crate::documents::manifest::PAGE_MANIFEST;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// A `${…}` interpolation, as written.
    Expr(String),
}

#[derive(Debug)]
struct Literal {
    /// `NAME` of `const NAME = …`, when the literal is bound so.
    binding: Option<String>,
    parts: Vec<Part>,
}

/// The string and template literals of a script, comments and regular expressions
/// skipped. Enough JavaScript for the page's own files.
fn literals(source: &str) -> Vec<Literal> {
    let chars: Vec<char> = source.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    // The last character outside literals and comments that was not white space.
    let mut previous = '\n';
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
            continue;
        }
        if c == '/' && "(,=:[!&|?{};+-*%<>~^\n".contains(previous) {
            // A regular expression: to its closing slash, outside any class.
            i += 1;
            let mut class = false;
            while i < chars.len() {
                match chars[i] {
                    '\\' => i += 1,
                    '[' => class = true,
                    ']' => class = false,
                    '/' if !class => break,
                    _ => {}
                }
                i += 1;
            }
            i += 1;
            previous = '/';
            continue;
        }
        if c == '\'' || c == '"' || c == '`' {
            let start = i;
            let mut parts = Vec::new();
            let mut text = String::new();
            i += 1;
            while i < chars.len() && chars[i] != c {
                match chars[i] {
                    '\\' => {
                        i += 1;
                        text.push(match chars.get(i) {
                            Some('n') => '\n',
                            Some('t') => '\t',
                            Some(&other) => other,
                            None => break,
                        });
                    }
                    '$' if c == '`' && chars.get(i + 1) == Some(&'{') => {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                        i += 2;
                        let mut depth = 1;
                        let mut expr = String::new();
                        while i < chars.len() {
                            match chars[i] {
                                '{' => depth += 1,
                                '}' => depth -= 1,
                                _ => {}
                            }
                            if depth == 0 {
                                break;
                            }
                            expr.push(chars[i]);
                            i += 1;
                        }
                        parts.push(Part::Expr(expr.trim().to_owned()));
                    }
                    other => text.push(other),
                }
                i += 1;
            }
            i += 1;
            parts.push(Part::Text(text));
            parts.retain(|p| p != &Part::Text(String::new()));
            let before: String = chars[..start].iter().collect();
            found.push(Literal {
                binding: binding(&before),
                parts,
            });
            previous = c;
            continue;
        }
        if !c.is_whitespace() {
            previous = c;
        }
        i += 1;
    }
    found
}

/// `NAME` when `before` ends in `const NAME =` (or `let`, `var`).
fn binding(before: &str) -> Option<String> {
    let rest = before.trim_end().strip_suffix('=')?.trim_end();
    let name_start = rest
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .map_or(0, |i| i + 1);
    let (declaration, name) = rest.split_at(name_start);
    let declaration = declaration.trim_end();
    ["const", "let", "var"]
        .iter()
        .any(|word| declaration.ends_with(word))
        .then(|| name.to_owned())
        .filter(|name| !name.is_empty())
}

/// Whether `text` reads as a GraphQL document.
fn is_document(text: &str) -> bool {
    let text = text.trim_start();
    let keyword = ["query", "mutation", "subscription", "fragment"]
        .iter()
        .any(|word| {
            text.strip_prefix(word).is_some_and(|rest| {
                rest.starts_with(|c: char| c.is_whitespace() || c == '(' || c == '{')
            })
        });
    // `{ field … }`: the space tells it from a message's `{placeholder}`.
    let shorthand = text.strip_prefix('{').is_some_and(|rest| {
        rest.starts_with(char::is_whitespace)
            && rest
                .trim_start()
                .starts_with(|c: char| c.is_alphabetic() || c == '_')
            && text.trim_end().ends_with('}')
    });
    keyword || shorthand
}

/// The text of `parts`, each interpolation one of `constants`.
fn resolve(
    parts: &[Part],
    constants: &HashMap<String, Vec<Part>>,
    depth: usize,
) -> anyhow::Result<String> {
    if depth > 8 {
        anyhow::bail!("constants interpolate each other too deep");
    }
    let mut text = String::new();
    for part in parts {
        match part {
            Part::Text(t) => text.push_str(t),
            Part::Expr(name) => {
                let inner = constants.get(name).ok_or_else(|| {
                    anyhow::anyhow!("`${{{name}}}` is not a string constant of the page")
                })?;
                text.push_str(&resolve(inner, constants, depth + 1)?);
            }
        }
    }
    Ok(text)
}

/// Every document in `sources` (name, script), as the browser would send it.
fn documents_of(sources: &[(String, String)]) -> anyhow::Result<Vec<String>> {
    let all: Vec<(String, Literal)> = sources
        .iter()
        .flat_map(|(name, source)| literals(source).into_iter().map(move |l| (name.clone(), l)))
        .collect();
    let constants: HashMap<String, Vec<Part>> = all
        .iter()
        .filter_map(|(_, l)| Some((l.binding.clone()?, l.parts.clone())))
        .collect();
    let mut documents = Vec::new();
    for (file, literal) in &all {
        let head = match literal.parts.first() {
            Some(Part::Text(text)) => text.as_str(),
            _ => "",
        };
        if !is_document(head) {
            continue;
        }
        let text =
            anyhow::Context::with_context(resolve(&literal.parts, &constants, 0), || file.clone())?;
        documents.push(text);
    }
    Ok(documents)
}

fn page_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web")
}

/// The page's scripts: every `.js` of `server/web/` (the vendored files are not ours).
fn page_scripts() -> Vec<(String, String)> {
    let mut scripts: Vec<(String, String)> = std::fs::read_dir(page_dir())
        .expect("server/web is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "js"))
        .map(|path| {
            let name = path
                .file_name()
                .expect("a file")
                .to_string_lossy()
                .into_owned();
            (
                name,
                std::fs::read_to_string(&path).expect("a script reads"),
            )
        })
        .collect();
    scripts.sort();
    scripts
}

fn manifest_of(documents: &[String]) -> BTreeMap<String, String> {
    documents
        .iter()
        .map(|text| (DocumentHash::of(text).document_id(), text.clone()))
        .collect()
}

#[test]
fn the_manifest_holds_exactly_the_documents_of_the_page_s_scripts() {
    let documents = documents_of(&page_scripts()).expect("every document resolves");
    assert!(
        documents.len() >= 20,
        "the page's documents were found: {documents:#?}"
    );
    let expected = manifest_of(&documents);
    if std::env::var_os("WRITE_DOCUMENTS_MANIFEST").is_some() {
        let json = serde_json::to_string_pretty(&expected).expect("a map serializes");
        std::fs::write(page_dir().join("documents.json"), json + "\n").expect("written");
        return;
    }
    let committed: BTreeMap<String, String> =
        serde_json::from_str(PAGE_MANIFEST).expect("the manifest is a map");
    let missing: Vec<&String> = expected
        .keys()
        .filter(|id| !committed.contains_key(*id))
        .collect();
    let extra: Vec<&String> = committed
        .keys()
        .filter(|id| !expected.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "server/web/documents.json is out of date (missing {missing:?}, no longer in the page \
         {extra:?}): run `WRITE_DOCUMENTS_MANIFEST=1 cargo test -p server \
         the_manifest_holds_exactly` and commit it"
    );
    assert_eq!(committed, expected);
}

#[tokio::test]
async fn every_document_of_the_manifest_validates_against_the_schema() {
    let committed: BTreeMap<String, String> =
        serde_json::from_str(PAGE_MANIFEST).expect("the manifest is a map");
    let mut failures = Vec::new();
    for (id, text) in &committed {
        let errors = schema::graphql::validate(text).await;
        if !errors.is_empty() {
            let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
            failures.push(format!("{id} ({text}): {messages:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "the schema refuses the page's documents:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_extraction_reads_constants_comments_and_regular_expressions_as_a_browser_does() {
    let api = r#"
/** `code` is the first error's; a template in a comment: `query Fake { x }` */
export const FIELDS = `id name`;
const RE = /['"`]query Nope/g; // a regular expression with quotes
export const ONE = `query One { me { ${FIELDS} } }`;
const x = a / b / c; const TWO = 'mutation Two { signOut }';
send("{ webPushPublicKey }"); log(`not ${ONE}`); say('{from} → {to}');
"#;
    let worker = "const THREE = `subscription Three { myNotifications { ${FIELDS} } }`;";
    let sources = vec![
        ("api.js".to_owned(), api.to_owned()),
        ("sw.js".to_owned(), worker.to_owned()),
    ];
    let documents = documents_of(&sources).expect("resolves");
    assert_eq!(
        documents,
        vec![
            "query One { me { id name } }",
            "mutation Two { signOut }",
            "{ webPushPublicKey }",
            "subscription Three { myNotifications { id name } }",
        ]
    );
    let unknown = vec![(
        "api.js".to_owned(),
        "const A = `query A { ${fieldsFor(role)} }`;".to_owned(),
    )];
    assert!(
        documents_of(&unknown).is_err(),
        "a document built at run time cannot be registered"
    );
}
