//! The suppression rule against an attacker who knows linear algebra: every published
//! relation (lists sum to the total, table rows and columns sum to list groups) is an
//! equation, hidden counts are unknowns, and no unknown may be fixed by the equations.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

#[test]
fn a_lone_small_group_takes_the_next_smallest_with_it() {
    assert_eq!(protect_list(&[3, 12, 15]), Some(vec![true, true, false]));
    assert_eq!(protect_list(&[10, 20]), Some(vec![false, false]));
    // Two hidden ones would sum to 2, giving both away: a third is hidden.
    assert_eq!(protect_list(&[1, 1, 50]), Some(vec![true, true, true]));
    assert_eq!(
        protect_list(&[2, 2]),
        None,
        "a total under 5 is not published"
    );
    // All hidden, but they are not all ones: each could be 1 or 2 or 3.
    assert_eq!(protect_list(&[2, 2, 1]), Some(vec![true, true, true]));
    // Five groups of one: however many are hidden, they sum to their number.
    assert_eq!(protect_list(&[1, 1, 1, 1, 1]), None);
}

#[test]
fn a_small_cell_hides_a_rectangle_of_its_row_and_column() {
    // Rows: 12 = 3 + 9, 30 = 14 + 16; columns 17 and 25; nothing hidden in the margins.
    let cells = [(0, 0, 3), (0, 1, 9), (1, 0, 14), (1, 1, 16)];
    let hidden = protect_table(&Table {
        cells: &cells,
        row_hidden: &[false, false],
        column_hidden: &[false, false],
    });
    assert_eq!(hidden, Some(vec![true, true, true, true]));
}

/// An equation system over published cells: variables are the hidden ones.
#[derive(Default)]
struct Attacker {
    equations: Vec<BTreeMap<usize, f64>>,
    variables: usize,
}

impl Attacker {
    fn unknown(&mut self) -> usize {
        self.variables += 1;
        self.variables - 1
    }

    /// `sum(parts) - whole = 0`, keeping only the hidden terms.
    fn equation(&mut self, parts: &[Option<usize>], whole: Option<usize>) {
        let mut row = BTreeMap::new();
        for v in parts.iter().flatten() {
            *row.entry(*v).or_insert(0.0) += 1.0;
        }
        if let Some(v) = whole {
            *row.entry(v).or_insert(0.0) -= 1.0;
        }
        self.equations.push(row);
    }

    /// The unknowns the equations fix: pivots of the reduced row echelon form whose row
    /// has no free variable in it.
    fn determined(&self) -> Vec<usize> {
        let mut matrix: Vec<Vec<f64>> = self
            .equations
            .iter()
            .map(|eq| {
                let mut row = vec![0.0; self.variables];
                for (v, x) in eq {
                    row[*v] = *x;
                }
                row
            })
            .collect();
        let mut pivots = Vec::new();
        let mut rank = 0;
        for col in 0..self.variables {
            let Some(p) = (rank..matrix.len()).find(|r| matrix[*r][col].abs() > 1e-9) else {
                continue;
            };
            matrix.swap(rank, p);
            let scale = matrix[rank][col];
            for x in matrix[rank].iter_mut() {
                *x /= scale;
            }
            for r in 0..matrix.len() {
                if r != rank && matrix[r][col].abs() > 1e-9 {
                    let factor = matrix[r][col];
                    let pivot_row = matrix[rank].clone();
                    for (x, p) in matrix[r].iter_mut().zip(pivot_row) {
                        *x -= factor * p;
                    }
                }
            }
            pivots.push((rank, col));
            rank += 1;
        }
        pivots
            .into_iter()
            .filter(|(row, col)| {
                (0..self.variables).all(|c| c == *col || matrix[*row][c].abs() < 1e-9)
            })
            .map(|(_, col)| col)
            .collect()
    }
}

/// A published list: key -> (count, the attacker's variable when hidden).
type PublishedList = BTreeMap<usize, (i64, Option<usize>)>;

/// What publishing some microdata came to.
struct Outcome {
    /// Hidden counts the attacker recomputed (must be none).
    found: Vec<String>,
    hidden: usize,
    /// Tables published with at least one hidden cell, and tables withheld.
    protected_tables: usize,
    withheld: usize,
}

