//! LISTEN and the passive SYN-RECEIVED: a listener's SYN queue of half-open
//! connections and its accept queue of established ones (RFC 9293 §3.10.7.2,
//! DESIGN.md "Listener").
//!
//! A SYN makes a [`HalfOpen`] entry — a few dozen bytes, no buffers — and a
//! SYN-ACK. Only the final ACK creates a full [`Connection`](crate::tcp::Connection), which goes to
//! the accept queue already able to receive data and even a FIN. The
//! listener's own state never changes.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use super::socket::{ConnSocket, Socket, SocketHandle, SocketKind};
use super::{Control, FourTuple, Stack};
use crate::tcp::conn::{local_mss, negotiate, negotiate_offered, wscale_for, Negotiated};
use crate::tcp::State;
use crate::time::Instant;
use crate::wire::control::UsualSyn;
use crate::wire::fast::FastSegment;
use crate::wire::{SeqNum, TcpFlags, TcpOptions, TcpRepr, V4Key};

/// A listening socket.
pub(crate) struct Listener {
    pub local: SocketAddr,
    /// Bounds both queues (Linux bounds the SYN queue by the same value).
    pub backlog: usize,
    pub syn_queue: SynQueue,
    pub accept_queue: VecDeque<SocketHandle>,
    /// Until when ACKs that match no half-open entry are checked against
    /// SYN cookies: set whenever a cookie goes out, so a listener that has
    /// not overflowed lately never accepts one (as Linux's
    /// `tcp_synq_no_recent_overflow`).
    pub cookies_until: Option<Instant>,
    /// [`Stack::set_ecn`](super::Stack::set_ecn) before `listen`: whether
    /// this listener's SYN-ACKs agree to ECN, over `TcpConfig::ecn`.
    pub ecn: Option<crate::tcp::EcnMode>,
    /// IP header fields and SYN options (`IP_TOS`, `TCP_NOOPT`, ...) of
    /// its SYN-ACKs, inherited by the connections it accepts.
    pub header: super::socket::HeaderOptions,
}

/// Up to this many listeners, [`ListenerTable::find`] compares them all
/// rather than hashing.
const LISTENERS_SCANNED: usize = 8;

/// The stack's listeners by local address and port. Kept twice: in a
/// list per family, compared in one pass while there are few (the usual
/// case: about 10 instructions a look-up, where even iterating a one-entry
/// hash map costs some 60, and hashing the key twice, for the exact address
/// and then the wildcard, about 180; callgrind, issue 6 — two look-ups per
/// passive open, the SYN's and the final ACK's), and in a map, hashed when
/// there are many. Changed only by `listen` and a listener's `close`.
#[derive(Default)]
pub(crate) struct ListenerTable {
    /// The IPv4 listeners as (address, port, handle): a look-up compares
    /// two integers per entry (about 44 instructions with `IpAddr`
    /// comparisons, twice per passive open: callgrind, issue 6).
    v4: Vec<(u32, u16, SocketHandle)>,
    /// The IPv6 listeners.
    v6: Vec<(Ipv6Addr, u16, SocketHandle)>,
    /// Every listener (the look-up past [`LISTENERS_SCANNED`], and the
    /// exact-key questions).
    map: HashMap<(IpAddr, u16), SocketHandle>,
}

impl ListenerTable {
    /// Adds (or replaces) the listener on `key`.
    pub fn insert(&mut self, key: (IpAddr, u16), h: SocketHandle) {
        self.remove(&key);
        match key.0 {
            IpAddr::V4(ip) => self.v4.push((ip.to_bits(), key.1, h)),
            IpAddr::V6(ip) => self.v6.push((ip, key.1, h)),
        }
        self.map.insert(key, h);
    }

    /// Removes the listener on `key`.
    pub fn remove(&mut self, key: &(IpAddr, u16)) {
        if self.map.remove(key).is_some() {
            let port = key.1;
            match key.0 {
                IpAddr::V4(ip) => {
                    let ip = ip.to_bits();
                    self.v4.retain(|&(a, p, _)| (a, p) != (ip, port));
                }
                IpAddr::V6(ip) => self.v6.retain(|&(a, p, _)| (a, p) != (ip, port)),
            }
        }
    }

    /// Whether a listener is bound to exactly `key`.
    pub fn contains_key(&self, key: &(IpAddr, u16)) -> bool {
        self.map.contains_key(key)
    }

    /// No listener at all.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The listener a connection request to `ip`:`port` goes to: the one
    /// bound to that address, else the wildcard one on its port.
    #[inline]
    pub fn find(&self, ip: IpAddr, port: u16) -> Option<SocketHandle> {
        match ip {
            IpAddr::V4(v4) => self.find_v4(v4, port),
            IpAddr::V6(v6) if self.map.len() <= LISTENERS_SCANNED => {
                scan(&self.v6, v6, Ipv6Addr::UNSPECIFIED, port)
            }
            _ => self.find_mapped(ip, port),
        }
    }

    /// [`find`](Self::find) for an IPv4 address. Inlined: a passive open
    /// asks twice (its SYN and its final ACK), and the call cost as much
    /// as the scan of a few listeners.
    #[inline(always)]
    pub fn find_v4(&self, ip: std::net::Ipv4Addr, port: u16) -> Option<SocketHandle> {
        if self.map.len() > LISTENERS_SCANNED {
            return self.find_mapped(IpAddr::V4(ip), port);
        }
        scan(&self.v4, ip.to_bits(), 0, port)
    }

