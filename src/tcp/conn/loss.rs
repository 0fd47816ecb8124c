//! The connection's side of loss recovery and congestion control: the calls
//! `input`, `output` and `timers` make into the congestion controller
//! ([`crate::tcp::congestion`]), the recovery episodes
//! ([`crate::tcp::recovery`]), the SACK scoreboard ([`crate::tcp::sack`]) and
//! RACK-TLP ([`crate::tcp::rack`]).
//!
//! All of that state lives in one [`LossState`] box, allocated when the
//! connection first sends or receives data: a connection that never carries
//! data (the idle connections `tests/memory.rs` counts) pays one pointer.
//! The per-segment records inside it are released whenever everything sent
//! is acknowledged.
//!
//! With SACK negotiated, losses are found by RACK (RFC 8985) over the
//! scoreboard, recovery follows RFC 6675 (retransmit what is lost while
//! `pipe` < cwnd) and tail losses are probed by TLP; after a timeout the
//! unSACKed segments are retransmitted, never the SACKed ones. Without SACK
//! the RFC 5681/6582 duplicate-ACK machinery applies, with limited transmit
//! (RFC 3042).

use core::time::Duration;

use super::{Connection, Segment};
use crate::tcp::congestion::{initial_window, CongestionControl, Controller};
use crate::tcp::rack::{Rack, TlpOutcome};
use crate::tcp::recovery::{AckOutcome, Recovery};
use crate::tcp::sack::{Delivered, Scoreboard};
use crate::time::Instant;
use crate::wire::SeqNum;

/// Loss-recovery counters of one connection ([`Connection::loss_stats`]).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LossStats {
    /// Data or FIN segments sent, retransmissions included.
    pub segments_sent: u64,
    /// Segments sent again, for any reason.
    pub retransmits: u64,
    /// Retransmissions that fast recovery sent (third duplicate ACK, a
    /// NewReno partial ACK, or a segment SACK/RACK deemed lost).
    pub fast_retransmits: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Tail-loss probes sent (RFC 8985 §7).
    pub tlp_probes: u64,
    /// Fast-recovery episodes entered.
    pub recoveries: u64,
    /// ACKs that carried a D-SACK block (RFC 2883): a retransmission was
    /// not needed.
    pub dsacks_received: u64,
    /// Segments RACK deemed lost (RFC 8985 §6.2).
    pub rack_marked_lost: u64,
    /// ACKs that carried ECE (RFC 3168 §6.1.2) on an ECN connection.
    pub ecn_echoes: u64,
    /// Window reductions those ECEs caused (at most one per window of data;
    /// none retransmits anything).
    pub ecn_reductions: u64,
    /// Data segments received with CE in the IP header (RFC 3168 §6.1.3).
    pub ce_received: u64,
}

/// Everything about loss recovery and the congestion window, boxed.
#[derive(Debug)]
pub(crate) struct LossState {
    pub(super) cc: Controller,
    pub(super) rec: Recovery,
    pub(super) board: Scoreboard,
    pub(super) rack: Rack,
    /// The tail-loss probe timer (RFC 8985 §7.2).
    pub(super) pto_at: Option<Instant>,
    /// RACK's reordering timer (RFC 8985 §6.3).
    pub(super) reo_at: Option<Instant>,
    /// The PTO fired: the next transmit opportunity sends a probe.
    pub(super) probe_due: bool,
    /// The probe is new data: the next new segment may exceed cwnd.
    pub(super) probe_room: bool,
    /// What the ACK being processed delivered (filled by the cumulative
    /// part, completed by the SACK blocks).
    pub(super) delivered: Delivered,
    pub(super) stats: LossStats,
    /// ECN (conn/ecn.rs): SND.MAX at the last ECE reduction; an ECE
    /// reduces again only once an ACK passes it.
    pub(super) ecn_high: SeqNum,
    // Receive-buffer auto-tuning (autotune.rs).
    pub(super) rcv_rtt_seq: Option<SeqNum>,
    pub(super) rcv_rtt_at: Instant,
    pub(super) rcv_rtt: Option<Duration>,
    pub(super) space_at: Option<Instant>,
    pub(super) space_seq: SeqNum,
    pub(super) space: usize,
    /// Pacing (pacing.rs): the earliest departure of the next data
    /// segment, and whether data is waiting for it.
    pub(super) pace_at: Option<Instant>,
    pub(super) pace_armed: bool,
}

