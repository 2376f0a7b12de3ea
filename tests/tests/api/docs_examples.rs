//! The worked examples of docs/API.md, run as written against a fresh gateway with the
//! demo, in the order the text gives them, each answer compared with the one documented
//! beside it. The examples are read from the Markdown at build time, so the docs cannot
//! drift from the product without this test failing.
//!
//! How the Markdown is read (the conventions are also stated in API.md, "Worked examples"):
//! - A ` ```sh ` fence `echo '<password>' | cargo run --release -- <args>` runs the gateway
//!   binary with those arguments on the test's database.
//! - Every ` ```graphql ` fence holds one operation and is followed by a ` ```json ` fence:
//!   the whole answer of a query or mutation, or, for a subscription, the list of payloads
//!   it has received once every later example has run.
//! - The graphql fence's info string names who sends it (`as=runner`) and whose
//!   credential its answer gives (`gives=organizer`: the `token`, or a partner's `key`).
//! - In a query, a string with `…` is the reader's to fill in (a mailed token, a browser's
//!   push subscription); so is an argument named by `fill=` (a date of the reader's
//!   choosing). The test fills them the way the text says.
//! - In an answer, `"…"` stands for any value (ids of things made now, tokens, instants)
//!   and `"abc…"` for any string that starts with `abc`; everything else must be equal.
//! - The examples are written for the demo's next race of 2027; seeded later, every 2027
//!   reads as that race's year.

use std::collections::HashMap;

use gateway_tests::push_service::MockPushService;
use serde_json::{Value, json};

use crate::events::gateway;
use crate::helpers::{
    Backend, CONFIRM_SUBJECT, TestApp, mails, marathon_year, spawn_app_with, token_in,
};
use crate::on_both_databases;
use crate::ws_client::{TRANSPORT, Ws};

const API_MD: &str = include_str!("../../../docs/API.md");
/// Stands for a value that varies, in an answer, or one the reader fills in, in a query.
const ANY: char = '…';
/// The year the examples are written for.
const WRITTEN_FOR: &str = "2027";

/// One fenced block of the Markdown.
#[derive(Debug, Clone)]
struct Fence {
    /// The info string's first word (`graphql`, `json`, `sh`).
    language: String,
    /// The info string's `key=value` words.
    attributes: HashMap<String, String>,
    body: String,
    /// 1-based, for messages.
    line: usize,
}

fn fences(markdown: &str) -> Vec<Fence> {
    let mut found = Vec::new();
    let mut open: Option<Fence> = None;
    for (index, line) in markdown.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => {
                let mut words = info.split_whitespace();
                let language = words.next().unwrap_or_default().to_owned();
                let attributes = words
                    .filter_map(|w| w.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                open = Some(Fence {
                    language,
                    attributes,
                    body: String::new(),
                    line: index + 1,
                });
            }
            (Some(_), Some("")) => found.extend(open.take()),
            (Some(fence), _) => {
                fence.body.push_str(line);
                fence.body.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "a fence is never closed");
    found
}

/// A step of the walkthrough: a command, or an operation with its documented answer.
#[derive(Debug)]
enum Example {
    Command(Fence),
    Operation { operation: Fence, answer: Fence },
}

fn examples(markdown: &str) -> Vec<Example> {
    let all = fences(markdown);
    let mut steps = Vec::new();
    let mut iter = all.into_iter().peekable();
    while let Some(fence) = iter.next() {
        match fence.language.as_str() {
            "sh" => steps.push(Example::Command(fence)),
            "graphql" => {
                let answer = iter
                    .next_if(|next| next.language == "json")
                    .unwrap_or_else(|| {
                        panic!(
                            "API.md:{}: a graphql example with no json answer after it",
                            fence.line
                        )
                    });
                steps.push(Example::Operation {
                    operation: fence,
                    answer,
                });
            }
            "json" => panic!(
                "API.md:{}: a json fence that answers no example",
                fence.line
            ),
            other => panic!(
                "API.md:{}: a {other:?} fence this test cannot run",
                fence.line
            ),
        }
    }
    steps
}

/// Where an answer first differs from its documentation, and how.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("at {path}: documented {documented}, answered {answered}")]
struct Difference {
    path: String,
    documented: String,
    answered: String,
}

/// Whether `actual` is what `documented` says, `…` standing for what varies; on a
/// difference, the path to it.
fn matches(documented: &Value, actual: &Value, path: &str) -> Result<(), Difference> {
    let differs = || {
        Err(Difference {
            path: path.to_owned(),
            documented: documented.to_string(),
            answered: actual.to_string(),
        })
    };
    match (documented, actual) {
        (Value::String(pattern), _) if pattern == &ANY.to_string() => Ok(()),
        (Value::String(pattern), Value::String(text)) if pattern.ends_with(ANY) => {
            if text.starts_with(pattern.trim_end_matches(ANY)) {
                Ok(())
            } else {
                differs()
            }
        }
        (Value::Object(want), Value::Object(got)) => {
            // In order: an answer's keys follow its selection, as the docs show them.
            let want_keys: Vec<_> = want.keys().collect();
            let got_keys: Vec<_> = got.keys().collect();
            if want_keys != got_keys {
                return Err(Difference {
                    path: path.to_owned(),
                    documented: format!("keys {want_keys:?}"),
                    answered: format!("{got_keys:?}"),
                });
            }
            want.iter()
                .try_for_each(|(key, value)| matches(value, &got[key], &format!("{path}.{key}")))
        }
        (Value::Array(want), Value::Array(got)) if want.len() == got.len() => want
            .iter()
            .zip(got)
            .enumerate()
            .try_for_each(|(i, (w, g))| matches(w, g, &format!("{path}[{i}]"))),
        _ if documented == actual => Ok(()),
        _ => differs(),
    }
}

/// The documented text as it reads for a demo seeded today.
fn for_this_demo(text: &str) -> String {
    text.replace(WRITTEN_FOR, &marathon_year().to_string())
}

/// Splits a command line as a shell would, for the single quotes the docs use.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(word);
    }
    words
}

