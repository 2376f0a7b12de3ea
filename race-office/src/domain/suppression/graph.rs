//! The graph view of a table with its margins: rows and columns are vertices, hidden
//! counts are edges. A hidden count can be recomputed from the published ones exactly
//! when its edge is a bridge (on no cycle), so the rule is about cycles and components.

/// Union-find over vertices, for the components that hidden cells link.
pub struct Components {
    parent: Vec<usize>,
}

impl Components {
    pub fn new(n: usize) -> Self {
        Self {
            parent: (0..n).collect(),
        }
    }

    pub fn find(&mut self, mut v: usize) -> usize {
        while self.parent[v] != v {
            self.parent[v] = self.parent[self.parent[v]];
            v = self.parent[v];
        }
        v
    }

    pub fn join(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra.max(rb)] = ra.min(rb);
        }
    }
}

/// The first edge (by index) that lies on no cycle, found with an iterative Tarjan walk.
pub fn first_bridge(n: usize, edges: &[(usize, usize)]) -> Option<usize> {
    let mut adjacent: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (id, &(u, v)) in edges.iter().enumerate() {
        adjacent[u].push((v, id));
        adjacent[v].push((u, id));
    }
    const UNSEEN: usize = usize::MAX;
    let mut discovered = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut clock = 0;
    let mut bridges = Vec::new();
    for start in 0..n {
        if discovered[start] != UNSEEN || adjacent[start].is_empty() {
            continue;
        }
        discovered[start] = clock;
        low[start] = clock;
        clock += 1;
        // (vertex, edge it was reached by, next neighbour to look at)
        let mut stack = vec![(start, UNSEEN, 0_usize)];
        while let Some(top) = stack.len().checked_sub(1) {
            let (u, via, next) = stack[top];
            if let Some(&(v, id)) = adjacent[u].get(next) {
                stack[top].2 += 1;
                if id == via {
                    continue;
                }
                if discovered[v] == UNSEEN {
                    discovered[v] = clock;
                    low[v] = clock;
                    clock += 1;
                    stack.push((v, id, 0));
                } else {
                    low[u] = low[u].min(discovered[v]);
                }
            } else {
                stack.pop();
                if let Some(&(parent, _, _)) = stack.last() {
                    low[parent] = low[parent].min(low[u]);
                    if low[u] > discovered[parent] {
                        bridges.push(via);
                    }
                }
            }
        }
    }
    bridges.into_iter().min()
}

/// The vertices reachable from `from` over `edges` without crossing edge `skip`.
pub fn side_of(n: usize, edges: &[(usize, usize)], skip: usize, from: usize) -> Vec<bool> {
    let mut adjacent: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (id, &(u, v)) in edges.iter().enumerate() {
        if id != skip {
            adjacent[u].push(v);
            adjacent[v].push(u);
        }
    }
    let mut seen = vec![false; n];
    let mut queue = vec![from];
    seen[from] = true;
    while let Some(u) = queue.pop() {
        for &v in &adjacent[u] {
            if !seen[v] {
                seen[v] = true;
                queue.push(v);
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridges_are_the_edges_on_no_cycle() {
        // A square 0-1-2-3 with a tail 3-4.
        let edges = [(0, 1), (1, 2), (2, 3), (3, 0), (3, 4)];
        assert_eq!(first_bridge(5, &edges), Some(4));
        assert_eq!(first_bridge(4, &edges[..4]), None);
        // Two squares joined by one edge: that edge is the bridge.
        let edges = [
            (0, 1),
            (1, 2),
            (2, 3),
            (3, 0),
            (3, 4),
            (4, 5),
            (5, 6),
            (6, 7),
            (7, 4),
        ];
        assert_eq!(first_bridge(8, &edges), Some(4));
        let side = side_of(8, &edges, 4, 3);
        assert!(side[0] && side[3] && !side[4]);
    }

    #[test]
    fn components_join() {
        let mut c = Components::new(4);
        c.join(0, 2);
        c.join(3, 2);
        assert_eq!(c.find(3), c.find(0));
        assert_ne!(c.find(1), c.find(0));
    }
}