impl LossState {
    /// RFC 8985 §7.2: (re)arms the tail-loss probe timer, unless probing
    /// is off, recovery is under way, or something is SACKed (RACK is on
    /// the case then). `mss` is SND.MSS: with no more than one segment in
    /// flight the probe waits for the delayed ACK too.
    #[inline]
    fn arm_probe(
        &mut self,
        now: Instant,
        srtt_us: Option<u64>,
        rto_at: Option<Instant>,
        mss: usize,
    ) {
        if self.rack.may_probe() && !self.rec.in_recovery() && self.board.sacked_bytes() == 0 {
            let one = self.board.pipe() <= mss;
            self.pto_at = Some(Rack::pto_deadline(now, srtt_us, one, rto_at));
        }
    }
}

thread_local! {
    /// Loss-state boxes of finished connections (spare.rs). Boxes, not
    /// values: the point is to keep the allocations.
    #[allow(clippy::vec_box)]
    static SPARE_LOSS: core::cell::RefCell<Vec<Box<LossState>>> =
        const { core::cell::RefCell::new(Vec::new()) };
}

/// `Box::new` out of line and cold: a new connection's loss state comes
/// from the spare pool once the stack runs (spare.rs); the allocation
/// inline filled the cache lines of `new_loss_state`.
#[cold]
#[inline(never)]
fn boxed_cold<T>(v: T) -> Box<T> {
    Box::new(v)
}

impl Connection {
    /// The loss state, created on first use with the negotiated MSS.
    #[inline]
    pub(super) fn loss(&mut self) -> &mut LossState {
        if self.loss.is_none() {
            // Computed only here: `loss` runs for every segment sent, and
            // the record capacity costs a division.
            self.loss = Some(self.new_loss_state());
        }
        self.loss.as_mut().expect("just created")
    }

    // Out of line: `loss` runs several times per segment and should stay
    // a load and a test.
    #[cold]
    #[inline(never)]
    fn new_loss_state(&self) -> Box<LossState> {
        let mss = usize::from(self.opts.snd_mss).max(1);
        let (alg, iss, cap) = (self.cc_alg(), self.iss, self.record_capacity());
        let fresh = LossState {
            cc: Controller::new(alg, mss),
            rec: Recovery::new(mss, iss),
            board: Scoreboard::new(cap),
            rack: Rack::default(),
            pto_at: None,
            reo_at: None,
            probe_due: false,
            probe_room: false,
            delivered: Delivered::default(),
            stats: LossStats::default(),
            ecn_high: iss,
            rcv_rtt_seq: None,
            rcv_rtt_at: Instant::ZERO,
            rcv_rtt: None,
            space_at: None,
            space_seq: SeqNum(0),
            space: 0,
            pace_at: None,
            pace_armed: false,
        };
        // A finished connection's box when one is kept (spare.rs): the
        // state is created for every connection that carries data.
        match crate::tcp::spare::take(&SPARE_LOSS) {
            Some(mut b) => {
                *b = fresh;
                b
            }
            // The first connections only: the allocation out of line.
            None => boxed_cold(fresh),
        }
    }

    /// Gives the loss state's box back for the next connection (the
    /// connection is done, its block about to be reused).
    pub(super) fn loss_give_back(&mut self) {
        if let Some(mut l) = self.loss.take() {
            // Only the ring: `new_loss_state` writes the whole box before
            // it is used again.
            l.board.release_ring();
            crate::tcp::spare::give(&SPARE_LOSS, l);
        }
    }

    /// Records to keep: one per full segment the send buffer holds, plus
    /// slack for small segments (Nagle off) and the FIN.
    pub(super) fn record_capacity(&self) -> usize {
        let mss = usize::from(self.opts.snd_mss).max(1);
        (self.send_q.capacity() / mss + 16).min(1 << 16)
    }

    /// Whether SACK-based recovery applies (the peer sent SACK-permitted and
    /// we offered it).
    pub(super) fn sack_on(&self) -> bool {
        self.opts.sack_permitted
    }

    /// The congestion window (the initial window until data flows).
    pub(super) fn cwnd_now(&self) -> usize {
        self.loss
            .as_ref()
            .map_or(initial_window(usize::from(self.opts.snd_mss).max(1)), |l| {
                l.cc.cwnd()
            })
    }

    /// The loss-recovery counters.
    pub fn loss_stats(&self) -> LossStats {
        self.loss
            .as_ref()
            .map_or_else(LossStats::default, |l| l.stats)
    }

