//! The parsed form of a packetdrill script (GRAMMAR.md §2–§6).

use super::lexer::Pos;

/// A whole script: leading `--options`, then timed events.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    /// `--name[=value]` lines, in order.
    pub options: Vec<(String, Option<String>, Pos)>,
    /// The events, in order.
    pub events: Vec<Event>,
}

/// One point of a time specification: seconds, absolute or relative (`+`).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct TimePoint {
    /// Relative to the previous event (`+t`).
    pub relative: bool,
    /// Seconds.
    pub secs: f64,
}

/// When an event happens (GRAMMAR.md §3).
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Timing {
    /// No timestamp (an init or cleanup shell command).
    None,
    /// `*`: any time.
    Any,
    /// `t` or `+t`.
    At(TimePoint),
    /// `a~b`: anywhere in the range.
    Range(TimePoint, TimePoint),
    /// `a...b`: a blocking call starting at `a` that returns at `b`.
    Blocking(TimePoint, TimePoint),
}

/// One event: a time and what happens then.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Where the event starts in the file.
    pub pos: Pos,
    /// Its time.
    pub timing: Timing,
    /// What it does.
    pub action: Action,
}

/// What an event does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// `<` or `>` packet.
    Packet(Packet),
    /// A system call with its expected result.
    Syscall(Syscall),
    /// `` `command` ``.
    Shell(String),
    /// `%{ code }%`.
    Code(String),
}

/// A packet line.
#[derive(Clone, Debug, PartialEq)]
pub struct Packet {
    /// `<`: injected into the stack; `>`: expected from it.
    pub inbound: bool,
    /// IP-level annotations: `(ttl 1)`, `(tos 0x20)`, `[ect0]`, … as
    /// (name, value) pairs.
    pub ip_info: Vec<(String, Option<i64>)>,
    /// The TCP or ICMP body.
    pub body: PacketBody,
    /// A `/udp(sport > dport)` suffix: TCP over UDP encapsulation.
    pub udp_encapsulated: bool,
}

/// The body of a packet line.
#[derive(Clone, Debug, PartialEq)]
pub enum PacketBody {
    /// A TCP segment.
    Tcp(TcpPacket),
    /// `icmp type [code] [mtu N] [quoted segment]`; kept as its words.
    Icmp(Vec<String>),
}

/// A TCP segment as the script writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct TcpPacket {
    /// Flag letters (`S`, `F`, `R`, `P`, `U`, `E`, `W`, `A`, `.` for ACK);
    /// empty for `-`.
    pub flags: String,
    /// `start` of `start:end(len)`; `None` for `...(len)` (not checked).
    pub seq: Option<u32>,
    /// Payload length.
    pub len: u32,
    /// `ack N`.
    pub ack: Option<u32>,
    /// `win N`.
    pub win: Option<u32>,
    /// `urg N`.
    pub urg: Option<u32>,
    /// The options.
    pub options: OptionSpec,
}

/// What the script says about a segment's options.
#[derive(Clone, Debug, PartialEq)]
pub enum OptionSpec {
    /// Nothing written: an outbound segment must carry no options.
    Absent,
    /// `<...>`: not checked.
    Any,
    /// A list, in order.
    List(Vec<TcpOpt>),
}

/// One TCP option in a `<...>` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpOpt {
    /// `nop`.
    Nop,
    /// `eol`.
    Eol,
    /// `mss N`.
    Mss(u16),
    /// `wscale N`.
    Wscale(u8),
    /// `sackOK`.
    SackOk,
    /// `sack a:b c:d …` (relative sequence numbers).
    Sack(Vec<(u32, u32)>),
    /// `TS val X ecr Y`.
    Timestamp {
        /// TSval.
        val: u32,
        /// TSecr.
        ecr: u32,
    },
    /// Anything else (`md5 valid`, `FO`, `ECN` …), by its words.
    Other(String),
}

/// A system-call line.
#[derive(Clone, Debug, PartialEq)]
pub struct Syscall {
    /// The call's name.
    pub name: String,
    /// Its arguments.
    pub args: Vec<Expr>,
    /// The expected result.
    pub result: Expr,
    /// The expected errno name, for a failing call.
    pub errno: Option<String>,
}

/// An argument or result expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `...`: fill in / don't care.
    Ellipsis,
    /// An integer.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// A symbol (`SOL_SOCKET`, `ECONNRESET`, …).
    Word(String),
    /// A string literal.
    Str(String),
    /// `A | B | …`.
    Or(Vec<Expr>),
    /// `[a, b, …]`: a pointer to an int (one element) or an array.
    List(Vec<Expr>),
    /// `{name=value, …}` (unnamed fields have `None`).
    Struct(Vec<(Option<String>, Expr)>),
}
