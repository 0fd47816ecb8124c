//! Header prediction for the receiver of a bulk transfer (Van Jacobson's
//! fast path, as in BSD's `tcp_input` and RFC 7323 Appendix A): the next
//! in-order data segment of an ESTABLISHED connection, which acknowledges
//! nothing new, leaves the window as it was and carries only the
//! timestamps, skips the checks of RFC 9293 §3.10.7.4 whose outcome is
//! already known and goes straight to the text.
//!
//! Two callers share one prediction ([`Connection::rx_predicts`]) and one
//! commit ([`Connection::rx_commit`]):
//!
//! * the stack's receive fast path (`stack/fast_rx.rs`), which reads the
//!   header straight from the packet, copies the text into the receive
//!   queue ([`Connection::rx_stage`]) while it verifies the checksum, and
//!   commits only a segment that verified;
//! * [`Connection::on_segment`] (through `predicted_data`), for segments the
//!   stack parsed in full (IPv6, a trusted link, a direct caller).
//!
//! The light path ([`Connection::rx_light`]) is the same idea for the
//! segments that are not predicted but whose shape fixes the outcome of
//! the first to fourth checks (at RCV.NXT, ACK/PSH/FIN only): the stack
//! hands it the header fields it read, and the ACK, text, FIN and
//! TS.Recent steps run the general path's own code.
//!
//! The prediction only chooses *which* checks run: every step whose outcome
//! is not known (PAWS, the SACK/RACK bookkeeping of an ACK, the window
//! update's SND.WL1/SND.WL2, TS.Recent, the ACK decision; the keep-alive
//! restart) runs the general path's own code, so the two paths cannot
//! drift apart. Any segment that does not match takes the general path
//! unchanged.

use super::input::AckFields;
use super::{Connection, Events};
use crate::tcp::{State, TcpConfig};
use crate::time::Instant;
use crate::wire::{TcpFlags, TcpRepr};

