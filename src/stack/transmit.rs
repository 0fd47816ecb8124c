//! The transmit fast paths and their header template cache.
//!
//! A bulk sender writes thousands of segments in a row for one connection,
//! and all of them have the same addresses, ports, TTL/hop limit, DSCP and
//! option layout. The stack keeps one [`HeaderTemplate`] for the connection
//! it last sent for (one entry for the whole stack: no memory per
//! connection; the next connection between the same addresses needs only
//! its ports patched in), and writes a segment whose only option is the
//! timestamps (or that has none) by copying the template and patching the
//! rest (wire/template.rs); other options (a SYN's, SACK blocks) go after
//! its fixed header. Only a connection whose template cannot be built
//! (mixed address families) goes through the general emitter
//! (`emit_segment` in mod.rs), which writes the same bytes.
//!
//! Two paths skip the general `Connection::poll_transmit` and its
//! `Segment`: `transmit_bulk` for a bulk sender's full segments
//! (`Connection::poll_bulk`), and `transmit_plain` for the segments of an
//! ordinary connection — pure ACKs, FINs, small data, the whole of a
//! request/response exchange but the SYN (`Connection::poll_plain`). Both
//! take the general path's own decisions and write its bytes: debug builds
//! compare every templated packet with the general emitter's, and the
//! tests below compare whole packet traces with `poll_plain` on and off.

use super::events::NetState;
use super::socket::{ConnSocket, Socket, SocketKind};
use super::{queue_for_transmit, reschedule, SocketHandle, Stack, Touch};
use crate::tcp::conn::{PlainPoll, PlainSegment, SynOut};
use crate::tcp::{Connection, Segment};
use crate::time::Instant;
use crate::wire::control::UsualSyn;
use crate::wire::template::{HeaderTemplate, SegmentFields};
use crate::wire::{self, checksum, Ecn};
use std::net::IpAddr;

impl Stack {
    /// The bookkeeping after connection `h` sent a segment. Sending sets
    /// no state and queues no event (the output path changes neither:
    /// `close` moves to FIN-WAIT-1 or LAST-ACK, input to TIME-WAIT, before
    /// the segment that follows goes out), and it cannot finish the
    /// connection; all it can do is leave more to send and move the
    /// connection's deadline (the RTO, the tail-loss probe, the delayed
    /// ACK it cleared). So when the connection is as its last touch left it
    /// (`unchanged_since_touch`: the state it reported, no events, not
    /// done — that rules out a RST's CLOSED and the last ACK that lets a
    /// TIME-WAIT connection retire), only the transmit queue, the timer
    /// heap and the network events the general touch would update are
    /// updated — for every kind of segment: the SYN, pure ACKs, FINs and
    /// data alike. A lingering socket, message mode and everything else
    /// get the general `touch_inner`.
    pub(super) fn touch_sent(&mut self, now: Instant, h: SocketHandle) {
        if self.sockets.linger_until(h).is_none() {
            if let Some(Socket {
                kind: SocketKind::Conn(c),
                timer_at,
                orphaned,
                net,
                ..
            }) = self.sockets.get_mut(h)
            {
                if c.unchanged_since_touch() {
                    queue_for_transmit(&mut self.tx_ready, c, h);
                    if let Some(t) = c.conn.poll_timeout() {
                        reschedule(&mut self.timers, timer_at, h, t);
                    }
                    if !*orphaned {
                        net.update_conn(c);
                    }
                    return;
                }
            }
        }
        self.touch_inner(now, h, Touch::Sent);
    }
}

