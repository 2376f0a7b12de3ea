//! The typed-client example of docs/API.md ("Typed clients (codegen)"), run as written.
//! Its `codegen.ts` is read from the Markdown and run by graphql-codegen's client preset in
//! a scratch SPA (a temporary folder whose `node_modules` is tests/browser's) over the
//! committed SDL and every document of the runner page's manifest, one `.graphql` file
//! each: every document must come out as a `TypedDocumentNode` of its own result and
//! variables, and the usage shown must compile under `tsc` beside lines of ours that the
//! types must refuse (so an answer typed `any` fails). In a second SPA, a document asking
//! for a field the schema lacks must stop codegen, writing nothing. The versions the text
//! installs are the ones tests/browser pins.
//!
//! Node and the packages are prerequisites, installed by `npm ci` as for the browser test
//! (`crate::browser::node_packages`); nothing is fetched at test time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use gateway_tests::database::unique_name;
use serde_json::Value;
use server::documents::manifest::PAGE_MANIFEST;

const API_MD: &str = include_str!("../../../docs/API.md");
const SDL: &str = include_str!("../../../schema/schema.graphql");
const PACKAGE_JSON: &str = include_str!("../../browser/package.json");
const SECTION: &str = "## Typed clients (codegen)";

/// What the test adds after the docs' usage: what the generated types must allow and
/// refuse. An unused `@ts-expect-error` is itself an error, so these lines fail if the
/// answer or the variables were typed `any`.
const TYPE_CHECKS: &str = r#"
// The suite's own lines, on what the types promise.
import { SignInDocument } from './gql/graphql';
const endpoint = new URL('/graphql', location.href).href;
for (const { node } of events.edges) {
  const startsAt: string = node.startsAt;
  // @ts-expect-error: the Races document does not select a race's capacity
  const capacity: number = node.capacity;
  console.log(names, startsAt, capacity);
}
// @ts-expect-error: SignIn's variables are required
await request(endpoint, SignInDocument);
const { signIn } = await request(endpoint, SignInDocument, {
  input: { email: 'dana@example.kz', password: 'a long password' },
});
console.log(signIn.token);
"#;

/// The scratch SPA's compiler settings: strict, for a bundler, in a browser, with
/// `verbatimModuleSyntax` as Vite's templates set it.
const TSCONFIG: &str = r#"{
  "compilerOptions": {
    "target": "es2022",
    "module": "esnext",
    "moduleResolution": "bundler",
    "lib": ["es2022", "dom"],
    "strict": true,
    "verbatimModuleSyntax": true,
    "noEmit": true,
    "skipLibCheck": true
  },
  "include": ["src"]
}
"#;