    /// The slow start threshold, if data has flowed.
    pub fn ssthresh(&self) -> Option<usize> {
        self.loss.as_ref().map(|l| l.cc.ssthresh())
    }

    /// RFC 6675 `pipe` (SACK connections), else FlightSize.
    pub fn pipe(&self) -> usize {
        match &self.loss {
            Some(l) if self.sack_on() => l.board.pipe(),
            _ => self.flight(),
        }
    }

    /// Heap bytes of the loss state.
    pub(super) fn loss_heap_bytes(&self) -> usize {
        self.loss.as_ref().map_or(0, |l| {
            core::mem::size_of::<LossState>() + l.board.heap_bytes()
        })
    }

    /// How many bytes of new data may go now: the peer's window less what
    /// is outstanding, and the congestion window less `pipe` (SACK, RFC 6675
    /// §5) or less FlightSize plus up to two segments of limited transmit on
    /// the first two duplicate ACKs (RFC 3042). A due tail-loss probe of new
    /// data may exceed cwnd by one segment (RFC 8985 §7.3).
    #[inline]
    pub(super) fn send_room(&self, flight: usize) -> usize {
        let rwnd_room = (self.snd_wnd as usize).saturating_sub(flight);
        let mss = usize::from(self.opts.snd_mss).max(1);
        let cwnd_room = match &self.loss {
            None => self.cwnd_now().saturating_sub(flight),
            Some(l) => {
                let cwnd = l.cc.cwnd();
                let mut room = if self.sack_on() {
                    cwnd.saturating_sub(l.board.pipe())
                } else {
                    let limited = if l.rec.in_recovery() {
                        0
                    } else {
                        (l.rec.dup_acks().min(2) as usize) * mss
                    };
                    (cwnd + limited).saturating_sub(flight)
                };
                if l.probe_room {
                    room = room.max(mss);
                }
                room
            }
        };
        rwnd_room.min(cwnd_room)
    }

    /// For the transmit fast path (`output.rs`, `bulk_segment`): SACK is on,
    /// no tail-loss probe is due or pending (so `loss_retransmit` would
    /// send nothing and change nothing), no segment is deemed lost, and
    /// `send_room(flight)` — then the peer's window less `flight` and cwnd
    /// less `pipe` — holds at least `mss`.
    #[inline]
    pub(super) fn full_segment_clear(&self, flight: usize, mss: usize) -> bool {
        let Some(l) = self.loss.as_deref() else {
            return false;
        };
        self.sack_on()
            && !l.probe_due
            && !l.probe_room
            && l.board.next_lost().is_none()
            && (self.snd_wnd as usize).saturating_sub(flight) >= mss
            && l.cc.cwnd().saturating_sub(l.board.pipe()) >= mss
    }

    /// Whether `loss_retransmit` would send nothing and change nothing:
    /// no SACK, or no loss state yet, or no tail-loss probe due or being
    /// sent and nothing deemed lost (`poll_plain` in output.rs).
    #[inline]
    pub(super) fn loss_nothing_to_resend(&self) -> bool {
        !self.sack_on()
            || self
                .loss
                .as_deref()
                .is_none_or(|l| !l.probe_due && !l.probe_room && l.board.next_lost().is_none())
    }

    /// `[seq, end)` (data and possibly FIN) goes out at `now`.
    pub(super) fn loss_on_send(&mut self, now: Instant, seq: SeqNum, end: SeqNum, retrans: bool) {
        if end.diff(seq) <= 0 || !self.state.is_synchronized() {
            return;
        }
        let sack = self.sack_on();
        let srtt_us = self.rtt.srtt_micros();
        let rto_at = self.rto_at;
        let snd_max = if end.diff(self.snd_max) > 0 {
            end
        } else {
            self.snd_max
        };
        let mss = usize::from(self.opts.snd_mss).max(1);
        let wnd_open = self.snd_wnd > 0;
        if self.settings.has(super::block::Settings::PACING) {
            self.pacing_on_send(
                now,
                end.diff(seq) as usize,
                snd_max.diff(self.snd_una).max(0) as usize,
            );
        }
        let l = self.loss();
        l.stats.segments_sent += 1;
        if retrans {
            l.stats.retransmits += 1;
        }
        if !sack {
            return;
        }
        l.board.on_send(seq, end, now);
        l.rec.prr_on_send(end.diff(seq).max(0) as usize);
        if l.probe_room && !retrans {
            l.probe_room = false;
            l.rack.on_probe_sent(snd_max, false);
            l.stats.tlp_probes += 1;
        }
        // RFC 8985 §7.2: arm the probe timer after new data, unless in
        // recovery or with SACKed data (RACK is already on the case), or
        // while the peer's window is closed (the persist timer probes then).
        if !retrans && wnd_open {
            l.arm_probe(now, srtt_us, rto_at, mss);
        }
    }