    /// The look-up through the map, when there are many listeners.
    #[cold]
    #[inline(never)]
    fn find_mapped(&self, ip: IpAddr, port: u16) -> Option<SocketHandle> {
        let wildcard = super::unspecified(ip);
        self.map
            .get(&(ip, port))
            .or_else(|| self.map.get(&(wildcard, port)))
            .copied()
    }
}

/// One family's list, scanned as the map would answer: the listener on
/// exactly `ip` first, else the one on `wildcard` (that family's
/// unspecified address), on `port`.
#[inline]
fn scan<A: PartialEq + Copy>(
    list: &[(A, u16, SocketHandle)],
    ip: A,
    wildcard: A,
    port: u16,
) -> Option<SocketHandle> {
    let mut found = None;
    for &(lip, lport, h) in list {
        if lport == port {
            if lip == ip {
                return Some(h);
            }
            if lip == wildcard {
                found = Some(h);
            }
        }
    }
    found
}

/// A passive SYN-RECEIVED entry.
#[derive(Clone, Debug)]
pub(crate) struct HalfOpen {
    /// Our address and the peer's, as the SYN queue finds them.
    pub key: FourTuple,
    pub iss: SeqNum,
    pub irs: SeqNum,
    pub opts: Negotiated,
    pub ts_recent: u32,
    pub ts_offset: u32,
    pub retries: u8,
    pub deadline: Instant,
    /// The listener's IP header fields, for the SYN-ACK.
    pub ip: crate::tcp::IpFields,
    /// `TCP_NOOPT`: the SYN-ACK carries no options.
    pub no_options: bool,
}

/// Half-open entries in arrival order (removal swaps the last one in), found
/// by 4-tuple: searched while the queue is short (a quiet listener holds a
/// handful, and comparing a few tuples costs less than hashing one), through
/// an index once it is longer than [`SynQueue::LINEAR`], so a SYN flood that
/// fills the queue does not make each segment for the listener a search of
/// thousands of entries.
#[derive(Default)]
pub(crate) struct SynQueue {
    entries: Vec<HalfOpen>,
    /// 4-tuple → position in `entries`, while the queue is long.
    index: Option<hashbrown::HashMap<FourTuple, u32>>,
}

impl SynQueue {
    /// Longest queue searched without the index.
    const LINEAR: usize = 16;

    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }
    pub fn iter(&self) -> core::slice::Iter<'_, HalfOpen> {
        self.entries.iter()
    }
    pub fn get(&self, i: usize) -> &HalfOpen {
        &self.entries[i]
    }

    /// The position of `key`'s entry. Always inline: once the final ACK
    /// had a caller of its own, LLVM outlined it (a frame for a compare or
    /// two, twice a passive open: +71 a lifecycle, callgrind), and
    /// likewise `Iterator::position` within it (+38).
    #[inline(always)]
    pub fn find(&self, key: &FourTuple) -> Option<usize> {
        match &self.index {
            Some(ix) => ix.get(key).map(|&i| i as usize),
            None => {
                for (i, h) in self.entries.iter().enumerate() {
                    if h.key == *key {
                        return Some(i);
                    }
                }
                None
            }
        }
    }

    /// Adds an entry (its 4-tuple has none yet).
    #[inline]
    pub fn push(&mut self, e: HalfOpen) {
        if let Some(ix) = &mut self.index {
            ix.insert(e.key, self.entries.len() as u32);
        }
        self.entries.push(e);
        if self.index.is_none() && self.entries.len() > Self::LINEAR {
            self.reindex();
        }
    }

    /// Removes the entry at `i`; the last one takes its place. Inlined
    /// into the final ACK's path, where the entry is then moved straight
    /// into the new connection; the last entry (a quiet listener's only
    /// one) is popped rather than swapped with itself.
    #[inline(always)]
    pub fn swap_remove(&mut self, i: usize) -> HalfOpen {
        let last = self.entries.len().wrapping_sub(1);
        let popped = if i == last { self.entries.pop() } else { None };
        let e = match popped {
            Some(e) => e,
            None => self.entries.swap_remove(i),
        };
        if let Some(ix) = &mut self.index {
            ix.remove(&e.key);
            if let Some(moved) = self.entries.get(i) {
                ix.insert(moved.key, i as u32);
            }
            // Half the threshold: a queue hovering around it does not
            // build and drop the index over and over.
            if self.entries.len() <= Self::LINEAR / 2 {
                self.index = None;
            }
        }
        e
    }

    /// `Vec::retain_mut`, then the index rebuilt if anything left.
    pub fn retain_mut(&mut self, f: impl FnMut(&mut HalfOpen) -> bool) {
        let before = self.entries.len();
        self.entries.retain_mut(f);
        if self.entries.len() != before {
            self.reindex();
        }
    }

    /// Takes every entry.
    pub fn take_all(&mut self) -> Vec<HalfOpen> {
        self.index = None;
        core::mem::take(&mut self.entries)
    }

    fn reindex(&mut self) {
        self.index = (self.entries.len() > Self::LINEAR).then(|| {
            self.entries
                .iter()
                .enumerate()
                .map(|(i, h)| (h.key, i as u32))
                .collect()
        });
    }

    /// Heap bytes of the entries and the index.
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * core::mem::size_of::<HalfOpen>()
            + self.index.as_ref().map_or(0, |ix| {
                super::memory::hash_table_bytes(
                    ix.capacity(),
                    core::mem::size_of::<(FourTuple, u32)>(),
                )
            })
    }
}