impl Stack {
    /// The transmit fast path: when the connection at the front of the
    /// transmit list is the cached template's and its next segment is a
    /// full-sized one of new data ([`Connection::poll_bulk`]), writes it
    /// straight into `buf` from the template — no [`Segment`] built, the
    /// socket looked up once — and does `touch_sent`'s bookkeeping for it:
    /// the connection stays queued while it has more to send (at the back
    /// when others wait: the general path's round-robin) and the timer heap
    /// gets the one deadline a data send can move earlier
    /// ([`BulkSegment::deadline`](crate::tcp::conn::BulkSegment)) instead of
    /// the whole `poll_timeout`. `None` having changed nothing on anything
    /// else (another connection, a lingering or changed one, a buffer too
    /// small, options): the general path then runs.
    ///
    /// `h` is the front of the transmit list, and the template's
    /// ([`TxTemplate::is_for`]). Out of line: the general path's loop stays
    /// as lean as it was for the connections that are not bulk senders.
    ///
    /// `PARTIAL`: for a device that completes the checksum
    /// ([`Stack::poll_transmit_offload`]): the payload is copied, not
    /// summed, and the checksum field gets the pseudo-header sum.
    #[inline(never)]
    pub(super) fn transmit_bulk<const PARTIAL: bool>(
        &mut self,
        now: Instant,
        h: SocketHandle,
        buf: &mut [u8],
    ) -> Option<usize> {
        // Declined below: the general path sends the next segment and
        // sets the hint again if it is a full one.
        self.tx_template.bulk = false;
        let (eh, t) = self.tx_template.entry.as_ref()?;
        if *eh != h || self.sockets.linger_until(h).is_some() {
            return None;
        }
        let Some(Socket {
            kind: SocketKind::Conn(c),
            timer_at,
            orphaned,
            net,
            ..
        }) = self.sockets.get_mut(h)
        else {
            return None;
        };
        // First what rules out most connections that are not bulk
        // senders: less than a full segment queued.
        let mss = usize::from(c.conn.negotiated().snd_mss);
        if c.conn.send_queue_len() < mss {
            return None;
        }
        let ip = c.conn.ip_fields();
        if !t.matches(ip.hop_limit, ip.dscp) || !c.unchanged_since_touch() {
            return None;
        }
        // Room for a full segment, and a length the IP header can carry:
        // then the template's emit below cannot fail.
        let hl = t.header_len(c.conn.sends_timestamps());
        let total = hl + mss;
        if buf.len() < total || total > usize::from(u16::MAX) {
            return None;
        }
        let seg = c.conn.poll_bulk(now)?;
        debug_assert_eq!(seg.fields.timestamps.is_some(), c.conn.sends_timestamps());
        let len = seg.payload_len;
        let (a, b) = c.conn.bulk_payload(&seg);
        let n = if PARTIAL {
            // Checksum offload: the device sums the segment, so the
            // payload is only copied (wire/offload.rs).
            let (pa, pb) = buf[hl..hl + len].split_at_mut(a.len());
            pa.copy_from_slice(a);
            pb.copy_from_slice(b);
            t.emit_partial(buf, &seg.fields, len)
        } else {
            let payload_sum = copy_summed(&mut buf[hl..hl + len], a, b);
            t.emit(buf, &seg.fields, len, payload_sum)
        };
        debug_assert!(n.is_ok(), "checked above");
        self.tx_template.bulk = true;
        #[cfg(debug_assertions)]
        if let Ok(n) = n {
            let mut whole = buf[..n].to_vec();
            if PARTIAL {
                crate::wire::offload::complete(&mut whole);
            }
            check_against_general(&c.conn, &seg.to_segment(), &whole);
        }
        // `touch_sent` for a plain data segment, which this is.
        if c.conn.has_unsent() || c.conn.wants_transmit() {
            if self.tx_ready.len() > 1 {
                // To the back: round-robin between connections.
                self.tx_ready.pop_front();
                self.tx_ready.push_back(h);
            }
        } else {
            self.tx_ready.pop_front();
            c.tx_queued = false;
        }
        sent_bookkeeping(
            &mut self.timers,
            timer_at,
            h,
            seg.deadline,
            c,
            *orphaned,
            net,
        );
        n.ok()
    }
}

