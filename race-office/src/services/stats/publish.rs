//! From counter rows to published figures: groups in a fixed order, and for partners the
//! suppression of `domain::suppression` applied (hidden counts, withheld lists and
//! tables, and city names typed by fewer than 5 runners).

use std::cmp::Ordering;
use std::collections::HashMap;

use entities::participation_count;

use crate::domain::Dimension;
use crate::domain::participation::{AGE_BRACKETS, NO_DIMENSION, NO_REFUND, UNKNOWN};
use crate::domain::suppression::{MIN_GROUP, Table, protect_list, protect_table};

/// Who reads the figures: organizers see every count, partners see small groups hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Organizer,
    Partner,
}

/// A group's key in one dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValue {
    Known(String),
    /// The runners did not say (no gender, birth date, country or city given).
    Unknown,
    /// A city typed by fewer than 5 runners: free text, possibly personal, so a partner
    /// does not see it.
    Withheld,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupKey {
    pub dimension: Dimension,
    pub value: KeyValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub keys: Vec<GroupKey>,
    /// `None`: hidden (suppressed) for a partner.
    pub count: Option<i64>,
}

/// What one query publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    /// Registrations in the event; `None` for a partner when there are 1 to 4.
    pub total: Option<i64>,
    /// `None`: withheld, because no suppression could make it safe to publish.
    pub groups: Option<Vec<Group>>,
}

/// The order groups are listed (and suppression ties broken) in: brackets and states in
/// their natural order, distances by id, dates and names as text, unknown last.
fn rank(dimension: Dimension, key: &str) -> (u8, i64, String) {
    if key == UNKNOWN {
        return (1, 0, String::new());
    }
    let position = |all: &[&str]| all.iter().position(|k| *k == key).unwrap_or(all.len());
    let number = match dimension {
        Dimension::Distance => key.parse().unwrap_or(i64::MAX),
        Dimension::AgeGroup => position(&AGE_BRACKETS.map(|(code, _)| code)) as i64,
        Dimension::StarterKit => position(&["PENDING", "READY", "ISSUED"]) as i64,
        Dimension::RefundOption => position(&[NO_REFUND, "FULL_REFUND", "KIT_AND_DONATE"]) as i64,
        _ => 0,
    };
    (0, number, key.to_owned())
}

fn by_rank(dimension: Dimension) -> impl Fn(&String, &String) -> Ordering {
    move |a, b| rank(dimension, a).cmp(&rank(dimension, b))
}

/// The counter rows of one event, as loaded.
pub struct Counters<'a> {
    pub rows: &'a [participation_count::Model],
}

impl Counters<'_> {
    pub fn total(&self) -> i64 {
        self.rows
            .iter()
            .filter(|r| r.dimension_a == NO_DIMENSION)
            .map(|r| r.count)
            .sum()
    }

    /// A dimension's groups, in rank order.
    fn list(&self, dimension: Dimension) -> Vec<(String, i64)> {
        let mut groups: Vec<(String, i64)> = self
            .rows
            .iter()
            .filter(|r| r.dimension_a == dimension.code() && r.dimension_b == NO_DIMENSION)
            .filter(|r| r.count > 0)
            .map(|r| (r.key_a.clone(), r.count))
            .collect();
        let order = by_rank(dimension);
        groups.sort_by(|a, b| order(&a.0, &b.0));
        groups
    }

    fn pair(&self, a: Dimension, b: Dimension) -> Vec<(String, String, i64)> {
        self.rows
            .iter()
            .filter(|r| r.dimension_a == a.code() && r.dimension_b == b.code() && r.count > 0)
            .map(|r| (r.key_a.clone(), r.key_b.clone(), r.count))
            .collect()
    }

    /// Publishes the total and the groups of `group_by` (0, 1 or 2 distinct dimensions,
    /// checked by the caller) for `audience`.
    pub fn publish(&self, group_by: &[Dimension], audience: Audience) -> Figures {
        let total = self.total();
        let partner = audience == Audience::Partner;
        let total_hidden = partner && total > 0 && total < MIN_GROUP;
        let shown_total = (!total_hidden).then_some(total);
        let groups = match *group_by {
            [] => Some(vec![Group {
                keys: Vec::new(),
                count: shown_total,
            }]),
            [one] => self.publish_list(one, partner),
            [first, second] => self.publish_pair(first, second, partner),
            _ => None,
        };
        Figures {
            total: shown_total,
            groups,
        }
    }

    /// A list with its hidden groups (all shown for an organizer); `None` if withheld.
    fn protected_list(&self, dimension: Dimension, partner: bool) -> Option<ProtectedList> {
        let groups = self.list(dimension);
        let counts: Vec<i64> = groups.iter().map(|g| g.1).collect();
        let hidden = if partner {
            protect_list(&counts)?
        } else {
            vec![false; counts.len()]
        };
        let withheld_names = partner && dimension == Dimension::City;
        let keys = groups
            .iter()
            .map(|(key, count)| {
                let value = if key == UNKNOWN {
                    KeyValue::Unknown
                } else if withheld_names && *count < MIN_GROUP {
                    KeyValue::Withheld
                } else {
                    KeyValue::Known(key.clone())
                };
                GroupKey { dimension, value }
            })
            .collect();
        Some(ProtectedList {
            index: groups
                .iter()
                .enumerate()
                .map(|(i, g)| (g.0.clone(), i))
                .collect(),
            keys,
            counts,
            hidden,
        })
    }

    fn publish_list(&self, dimension: Dimension, partner: bool) -> Option<Vec<Group>> {
        let list = self.protected_list(dimension, partner)?;
        Some(
            (0..list.counts.len())
                .map(|i| Group {
                    keys: vec![list.keys[i].clone()],
                    count: (!list.hidden[i]).then_some(list.counts[i]),
                })
                .collect(),
        )
    }

    fn publish_pair(
        &self,
        first: Dimension,
        second: Dimension,
        partner: bool,
    ) -> Option<Vec<Group>> {
        // Each pair is stored (and protected) once, in dimension order; a query naming
        // it the other way round gets the same table transposed.
        let swapped = second < first;
        let (a, b) = if swapped {
            (second, first)
        } else {
            (first, second)
        };
        let rows = self.protected_list(a, partner)?;
        let columns = self.protected_list(b, partner)?;
        let mut cells: Vec<(usize, usize, i64)> = self
            .pair(a, b)
            .into_iter()
            .filter_map(|(ka, kb, n)| Some((*rows.index.get(&ka)?, *columns.index.get(&kb)?, n)))
            .collect();
        cells.sort_unstable();
        let hidden = if partner {
            protect_table(&Table {
                cells: &cells,
                row_hidden: &rows.hidden,
                column_hidden: &columns.hidden,
            })?
        } else {
            vec![false; cells.len()]
        };
        let mut groups: Vec<((usize, usize), Group)> = cells
            .iter()
            .zip(hidden)
            .map(|(&(r, c, n), hide)| {
                let (row_key, column_key) = (rows.keys[r].clone(), columns.keys[c].clone());
                let (order, keys) = if swapped {
                    ((c, r), vec![column_key, row_key])
                } else {
                    ((r, c), vec![row_key, column_key])
                };
                (
                    order,
                    Group {
                        keys,
                        count: (!hide).then_some(n),
                    },
                )
            })
            .collect();
        groups.sort_by_key(|(order, _)| *order);
        Some(groups.into_iter().map(|(_, g)| g).collect())
    }
}

struct ProtectedList {
    /// Key -> position in rank order.
    index: HashMap<String, usize>,
    keys: Vec<GroupKey>,
    counts: Vec<i64>,
    hidden: Vec<bool>,
}
