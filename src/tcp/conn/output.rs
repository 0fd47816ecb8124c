//! Building the segments a connection sends: the SYN, data and FIN subject to
//! the peer's window, the congestion window and Nagle, retransmissions, window
//! probes, ACKs and RSTs.

use super::block::{SentAt, Settings};
use super::Connection;
use crate::tcp::State;
use crate::time::Instant;
use crate::wire::control::UsualSyn;
use crate::wire::template::SegmentFields;
use crate::wire::{Ecn, SackBlocks, SeqNum, TcpFlags, TcpOptions, TcpRepr};

/// The segments a connection owes now, for reasons other than its queues
/// and sequence numbers, as bits of one byte: `wants_transmit` (asked
/// after every packet and user call) and `plain_applies` then test them
/// with one instruction instead of a load and an OR for each flag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct TxFlags(u8);

impl TxFlags {
    /// An RST is to be sent (abort, user timeout, a data segment after
    /// the read half closed: RFC 9293 §3.10.7.4, SHLD-3).
    pub(super) const SEND_RST: u8 = 1;
    /// An ACK is owed now (RFC 9293 §3.10.7.4; RFC 1122 4.2.3.2's second
    /// full segment, out-of-order data, a window update).
    pub(super) const ACK_NOW: u8 = 1 << 1;
    /// The fast retransmission of SND.UNA is due (RFC 5681 §3.2).
    pub(super) const FAST_REXMIT: u8 = 1 << 2;
    /// A zero-window probe is due (RFC 9293 §3.8.6.1).
    pub(super) const PERSIST_PROBE: u8 = 1 << 3;
    /// A keep-alive probe is due (RFC 9293 §3.8.4).
    pub(super) const KEEPALIVE_PROBE: u8 = 1 << 4;
    /// The next ACK repeats our FIN ([`TcpConfig::repeat_fin_in_closing`]).
    ///
    /// [`TcpConfig::repeat_fin_in_closing`]: crate::tcp::TcpConfig::repeat_fin_in_closing
    pub(super) const REPEAT_FIN: u8 = 1 << 5;
    /// The flags that alone make `wants_transmit` say yes.
    const WANTS: u8 = Self::SEND_RST
        | Self::ACK_NOW
        | Self::FAST_REXMIT
        | Self::PERSIST_PROBE
        | Self::KEEPALIVE_PROBE;
    /// The flags that keep `poll_plain` out (an owed ACK it sends itself).
    const NOT_PLAIN: u8 = Self::SEND_RST
        | Self::FAST_REXMIT
        | Self::PERSIST_PROBE
        | Self::KEEPALIVE_PROBE
        | Self::REPEAT_FIN;

    /// Whether any of `bits` is set.
    #[inline(always)]
    pub(super) fn has(self, bits: u8) -> bool {
        self.0 & bits != 0
    }

    /// Sets `bits`.
    #[inline(always)]
    pub(super) fn set(&mut self, bits: u8) {
        self.0 |= bits;
    }

    /// Clears `bits`.
    #[inline(always)]
    pub(super) fn clear(&mut self, bits: u8) {
        self.0 &= !bits;
    }

    /// Sets `bits` if `on`, clears them otherwise.
    #[inline(always)]
    pub(super) fn put(&mut self, bits: u8, on: bool) {
        if on {
            self.set(bits);
        } else {
            self.clear(bits);
        }
    }

    /// Whether any of `bits` was set; clears them.
    #[inline(always)]
    pub(super) fn take(&mut self, bits: u8) -> bool {
        let was = self.has(bits);
        self.clear(bits);
        was
    }
}

/// One segment to send. The payload stays in the send queue:
/// `payload_offset..payload_offset + payload_len` of it, which the stack
/// copies straight into the packet buffer ([`Connection::payload`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Sequence number.
    pub seq: SeqNum,
    /// Acknowledgment number (meaningful when `flags` has ACK).
    pub ack: SeqNum,
    /// Control bits.
    pub flags: TcpFlags,
    /// Window field, already scaled down.
    pub window: u16,
    /// Options.
    pub options: TcpOptions,
    /// Offset of the payload in the send queue.
    pub payload_offset: usize,
    /// Payload length.
    pub payload_len: usize,
    /// Send it ECN-capable, ECT(0) in the IP header (RFC 3168 §6.1.2: new
    /// data on a connection that agreed on ECN).
    pub ect: bool,
}

impl Segment {
    /// The segment's TCP header between `src_port` and `dst_port`, with an
    /// empty payload: the emitters write the payload (if any) themselves,
    /// from the send queue into the packet.
    #[inline]
    pub fn header_repr(&self, src_port: u16, dst_port: u16) -> TcpRepr<'static> {
        TcpRepr {
            src_port,
            dst_port,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            urgent: 0,
            options: self.options,
            payload: &[],
        }
    }
}

/// The SYN [`Connection::poll_syn`] answers: the usual one as fields
/// (written by [`emit_syn_v4`](crate::wire::control::emit_syn_v4)), any
/// other as a segment for the general emitters.
#[derive(Clone, Debug)]
pub enum SynOut {
    /// MSS; SACK-permitted, TS; NOP, WS.
    Usual(UsualSyn),
    /// Anything else (`TCP_NOOPT`, an option turned off, message mode).
    General(Segment),
}

impl SynOut {
    /// The segment, for the general emitters (an IPv6 SYN, a buffer too
    /// small) and the debug builds' comparison.
    pub fn segment(&self) -> Segment {
        match self {
            SynOut::Usual(u) => Segment {
                seq: u.seq,
                ack: u.ack,
                flags: u.flags,
                window: u.window,
                options: u.repr().options,
                payload_offset: 0,
                payload_len: 0,
                ect: false,
            },
            SynOut::General(s) => *s,
        }
    }
}