/// What [`Stack::transmit_plain`] did.
pub(super) enum PlainTx {
    /// A segment went: its length, `None` if `buf` could not hold it.
    Sent(Option<usize>),
    /// Nothing to send (or no connection): touched, off the list.
    Done,
    /// Not `poll_plain`'s case: nothing changed, the general path runs.
    General,
}

impl Stack {
    /// `poll_transmit_general` for the connection `h` it took off the
    /// transmit list, when [`Connection::poll_plain`] has its next segment
    /// (a pure ACK, a FIN, new data: every segment of a connection
    /// lifecycle but the SYN): the socket looked up once, the header
    /// fields written through the template, and `touch_sent`'s
    /// bookkeeping with the one deadline a send can move earlier
    /// ([`PlainSegment::deadline`]; none for a pure ACK) instead of the
    /// whole `poll_timeout`.
    #[inline]
    pub(super) fn transmit_plain(
        &mut self,
        now: Instant,
        h: SocketHandle,
        buf: &mut [u8],
    ) -> PlainTx {
        let lingering = self.sockets.linger_until(h).is_some();
        let Some(Socket {
            kind: SocketKind::Conn(c),
            timer_at,
            orphaned,
            net,
            ..
        }) = self.sockets.get_mut(h)
        else {
            return PlainTx::Done;
        };
        if !self.tx_template.plain_on() {
            return PlainTx::General;
        }
        let seg = match c.conn.poll_plain(now) {
            PlainPoll::Segment(seg) => seg,
            // The SYN of every active open, out of line: once per
            // connection.
            PlainPoll::General => return self.transmit_syn(now, h, lingering, buf),
            PlainPoll::Nothing => {
                // Off the list: `wants_transmit` is an over-estimate
                // (Nagle, windows); requeued here it would spin. Input,
                // timers and user calls queue it again.
                c.tx_queued = false;
                self.touch_inner(now, h, Touch::Idle);
                return PlainTx::Done;
            }
        };
        // Off the list while it is polled, back on (at the end:
        // round-robin) only if it has more to send.
        c.tx_queued = false;
        let n = self
            .tx_template
            .emit_plain(h, &c.conn, &seg, buf)
            .or_else(|| super::emit_segment(&c.conn, &seg.to_segment(), buf));
        if n.is_none() {
            segment_too_small();
        }
        if lingering || !c.unchanged_since_touch() {
            // An orphan that just sent its last segment (TIME-WAIT's ACK
            // of the FIN, once per lifecycle) and has nothing else to
            // report: all the touch would do is retire it.
            if !lingering && !seg.more && *orphaned && c.finished_since_touch() {
                self.retire_orphan(now, h);
            } else {
                self.touch_inner(now, h, Touch::Sent);
            }
            return PlainTx::Sent(n);
        }
        // `touch_sent`'s bookkeeping, with what `poll_plain` worked out
        // while planning the segment: whether more is to be sent, and the
        // one deadline the send moved.
        if seg.more {
            c.tx_queued = true;
            self.tx_ready.push_back(h);
        }
        sent_bookkeeping(
            &mut self.timers,
            timer_at,
            h,
            seg.deadline,
            c,
            *orphaned,
            net,
        );
        PlainTx::Sent(n)
    }
}

