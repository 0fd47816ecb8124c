//! A packetdrill-compatible script runner (issue 5): the FreeBSD TCP test
//! suite's scripts, run against a synfin [`crate::stack::Stack`] in virtual
//! time.
//!
//! * [`lexer`] and [`parser`] read the script language (GRAMMAR.md) into
//!   [`ast`]; a broken script is an error with its line and column.
//! * [`interp`] plays the script's remote side against one stack: inbound
//!   packets are injected, outbound ones compared ([`packets`]), system
//!   calls mapped to stack calls ([`syscalls`]), `sysctl`/`sockstat` lines
//!   and `%{ }%` blocks turned into configuration and state queries
//!   ([`shell`]).
//! * [`run_source`] runs one script and says pass, fail or unsupported;
//!   `synfin conformance` runs directories of them.
//!
//! ```
//! use synfin::conformance::{run_source, Mode, Verdict};
//! let script = "
//! --tolerance_usecs=10000
//! 0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
//! +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
//! +0 bind(3, ..., ...) = 0
//! +0 listen(3, 1) = 0
//! +0 < S 0:0(0) win 32767 <mss 1460,sackOK,eol,eol>
//! +0 > S. 0:0(0) ack 1 <...>
//! +0.1 < . 1:1(0) ack 1 win 32767
//! +0 accept(3, ..., ...) = 4
//! ";
//! let r = run_source(script, Mode::Semantic);
//! assert_eq!(r.verdict, Verdict::Pass, "{}", r.reason);
//! ```

pub mod ast;
pub mod interp;
pub mod lexer;
pub mod packets;
pub mod parser;
pub mod shell;
pub mod syscalls;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ast::{Action, Expr, PacketBody, Script, TcpOpt};
use interp::{Interp, Stop};

use crate::stack::StackConfig;

/// How outbound segments are compared.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Everything the line says, including the window value and the order
    /// and padding of the options.
    Strict,
    /// Flags, sequence and acknowledgment numbers, payload length and the
    /// set of options; not the advertised window's value nor the options'
    /// order or padding.
    Semantic,
}

impl Mode {
    /// Both modes.
    pub const ALL: [Mode; 2] = [Mode::Semantic, Mode::Strict];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Strict => "strict",
            Mode::Semantic => "semantic",
        }
    }
}

/// The result of one script.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every event happened as the script says.
    Pass,
    /// The stack did something else (or the script could not be read).
    Fail,
    /// The script needs something outside synfin's scope (TCP Fast Open,
    /// UDP encapsulation, ICMP, TCP-MD5 keys, FreeBSD-only tools).
    Unsupported,
}

/// One script's outcome.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ScriptResult {
    /// Pass, fail or unsupported.
    #[serde(rename = "result")]
    pub verdict: Verdict,
    /// Why it failed or is unsupported (empty on a pass).
    pub reason: String,
    /// What the run ignored (sysctls without a knob, non-fatal mismatches).
    pub notes: Vec<String>,
}

/// The stack configuration the corpus is run with: FreeBSD's defaults where
/// synfin has the knob (`net.inet.tcp.recvspace` 65536, `sendspace` 32768,
/// 100 ms delayed ACK, 1 s initial RTO, 30 s MSL, the window scale sized
/// for `kern.ipc.maxsockbuf` = 2 MiB, buffers rounded up to whole segments
/// once the MSS is known, the FIN repeated on ACKs in CLOSING, a FIN
/// acknowledged at once). Scripts adjust it further with `sysctl -w`.
pub fn freebsd_profile() -> StackConfig {
    let mut c = StackConfig::default();
    c.tcp.recv_buffer = 65_536;
    c.tcp.send_buffer = 32_768;
    c.tcp.delayed_ack = Duration::from_millis(100);
    c.tcp.initial_rto = Duration::from_secs(1);
    c.tcp.msl = Duration::from_secs(30);
    c.tcp.wscale_buffer = Some(2_097_152);
    c.tcp.round_buffers_to_mss = true;
    c.tcp.repeat_fin_in_closing = true;
    // tcp_input.c: a FIN sets TF_ACKNOW.
    c.tcp.delay_fin_ack = false;
    // net.inet.tcp.ecn.maxretries (ecn.enable defaults to 2, as synfin).
    c.tcp.ecn_syn_retries = 1;
    // TCPTV_KEEP_INIT bounds connection establishment; the retry limit is
    // TCP_MAXRXTSHIFT and the RTO ceiling TCPTV_REXMTMAX.
    c.tcp.keepinit = Some(Duration::from_secs(75));
    c.tcp.syn_retries = 12;
    c.tcp.max_rto = Duration::from_secs(64);
    // TCPT_RANGESET: RTO = max(rexmit_min, SRTT + 4 RTTVAR) + rexmit_slop.
    c.tcp.min_rto = Duration::from_millis(30);
    c.tcp.rto_slop = Duration::from_millis(200);
    c
}