    /// `loss_on_send` for the transmit fast path's segment (`bulk_segment`
    /// in output.rs): new data `[seq, end)` at SND.MAX of an ESTABLISHED or
    /// CLOSE-WAIT connection with SACK on, no pacing, the loss state in
    /// place and no probe pending (`full_segment_clear` held), so the
    /// branches for anything else are left out; the updates are the same.
    #[inline]
    pub(super) fn loss_on_bulk_send(&mut self, now: Instant, seq: SeqNum, end: SeqNum) {
        let srtt_us = self.rtt.srtt_micros();
        let rto_at = self.rto_at;
        let mss = usize::from(self.opts.snd_mss).max(1);
        let wnd_open = self.snd_wnd > 0;
        debug_assert!(self.sack_on() && self.state.is_synchronized() && end.diff(seq) > 0);
        debug_assert!(!self.settings.has(super::block::Settings::PACING));
        let Some(l) = self.loss.as_deref_mut() else {
            debug_assert!(false, "full_segment_clear requires the loss state");
            return self.loss_on_send(now, seq, end, false);
        };
        debug_assert!(!l.probe_room);
        l.stats.segments_sent += 1;
        l.board.on_send(seq, end, now);
        l.rec.prr_on_send(end.diff(seq) as usize);
        // RFC 8985 §7.2, as in `loss_on_send`.
        if wnd_open {
            l.arm_probe(now, srtt_us, rto_at, mss);
        }
    }

    /// `loss_on_send` for new data or a FIN of `poll_plain` (output.rs):
    /// `[seq, end)` (not empty) at SND.MAX of a synchronized connection
    /// without pacing, and with no tail-loss probe of new data pending
    /// (`plain_applies` held: `loss_nothing_to_resend`), so the branches
    /// for a retransmission, pacing and the probe are left out; the
    /// updates are the same.
    #[inline]
    pub(super) fn loss_on_plain_send(&mut self, now: Instant, seq: SeqNum, end: SeqNum) {
        debug_assert!(self.state.is_synchronized() && end.diff(seq) > 0);
        debug_assert!(!self.settings.has(super::block::Settings::PACING));
        let sack = self.sack_on();
        let srtt_us = self.rtt.srtt_micros();
        let rto_at = self.rto_at;
        let mss = usize::from(self.opts.snd_mss).max(1);
        let wnd_open = self.snd_wnd > 0;
        let l = self.loss();
        l.stats.segments_sent += 1;
        if !sack {
            return;
        }
        debug_assert!(!l.probe_room);
        l.board.on_send_plain(seq, end, now);
        l.rec.prr_on_send(end.diff(seq) as usize);
        // RFC 8985 §7.2, as in `loss_on_send`.
        if wnd_open {
            l.arm_probe(now, srtt_us, rto_at, mss);
        }
    }

    /// The tail-loss probe's deadline (RFC 8985 §7.2), which `loss_on_send`
    /// arms: for the transmit fast path's timer update.
    #[inline]
    pub(super) fn loss_probe_at(&self) -> Option<Instant> {
        self.loss.as_ref().and_then(|l| l.pto_at)
    }

    /// Replaces the controller's ACK handling in `on_new_ack`: the
    /// scoreboard drops what the cumulative ACK covers, then the recovery
    /// episode and the controller see the ACK.
    pub(super) fn loss_on_new_ack(
        &mut self,
        now: Instant,
        ack: SeqNum,
        acked: usize,
        flight_before: usize,
    ) -> AckOutcome {
        let srtt = self.rtt.srtt();
        let sack = self.sack_on();
        // The send queue is already trimmed to the new SND.UNA.
        let idle = self.send_q.is_empty();
        let l = self.loss();
        if sack {
            l.board.on_cumulative_ack(ack, &mut l.delivered);
            l.delivered.acked_bytes += acked;
            if idle {
                // Nothing more to send: the records' memory goes back, as
                // the send queue's does (an idle connection holds none).
                l.board.release_if_empty();
            }
        }
        let out = l
            .rec
            .on_ack(&mut l.cc, now, ack, acked, flight_before, srtt, sack);
        if out == AckOutcome::RecoveryExited {
            l.rack.on_recovery_exit();
        }
        self.snd_autotune();
        out
    }