/// What RFC 9293 §3.10.7.4 makes of an ACK (neither RST nor SYN) for a
/// passive SYN-RECEIVED entry: [`Listener::judge_ack`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum FinalAck {
    /// It does not acknowledge our SYN: a RST (§3.10.7.4, fifth check).
    Reset,
    /// Old (before RCV.NXT): dropped.
    Ignore,
    /// Acceptable, but the accept queue is full: Linux's default, the ACK
    /// ignored and the entry kept, its SYN-ACK retransmitted until the
    /// application accepts.
    Overflow,
    /// The handshake completes: ESTABLISHED.
    Complete,
}

impl Listener {
    /// The verdict on an ACK with `seq` and `ack` for half-open entry `i`
    /// (the general path's and the final ACK's short path's one test).
    #[inline(always)]
    pub fn judge_ack(&self, i: usize, seq: SeqNum, ack: SeqNum) -> FinalAck {
        let h = self.syn_queue.get(i);
        if ack != h.iss + 1u32 {
            FinalAck::Reset
        } else if seq.diff(h.irs + 1u32) < 0 {
            FinalAck::Ignore
        } else if self.accept_queue.len() >= self.backlog {
            FinalAck::Overflow
        } else {
            FinalAck::Complete
        }
    }

    pub fn new(local: SocketAddr, backlog: usize) -> Self {
        Listener {
            local,
            backlog: backlog.max(1),
            syn_queue: SynQueue::default(),
            accept_queue: VecDeque::new(),
            cookies_until: None,
            ecn: None,
            header: Default::default(),
        }
    }

    /// Heap bytes of the two queues (and the listener's own box).
    pub fn heap_bytes(&self) -> usize {
        core::mem::size_of::<Listener>()
            + self.syn_queue.heap_bytes()
            + self.accept_queue.capacity() * core::mem::size_of::<SocketHandle>()
    }

    /// A queue that emptied after a burst gives its memory back, so an idle
    /// listener costs the same after a flood as before it.
    #[inline(always)]
    pub fn shrink_if_idle(&mut self) {
        const KEEP: usize = 16;
        if self.syn_queue.is_empty() && self.syn_queue.capacity() > KEEP {
            self.syn_queue = SynQueue::default();
        }
        if self.accept_queue.is_empty() && self.accept_queue.capacity() > KEEP {
            self.accept_queue = VecDeque::new();
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.syn_queue.iter().map(|h| h.deadline).min()
    }
}

impl Stack {
    /// A segment for a listener: either for one of its half-open entries, or
    /// a new SYN.
    pub(crate) fn listener_segment(
        &mut self,
        now: Instant,
        lh: SocketHandle,
        key: FourTuple,
        seg: &TcpRepr<'_>,
    ) {
        let Some(Socket {
            kind: SocketKind::Listener(l),
            options: sock_opts,
            ..
        }) = self.sockets.get_mut(lh)
        else {
            return;
        };
        if let Some(i) = l.syn_queue.find(&key) {
            self.half_open_segment(now, lh, i, seg);
            return;
        }
        let f = seg.flags;
        // RFC 9293 §3.10.7.2, LISTEN: first RST, then ACK, then SYN.
        if f.contains(TcpFlags::RST) {
            return;
        }
        if f.contains(TcpFlags::ACK) {
            let cookies = l.cookies_until.is_some_and(|t| now < t);
            if !(cookies && !f.contains(TcpFlags::SYN) && self.cookie_ack(now, lh, key, seg)) {
                self.reply_rst(key, seg);
            }
            return;
        }
        if !f.contains(TcpFlags::SYN) {
            return;
        }
        // The window scale of the stack's own configuration, worked out
        // once (`ConnDefaults`), for a listener without `SO_RCVBUF`; through
        // `ConnDefaults::cached` (not `Stack::conn_defaults`, which borrows
        // the whole stack) so the listener's slot stays borrowed: everything
        // the SYN needs from it in the one look-up above.
        let defaults =
            *crate::tcp::conn::ConnDefaults::cached(&mut self.conn_defaults, &self.config.tcp);
        let stack_wscale = defaults.rcv_wscale();
        // Message mode (docs/message-mode.md): a message-mode listener
        // resets a SYN that does not offer it; a byte-stream listener
        // ignores the option, and its SYN-ACK's silence fails the client.
        // (Before the queues' checks: SYN cookies obey it too.)
        let message_mode = sock_opts.message_mode;
        if message_mode && seg.options.experimental != Some(crate::tcp::message::MESSAGE_EXID) {
            tracing::debug!(local = %key.local(), remote = %key.remote(), "SYN without message mode reset");
            self.reply_rst(key, seg);
            return;
        }
        let backlog = l.backlog;
        if l.accept_queue.len() >= backlog {
            // DESIGN.md: accept queue full — drop the SYN, the client retries.
            self.stats.listen_overflows += 1;
            tracing::debug!(listener = %l.local, "accept queue full, SYN dropped");
            return;
        }
        if l.syn_queue.len() >= backlog {
            // DESIGN.md: SYN queue full — answer with a SYN cookie
            // (RFC 4987 §3.6) and keep no state.
            if self.config.syn_cookies {
                l.cookies_until = Some(now + super::syn_cookie::COOKIE_WINDOW);
                self.send_cookie_syn_ack(now, lh, key, seg);
            } else {
                self.stats.listen_overflows += 1;
                tracing::debug!(listener = %l.local, "SYN queue full, SYN dropped");
            }
            return;
        }
        let (ip, no_options) = header_fields(&self.config.tcp, &l.header);
        let listener_ecn = l.ecn;
        let recv_buffer_opt = sock_opts.recv_buffer.get();
        // TCP_NOOPT: the SYN-ACK offers nothing, so nothing is negotiated.
        let noopt_cfg;
        let cfg = if no_options {
            noopt_cfg = crate::tcp::TcpConfig {
                timestamps: false,
                window_scaling: false,
                sack: false,
                ..self.config.tcp.clone()
            };
            &noopt_cfg
        } else {
            &self.config.tcp
        };
        let local = key.local();
        // The window scale is fixed by the SYN-ACK, so it must already fit
        // the receive buffer the listener's options ask for.
        let our_ws = match recv_buffer_opt {
            _ if !cfg.window_scaling => 0,
            // `cfg` is the stack's (TCP_NOOPT would have turned scaling off).
            None => stack_wscale,
            Some(b) => wscale_for(cfg, b as usize),
        };
        // Our MSS from the stack's defaults: `cfg` differs from the stack's
        // configuration at most in the options TCP_NOOPT turns off.
        let v4 = local.is_ipv4();
        let mut opts = negotiate_offered(
            cfg,
            cfg.timestamps,
            cfg.window_scaling,
            (defaults.mss(v4), v4),
            &seg.options,
            our_ws,
        );
        opts.message_mode = message_mode;
        // RFC 3168 §6.1.1: an ECN-setup SYN gets an ECN-setup SYN-ACK when
        // ECN is accepted. (A SYN cookie's SYN-ACK never agrees: the cookie
        // has no bit to remember it.)
        opts.ecn = listener_ecn.unwrap_or(cfg.ecn).accepts()
            && crate::tcp::ecn::is_ecn_setup_syn(seg.flags);
        let (iss, ts_offset) = self.secret.isn_and_ts_offset(&key, now);
        let entry = HalfOpen {
            key,
            iss,
            irs: seg.seq,
            opts,
            ts_recent: seg.options.timestamps.map_or(0, |t| t.0),
            ts_offset,
            retries: 0,
            deadline: now + cfg.initial_rto,
            ip,
            no_options,
        };
        if self.transitions.is_some() {
            self.record(
                now,
                local,
                Some(entry.key.remote()),
                State::Listen,
                State::SynReceived,
            );
        }
        self.send_syn_ack(now, &entry);
        // The entry queued and the listener's timer armed in one look-up,
        // for the entry's deadline (`cfg` has the stack's RTO either way).
        let rto_at = entry.deadline;
        if let Some(Socket {
            kind: SocketKind::Listener(l),
            timer_at,
            ..
        }) = self.sockets.get_mut(lh)
        {
            l.syn_queue.push(entry);
            super::reschedule(&mut self.timers, timer_at, lh, rto_at);
        }
    }

