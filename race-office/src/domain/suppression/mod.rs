//! Small-group suppression for partners.
//!
//! What a partner can see of an event: its total, eight one-dimension lists (each sums to
//! the total) and 28 two-dimension tables (each row sums to a group of one list, each
//! column to a group of the other). A group of 1 to 4 registrations is hidden (primary
//! suppression); more groups are hidden so that no hidden count can be recomputed from
//! anything published, alone or combined (secondary suppression):
//!
//! 1. **Lines.** In a list, and in each row and column of a table whose margin is shown,
//!    either nothing is hidden or at least two groups are, and together they hold at
//!    least their number plus 3, so the line alone does not narrow any of them below
//!    "1 to 4" (two hidden groups of 1 summing to 2 would give themselves away). The
//!    next smallest group is hidden until this holds; when every group of the line is
//!    hidden already, it is enough that they are not all ones. A row or column whose
//!    margin is hidden hides at least one cell.
//! 2. **Margins are fixed.** A list's hidden groups depend on that list alone, so every
//!    table with that list as a margin sees the same ones, whichever query asks.
//! 3. **Linked margins.** In a table, the rows whose margins are hidden are linked to one
//!    another by hidden cells (likewise the columns). Then every way the hidden margins
//!    could differ is possible in every table at once, so tables cannot be combined to
//!    pin a margin down.
//! 4. **Cycles.** Seeing rows and columns as vertices and hidden counts (cells and
//!    margins) as edges, every hidden count lies on a cycle: a count on no cycle equals a
//!    sum of published counts. More cells are hidden until none is.
//!
//! Ties go to the first group in key order, so the same figures always hide the same
//! groups. A list or table that cannot be protected this way is withheld whole.

mod graph;
#[cfg(test)]
mod tests;

use graph::{Components, first_bridge, side_of};

/// Groups smaller than this are hidden from partners.
pub const MIN_GROUP: i64 = 5;

fn is_small(count: i64) -> bool {
    count > 0 && count < MIN_GROUP
}

/// Why a line could not be protected.
struct Unprotectable;

/// Checks one line (a list, a row or a column) and hides one more member if it breaks
/// rule 1. Members never hidden are the `pinned` ones. Returns whether it hid one.
fn protect_line(
    members: &[usize],
    counts: &[i64],
    hidden: &mut [bool],
    pinned: &[bool],
    margin_hidden: bool,
) -> Result<bool, Unprotectable> {
    let shown_hidden = members.iter().filter(|m| hidden[**m]).count() as i64;
    let hidden_sum: i64 = members
        .iter()
        .filter(|m| hidden[**m])
        .map(|m| counts[*m])
        .sum();
    let fine = if margin_hidden {
        shown_hidden >= 1
    } else {
        shown_hidden == 0 || (shown_hidden >= 2 && hidden_sum >= shown_hidden + 3)
    };
    if fine {
        return Ok(false);
    }
    let next = members
        .iter()
        .filter(|m| !hidden[**m] && !pinned[**m])
        .min_by_key(|m| (counts[**m], **m));
    match next {
        Some(next) => {
            hidden[*next] = true;
            Ok(true)
        }
        // Nothing left to hide: enough if the hidden ones are not all ones.
        None if !margin_hidden && shown_hidden >= 2 && hidden_sum > shown_hidden => Ok(false),
        None => Err(Unprotectable),
    }
}

/// Which groups of one list to hide, given the counts of its groups (each above 0); the
/// list's total is their sum. `None`: the list cannot be published (a total under 5, or
/// too few groups to hide a small one among).
pub fn protect_list(counts: &[i64]) -> Option<Vec<bool>> {
    let total: i64 = counts.iter().sum();
    if is_small(total) {
        return None;
    }
    let mut hidden: Vec<bool> = counts.iter().map(|c| is_small(*c)).collect();
    let members: Vec<usize> = (0..counts.len()).collect();
    let pinned = vec![false; counts.len()];
    while protect_line(&members, counts, &mut hidden, &pinned, false).ok()? {}
    Some(hidden)
}

/// A two-dimension table: its non-empty cells (row, column, count) and which of its
/// margins (the groups of the two one-dimension lists) are hidden.
pub struct Table<'a> {
    pub cells: &'a [(usize, usize, i64)],
    pub row_hidden: &'a [bool],
    pub column_hidden: &'a [bool],
}