    /// A duplicate ACK (RFC 5681 §2). Without SACK it may start fast
    /// retransmit (returns true); with SACK the blocks decide, in
    /// [`loss_after_ack_blocks`](Self::loss_after_ack_blocks).
    pub(super) fn loss_on_dup_ack(&mut self, now: Instant) -> bool {
        if self.sack_on() {
            return false;
        }
        let (una, max, flight) = (self.snd_una, self.snd_max, self.flight());
        let l = self.loss();
        let fr = l.rec.on_dup_ack(&mut l.cc, now, una, max, flight);
        if fr {
            l.stats.recoveries += 1;
            l.stats.fast_retransmits += 1;
        }
        fr
    }

    /// After the cumulative part of an acceptable ACK: the SACK blocks
    /// (given alone: the receive fast and light paths have no `TcpRepr`),
    /// RACK's loss detection and the tail-loss probe's bookkeeping.
    /// Inlined to its test, so a connection without SACK or loss state
    /// (a bulk receiver's) pays no call per segment.
    #[inline]
    pub(super) fn loss_after_ack_blocks(&mut self, now: Instant, blocks: &[(SeqNum, SeqNum)]) {
        if self.sack_on() && self.loss.is_some() {
            self.loss_after_sack_ack(now, blocks);
        }
    }

    fn loss_after_sack_ack(&mut self, now: Instant, blocks: &[(SeqNum, SeqNum)]) {
        if !blocks.is_empty() {
            let (una, max) = (self.snd_una, self.snd_max);
            if let Some(l) = self.loss.as_deref_mut() {
                l.board.on_sack(blocks, una, max, &mut l.delivered);
            }
        }
        self.loss_after_delivery(now);
    }

    /// The SACK/RACK step of an ACK that moved SND.UNA and carries no SACK
    /// blocks (`on_new_ack`, input.rs, when the caller says none follow):
    /// what [`loss_after_ack_blocks`](Self::loss_after_ack_blocks) would do
    /// next, done inline where the cumulative part was, without a second
    /// call and its frame (every ACK of new data on the light path: two a
    /// lifecycle, most of a bulk sender's).
    #[inline(always)]
    pub(super) fn loss_after_plain_new_ack(&mut self, now: Instant) {
        if self.sack_on() && self.loss.is_some() {
            self.loss_after_delivery(now);
        }
    }

    /// [`loss_after_sack_ack`](Self::loss_after_sack_ack) once the blocks,
    /// if any, are on the scoreboard: RACK's bookkeeping of what was
    /// delivered, its loss detection, PRR and the probe timer.
    #[inline(always)]
    fn loss_after_delivery(&mut self, now: Instant) {
        let (una, max) = (self.snd_una, self.snd_max);
        let flight = max.diff(una).max(0) as usize;
        let (srtt_us, rto_at) = (self.rtt.srtt_micros(), self.rto_at);
        let mss = usize::from(self.opts.snd_mss).max(1);
        let wnd_open = self.snd_wnd > 0;
        // One borrow for the whole ACK (the caller checked the state is
        // there), and the steps whose outcome is known skipped: no blocks
        // (most ACKs) SACK nothing; nothing SACKed leaves RACK nothing to
        // detect (`rack_detect`'s first test, done here).
        let Some(l) = self.loss.as_deref_mut() else {
            return;
        };
        let d = core::mem::take(&mut l.delivered);
        if d.dsack {
            l.stats.dsacks_received += 1;
        }
        l.rack.on_delivered(&d, now);
        l.rack.on_ack_reo_wnd(&d, una, max);
        if l.rack.on_ack_tlp(una) == TlpOutcome::RepairedLoss && !l.rec.in_recovery() {
            // RFC 8985 §7.4: the probe repaired a loss, which the
            // congestion controller must answer as for fast recovery.
            l.cc.on_congestion_event(now, flight);
        }
        if l.board.sacked_bytes() == 0 {
            l.reo_at = None;
        } else {
            self.rack_detect(now);
        }
        let Some(l) = self.loss.as_deref_mut() else {
            return;
        };
        // RFC 6937: the window during recovery follows what was delivered.
        let pipe = l.board.pipe();
        l.rec
            .prr_on_ack(&mut l.cc, d.acked_bytes + d.sacked_bytes, pipe);
        // RFC 8985 §7.2: restart the probe timer on an ACK of new data while
        // data is outstanding and nothing is SACKed; stop it when all is
        // acknowledged. (`pto_deadline` is `now + Rack::pto(srtt, one,
        // rto_at - now)` in whole microseconds.)
        if una == max || !wnd_open {
            l.pto_at = None;
            l.reo_at = None;
        } else if d.newest.is_some() {
            l.arm_probe(now, srtt_us, rto_at, mss);
        }
    }

