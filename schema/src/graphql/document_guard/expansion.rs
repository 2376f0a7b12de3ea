//! The size of a document once every fragment spread is replaced by its fragment: the
//! selections (fields, spreads, inline fragments) the engine walks through, and the fields
//! among them. The engine expands spreads in every operation, not in unused fragments;
//! a spread costs it a step even when its fragment selects nothing, so a chain of empty
//! fragments counts too. Each fragment is sized once and remembered, so a chain of
//! fragments that each spread the previous one twice costs its length here, not two to
//! the power of it. Sums saturate.
//!
//! A spread of an unknown fragment adds nothing, and so does a spread back into a
//! fragment being sized (a cycle): the engine refuses both itself, and a cycle stops its
//! own walk at recursion depth 32, after at most 33 times the work counted here.

use std::collections::HashMap;

use super::Size;
use super::shape::Definition;

#[derive(Clone, Copy)]
enum State {
    Unsized,
    /// On the path being sized: a spread of it closes a cycle.
    Sizing,
    Sized(Size),
}

/// The sizing of one fragment still waiting for some of its spreads.
struct Frame {
    fragment: usize,
    next_spread: usize,
    size: Size,
}

struct Sizer<'d, 'a> {
    definitions: &'d [Definition<'a>],
    /// Fragment name to its definition; the first wins (the parser refuses duplicates).
    by_name: HashMap<&'a str, usize>,
    state: Vec<State>,
    frames: Vec<Frame>,
}

impl Sizer<'_, '_> {
    /// What a spread of `name` adds, besides the spread itself.
    fn spread(&mut self, name: &str) -> Size {
        let Some(&root) = self.by_name.get(name) else {
            return Size::default();
        };
        match self.state.get(root).copied() {
            Some(State::Sized(size)) => return size,
            Some(State::Sizing) | None => return Size::default(),
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
                    Some(State::Sized(size)) => frame.size = frame.size.plus(size),
                    Some(State::Sizing) | None => {}
                    Some(State::Unsized) => self.enter(child),
                }
            } else if let Some(done) = self.frames.pop() {
                if let Some(state) = self.state.get_mut(done.fragment) {
                    *state = State::Sized(done.size);
                }
                if let Some(parent) = self.frames.last_mut() {
                    parent.size = parent.size.plus(done.size);
                }
            }
        }
        match self.state.get(root) {
            Some(State::Sized(size)) => *size,
            _ => Size::default(),
        }
    }

    fn enter(&mut self, fragment: usize) {
        if let Some(state) = self.state.get_mut(fragment) {
            *state = State::Sizing;
        }
        let own = self
            .definitions
            .get(fragment)
            .map(|d| d.own)
            .unwrap_or_default();
        self.frames.push(Frame {
            fragment,
            next_spread: 0,
            size: own,
        });
    }
}

/// The selections of all the operations, fragments expanded.
pub(super) fn expanded(definitions: &[Definition<'_>]) -> Size {
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
    let mut total = Size::default();
    for operation in definitions.iter().filter(|d| d.fragment.is_none()) {
        total = total.plus(operation.own);
        for name in &operation.spreads {
            total = total.plus(sizer.spread(name));
        }
    }
    total
}