    /// The usual final ACK of a passive open, as header prediction's parse
    /// read it (`key`, `seg`; checksum verified) and no connection took:
    /// a pure ACK (no text, no FIN) for a half-open entry that
    /// [`Listener::judge_ack`] completes, which becomes the connection
    /// without the general path's view of the packet being built
    /// (`FastSegment::packet`) and dispatched through `receive_unconnected`
    /// and `listener_segment` (RFC 9293 §3.10.7.4, SYN-RECEIVED). Anything
    /// else returns `false` having changed nothing, and takes that path:
    /// a TIME-WAIT record, no listener, no entry (a SYN cookie's ACK, a
    /// RST's occasion), an ACK that resets or is dropped, a full accept
    /// queue, text or a FIN on the ACK.
    #[inline(never)]
    pub(super) fn receive_final_ack(
        &mut self,
        now: Instant,
        key: &V4Key,
        seg: &FastSegment<'_>,
    ) -> bool {
        let hdr = &seg.hdr;
        if !seg.payload.is_empty() || hdr.flags.contains(TcpFlags::FIN) {
            return false;
        }
        let tuple = key.to_tuple();
        // As `receive_unconnected`: TIME-WAIT first, an empty table not
        // searched.
        if !self.time_wait.is_empty() && self.time_wait.contains(&tuple) {
            return false;
        }
        let Some(lh) = self
            .listeners
            .find_v4(key.local_ip().into(), tuple.local_port)
        else {
            return false;
        };
        let Some(Socket {
            kind: SocketKind::Listener(l),
            ..
        }) = self.sockets.get_mut(lh)
        else {
            return false;
        };
        let Some(i) = l.syn_queue.find(&tuple) else {
            return false;
        };
        if l.judge_ack(i, hdr.seq, hdr.ack) != FinalAck::Complete {
            return false;
        }
        let h = l.syn_queue.swap_remove(i);
        l.shrink_if_idle();
        self.complete_handshake(now, lh, h, hdr.window, None);
        true
    }

