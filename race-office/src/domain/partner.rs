//! What a partner API key may do: its scopes, and how they are stored.

use crate::error::ApiError;

/// One permission of a partner key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PartnerScope {
    /// Public event data: events, distances, statuses, charity projects.
    EventsRead,
    /// Participation statistics of the events the partner sponsors.
    StatsRead,
}

impl PartnerScope {
    pub const ALL: [Self; 2] = [Self::EventsRead, Self::StatsRead];

    pub fn code(self) -> &'static str {
        match self {
            Self::EventsRead => "EVENTS_READ",
            Self::StatsRead => "STATS_READ",
        }
    }
}

/// A non-empty set of scopes, stored as their codes separated by spaces, sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeSet(Vec<PartnerScope>);

impl ScopeSet {
    pub fn new(scopes: impl IntoIterator<Item = PartnerScope>) -> Result<Self, ApiError> {
        let mut scopes: Vec<PartnerScope> = scopes.into_iter().collect();
        scopes.sort_unstable();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(ApiError::bad_input(
                "a partner key needs at least one scope",
            ));
        }
        Ok(Self(scopes))
    }

    /// Every scope: what a partner account (signed in with a password) may do.
    pub fn all() -> Self {
        Self(PartnerScope::ALL.to_vec())
    }

    /// Reads the stored form; unknown words are ignored (a scope removed later grants
    /// nothing), so a stored set is never an error.
    pub fn from_stored(stored: &str) -> Self {
        let mut scopes: Vec<PartnerScope> = stored
            .split_whitespace()
            .filter_map(|word| PartnerScope::ALL.into_iter().find(|s| s.code() == word))
            .collect();
        scopes.sort_unstable();
        scopes.dedup();
        Self(scopes)
    }

    pub fn to_stored(&self) -> String {
        self.0
            .iter()
            .map(|s| s.code())
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn contains(&self, scope: PartnerScope) -> bool {
        self.0.contains(&scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = PartnerScope> + '_ {
        self.0.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_stored_sorted_once_each() {
        let set = ScopeSet::new([
            PartnerScope::StatsRead,
            PartnerScope::EventsRead,
            PartnerScope::StatsRead,
        ]);
        assert_eq!(
            set.as_ref().map(ScopeSet::to_stored).ok(),
            Some("EVENTS_READ STATS_READ".into())
        );
        assert!(ScopeSet::new([]).is_err());
        let read = ScopeSet::from_stored("STATS_READ SOMETHING_OLD");
        assert!(read.contains(PartnerScope::StatsRead));
        assert!(!read.contains(PartnerScope::EventsRead));
    }
}