/// Runs `echo '<stdin>' | cargo run --release -- <args>` with the gateway binary.
fn run_command(app: &TestApp, fence: &Fence) {
    let line = fence.body.replace("\\\n", " ");
    let (stdin, command) = match line.split_once('|') {
        Some((echo, rest)) => {
            let words = shell_words(echo);
            assert_eq!(
                words.first().map(String::as_str),
                Some("echo"),
                "API.md:{}",
                fence.line
            );
            (Some(format!("{}\n", words[1..].join(" "))), rest.to_owned())
        }
        None => (None, line),
    };
    let words = shell_words(&command);
    let args = match words.iter().position(|w| w == "--") {
        Some(at) if words[..at] == ["cargo", "run", "--release"] => &words[at + 1..],
        _ => panic!(
            "API.md:{}: not a `cargo run --release -- …` command",
            fence.line
        ),
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    gateway(&app.database.url, &args, stdin.as_deref());
}

/// What the walkthrough keeps between steps.
struct Walk {
    app: TestApp,
    push: MockPushService,
    /// Credentials by the names the fences use.
    credentials: HashMap<String, String>,
    /// The address of the newest `signUp`, whose mailed token `confirmSignUp` takes.
    signed_up: Option<String>,
    /// Open subscriptions with what they are documented to receive by the end.
    subscriptions: Vec<(Ws, Fence, Vec<Value>)>,
    /// Where the product answered otherwise than the docs say.
    differences: Vec<String>,
}

impl Walk {
    fn credential(&self, operation: &Fence) -> Option<String> {
        operation.attributes.get("as").map(|who| {
            self.credentials
                .get(who)
                .unwrap_or_else(|| {
                    panic!(
                        "API.md:{}: nobody has given {who} a credential yet",
                        operation.line
                    )
                })
                .clone()
        })
    }

    /// The value the reader fills in for the argument `name`.
    async fn filled(&mut self, name: &str, line: usize) -> String {
        match name {
            "token" => {
                let email = self
                    .signed_up
                    .clone()
                    .expect("a signUp before its confirmation");
                let sent = mails(&self.app, &email, CONFIRM_SUBJECT, 1).await;
                token_in(sent.last().expect("the confirmation mail"))
            }
            "endpoint" => {
                let key = self.app.ok(None, "{ webPushPublicKey }", json!({})).await;
                self.push
                    .expect_vapid_key(key["webPushPublicKey"].as_str().unwrap())
                    .unwrap();
                let browser = self.push.subscribe().unwrap();
                self.credentials.insert("p256dh".into(), browser.p256dh);
                self.credentials.insert("auth".into(), browser.auth);
                browser.endpoint
            }
            // Keys of the browser subscription made for `endpoint`, just before.
            "p256dh" | "auth" => self.credentials.remove(name).expect("the endpoint first"),
            // "Within 366 days of today": the test takes 90.
            "expiresAt" => (chrono::Utc::now() + chrono::Duration::days(90)).to_rfc3339(),
            other => panic!("API.md:{line}: the test does not know how to fill in {other}"),
        }
    }

    /// The operation's text with the reader's values filled in.
    async fn fill_in(&mut self, operation: &Fence) -> String {
        let mut text = for_this_demo(&operation.body);
        let mut names: Vec<String> = operation
            .attributes
            .get("fill")
            .map(|list| list.split(',').map(str::to_owned).collect())
            .unwrap_or_default();
        for (name, _) in string_arguments(&text) {
            if string_arguments(&text)
                .iter()
                .any(|(n, v)| n == &name && v.contains(ANY))
                && !names.contains(&name)
            {
                names.push(name);
            }
        }
        for name in names {
            let value = self.filled(&name, operation.line).await;
            let (start, end) = string_argument_span(&text, &name)
                .unwrap_or_else(|| panic!("API.md:{}: no {name} to fill in", operation.line));
            text.replace_range(start..end, &value);
        }
        text
    }

    async fn run(&mut self, operation: &Fence, answer: &Fence) {
        // What is due for push is sent before each step, as the running worker would.
        self.app.pipeline.push.drain_once().await.unwrap();
        let query = self.fill_in(operation).await;
        let token = self.credential(operation);
        let documented: Value = serde_json::from_str(&for_this_demo(&answer.body))
            .unwrap_or_else(|e| panic!("API.md:{}: the answer is not JSON: {e}", answer.line));
        if query.trim_start().starts_with("subscription") {
            let mut ws = Ws::init(&self.app.ws_url(), TRANSPORT, token.as_deref()).await;
            ws.subscribe(TRANSPORT, "1", &query, json!({})).await;
            let expected = documented
                .as_array()
                .unwrap_or_else(|| {
                    panic!("API.md:{}: a subscription's answer is a list", answer.line)
                })
                .clone();
            self.subscriptions.push((ws, operation.clone(), expected));
            return;
        }
        let actual = self.app.graphql(token.as_deref(), &query, json!({})).await;
        // Every difference is told at the end, so that one run shows them all.
        if let Err(difference) = matches(&documented, &actual, "answer") {
            self.differences.push(format!(
                "API.md:{}: the example does not answer as documented at line {}: {difference}\nthe whole answer:\n{}",
                operation.line,
                answer.line,
                serde_json::to_string_pretty(&actual).unwrap()
            ));
        }
        if let Some(who) = operation.attributes.get("gives") {
            let credential = find_credential(&actual).unwrap_or_else(|| {
                panic!(
                    "API.md:{}: gives={who}, but the answer has no token or key",
                    operation.line
                )
            });
            self.credentials.insert(who.clone(), credential);
        }
        if let Some(email) = actual["data"]["signUp"]["email"].as_str() {
            self.signed_up = Some(email.to_owned());
        }
    }

    /// Every open subscription has received what its answer lists, in that order.
    async fn subscriptions_received(&mut self) {
        for (ws, operation, expected) in &mut self.subscriptions {
            let mut received = Vec::new();
            for _ in 0..expected.len() {
                received.push(ws.payload("1").await);
            }
            let received = Value::Array(received);
            if let Err(difference) = matches(&Value::Array(expected.clone()), &received, "received")
            {
                self.differences.push(format!(
                    "API.md:{}: the subscription did not receive what is documented: {difference}\nreceived:\n{}",
                    operation.line,
                    serde_json::to_string_pretty(&received).unwrap()
                ));
            }
        }
    }
}

/// `name: "value"` arguments of a document, in order.
fn string_arguments(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(colon) = rest.find(": \"") {
        let name: String = rest[..colon]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let value_start = colon + 3;
        let Some(len) = rest[value_start..].find('"') else {
            break;
        };
        found.push((name, rest[value_start..value_start + len].to_owned()));
        rest = &rest[value_start + len + 1..];
    }
    found
}

/// Where the value of `name: "…"` lies (inside the quotes).
fn string_argument_span(text: &str, name: &str) -> Option<(usize, usize)> {
    let needle = format!("{name}: \"");
    let mut from = 0;
    while let Some(at) = text[from..].find(&needle) {
        let start = from + at;
        let before = text[..start].chars().next_back();
        if before.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_')) {
            let value = start + needle.len();
            let len = text[value..].find('"')?;
            return Some((value, value + len));
        }
        from = start + needle.len();
    }
    None
}

