//! The runner page's own GraphQL documents, registered at build time: the checked-in
//! `server/web/documents.json` (`"sha256:<hex>": text`) is compiled into the binary, so the
//! page needs no build step of its own. A test (`page_documents`) extracts every document
//! from the page's scripts and holds the manifest to exactly those, each validated
//! against the schema; it rewrites the file when run with `WRITE_DOCUMENTS_MANIFEST=1`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::DocumentHash;

/// The manifest as checked in.
pub const PAGE_MANIFEST: &str = include_str!("../../web/documents.json");

/// Why the manifest cannot be read: a build of a bad checkout, so the gateway stops.
#[derive(Debug, thiserror::Error)]
pub enum BadManifest {
    #[error("server/web/documents.json is not a JSON map of id to text: {0}")]
    Unreadable(#[from] serde_json::Error),
    #[error("server/web/documents.json: {0} is not the sha256: id of its text")]
    WrongId(String),
}

pub struct Manifest(HashMap<DocumentHash, Arc<str>>);

impl Manifest {
    /// The runner page's manifest.
    pub fn page() -> Result<Self, BadManifest> {
        Self::parse(PAGE_MANIFEST)
    }

    /// A manifest whose every id is the SHA-256 of its text.
    pub fn parse(json: &str) -> Result<Self, BadManifest> {
        let entries: BTreeMap<String, String> = serde_json::from_str(json)?;
        let mut documents = HashMap::with_capacity(entries.len());
        for (id, text) in entries {
            let hash = DocumentHash::of(&text);
            if id != hash.document_id() {
                return Err(BadManifest::WrongId(id));
            }
            documents.insert(hash, Arc::from(text));
        }
        Ok(Self(documents))
    }

    pub fn get(&self, hash: &DocumentHash) -> Option<Arc<str>> {
        self.0.get(hash).cloned()
    }

    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.0.values().map(|text| &**text)
    }
}