/// Publishes three-dimension microdata the way the API does (total, three lists, three
/// tables) and attacks it.
fn attack(runners: &[[usize; 3]]) -> Outcome {
    let mut attacker = Attacker::default();
    let mut names = Vec::new();
    let mut hidden_count = 0;
    let (mut protected_tables, mut withheld) = (0, 0);
    // Each list: key -> (count, variable if hidden); None when withheld.
    let mut lists: Vec<Option<PublishedList>> = Vec::new();
    for d in 0..3 {
        let mut counts: BTreeMap<usize, i64> = BTreeMap::new();
        for r in runners {
            *counts.entry(r[d]).or_default() += 1;
        }
        let values: Vec<i64> = counts.values().copied().collect();
        let Some(hidden) = protect_list(&values) else {
            lists.push(None);
            withheld += 1;
            continue;
        };
        let mut list = BTreeMap::new();
        let mut parts = Vec::new();
        for ((key, count), hide) in counts.iter().zip(hidden) {
            assert!(hide || !is_small(*count), "a small group is shown");
            let var = hide.then(|| {
                names.push(format!("list {d} key {key}"));
                hidden_count += 1;
                attacker.unknown()
            });
            parts.push(var);
            list.insert(*key, (*count, var));
        }
        attacker.equation(&parts, None);
        lists.push(Some(list));
    }
    for (d, e) in [(0, 1), (0, 2), (1, 2)] {
        let (Some(rows), Some(columns)) = (&lists[d], &lists[e]) else {
            continue;
        };
        let row_keys: Vec<usize> = rows.keys().copied().collect();
        let column_keys: Vec<usize> = columns.keys().copied().collect();
        let mut counts: BTreeMap<(usize, usize), i64> = BTreeMap::new();
        for r in runners {
            *counts.entry((r[d], r[e])).or_default() += 1;
        }
        let index = |keys: &[usize], k: usize| keys.iter().position(|x| *x == k).unwrap_or(0);
        let cells: Vec<(usize, usize, i64)> = counts
            .iter()
            .map(|((a, b), n)| (index(&row_keys, *a), index(&column_keys, *b), *n))
            .collect();
        let row_hidden: Vec<bool> = rows.values().map(|(_, v)| v.is_some()).collect();
        let column_hidden: Vec<bool> = columns.values().map(|(_, v)| v.is_some()).collect();
        let Some(hidden) = protect_table(&Table {
            cells: &cells,
            row_hidden: &row_hidden,
            column_hidden: &column_hidden,
        }) else {
            withheld += 1;
            continue;
        };
        protected_tables += usize::from(hidden.iter().any(|h| *h));
        let vars: Vec<Option<usize>> = cells
            .iter()
            .zip(&hidden)
            .map(|(&(r, c, n), hide)| {
                assert!(*hide || !is_small(n), "a small cell is shown");
                hide.then(|| {
                    names.push(format!("table {d}x{e} cell {r},{c}"));
                    hidden_count += 1;
                    attacker.unknown()
                })
            })
            .collect();
        for (r, key) in row_keys.iter().enumerate() {
            let parts: Vec<Option<usize>> = (0..cells.len())
                .filter(|i| cells[*i].0 == r)
                .map(|i| vars[i])
                .collect();
            attacker.equation(&parts, rows[key].1);
        }
        for (c, key) in column_keys.iter().enumerate() {
            let parts: Vec<Option<usize>> = (0..cells.len())
                .filter(|i| cells[*i].1 == c)
                .map(|i| vars[i])
                .collect();
            attacker.equation(&parts, columns[key].1);
        }
    }
    let found = attacker
        .determined()
        .into_iter()
        .map(|v| names[v].clone())
        .collect();
    Outcome {
        found,
        hidden: hidden_count,
        protected_tables,
        withheld,
    }
}

#[test]
fn the_attacker_recomputes_a_lone_hidden_group() {
    // The check itself: hiding only the small group of [3, 12, 15] gives it away.
    let mut attacker = Attacker::default();
    let small = attacker.unknown();
    attacker.equation(&[Some(small), None, None], None);
    assert_eq!(attacker.determined(), vec![small]);
    // Hiding two leaves both free.
    let mut attacker = Attacker::default();
    let (a, b) = (attacker.unknown(), attacker.unknown());
    attacker.equation(&[Some(a), Some(b), None], None);
    assert!(attacker.determined().is_empty());
}

/// Skewed microdata from a small deterministic generator.
fn skewed(seed: u64, n: usize) -> Vec<[usize; 3]> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = |bound: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Squaring a uniform fraction piles runners onto the first keys.
        let fraction = (state % 1000) as f64 / 1000.0;
        (fraction * fraction * bound as f64) as usize
    };
    (0..n).map(|_| [next(4), next(3), next(6)]).collect()
}

#[test]
fn most_tables_are_published_with_their_small_cells_hidden() {
    let (mut protected, mut withheld) = (0, 0);
    for seed in 0..400 {
        let outcome = attack(&skewed(seed, 40 + (seed as usize % 60)));
        assert!(
            outcome.found.is_empty(),
            "seed {seed}: recomputed {:?}",
            outcome.found
        );
        protected += outcome.protected_tables;
        withheld += outcome.withheld;
    }
    assert!(
        protected > 10 * withheld,
        "{protected} tables published with hidden cells, {withheld} lists or tables withheld"
    );
}

#[test]
fn a_crafted_event_gives_nothing_away() {
    // Distance x gender x age: one runner is the only OTHER on the 5 km.
    let mut runners = Vec::new();
    for i in 0..60 {
        runners.push([i % 3, i % 2, i % 4]);
    }
    runners.push([3, 2, 1]);
    runners.push([3, 0, 1]);
    runners.push([3, 1, 0]);
    let outcome = attack(&runners);
    assert!(outcome.hidden > 0, "something small was hidden");
    assert!(outcome.withheld == 0, "everything published");
    assert!(outcome.found.is_empty(), "recomputed: {:?}", outcome.found);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn no_hidden_count_can_be_recomputed(
        runners in prop::collection::vec(
            (0..4_usize, 0..3_usize, 0..5_usize).prop_map(|(a, b, c)| [a, b, c]),
            5..70,
        ),
        skew in 0..3_usize,
    ) {
        // Skew piles runners onto the first keys, leaving small groups on the others.
        let runners: Vec<[usize; 3]> = runners
            .into_iter()
            .enumerate()
            .map(|(i, r)| if i % 4 < skew { [0, 0, r[2]] } else { r })
            .collect();
        let found = attack(&runners).found;
        prop_assert!(found.is_empty(), "recomputed: {:?}", found);
    }
}