#[cfg(test)]
thread_local! {
    /// Turns header prediction off on this thread (both callers), so tests
    /// can compare a stack that predicts with one that runs every check.
    static DISABLED: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// Runs `f` with header prediction off on this thread: every segment takes
/// the general path of RFC 9293 §3.10.7.4 (tests only).
#[cfg(test)]
pub(crate) fn without_prediction<R>(f: impl FnOnce() -> R) -> R {
    DISABLED.set(true);
    let r = f();
    DISABLED.set(false);
    r
}

/// Whether header prediction is off on this thread (tests only): the
/// shortcuts that must match the general path, the orphan's last ACK
/// (input.rs) among them, are off with it.
#[cfg(test)]
pub(super) fn disabled() -> bool {
    DISABLED.get()
}

/// The header fields header prediction looks at, however they were read
/// (defined beside the fast parse, which reads them into place).
pub(crate) use crate::wire::fast::RxHeader;

impl Connection {
    /// Whether a segment with header `h` and `len` bytes of text is the
    /// predicted one (module docs). Changes nothing.
    ///
    /// In RFC 9293 §3.10.7.4's order: PAWS (RFC 7323 §5.3 R1) passes;
    /// first, SEG.SEQ = RCV.NXT and the text fits RCV.WND, so the segment
    /// is acceptable and nothing needs trimming; second to fourth, no RST,
    /// no SYN; fifth, ACK of SND.UNA — neither too old (RFC 5961 §5.2), nor
    /// of unsent data, nor new, and with text not a duplicate ACK
    /// (RFC 5681 §2) — with the window unchanged; sixth, no URG; seventh,
    /// the text lands at RCV.NXT with no reassembly pending and someone
    /// will read it; eighth, no FIN, none pending. No ECN signal: no ECE,
    /// no CWR, no CE mark on an ECN connection (RFC 3168 §6.1).
    #[inline(always)]
    pub(crate) fn rx_predicts(&self, now: Instant, h: &RxHeader, len: usize) -> bool {
        #[cfg(test)]
        if DISABLED.get() {
            return false;
        }
        let wnd = u32::from(h.window) << self.opts.snd_wscale;
        self.state == State::Established
            // ACK, maybe PSH; no SYN, FIN, RST, URG, ECE or CWR.
            && h.flags.0 & !TcpFlags::PSH.0 == TcpFlags::ACK.0
            && h.seq == self.rcv_nxt
            && h.ack == self.snd_una
            && wnd == self.snd_wnd
            && wnd > 0
            && len > 0
            && len <= self.recv_q.window()
            && !self.recv_q.has_out_of_order()
            && self.peer_fin.is_none()
            && !self.rd_closed
            && !(h.ce && self.opts.ecn)
            && h.timestamps.is_some() == self.opts.timestamps
            && !self.paws_rejects_ts(now, h.timestamps)
    }

    /// Where the predicted segment's `len` bytes of text go: the front of
    /// the receive window, as at most two slices (the ring's wrap). Nothing
    /// is readable or acknowledged until [`rx_commit`](Self::rx_commit);
    /// without it the bytes are never read. Only after
    /// [`rx_predicts`](Self::rx_predicts) said yes.
    // Always inline, as `rx_commit`: the bulk receiver's fast path must not
    // pay a call for each (LLVM outlines them once `receive_packet` grows).
    #[inline(always)]
    pub(crate) fn rx_stage(&mut self, len: usize) -> (&mut [u8], &mut [u8]) {
        self.recv_q.stage_in_order(len)
    }

    /// Takes a predicted segment whose `len` bytes of text are staged
    /// ([`rx_stage`](Self::rx_stage)) and verified: the steps of
    /// RFC 9293 §3.10.7.4 whose outcome the prediction did not fix, then
    /// the keep-alive restart (RFC 9293 §3.8.4) that `on_segment` does for
    /// every segment.
    #[inline(always)]
    pub(crate) fn rx_commit(&mut self, now: Instant, cfg: &TcpConfig, h: &RxHeader, len: usize) {
        self.rx_commit_segment(now, cfg, h, len);
        self.heard_from_peer(now, cfg);
    }

    /// The events gathered since the stack last took them.
    #[inline]
    pub(crate) fn pending_events(&self) -> Events {
        self.events
    }

    #[inline(always)]
    fn rx_commit_segment(&mut self, now: Instant, cfg: &TcpConfig, h: &RxHeader, len: usize) {
        // Fifth: what remains of an ACK of SND.UNA is its SACK/RACK
        // bookkeeping (no blocks: a predicted segment carries none) and the
        // window update, same window, new SND.WL1/SND.WL2.
        self.loss_after_ack_blocks(now, &[]);
        if self.snd_wl1.diff(h.seq) < 0 || (self.snd_wl1 == h.seq && self.snd_wl2.diff(h.ack) <= 0)
        {
            self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
            self.snd_wl1 = h.seq;
            self.snd_wl2 = h.ack;
            // The same window, open (`rx_predicts`): as the general path.
            self.stop_persist(now, false);
        }
        // Seventh: the text, already in place at RCV.NXT (a D-SACK has
        // nothing to report: none of it was held before).
        self.recv_q.commit_in_order(len);
        self.took_in_order_text(now, cfg, len);
        // RFC 7323 §4.3: TS.Recent follows the left edge of the window.
        self.update_ts_recent_ts(now, h.seq, h.timestamps);
    }

    /// Takes `seg` by the fast path if it is predicted; returns false (and
    /// changes nothing) if it is not.
    pub(super) fn predicted_data(
        &mut self,
        now: Instant,
        cfg: &TcpConfig,
        seg: &TcpRepr<'_>,
    ) -> bool {
        // The cheapest of `rx_predicts`' tests first: most segments that
        // reach here unpredicted are pure ACKs or handshake and close
        // segments.
        if seg.payload.is_empty() || self.state != State::Established {
            return false;
        }
        let Some(timestamps) = seg.options.only_timestamps() else {
            return false;
        };
        let h = RxHeader {
            seq: seg.seq,
            ack: seg.ack,
            window: seg.window,
            flags: seg.flags,
            timestamps,
            ce: self.rx_ce(),
        };
        self.predicted_text(now, cfg, &h, seg.payload)
    }

    /// [`predicted_data`](Self::predicted_data) for a header already read.
    #[inline]
    fn predicted_text(&mut self, now: Instant, cfg: &TcpConfig, h: &RxHeader, text: &[u8]) -> bool {
        let len = text.len();
        if !self.rx_predicts(now, h, len) {
            return false;
        }
        let (a, b) = self.rx_stage(len);
        let (pa, pb) = text.split_at(a.len());
        a.copy_from_slice(pa);
        b.copy_from_slice(pb);
        self.rx_commit_segment(now, cfg, h, len);
        true
    }

    /// Whether the light path ([`rx_light`](Self::rx_light)) takes a
    /// segment with header `h`. Changes nothing.
    ///
    /// The segment is at RCV.NXT in a synchronized state past SYN-RECEIVED
    /// (so RFC 9293 §3.10.7.4 "first" accepts it whatever its length and
    /// the window, and nothing needs trimming at the left edge); it passes
    /// PAWS (RFC 7323 §5.3 R1); its control bits are ACK, maybe PSH and
    /// FIN (no RST, SYN, URG, ECE or CWR: "second" to "fourth" and sixth do
    /// nothing, nor does ECN's sender side); its ACK is within
    /// SND.UNA..=SND.MAX (neither too old for RFC 5961 §5.2 nor of unsent
    /// data); it carries no SACK blocks (the options were none or
    /// `NOP,NOP,TS`, which the caller checked); and on an ECN connection no
    /// CE mark (ECN's receiver side does nothing).
    #[inline]
    pub(crate) fn rx_light_accepts(&self, now: Instant, h: &RxHeader) -> bool {
        #[cfg(test)]
        if DISABLED.get() {
            return false;
        }
        matches!(
            self.state,
            State::Established
                | State::FinWait1
                | State::FinWait2
                | State::CloseWait
                | State::Closing
                | State::LastAck
        ) && h.flags.0 & !(TcpFlags::PSH.0 | TcpFlags::FIN.0) == TcpFlags::ACK.0
            && h.seq == self.rcv_nxt
            && h.ack.diff(self.snd_una) >= 0
            && h.ack.diff(self.snd_max) <= 0
            && !(h.ce && self.opts.ecn)
            && !self.paws_rejects_ts(now, h.timestamps)
    }

    /// Takes a segment [`rx_light_accepts`](Self::rx_light_accepts) said
    /// yes to, whose checksum verified: what
    /// [`on_segment`](Self::on_segment) does with it, the checks whose
    /// outcome is known skipped and every other step the general path's
    /// own code (the ACK, the text and FIN, TS.Recent, the keep-alive
    /// restart).
    ///
    /// Header prediction is not tried again: the stack's fast path already
    /// asked [`rx_predicts`](Self::rx_predicts) of a segment that comes
    /// here from an ESTABLISHED connection it could look at, and the steps
    /// below do what the prediction's shortcut would (the two paths agree,
    /// which the stack's tests check packet for packet).
    // Inline: its one caller is the stack's light path, which saves the
    // call's frame per segment.
    #[inline]
    pub(crate) fn rx_light(&mut self, now: Instant, cfg: &TcpConfig, h: &RxHeader, text: &[u8]) {
        let ack = AckFields {
            ack: h.ack,
            window: h.window,
            flags: h.flags,
            text: !text.is_empty(),
            sack_blocks: &[],
        };
        // Fifth, the ACK: `rx_light_accepts` fixed the outcome of its
        // first tests (past SYN-RECEIVED; SND.UNA <= SEG.ACK <= SND.MAX, so
        // not older than SND.UNA - MAX.SND.WND, RFC 5961 §5.2; no SYN, so
        // the window is scaled). RFC 3168's steps after it have nothing to
        // do (no ECE, no CWR, no CE on an ECN connection); seventh and
        // eighth, text and FIN; TS.Recent.
        if self.acceptable_ack(now, cfg, h.seq, &ack, self.opts.snd_wscale) {
            let fin = h.flags.contains(TcpFlags::FIN);
            // A pure ACK has neither: past SYN-RECEIVED, the only FIN the
            // seventh and eighth steps could take without text or a FIN
            // is one at RCV.NXT not yet taken, and they take a FIN as soon
            // as it reaches RCV.NXT (its own segment, or the text that
            // filled the gap before it).
            if fin || !text.is_empty() {
                self.text_and_fin(now, cfg, h.seq, text, fin);
            }
            self.update_ts_recent_ts(now, h.seq, h.timestamps);
        }
        self.heard_from_peer(now, cfg);
    }
}