    /// RFC 9293 §3.10.7.4 for a passive SYN-RECEIVED entry.
    fn half_open_segment(&mut self, now: Instant, lh: SocketHandle, i: usize, seg: &TcpRepr<'_>) {
        let Some(Socket {
            kind: SocketKind::Listener(l),
            ..
        }) = self.sockets.get_mut(lh)
        else {
            return;
        };
        let f = seg.flags;
        if !f.intersects(TcpFlags::RST | TcpFlags::SYN) {
            // The final ACK (or not an ACK at all): checked in the queue,
            // and the entry taken out of it only to become the connection.
            if !f.contains(TcpFlags::ACK) {
                return;
            }
            match l.judge_ack(i, seg.seq, seg.ack) {
                FinalAck::Reset => {
                    let key = l.syn_queue.get(i).key;
                    self.reply_rst(key, seg);
                }
                FinalAck::Ignore => {}
                FinalAck::Overflow => self.stats.listen_overflows += 1,
                FinalAck::Complete => {
                    let h = l.syn_queue.swap_remove(i);
                    l.shrink_if_idle();
                    self.complete_handshake(now, lh, h, seg.window, Some(seg));
                }
            }
            return;
        }
        let h = l.syn_queue.get(i).clone();
        let rcv_nxt = h.irs + 1u32;
        if f.contains(TcpFlags::RST) {
            // A passive SYN-RECEIVED returns to LISTEN silently; the RST must
            // hit RCV.NXT exactly (RFC 5961 §3.2), or, with RFC 793's rule
            // (`TcpConfig::rfc5961_rst` off), fall in the window we offered
            // in the SYN-ACK. An in-window RST that does not reset draws a
            // (rate-limited) challenge ACK, RFC 5961 §3.2.
            let wnd = self.config.tcp.recv_buffer.min(65535) as u32;
            let in_window = seg.seq.in_range(rcv_nxt, rcv_nxt + wnd);
            let exact = seg.seq == rcv_nxt || (in_window && !self.config.tcp.rfc5961_rst);
            if !exact && in_window {
                if self
                    .challenges
                    .allow(now, self.config.challenge_ack_limit, &mut self.rng)
                {
                    self.stats.challenge_acks += 1;
                    let options = TcpOptions {
                        timestamps: h.opts.timestamps.then(|| {
                            (
                                (now.total_millis() as u32).wrapping_add(h.ts_offset),
                                h.ts_recent,
                            )
                        }),
                        ..TcpOptions::default()
                    };
                    self.push_control(Control {
                        local: h.key.local(),
                        remote: h.key.remote(),
                        seq: h.iss + 1u32,
                        ack: rcv_nxt,
                        flags: TcpFlags::ACK,
                        window: wnd as u16,
                        options,
                        ip: h.ip,
                    });
                } else {
                    self.stats.challenge_acks_limited += 1;
                }
                return;
            }
            if exact {
                l.syn_queue.swap_remove(i);
                self.record(
                    now,
                    h.key.local(),
                    Some(h.key.remote()),
                    State::SynReceived,
                    State::Closed,
                );
            }
            return;
        }
        // A SYN (with or without ACK: RST was first).
        if seg.seq == h.irs {
            // The SYN again: our SYN-ACK was lost.
            self.send_syn_ack(now, &h);
        }
    }

    /// The handshake of `h` completed with its final ACK, whose window
    /// field is `window`: a new ESTABLISHED connection goes to the
    /// listener's accept queue. `seg` is the ACK itself when it may carry
    /// text or a FIN for the new connection to take; `None` for a pure ACK
    /// ([`Stack::receive_final_ack`] reads nothing else).
    fn complete_handshake(
        &mut self,
        now: Instant,
        lh: SocketHandle,
        h: HalfOpen,
        window: u16,
        seg: Option<&TcpRepr<'_>>,
    ) {
        // Text or a FIN on the final ACK, which the new connection takes.
        let carried = seg.filter(|s| !s.payload.is_empty() || s.flags.contains(TcpFlags::FIN));
        // What the connection inherits from its listener, read in one
        // look-up: the socket options, the header options and (as
        // WSAEventSelect has it) the selected network events.
        let (options, header, net) = match self.sockets.get(lh) {
            Some(Socket {
                kind: SocketKind::Listener(l),
                options,
                net,
                ..
            }) => (
                options.clone(),
                l.header,
                super::events::NetState::inherit(net),
            ),
            Some(s) => (
                s.options.clone(),
                Default::default(),
                super::events::NetState::inherit(&s.net),
            ),
            None => Default::default(),
        };
        let mut conn = self.conn_box();
        let tcp = &self.config.tcp;
        let cfg = options.connection_config(tcp, None, &header);
        let (local, remote) = (h.key.local(), h.key.remote());
        // The stack's defaults by reference when the connection takes the
        // stack's configuration (the usual case; a copy of them, and again
        // through `ConnDefaults::for_config`, cost some 20 instructions a
        // connection, issue 6), else worked out for its own.
        let own;
        let defaults = match &cfg {
            std::borrow::Cow::Borrowed(_) => {
                crate::tcp::conn::ConnDefaults::cached(&mut self.conn_defaults, tcp)
            }
            std::borrow::Cow::Owned(c) => {
                own = crate::tcp::conn::ConnDefaults::new(c);
                &own
            }
        };
        conn.open_passive(
            defaults,
            &cfg,
            local,
            remote,
            (h.iss, h.irs),
            h.opts,
            (h.ts_recent, h.ts_offset),
            window,
            now,
        );
        if h.retries > 0 {
            // RFC 6298 §5.7: the SYN-ACK timer expired at least once.
            conn.syn_was_retransmitted();
        }
        // A final ACK without data or FIN (the usual one) leaves a byte
        // stream in the state `touch` would: the socket is born in it (one
        // look-up and a touch's general bookkeeping saved, callgrind, issue
        // 6). Its one event, CONNECTED, is never raised for a socket in the
        // accept queue (`touch_inner`'s rule), so it is dropped here.
        let born = carried.is_none()
            && !conn.negotiated().message_mode
            && conn.pending_events() == crate::tcp::conn::Events::CONNECTED;
        let mut net = net;
        // Nothing to send yet: no data, no FIN, no flag (open_passive).
        debug_assert!(!(born && conn.wants_transmit()));
        let deadline = if born {
            conn.take_events();
            conn.poll_timeout()
        } else {
            None
        };
        let cs = ConnSocket {
            conn,
            in_accept_queue: true,
            last_state: State::Established,
            tx_queued: false,
            message: None,
        };
        if born {
            net.update_conn(&cs);
        }
        let handle = self.sockets.insert(Socket {
            kind: SocketKind::Conn(cs),
            options,
            timer_at: deadline,
            orphaned: false,
            net,
            queued: 0,
        });
        // Its next segment is most likely the client's first data: cached.
        // Absent: the final ACK (or the cookie's) found no connection.
        self.conns.insert_absent_cached(h.key, handle);
        // Queued for accept, ACCEPTABLE raised and the listener's network
        // events updated in one look-up of its slot.
        if let Some(s) = self.sockets.get_mut(lh) {
            if let SocketKind::Listener(l) = &mut s.kind {
                l.accept_queue.push_back(handle);
            }
            super::raise(
                &mut self.events,
                &mut s.queued,
                lh,
                super::Event::Acceptable,
            );
            super::events::update(s);
        } else {
            self.events.push_back((lh, super::Event::Acceptable));
        }
        if self.transitions.is_some() {
            self.record(
                now,
                h.key.local(),
                Some(h.key.remote()),
                State::SynReceived,
                State::Established,
            );
        }
        if born {
            self.born(handle, false, deadline);
            return;
        }
        // The final ACK may carry data or a FIN: the new connection takes it.
        if let Some(seg) = carried {
            if let Some(Socket {
                kind: SocketKind::Conn(c),
                ..
            }) = self.sockets.get_mut(handle)
            {
                c.conn.on_segment(now, &self.config.tcp, seg);
            }
        }
        self.touch(now, handle);
    }

