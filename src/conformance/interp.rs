//! Runs a parsed script against one synfin [`Stack`] in virtual time
//! (GRAMMAR.md §3–§6).
//!
//! The script is the remote host: `<` lines are built and handed to
//! [`Stack::handle_packet`] at their scheduled time; `>` lines are matched,
//! in order, against what [`Stack::poll_transmit`] produced, with the time
//! each packet left checked against the line's time and the tolerance.
//! Between events the stack's timers run ([`Stack::poll_timeout`] /
//! [`Stack::handle_timeout`]), so retransmissions and delayed ACKs appear at
//! their virtual times. A call that would block on a blocking descriptor is
//! kept pending and retried after every later event and timer, so later
//! script lines can happen while it is blocked, as packetdrill's second
//! thread allows.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use super::ast::*;
use super::packets::{self, Outbound};
use super::{shell, syscalls, Mode};
use crate::stack::{SocketHandle, Stack, StackConfig};
use crate::time::Instant;
use crate::wire::{self, TcpFlags};

/// Why a script stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The stack did not behave as the script says.
    Fail(String),
    /// The script needs something synfin does not have.
    Unsupported(String),
}

pub(crate) type Step = Result<(), Stop>;

/// The port the script's remote side uses for passive opens (packetdrill
/// picks an ephemeral one).
pub(crate) const REMOTE_EPHEMERAL: u16 = 48_879;
/// The port of `bind` and of the remote side of `connect`.
pub(crate) const SCRIPT_PORT: u16 = 8080;

/// One script descriptor.
#[derive(Clone, Debug)]
pub(crate) struct Fd {
    pub h: SocketHandle,
    pub nonblocking: bool,
}

/// A blocked call waiting for the stack.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub call: Syscall,
    /// When it must return (µs), if the script says.
    pub end: Option<u64>,
    /// Where it is in the file.
    pub line: u32,
}

/// The interpreter's state for one script run.
pub(crate) struct Interp {
    pub mode: Mode,
    pub stack: Stack,
    /// Virtual time, µs since the script started.
    pub now: u64,
    /// Time the previous event completed: the anchor of `+t`.
    pub anchor: u64,
    pub tolerance: u64,
    pub local_ip: IpAddr,
    pub remote_ip: IpAddr,
    /// (local, remote) ports of the connection inbound packets belong to.
    pub ports: (u16, u16),
    pub fds: BTreeMap<i64, Fd>,
    /// The most recent socket (for `%{ tcpi_* }%`).
    pub last_fd: Option<i64>,
    pub local_isn: u32,
    out: VecDeque<(u64, Vec<u8>)>,
    /// (script TSval, live TSval) pairs seen on outbound segments.
    ts_map: Vec<(u32, u32)>,
    /// The outbound packet just matched, for its IP-level checks.
    last_ecn: Option<Outbound>,
    pub pending: Vec<Pending>,
    /// `--non_fatal=syscall`: syscall mismatches are reported, not fatal.
    pub non_fatal_syscall: bool,
    /// Things the run ignored (sysctls without a knob, non-fatal
    /// mismatches), for the report.
    pub notes: Vec<String>,
}

fn us(secs: f64) -> u64 {
    (secs * 1e6).round().max(0.0) as u64
}

impl Interp {
    pub fn new(mode: Mode, config: StackConfig, v6: bool) -> Interp {
        let (local_ip, remote_ip): (IpAddr, IpAddr) = if v6 {
            (
                "fd3d:fa7b:d17d::1"
                    .parse()
                    .unwrap_or(IpAddr::from([0u16; 8])),
                "fd3d:fa7b:d17d:8888::1"
                    .parse()
                    .unwrap_or(IpAddr::from([0u16; 8])),
            )
        } else {
            (IpAddr::from([192, 168, 0, 1]), IpAddr::from([192, 0, 2, 1]))
        };
        let mut stack = Stack::new(config, 1);
        stack.add_address(local_ip);
        Interp {
            mode,
            stack,
            now: 0,
            anchor: 0,
            tolerance: 4000,
            local_ip,
            remote_ip,
            ports: (SCRIPT_PORT, REMOTE_EPHEMERAL),
            fds: BTreeMap::new(),
            last_fd: None,
            local_isn: 0,
            out: VecDeque::new(),
            ts_map: Vec::new(),
            last_ecn: None,
            pending: Vec::new(),
            non_fatal_syscall: false,
            notes: Vec::new(),
        }
    }