impl Stack {
    /// `poll_transmit_general` for a connection `transmit_plain` left to
    /// the general path (RSTs, retransmissions, probes, SACK blocks, a SYN
    /// the control writer declined): the general
    /// [`Connection::poll_transmit`] and emitters. Cold and out of line:
    /// no segment of a connection lifecycle or of a loss-free bulk
    /// transfer comes here, and inlined into the loop it shared the cache
    /// lines of the plain path's code. `Some(n)` ends the poll with `n`;
    /// `None` goes on with the next connection on the transmit list.
    #[cold]
    #[inline(never)]
    pub(super) fn transmit_general(
        &mut self,
        now: Instant,
        h: SocketHandle,
        buf: &mut [u8],
    ) -> Option<usize> {
        let Some(Socket {
            kind: SocketKind::Conn(c),
            ..
        }) = self.sockets.get_mut(h)
        else {
            return None;
        };
        // Off the list while it is polled; the touch below puts it back
        // (at the end: round-robin between connections) only if it
        // still has something to send, so a connection that just sent
        // its last segment is not polled once more for nothing.
        c.tx_queued = false;
        // The template when it applies, else the general emitter: the
        // same bytes either way. `Some(n)`: a segment went (`n` its
        // length, `None` if `buf` could not hold it).
        let sent = c.conn.poll_transmit(now).map(|seg| {
            self.tx_template
                .emit(h, &c.conn, &seg, buf)
                .unwrap_or_else(|| super::emit_segment(&c.conn, &seg, buf))
        });
        match sent {
            Some(n) => {
                if n.is_none() {
                    tracing::warn!("packet buffer too small for a segment");
                }
                self.touch_sent(now, h);
                // A buffer too small goes on with the next connection.
                n
            }
            None => {
                // `wants_transmit` is an over-estimate (Nagle, windows);
                // do not requeue here or we would spin. Input, timers and
                // user calls queue it again when something changes.
                self.touch_inner(now, h, Touch::Idle);
                None
            }
        }
    }
}

impl Stack {
    /// `transmit_plain` for the SYN of an active open
    /// ([`Connection::poll_syn`]): written by the one-pass control writer
    /// over IPv4 (`emit_control_v4`, else the template's `emit`), with
    /// `touch_sent`'s bookkeeping and the one deadline the SYN arms (its
    /// retransmission timer) instead of the whole `poll_timeout`. Anything
    /// else is [`PlainTx::General`] having changed nothing.
    #[inline(never)]
    fn transmit_syn(
        &mut self,
        now: Instant,
        h: SocketHandle,
        lingering: bool,
        buf: &mut [u8],
    ) -> PlainTx {
        let Some(Socket {
            kind: SocketKind::Conn(c),
            timer_at,
            orphaned,
            net,
            ..
        }) = self.sockets.get_mut(h)
        else {
            return PlainTx::Done;
        };
        // Matched where `poll_syn` returned it, not moved out of the
        // `Option` first: the move copied the whole `SynOut` (a `Segment`
        // wide) twice, some 40 instructions per connect (callgrind).
        let polled = c.conn.poll_syn(now);
        let Some(syn) = &polled else {
            return PlainTx::General;
        };
        // Off the list while it is polled, as in `poll_transmit_general`.
        c.tx_queued = false;
        let written = match syn {
            SynOut::Usual(u) => self.tx_template.emit_syn_v4(&c.conn, u, buf),
            SynOut::General(seg) => self.tx_template.emit_control_v4(&c.conn, seg, buf),
        };
        let n = match written {
            Some(n) => {
                #[cfg(debug_assertions)]
                check_against_general(&c.conn, &syn.segment(), &buf[..n]);
                Some(n)
            }
            None => {
                let seg = syn.segment();
                self.tx_template
                    .emit(h, &c.conn, &seg, buf)
                    .unwrap_or_else(|| super::emit_segment(&c.conn, &seg, buf))
            }
        };
        if n.is_none() {
            tracing::warn!("packet buffer too small for a segment");
        }
        if lingering || !c.unchanged_since_touch() {
            self.touch_inner(now, h, Touch::Sent);
            return PlainTx::Sent(n);
        }
        queue_for_transmit(&mut self.tx_ready, c, h);
        let deadline = c.conn.sent_deadline();
        sent_bookkeeping(&mut self.timers, timer_at, h, deadline, c, *orphaned, net);
        PlainTx::Sent(n)
    }
}

