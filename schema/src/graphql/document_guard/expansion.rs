//! The size of a document once every fragment spread is replaced by its fragment: the
//! field selections the engine's validation walks through (it expands spreads in every
//! operation; unused fragments it does not expand). Each fragment is sized once and
//! remembered, so a chain of fragments that each spread the previous one twice costs its
//! length here, not two to the power of it. Sums saturate.
//!
//! A spread of an unknown fragment adds nothing, and so does a spread back into a
//! fragment being sized (a cycle): the engine refuses both itself, and a cycle stops its
//! own walk at recursion depth 32, after at most 33 times the work counted here.

use std::collections::HashMap;

use super::shape::Definition;

#[derive(Clone, Copy)]
enum State {
    Unsized,
    /// On the path being sized: a spread of it closes a cycle.
    Sizing,
    Sized(u64),
}

/// The sizing of one fragment still waiting for some of its spreads.
struct Frame {
    fragment: usize,
    next_spread: usize,
    size: u64,
}

struct Sizer<'d, 'a> {
    definitions: &'d [Definition<'a>],
    /// Fragment name to its definition; the first wins (the parser refuses duplicates).
    by_name: HashMap<&'a str, usize>,
    state: Vec<State>,
    frames: Vec<Frame>,
}

impl Sizer<'_, '_> {
    /// What a spread of `name` adds.
    fn spread(&mut self, name: &str) -> u64 {
        let Some(&root) = self.by_name.get(name) else {
            return 0;
        };
        match self.state.get(root).copied() {
            Some(State::Sized(size)) => return size,
            Some(State::Sizing) | None => return 0,
            Some(State::Unsized) => {}
        }
        self.enter(root);
        // Depth-first without recursion: the spread graph may be as deep as it is long.
        while let Some(frame) = self.frames.last_mut() {
            let spreads = self
                .definitions
                .get(frame.fragment)
                .map(|d| d.spreads.as_slice())
                .unwrap_or_default();
            if let Some(&child) = spreads.get(frame.next_spread) {
                frame.next_spread += 1;
                let Some(&child) = self.by_name.get(child) else {
                    continue;
                };
                match self.state.get(child).copied() {
                    Some(State::Sized(size)) => frame.size = frame.size.saturating_add(size),
                    Some(State::Sizing) | None => {}
                    Some(State::Unsized) => self.enter(child),
                }
            } else if let Some(done) = self.frames.pop() {
                if let Some(state) = self.state.get_mut(done.fragment) {
                    *state = State::Sized(done.size);
                }
                if let Some(parent) = self.frames.last_mut() {
                    parent.size = parent.size.saturating_add(done.size);
                }
            }
        }
        match self.state.get(root) {
            Some(State::Sized(size)) => *size,
            _ => 0,
        }
    }

    fn enter(&mut self, fragment: usize) {
        if let Some(state) = self.state.get_mut(fragment) {
            *state = State::Sizing;
        }
        let fields = self.definitions.get(fragment).map_or(0, |d| d.fields);
        self.frames.push(Frame {
            fragment,
            next_spread: 0,
            size: fields,
        });
    }
}

/// Field selections of all the operations, fragments expanded.
pub(super) fn expanded_fields(definitions: &[Definition<'_>]) -> u64 {
    let mut by_name = HashMap::new();
    for (i, definition) in definitions.iter().enumerate() {
        if let Some(name) = definition.fragment {
            by_name.entry(name).or_insert(i);
        }
    }
    let mut sizer = Sizer {
        definitions,
        by_name,
        state: vec![State::Unsized; definitions.len()],
        frames: Vec::new(),
    };
    let mut total = 0u64;
    for operation in definitions.iter().filter(|d| d.fragment.is_none()) {
        total = total.saturating_add(operation.fields);
        for name in &operation.spreads {
            total = total.saturating_add(sizer.spread(name));
        }
    }
    total
}