    /// RACK_detect_loss_and_arm_timer (RFC 8985 §6.2 step 5, §6.3), then
    /// RFC 6675 §5 step (4): a loss beyond the last RecoveryPoint starts a
    /// recovery episode.
    fn rack_detect(&mut self, now: Instant) {
        let (una, max) = (self.snd_una, self.snd_max);
        let flight = max.diff(una).max(0) as usize;
        let srtt = self.rtt.srtt();
        let mss = usize::from(self.opts.snd_mss).max(1);
        let l = self.loss();
        if l.board.sacked_bytes() == 0 {
            l.reo_at = None;
            return;
        }
        let reo = l
            .rack
            .reo_wnd(l.rec.in_recovery(), l.board.sacked_bytes() / mss, srtt);
        let before: usize = l.board.records().filter(|r| r.lost()).count();
        let (lost, timer) = l.rack.detect_loss(&mut l.board, now, reo);
        l.reo_at = timer.map(|d| now + d);
        if lost > 0 {
            let after: usize = l.board.records().filter(|r| r.lost()).count();
            l.stats.rack_marked_lost += after.saturating_sub(before) as u64;
            if l.rec.may_enter_sack_recovery(una) {
                l.rec.enter_sack_recovery(&mut l.cc, now, max, flight);
                l.stats.recoveries += 1;
                l.pto_at = None;
            }
        }
    }

    /// A retransmission chosen by SACK recovery (RFC 6675 NextSeg rule 1)
    /// or a due tail-loss probe, if any may go now.
    pub(super) fn loss_retransmit(&mut self, now: Instant) -> Option<Segment> {
        if !self.sack_on() {
            return None;
        }
        let l = self.loss.as_mut()?;
        if !l.probe_due {
            // No probe due (every segment of a bulk transfer): only what
            // the scoreboard deems lost, which it answers at once when
            // nothing is (the probe's inputs below are not needed).
            l.probe_room = false;
            let (s, e) = l.board.next_lost()?;
            return self.retransmit_lost(now, s, e);
        }
        let unsent = self.unsent_len();
        let mss = usize::from(self.opts.snd_mss).max(1);
        let new_probe_ok = unsent >= mss
            || (unsent > 0 && self.settings.has(super::block::Settings::NODELAY))
            || self.fin_queued;
        let rwnd_open = (self.snd_wnd as usize) > self.flight();
        let fin_unsent = self.fin_queued && !self.fin_sent();
        let max = self.snd_max;
        let l = self.loss.as_mut()?;
        l.probe_room = false;
        if l.probe_due {
            l.probe_due = false;
            if new_probe_ok && rwnd_open && (unsent > 0 || fin_unsent) {
                // New data as the probe: the normal path sends it.
                l.probe_room = true;
                return None;
            }
            if let Some((s, e)) = l.board.last() {
                l.rack.on_probe_sent(max, true);
                l.stats.tlp_probes += 1;
                let seg = self.retransmit_range(now, s, e, mss);
                self.restart_rto(now);
                return seg;
            }
        }
        let (s, e) = l.board.next_lost()?;
        self.retransmit_lost(now, s, e)
    }

    /// Retransmits `[s, e)`, which the scoreboard deems lost, if the
    /// congestion window has room.
    fn retransmit_lost(&mut self, now: Instant, s: SeqNum, e: SeqNum) -> Option<Segment> {
        let mss = usize::from(self.opts.snd_mss).max(1);
        let l = self.loss.as_mut()?;
        // RFC 6675 §5 step (C): only while cwnd - pipe >= 1 SMSS (or the
        // whole segment, if smaller).
        let len = (e.diff(s).max(0) as usize).min(mss);
        if l.cc.cwnd().saturating_sub(l.board.pipe()) < len {
            return None;
        }
        if l.rec.in_recovery() {
            l.stats.fast_retransmits += 1;
        }
        self.retransmit_range(now, s, e, mss)
    }