/// The first `token` or `key` string in an answer.
fn find_credential(value: &Value) -> Option<String> {
    match value {
        Value::Object(map) => map
            .iter()
            .find_map(|(k, v)| match (k.as_str(), v) {
                ("token" | "key", Value::String(s)) => Some(s.clone()),
                _ => None,
            })
            .or_else(|| map.values().find_map(find_credential)),
        Value::Array(items) => items.iter().find_map(find_credential),
        _ => None,
    }
}

async fn every_worked_example_in_the_api_docs_answers_as_documented(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        // The push worker is driven by the walkthrough; pushes go to a local push service.
        s.push.enabled = false;
        s.push.trusted_origins = vec![gateway_tests::push_service::TRUSTED_ORIGIN.into()];
    })
    .await;
    app.seed_demo().await;
    let push = MockPushService::start(1).await.unwrap();
    let mut walk = Walk {
        app,
        push,
        credentials: HashMap::new(),
        signed_up: None,
        subscriptions: Vec::new(),
        differences: Vec::new(),
    };
    let steps = examples(API_MD);
    let operations = steps
        .iter()
        .filter(|s| matches!(s, Example::Operation { .. }))
        .count();
    assert!(
        operations >= 20,
        "the walkthrough is all there: {operations} examples"
    );
    for step in &steps {
        match step {
            Example::Command(fence) => run_command(&walk.app, fence),
            Example::Operation { operation, answer } => walk.run(operation, answer).await,
        }
    }
    walk.subscriptions_received().await;
    assert!(
        walk.differences.is_empty(),
        "docs/API.md and the product disagree:\n\n{}",
        walk.differences.join("\n\n")
    );
    assert_eq!(walk.push.delivered(), 1, "the runner's browser was told");
}
on_both_databases!(every_worked_example_in_the_api_docs_answers_as_documented);