/// Names defined for `#ifdef`: only `STANDARD` (the RFC behaviour; the
/// corpus's `#ifdef FreeBSD` blocks describe FreeBSD's deviations).
pub fn defines() -> HashSet<String> {
    ["STANDARD".to_string()].into_iter().collect()
}

/// Why a script is outside synfin's scope, if it is.
fn not_applicable(script: &Script) -> Option<String> {
    for (name, _, _) in &script.options {
        match name.as_str() {
            "udp_encapsulation" => return Some("TCP over UDP encapsulation".into()),
            "tcp_md5_secret" => return Some("TCP-MD5 signatures (RFC 2385)".into()),
            _ => {}
        }
    }
    for ev in &script.events {
        let line = ev.pos.line;
        match &ev.action {
            Action::Packet(p) => {
                if p.udp_encapsulated {
                    return Some("TCP over UDP encapsulation".into());
                }
                match &p.body {
                    PacketBody::Icmp(_) => {
                        return Some(format!("line {line}: ICMP — synfin does not process ICMP"))
                    }
                    PacketBody::Tcp(t) => {
                        if let ast::OptionSpec::List(l) = &t.options {
                            for o in l {
                                if let TcpOpt::Other(s) = o {
                                    if s.starts_with("md5") {
                                        return Some("TCP-MD5 signatures (RFC 2385)".into());
                                    }
                                    if s.starts_with("FO") {
                                        return Some("TCP Fast Open".into());
                                    }
                                }
                            }
                        }
                    }
                }
            }
            Action::Syscall(c) => {
                let words = |e: &Expr| matches!(e, Expr::Word(w) if w == "TCP_MD5SIG");
                if c.args.iter().any(words) {
                    return Some("TCP-MD5 signatures (RFC 2385)".into());
                }
                if c.args.iter().any(
                    |e| matches!(e, Expr::Word(w) if w == "MSG_FASTOPEN" || w == "TCP_FASTOPEN"),
                ) {
                    return Some("TCP Fast Open".into());
                }
            }
            Action::Shell(cmd) => {
                let tool = cmd.split_whitespace().next().unwrap_or("");
                if matches!(tool, "tcpdrop" | "kldstat" | "kldload" | "setkey") {
                    return Some(format!("line {line}: FreeBSD-only tool `{tool}`"));
                }
                if cmd.contains("udp_tunneling") {
                    return Some("TCP over UDP encapsulation".into());
                }
            }
            Action::Code(_) => {}
        }
    }
    None
}