    /// Builds the retransmission of `[s, e)` (at most one SMSS of data, the
    /// FIN if it lies inside).
    fn retransmit_range(
        &mut self,
        now: Instant,
        s: SeqNum,
        e: SeqNum,
        mss: usize,
    ) -> Option<Segment> {
        let start = self.data_start();
        let qlen = self.send_q.len();
        let off = s.diff(start).max(0) as usize;
        let data_end = start + qlen;
        let data_len = if off >= qlen {
            0
        } else {
            (e.diff(s).max(0) as usize)
                .min(data_end.diff(s).max(0) as usize)
                .min(mss)
        };
        let fin = self.fin_queued
            && self.fin_sent()
            && off + data_len == qlen
            && e.diff(self.fin_seq()) > 0;
        if data_len == 0 && !fin {
            return None;
        }
        Some(self.build(now, s, off.min(qlen), data_len, fin, true))
    }

    /// Whether loss recovery has something to send now.
    ///
    /// Asked with every `wants_transmit` (after every packet and user
    /// call): the answer while nothing is deemed lost inline, and without
    /// a call, so the question stays cheap for the many connections that
    /// have nothing to send.
    #[inline]
    pub(super) fn loss_wants_transmit(&self) -> bool {
        match &self.loss {
            Some(l) if self.sack_on() => {
                l.probe_due || (l.board.has_lost_unsent() && self.loss_lost_fits())
            }
            _ => false,
        }
    }

    /// Whether the first segment deemed lost fits in the congestion
    /// window (RFC 6675 §5's NextSeg, for `loss_wants_transmit`).
    #[cold]
    #[inline(never)]
    fn loss_lost_fits(&self) -> bool {
        let Some(l) = self.loss.as_deref() else {
            return false;
        };
        l.board.next_lost().is_some_and(|(s, e)| {
            let len = (e.diff(s).max(0) as usize).min(usize::from(self.opts.snd_mss));
            l.cc.cwnd().saturating_sub(l.board.pipe()) >= len
        })
    }

    /// The loss timers (probe and reordering), for `poll_timeout`.
    pub(super) fn loss_timeout(&self) -> Option<Instant> {
        let l = self.loss.as_ref()?;
        Instant::earliest([l.pto_at, l.reo_at, self.pacing_timeout()])
    }

    /// Runs the loss timers due at `now`.
    pub(super) fn loss_handle_timeout(&mut self, now: Instant) {
        // A closed peer window is the persist timer's business.
        let outstanding = self.snd_una != self.snd_max && self.snd_wnd > 0;
        self.pacing_handle_timeout(now);
        let Some(l) = self.loss.as_mut() else {
            return;
        };
        if l.reo_at.is_some_and(|t| t <= now) {
            l.reo_at = None;
            self.rack_detect(now);
        }
        let Some(l) = self.loss.as_mut() else {
            return;
        };
        if l.pto_at.is_some_and(|t| t <= now) {
            l.pto_at = None;
            if outstanding && l.rack.may_probe() && !l.rec.in_recovery() {
                l.probe_due = true;
            }
        }
    }

    /// A retransmission timeout: the controller collapses the window; with
    /// SACK every unSACKed segment is deemed lost and recovery retransmits
    /// them (returns false); without, the caller goes back to SND.UNA
    /// (returns true).
    pub(super) fn loss_on_rto(&mut self) -> bool {
        let (max, flight) = (
            self.snd_max,
            self.flight()
                .max(self.snd_max.diff(self.snd_una).max(0) as usize),
        );
        let sack = self.sack_on();
        let l = self.loss();
        l.rec.on_rto(&mut l.cc, flight, max);
        l.rack.on_rto();
        l.pto_at = None;
        l.reo_at = None;
        l.probe_due = false;
        l.stats.timeouts += 1;
        if sack && !l.board.is_empty() {
            l.board.mark_all_lost();
            return false;
        }
        true
    }

    /// Forget the per-segment records (the connection is done).
    pub(super) fn loss_release(&mut self) {
        if let Some(l) = self.loss.as_mut() {
            l.board.release();
            l.pto_at = None;
            l.reo_at = None;
            l.probe_due = false;
        }
    }

    /// The smoothed RTT, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }
}