    pub fn instant(&self) -> Instant {
        Instant::from_micros(self.now)
    }

    pub fn local_addr(&self) -> SocketAddr {
        SocketAddr::new(self.local_ip, SCRIPT_PORT)
    }

    pub fn remote_addr(&self) -> SocketAddr {
        SocketAddr::new(self.remote_ip, SCRIPT_PORT)
    }

    /// Collects everything the stack wants to send now.
    pub fn drain(&mut self) {
        let mut buf = [0u8; 65_600];
        let now = self.instant();
        while let Some(n) = self.stack.poll_transmit(now, &mut buf) {
            // Like packetdrill, only packets of the socket under test are
            // sniffed; others (say, a RST to a port the script never used
            // again) are skipped.
            let ours = packets::decode(&buf[..n]).is_ok_and(|o| {
                o.src.1 == self.ports.0 && o.dst.1 == self.ports.1 && o.dst.0 == self.remote_ip
            });
            if ours {
                self.out.push_back((self.now, buf[..n].to_vec()));
            }
        }
    }

    /// Runs the stack's timers up to `t` (µs), retrying blocked calls after
    /// each.
    fn advance_to(&mut self, t: u64) -> Step {
        loop {
            let next = self.stack.poll_timeout().map(|i| i.total_micros());
            match next {
                Some(n) if n <= t => {
                    self.now = self.now.max(n);
                    let now = self.instant();
                    self.stack.handle_timeout(now);
                    self.drain();
                    self.retry_pending()?;
                }
                _ => break,
            }
        }
        self.now = self.now.max(t);
        self.drain();
        self.retry_pending()
    }