/// Which cells of a table to hide, by rules 1, 3 and 4, given its margins' hidden groups
/// (rule 2). `None`: it cannot be protected and is withheld.
pub fn protect_table(table: &Table<'_>) -> Option<Vec<bool>> {
    let (rows, columns) = (table.row_hidden.len(), table.column_hidden.len());
    let counts: Vec<i64> = table.cells.iter().map(|c| c.2).collect();
    let mut by_row: Vec<Vec<usize>> = vec![Vec::new(); rows];
    let mut by_column: Vec<Vec<usize>> = vec![Vec::new(); columns];
    for (i, &(r, c, _)) in table.cells.iter().enumerate() {
        by_row.get_mut(r)?.push(i);
        by_column.get_mut(c)?.push(i);
    }
    // A cell alone in a line whose margin is shown equals that margin: hiding it is
    // pointless, so it is never chosen.
    let pinned: Vec<bool> = table
        .cells
        .iter()
        .map(|&(r, c, _)| {
            (by_row[r].len() == 1 && !table.row_hidden[r])
                || (by_column[c].len() == 1 && !table.column_hidden[c])
        })
        .collect();
    let mut hidden: Vec<bool> = counts.iter().map(|c| is_small(*c)).collect();
    loop {
        if protect_lines(table, &by_row, &by_column, &counts, &mut hidden, &pinned)? {
            continue;
        }
        if link_hidden_margins(table, &counts, &mut hidden, &pinned)? {
            continue;
        }
        if !close_cycles(table, rows, columns, &counts, &mut hidden, &pinned)? {
            return Some(hidden);
        }
    }
}

/// Rule 1 on every row and column; whether it hid anything.
fn protect_lines(
    table: &Table<'_>,
    by_row: &[Vec<usize>],
    by_column: &[Vec<usize>],
    counts: &[i64],
    hidden: &mut [bool],
    pinned: &[bool],
) -> Option<bool> {
    let mut changed = false;
    for (r, members) in by_row.iter().enumerate() {
        changed |= protect_line(members, counts, hidden, pinned, table.row_hidden[r]).ok()?;
    }
    for (c, members) in by_column.iter().enumerate() {
        changed |= protect_line(members, counts, hidden, pinned, table.column_hidden[c]).ok()?;
    }
    Some(changed)
}

/// The smallest shown, unpinned cell that `wanted` accepts.
fn cheapest(
    table: &Table<'_>,
    counts: &[i64],
    hidden: &[bool],
    pinned: &[bool],
    mut wanted: impl FnMut(usize, usize) -> bool,
) -> Option<usize> {
    (0..table.cells.len())
        .filter(|i| !hidden[*i] && !pinned[*i])
        .filter(|i| wanted(table.cells[*i].0, table.cells[*i].1))
        .min_by_key(|i| (counts[*i], *i))
}

/// Rule 3: hidden-margin rows in one component of hidden cells, and hidden-margin
/// columns too. Hides one linking cell if needed; `None` if no cell can link them.
fn link_hidden_margins(
    table: &Table<'_>,
    counts: &[i64],
    hidden: &mut [bool],
    pinned: &[bool],
) -> Option<bool> {
    let rows = table.row_hidden.len();
    let mut components = Components::new(rows + table.column_hidden.len());
    for (i, &(r, c, _)) in table.cells.iter().enumerate() {
        if hidden[i] {
            components.join(r, rows + c);
        }
    }
    let mut apart = std::collections::BTreeSet::new();
    for (margins, offset) in [(table.row_hidden, 0), (table.column_hidden, rows)] {
        let roots: std::collections::BTreeSet<usize> = (0..margins.len())
            .filter(|v| margins[*v])
            .map(|v| components.find(offset + v))
            .collect();
        if roots.len() > 1 {
            apart.extend(roots);
        }
    }
    if apart.is_empty() {
        return Some(false);
    }
    let link = cheapest(table, counts, hidden, pinned, |r, c| {
        let (a, b) = (components.find(r), components.find(rows + c));
        a != b && (apart.contains(&a) || apart.contains(&b))
    })?;
    hidden[link] = true;
    Some(true)
}

/// Rule 4: no hidden count on no cycle. Hides one cell across the first bridge (or, when
/// no cell crosses it, one that grows its component); `None` if nothing can.
fn close_cycles(
    table: &Table<'_>,
    rows: usize,
    columns: usize,
    counts: &[i64],
    hidden: &mut [bool],
    pinned: &[bool],
) -> Option<bool> {
    // Vertices: rows, the margin row, columns, the margin column.
    let (margin_row, margin_column) = (rows, rows + 1 + columns);
    let column = |c: usize| rows + 1 + c;
    let mut edges: Vec<(usize, usize)> = Vec::new();
    for (i, &(r, c, _)) in table.cells.iter().enumerate() {
        if hidden[i] {
            edges.push((r, column(c)));
        }
    }
    for (r, margin_hidden) in table.row_hidden.iter().enumerate() {
        if *margin_hidden {
            edges.push((r, margin_column));
        }
    }
    for (c, margin_hidden) in table.column_hidden.iter().enumerate() {
        if *margin_hidden {
            edges.push((margin_row, column(c)));
        }
    }
    let vertices = margin_column + 1;
    let Some(bridge) = first_bridge(vertices, &edges) else {
        return Some(false);
    };
    let (u, v) = edges[bridge];
    let near = side_of(vertices, &edges, bridge, u);
    let far = side_of(vertices, &edges, bridge, v);
    let across = cheapest(table, counts, hidden, pinned, |r, c| {
        (near[r] && far[column(c)]) || (far[r] && near[column(c)])
    });
    let grows = || {
        cheapest(table, counts, hidden, pinned, |r, c| {
            (near[r] || far[r]) != (near[column(c)] || far[column(c)])
        })
    };
    let chosen = across.or_else(grows)?;
    hidden[chosen] = true;
    Some(true)
}
