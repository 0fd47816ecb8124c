//! Tokens of the packetdrill script language (GRAMMAR.md §1).
//!
//! The language is token-based, not line-based: a newline is whitespace, so
//! an event may span lines. Comments are `//…` and `/*…*/`. The nplab
//! preprocessor lines `#ifdef NAME` … `#endif` (one level, no `#else`) are
//! resolved here against the set of defined names.

use std::collections::HashSet;
use std::fmt;

/// Where a token starts: 1-based line and column.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column (in characters), from 1.
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// `--name` or `--name=value`.
    Opt(String, Option<String>),
    /// An integer (decimal or `0x` hex).
    Int(i64),
    /// A number with a decimal point, kept with its text (`0.10`, `.3`).
    Float(f64),
    /// `[A-Za-z0-9_]+` starting with a letter or underscore.
    Word(String),
    /// `"..."`.
    Str(String),
    /// `` `...` ``: a shell command.
    Backquote(String),
    /// `%{ ... }%`: a code block.
    Code(String),
    /// `...`.
    Ellipsis,
    /// Any other single character (`< > . : ( ) [ ] { } , = | + * ~ -` …).
    Punct(char),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Opt(n, Some(v)) => write!(f, "--{n}={v}"),
            Tok::Opt(n, None) => write!(f, "--{n}"),
            Tok::Int(i) => write!(f, "{i}"),
            Tok::Float(x) => write!(f, "{x}"),
            Tok::Word(w) => f.write_str(w),
            Tok::Str(s) => write!(f, "\"{s}\""),
            Tok::Backquote(s) => write!(f, "`{s}`"),
            Tok::Code(_) => f.write_str("%{…}%"),
            Tok::Ellipsis => f.write_str("..."),
            Tok::Punct(c) => write!(f, "{c}"),
        }
    }
}

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Its position.
    pub pos: Pos,
}

/// A lexical or syntax error with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where.
    pub pos: Pos,
    /// What.
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}

impl std::error::Error for SyntaxError {}

struct Lexer<'a> {
    chars: Vec<char>,
    at: usize,
    line: u32,
    col: u32,
    line_start: bool,
    defines: &'a HashSet<String>,
    /// Inside `#ifdef` whose name is not defined: tokens are dropped.
    skipping: Option<Pos>,
    /// Inside an `#ifdef` at all (one level only).
    in_ifdef: bool,
}

/// Splits `src` into tokens; `#ifdef NAME` blocks are kept when `NAME` is in
/// `defines`.
///
/// ```
/// use synfin::conformance::lexer::{tokenize, Tok};
/// let toks = tokenize("+0.1 < S 0:0(0) win 1000 // c\n", &Default::default()).unwrap();
/// assert_eq!(toks[0].tok, Tok::Punct('+'));
/// assert_eq!(toks[1].tok, Tok::Float(0.1));
/// ```
pub fn tokenize(src: &str, defines: &HashSet<String>) -> Result<Vec<Token>, SyntaxError> {
    let mut lx = Lexer {
        chars: src.chars().collect(),
        at: 0,
        line: 1,
        col: 1,
        line_start: true,
        defines,
        skipping: None,
        in_ifdef: false,
    };
    let mut out = Vec::new();
    while let Some(t) = lx.next()? {
        if lx.skipping.is_none() {
            out.push(t);
        }
    }
    if lx.in_ifdef {
        let pos = lx.skipping.unwrap_or(lx.pos());
        return Err(SyntaxError {
            pos,
            message: "#ifdef without #endif".into(),
        });
    }
    Ok(out)
}

