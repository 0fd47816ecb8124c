//! RACK-TLP (RFC 8985): time-based loss detection and tail-loss probes.
//!
//! RACK deems a segment lost when a segment sent *later* has been delivered
//! (cumulatively or by SACK) and more than RTT + a reordering window has
//! passed since the lost one was sent (§6.2). Unlike counting three
//! duplicate ACKs it works for retransmissions, for losses at the tail of a
//! flight, and adapts to reordering: the window starts at min_RTT/4, is zero
//! while no reordering has been seen and enough is SACKed, and grows each
//! round in which a D-SACK shows a retransmission was spurious (§6.2 step 4).
//!
//! TLP (§7): when the ACK clock stops with data outstanding, a probe timer
//! (PTO, about two RTTs) fires before the RTO and sends one segment — new
//! data if any, else the last segment again — so the peer's ACK (with SACK)
//! lets RACK find a tail loss without waiting for the RTO.
//!
//! This module holds the state and arithmetic; the scoreboard holds the
//! segments ([`crate::tcp::sack`]) and the connection performs the sends.

use core::time::Duration;

use super::sack::{sent_after, Delivered, Scoreboard};
use crate::time::Instant;
use crate::wire::SeqNum;

/// Worst-case delayed-ACK time assumed for a single-segment flight
/// (RFC 8985 §7.2, WCDelAckT).
pub const WC_DEL_ACK: Duration = Duration::from_millis(200);

/// RACK and TLP state for one connection.
#[derive(Debug, Clone, Default)]
pub struct Rack {
    /// RACK.xmit_ts, and the transmission order that stands in for
    /// RACK.end_seq as tie-break: the most recently sent segment known
    /// delivered.
    xmit_ts: Option<Instant>,
    xmit_order: u32,
    /// RACK.rtt: the RTT measured from that segment, in microseconds
    /// (the clock's unit: every sample is a difference of two instants, so
    /// nothing is rounded, and an ACK's sample is a subtraction and a
    /// compare instead of building and comparing `Duration`s).
    rtt_us: u64,
    /// RACK.min_RTT (a simple all-time minimum, which §6.2 allows as the
    /// windowed filter's degenerate case), in microseconds.
    min_rtt_us: Option<u64>,
    /// RACK.reordering_seen.
    reordering_seen: bool,
    /// RACK.reo_wnd_mult less one (so the default is the RFC's initial 1)
    /// and RACK.reo_wnd_persist (§6.2 step 4).
    reo_wnd_mult: u32,
    reo_wnd_persist: u32,
    /// RACK.dsack_round: SND.MAX when a D-SACK last widened the window.
    dsack_round: Option<SeqNum>,
    /// TLP.end_seq: the probe outstanding, if any (§7.3).
    tlp_end_seq: Option<SeqNum>,
    /// TLP.is_retrans.
    tlp_is_retrans: bool,
    /// A D-SACK arrived since the probe: it was not needed.
    tlp_dsack: bool,
}

/// What one ACK told TLP (§7.4).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TlpOutcome {
    /// No probe outstanding, or not yet resolved.
    None,
    /// The probe's episode ended and the probe repaired a real loss: the
    /// caller applies a congestion response.
    RepairedLoss,
    /// The probe was not needed (new data, or a D-SACK showed the original
    /// arrived).
    NoLoss,
}