/// A full-sized segment of new data from the transmit fast path
/// ([`Connection::poll_bulk`]): the header fields a
/// [`HeaderTemplate`](crate::wire::template::HeaderTemplate) does not hold,
/// where the payload is in the send queue, and the deadlines sending it
/// armed. It carries no option but the timestamps (a full-sized segment has
/// no room for SACK blocks, see `build`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BulkSegment {
    /// Sequence and acknowledgment numbers, flags, window, timestamps, ECN.
    pub fields: SegmentFields,
    /// Offset of the payload in the send queue.
    pub payload_offset: usize,
    /// Payload length (SND.MSS).
    pub payload_len: usize,
    /// The earlier of the retransmission timer and the tail-loss probe
    /// after the send: the only deadlines sending new data can move
    /// earlier (it clears the delayed ACK's and touches no other), so a
    /// timer heap that already covered the connection's other deadlines
    /// needs only this one.
    pub deadline: Option<Instant>,
}

impl BulkSegment {
    /// The same segment as [`Connection::poll_transmit`] returns it.
    pub fn to_segment(&self) -> Segment {
        segment_of(
            &self.fields,
            SackBlocks::default(),
            self.payload_offset,
            self.payload_len,
        )
    }
}

/// A segment whose only option is the timestamps (or none), as the header
/// template writes it ([`Connection::poll_plain`]): a pure ACK, a FIN, new
/// data of any size. The header fields the template does not hold, and
/// where the payload is in the send queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlainSegment {
    /// Sequence and acknowledgment numbers, flags, window, timestamps, ECN.
    pub fields: SegmentFields,
    /// Offset of the payload in the send queue.
    pub payload_offset: usize,
    /// Payload length (0 for a pure ACK or a bare FIN).
    pub payload_len: usize,
    /// Whether the connection has more to send after this segment: what
    /// [`Connection::wants_transmit`] answers once it is sent (data still
    /// queued, a FIN not yet sent), worked out by `poll_plain` from what
    /// it already had at hand rather than asked again.
    pub more: bool,
    /// The one deadline sending it can have moved earlier (the earlier of
    /// the retransmission timer and the tail-loss probe,
    /// [`Connection::sent_deadline`]); `None` for a pure ACK, which arms
    /// neither.
    pub deadline: Option<Instant>,
}

impl PlainSegment {
    /// The same segment as [`Connection::poll_transmit`] returns it.
    pub fn to_segment(&self) -> Segment {
        segment_of(
            &self.fields,
            SackBlocks::default(),
            self.payload_offset,
            self.payload_len,
        )
    }
}

/// The [`Segment`] with the header fields `f`, the SACK blocks `sack_blocks`
/// and no other option but the timestamps.
fn segment_of(
    f: &SegmentFields,
    sack_blocks: SackBlocks,
    payload_offset: usize,
    payload_len: usize,
) -> Segment {
    Segment {
        seq: f.seq,
        ack: f.ack,
        flags: f.flags,
        window: f.window,
        options: TcpOptions {
            timestamps: f.timestamps,
            sack_blocks,
            ..TcpOptions::default()
        },
        payload_offset,
        payload_len,
        ect: f.ecn == Ecn::Ect0,
    }
}

/// What [`Connection::poll_plain`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainPoll {
    /// The next segment, which [`Connection::poll_transmit`] would have
    /// returned (with the same updates), in the template's form.
    Segment(PlainSegment),
    /// Nothing to send now: `poll_transmit` would have returned `None`
    /// (and made the same updates: an ACK no longer owed, the persist
    /// timer).
    Nothing,
    /// Not a case `poll_plain` handles; nothing changed, and
    /// `poll_transmit` decides.
    General,
}

/// `build_fields`'s callers: the general `poll_transmit`, ...
const GENERAL: u8 = 0;
/// ... `poll_plain`'s new data and FINs, ...
const PLAIN: u8 = 1;
/// ... and the transmit fast path's full segments (`bulk_segment`).
const BULK: u8 = 2;

/// What `data_segment` knows about new data at SND.NXT before it decides
/// whether to send some (`data_plan`).
struct DataPlan {
    /// Offset of SND.NXT in the send queue.
    off: usize,
    /// Queued bytes from there.
    unsent: usize,
    /// Sequence space in flight.
    flight: usize,
    /// How many bytes the windows allow now (`send_room`); 0 when
    /// nothing is unsent.
    usable: usize,
    /// SND.NXT is below SND.MAX (after a timeout: go-back-N).
    retransmitting: bool,
    /// A FIN is queued and not yet sent from SND.NXT on.
    fin_unsent: bool,
    /// Send queue length.
    qlen: usize,
}

impl Connection {
    /// The next segment when it is a full-sized segment of new data that
    /// the transmit fast path writes from a header template (see
    /// `bulk_segment`: every segment of a bulk transfer), with the same
    /// updates [`poll_transmit`](Self::poll_transmit) would make for it;
    /// `None` having changed nothing otherwise (then `poll_transmit`).
    #[inline]
    pub fn poll_bulk(&mut self, now: Instant) -> Option<BulkSegment> {
        // `poll_transmit` sends a pending RST first.
        if self.txf.has(TxFlags::SEND_RST) || self.rst_reply_pending() {
            return None;
        }
        self.bulk_segment(now)
    }

    /// Whether the segments this connection sends carry the timestamps
    /// option (RFC 7323, negotiated): where their payload starts.
    #[inline]
    pub fn sends_timestamps(&self) -> bool {
        self.opts.timestamps
    }

