//! The script grammar (GRAMMAR.md §2–§6) over the tokens of [`super::lexer`].
//!
//! Every error names the line and column of the token where parsing failed.

use std::collections::HashSet;

use super::ast::*;
use super::lexer::{tokenize, Pos, SyntaxError, Tok, Token};

/// Parses a script; names in `defines` are set for `#ifdef`.
///
/// ```
/// use synfin::conformance::parser::parse;
/// let s = parse("--tolerance_usecs=1000\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
///                +0.1 < S 0:0(0) win 1000 <mss 1460>\n", &Default::default()).unwrap();
/// assert_eq!(s.options.len(), 1);
/// assert_eq!(s.events.len(), 2);
/// ```
pub fn parse(src: &str, defines: &HashSet<String>) -> Result<Script, SyntaxError> {
    let toks = tokenize(src, defines)?;
    let mut p = Parser { toks, at: 0 };
    p.script()
}

struct Parser {
    toks: Vec<Token>,
    at: usize,
}

type R<T> = Result<T, SyntaxError>;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.tok)
    }
    fn peek2(&self) -> Option<&Tok> {
        self.toks.get(self.at + 1).map(|t| &t.tok)
    }
    fn pos(&self) -> Pos {
        self.toks
            .get(self.at)
            .or(self.toks.last())
            .map(|t| t.pos)
            .unwrap_or_default()
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).map(|t| t.tok.clone());
        if t.is_some() {
            self.at += 1;
        }
        t
    }
    fn err<T>(&self, what: impl Into<String>) -> R<T> {
        let found = match self.peek() {
            Some(t) => format!("`{t}`"),
            None => "end of file".into(),
        };
        Err(SyntaxError {
            pos: self.pos(),
            message: format!("{}, found {found}", what.into()),
        })
    }
    fn is_punct(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }
    fn eat_punct(&mut self, c: char) -> bool {
        if self.is_punct(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }
    fn expect_punct(&mut self, c: char) -> R<()> {
        if self.eat_punct(c) {
            Ok(())
        } else {
            self.err(format!("expected `{c}`"))
        }
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }
    fn int(&mut self) -> R<i64> {
        let neg = self.eat_punct('-');
        match self.peek() {
            Some(Tok::Int(i)) => {
                let i = *i;
                self.at += 1;
                Ok(if neg { -i } else { i })
            }
            _ => self.err("expected an integer"),
        }
    }
    fn u32(&mut self) -> R<u32> {
        let pos = self.pos();
        let v = self.int()?;
        u32::try_from(v).map_err(|_| SyntaxError {
            pos,
            message: format!("{v} does not fit 32 bits"),
        })
    }
    fn small<T: TryFrom<i64>>(&mut self) -> R<T> {
        let pos = self.pos();
        let v = self.int()?;
        T::try_from(v).map_err(|_| SyntaxError {
            pos,
            message: format!("{v} is out of range here"),
        })
    }

    fn script(&mut self) -> R<Script> {
        let mut options = Vec::new();
        while let Some(Tok::Opt(n, v)) = self.peek() {
            let item = (n.clone(), v.clone(), self.pos());
            self.at += 1;
            options.push(item);
        }
        let mut events = Vec::new();
        while self.peek().is_some() {
            events.push(self.event()?);
        }
        Ok(Script { options, events })
    }

    fn time_point(&mut self) -> R<TimePoint> {
        let relative = self.eat_punct('+');
        let secs = match self.peek() {
            Some(Tok::Int(i)) => *i as f64,
            Some(Tok::Float(f)) => *f,
            _ => return self.err("expected a time"),
        };
        self.at += 1;
        Ok(TimePoint { relative, secs })
    }

    fn timing(&mut self) -> R<Timing> {
        match self.peek() {
            Some(Tok::Punct('*')) => {
                self.at += 1;
                Ok(Timing::Any)
            }
            Some(Tok::Backquote(_) | Tok::Code(_)) => Ok(Timing::None),
            Some(Tok::Punct('+') | Tok::Int(_) | Tok::Float(_)) => {
                let a = self.time_point()?;
                if self.eat_punct('~') {
                    Ok(Timing::Range(a, self.time_point()?))
                } else if self.peek() == Some(&Tok::Ellipsis) {
                    self.at += 1;
                    Ok(Timing::Blocking(a, self.time_point()?))
                } else {
                    Ok(Timing::At(a))
                }
            }
            Some(Tok::Opt(..)) => self.err("options must come before the first event"),
            _ => self.err("expected an event time"),
        }
    }

    fn event(&mut self) -> R<Event> {
        let pos = self.pos();
        let timing = self.timing()?;
        let action = match self.peek() {
            Some(Tok::Punct('<')) => Action::Packet(self.packet(true)?),
            Some(Tok::Punct('>')) => Action::Packet(self.packet(false)?),
            Some(Tok::Backquote(s)) => {
                let s = s.clone();
                self.at += 1;
                Action::Shell(s)
            }
            Some(Tok::Code(s)) => {
                let s = s.clone();
                self.at += 1;
                Action::Code(s)
            }
            Some(Tok::Word(_)) if self.peek2() == Some(&Tok::Punct('(')) => {
                Action::Syscall(self.syscall()?)
            }
            _ => return self.err("expected a packet, a system call, a `command` or %{ code }%"),
        };
        if timing == Timing::None && !matches!(action, Action::Shell(_) | Action::Code(_)) {
            return Err(SyntaxError {
                pos,
                message: "event without a time".into(),
            });
        }
        Ok(Event {
            pos,
            timing,
            action,
        })
    }

    // ---- packets ----

    fn packet(&mut self, inbound: bool) -> R<Packet> {
        self.at += 1; // direction
        let mut ip_info = Vec::new();
        loop {
            if self.is_punct('(')
                && matches!(self.peek2(), Some(Tok::Word(w)) if matches!(w.as_str(), "ttl" | "tos" | "hlim" | "class" | "flowlabel" | "id"))
            {
                self.at += 1;
                let Some(Tok::Word(name)) = self.next() else {
                    return self.err("expected an IP field name");
                };
                let v = self.int()?;
                self.expect_punct(')')?;
                ip_info.push((name, Some(v)));
            } else if self.is_punct('[')
                && matches!(self.peek2(), Some(Tok::Word(w)) if matches!(w.as_str(), "ect0" | "ect1" | "ce" | "noecn" | "ect01"))
            {
                self.at += 1;
                let Some(Tok::Word(name)) = self.next() else {
                    return self.err("expected an ECN codepoint");
                };
                self.expect_punct(']')?;
                ip_info.push((name, None));
            } else {
                break;
            }
        }
        if self.is_word("icmp") {
            self.at += 1;
            let mut words = Vec::new();
            loop {
                match self.peek() {
                    Some(Tok::Word(w)) => {
                        words.push(w.clone());
                        self.at += 1;
                    }
                    Some(Tok::Int(i)) => {
                        words.push(i.to_string());
                        self.at += 1;
                    }
                    Some(Tok::Punct('[')) => {
                        // The quoted segment: kept as text.
                        self.at += 1;
                        let mut q = String::from("[");
                        while !self.eat_punct(']') {
                            match self.next() {
                                Some(t) => q.push_str(&t.to_string()),
                                None => return self.err("expected `]`"),
                            }
                        }
                        q.push(']');
                        words.push(q);
                    }
                    _ => break,
                }
            }
            return Ok(Packet {
                inbound,
                ip_info,
                body: PacketBody::Icmp(words),
                udp_encapsulated: false,
            });
        }
        let flags = self.flags()?;
        let seq = if self.peek() == Some(&Tok::Ellipsis) {
            self.at += 1;
            None
        } else {
            let start = self.u32()?;
            self.expect_punct(':')?;
            let _end = self.u32()?;
            Some(start)
        };
        self.expect_punct('(')?;
        let len = self.u32()?;
        self.expect_punct(')')?;
        // nplab's `!` after the segment (used with UDP encapsulation).
        self.eat_punct('!');
        let mut tcp = TcpPacket {
            flags,
            seq,
            len,
            ack: None,
            win: None,
            urg: None,
            options: OptionSpec::Absent,
        };
        loop {
            if self.is_word("ack") {
                self.at += 1;
                tcp.ack = Some(self.u32()?);
            } else if self.is_word("win") {
                self.at += 1;
                tcp.win = Some(self.u32()?);
            } else if self.is_word("urg") {
                self.at += 1;
                tcp.urg = Some(self.u32()?);
            } else {
                break;
            }
        }
        if self.is_punct('<') {
            self.at += 1;
            tcp.options = self.tcp_options()?;
        }
        let mut udp_encapsulated = false;
        if self.is_punct('/') && matches!(self.peek2(), Some(Tok::Word(w)) if w == "udp") {
            self.at += 2;
            self.expect_punct('(')?;
            while !self.eat_punct(')') {
                if self.next().is_none() {
                    return self.err("expected `)`");
                }
            }
            udp_encapsulated = true;
        }
        Ok(Packet {
            inbound,
            ip_info,
            body: PacketBody::Tcp(tcp),
            udp_encapsulated,
        })
    }

    fn flags(&mut self) -> R<String> {
        let mut flags = String::new();
        match self.peek() {
            Some(Tok::Punct('-')) => {
                self.at += 1;
                return Ok(flags);
            }
            Some(Tok::Punct('.')) => {}
            Some(Tok::Word(w)) => {
                if !w.chars().all(|c| "SFRPUEWA".contains(c)) {
                    return self.err("expected TCP flags (letters of SFRPUEWA or `.`)");
                }
                flags.push_str(w);
                self.at += 1;
            }
            // ACE codepoint digits are not used by this runner's corpus;
            // they would need AccECN.
            _ => return self.err("expected TCP flags"),
        }
        if self.eat_punct('.') {
            flags.push('.');
        }
        Ok(flags)
    }

    fn tcp_options(&mut self) -> R<OptionSpec> {
        if self.peek() == Some(&Tok::Ellipsis) {
            self.at += 1;
            self.expect_punct('>')?;
            return Ok(OptionSpec::Any);
        }
        let mut list = Vec::new();
        if self.eat_punct('>') {
            return Ok(OptionSpec::List(list));
        }
        loop {
            list.push(self.tcp_option()?);
            if self.eat_punct('>') {
                return Ok(OptionSpec::List(list));
            }
            self.expect_punct(',')?;
        }
    }

    fn tcp_option(&mut self) -> R<TcpOpt> {
        let Some(Tok::Word(w)) = self.peek().cloned() else {
            return self.err("expected a TCP option");
        };
        self.at += 1;
        Ok(match w.as_str() {
            "nop" => TcpOpt::Nop,
            "eol" => TcpOpt::Eol,
            "mss" => TcpOpt::Mss(self.small()?),
            "wscale" => TcpOpt::Wscale(self.small()?),
            "sackOK" => TcpOpt::SackOk,
            "sack" => {
                let mut blocks = Vec::new();
                while matches!(self.peek(), Some(Tok::Int(_))) {
                    let a = self.u32()?;
                    self.expect_punct(':')?;
                    let b = self.u32()?;
                    blocks.push((a, b));
                }
                TcpOpt::Sack(blocks)
            }
            "TS" => {
                if !self.is_word("val") {
                    return self.err("expected `val`");
                }
                self.at += 1;
                let val = self.u32()?;
                if !self.is_word("ecr") {
                    return self.err("expected `ecr`");
                }
                self.at += 1;
                let ecr = self.u32()?;
                TcpOpt::Timestamp { val, ecr }
            }
            _ => {
                // md5, FO, FOEXP, ECN, …: keep the words up to `,` or `>`.
                let mut text = w.clone();
                while !self.is_punct(',') && !self.is_punct('>') {
                    match self.next() {
                        Some(t) => {
                            text.push(' ');
                            text.push_str(&t.to_string());
                        }
                        None => return self.err("expected `>`"),
                    }
                }
                TcpOpt::Other(text)
            }
        })
    }

    // ---- system calls ----

    fn syscall(&mut self) -> R<Syscall> {
        let Some(Tok::Word(name)) = self.next() else {
            return self.err("expected a system call");
        };
        self.expect_punct('(')?;
        let mut args = Vec::new();
        if !self.eat_punct(')') {
            loop {
                args.push(self.expr()?);
                if self.eat_punct(')') {
                    break;
                }
                self.expect_punct(',')?;
            }
        }
        self.expect_punct('=')?;
        let result = self.expr()?;
        let mut errno = None;
        if let Some(Tok::Word(w)) = self.peek() {
            errno = Some(w.clone());
            self.at += 1;
        }
        if self.is_punct('(') {
            self.skip_note()?;
        }
        Ok(Syscall {
            name,
            args,
            result,
            errno,
        })
    }

    /// A parenthesised note after a result: its text is ignored.
    fn skip_note(&mut self) -> R<()> {
        let mut depth = 0;
        loop {
            match self.next() {
                Some(Tok::Punct('(')) => depth += 1,
                Some(Tok::Punct(')')) => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Some(_) => {}
                None => return self.err("unterminated note: expected `)`"),
            }
        }
    }

    fn expr(&mut self) -> R<Expr> {
        let first = self.primary()?;
        if !self.is_punct('|') {
            return Ok(first);
        }
        let mut all = vec![first];
        while self.eat_punct('|') {
            all.push(self.primary()?);
        }
        Ok(Expr::Or(all))
    }

    fn primary(&mut self) -> R<Expr> {
        match self.peek().cloned() {
            Some(Tok::Ellipsis) => {
                self.at += 1;
                Ok(Expr::Ellipsis)
            }
            Some(Tok::Punct('-')) | Some(Tok::Int(_)) => Ok(Expr::Int(self.int()?)),
            Some(Tok::Float(f)) => {
                self.at += 1;
                Ok(Expr::Float(f))
            }
            Some(Tok::Word(w)) => {
                self.at += 1;
                Ok(Expr::Word(w))
            }
            Some(Tok::Str(s)) => {
                self.at += 1;
                Ok(Expr::Str(s))
            }
            Some(Tok::Punct('[')) => {
                self.at += 1;
                let mut items = Vec::new();
                if self.eat_punct(']') {
                    return Ok(Expr::List(items));
                }
                loop {
                    items.push(self.expr()?);
                    if self.eat_punct(']') {
                        return Ok(Expr::List(items));
                    }
                    self.expect_punct(',')?;
                }
            }
            Some(Tok::Punct('{')) => {
                self.at += 1;
                let mut fields = Vec::new();
                if self.eat_punct('}') {
                    return Ok(Expr::Struct(fields));
                }
                loop {
                    fields.push(self.field()?);
                    if self.eat_punct('}') {
                        return Ok(Expr::Struct(fields));
                    }
                    self.expect_punct(',')?;
                }
            }
            _ => self.err("expected an expression"),
        }
    }

    fn field(&mut self) -> R<(Option<String>, Expr)> {
        if let Some(Tok::Word(w)) = self.peek().cloned() {
            if self.peek2() == Some(&Tok::Punct('=')) {
                self.at += 2;
                return Ok((Some(w), self.expr()?));
            }
            if self.peek2() == Some(&Tok::Punct('(')) {
                // `msg_iov(1)=…`: the count in parentheses is informative.
                self.at += 2;
                while !self.eat_punct(')') {
                    if self.next().is_none() {
                        return self.err("expected `)`");
                    }
                }
                self.expect_punct('=')?;
                return Ok((Some(w), self.expr()?));
            }
        }
        Ok((None, self.expr()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(src: &str) -> Event {
        let s = parse(src, &HashSet::new()).unwrap();
        assert_eq!(s.events.len(), 1, "{s:?}");
        s.events.into_iter().next().unwrap()
    }

    #[test]
    fn packet_lines() {
        let e = one("+0.10 < S.     0:0(0)     ack 1 win 32767 <mss 1460,sackOK,eol,eol>");
        assert_eq!(
            e.timing,
            Timing::At(TimePoint {
                relative: true,
                secs: 0.1
            })
        );
        let Action::Packet(p) = e.action else {
            panic!()
        };
        assert!(p.inbound);
        let PacketBody::Tcp(t) = p.body else { panic!() };
        assert_eq!(t.flags, "S.");
        assert_eq!(
            (t.seq, t.len, t.ack, t.win),
            (Some(0), 0, Some(1), Some(32767))
        );
        assert_eq!(
            t.options,
            OptionSpec::List(vec![
                TcpOpt::Mss(1460),
                TcpOpt::SackOk,
                TcpOpt::Eol,
                TcpOpt::Eol
            ])
        );
        let e = one("+.3~+.310 > . 1:1001(1000) ack 1 <nop,nop,sack 200:300 400:500>");
        assert!(matches!(e.timing, Timing::Range(..)));
        let e = one("0 > S. ...(0) ack 65537 win 65535 <...>");
        let Action::Packet(p) = e.action else {
            panic!()
        };
        let PacketBody::Tcp(t) = p.body else { panic!() };
        assert_eq!((t.seq, t.options), (None, OptionSpec::Any));
    }

    #[test]
    fn syscall_lines_span_lines_and_take_notes() {
        let e = one("+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)");
        let Action::Syscall(s) = e.action else {
            panic!()
        };
        assert_eq!(s.name, "connect");
        assert_eq!(s.result, Expr::Int(-1));
        assert_eq!(s.errno.as_deref(), Some("EINPROGRESS"));
        let e = one("0...0.2 poll([{fd=4,\n events=POLLOUT,\n revents=POLLOUT}], 1, 1000) = 1");
        assert!(matches!(e.timing, Timing::Blocking(..)));
        let e = one("+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0x0 (flags O_RDWR)");
        let Action::Syscall(s) = e.action else {
            panic!()
        };
        assert_eq!(
            s.args[2],
            Expr::Or(vec![
                Expr::Word("O_RDWR".into()),
                Expr::Word("O_NONBLOCK".into())
            ])
        );
        let e = one("+0 setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0");
        let Action::Syscall(s) = e.action else {
            panic!()
        };
        assert!(matches!(&s.args[3], Expr::Struct(f) if f.len() == 2));
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse(
            "0 socket(..., SOCK_STREAM) = 3\n+0 < S 0:0 win 1",
            &HashSet::new(),
        )
        .unwrap_err();
        assert_eq!((e.pos.line, e.pos.col), (2, 12));
        assert!(e.message.contains("expected `(`"), "{e}");
        let e = parse("0 < Q 0:0(0) win 1", &HashSet::new()).unwrap_err();
        assert!(e.message.contains("flags"));
        assert!(parse("socket() = 3", &HashSet::new()).is_err());
    }
}