/// The indented code blocks of the docs' section, in order, unindented.
fn section_blocks() -> Vec<String> {
    let start = API_MD
        .find(SECTION)
        .expect("API.md has the codegen section");
    let section = &API_MD[start + SECTION.len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let mut blocks = Vec::new();
    let mut block: Option<String> = None;
    let mut previous_blank = true;
    for line in section.lines() {
        match (&mut block, line.strip_prefix("    ")) {
            (None, Some(code)) if previous_blank => block = Some(format!("{code}\n")),
            (Some(open), Some(code)) => {
                open.push_str(code);
                open.push('\n');
            }
            (Some(open), None) if line.trim().is_empty() => open.push('\n'),
            (Some(_), None) => blocks.extend(block.take()),
            _ => {}
        }
        previous_blank = line.trim().is_empty();
    }
    blocks.extend(block);
    blocks
        .into_iter()
        .map(|b| b.trim_end().to_owned() + "\n")
        .collect()
}

/// The one block of the section that contains `needle`.
fn block_with(needle: &str) -> String {
    let found: Vec<String> = section_blocks()
        .into_iter()
        .filter(|b| b.contains(needle))
        .collect();
    assert_eq!(found.len(), 1, "one block of {SECTION} with {needle:?}");
    found.into_iter().next().unwrap()
}

/// A page document's operation name and kind as codegen spells them (`Races`, `Query`).
fn operation(text: &str) -> (String, &'static str) {
    let mut words = text.split_whitespace();
    let kind = match words.next() {
        Some("query") => "Query",
        Some("mutation") => "Mutation",
        Some("subscription") => "Subscription",
        other => panic!("a page document is a named operation: {other:?} in {text}"),
    };
    let name: String = words
        .next()
        .expect("a named operation")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (name, kind)
}

fn page_documents() -> BTreeMap<String, String> {
    serde_json::from_str(PAGE_MANIFEST).expect("the manifest is a map of id to text")
}

/// A scratch SPA laid out as the docs' `codegen.ts` expects: `schema.graphql` beside it,
/// documents under `src/`, tests/browser's packages as its `node_modules`.
struct Spa {
    dir: PathBuf,
}

impl Spa {
    fn new(node_packages: &Path) -> Self {
        let dir = std::env::temp_dir().join(unique_name("codegen_spa"));
        std::fs::create_dir_all(dir.join("src/documents")).unwrap();
        std::os::unix::fs::symlink(node_packages.join("node_modules"), dir.join("node_modules"))
            .unwrap();
        let spa = Self { dir };
        spa.write("schema.graphql", SDL);
        spa.write("codegen.ts", &block_with("CodegenConfig"));
        for text in page_documents().values() {
            let (name, _) = operation(text);
            spa.write(&format!("src/documents/{name}.graphql"), text);
        }
        spa
    }

    fn write(&self, path: &str, text: &str) {
        std::fs::write(self.dir.join(path), text).unwrap();
    }

    /// A tool of tests/browser's `node_modules/.bin`, run in the SPA.
    async fn run(&self, tool: &str, args: &[&str]) -> Output {
        tokio::process::Command::new(self.dir.join("node_modules/.bin").join(tool))
            .args(args)
            .current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .output()
            .await
            .unwrap_or_else(|e| panic!("{tool} runs: {e}"))
    }
}

impl Drop for Spa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_codegen_example_types_every_document_of_the_runner_page_and_refuses_an_unknown_field()
{
    let packages = crate::browser::node_packages();
    let spa = Spa::new(&packages);
    spa.write("tsconfig.json", TSCONFIG);
    let usage = block_with("RacesDocument");
    spa.write("src/races.ts", &format!("{usage}{TYPE_CHECKS}"));
    let broken = Spa::new(&packages);
    broken.write(
        "src/documents/Broken.graphql",
        "query Broken { events(first: 1) { edges { node { id shoeSize } } } }\n",
    );

    // The two runs of codegen at once: each takes a few seconds, mostly starting up.
    let (generated, refused) = tokio::join!(
        spa.run("graphql-codegen", &[]),
        broken.run("graphql-codegen", &[])
    );

    assert!(generated.status.success(), "codegen: {}", said(&generated));
    let output = std::fs::read_to_string(spa.dir.join("src/gql/graphql.ts")).unwrap();
    assert!(
        output.contains(
            "import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';"
        ),
        "the client preset's documents are TypedDocumentNodes:\n{output}"
    );
    let documents = page_documents();
    assert!(documents.len() >= 20, "the whole manifest: {documents:?}");
    for text in documents.values() {
        let (name, kind) = operation(text);
        assert!(
            output.contains(&format!("export type {name}{kind} = {{")),
            "{name}'s result type is generated"
        );
        assert!(
            output.contains(&format!("export const {name}Document = {{")),
            "{name}Document is generated"
        );
        assert!(
            output.contains(&format!(
                "as unknown as DocumentNode<{name}{kind}, {name}{kind}Variables>;"
            )),
            "{name}Document is typed by its result and variables"
        );
    }

    let compiled = spa.run("tsc", &["-p", "."]).await;
    assert!(
        compiled.status.success(),
        "the docs' usage and the type checks compile: {}",
        said(&compiled)
    );

    assert!(
        !refused.status.success(),
        "codegen refuses an unknown field: {}",
        said(&refused)
    );
    let message = said(&refused);
    assert!(
        message.contains("Cannot query field \"shoeSize\" on type \"Event\"")
            && message.contains("Broken.graphql"),
        "the refusal names the field and the file: {message}"
    );
    assert!(
        !broken.dir.join("src/gql").exists(),
        "a refused run writes nothing"
    );
}

#[test]
fn the_codegen_example_installs_the_versions_the_suite_runs() {
    let package: Value = serde_json::from_str(PACKAGE_JSON).unwrap();
    let pinned = &package["dependencies"];
    let install = block_with("npm install");
    let mut named = 0;
    for line in install.lines().filter(|l| l.starts_with("npm install")) {
        for word in line.split_whitespace().skip(2) {
            if word.starts_with("--") {
                continue;
            }
            // `@scope/name@1.2.3` or `name@1.2.3`: the version after the last `@`.
            let (name, version) = word
                .rsplit_once('@')
                .filter(|(name, _)| !name.is_empty())
                .unwrap_or_else(|| panic!("{word} names its exact version"));
            assert_eq!(
                pinned[name].as_str(),
                Some(version),
                "API.md installs {word}; tests/browser/package.json pins {name} at {}",
                pinned[name]
            );
            named += 1;
        }
    }
    assert_eq!(
        named, 6,
        "the generator, TypeScript and the client's packages"
    );
    assert!(
        install.contains("/assets/schema.graphql"),
        "the SDL is fetched from the gateway's own path"
    );
}

#[test]
fn the_docs_code_blocks_are_read_whole() {
    let blocks = section_blocks();
    assert_eq!(blocks.len(), 3, "install, codegen.ts, usage: {blocks:#?}");
    let config = block_with("CodegenConfig");
    assert!(
        config.starts_with("import type { CodegenConfig }"),
        "{config}"
    );
    assert!(config.ends_with("export default config;\n"), "{config}");
    assert!(
        config.contains("\n\nconst config"),
        "a blank line inside a block stays: {config}"
    );
    assert_eq!(
        operation("query Races {\n  events"),
        ("Races".into(), "Query")
    );
    assert_eq!(
        operation("mutation SignIn($input: SignInInput!) {"),
        ("SignIn".into(), "Mutation")
    );
}