    /// The listener's receive buffer, which fixes the window scale its
    /// SYN-ACKs announce.
    fn listener_recv_buffer(&self, lh: SocketHandle) -> usize {
        self.sockets
            .get(lh)
            .and_then(|s| s.options.recv_buffer.get())
            .map_or(
                self.config
                    .tcp
                    .recv_buffer
                    .max(self.config.tcp.recv_buffer_max),
                |b| b as usize,
            )
    }

    /// Answers a SYN with a SYN-ACK whose ISS is a SYN cookie; nothing is
    /// stored (see [`super::syn_cookie`]).
    fn send_cookie_syn_ack(
        &mut self,
        now: Instant,
        lh: SocketHandle,
        key: FourTuple,
        seg: &TcpRepr<'_>,
    ) {
        let cfg = &self.config.tcp;
        let local = key.local();
        let our_ws = if cfg.window_scaling {
            wscale_for(cfg, self.listener_recv_buffer(lh))
        } else {
            0
        };
        let mut opts = negotiate(cfg, &local, &seg.options, our_ws);
        if !opts.timestamps {
            // No timestamp to carry them: offer neither option.
            opts.window_scaling = false;
            opts.snd_wscale = 0;
            opts.rcv_wscale = 0;
            opts.sack_permitted = false;
        }
        let peer_mss = seg
            .options
            .mss
            .unwrap_or(crate::tcp::conn::default_peer_mss(key.remote().is_ipv4()));
        let iss = super::syn_cookie::make(&self.secret, &key, seg.seq, peer_mss, now);
        let ts_offset = self.secret.ts_offset(&key);
        let (ip, no_options) = self.listener_header(lh);
        if no_options {
            // TCP_NOOPT: the cookie carries the peer's MSS; nothing else is
            // offered.
            opts.timestamps = false;
        }
        let mut options = TcpOptions {
            mss: (!no_options).then(|| local_mss(cfg, &local)),
            ..TcpOptions::default()
        };
        if self.listener_message_mode(lh) {
            // Only SYNs that offered message mode get this far.
            options.experimental = Some(crate::tcp::message::MESSAGE_EXID);
        }
        if opts.window_scaling {
            options.window_scale = Some(opts.rcv_wscale);
        }
        options.sack_permitted = opts.sack_permitted;
        if opts.timestamps {
            let now_ts = (now.total_millis() as u32).wrapping_add(ts_offset);
            let ws = opts.window_scaling.then_some(opts.snd_wscale);
            let val = super::syn_cookie::ts_encode(now_ts, ws, opts.sack_permitted);
            options.timestamps = Some((val, seg.options.timestamps.map_or(0, |t| t.0)));
        }
        if no_options {
            options = TcpOptions::default();
        }
        let window = cfg.recv_buffer.min(65535) as u16;
        self.stats.syn_cookies_sent += 1;
        self.push_control(Control {
            local,
            remote: key.remote(),
            seq: iss,
            ack: seg.seq + 1u32,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window,
            options,
            ip,
        });
    }

