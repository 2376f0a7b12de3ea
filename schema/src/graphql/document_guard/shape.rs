//! One pass over the tokens. Counts nesting, tokens, aliases, directives and fragment
//! spreads, and refuses as soon as one passes its limit, so the pass never costs more than
//! the limits allow whatever the text. Records, for each operation and fragment definition,
//! the selections its own text makes and the fragments it spreads: what `expansion` needs.

use super::lexer::{Kind, Lexer, Token};
use super::{Limit, Size};

/// The limits the walk enforces itself.
pub(super) struct Caps {
    pub nesting: usize,
    pub tokens: usize,
    pub aliases: usize,
    pub directives: usize,
    pub fragment_spreads: usize,
}

/// An operation or a fragment definition, as its own text reads.
#[derive(Debug, Default)]
pub(super) struct Definition<'a> {
    /// The fragment's name; `None` for an operation.
    pub fragment: Option<&'a str>,
    /// The selections its own text makes (inside inline fragments too).
    pub own: Size,
    /// The fragments it spreads, once per spread.
    pub spreads: Vec<&'a str>,
}

/// What the tokens before a definition's body said it is.
enum Header<'a> {
    None,
    Operation,
    Fragment(Option<&'a str>),
}

impl<'a> Header<'a> {
    /// Takes a name seen outside any definition's body. The grammar matches keywords as
    /// prefixes: `fragmentF on Query { … }` defines `F`, `queryQ { … }` is query `Q`.
    fn take_name(&mut self, name: &'a str) {
        match self {
            Self::None => {
                *self = if ["query", "mutation", "subscription"]
                    .iter()
                    .any(|keyword| name.starts_with(keyword))
                {
                    Self::Operation
                } else if let Some(rest) = name.strip_prefix("fragment") {
                    Self::Fragment(Some(rest).filter(|rest| !rest.is_empty()))
                } else {
                    // Not a document the parser accepts; sized as an operation, the safe side.
                    Self::Operation
                };
            }
            Self::Fragment(name_slot @ None) => *name_slot = Some(name),
            Self::Operation | Self::Fragment(Some(_)) => {}
        }
    }
}

struct Walk<'a> {
    caps: &'a Caps,
    definitions: Vec<Definition<'a>>,
    /// One entry per open bracket, brace or parenthesis: whether it is a selection set.
    stack: Vec<bool>,
    header: Header<'a>,
    /// The definition whose body is open.
    open: Option<usize>,
    aliases: usize,
    directives: usize,
    spreads: usize,
}

impl<'a> Walk<'a> {
    fn spread(&mut self, name: &'a str) -> Result<(), Limit> {
        self.spreads += 1;
        if self.spreads > self.caps.fragment_spreads {
            return Err(Limit::FragmentSpreads);
        }
        if let Some(definition) = self.open.and_then(|i| self.definitions.get_mut(i)) {
            definition.spreads.push(name);
            definition.own = definition.own.plus(Size::FRAGMENT);
        }
        Ok(())
    }

    /// A field or an inline fragment in the open definition.
    fn select(&mut self, one: Size) {
        if let Some(definition) = self.open.and_then(|i| self.definitions.get_mut(i)) {
            definition.own = definition.own.plus(one);
        }
    }

    fn open_bracket(&mut self, brace: bool) -> Result<(), Limit> {
        if self.stack.is_empty() && brace {
            let header = std::mem::replace(&mut self.header, Header::None);
            self.definitions.push(Definition {
                fragment: match header {
                    Header::Fragment(name) => name,
                    Header::None | Header::Operation => None,
                },
                ..Definition::default()
            });
            self.open = Some(self.definitions.len() - 1);
        }
        // A brace in a selection set, or one opening a body, is a selection set; any other
        // brace is an input object.
        let selection = brace && self.stack.last().copied().unwrap_or(true);
        self.stack.push(selection);
        if self.stack.len() > self.caps.nesting {
            return Err(Limit::Nesting);
        }
        Ok(())
    }

    /// Handles one token; `prev` is the one before it.
    fn token(&mut self, token: Token<'a>, prev: Option<Token<'a>>) -> Result<(), Limit> {
        let in_selection = self.stack.last() == Some(&true);
        match token.kind {
            Kind::Punct(b'{') => self.open_bracket(true)?,
            Kind::Punct(b'(' | b'[') => self.open_bracket(false)?,
            Kind::Punct(b'}' | b')' | b']') => {
                self.stack.pop();
                if self.stack.is_empty() {
                    self.open = None;
                }
            }
            Kind::Punct(b':') if in_selection => {
                self.aliases += 1;
                if self.aliases > self.caps.aliases {
                    return Err(Limit::Aliases);
                }
            }
            Kind::Punct(b'@') => {
                self.directives += 1;
                if self.directives > self.caps.directives {
                    return Err(Limit::Directives);
                }
            }
            Kind::Name if self.stack.is_empty() => self.header.take_name(token.text),
            Kind::Name if in_selection => match prev.map(|p| p.kind) {
                // `...on` is settled by the caller, which sees the token after it.
                Some(Kind::Spread) => self.spread(token.text)?,
                // A field's name after its alias; a directive's name.
                Some(Kind::Punct(b':' | b'@')) => {}
                _ => self.select(Size::FIELD),
            },
            _ => {}
        }
        Ok(())
    }
}

/// Walks the document once; refuses on the first limit passed.
pub(super) fn walk<'a>(text: &'a str, caps: &'a Caps) -> Result<Vec<Definition<'a>>, Limit> {
    let mut walk = Walk {
        caps,
        definitions: Vec::new(),
        stack: Vec::new(),
        header: Header::None,
        open: None,
        aliases: 0,
        directives: 0,
        spreads: 0,
    };
    let mut tokens = 0usize;
    let mut prev: Option<Token<'a>> = None;
    // `...` then `on` in a selection set: the next token says whether `on` opens a type
    // condition (a name after plain whitespace) or names a spread fragment.
    let mut spread_on: Option<Token<'a>> = None;
    for token in Lexer::new(text) {
        tokens += 1;
        if tokens > caps.tokens {
            return Err(Limit::Tokens);
        }
        if let Some(on) = spread_on.take() {
            if token.kind == Kind::Name && !token.after_comment {
                // The type condition's type: an inline fragment.
                walk.select(Size::FRAGMENT);
                prev = Some(token);
                continue;
            }
            walk.spread(on.text)?;
        }
        let after_spread =
            prev.is_some_and(|p| p.kind == Kind::Spread) && walk.stack.last() == Some(&true);
        if after_spread && token.kind == Kind::Name && token.text == "on" {
            spread_on = Some(token);
        } else {
            if after_spread && token.kind != Kind::Name {
                // `...` then `{` or a directive: an inline fragment without type condition.
                walk.select(Size::FRAGMENT);
            }
            walk.token(token, prev)?;
        }
        prev = Some(token);
    }
    if let Some(on) = spread_on {
        walk.spread(on.text)?;
    }
    Ok(walk.definitions)
}
