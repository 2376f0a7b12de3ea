//! Registered documents: a request may name its GraphQL document by SHA-256 instead of
//! sending it, as Apollo's automatic persisted queries (`extensions.persistedQuery`) or as
//! the GraphQL-over-HTTP draft's persisted documents (`documentId: "sha256:<hex>"`).
//! Two sources answer a hash: the runner page's own documents, compiled in from
//! `server/web/documents.json` ([`manifest`]), and the texts clients registered by APQ on
//! this instance ([`store`]; only once they parsed, passed the document guard and
//! validated, so garbage cannot fill it).
//!
//! `TRUSTED_DOCUMENTS` says what is accepted: `off` (text only), `allow` (text and hashes
//! from anyone) or `only`, where a client that is not an organizer or a partner may run
//! only the page's documents (by `documentId`, by APQ hash, or as text whose hash is the
//! manifest's). A text some client registered by APQ is not trusted by that.

pub mod manifest;
pub mod store;

use std::sync::Arc;

use race_office::Viewer;
use serde_json::Value;

use crate::settings::{DocumentSettings, TrustedDocuments};

/// `sha256:` and 64 hex digits: no identifier of ours is longer, so anything longer is
/// refused before it is looked at.
pub const MAX_ID_LEN: usize = 7 + 64;

/// The SHA-256 of a document's UTF-8 text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentHash([u8; 32]);

impl DocumentHash {
    pub fn of(text: &str) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
        let mut bytes = [0; 32];
        bytes.copy_from_slice(digest.as_ref());
        Self(bytes)
    }

    /// 64 lower-case hex digits (how both APQ and the draft spell it), else `None`.
    pub fn parse_hex(hex: &str) -> Option<Self> {
        let digits = hex.as_bytes();
        if digits.len() != 64 {
            return None;
        }
        let value = |d: u8| match d {
            b'0'..=b'9' => Some(d - b'0'),
            b'a'..=b'f' => Some(d - b'a' + 10),
            _ => None,
        };
        let mut bytes = [0; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            *byte = (value(pair[0])? << 4) | value(pair[1])?;
        }
        Some(Self(bytes))
    }

    /// `sha256:<hex>`, the draft's SHA256 hex document identifier.
    pub fn document_id(&self) -> String {
        format!("sha256:{self}")
    }
}

impl std::fmt::Display for DocumentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::fmt::Debug for DocumentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{self}")
    }
}

/// What a request says about its document, as it came.
#[derive(Default)]
pub struct Asked<'a> {
    /// The text, when sent (empty counts as not sent).
    pub query: Option<&'a str>,
    pub document_id: Option<&'a str>,
    /// `extensions.persistedQuery`.
    pub persisted_query: Option<&'a Value>,
}

/// The document to run.
#[derive(Debug)]
pub struct Resolved {
    pub text: Arc<str>,
    /// One of the runner page's own documents.
    pub from_manifest: bool,
    /// A text sent with its APQ hash and not yet known: registered once it has parsed,
    /// passed the guard and validated.
    pub register: Option<DocumentHash>,
}

impl Resolved {
    /// What to register once the text has run, when it was sent with its APQ hash and is
    /// new here.
    pub fn unregistered(&self) -> Option<Unregistered> {
        self.register.map(|hash| Unregistered {
            hash,
            text: self.text.clone(),
        })
    }
}

/// A text sent with its APQ hash and new here: kept by [`Documents::register`] once it has
/// run without a request error (so it parsed, passed the guard and validated), whichever
/// transport carried it.
pub struct Unregistered {
    hash: DocumentHash,
    text: Arc<str>,
}

/// Why a request's document is not run. Each reads as a GraphQL error with a code.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// An APQ hash alone, unknown here: Apollo's answer, so the client sends the text.
    PersistedQueryNotFound,
    /// A `documentId` that names no registered document.
    UnknownDocument,
    /// TRUSTED_DOCUMENTS=off and the request names a hash.
    NotSupported,
    /// TRUSTED_DOCUMENTS=only: this client may run only the page's documents.
    NotInList,
    /// The request is malformed: the reason.
    BadRequest(String),
    /// Neither a text nor a hash.
    NoDocument,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Self::PersistedQueryNotFound | Self::UnknownDocument => "PERSISTED_QUERY_NOT_FOUND",
            Self::NotSupported => "PERSISTED_QUERY_NOT_SUPPORTED",
            Self::NotInList => "PERSISTED_QUERY_NOT_IN_LIST",
            Self::BadRequest(_) | Self::NoDocument => "BAD_REQUEST",
        }
    }

    pub fn message(&self) -> String {
        match self {
            // Apollo clients look for this exact message (older ones for nothing else).
            Self::PersistedQueryNotFound => "PersistedQueryNotFound".into(),
            Self::UnknownDocument => "no registered document has this documentId".into(),
            Self::NotSupported => {
                "persisted queries and documentId are off here (TRUSTED_DOCUMENTS=off): send \
                 the query's text"
                    .into()
            }
            Self::NotInList => {
                "only the runner page's registered documents are accepted from this client \
                 (TRUSTED_DOCUMENTS=only); sign in as an organizer or a partner to send \
                 others"
                    .into()
            }
            Self::BadRequest(why) => why.clone(),
            Self::NoDocument => "the request has no `query` (nor a `documentId`)".into(),
        }
    }
}

/// The registered documents and the rule for them.
pub struct Documents {
    mode: TrustedDocuments,
    manifest: manifest::Manifest,
    learnt: store::Store,
}