/// The end of `touch_sent`'s bookkeeping after a templated send: the
/// timer heap given `deadline`, the one deadline the send can have moved
/// earlier (none for a pure ACK), and the socket's network events
/// updated unless it is an orphan nobody watches.
#[inline(always)]
fn sent_bookkeeping(
    timers: &mut super::TimerHeap,
    timer_at: &mut Option<Instant>,
    h: SocketHandle,
    deadline: Option<Instant>,
    c: &ConnSocket,
    orphaned: bool,
    net: &mut NetState,
) {
    if let Some(t) = deadline {
        reschedule(timers, timer_at, h, t);
    }
    // The heap still holds an entry at or before every deadline.
    debug_assert!(c
        .conn
        .poll_timeout()
        .is_none_or(|d| timer_at.is_some_and(|at| at <= d)));
    if !orphaned {
        net.update_conn(c);
    }
}

/// `transmit_plain`'s warning for a segment `buf` cannot hold: cold and
/// out of line, its code inline filled the plain path's cache lines. (The
/// general emitter's fallback stays inline: out of line, taking the
/// segment by reference cost a copy of it per send, +12 instructions.)
#[cold]
#[inline(never)]
fn segment_too_small() {
    tracing::warn!("packet buffer too small for a segment");
}

/// `poll_transmit_general`'s warning for a control segment `buf` cannot
/// hold: cold and out of line.
#[cold]
#[inline(never)]
pub(super) fn control_too_small() {
    tracing::warn!("packet buffer too small for a control segment");
}

/// Copies a payload that sits in the send ring as `a` then `b` (the
/// ring's wrap) into `dst` (`a.len() + b.len()` bytes), returning its
/// checksum sum: one read of the bytes. A second piece after an odd first
/// one sits in the other half of its 16-bit words (`combine`).
#[inline(always)]
fn copy_summed(dst: &mut [u8], a: &[u8], b: &[u8]) -> u64 {
    let (pa, pb) = dst.split_at_mut(a.len());
    let sum = checksum::copy_and_sum(pa, a, 0);
    if b.is_empty() {
        return sum;
    }
    checksum::combine(sum, a.len(), checksum::copy_and_sum(pb, b, 0))
}

/// Debug builds: a templated packet must be byte for byte what the
/// general emitter writes for the same segment.
#[cfg(debug_assertions)]
fn check_against_general(conn: &Connection, seg: &Segment, templated: &[u8]) {
    let mut general = vec![0u8; templated.len()];
    assert_eq!(
        super::emit_segment(conn, seg, &mut general),
        Some(templated.len()),
        "templated length differs"
    );
    assert_eq!(templated, &general[..], "templated bytes differ: {seg:?}");
}

/// Payloads up to this long (a request/response exchange's, the
/// lifecycle's one byte) are copied and summed inline.
const SMALL_PAYLOAD: usize = 16;