    /// An ACK that matches no half-open entry while cookies are in use:
    /// if it carries a valid cookie, the connection is created directly in
    /// the accept queue. Returns false if it does not (the caller resets).
    fn cookie_ack(
        &mut self,
        now: Instant,
        lh: SocketHandle,
        key: FourTuple,
        seg: &TcpRepr<'_>,
    ) -> bool {
        use super::syn_cookie;
        let irs = seg.seq - 1u32;
        let iss = seg.ack - 1u32;
        let Some(mss) = syn_cookie::check(&self.secret, &key, irs, iss, now) else {
            self.stats.syn_cookies_rejected += 1;
            return false;
        };
        let cfg = &self.config.tcp;
        let ts_offset = self.secret.ts_offset(&key);
        let now_ts = (now.total_millis() as u32).wrapping_add(ts_offset);
        let ack_ts = seg.options.timestamps.filter(|_| cfg.timestamps);
        let Some(peer) = syn_cookie::peer_options(mss, ack_ts, now_ts) else {
            self.stats.syn_cookies_rejected += 1;
            return false;
        };
        let our_ws = if cfg.window_scaling && peer.window_scale.is_some() {
            wscale_for(cfg, self.listener_recv_buffer(lh))
        } else {
            0
        };
        let mut opts = negotiate(cfg, &key.local(), &peer, our_ws);
        // A message-mode listener answered only SYNs that offered message
        // mode, so a valid cookie implies it.
        opts.message_mode = self.listener_message_mode(lh);
        let rto = cfg.initial_rto;
        let (ip, no_options) = self.listener_header(lh);
        let entry = HalfOpen {
            key,
            iss,
            irs,
            opts,
            ts_recent: peer.timestamps.map_or(0, |t| t.0),
            ts_offset,
            retries: 0,
            deadline: now + rto,
            ip,
            no_options,
        };
        let Some(Socket {
            kind: SocketKind::Listener(l),
            ..
        }) = self.sockets.get_mut(lh)
        else {
            return true;
        };
        if l.accept_queue.len() >= l.backlog {
            // The accept queue is full. A client that has nothing to send
            // would wait forever for a server that dropped its ACK (Linux
            // does drop it), so the cookie becomes a half-open entry if the
            // SYN queue has room again: its SYN-ACK is retransmitted, the
            // client answers, and the handshake completes once the
            // application accepts — as for any half-open entry.
            self.stats.listen_overflows += 1;
            if l.syn_queue.len() < l.backlog {
                l.syn_queue.push(entry);
                self.schedule(lh, now + rto);
            }
            return true;
        }
        self.stats.syn_cookies_accepted += 1;
        self.complete_handshake(now, lh, entry, seg.window, Some(seg));
        true
    }

    fn listener_message_mode(&self, lh: SocketHandle) -> bool {
        self.sockets.get(lh).is_some_and(|s| s.options.message_mode)
    }

    /// The IP header fields of a listener's SYN-ACKs and whether they go
    /// without options (`TCP_NOOPT`): its own settings, else the stack's.
    fn listener_header(&self, lh: SocketHandle) -> (crate::tcp::IpFields, bool) {
        match self.sockets.get(lh) {
            Some(Socket {
                kind: SocketKind::Listener(l),
                ..
            }) => header_fields(&self.config.tcp, &l.header),
            _ => (self.config.tcp.ip_fields(), self.config.tcp.no_options),
        }
    }

    /// Queues `h`'s SYN-ACK, written at once from the entry's fields
    /// (`Stack::write_control`: no control description built and copied
    /// through the queue; an IPv4 entry's addresses read straight from
    /// its tuple, the options written in place).
    fn send_syn_ack(&mut self, now: Instant, h: &HalfOpen) {
        let v4 = h.key.v4_ips();
        // Our MSS from the stack's defaults, the same `local_mss` of the
        // stack's configuration (worked out once).
        let mss = self.conn_defaults().mss(v4.is_some());
        let cfg = &self.config.tcp;
        // RFC 3168 §6.1.1: the ECN-setup SYN-ACK has ECE and not CWR.
        let ecn = if h.opts.ecn {
            TcpFlags::ECE
        } else {
            TcpFlags::empty()
        };
        let window = cfg.recv_buffer.min(65535) as u16;
        let o = &h.opts;
        if let (Some((src, dst)), false, true, true, true, false) = (
            v4,
            h.no_options,
            o.window_scaling,
            o.sack_permitted,
            o.timestamps,
            o.message_mode,
        ) {
            // The usual SYN-ACK (every option on, IPv4): written from its
            // fields by the writer of every connect's SYN too.
            let syn = UsualSyn {
                src_port: h.key.local_port,
                dst_port: h.key.remote_port,
                seq: h.iss,
                ack: h.irs + 1u32,
                flags: TcpFlags::SYN | TcpFlags::ACK | ecn,
                window,
                urgent: 0,
                mss,
                shift: o.rcv_wscale,
                tsval: (now.total_millis() as u32).wrapping_add(h.ts_offset),
                tsecr: h.ts_recent,
            };
            self.write_control(h.ip, |hop, dscp, buf| {
                crate::wire::control::emit_syn_v4(src, dst, hop, dscp, &syn, buf)
            });
            return;
        }
        let mut repr = TcpRepr {
            src_port: h.key.local_port,
            dst_port: h.key.remote_port,
            seq: h.iss,
            ack: h.irs + 1u32,
            flags: TcpFlags::SYN | TcpFlags::ACK | ecn,
            window,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &[],
        };
        let options = &mut repr.options;
        if !h.no_options {
            options.mss = Some(mss);
        }
        if h.opts.window_scaling {
            options.window_scale = Some(h.opts.rcv_wscale);
        }
        if h.opts.message_mode {
            options.experimental = Some(crate::tcp::message::MESSAGE_EXID);
        }
        options.sack_permitted = h.opts.sack_permitted;
        if h.opts.timestamps {
            options.timestamps = Some((
                (now.total_millis() as u32).wrapping_add(h.ts_offset),
                h.ts_recent,
            ));
        }
        let (src, dst) = match v4 {
            Some((l, r)) => (IpAddr::V4(l), IpAddr::V4(r)),
            None => (h.key.local().ip(), h.key.remote().ip()),
        };
        self.write_control(h.ip, |hop, dscp, buf| {
            super::emit_control(src, dst, hop, dscp, &repr, buf)
        });
    }