impl Documents {
    pub fn new(settings: &DocumentSettings) -> Result<Self, manifest::BadManifest> {
        Ok(Self {
            mode: settings.trusted_documents,
            manifest: manifest::Manifest::page()?,
            learnt: store::Store::new(
                settings.apq_max_documents as usize,
                usize::try_from(settings.apq_max_bytes).unwrap_or(usize::MAX),
            ),
        })
    }

    pub fn mode(&self) -> TrustedDocuments {
        self.mode
    }

    /// The document a request asks for, or why not. Identifiers are measured before
    /// anything else, then the setting, then their form, then the stores.
    pub fn resolve(&self, asked: &Asked<'_>) -> Result<Resolved, Refusal> {
        let query = asked.query.filter(|q| !q.is_empty());
        let apq_hash = match asked.persisted_query {
            Some(Value::Object(pq)) => pq.get("sha256Hash"),
            _ => None,
        };
        let too_long = |id: Option<&str>| id.is_some_and(|id| id.len() > MAX_ID_LEN);
        if too_long(asked.document_id) || too_long(apq_hash.and_then(Value::as_str)) {
            return Err(Refusal::BadRequest(format!(
                "a document identifier is at most {MAX_ID_LEN} characters (sha256:<64 hex>)"
            )));
        }
        if asked.document_id.is_none() && asked.persisted_query.is_none() {
            // An empty text is the parser's to refuse, as before hashes were known.
            let text = asked.query.ok_or(Refusal::NoDocument)?;
            return Ok(Resolved {
                from_manifest: self.manifest.get(&DocumentHash::of(text)).is_some(),
                text: Arc::from(text),
                register: None,
            });
        }
        if self.mode == TrustedDocuments::Off {
            return Err(Refusal::NotSupported);
        }
        if asked.document_id.is_some() && asked.persisted_query.is_some() {
            return Err(bad(
                "send either documentId or extensions.persistedQuery, not both",
            ));
        }
        if let Some(id) = asked.document_id {
            if query.is_some() {
                return Err(bad("send either documentId or query, not both"));
            }
            let hash = id
                .strip_prefix("sha256:")
                .and_then(DocumentHash::parse_hex)
                .ok_or_else(|| bad("documentId must be sha256: and 64 lower-case hex digits"))?;
            return self.lookup(&hash).ok_or(Refusal::UnknownDocument);
        }
        let hash = persisted_query_hash(asked.persisted_query)?;
        match query {
            Some(text) => {
                if DocumentHash::of(text) != hash {
                    return Err(bad(
                        "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query",
                    ));
                }
                let from_manifest = self.manifest.get(&hash).is_some();
                Ok(Resolved {
                    text: Arc::from(text),
                    from_manifest,
                    register: (!from_manifest).then_some(hash),
                })
            }
            None => self.lookup(&hash).ok_or(Refusal::PersistedQueryNotFound),
        }
    }

    /// Whether `viewer` may run `resolved` under TRUSTED_DOCUMENTS.
    pub fn admits(&self, resolved: &Resolved, viewer: &Viewer) -> Result<(), Refusal> {
        if self.mode != TrustedDocuments::Only || resolved.from_manifest || accountable(viewer) {
            return Ok(());
        }
        Err(Refusal::NotInList)
    }

    /// Whether `resolved` can be admitted without knowing who asks (so the viewer need not
    /// be looked up first).
    pub fn admits_anyone(&self, resolved: &Resolved) -> bool {
        self.mode != TrustedDocuments::Only || resolved.from_manifest
    }

    /// Keeps a text sent with its hash, once it has run (parsed, guarded, validated).
    pub fn register(&self, text: Unregistered) {
        self.learnt.insert(text.hash, text.text);
    }

    fn lookup(&self, hash: &DocumentHash) -> Option<Resolved> {
        if let Some(text) = self.manifest.get(hash) {
            return Some(Resolved {
                text,
                from_manifest: true,
                register: None,
            });
        }
        self.learnt.get(hash).map(|text| Resolved {
            text,
            from_manifest: false,
            register: None,
        })
    }
}

/// Organizers and partners may send any document: their accounts are made by an operator
/// (a partner key by an organizer), act for an organization, can be withdrawn, and are
/// held to the same rate limits and cost budget. Anyone may sign up as a runner, so a
/// runner's session proves nothing more than no session.
fn accountable(viewer: &Viewer) -> bool {
    match viewer {
        Viewer::Anonymous => false,
        Viewer::PartnerKey(_) => true,
        Viewer::Account { account, .. } => account.role != race_office::domain::Role::Runner,
    }
}

fn bad(why: &str) -> Refusal {
    Refusal::BadRequest(why.into())
}

/// The hash of `extensions.persistedQuery`: `{ "version": 1, "sha256Hash": "<64 hex>" }`.
fn persisted_query_hash(persisted_query: Option<&Value>) -> Result<DocumentHash, Refusal> {
    let Some(Value::Object(pq)) = persisted_query else {
        return Err(bad("extensions.persistedQuery must be an object"));
    };
    if pq.get("version").and_then(Value::as_i64) != Some(1) {
        return Err(bad("extensions.persistedQuery.version must be 1"));
    }
    pq.get("sha256Hash")
        .and_then(Value::as_str)
        .and_then(DocumentHash::parse_hex)
        .ok_or_else(|| bad("extensions.persistedQuery.sha256Hash must be 64 lower-case hex digits"))
}

#[cfg(test)]
mod tests;