impl Rack {
    /// RACK.min_RTT, once measured.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt_us.map(Duration::from_micros)
    }

    /// Whether the path was seen to reorder.
    pub fn reordering_seen(&self) -> bool {
        self.reordering_seen
    }

    /// RFC 8985 §6.2 steps 1–3: learn from what an ACK delivered at `now`.
    pub fn on_delivered(&mut self, d: &Delivered, now: Instant) {
        if d.reordered {
            self.reordering_seen = true;
        }
        let Some((sent, order, retrans)) = d.newest else {
            return;
        };
        let rtt = now.total_micros().saturating_sub(sent.total_micros());
        // Step 2: a retransmitted segment's ACK may be for the original;
        // an RTT shorter than the minimum proves it was.
        if retrans && self.min_rtt_us.is_some_and(|m| rtt < m) {
            return;
        }
        if !retrans {
            self.min_rtt_us = Some(self.min_rtt_us.map_or(rtt, |m| m.min(rtt)));
        }
        let newer = match self.xmit_ts {
            None => true,
            Some(t) => sent_after(sent, order, t, self.xmit_order),
        };
        if newer {
            self.xmit_ts = Some(sent);
            self.xmit_order = order;
            self.rtt_us = rtt;
        }
    }

    /// RFC 8985 §6.2 step 4 bookkeeping for one ACK: a D-SACK widens the
    /// reordering window once per round trip; each recovery that ends
    /// without one counts down towards resetting it.
    pub fn on_ack_reo_wnd(&mut self, d: &Delivered, snd_una: SeqNum, snd_max: SeqNum) {
        if self.dsack_round.is_some_and(|r| snd_una.diff(r) >= 0) {
            self.dsack_round = None;
        }
        if d.dsack {
            self.tlp_dsack = true;
            if self.dsack_round.is_none() {
                self.dsack_round = Some(snd_max);
                self.reo_wnd_mult = self.reo_wnd_mult.saturating_add(1).min(64);
                self.reo_wnd_persist = 16;
            }
        }
    }

    /// Loss recovery ended without a D-SACK having widened the window.
    pub fn on_recovery_exit(&mut self) {
        if self.reo_wnd_persist > 0 {
            self.reo_wnd_persist -= 1;
            if self.reo_wnd_persist == 0 {
                self.reo_wnd_mult = 0;
            }
        }
    }

    /// RACK.reo_wnd (§6.2 step 4): zero while no reordering was seen and we
    /// are in recovery or at least DupThresh segments are SACKed (so RACK is
    /// never slower than RFC 6675); otherwise min_RTT/4 times the D-SACK
    /// multiplier, at most SRTT.
    pub fn reo_wnd(
        &self,
        in_recovery: bool,
        sacked_segs: usize,
        srtt: Option<Duration>,
    ) -> Duration {
        if !self.reordering_seen && (in_recovery || sacked_segs >= 3) {
            return Duration::ZERO;
        }
        let base = self.min_rtt().unwrap_or(Duration::ZERO) / 4;
        let w = base * (self.reo_wnd_mult + 1);
        srtt.map_or(w, |s| w.min(s))
    }

    /// RFC 8985 §6.2 step 5: marks lost every outstanding segment sent
    /// before RACK.xmit_ts by more than RACK.rtt + `reo_wnd`. Returns the
    /// bytes newly marked and, if some segment is not yet due, how long
    /// until it is (the reordering timer, §6.3).
    pub fn detect_loss(
        &self,
        board: &mut Scoreboard,
        now: Instant,
        reo_wnd: Duration,
    ) -> (usize, Option<Duration>) {
        let Some(xmit_ts) = self.xmit_ts else {
            return (0, None);
        };
        let mut lost = 0;
        let mut timeout: Option<Duration> = None;
        for i in 0..board.len() {
            let Some(r) = board.get(i).copied() else {
                break;
            };
            if r.sacked() || (r.lost() && !r.retransmitted()) {
                continue;
            }
            if !sent_after(xmit_ts, self.xmit_order, r.sent, r.order) {
                continue;
            }
            let due = r.sent.add_micros(self.rtt_us) + reo_wnd;
            if due <= now {
                lost += board.mark_lost(i);
            } else {
                let left = due - now;
                timeout = Some(timeout.map_or(left, |t| t.max(left)));
            }
        }
        (lost, timeout)
    }

    /// The probe timeout (§7.2): 2·SRTT, plus the worst-case delayed-ACK time
    /// when only one segment is in flight, no later than the RTO; 1 s before
    /// any RTT sample.
    pub fn pto(srtt: Option<Duration>, one_segment: bool, rto_left: Option<Duration>) -> Duration {
        let mut pto = srtt.map_or(Duration::from_secs(1), |s| 2 * s);
        if one_segment && srtt.is_some() {
            pto += WC_DEL_ACK;
        }
        rto_left.map_or(pto, |r| pto.min(r))
    }

    /// `now + Rack::pto(srtt, one_segment, rto_at - now)`, the probe
    /// deadline armed after every new data segment, computed in the whole
    /// microseconds [`Instant`] counts (every input is whole microseconds,
    /// so the result is the same instant) without `Duration` arithmetic.
    pub fn pto_deadline(
        now: Instant,
        srtt_us: Option<u64>,
        one_segment: bool,
        rto_at: Option<Instant>,
    ) -> Instant {
        let mut pto = srtt_us.map_or(1_000_000, |s| 2 * s);
        if one_segment && srtt_us.is_some() {
            pto += WC_DEL_ACK.as_micros() as u64;
        }
        let now_us = now.total_micros();
        if let Some(t) = rto_at {
            pto = pto.min(t.total_micros().saturating_sub(now_us));
        }
        Instant::from_micros(now_us.saturating_add(pto))
    }

    /// Whether a new probe may be sent: none outstanding (§7.3).
    pub fn may_probe(&self) -> bool {
        self.tlp_end_seq.is_none()
    }

    /// A probe was sent: `snd_max` after it, and whether it was a
    /// retransmission (§7.3).
    pub fn on_probe_sent(&mut self, snd_max: SeqNum, retrans: bool) {
        self.tlp_end_seq = Some(snd_max);
        self.tlp_is_retrans = retrans;
        self.tlp_dsack = false;
    }

    /// RFC 8985 §7.4: once the cumulative ACK covers the probe, decide
    /// whether it repaired a loss: a retransmitted probe with no D-SACK
    /// means the original was lost, so the congestion controller must
    /// react; a D-SACK or a probe of new data means nothing was lost.
    pub fn on_ack_tlp(&mut self, snd_una: SeqNum) -> TlpOutcome {
        let Some(end) = self.tlp_end_seq else {
            return TlpOutcome::None;
        };
        if snd_una.diff(end) < 0 {
            return TlpOutcome::None;
        }
        self.tlp_end_seq = None;
        if self.tlp_is_retrans && !self.tlp_dsack {
            TlpOutcome::RepairedLoss
        } else {
            TlpOutcome::NoLoss
        }
    }

    /// A retransmission timeout ends any probe episode.
    pub fn on_rto(&mut self) {
        self.tlp_end_seq = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }
    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn later_delivery_marks_earlier_segment_after_rtt_plus_window() {
        let mut b = Scoreboard::new(16);
        for k in 0..4u32 {
            b.on_send(SeqNum(k * 100), SeqNum(k * 100 + 100), t(u64::from(k)));
        }
        let mut rack = Rack::default();
        // At 50 ms segment 3 is SACKed; segments 0..2 were sent before it.
        let mut d = Delivered::default();
        b.on_sack(
            &[(SeqNum(300), SeqNum(400))],
            SeqNum(0),
            SeqNum(400),
            &mut d,
        );
        rack.on_delivered(&d, t(50));
        assert_eq!(rack.min_rtt(), Some(ms(47)));
        // Not in recovery, one segment SACKed: window min_RTT/4 = 11.75 ms.
        let w = rack.reo_wnd(false, 1, Some(ms(47)));
        assert_eq!(w, Duration::from_micros(11_750));
        let (lost, timer) = rack.detect_loss(&mut b, t(50), w);
        assert_eq!(lost, 0);
        // Segment 0 is due at 0 + 47 + 11.75 ms: the timer waits the
        // longest of the three (segment 2, due at 60.75 ms).
        assert_eq!(timer, Some(Duration::from_micros(10_750)));
        let (lost, timer) = rack.detect_loss(&mut b, t(61), w);
        assert_eq!((lost, timer), (300, None));
        assert_eq!(b.next_lost(), Some((SeqNum(0), SeqNum(100))));
        // With no reordering seen, in recovery the window is zero.
        assert_eq!(rack.reo_wnd(true, 1, Some(ms(47))), Duration::ZERO);
        assert_eq!(rack.reo_wnd(false, 3, Some(ms(47))), Duration::ZERO);
    }

    #[test]
    fn dsack_widens_window_once_per_round() {
        let mut rack = Rack::default();
        let mut d = Delivered {
            newest: Some((t(0), 0, false)),
            reordered: true,
            ..Delivered::default()
        };
        rack.on_delivered(&d, t(40));
        assert!(rack.reordering_seen());
        assert_eq!(rack.reo_wnd(true, 5, None), ms(10));
        d.dsack = true;
        rack.on_ack_reo_wnd(&d, SeqNum(100), SeqNum(1000));
        rack.on_ack_reo_wnd(&d, SeqNum(200), SeqNum(1000));
        assert_eq!(rack.reo_wnd(true, 5, None), ms(20), "once per round");
        rack.on_ack_reo_wnd(&d, SeqNum(1000), SeqNum(2000));
        assert_eq!(rack.reo_wnd(true, 5, None), ms(30), "round ended; new one");
        rack.on_ack_reo_wnd(&d, SeqNum(1100), SeqNum(2000));
        assert_eq!(rack.reo_wnd(true, 5, None), ms(30));
        assert_eq!(
            rack.reo_wnd(true, 5, Some(ms(25))),
            ms(25),
            "capped at SRTT"
        );
        for _ in 0..16 {
            rack.on_recovery_exit();
        }
        assert_eq!(rack.reo_wnd(true, 5, None), ms(10), "multiplier reset");
    }

    #[test]
    fn probe_timeout_and_outcome() {
        assert_eq!(Rack::pto(None, false, None), Duration::from_secs(1));
        assert_eq!(Rack::pto(Some(ms(20)), false, None), ms(40));
        assert_eq!(Rack::pto(Some(ms(20)), true, None), ms(240));
        assert_eq!(Rack::pto(Some(ms(20)), true, Some(ms(100))), ms(100));
        // The deadline form is the same instant as `now + pto`.
        let now = Instant::from_micros(5_000_123);
        for srtt in [None, Some(1u64), Some(20_000), Some(3_000_001)] {
            for one in [false, true] {
                for rto_at in [
                    None,
                    Some(now),
                    Some(Instant::from_micros(4_000_000)),
                    Some(now + ms(37)),
                ] {
                    let left = rto_at.map(|t| t - now);
                    let d = srtt.map(Duration::from_micros);
                    assert_eq!(
                        Rack::pto_deadline(now, srtt, one, rto_at),
                        now + Rack::pto(d, one, left)
                    );
                }
            }
        }
        let mut rack = Rack::default();
        assert!(rack.may_probe());
        rack.on_probe_sent(SeqNum(500), true);
        assert!(!rack.may_probe());
        assert_eq!(rack.on_ack_tlp(SeqNum(400)), TlpOutcome::None);
        assert_eq!(rack.on_ack_tlp(SeqNum(500)), TlpOutcome::RepairedLoss);
        assert!(rack.may_probe());
        rack.on_probe_sent(SeqNum(600), true);
        let d = Delivered {
            dsack: true,
            ..Delivered::default()
        };
        rack.on_ack_reo_wnd(&d, SeqNum(500), SeqNum(600));
        assert_eq!(rack.on_ack_tlp(SeqNum(600)), TlpOutcome::NoLoss);
        rack.on_probe_sent(SeqNum(700), false);
        assert_eq!(rack.on_ack_tlp(SeqNum(700)), TlpOutcome::NoLoss);
    }
}