    /// Listener timers: retransmit SYN-ACKs with exponential backoff and drop
    /// entries whose retries ran out (RFC 9293 §3.8.1, R2 for SYN).
    pub(crate) fn listener_timeout(&mut self, now: Instant, lh: SocketHandle) {
        let Some(Socket {
            kind: SocketKind::Listener(l),
            ..
        }) = self.sockets.get_mut(lh)
        else {
            return;
        };
        let cfg = &self.config.tcp;
        let mut resend = Vec::new();
        let mut dropped = Vec::new();
        l.syn_queue.retain_mut(|h| {
            if h.deadline > now {
                return true;
            }
            if h.retries >= cfg.synack_retries {
                dropped.push((h.key.local(), h.key.remote()));
                return false;
            }
            h.retries += 1;
            let rto = (cfg.initial_rto * (1u32 << h.retries.min(16))).min(cfg.max_rto);
            h.deadline = now + rto;
            resend.push(h.clone());
            true
        });
        l.shrink_if_idle();
        let next = l.next_deadline();
        for h in &resend {
            self.send_syn_ack(now, h);
        }
        for (local, remote) in dropped {
            tracing::debug!(%local, %remote, "half-open connection timed out");
            self.record(now, local, Some(remote), State::SynReceived, State::Closed);
        }
        if let Some(t) = next {
            self.schedule(lh, t);
        }
    }
}

/// The IP header fields of a listener's SYN-ACKs and whether they go
/// without options (`TCP_NOOPT`): the listener's own settings, else the
/// stack's. Inlined: a call cost more than these few loads (every SYN).
#[inline(always)]
fn header_fields(
    cfg: &crate::tcp::TcpConfig,
    header: &super::socket::HeaderOptions,
) -> (crate::tcp::IpFields, bool) {
    let mut ip = cfg.ip_fields();
    if let Some(t) = header.tos {
        ip.dscp = t >> 2;
    }
    if let Some(h) = header.hop_limit {
        ip.hop_limit = h;
    }
    (ip, header.no_options.unwrap_or(cfg.no_options))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u16) -> HalfOpen {
        let local: SocketAddr = "198.18.0.2:80".parse().unwrap();
        let remote = SocketAddr::new("198.18.0.1".parse().unwrap(), 1000 + i);
        HalfOpen {
            key: FourTuple::new(local, remote),
            iss: SeqNum(u32::from(i)),
            irs: SeqNum(0),
            opts: Negotiated::default(),
            ts_recent: 0,
            ts_offset: 0,
            retries: 0,
            deadline: Instant::from_millis(u64::from(i)),
            ip: crate::tcp::IpFields::default(),
            no_options: false,
        }
    }

    /// The queue finds every entry by 4-tuple, searched or indexed, through
    /// growth past the threshold, removals that move entries, a retain and
    /// shrinking back.
    #[test]
    fn syn_queue_finds_entries_searched_or_indexed() {
        let mut q = SynQueue::default();
        let check = |q: &SynQueue, live: &[u16]| {
            assert_eq!(q.len(), live.len());
            for &i in live {
                let at = q.find(&entry(i).key).expect("present");
                assert_eq!(q.get(at).iss, SeqNum(u32::from(i)));
            }
        };
        let mut live: Vec<u16> = Vec::new();
        for i in 0..40 {
            q.push(entry(i));
            live.push(i);
            check(&q, &live);
        }
        assert!(q.index.is_some());
        // Remove from the front, the middle and the back.
        for i in [0u16, 17, 39, 5] {
            let at = q.find(&entry(i).key).unwrap();
            assert_eq!(q.swap_remove(at).iss, SeqNum(u32::from(i)));
            live.retain(|&x| x != i);
            check(&q, &live);
            assert_eq!(q.find(&entry(i).key), None);
        }
        q.retain_mut(|h| h.iss.0 % 3 == 0);
        live.retain(|&x| x % 3 == 0);
        check(&q, &live);
        while let Some(&i) = live.last() {
            let at = q.find(&entry(i).key).unwrap();
            q.swap_remove(at);
            live.pop();
            check(&q, &live);
        }
        assert!(q.index.is_none());
        assert!(q.heap_bytes() > 0);
        assert!(q.take_all().is_empty());
    }

    /// The scanned lists (the IPv4 one included) give the map's answer:
    /// the exact address first, else the wildcard on the port, per family;
    /// through inserts, a replacement and removals, below and above the
    /// number of listeners scanned.
    #[test]
    fn listener_table_scan_agrees_with_the_map() {
        let handle = |i: u32| SocketHandle {
            index: i,
            generation: 1,
        };
        let ips: [IpAddr; 5] = [
            "0.0.0.0".parse().unwrap(),
            "198.18.0.2".parse().unwrap(),
            "198.18.0.3".parse().unwrap(),
            "::".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        ];
        let mut t = ListenerTable::default();
        let check = |t: &ListenerTable| {
            for ip in ips.iter().copied().chain(["198.18.0.9".parse().unwrap()]) {
                for port in [80, 81, 82] {
                    let wildcard = crate::stack::unspecified(ip);
                    let want = t
                        .map
                        .get(&(ip, port))
                        .or_else(|| t.map.get(&(wildcard, port)))
                        .copied();
                    assert_eq!(t.find(ip, port), want, "{ip} {port}");
                }
            }
        };
        let mut n = 0;
        for port in [80u16, 81] {
            for ip in ips {
                n += 1;
                t.insert((ip, port), handle(n));
                check(&t);
            }
        }
        assert!(t.map.len() > LISTENERS_SCANNED);
        t.insert((ips[1], 80), handle(99));
        check(&t);
        for port in [80u16, 81] {
            for ip in ips {
                t.remove(&(ip, port));
                check(&t);
                if t.map.len() == 3 {
                    t.insert((ips[2], 82), handle(50));
                    check(&t);
                }
            }
        }
        assert_eq!((t.v4.len(), t.v6.len()), (1, 0));
    }
}