    /// Runs one more timer if there is one due by `limit`; false if none.
    fn step_until(&mut self, limit: u64) -> Result<bool, Stop> {
        match self.stack.poll_timeout().map(|i| i.total_micros()) {
            Some(n) if n <= limit => {
                self.now = self.now.max(n);
                let now = self.instant();
                self.stack.handle_timeout(now);
                self.drain();
                self.retry_pending()?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn retry_pending(&mut self) -> Step {
        let mut i = 0;
        while i < self.pending.len() {
            let p = self.pending[i].clone();
            match syscalls::exec(self, &p.call, true)? {
                syscalls::Outcome::Blocked => i += 1,
                syscalls::Outcome::Done(r) => {
                    self.pending.remove(i);
                    if let Some(end) = p.end {
                        self.check_time(end, end, p.line, "blocking call returned")?;
                    }
                    self.check_result(&p.call, r, p.line)?;
                }
            }
        }
        Ok(())
    }

    fn check_time(&self, lo: u64, hi: u64, line: u32, what: &str) -> Step {
        let tol = self.tolerance;
        if self.now + tol < lo || self.now > hi + tol {
            return Err(Stop::Fail(format!(
                "line {line}: {what} at {:.6}s, expected {}",
                self.now as f64 / 1e6,
                if lo == hi {
                    format!("{:.6}s", lo as f64 / 1e6)
                } else {
                    format!("{:.6}~{:.6}s", lo as f64 / 1e6, hi as f64 / 1e6)
                }
            )));
        }
        Ok(())
    }

    pub fn check_result(&mut self, call: &Syscall, got: syscalls::CallResult, line: u32) -> Step {
        match syscalls::matches(call, &got) {
            Ok(()) => Ok(()),
            Err(msg) => {
                let msg = format!("line {line}: {}: {msg}", call.name);
                if self.non_fatal_syscall {
                    self.notes.push(format!("non-fatal: {msg}"));
                    Ok(())
                } else {
                    Err(Stop::Fail(msg))
                }
            }
        }
    }

    fn resolve(&self, p: TimePoint) -> u64 {
        if p.relative {
            self.anchor + us(p.secs)
        } else {
            us(p.secs)
        }
    }

    /// Runs the events in order.
    pub fn run(&mut self, script: &Script) -> Step {
        for ev in &script.events {
            self.event(ev)?;
        }
        if let Some(p) = self.pending.first() {
            return Err(Stop::Fail(format!(
                "line {}: {} still blocked when the script ended",
                p.line, p.call.name
            )));
        }
        Ok(())
    }

    fn event(&mut self, ev: &Event) -> Step {
        let line = ev.pos.line;
        let (lo, hi) = match ev.timing {
            Timing::None => (self.now, self.now),
            Timing::Any => (self.now, u64::MAX / 4),
            Timing::At(p) => {
                let t = self.resolve(p);
                (t, t)
            }
            Timing::Range(a, b) | Timing::Blocking(a, b) => (self.resolve(a), self.resolve(b)),
        };
        match &ev.action {
            Action::Packet(p) if !p.inbound => {
                let PacketBody::Tcp(tcp) = &p.body else {
                    return Err(Stop::Unsupported(format!(
                        "line {line}: outbound ICMP is not checked by this runner"
                    )));
                };
                self.outbound(tcp, &p.ip_info, lo, hi, ev.timing == Timing::Any, line)?;
                // `[ect0]`, `[noecn]`, … on an outbound line (RFC 3168).
                match self.last_ecn.take() {
                    Some(o) => packets::compare_ecn(&p.ip_info, &o)
                        .map_err(|e| Stop::Fail(format!("line {line}: {e}"))),
                    None => Ok(()),
                }
            }
            action => {
                let start = lo;
                self.advance_to(start)?;
                match action {
                    Action::Packet(p) => self.inbound(p, line)?,
                    Action::Syscall(call) => {
                        let end = match ev.timing {
                            Timing::Blocking(_, _) => Some(hi),
                            _ => None,
                        };
                        match syscalls::exec(self, call, false)? {
                            syscalls::Outcome::Done(r) => {
                                if let Some(end) = end {
                                    self.check_time(end, end, line, "blocking call returned")?;
                                }
                                self.check_result(call, r, line)?;
                            }
                            syscalls::Outcome::Blocked => self.pending.push(Pending {
                                call: call.clone(),
                                end: Some(end.unwrap_or(start)),
                                line,
                            }),
                        }
                    }
                    Action::Shell(cmd) => shell::run(self, cmd, line)?,
                    Action::Code(code) => shell::code(self, code, line)?,
                }
                self.drain();
                self.retry_pending()?;
                self.anchor = self.now;
                Ok(())
            }
        }
    }

    fn inbound(&mut self, p: &Packet, line: u32) -> Step {
        if p.udp_encapsulated {
            return Err(Stop::Unsupported(
                "TCP over UDP encapsulation (RFC 8803-style tunnelling)".into(),
            ));
        }
        let tcp = match &p.body {
            PacketBody::Tcp(t) => t,
            PacketBody::Icmp(w) => {
                return Err(Stop::Unsupported(format!(
                    "line {line}: ICMP ({}) — synfin does not process ICMP",
                    w.join(" ")
                )))
            }
        };
        // The ECN codepoint (`[ect0]`, `[ce]`, …) is written into the IP
        // header; other IP fields are not.
        let ecn = packets::ecn_of(&p.ip_info);
        if p.ip_info
            .iter()
            .any(|(n, _)| !packets::is_ecn_annotation(n))
        {
            self.notes.push(format!(
                "line {line}: IP fields {:?} not written",
                p.ip_info
            ));
        }
        let flags = packets::flags_of(&tcp.flags);
        let last_ts = self.ts_map.last().map(|&(_, l)| l);
        let ts_map = self.ts_map.clone();
        let ecr = move |e: u32| {
            ts_map
                .iter()
                .rev()
                .find(|&&(s, _)| s == e)
                .map(|&(_, l)| l)
                .or(last_ts)
                .unwrap_or(e)
        };
        let opts = match &tcp.options {
            OptionSpec::List(l) => {
                packets::encode_options(l, self.local_isn, &ecr).map_err(|e| {
                    Stop::Unsupported(format!(
                        "line {line}: inbound {e} (not implemented by synfin)"
                    ))
                })?
            }
            _ => Vec::new(),
        };
        let win = u16::try_from(tcp.win.unwrap_or(0))
            .map_err(|_| Stop::Fail(format!("line {line}: window does not fit 16 bits")))?;
        let ack = tcp.ack.map_or(0, |a| a.wrapping_add(self.local_isn));
        let pkt = packets::build_packet(
            (self.remote_ip, self.ports.1),
            (self.local_ip, self.ports.0),
            tcp.seq.unwrap_or(0),
            ack,
            flags,
            win,
            tcp.urg.unwrap_or(0) as u16,
            &opts,
            tcp.len as usize,
        );
        let mut pkt = pkt;
        if let Some(ecn) = ecn {
            wire::ip::set_packet_ecn(&mut pkt, ecn);
        }
        let now = self.instant();
        self.stack.handle_packet(now, &pkt);
        Ok(())
    }

    fn outbound(
        &mut self,
        exp: &TcpPacket,
        ip_info: &[(String, Option<i64>)],
        lo: u64,
        hi: u64,
        any: bool,
        line: u32,
    ) -> Step {
        // packetdrill gives up on a missing packet 2 s after its latest time.
        let deadline = if any {
            self.now + 3_600_000_000
        } else {
            hi.saturating_add(self.tolerance).max(hi + 2_000_000)
        };
        loop {
            if let Some((t, bytes)) = self.out.pop_front() {
                let o = packets::decode(&bytes).map_err(Stop::Fail)?;
                if exp.seq.is_some() && o.flags.contains(TcpFlags::SYN) {
                    self.local_isn = o.seq.wrapping_sub(exp.seq.unwrap_or(0));
                }
                if let Err(e) = packets::compare(exp, &o, self.local_isn, self.mode)
                    .and_then(|()| packets::compare_ip(ip_info, &o))
                {
                    return Err(Stop::Fail(format!(
                        "line {line}: {e} (live: {})",
                        packets::describe(&o, self.local_isn)
                    )));
                }
                if o.dst.0 != self.remote_ip {
                    return Err(Stop::Fail(format!(
                        "line {line}: sent to {} instead of the remote",
                        o.dst.0
                    )));
                }
                let saved = self.now;
                self.now = t;
                if !any {
                    self.check_time(lo, hi, line, "packet sent")
                        .inspect_err(|_| self.now = saved)?;
                }
                self.now = saved.max(t);
                self.learn_ts(exp, &o);
                self.anchor = t;
                self.last_ecn = Some(o);
                return Ok(());
            }
            if !self.step_until(deadline)? {
                return Err(Stop::Fail(format!(
                    "line {line}: expected {} {}:{}({}) by {:.3}s, nothing was sent",
                    exp.flags,
                    exp.seq.map_or("...".to_string(), |s| s.to_string()),
                    exp.seq
                        .map_or("...".to_string(), |s| (s + exp.len).to_string()),
                    exp.len,
                    hi as f64 / 1e6
                )));
            }
        }
    }

    fn learn_ts(&mut self, exp: &TcpPacket, o: &Outbound) {
        if let (OptionSpec::List(l), Some(live)) = (&exp.options, o.ts_val) {
            for opt in l {
                if let TcpOpt::Timestamp { val, .. } = opt {
                    self.ts_map.push((*val, live));
                }
            }
        } else if let Some(live) = o.ts_val {
            self.ts_map.push((live, live));
        }
    }
}