impl Lexer<'_> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }
    fn peek(&self, k: usize) -> Option<char> {
        self.chars.get(self.at + k).copied()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.at).copied()?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
            self.line_start = true;
        } else {
            self.col += 1;
            if !c.is_whitespace() {
                self.line_start = false;
            }
        }
        Some(c)
    }
    fn err<T>(&self, pos: Pos, message: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            pos,
            message: message.into(),
        })
    }

    /// Skips whitespace and comments; handles preprocessor lines.
    fn skip_trivia(&mut self) -> Result<(), SyntaxError> {
        loop {
            match (self.peek(0), self.peek(1)) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('/'), Some('/')) => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                (Some('/'), Some('*')) => {
                    let pos = self.pos();
                    self.bump();
                    self.bump();
                    loop {
                        match (self.peek(0), self.peek(1)) {
                            (Some('*'), Some('/')) => {
                                self.bump();
                                self.bump();
                                break;
                            }
                            (Some(_), _) => {
                                self.bump();
                            }
                            (None, _) => return self.err(pos, "unterminated /* comment"),
                        }
                    }
                }
                (Some('#'), _) if self.line_start => self.preprocessor()?,
                _ => return Ok(()),
            }
        }
    }

    fn preprocessor(&mut self) -> Result<(), SyntaxError> {
        let pos = self.pos();
        let mut line = String::new();
        while let Some(c) = self.peek(0).filter(|&c| c != '\n') {
            line.push(c);
            self.bump();
        }
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("#ifdef"), Some(name)) => {
                if self.in_ifdef {
                    return self.err(pos, "nested #ifdef (only one level is allowed)");
                }
                self.in_ifdef = true;
                if !self.defines.contains(name) {
                    self.skipping = Some(pos);
                }
                Ok(())
            }
            (Some("#endif"), None) => {
                if !self.in_ifdef {
                    return self.err(pos, "#endif without #ifdef");
                }
                self.in_ifdef = false;
                self.skipping = None;
                Ok(())
            }
            _ => self.err(pos, format!("unknown preprocessor line `{}`", line.trim())),
        }
    }

    fn next(&mut self) -> Result<Option<Token>, SyntaxError> {
        self.skip_trivia()?;
        let pos = self.pos();
        let Some(c) = self.peek(0) else {
            return Ok(None);
        };
        let tok = match c {
            '-' if self.peek(1) == Some('-') => {
                self.bump();
                self.bump();
                let mut name = String::new();
                while let Some(c) = self
                    .peek(0)
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                {
                    name.push(c);
                    self.bump();
                }
                if name.is_empty() {
                    return self.err(pos, "`--` without an option name");
                }
                let value = if self.peek(0) == Some('=') {
                    self.bump();
                    let mut v = String::new();
                    while let Some(c) = self.peek(0).filter(|c| !c.is_whitespace()) {
                        v.push(c);
                        self.bump();
                    }
                    Some(v)
                } else {
                    None
                };
                Tok::Opt(name, value)
            }
            '.' if self.peek(1) == Some('.') && self.peek(2) == Some('.') => {
                self.bump();
                self.bump();
                self.bump();
                Tok::Ellipsis
            }
            '.' if self.peek(1).is_some_and(|c| c.is_ascii_digit()) => self.number(pos)?,
            c if c.is_ascii_digit() => self.number(pos)?,
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut w = String::new();
                while let Some(c) = self
                    .peek(0)
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                {
                    w.push(c);
                    self.bump();
                }
                Tok::Word(w)
            }
            '"' => {
                self.bump();
                let mut s = String::new();
                loop {
                    match self.bump() {
                        Some('"') => break,
                        Some('\\') => match self.bump() {
                            Some(c) => s.push(c),
                            None => return self.err(pos, "unterminated string"),
                        },
                        Some(c) => s.push(c),
                        None => return self.err(pos, "unterminated string"),
                    }
                }
                Tok::Str(s)
            }
            '`' => {
                self.bump();
                let mut s = String::new();
                loop {
                    match self.bump() {
                        Some('`') => break,
                        Some(c) => s.push(c),
                        None => return self.err(pos, "unterminated backquoted command"),
                    }
                }
                Tok::Backquote(s)
            }
            '%' if self.peek(1) == Some('{') => {
                self.bump();
                self.bump();
                let mut s = String::new();
                loop {
                    match (self.peek(0), self.peek(1)) {
                        (Some('}'), Some('%')) => {
                            self.bump();
                            self.bump();
                            break;
                        }
                        (Some(c), _) => {
                            s.push(c);
                            self.bump();
                        }
                        (None, _) => return self.err(pos, "unterminated %{ code block"),
                    }
                }
                Tok::Code(s)
            }
            c => {
                self.bump();
                Tok::Punct(c)
            }
        };
        Ok(Some(Token { tok, pos }))
    }

    fn number(&mut self, pos: Pos) -> Result<Tok, SyntaxError> {
        if self.peek(0) == Some('0') && matches!(self.peek(1), Some('x' | 'X')) {
            self.bump();
            self.bump();
            let mut s = String::new();
            while let Some(c) = self.peek(0).filter(|c| c.is_ascii_hexdigit()) {
                s.push(c);
                self.bump();
            }
            return match i64::from_str_radix(&s, 16) {
                Ok(v) if !s.is_empty() => Ok(Tok::Int(v)),
                _ => self.err(pos, format!("bad hex number `0x{s}`")),
            };
        }
        let mut s = String::new();
        while let Some(c) = self.peek(0).filter(|c| c.is_ascii_digit()) {
            s.push(c);
            self.bump();
        }
        // A fraction needs a digit after the point; `1...2` is 1, `...`, 2.
        if self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            s.push('.');
            self.bump();
            while let Some(c) = self.peek(0).filter(|c| c.is_ascii_digit()) {
                s.push(c);
                self.bump();
            }
            return match s.parse::<f64>() {
                Ok(v) => Ok(Tok::Float(v)),
                Err(_) => self.err(pos, format!("bad number `{s}`")),
            };
        }
        match s.parse::<i64>() {
            Ok(v) => Ok(Tok::Int(v)),
            Err(_) => self.err(pos, format!("number `{s}` out of range")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        let mut d = HashSet::new();
        d.insert("STANDARD".to_string());
        tokenize(s, &d)
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn numbers_times_and_ellipsis() {
        assert_eq!(
            toks("+.3~+0.310 0...1.5 0x02 S. 1:2(1)"),
            vec![
                Tok::Punct('+'),
                Tok::Float(0.3),
                Tok::Punct('~'),
                Tok::Punct('+'),
                Tok::Float(0.31),
                Tok::Int(0),
                Tok::Ellipsis,
                Tok::Float(1.5),
                Tok::Int(2),
                Tok::Word("S".into()),
                Tok::Punct('.'),
                Tok::Int(1),
                Tok::Punct(':'),
                Tok::Int(2),
                Tok::Punct('('),
                Tok::Int(1),
                Tok::Punct(')'),
            ]
        );
    }

    #[test]
    fn ifdef_keeps_defined_names_only() {
        let t = toks("a\n#ifdef STANDARD\nb\n#endif\n#ifdef FreeBSD\nc\n#endif\nd");
        let words: Vec<_> = t.iter().map(|t| t.to_string()).collect();
        assert_eq!(words, ["a", "b", "d"]);
    }

    #[test]
    fn errors_have_positions() {
        let e = tokenize("a\n  `open", &HashSet::new()).unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 3 });
        let e = tokenize("#ifdef X\n", &HashSet::new()).unwrap_err();
        assert!(e.message.contains("#endif"));
        let e = tokenize("/* x", &HashSet::new()).unwrap_err();
        assert_eq!(e.pos.line, 1);
    }

    #[test]
    fn options_comments_code() {
        assert_eq!(
            toks("--ip_version=ipv4 /* x\n y */ %{ assert a }% `sysctl -w a=1`"),
            vec![
                Tok::Opt("ip_version".into(), Some("ipv4".into())),
                Tok::Code(" assert a ".into()),
                Tok::Backquote("sysctl -w a=1".into()),
            ]
        );
    }
}