/// Runs one script's text.
pub fn run_source(src: &str, mode: Mode) -> ScriptResult {
    let result = |verdict, reason: String, notes| ScriptResult {
        verdict,
        reason,
        notes,
    };
    let script = match parser::parse(src, &defines()) {
        Ok(s) => s,
        Err(e) => return result(Verdict::Fail, format!("parse error at {e}"), Vec::new()),
    };
    if let Some(why) = not_applicable(&script) {
        return result(Verdict::Unsupported, why, Vec::new());
    }
    let mut notes = Vec::new();
    let mut v6 = false;
    let mut tolerance = None;
    let mut config = freebsd_profile();
    let mut non_fatal = false;
    for (name, value, pos) in &script.options {
        let v = value.as_deref().unwrap_or("");
        match name.as_str() {
            "ip_version" => match v {
                "ipv4" => v6 = false,
                "ipv6" => v6 = true,
                other => {
                    return result(
                        Verdict::Fail,
                        format!("{pos}: --ip_version={other} is not implemented"),
                        notes,
                    )
                }
            },
            "tolerance_usecs" => tolerance = v.parse::<u64>().ok(),
            "mtu" => match v.parse::<usize>() {
                Ok(m) => config.tcp.mtu = m,
                Err(_) => return result(Verdict::Fail, format!("{pos}: bad --mtu"), notes),
            },
            "non_fatal" if v.split(',').any(|s| s == "syscall") => non_fatal = true,
            other => notes.push(format!("{pos}: option --{other} ignored")),
        }
    }
    let mut it = Interp::new(mode, config, v6);
    if let Some(t) = tolerance {
        it.tolerance = t;
    }
    it.non_fatal_syscall = non_fatal;
    it.notes = notes;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| it.run(&script)));
    let notes = std::mem::take(&mut it.notes);
    match outcome {
        Ok(Ok(())) => result(Verdict::Pass, String::new(), notes),
        Ok(Err(Stop::Fail(why))) => result(Verdict::Fail, why, notes),
        Ok(Err(Stop::Unsupported(why))) => {
            result(Verdict::Fail, format!("not implemented: {why}"), notes)
        }
        Err(_) => result(Verdict::Fail, "panic in the stack or runner".into(), notes),
    }
}

/// One script's outcome with its path.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FileResult {
    /// The script's path as given (or found under a given directory).
    pub path: String,
    /// Its outcome.
    #[serde(flatten)]
    pub result: ScriptResult,
}

/// Every `.pkt` file in `paths` (files as given, directories recursively),
/// sorted.
pub fn collect(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        if p.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(p)?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()?;
            entries.sort();
            for e in entries {
                if e.is_dir() || e.extension().is_some_and(|x| x == "pkt") {
                    walk(&e, out)?;
                }
            }
            Ok(())
        } else if p.exists() {
            out.push(p.to_path_buf());
            Ok(())
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} does not exist", p.display()),
            ))
        }
    }
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out)?;
    }
    Ok(out)
}

/// Runs one file.
pub fn run_file(path: &Path, mode: Mode) -> std::io::Result<FileResult> {
    let bytes = std::fs::read(path)?;
    let src = String::from_utf8_lossy(&bytes);
    Ok(FileResult {
        path: path.display().to_string(),
        result: run_source(&src, mode),
    })
}

/// Pass/fail/unsupported counts of one directory.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Scripts that passed.
    pub passed: usize,
    /// Scripts that failed.
    pub failed: usize,
    /// Scripts outside synfin's scope.
    pub unsupported: usize,
}

impl Counts {
    /// Adds one verdict.
    pub fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Pass => self.passed += 1,
            Verdict::Fail => self.failed += 1,
            Verdict::Unsupported => self.unsupported += 1,
        }
    }
    /// Scripts that apply (passed + failed).
    pub fn applicable(&self) -> usize {
        self.passed + self.failed
    }
}

/// Counts per directory (the parent of each script's path, relative to
/// `root` when it lies under it).
pub fn by_directory(results: &[FileResult], root: Option<&Path>) -> BTreeMap<String, Counts> {
    let mut m: BTreeMap<String, Counts> = BTreeMap::new();
    for r in results {
        m.entry(directory_of(&r.path, root))
            .or_default()
            .add(r.result.verdict);
    }
    m
}

/// The directory key of a script path.
pub fn directory_of(path: &str, root: Option<&Path>) -> String {
    let p = Path::new(path);
    let p = root.and_then(|r| p.strip_prefix(r).ok()).unwrap_or(p);
    p.parent()
        .map(|d| d.display().to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| ".".into())
}
