//! ECN (RFC 3168) once the handshake agreed on it: which segments go out
//! ECN-capable, the receiver's echo of congestion marks, and the sender's
//! response.
//!
//! * Sender (§6.1.2): new data segments are sent ECT(0). An ACK with ECE is
//!   a congestion signal: the window is reduced through
//!   [`CongestionControl::on_ecn_echo`] as for a loss, nothing is
//!   retransmitted, and the next new data segment carries CWR. Only one
//!   reduction per window of data: an ECE that acknowledges nothing beyond
//!   what was outstanding at the last reduction, or that arrives during loss
//!   recovery (which already reduced the window), does not reduce again.
//! * Receiver (§6.1.3): a CE-marked data segment makes every ACK carry ECE
//!   until a segment with CWR arrives. The first CE mark is acknowledged at
//!   once rather than after the delayed-ACK time, and so is a data segment
//!   with CWR, as Linux does (`__tcp_ecn_check_ce` enters quick-ACK mode
//!   "sender can have a very low cwnd"; `tcp_ecn_accept_cwr` sets
//!   `ICSK_ACK_NOW`).
//! * Never ECT (§6.1.1, §6.1.5, §6.1.6): SYNs, SYN-ACKs, pure ACKs, window
//!   probes, keep-alives, RSTs and retransmissions — a retransmission
//!   marked CE would hide a loss the sender must react to.
//!
//! [`CongestionControl::on_ecn_echo`]: crate::tcp::congestion::CongestionControl::on_ecn_echo

use super::{Connection, Segment, TxFlags};
use crate::tcp::congestion::CongestionControl;
use crate::tcp::TcpConfig;
use crate::time::Instant;
use crate::wire::{Ecn, TcpFlags, TcpRepr};

/// The connection's ECN flags, one byte.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct EcnFlags(u8);

impl EcnFlags {
    /// Receiver: a CE mark arrived and no CWR since — ACKs carry ECE
    /// (Linux's `TCP_ECN_DEMAND_CWR`).
    const DEMAND_CWR: u8 = 0x01;
    /// Sender: the window was reduced — the next new data carries CWR
    /// (Linux's `TCP_ECN_QUEUE_CWR`).
    const QUEUE_CWR: u8 = 0x02;
    /// The segment being processed arrived with CE in its IP header.
    const RX_CE: u8 = 0x04;

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
    fn set(&mut self, bit: u8, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }
}

impl Connection {
    /// Processes one arriving segment together with the ECN field of the IP
    /// header it came in ([`on_segment`](Self::on_segment) is the same for a
    /// Not-ECT packet).
    pub fn on_packet(&mut self, now: Instant, cfg: &TcpConfig, ecn: Ecn, seg: &TcpRepr<'_>) {
        self.ecn.set(EcnFlags::RX_CE, ecn == Ecn::Ce);
        self.on_segment(now, cfg, seg);
        self.ecn.set(EcnFlags::RX_CE, false);
    }

    /// Whether the segment being processed arrived with CE in its IP
    /// header (set by [`on_packet`](Self::on_packet) around `on_segment`).
    pub(super) fn rx_ce(&self) -> bool {
        self.ecn.has(EcnFlags::RX_CE)
    }

    /// Whether ECN was agreed in the handshake.
    pub fn ecn_enabled(&self) -> bool {
        self.opts.ecn
    }

    /// Receiver side (RFC 3168 §6.1.3), for an acceptable segment that got
    /// past the ACK check: CWR ends the echo, then a CE mark on data starts
    /// it (in this order, so a segment with both keeps the echo on, as in
    /// Linux).
    #[inline]
    pub(super) fn ecn_on_receive(&mut self, seg: &TcpRepr<'_>) {
        // The test inline: most connections do not negotiate ECN.
        if self.opts.ecn {
            self.ecn_on_receive_ecn(seg);
        }
    }

    fn ecn_on_receive_ecn(&mut self, seg: &TcpRepr<'_>) {
        let data = !seg.payload.is_empty();
        if seg.flags.contains(TcpFlags::CWR) {
            self.ecn.set(EcnFlags::DEMAND_CWR, false);
            if data {
                // The sender just reduced its window, maybe to one
                // segment: do not make it wait for the delayed ACK.
                self.txf.set(TxFlags::ACK_NOW);
            }
        }
        if data && self.ecn.has(EcnFlags::RX_CE) {
            self.loss().stats.ce_received += 1;
            if !self.ecn.has(EcnFlags::DEMAND_CWR) {
                self.ecn.set(EcnFlags::DEMAND_CWR, true);
                self.txf.set(TxFlags::ACK_NOW);
            }
        }
    }

    /// Sender side (RFC 3168 §6.1.2), after the ACK fields of an acceptable
    /// segment were processed (SND.UNA already moved).
    #[inline]
    pub(super) fn ecn_on_ack(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        // The test inline: most ACKs carry no ECE.
        if self.opts.ecn && seg.flags.contains(TcpFlags::ECE) && !seg.flags.contains(TcpFlags::SYN)
        {
            self.ecn_echo(now);
        }
    }

    fn ecn_echo(&mut self, now: Instant) {
        let (una, max) = (self.snd_una, self.snd_max);
        let flight = self.flight().max(max.diff(una).max(0) as usize);
        let l = self.loss();
        l.stats.ecn_echoes += 1;
        if l.rec.in_recovery() {
            // Loss recovery already reduced the window for this window of
            // data; still tell the receiver we reacted, or it echoes forever.
            self.ecn.set(EcnFlags::QUEUE_CWR, true);
            return;
        }
        if una.diff(l.ecn_high) <= 0 {
            // Nothing sent after the last reduction is acknowledged yet:
            // the same window of data (§6.1.2, "at most once per window").
            return;
        }
        l.cc.on_ecn_echo(now, flight);
        l.ecn_high = max;
        l.stats.ecn_reductions += 1;
        self.ecn.set(EcnFlags::QUEUE_CWR, true);
        tracing::trace!(local = %self.local(), cwnd = self.cwnd_now(), "ECE: window reduced");
    }

    /// Marks an outgoing segment's header fields (every segment `build`,
    /// `bulk_segment` or `ack_fields` writes): adds CWR on new data and ECE
    /// while the receiver echoes to `flags`, and returns whether the
    /// segment goes ECT(0). `new_data`: new data with a payload (false for
    /// retransmissions, window probes and ACKs).
    #[inline]
    pub(super) fn ecn_mark_flags(&mut self, flags: &mut TcpFlags, new_data: bool) -> bool {
        if !self.opts.ecn {
            return false;
        }
        if new_data && self.ecn.has(EcnFlags::QUEUE_CWR) {
            self.ecn.set(EcnFlags::QUEUE_CWR, false);
            *flags |= TcpFlags::CWR;
        }
        if self.ecn.has(EcnFlags::DEMAND_CWR) {
            *flags |= TcpFlags::ECE;
        }
        new_data
    }

    /// Undoes [`ecn_mark_flags`](Self::ecn_mark_flags)'s sender part on a segment that
    /// turned out to be a window probe (§6.1.6: not ECT); its CWR moves to
    /// the next new data.
    pub(super) fn ecn_unmark_probe(&mut self, seg: &mut Segment) {
        seg.ect = false;
        if seg.flags.contains(TcpFlags::CWR) {
            seg.flags = TcpFlags(seg.flags.0 & !TcpFlags::CWR.0);
            self.ecn.set(EcnFlags::QUEUE_CWR, true);
        }
    }
}