#[test]
fn an_answer_that_drifts_from_the_docs_is_caught() {
    let documented = json!({ "data": { "signIn": { "token": "rdg_…", "account": { "id": "…", "role": "ORGANIZER" } } } });
    let same = json!({ "data": { "signIn": { "token": "rdg_abc", "account": { "id": "7", "role": "ORGANIZER" } } } });
    assert_eq!(matches(&documented, &same, "answer"), Ok(()));
    let drifted = json!({ "data": { "signIn": { "token": "rdg_abc", "account": { "id": "7", "role": "RUNNER" } } } });
    assert!(
        matches(&documented, &drifted, "answer").unwrap_err().path
            == "answer.data.signIn.account.role"
    );
    let other_prefix = json!({ "data": { "signIn": { "token": "pk_abc", "account": { "id": "7", "role": "ORGANIZER" } } } });
    assert!(matches(&documented, &other_prefix, "answer").is_err());
    let more = json!({ "data": { "signIn": { "token": "rdg_abc", "extra": 1, "account": { "id": "7", "role": "ORGANIZER" } } } });
    assert!(
        matches(&documented, &more, "answer").is_err(),
        "an undocumented key"
    );
    assert!(matches(&json!([1, 2]), &json!([1, 2, 3]), "list").is_err());
}

#[test]
fn the_docs_are_read_as_the_walkthrough_says() {
    let markdown = "text\n```sh\necho 'a b' | cargo run --release -- accounts create \\\n    --role x\n```\n\n```graphql as=runner gives=dana\n{ me { id } }\n```\n\n```json\n{ \"data\": null }\n```\n";
    let steps = examples(markdown);
    assert_eq!(steps.len(), 2);
    let Example::Operation { operation, answer } = &steps[1] else {
        panic!("an operation");
    };
    assert_eq!(operation.attributes["as"], "runner");
    assert_eq!(operation.attributes["gives"], "dana");
    assert_eq!(answer.body, "{ \"data\": null }\n");
    assert_eq!(
        shell_words("echo 'a long password' | x"),
        ["echo", "a long password", "|", "x"]
    );
    let query = "mutation { confirmSignUp(token: \"signup_…\") { token } }";
    assert_eq!(
        string_arguments(query),
        [("token".to_owned(), "signup_…".to_owned())]
    );
    let (start, end) = string_argument_span(query, "token").unwrap();
    assert_eq!(&query[start..end], "signup_…");
}
