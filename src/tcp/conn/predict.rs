//! Header prediction for the receiver of a bulk transfer (Van Jacobson's
//! fast path, as in BSD's `tcp_input` and RFC 7323 Appendix A): the next
//! in-order data segment of an ESTABLISHED connection, which acknowledges
//! nothing new, leaves the window as it was and carries only the
//! timestamps, skips the checks of RFC 9293 §3.10.7.4 whose outcome is
//! already known and goes straight to the text.
//!
//! The prediction only chooses *which* checks run: every step whose outcome
//! is not known (PAWS, the SACK/RACK bookkeeping of an ACK, the window
//! update's SND.WL1/SND.WL2, ECN, queueing the text and the ACK decision,
//! TS.Recent; `on_segment` still restarts the keep-alive timer) is the general path's own code, so the
//! two paths cannot drift apart. Any segment that does not match takes the
//! general path unchanged.

use super::Connection;
use crate::tcp::{State, TcpConfig};
use crate::time::Instant;
use crate::wire::{TcpFlags, TcpOptions, TcpRepr};

impl Connection {
    /// Takes `seg` by the fast path if it is predicted; returns false (and
    /// changes nothing) if it is not.
    pub(super) fn predicted_data(
        &mut self,
        now: Instant,
        cfg: &TcpConfig,
        seg: &TcpRepr<'_>,
    ) -> bool {
        let wnd = u32::from(seg.window) << self.opts.snd_wscale;
        let predicted = self.state == State::Established
            // ACK, maybe PSH; no SYN, FIN, RST, URG, ECE or CWR.
            && seg.flags.0 & !TcpFlags::PSH.0 == TcpFlags::ACK.0
            && seg.seq == self.rcv_nxt
            && seg.ack == self.snd_una
            && wnd == self.snd_wnd
            && wnd > 0
            && !seg.payload.is_empty()
            && seg.payload.len() <= self.recv_q.window()
            && !self.recv_q.has_out_of_order()
            && self.peer_fin.is_none()
            && self.only_expected_options(&seg.options);
        if !predicted || self.paws_rejects(now, seg) {
            return false;
        }
        // First: SEG.SEQ = RCV.NXT and the text fits the queue, so the
        // segment is acceptable and nothing needs trimming. Second to
        // fourth: no RST, no SYN. Fifth: an ACK of SND.UNA is neither too
        // old, nor of unsent data, nor new, and with text it is not a
        // duplicate ACK (RFC 5681 §2); what remains is the ACK's SACK/RACK
        // bookkeeping and the window update (same window, new SND.WL1).
        self.loss_after_ack(now, seg);
        if self.snd_wl1.diff(seg.seq) < 0
            || (self.snd_wl1 == seg.seq && self.snd_wl2.diff(seg.ack) <= 0)
        {
            self.max_snd_wnd = self.max_snd_wnd.max(wnd);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            self.persist_at = None;
            self.persist_backoff = 0;
        }
        // RFC 3168 §6.1.3: a CE mark on the IP header (no ECE or CWR here).
        self.ecn_on_ack(now, seg);
        self.ecn_on_receive(seg);
        // Seventh: the text (no FIN, none pending: the eighth has nothing
        // to do).
        self.process_text(now, cfg, seg.seq, seg.payload);
        self.update_ts_recent(now, seg.seq, seg);
        true
    }

    /// The options are the timestamps alone when they were negotiated, and
    /// none otherwise.
    fn only_expected_options(&self, o: &TcpOptions) -> bool {
        match o.timestamps {
            Some(ts) if self.opts.timestamps => {
                *o == TcpOptions {
                    timestamps: Some(ts),
                    ..TcpOptions::default()
                }
            }
            None if !self.opts.timestamps => *o == TcpOptions::default(),
            _ => false,
        }
    }
}
