//! The automatic persisted queries' store: texts this instance has seen parse, pass the
//! document guard and validate, by their SHA-256. Bounded by a count and by bytes of text;
//! the least recently used text goes first. Per instance on purpose: a client that meets
//! another instance gets PERSISTED_QUERY_NOT_FOUND and sends the text again, which is
//! APQ's ordinary path, so a shared store would only save that one retry.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use super::DocumentHash;

pub struct Store {
    max_documents: usize,
    max_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    texts: HashMap<DocumentHash, (Arc<str>, u64)>,
    /// Last use → hash: the first entry is the least recently used.
    by_use: BTreeMap<u64, DocumentHash>,
    bytes: usize,
    clock: u64,
}

impl Store {
    pub fn new(max_documents: usize, max_bytes: usize) -> Self {
        Self {
            max_documents,
            max_bytes,
            inner: Mutex::default(),
        }
    }

    /// The text registered under `hash`, now the most recently used.
    pub fn get(&self, hash: &DocumentHash) -> Option<Arc<str>> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.clock += 1;
        let now = inner.clock;
        let (text, used) = inner.texts.get_mut(hash)?;
        let (text, before) = (text.clone(), std::mem::replace(used, now));
        inner.by_use.remove(&before);
        inner.by_use.insert(now, *hash);
        Some(text)
    }

    /// Keeps `text` under `hash` (its SHA-256, checked by the caller), making room by
    /// forgetting the least recently used. A text larger than the whole store is not kept.
    pub fn insert(&self, hash: DocumentHash, text: Arc<str>) {
        if text.len() > self.max_bytes {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.clock += 1;
        let now = inner.clock;
        if let Some((_, used)) = inner.texts.get_mut(&hash) {
            let before = std::mem::replace(used, now);
            inner.by_use.remove(&before);
            inner.by_use.insert(now, hash);
            return;
        }
        while inner.texts.len() >= self.max_documents || inner.bytes + text.len() > self.max_bytes {
            let Some((_, oldest)) = inner.by_use.pop_first() else {
                break;
            };
            if let Some((gone, _)) = inner.texts.remove(&oldest) {
                inner.bytes -= gone.len();
            }
        }
        inner.bytes += text.len();
        inner.texts.insert(hash, (text, now));
        inner.by_use.insert(now, hash);
    }

    /// Texts kept now.
    #[cfg(test)]
    fn len(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.texts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(store: &Store, text: &str) -> DocumentHash {
        let hash = DocumentHash::of(text);
        store.insert(hash, Arc::from(text));
        hash
    }

    #[test]
    fn the_least_recently_used_text_goes_first_when_the_count_is_reached() {
        let store = Store::new(2, 1024);
        let a = keep(&store, "{ a }");
        let b = keep(&store, "{ b }");
        assert!(
            store.get(&a).is_some(),
            "a is used again, so b is now the oldest"
        );
        let c = keep(&store, "{ c }");
        assert_eq!(store.len(), 2);
        assert!(store.get(&b).is_none());
        assert_eq!(store.get(&a).as_deref(), Some("{ a }"));
        assert_eq!(store.get(&c).as_deref(), Some("{ c }"));
    }

    #[test]
    fn the_bytes_bound_holds_and_a_text_larger_than_the_store_is_not_kept() {
        let store = Store::new(100, 12);
        let a = keep(&store, "{ aaaa }");
        let b = keep(&store, "{ bbbb }");
        assert!(
            store.get(&a).is_none(),
            "8 + 8 bytes pass 12: the older went"
        );
        assert!(store.get(&b).is_some());
        let huge = keep(&store, "{ a_text_of_more_than_twelve_bytes }");
        assert!(store.get(&huge).is_none());
        assert!(store.get(&b).is_some(), "a refused text evicts nothing");
    }

    #[test]
    fn a_text_kept_twice_is_counted_once() {
        let store = Store::new(2, 1024);
        keep(&store, "{ a }");
        keep(&store, "{ a }");
        let b = keep(&store, "{ b }");
        assert_eq!(store.len(), 2);
        assert!(store.get(&b).is_some());
    }
}
