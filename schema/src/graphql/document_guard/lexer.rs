//! A GraphQL lexer just precise enough to measure a document without parsing it: it tells
//! names, `...`, punctuators and values apart, and skips whitespace, commas, comments,
//! strings and block strings. It agrees with async-graphql's grammar (`graphql.pest`) on
//! every document that grammar accepts, and on every prefix of one it refuses up to the
//! point where it refuses it, so nothing the parser reaches goes unmeasured. Where the two
//! could part (an unterminated block string) it follows the parser.

/// What a token is, as far as measuring goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Name,
    /// `...`
    Spread,
    /// One of `! $ & ( ) : = @ [ ] { | }`.
    Punct(u8),
    /// A number or a string: nothing inside it counts.
    Value,
    /// A character no token starts with: the parser refuses the document there.
    Other,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Token<'a> {
    pub kind: Kind,
    pub text: &'a str,
    /// A comment lies between the previous token and this one. It matters once: the
    /// grammar reads `... on T` as a type condition only when plain whitespace separates
    /// `on` from `T`; `... on#\nT` spreads a fragment named `on`, then selects `T`.
    pub after_comment: bool,
}

pub(super) struct Lexer<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(text: &'a str) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    fn rest(&self) -> &[u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    /// Skips whitespace, commas, the byte order mark and comments; says whether a comment
    /// was among them.
    fn skip_ignored(&mut self) -> bool {
        let mut comment = false;
        loop {
            match self.peek(0) {
                Some(b' ' | b'\t' | b',' | b'\n' | b'\r') => self.pos += 1,
                Some(0xEF) if self.rest().starts_with("\u{feff}".as_bytes()) => self.pos += 3,
                Some(b'#') => {
                    comment = true;
                    while !matches!(self.peek(0), None | Some(b'\n' | b'\r')) {
                        self.pos += 1;
                    }
                }
                _ => return comment,
            }
        }
    }

    fn digits(&mut self) {
        while matches!(self.peek(0), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`: a leading `0` ends the integer
    /// part, as in the grammar (`[0123]` is a list of two numbers there).
    fn number(&mut self) {
        if self.peek(0) == Some(b'-') {
            self.pos += 1;
        }
        if self.peek(0) == Some(b'0') {
            self.pos += 1;
        } else {
            self.digits();
        }
        if self.peek(0) == Some(b'.') && matches!(self.peek(1), Some(b'0'..=b'9')) {
            self.pos += 1;
            self.digits();
        }
        if matches!(self.peek(0), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(self.peek(1), Some(b'+' | b'-')));
            if matches!(self.peek(1 + sign), Some(b'0'..=b'9')) {
                self.pos += 1 + sign;
                self.digits();
            }
        }
    }

    /// A string or block string, from its opening quote.
    fn string(&mut self) {
        if self.rest().starts_with(b"\"\"\"") {
            let start = self.pos;
            self.pos += 3;
            loop {
                let rest = self.rest();
                if rest.is_empty() {
                    // Unterminated: the grammar then reads `""` as an empty string and
                    // goes on after it, so we do too.
                    self.pos = start + 2;
                    return;
                }
                if rest.starts_with(b"\\\"\"\"") {
                    self.pos += 4;
                } else if rest.starts_with(b"\"\"\"") {
                    self.pos += 3;
                    return;
                } else {
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        loop {
            match self.peek(0) {
                // A line end or the end of the text: the parser refuses the string here.
                None | Some(b'\n' | b'\r') => return,
                Some(b'"') => {
                    self.pos += 1;
                    return;
                }
                Some(b'\\') => self.pos = (self.pos + 2).min(self.bytes.len()),
                Some(_) => self.pos += 1,
            }
        }
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let after_comment = self.skip_ignored();
        let start = self.pos;
        let first = self.peek(0)?;
        let kind = match first {
            b'!' | b'$' | b'&' | b'(' | b')' | b':' | b'=' | b'@' | b'[' | b']' | b'{' | b'|'
            | b'}' => {
                self.pos += 1;
                Kind::Punct(first)
            }
            b'.' if self.rest().starts_with(b"...") => {
                self.pos += 3;
                Kind::Spread
            }
            b'"' => {
                self.string();
                Kind::Value
            }
            b'-' | b'0'..=b'9' => {
                self.number();
                Kind::Value
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                while matches!(
                    self.peek(0),
                    Some(b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9')
                ) {
                    self.pos += 1;
                }
                Kind::Name
            }
            _ => {
                let width = self
                    .text
                    .get(start..)
                    .and_then(|rest| rest.chars().next())
                    .map_or(1, char::len_utf8);
                self.pos += width;
                Kind::Other
            }
        };
        // Every token ends on an ASCII byte, before one, or at the end: a char boundary.
        let text = self.text.get(start..self.pos).unwrap_or_default();
        Some(Token {
            kind,
            text,
            after_comment,
        })
    }
}