    /// The next segment to send at `now`, if any. Call until it returns
    /// `None`; the stack writes each into a packet.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Segment> {
        if let Some(seq) = self.take_rst_reply() {
            return Some(self.bare(seq, SeqNum(0), TcpFlags::RST));
        }
        if self.txf.has(TxFlags::SEND_RST) {
            // ABORT (RFC 9293 §3.10.5): <SEQ=SND.NXT><CTL=RST>. We add the
            // ACK bit, as Linux and FreeBSD do, so the peer can validate it
            // even in states where it checks the ACK.
            self.txf.clear(TxFlags::SEND_RST);
            // Never beyond the right edge of the peer's window: after an
            // unanswered zero-window probe SND.NXT is one past what a peer
            // with a closed window accepts, and Linux drops a RST that is not
            // exactly RCV.NXT there. This is Linux's `tcp_acceptable_seq`.
            let seq = self.snd_max.min(self.snd_una + self.snd_wnd);
            return Some(self.bare(seq, self.rcv_nxt, TcpFlags::RST | TcpFlags::ACK));
        }
        match self.state {
            State::Closed => return None,
            State::SynSent | State::SynReceived => {
                if self.snd_nxt == self.iss {
                    return Some(self.syn_segment(now));
                }
                return self.ack_if_owed(now);
            }
            _ => {}
        }
        if let Some(s) = self.data_segment(now) {
            return Some(s);
        }
        if self.txf.has(TxFlags::KEEPALIVE_PROBE) {
            // Keep-alive probe (RFC 9293 §3.8.4): an already acknowledged
            // sequence number, so the peer answers with an ACK.
            self.txf.clear(TxFlags::KEEPALIVE_PROBE);
            self.txf.set(TxFlags::ACK_NOW);
            let mut seg = self.ack_if_owed(now)?;
            seg.seq = self.snd_nxt - 1u32;
            return Some(seg);
        }
        self.ack_if_owed(now)
    }

    /// [`poll_transmit`](Self::poll_transmit) for the segments of an
    /// ordinary synchronized connection — pure ACKs, FINs and new data at
    /// SND.MAX without SACK blocks: the segments of every request/response
    /// exchange — in the header template's form, without building a
    /// [`Segment`] (its option block) or asking for the RSTs, probes and
    /// retransmissions that cannot apply. The decisions are
    /// `poll_transmit`'s own (the same `bulk_segment`, `data_plan`,
    /// `data_decide`, `build_fields` and `ack_fields`), taken only when
    /// `plain_applies` shows that the cases it skips would do nothing;
    /// anything else is [`PlainPoll::General`] having changed nothing.
    #[inline]
    pub fn poll_plain(&mut self, now: Instant) -> PlainPoll {
        if !self.plain_applies() {
            return PlainPoll::General;
        }
        // The send queue looked at once for the three cases below: a
        // full segment (`bulk_segment`, asked only when one is queued:
        // its own tests would fail for the small segments of a
        // request/response exchange), new data or a FIN, a pure ACK.
        let (off, qlen) = self.send_offset_synchronized();
        let unsent = qlen - off;
        if unsent >= usize::from(self.opts.snd_mss).max(1) {
            if let Some(b) = self.bulk_segment(now) {
                // `bulk_segment` sends no FIN (none may be queued).
                let more = unsent > b.payload_len;
                debug_assert_eq!(more, self.wants_transmit(), "after a full segment");
                return PlainPoll::Segment(PlainSegment {
                    fields: b.fields,
                    payload_offset: b.payload_offset,
                    payload_len: b.payload_len,
                    more,
                    deadline: b.deadline,
                });
            }
        }
        // Nothing queued beyond SND.NXT and no FIN to send (every pure
        // ACK): `data_decide` would send nothing and arm nothing, so the
        // windows are not even looked at.
        let fin_unsent = self.fin_queued && !self.fin_sent_synchronized();
        if unsent > 0 || fin_unsent {
            let p = self.data_plan_at(off, qlen, fin_unsent);
            debug_assert!(!p.retransmitting);
            if let Some((len, fin)) = self.data_decide(now, &p) {
                let seq = self.snd_nxt;
                let fields = self.build_fields::<PLAIN>(now, seq, p.off, len, fin, false);
                self.data_sent(now, seq, len, fin, false);
                // Left: the rest of the queue, or the FIN this did not
                // carry (SND.NXT was SND.MAX, so "not yet sent" is
                // `fin_unsent`). Not in TIME-WAIT, which has neither.
                let more = p.unsent > len || (p.fin_unsent && !fin);
                debug_assert_eq!(more, self.wants_transmit(), "after a plain send");
                return PlainPoll::Segment(PlainSegment {
                    fields,
                    payload_offset: p.off,
                    payload_len: len,
                    more,
                    deadline: self.sent_deadline(),
                });
            }
        }
        if !self.ack_owed() {
            self.txf.clear(TxFlags::ACK_NOW);
            return PlainPoll::Nothing;
        }
        // A pure ACK (never a FIN: `plain_applies` ruled out the repeated
        // one) leaves what it found: data Nagle or the windows held back,
        // which `wants_transmit` counts too.
        let more = unsent > 0 || fin_unsent;
        let fields = self.ack_fields(now);
        debug_assert_eq!(more, self.wants_transmit(), "after a pure ACK");
        PlainPoll::Segment(PlainSegment {
            fields,
            payload_offset: 0,
            payload_len: 0,
            more,
            deadline: None,
        })
    }

    /// Whether `poll_plain` may decide: no RST to send, no probe or fast
    /// retransmission due, no FIN to repeat, a synchronized state, nothing
    /// to send again (SND.NXT = SND.MAX, nothing deemed lost, no tail-loss
    /// probe due or being sent), no pacing, and no SACK block to report.
    /// Then `poll_transmit` would skip its RST and handshake branches, and
    /// `data_segment` its pacing hold, fast retransmit, `loss_retransmit`
    /// (which would find nothing and change nothing) and persist probe.
    #[inline]
    fn plain_applies(&self) -> bool {
        let flags = self.txf.has(TxFlags::NOT_PLAIN);
        !flags
            && self.state.is_synchronized()
            && self.snd_nxt == self.snd_max
            && !self.settings.has(Settings::PACING)
            && !self.has_sack_blocks()
            && self.loss_nothing_to_resend()
            && !self.rst_reply_pending()
    }

    /// Whether events are waiting for [`take_events`](Self::take_events)
    /// (the stack's cheap touch after a send checks there are none).
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// The part of the send queue a [`Segment`] refers to, as at most two
    /// slices (the queue is a ring).
    #[inline]
    pub fn payload(&self, seg: &Segment) -> (&[u8], &[u8]) {
        self.send_q.slices_at(seg.payload_offset, seg.payload_len)
    }

    /// `len` bytes of the send queue from offset `off`, as at most two
    /// slices: the payload of a [`PlainSegment`] or [`BulkSegment`].
    #[inline]
    pub fn payload_at(&self, off: usize, len: usize) -> (&[u8], &[u8]) {
        self.send_q.slices_at(off, len)
    }

    /// Whether data is queued beyond SND.NXT on a connection that may
    /// send it: a yes from [`wants_transmit`](Self::wants_transmit),
    /// inline (the transmit fast path asks it after every segment).
    #[inline]
    pub fn has_unsent(&self) -> bool {
        matches!(self.state, State::Established | State::CloseWait)
            && self.unsent_len_synchronized() > 0
    }

    /// The part of the send queue a [`BulkSegment`] refers to.
    #[inline]
    pub fn bulk_payload(&self, seg: &BulkSegment) -> (&[u8], &[u8]) {
        self.send_q.slices_at(seg.payload_offset, seg.payload_len)
    }

    /// Whether `poll_transmit` would return something now (ignoring Nagle and
    /// window limits, so it may say yes and then send nothing).
    pub fn wants_transmit(&self) -> bool {
        // The flags in one test (one byte): most connections asked (after
        // every packet and user call) have nothing to send, and one that
        // owes an ACK is answered here.
        let flags = self.txf.has(TxFlags::WANTS);
        // The synchronized states but TIME-WAIT (nearly every connection
        // asked) in one range test, not the jump table of the match below.
        if self.state.is_synchronized() && self.state != State::TimeWait {
            return flags || self.wants_transmit_synchronized();
        }
        self.wants_transmit_unsynchronized(flags)
    }

    /// `wants_transmit` in a synchronized state but TIME-WAIT when no
    /// flag asks for a segment: data queued, a FIN to send, something to
    /// send again.
    #[inline(always)]
    fn wants_transmit_synchronized(&self) -> bool {
        self.unsent_len_synchronized() > 0
            || (self.fin_queued && !self.fin_sent_synchronized())
            || self.snd_nxt != self.snd_max
            || self.rst_reply_pending()
            // Last: its rare out-of-line part is then a tail call.
            || self.loss_wants_transmit()
    }

    /// [`wants_transmit`](Self::wants_transmit) in CLOSED, LISTEN,
    /// SYN-SENT, SYN-RECEIVED and TIME-WAIT (`flags`: an RST, ACK, fast
    /// retransmission or probe is due); the other states as there.
    #[inline(never)]
    fn wants_transmit_unsynchronized(&self, flags: bool) -> bool {
        match self.state {
            // As `poll_transmit`: a closed connection sends only its RSTs.
            // A stale flag (an ACK owed when an abort came) must not keep
            // it from being retired — it would sit in the demultiplexing
            // table and swallow the peer's segments instead of answering
            // them with RST (found by `synfin soak`, seed 2).
            State::Closed => self.txf.has(TxFlags::SEND_RST) || self.rst_reply_pending(),
            _ if flags => true,
            State::SynSent | State::SynReceived => {
                self.snd_nxt == self.iss || self.rst_reply_pending() || self.loss_wants_transmit()
            }
            State::Listen | State::TimeWait => {
                self.rst_reply_pending() || self.loss_wants_transmit()
            }
            _ => self.wants_transmit_synchronized(),
        }
    }

    /// The earliest of the deadlines sending a segment can have moved
    /// earlier — the retransmission timer and the tail-loss probe (a send
    /// clears the delayed ACK's and arms no other) — for a stack whose
    /// timer heap already covered the connection's other deadlines.
    #[inline]
    pub fn sent_deadline(&self) -> Option<Instant> {
        Instant::earliest([self.rto_at, self.loss_probe_at()])
    }

    /// [`poll_transmit`](Self::poll_transmit) when its answer is the SYN
    /// of an active open (SYN-SENT, nothing sent yet, no RST due): that
    /// SYN, with the same updates; `None` having changed nothing
    /// otherwise. For the stack's transmit path, which writes it without
    /// asking for the segments that cannot apply. A SYN that offers
    /// everything (MSS, window scale, SACK, timestamps; no message mode) —
    /// every connect's, by default — comes as the fields of
    /// [`UsualSyn`], which `emit_syn_v4` writes without building an
    /// option list; any other as a [`Segment`].
    #[inline]
    pub fn poll_syn(&mut self, now: Instant) -> Option<SynOut> {
        if self.state != State::SynSent
            || self.snd_nxt != self.iss
            || self.txf.has(TxFlags::SEND_RST)
            || self.rst_reply_pending()
        {
            return None;
        }
        if self.no_options()
            || !self.offers(Settings::OFFER_TS | Settings::OFFER_WSCALE | Settings::OFFER_SACK)
            || self.opts.message_mode
        {
            return Some(SynOut::General(self.syn_segment(now)));
        }
        // What `syn_segment` builds for this case, as fields.
        let flags = if self.opts.ecn {
            TcpFlags::SYN | crate::tcp::ecn::SYN_FLAGS
        } else {
            TcpFlags::SYN
        };
        let tsval = self.now_ts(now);
        let window = self.syn_sent(now);
        Some(SynOut::Usual(UsualSyn {
            src_port: self.local().port(),
            dst_port: self.remote().port(),
            seq: self.iss,
            ack: SeqNum(0),
            flags,
            window,
            urgent: 0,
            mss: self.our_mss(),
            shift: self.opts.rcv_wscale,
            tsval,
            tsecr: 0,
        }))
    }

    fn syn_segment(&mut self, now: Instant) -> Segment {
        // TCP_NOOPT: no option at all, not even the MSS.
        let mut options = TcpOptions {
            mss: (!self.no_options()).then(|| self.our_mss()),
            ..TcpOptions::default()
        };
        let active = self.state == State::SynSent;
        // In SYN-SENT we offer; in a simultaneous open's SYN-ACK we only
        // repeat what both offered.
        if (active && self.offers(Settings::OFFER_WSCALE)) || self.opts.window_scaling {
            options.window_scale = Some(self.opts.rcv_wscale);
        }
        if (active && self.offers(Settings::OFFER_SACK)) || (!active && self.opts.sack_permitted) {
            options.sack_permitted = true;
        }
        if (active && self.offers(Settings::OFFER_TS)) || self.opts.timestamps {
            options.timestamps = Some((self.now_ts(now), if active { 0 } else { self.ts_recent }));
        }
        if self.opts.message_mode {
            // Offered in SYN-SENT; in a simultaneous open's SYN-ACK, echoed
            // only when both sides asked for it (docs/message-mode.md).
            options.experimental = Some(crate::tcp::message::MESSAGE_EXID);
        }
        let mut flags = TcpFlags::SYN;
        let mut ack = SeqNum(0);
        if self.state == State::SynReceived {
            flags |= TcpFlags::ACK;
            ack = self.rcv_nxt;
        }
        // RFC 3168 §6.1.1: an ECN-setup SYN carries ECE and CWR, an
        // ECN-setup SYN-ACK (a simultaneous open's, here) ECE only. After
        // `ecn_syn_retries` retransmissions `opts.ecn` is off (timers.rs).
        if self.opts.ecn {
            flags |= if active {
                crate::tcp::ecn::SYN_FLAGS
            } else {
                TcpFlags::ECE
            };
        }
        let window = self.syn_sent(now);
        Segment {
            seq: self.iss,
            ack,
            flags,
            window,
            options,
            payload_offset: 0,
            payload_len: 0,
            ect: false,
        }
    }

    /// What sending our SYN (or a simultaneous open's SYN-ACK) changes:
    /// SND.NXT past it, SND.MAX, the RTT probe of a first transmission and
    /// the retransmission timer; returns the window to announce.
    #[inline(always)]
    fn syn_sent(&mut self, now: Instant) -> u16 {
        self.snd_nxt = self.iss + 1u32;
        if self.snd_max.diff(self.snd_nxt) < 0 || self.snd_max == self.iss {
            self.snd_max = self.snd_nxt;
        }
        if self.retries == 0 && self.rtt_probe.is_none() {
            self.rtt_probe = Some((self.iss, SentAt::new(now)));
        }
        if self.rto_at.is_none() {
            self.restart_rto(now);
        }
        // The window of a SYN is never scaled (RFC 7323 §2.2).
        self.recv_q.window().min(65535) as u16
    }

    /// The transmit fast path, the sender's counterpart of header
    /// prediction: the next full-sized segment of new data of an
    /// ESTABLISHED or CLOSE-WAIT connection with SACK on, nothing to
    /// retransmit or probe, no FIN queued, no pacing, and room for a whole
    /// segment in both the peer's window and the congestion window (every
    /// segment of a bulk transfer). In that case `data_segment` would skip
    /// fast retransmit, find nothing for `loss_retransmit`, take a full
    /// MSS and send it without Nagle's or SWS avoidance's say; this goes
    /// there directly and does the same (the same `build`, the same
    /// updates after it). Anything else returns `None` having changed
    /// nothing, and the general path runs.
    #[inline(always)]
    fn bulk_segment(&mut self, now: Instant) -> Option<BulkSegment> {
        if self.txf.has(TxFlags::FAST_REXMIT)
            || self.txf.has(TxFlags::PERSIST_PROBE)
            || self.fin_queued
            || self.snd_nxt != self.snd_max
            || !matches!(self.state, State::Established | State::CloseWait)
            || self.settings.has(Settings::PACING)
        {
            return None;
        }
        let mss = usize::from(self.opts.snd_mss).max(1);
        let qlen = self.send_q.len();
        let off = self.snd_nxt.diff(self.data_start());
        if off < 0 || qlen.saturating_sub(off as usize) < mss {
            return None;
        }
        let off = off as usize;
        if !self.full_segment_clear(self.flight(), mss) {
            return None;
        }
        let seq = self.snd_nxt;
        // `build` without the SACK blocks, which a full-sized segment has
        // no room for (`sack_blocks_beside` finds none to keep).
        let fields = self.build_fields::<BULK>(now, seq, off, mss, false, false);
        self.snd_nxt = seq + mss;
        self.snd_max = self.snd_nxt;
        if self.rtt_probe.is_none() && self.retries == 0 {
            self.rtt_probe = Some((seq, SentAt::new(now)));
        }
        if self.rto_at.is_none() {
            self.restart_rto(now);
        }
        Some(BulkSegment {
            fields,
            payload_offset: off,
            payload_len: mss,
            deadline: Instant::earliest([self.rto_at, self.loss_probe_at()]),
        })
    }

    fn data_segment(&mut self, now: Instant) -> Option<Segment> {
        if let Some(s) = self.bulk_segment(now) {
            return Some(s.to_segment());
        }
        // Optional pacing (pacing.rs): not before the departure time.
        if self.pacing_holds(now) {
            return None;
        }
        let mss = usize::from(self.opts.snd_mss).max(1);
        let qlen = self.send_q.len();

        // Fast retransmit / NewReno partial ACK: resend the first
        // unacknowledged segment without moving SND.NXT.
        if self.txf.has(TxFlags::FAST_REXMIT) {
            self.txf.clear(TxFlags::FAST_REXMIT);
            let len = qlen.min(mss);
            let fin = self.fin_queued && len == qlen && self.fin_sent();
            if len > 0 || fin {
                return Some(self.build(now, self.snd_una, 0, len, fin, true));
            }
        }
        // SACK recovery (RFC 6675) and tail-loss probes (RFC 8985), loss.rs.
        if let Some(s) = self.loss_retransmit(now) {
            return Some(s);
        }

        let p = self.data_plan();
        let (off, unsent, usable, retransmitting) = (p.off, p.unsent, p.usable, p.retransmitting);

        if self.txf.has(TxFlags::PERSIST_PROBE) {
            // RFC 9293 §3.8.6.1: a zero-window probe carries one byte beyond
            // the window (or the FIN if no byte is left). When the window is
            // open but too small for sender SWS avoidance, this is the
            // override timeout of §3.8.6.2.1: send what the window allows.
            self.txf.clear(TxFlags::PERSIST_PROBE);
            if unsent > 0 {
                let n = unsent.min(mss).min(usable.max(1));
                let mut s = self.build(now, self.snd_nxt, off, n, false, retransmitting);
                // RFC 3168 §6.1.6: a window probe is not ECN-capable.
                self.ecn_unmark_probe(&mut s);
                self.snd_nxt = self.snd_nxt + n;
                if self.snd_max.diff(self.snd_nxt) < 0 {
                    self.snd_max = self.snd_nxt;
                }
                // Keep probing, backing off, until the window opens: the
                // probe is not covered by the retransmission timer, and its
                // answer (an ACK with a zero window) restarts nothing else.
                self.persist_at = Some(now + self.persist_interval());
                return Some(s);
            }
        }

        let (len, fin) = self.data_decide(now, &p)?;
        let seq = self.snd_nxt;
        let seg = self.build(now, seq, off, len, fin, retransmitting);
        self.data_sent(now, seq, len, fin, retransmitting);
        Some(seg)
    }

    /// Where new data would start and what limits it (`data_segment`).
    #[inline(always)]
    fn data_plan(&self) -> DataPlan {
        let (off, qlen) = self.send_offset();
        self.data_plan_at(off, qlen, self.fin_unsent())
    }

    /// Where SND.NXT stands in the send queue: its offset there (at most
    /// the queue's length) and that length.
    #[inline(always)]
    fn send_offset(&self) -> (usize, usize) {
        let qlen = self.send_q.len();
        let off = (self.snd_nxt.diff(self.data_start()).max(0) as usize).min(qlen);
        (off, qlen)
    }

    /// [`send_offset`](Self::send_offset) in a synchronized state, where
    /// our SYN is acknowledged (every way into ESTABLISHED acknowledges
    /// it), so the send queue starts at SND.UNA: the ISS need not be
    /// asked (`data_start`). (Also right after SND.UNA has come round to
    /// the ISS again, 4 GiB later, which `data_start` takes for an
    /// unacknowledged SYN.)
    #[inline(always)]
    fn send_offset_synchronized(&self) -> (usize, usize) {
        debug_assert!(self.state.is_synchronized());
        let qlen = self.send_q.len();
        let off = (self.snd_nxt.diff(self.snd_una).max(0) as usize).min(qlen);
        (off, qlen)
    }

    /// `unsent_len` in a synchronized state (see
    /// `send_offset_synchronized`).
    #[inline(always)]
    fn unsent_len_synchronized(&self) -> usize {
        debug_assert!(self.state.is_synchronized());
        let off = self.snd_nxt.diff(self.snd_una).max(0) as usize;
        self.send_q.len().saturating_sub(off)
    }

    /// `fin_sent` in a synchronized state (see
    /// `send_offset_synchronized`): a FIN queued, and SND.MAX past its
    /// sequence number (or the FIN acknowledged).
    #[inline(always)]
    fn fin_sent_synchronized(&self) -> bool {
        debug_assert!(self.state.is_synchronized());
        self.fin_queued
            && (self.fin_acked || self.snd_max.diff(self.snd_una + self.send_q.len()) > 0)
    }

    /// Whether a FIN is queued and not yet sent (SND.NXT is not past it).
    #[inline(always)]
    fn fin_unsent(&self) -> bool {
        self.fin_queued && self.snd_nxt.diff(self.fin_seq()) <= 0
    }

    /// `data_plan` given what its caller already computed: SND.NXT's
    /// offset `off` in the send queue (at most `qlen`, its length) and
    /// whether a FIN is queued and not yet sent from there on.
    #[inline(always)]
    fn data_plan_at(&self, off: usize, qlen: usize, fin_unsent: bool) -> DataPlan {
        let flight = self.flight();
        let unsent = qlen - off;
        DataPlan {
            off,
            unsent,
            flight,
            // Only ever taken as a bound on the unsent bytes (`data_decide`,
            // the persist probe's `unsent > 0` case), so with nothing
            // unsent (a FIN alone: two a lifecycle) the windows, whose
            // congestion part goes through the loss state, are not asked.
            usable: if unsent == 0 {
                0
            } else {
                self.send_room(flight)
            },
            retransmitting: self.snd_nxt.diff(self.snd_max) < 0,
            fin_unsent,
            qlen,
        }
    }

    /// Whether to send new data at SND.NXT now, and how much (with the
    /// FIN or not): the windows, Nagle and sender SWS avoidance. `None`
    /// arms the persist timer when the window holds data back.
    #[inline(always)]
    fn data_decide(&mut self, now: Instant, p: &DataPlan) -> Option<(usize, bool)> {
        let mss = usize::from(self.opts.snd_mss).max(1);
        let (off, unsent, qlen) = (p.off, p.unsent, p.qlen);
        let len = unsent.min(mss).min(p.usable);
        let fin = p.fin_unsent && off + len == qlen && (len > 0 || unsent == 0);
        let send = if len == 0 {
            // A FIN alone goes once all data has been sent.
            fin
        } else if len == mss || p.retransmitting {
            true
        } else if len == unsent {
            // The whole rest of the queue: Nagle (RFC 9293 §3.7.4) holds a
            // small segment while data is unacknowledged, unless disabled
            // or a FIN follows — in Minshall's variant (as Linux's
            // tcp_nagle_check), only while an earlier small segment is
            // unacknowledged. So the tail of a write just over a multiple
            // of the MSS goes at once behind its full segments instead of
            // waiting for their ACK, which a receiver may delay by its
            // delayed-ACK time (RFC 1122 §4.2.3.2 lets it hold the ACK of
            // one full segment): a request of MSS + 12 bytes would
            // otherwise stall 40 ms. Small writes in a row still coalesce:
            // the first is the small segment in flight.
            self.settings.has(Settings::NODELAY)
                || p.flight == 0
                || fin
                || !self.small_segment_unacked()
        } else {
            // Limited by the window: sender SWS avoidance
            // (RFC 9293 §3.8.6.2.1) sends at least half the largest window.
            self.max_snd_wnd > 0 && len >= (self.max_snd_wnd as usize) / 2
        };
        if !send {
            self.arm_persist(now, unsent);
            return None;
        }
        Some((len, fin))
    }

    /// The updates after sending `[seq, seq + len)` (plus FIN) at SND.NXT:
    /// SND.NXT and SND.MAX, the RTT probe (Karn: not on a retransmission),
    /// the retransmission timer.
    #[inline(always)]
    fn data_sent(
        &mut self,
        now: Instant,
        seq: SeqNum,
        len: usize,
        fin: bool,
        retransmitting: bool,
    ) {
        self.snd_nxt = seq + len + usize::from(fin);
        if self.snd_max.diff(self.snd_nxt) < 0 {
            self.snd_max = self.snd_nxt;
        }
        if len > 0 && len < usize::from(self.opts.snd_mss) {
            self.snd_sml = seq + len;
        }
        if !retransmitting && self.rtt_probe.is_none() && self.retries == 0 {
            self.rtt_probe = Some((seq, SentAt::new(now)));
        }
        if self.rto_at.is_none() {
            // `restart_rto`, inline here (not in the bulk path's copy).
            self.rto_at = Some(now.add_micros(self.rtt.rto_micros()));
        }
    }

    /// Whether a segment shorter than the MSS is in flight (sent and not
    /// yet acknowledged): Minshall's test, Linux's `tcp_minshall_check`.
    #[inline(always)]
    fn small_segment_unacked(&self) -> bool {
        self.snd_sml.diff(self.snd_una) > 0 && self.snd_sml.diff(self.snd_nxt) <= 0
    }

    /// Starts the persist timer when the peer's window holds back queued data
    /// and nothing is in flight to bring a window update (RFC 9293
    /// §3.8.6.1). That includes a window that is open but smaller than
    /// sender SWS avoidance will fill (§3.8.6.2.1): without a timer the
    /// sender would wait forever if the peer's window update were lost.
    fn arm_persist(&mut self, now: Instant, unsent: usize) {
        if unsent > 0 && self.snd_una == self.snd_max && self.persist_at.is_none() {
            self.persist_at = Some(now + self.persist_interval());
        }
    }

    /// A window update with an open window (RFC 9293 §3.10.7.4, the
    /// SND.WL1/SND.WL2 rule) stops the persist timer; `was_zero`: the
    /// window it replaces was zero. Bytes that went out as window probes
    /// were covered by the persist timer, not the retransmission timer
    /// (§3.8.6.1), and with the persist timer stopped nothing would ever
    /// send them again. Past a zero window the peer dropped them (or will
    /// acknowledge them), so they are sent again now from SND.UNA, as after
    /// a timeout; past a window that was merely too small (the SWS
    /// override) they were inside it, so they are timed instead. Without
    /// this a short write behind an unanswered probe byte waits forever:
    /// Nagle holds it behind the byte in flight.
    #[inline]
    pub(super) fn stop_persist(&mut self, now: Instant, was_zero: bool) {
        self.persist_at = None;
        self.persist_backoff = 0;
        if self.rto_at.is_some() || self.snd_una == self.snd_max {
            return;
        }
        if was_zero {
            self.snd_nxt = self.snd_una;
        } else {
            self.restart_rto(now);
        }
    }

    /// The persist timer's current interval: the RTO, backed off
    /// exponentially per probe, capped at a minute.
    fn persist_interval(&self) -> core::time::Duration {
        let backoff = 1u32 << self.persist_backoff.min(10);
        (self.rtt.rto() * backoff).min(self.max_persist())
    }

    fn max_persist(&self) -> core::time::Duration {
        core::time::Duration::from_secs(60)
    }

    pub(super) fn build(
        &mut self,
        now: Instant,
        seq: SeqNum,
        off: usize,
        len: usize,
        fin: bool,
        retransmit: bool,
    ) -> Segment {
        // Before `build_fields`: its `ack_sent` clears the D-SACK block.
        let sack_blocks = self.sack_blocks_beside(len);
        let f = self.build_fields::<GENERAL>(now, seq, off, len, fin, retransmit);
        segment_of(&f, sack_blocks, off, len)
    }

    /// The SACK blocks a segment with `len` bytes of payload carries. A
    /// full-sized segment has no room left for SACK blocks (SND.MSS
    /// already leaves room for the timestamps): keep only the blocks that
    /// fit beside the payload, first (most recent, RFC 2018 §4) first, so
    /// the packet never exceeds the path MTU.
    fn sack_blocks_beside(&self, len: usize) -> SackBlocks {
        let room = usize::from(self.opts.snd_mss).saturating_sub(len);
        let fit = room.saturating_sub(4) / 8;
        if fit == 0 {
            return SackBlocks::new();
        }
        let mut blocks = self.sack_blocks();
        blocks.truncate(fit);
        blocks
    }

    /// Everything `build` does but the SACK blocks: the header fields of
    /// the segment `[seq, seq + len)` (plus FIN) at send-queue offset `off`,
    /// and the bookkeeping of sending it (Karn, the advertised window, ECN,
    /// the ACK it carries, loss recovery's record of it). `PATH`: which
    /// caller — [`BULK`], the transmit fast path's segment (`bulk_segment`'s
    /// conditions hold), or [`PLAIN`], new data or a FIN of `poll_plain`
    /// (`plain_applies` held) — whose loss bookkeeping skips the cases that
    /// cannot arise, or [`GENERAL`].
    #[inline(always)]
    fn build_fields<const PATH: u8>(
        &mut self,
        now: Instant,
        seq: SeqNum,
        off: usize,
        len: usize,
        fin: bool,
        retransmit: bool,
    ) -> SegmentFields {
        if retransmit {
            // Karn: never time a retransmitted segment.
            if let Some((p, _)) = self.rtt_probe {
                if p.diff(seq) >= 0 {
                    self.rtt_probe = None;
                }
            }
        }
        let mut flags = TcpFlags::ACK;
        if fin {
            flags |= TcpFlags::FIN;
        }
        if len > 0 && off + len == self.send_q.len() {
            flags |= TcpFlags::PSH;
        }
        let window = self.advertise();
        let timestamps = self.timestamps_option(now);
        // ECT(0) and CWR on new data only (RFC 3168 §6.1.5), ECE while
        // echoing a CE mark (§6.1.3).
        let ect = self.ecn_mark_flags(&mut flags, !retransmit && len > 0);
        self.ack_sent();
        if PATH == BULK {
            self.loss_on_bulk_send(now, seq, seq + len);
        } else if PATH == PLAIN {
            debug_assert!(!retransmit);
            self.loss_on_plain_send(now, seq, seq + len + usize::from(fin));
        } else {
            self.loss_on_send(now, seq, seq + len + usize::from(fin), retransmit);
        }
        SegmentFields {
            seq,
            ack: self.rcv_nxt,
            flags,
            window,
            timestamps,
            ecn: if ect { Ecn::Ect0 } else { Ecn::NotEct },
        }
    }

    fn ack_if_owed(&mut self, now: Instant) -> Option<Segment> {
        if !self.ack_owed() {
            self.txf.clear(TxFlags::ACK_NOW);
            return None;
        }
        // Before `ack_fields`: its `ack_sent` clears the D-SACK block.
        let sack_blocks = self.sack_blocks();
        let f = self.ack_fields(now);
        // A pure ACK is never ECT (`ack_fields`).
        Some(segment_of(&f, sack_blocks, 0, 0))
    }

    /// An ACK is owed and may be sent in this state.
    #[inline]
    fn ack_owed(&self) -> bool {
        self.txf.has(TxFlags::ACK_NOW)
            && (self.state.is_synchronized() || self.state == State::SynReceived)
    }

    /// The header fields of the ACK `ack_if_owed` sends (its SACK blocks
    /// aside), and the bookkeeping of sending it.
    #[inline(always)]
    fn ack_fields(&mut self, now: Instant) -> SegmentFields {
        // RFC 9293 §3.10.7.4: the peer accepts a zero-length segment only
        // at or after its RCV.NXT. After a timeout our `snd_nxt` is pulled
        // back to SND.UNA (go-back-N), below what the peer may already have;
        // an ACK sent from there would be dropped as old, and two sides
        // retransmitting at once would ignore each other's ACKs forever. So
        // an ACK carries the highest sequence number sent (the RFC's
        // SND.NXT), but not beyond the peer's window (a window probe past a
        // zero window), as Linux's tcp_acceptable_seq does.
        let mut seq = self.snd_max;
        let wnd_end = self.snd_una + self.snd_wnd;
        if self.state.is_synchronized() && seq.diff(wnd_end) > 0 {
            seq = wnd_end;
        }
        let mut flags = TcpFlags::ACK;
        if self.txf.take(TxFlags::REPEAT_FIN)
            && self.state == State::Closing
            && self.fin_sent()
            && !self.fin_acked()
        {
            // TcpConfig::repeat_fin_in_closing: the BSD way, the FIN again.
            seq = self.fin_seq();
            flags |= TcpFlags::FIN;
        }
        let window = self.advertise();
        let timestamps = self.timestamps_option(now);
        // A pure ACK is never ECT, but carries ECE while echoing.
        self.ecn_mark_flags(&mut flags, false);
        self.ack_sent();
        SegmentFields {
            seq,
            ack: self.rcv_nxt,
            flags,
            window,
            timestamps,
            ecn: Ecn::NotEct,
        }
    }

    fn ack_sent(&mut self) {
        self.txf.clear(TxFlags::ACK_NOW);
        self.segs_unacked = 0;
        self.dack_at = None;
        self.dsack = None;
    }

    fn bare(&self, seq: SeqNum, ack: SeqNum, flags: TcpFlags) -> Segment {
        Segment {
            seq,
            ack,
            flags,
            window: 0,
            options: TcpOptions::default(),
            payload_offset: 0,
            payload_len: 0,
            ect: false,
        }
    }

    /// The timestamps option `(TSval, TSecr)` a segment sent at `now`
    /// carries, when they were negotiated (RFC 7323 §3).
    #[inline]
    fn timestamps_option(&self, now: Instant) -> Option<(u32, u32)> {
        self.opts
            .timestamps
            .then(|| (self.now_ts(now), self.ts_recent))
    }

    /// The window to advertise, with receiver-side silly-window avoidance
    /// (RFC 9293 §3.8.6.2.2) and without ever moving the right edge left.
    /// Inline: every segment asks it once (`build_fields`, `ack_fields`),
    /// and out of line the call and the reloads of fields its caller
    /// already holds cost a fifth of its branch-free arithmetic again.
    #[inline]
    fn advertise(&mut self) -> u16 {
        let ws = self.opts.rcv_wscale;
        let avail = self.recv_q.window() as u32;
        let cap = self.recv_q.capacity() as u32;
        let current = self.rcv_adv.diff(self.rcv_nxt).max(0) as u32;
        let mss = u32::from(self.our_mss());
        let step = (cap / 2).min(mss).max(1);
        // Open the window to everything free only once it has grown by
        // `step` (min(MSS, half the buffer)) past what is already offered;
        // otherwise keep offering the current edge, never less (RFC 9293
        // §3.8.6.2.2 SWS avoidance; §3.8.6.2.1, no shrinking). `current` is
        // at most 2^31 and `step` at most 2^16, so the sum cannot overflow.
        let wnd = if avail >= current + step {
            avail
        } else {
            current
        };
        let wnd = wnd.min(65535u32 << ws);
        // `wnd <= 65535 << ws`, so the rounded-up field is at most 65535.
        let mut field = wnd.div_ceil(1 << ws);
        if field << ws > avail.max(current) {
            // Rounding up would promise bytes the queue cannot hold: round
            // down instead. The edge then retreats by less than one scale
            // unit, the retraction RFC 7323 §2.4 accepts as a consequence
            // of scaling (with large scales — auto-tuning picks them — the
            // peer would otherwise send data we must drop forever).
            field = avail >> ws;
        }
        let edge = self.rcv_nxt + (field << ws);
        if edge.diff(self.rcv_adv) > 0 {
            self.rcv_adv = edge;
        }
        field as u16
    }

    /// The window field as it would be advertised now, without side effects.
    pub(crate) fn advertised_window_field(&self) -> u16 {
        let ws = self.opts.rcv_wscale;
        ((self.recv_q.window() as u32) >> ws).min(65535) as u16
    }

    pub(crate) fn our_mss(&self) -> u16 {
        self.local_mss
    }
}