/// `copy_summed` for a short payload in one piece: the bytes copied and
/// summed as big-endian 16-bit words in one loop (an odd last byte is the
/// high half of its word), congruent modulo `0xffff` to `checksum::sum`
/// (wire/checksum.rs, "Why the arithmetic is right") without the call and
/// the vector set-up — and without a `memcpy` call for the copy (every
/// lifecycle sends two one-byte payloads; a copy loop of its own would be
/// turned into that call).
#[inline(always)]
fn copy_summed_small(dst: &mut [u8], a: &[u8]) -> u64 {
    debug_assert_eq!(dst.len(), a.len());
    let mut sum = 0u64;
    let mut words = a.chunks_exact(2);
    let mut slots = dst.chunks_exact_mut(2);
    for (d, w) in (&mut slots).zip(&mut words) {
        d.copy_from_slice(w);
        sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let ([last], [slot]) = (words.remainder(), slots.into_remainder()) {
        *slot = *last;
        sum += u64::from(*last) << 8;
    }
    sum
}

/// The one cached template and the connection it belongs to. A handle's
/// generation changes when its slot is reused, and a connection's
/// addresses and ports never change, so the handle plus the IP fields a
/// socket option may change ([`HeaderTemplate::matches`]) decide whether
/// the entry applies.
#[derive(Default)]
pub(super) struct TxTemplate {
    entry: Option<(SocketHandle, HeaderTemplate)>,
    /// The entry's connection last sent a full-sized segment of new data
    /// (through either path): only then is the fast path tried, so
    /// connections that send small segments (request/response, every
    /// lifecycle) do not pay for asking it. Cleared when the fast path
    /// declines; the general path sets it again with the next full
    /// segment.
    bulk: bool,
    /// Tests: `poll_plain` switched off (every segment through the general
    /// `poll_transmit`), and how many segments it wrote.
    #[cfg(test)]
    plain_off: bool,
    #[cfg(test)]
    plain_sent: usize,
}

impl TxTemplate {
    /// Whether `poll_transmit_general` asks `poll_plain` first (always,
    /// but in the tests that compare it with the general path).
    #[inline(always)]
    pub(super) fn plain_on(&self) -> bool {
        #[cfg(test)]
        if self.plain_off {
            return false;
        }
        true
    }

    /// Whether the transmit fast path is worth trying for socket `h`: the
    /// cached template is `h`'s (built for its current IP fields or not)
    /// and `h` last sent a full-sized segment.
    #[inline]
    pub(super) fn is_for(&self, h: SocketHandle) -> bool {
        self.bulk && self.entry.as_ref().is_some_and(|(eh, _)| *eh == h)
    }

    /// The template for `conn` (socket `h`), built first if the cached one
    /// is another connection's or was built for other IP fields. `None`
    /// only when no template can be built (mixed address families).
    #[inline(always)]
    fn template_for(&mut self, h: SocketHandle, conn: &Connection) -> Option<&mut HeaderTemplate> {
        let ip = conn.ip_fields();
        let cached = match &mut self.entry {
            Some((eh, t)) if t.matches(ip.hop_limit, ip.dscp) => {
                *eh == h
                    || match conn.v4_endpoints() {
                        // Another IPv4 connection between the same
                        // addresses (a client's to one server, a server's
                        // from one client; twice in every connection
                        // lifecycle, the client's and the server's first
                        // segment): new ports only, inline — out of line
                        // the call cost more than setting them.
                        Some((l, r)) if t.has_v4_addresses(*l.ip(), *r.ip()) => {
                            t.set_ports(l.port(), r.port());
                            *eh = h;
                            true
                        }
                        _ => false,
                    }
            }
            _ => false,
        };
        if !cached {
            self.rebuild(h, conn)?;
        }
        self.entry.as_mut().map(|(_, t)| t)
    }

    /// `template_for`'s rare part (once per stack, after a socket option
    /// changed the IP fields, for IPv6 and other addresses): out of line.
    #[cold]
    #[inline(never)]
    fn rebuild(&mut self, h: SocketHandle, conn: &Connection) -> Option<()> {
        let ip = conn.ip_fields();
        if let Some((eh, t)) = &mut self.entry {
            // Another connection between the same addresses (a client's
            // to one server, a server's from one client): new ports only.
            // IPv4 addresses are compared as the connection stores them.
            let ports = match conn.v4_endpoints() {
                Some((l, r)) => t
                    .has_v4_addresses(*l.ip(), *r.ip())
                    .then(|| (l.port(), r.port())),
                None => {
                    let (l, r) = (conn.local(), conn.remote());
                    t.has_addresses(l.ip(), r.ip())
                        .then(|| (l.port(), r.port()))
                }
            };
            if let Some((lp, rp)) = ports.filter(|_| t.matches(ip.hop_limit, ip.dscp)) {
                t.set_ports(lp, rp);
                *eh = h;
                return Some(());
            }
        }
        self.build_new(h, conn)
    }

    /// `rebuild` for a connection between other addresses than the
    /// cached template's (or with other IP fields): a template built from
    /// scratch. Out of line: `rebuild`'s new ports need no stack frame
    /// for the header bytes.
    #[cold]
    #[inline(never)]
    fn build_new(&mut self, h: SocketHandle, conn: &Connection) -> Option<()> {
        let ip = conn.ip_fields();
        let (local, remote) = (conn.local(), conn.remote());
        let t = HeaderTemplate::new(
            local.ip(),
            remote.ip(),
            local.port(),
            remote.port(),
            ip.hop_limit,
            ip.dscp,
        )
        .ok()?;
        self.entry = Some((h, t));
        Some(())
    }

    /// Writes `seg` of `conn` (socket `h`) into `buf` from the template,
    /// building it first if the cached one is another connection's. `None`
    /// when the segment is not the template's to write (the caller then
    /// uses the general emitter); `Some(None)` when `buf` is too small.
    pub(super) fn emit(
        &mut self,
        h: SocketHandle,
        conn: &Connection,
        seg: &Segment,
        buf: &mut [u8],
    ) -> Option<Option<usize>> {
        let mut fields = SegmentFields {
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            window: seg.window,
            timestamps: None,
            // RFC 3168 §6.1.2: new data of an ECN connection goes ECT(0).
            ecn: if seg.ect { Ecn::Ect0 } else { Ecn::NotEct },
        };
        let n = match seg.options.only_timestamps() {
            Some(timestamps) => {
                fields.timestamps = timestamps;
                self.emit_fields(h, conn, &fields, seg.payload_offset, seg.payload_len, buf)?
            }
            // Other options without payload (the SYN above all, a pure
            // ACK with SACK blocks) over IPv4: the one-pass control writer.
            None if seg.payload_len == 0 && !seg.ect => {
                match self.emit_control_v4(conn, seg, buf) {
                    Some(n) => Some(n),
                    None => self.emit_options(h, conn, seg, &fields, buf)?,
                }
            }
            // Other options (SACK blocks beside data): their bytes after
            // the template's fixed header.
            None => self.emit_options(h, conn, seg, &fields, buf)?,
        };
        // Debug builds (every test) check each templated packet against the
        // general emitter's bytes.
        #[cfg(debug_assertions)]
        if let Some(n) = n {
            check_against_general(conn, seg, &buf[..n]);
        }
        Some(n)
    }

    /// [`emit`](Self::emit) for a segment of [`Connection::poll_plain`],
    /// which has no option but the timestamps: `None` when no template can
    /// be built or `buf` is too small (the caller then uses the general
    /// emitter, which reports the latter).
    #[inline(always)]
    pub(super) fn emit_plain(
        &mut self,
        h: SocketHandle,
        conn: &Connection,
        seg: &PlainSegment,
        buf: &mut [u8],
    ) -> Option<usize> {
        let n = self
            .emit_fields(
                h,
                conn,
                &seg.fields,
                seg.payload_offset,
                seg.payload_len,
                buf,
            )
            .flatten();
        #[cfg(debug_assertions)]
        if let Some(n) = n {
            check_against_general(conn, &seg.to_segment(), &buf[..n]);
        }
        #[cfg(test)]
        {
            self.plain_sent += 1;
        }
        n
    }

    /// `emit` for a segment with options other than the timestamps alone
    /// and no payload (the SYN of every active open) between IPv4
    /// addresses: written in one pass by [`wire::control::emit_v4`] (the
    /// writer of the stack's SYN-ACKs), which sums the usual SYN options
    /// from their fields instead of encoding them, copying them after the
    /// template and summing the bytes — the same bytes. The template is
    /// neither used nor built (the connection's next segment builds it).
    /// `None` for other addresses or a buffer too small (`emit_options`
    /// then decides).
    #[inline(never)]
    fn emit_control_v4(
        &mut self,
        conn: &Connection,
        seg: &Segment,
        buf: &mut [u8],
    ) -> Option<usize> {
        let (local, remote) = (conn.local(), conn.remote());
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (local.ip(), remote.ip()) else {
            return None;
        };
        let repr = seg.header_repr(local.port(), remote.port());
        let ip = conn.ip_fields();
        let n = wire::control::emit_v4(src, dst, ip.hop_limit, ip.dscp, &repr, buf)?;
        // Not a full segment of data: the bulk path is not worth asking.
        self.bulk = false;
        Some(n)
    }

    /// [`emit_control_v4`](Self::emit_control_v4) for the usual SYN
    /// ([`SynOut::Usual`]): its fields written by `emit_syn_v4`, the SYN-ACK's
    /// writer too. `None` for other addresses or a buffer too small.
    #[inline]
    fn emit_syn_v4(&mut self, conn: &Connection, syn: &UsualSyn, buf: &mut [u8]) -> Option<usize> {
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (conn.local().ip(), conn.remote().ip()) else {
            return None;
        };
        let ip = conn.ip_fields();
        let n = wire::control::emit_syn_v4(src, dst, ip.hop_limit, ip.dscp, syn, buf)?;
        self.bulk = false;
        Some(n)
    }

    /// `emit` for a segment with options other than the timestamps alone:
    /// encoded on the stack, then written after the template's fixed
    /// header. `None` when no template can be built or the options do not
    /// encode (the general emitter then writes the segment).
    #[inline(never)]
    fn emit_options(
        &mut self,
        h: SocketHandle,
        conn: &Connection,
        seg: &Segment,
        fields: &SegmentFields,
        buf: &mut [u8],
    ) -> Option<Option<usize>> {
        let mut opts = [0u8; 40];
        let olen = seg.options.emit(&mut opts).ok()?;
        let t = self.template_for(h, conn)?;
        let hl = t.header_len(false) + olen;
        let len = seg.payload_len;
        if buf.len() < hl + len {
            return Some(None);
        }
        let mut payload_sum = 0;
        if len > 0 {
            let (a, b) = conn.payload(seg);
            payload_sum = copy_summed(&mut buf[hl..hl + len], a, b);
        }
        let n = t
            .emit_with_options(buf, fields, &opts[..olen], len, payload_sum)
            .ok()?;
        self.bulk = len > 0 && len == usize::from(conn.negotiated().snd_mss);
        Some(Some(n))
    }

    /// The template's part of `emit` and `emit_plain`: the payload
    /// (`len` bytes at send-queue offset `off`) straight from the send
    /// queue into place, summed as it is copied, then the headers.
    #[inline(always)]
    fn emit_fields(
        &mut self,
        h: SocketHandle,
        conn: &Connection,
        fields: &SegmentFields,
        off: usize,
        len: usize,
        buf: &mut [u8],
    ) -> Option<Option<usize>> {
        let t = self.template_for(h, conn)?;
        let hl = t.header_len(fields.timestamps.is_some());
        if buf.len() < hl + len {
            return Some(None);
        }
        let mut payload_sum = 0;
        // An ACK or a bare FIN has no payload to copy.
        if len > 0 {
            let (a, b) = conn.payload_at(off, len);
            // Not in `copy_summed`: the bulk path's full segments should
            // not pay for the test.
            payload_sum = if b.is_empty() && len <= SMALL_PAYLOAD {
                copy_summed_small(&mut buf[hl..hl + len], a)
            } else {
                copy_summed(&mut buf[hl..hl + len], a, b)
            };
        }
        let n = t.emit(buf, fields, len, payload_sum).ok();
        self.bulk = len > 0 && len == usize::from(conn.negotiated().snd_mss);
        Some(n)
    }

    /// The cached template's socket and whether it is built for
    /// `hop_limit` and `dscp`.
    #[cfg(test)]
    fn cached(&self) -> Option<(SocketHandle, bool)> {
        self.entry.as_ref().map(|(h, t)| (*h, t.matches(64, 0)))
    }
}

#[cfg(test)]
mod tests;
