//! Congestion control: RFC 5681 slow start, congestion avoidance and fast
//! retransmit, with the RFC 6582 NewReno modification to fast recovery.
//!
//! The connection owns the definitions: it decides what counts as a
//! duplicate ACK (RFC 5681 §2), measures FlightSize, and performs the
//! retransmissions this module asks for. This module only keeps cwnd,
//! ssthresh and the recovery state.

use crate::wire::SeqNum;

/// "Arbitrarily high" initial ssthresh (RFC 5681 §3.1), also the ceiling for
/// cwnd so that arithmetic can never overflow.
const INITIAL_SSTHRESH: usize = usize::MAX / 2;

/// What the connection must do after an ACK that advanced SND.UNA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// Nothing special: send what cwnd and the peer's window allow.
    Normal,
    /// A partial ACK during fast recovery: retransmit the first unacknowledged
    /// segment now (RFC 6582 §3.2 step 5). Recovery continues.
    PartialAck,
    /// A full ACK ended fast recovery (RFC 6582 §3.2 step 5, full ACK case).
    RecoveryExited,
}

/// NewReno congestion control state for one connection (all sizes in bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewReno {
    cwnd: usize,
    ssthresh: usize,
    mss: usize,
    /// Consecutive duplicate ACKs seen.
    dup_acks: u32,
    /// RFC 6582 `recover`: SND.NXT when fast recovery (or the last RTO)
    /// started. Kept as "one past the highest sequence number transmitted",
    /// so a full ACK is `ack >= recover` and the §3.2 step 1 test "the ACK
    /// covers more than recover" is `snd_una > recover`.
    recover: SeqNum,
    in_recovery: bool,
    /// Bytes acknowledged in congestion avoidance since cwnd last grew
    /// (appropriate byte counting, RFC 5681 §3.1 / RFC 3465).
    bytes_acked: usize,
    /// A retransmission timeout happened and no new data has been
    /// acknowledged since: a further timeout is for the same segment, and
    /// RFC 5681 §3.1 then leaves ssthresh alone rather than halving it again
    /// from the already-collapsed flight.
    rto_pending: bool,
}

/// Initial window, RFC 5681 §3.1 equation (1).
fn initial_window(mss: usize) -> usize {
    if mss > 2190 {
        2 * mss
    } else if mss > 1095 {
        3 * mss
    } else {
        4 * mss
    }
}

impl NewReno {
    /// State for a new connection with sender MSS `mss` (SMSS) and initial
    /// send sequence number `iss`. cwnd starts at the RFC 5681 §3.1 initial
    /// window; ssthresh is arbitrarily high; `recover` starts at ISS (RFC
    /// 6582 §3.2 step 1). An `mss` of 0 is treated as 1.
    pub fn new(mss: usize, iss: SeqNum) -> Self {
        let mss = mss.clamp(1, INITIAL_SSTHRESH / 4);
        NewReno {
            cwnd: initial_window(mss),
            ssthresh: INITIAL_SSTHRESH,
            mss,
            dup_acks: 0,
            recover: iss,
            in_recovery: false,
            bytes_acked: 0,
            rto_pending: false,
        }
    }

    /// Update SMSS (after MSS negotiation or a path MTU change). If cwnd is
    /// still the initial window for the old MSS it is recomputed for the new
    /// one, so the usual call right after the handshake gets the right IW;
    /// otherwise cwnd (a byte count) is kept.
    pub fn set_mss(&mut self, mss: usize) {
        let mss = mss.clamp(1, INITIAL_SSTHRESH / 4);
        if self.cwnd == initial_window(self.mss) {
            self.cwnd = initial_window(mss);
        }
        self.mss = mss;
    }

    /// The congestion window.
    #[inline]
    pub fn cwnd(&self) -> usize {
        self.cwnd
    }

    /// The slow start threshold.
    #[inline]
    pub fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    /// Whether NewReno fast recovery is in progress.
    #[inline]
    pub fn in_recovery(&self) -> bool {
        self.in_recovery
    }

    /// Consecutive duplicate ACKs counted.
    #[inline]
    pub fn dup_acks(&self) -> u32 {
        self.dup_acks
    }

    /// ssthresh after a loss: RFC 5681 §3.1 equation (4), also RFC 6582
    /// §3.2 step 2.
    fn loss_ssthresh(&self, flight: usize) -> usize {
        (flight / 2).max(2 * self.mss)
    }

    /// An ACK that advanced SND.UNA to `ack` by `acked` bytes (> 0);
    /// `flight_before` is FlightSize before this ACK. Resets the duplicate
    /// ACK count.
    ///
    /// * Outside recovery, below ssthresh: slow start, cwnd += min(acked,
    ///   SMSS) (RFC 5681 §3.1 equation (2)).
    /// * Outside recovery, at or above ssthresh: congestion avoidance using
    ///   byte counting, the method RFC 5681 §3.1 RECOMMENDS: cwnd grows by
    ///   SMSS each time a cwnd's worth of bytes has been acknowledged, i.e.
    ///   by about one SMSS per RTT regardless of delayed ACKs.
    /// * In recovery, a full ACK (`ack >= recover`) sets cwnd =
    ///   min(ssthresh, max(FlightSize, SMSS) + SMSS) and exits (RFC 6582 §3.2
    ///   step 5, option 1); a partial ACK deflates cwnd by `acked`, adds back
    ///   SMSS if at least SMSS was acknowledged, and asks for a retransmission
    ///   of the first unacknowledged segment.
    pub fn on_ack(&mut self, ack: SeqNum, acked: usize, flight_before: usize) -> AckOutcome {
        self.dup_acks = 0;
        self.rto_pending = false;
        if self.in_recovery {
            if ack >= self.recover {
                let flight_after = flight_before.saturating_sub(acked);
                self.cwnd = self
                    .ssthresh
                    .min(flight_after.max(self.mss).saturating_add(self.mss));
                self.in_recovery = false;
                self.bytes_acked = 0;
                return AckOutcome::RecoveryExited;
            }
            // Partial ACK. Keeping at least one SMSS (not in RFC 6582) avoids
            // a zero window that would stall sending after the retransmission.
            let mut cwnd = self.cwnd.saturating_sub(acked);
            if acked >= self.mss {
                cwnd += self.mss;
            }
            self.cwnd = cwnd.max(self.mss);
            return AckOutcome::PartialAck;
        }
        // Drag `recover` along once the ACK has passed it: only "ack > recover"
        // matters, and a stale value would compare wrongly after 2^31 bytes
        // of sequence space.
        if ack > self.recover {
            self.recover = ack - 1u32;
        }
        if self.cwnd < self.ssthresh {
            self.cwnd += acked.min(self.mss);
            self.bytes_acked = 0;
        } else {
            self.bytes_acked = self.bytes_acked.saturating_add(acked);
            if self.bytes_acked >= self.cwnd {
                self.bytes_acked -= self.cwnd;
                self.cwnd += self.mss;
            }
        }
        self.cwnd = self.cwnd.min(INITIAL_SSTHRESH);
        AckOutcome::Normal
    }

    /// A duplicate ACK (as defined by RFC 5681 §2; the caller decides).
    /// Returns true exactly when the caller must fast-retransmit the first
    /// unacknowledged segment now: on the third duplicate ACK, when not
    /// already in recovery, and only if `snd_una` covers more than `recover`
    /// (RFC 6582 §3.2 step 1; otherwise these duplicates may stem from
    /// segments retransmitted after a timeout, step 1B). Entering recovery
    /// sets ssthresh = max(FlightSize / 2, 2 * SMSS), cwnd = ssthresh +
    /// 3 * SMSS and recover = `snd_nxt` (step 2). In recovery each further
    /// duplicate inflates cwnd by SMSS (RFC 5681 §3.2 step 4).
    pub fn on_dup_ack(&mut self, snd_una: SeqNum, snd_nxt: SeqNum, flight: usize) -> bool {
        self.dup_acks = self.dup_acks.saturating_add(1);
        if self.in_recovery {
            self.cwnd = (self.cwnd + self.mss).min(INITIAL_SSTHRESH);
            return false;
        }
        if self.dup_acks != 3 || snd_una <= self.recover {
            return false;
        }
        self.ssthresh = self.loss_ssthresh(flight);
        self.cwnd = self
            .ssthresh
            .saturating_add(3 * self.mss)
            .min(INITIAL_SSTHRESH);
        self.recover = snd_nxt;
        self.in_recovery = true;
        self.bytes_acked = 0;
        true
    }

    /// Retransmission timeout. ssthresh = max(FlightSize / 2, 2 * SMSS) (RFC
    /// 5681 §3.1 equation (4)) unless this is a repeated timeout with no
    /// progress since the last one; cwnd = 1 SMSS (the loss window); fast
    /// recovery is abandoned and recover = `snd_nxt` (RFC 6582 §3.2 step 4 on
    /// timeouts), so duplicate ACKs for data sent before the timeout cannot
    /// trigger a spurious fast retransmit.
    pub fn on_rto(&mut self, flight: usize, snd_nxt: SeqNum) {
        if !self.rto_pending {
            self.ssthresh = self.loss_ssthresh(flight);
        }
        self.rto_pending = true;
        self.cwnd = self.mss;
        self.in_recovery = false;
        self.recover = snd_nxt;
        self.dup_acks = 0;
        self.bytes_acked = 0;
    }

    /// Restart after idle (RFC 5681 §4.1): when nothing has been sent for
    /// longer than the RTO, cwnd = min(IW, cwnd), since the ACK clock is gone.
    /// The caller detects the idle period.
    pub fn on_idle_restart(&mut self) {
        self.cwnd = self.cwnd.min(initial_window(self.mss));
        self.bytes_acked = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;
    const ISS: SeqNum = SeqNum(u32::MAX - 5000); // exercise wrap-around

    #[test]
    fn initial_window_rfc5681() {
        assert_eq!(NewReno::new(536, ISS).cwnd(), 4 * 536);
        assert_eq!(NewReno::new(1095, ISS).cwnd(), 4 * 1095);
        assert_eq!(NewReno::new(1096, ISS).cwnd(), 3 * 1096);
        assert_eq!(NewReno::new(1460, ISS).cwnd(), 3 * 1460);
        assert_eq!(NewReno::new(2190, ISS).cwnd(), 3 * 2190);
        assert_eq!(NewReno::new(2191, ISS).cwnd(), 2 * 2191);
        assert_eq!(NewReno::new(0, ISS).cwnd(), 4, "no panic, mss floored at 1");
        let c = NewReno::new(536, ISS);
        assert!(c.ssthresh() >= 1 << 30);
        assert!(!c.in_recovery());
        let mut c = NewReno::new(536, ISS);
        c.set_mss(1460);
        assert_eq!(c.cwnd(), 3 * 1460, "IW recomputed before anything is acked");
        c.on_ack(ISS + 1461u32, 1460, 1460);
        c.set_mss(1000);
        assert_eq!(c.cwnd(), 4 * 1460, "grown cwnd kept in bytes");
    }

    #[test]
    fn slow_start_then_congestion_avoidance() {
        let mut c = NewReno::new(MSS, ISS);
        let mut una = ISS + 1u32;
        // Slow start: +min(acked, MSS) per ACK, even for a stretch ACK.
        una = una + MSS;
        assert_eq!(c.on_ack(una, MSS, 4 * MSS), AckOutcome::Normal);
        assert_eq!(c.cwnd(), 5 * MSS);
        una = una + 3 * MSS;
        c.on_ack(una, 3 * MSS, 4 * MSS);
        assert_eq!(c.cwnd(), 6 * MSS);
        una = una + 100usize;
        c.on_ack(una, 100, 4 * MSS);
        assert_eq!(c.cwnd(), 6 * MSS + 100);

        // Force congestion avoidance via an RTO then regrow.
        c.on_rto(20 * MSS, una + 20 * MSS);
        assert_eq!(c.ssthresh(), 10 * MSS);
        assert_eq!(c.cwnd(), MSS);
        while c.cwnd() < c.ssthresh() {
            una = una + MSS;
            c.on_ack(una, MSS, c.cwnd());
        }
        assert_eq!(c.cwnd(), 10 * MSS);
        // CA: one MSS per cwnd of acknowledged bytes, i.e. per RTT, whether
        // ACKs are per segment or delayed (every two segments).
        for _ in 0..10 {
            una = una + MSS;
            c.on_ack(una, MSS, 10 * MSS);
        }
        assert_eq!(c.cwnd(), 11 * MSS);
        for _ in 0..5 {
            una = una + 2 * MSS;
            c.on_ack(una, 2 * MSS, 11 * MSS);
        }
        assert_eq!(c.cwnd(), 11 * MSS, "10 of 11 kB acked: not yet");
        una = una + 2 * MSS;
        c.on_ack(una, 2 * MSS, 11 * MSS);
        assert_eq!(c.cwnd(), 12 * MSS);
    }

    #[test]
    fn three_dup_acks_enter_recovery_once() {
        let mut c = NewReno::new(MSS, ISS);
        let una = ISS + 1u32 + 5 * MSS;
        c.on_ack(una, 5 * MSS, 5 * MSS);
        let nxt = una + 10 * MSS;
        let flight = 10 * MSS;
        assert!(!c.on_dup_ack(una, nxt, flight));
        assert!(!c.on_dup_ack(una, nxt, flight));
        assert_eq!(c.dup_acks(), 2);
        assert!(
            c.on_dup_ack(una, nxt, flight),
            "third dup ack: fast retransmit"
        );
        assert!(c.in_recovery());
        assert_eq!(c.ssthresh(), 5 * MSS);
        assert_eq!(c.cwnd(), 8 * MSS);
        // Further dups inflate and never retransmit again.
        for k in 1..=5 {
            assert!(!c.on_dup_ack(una, nxt, flight));
            assert_eq!(c.cwnd(), (8 + k) * MSS);
        }
        // Small flight: ssthresh floor of 2 * MSS.
        let mut c = NewReno::new(MSS, ISS);
        let una = ISS + 1u32;
        for _ in 0..2 {
            c.on_dup_ack(una, una + MSS, MSS);
        }
        assert!(
            c.on_dup_ack(una, una + MSS, MSS),
            "first segment lost: una = iss + 1 > recover"
        );
        assert_eq!(c.ssthresh(), 2 * MSS);
        assert_eq!(c.cwnd(), 5 * MSS);
    }

    #[test]
    fn partial_then_full_ack() {
        let mut c = NewReno::new(MSS, ISS);
        let una0 = ISS + 1u32 + 5 * MSS;
        c.on_ack(una0, 5 * MSS, 5 * MSS);
        let nxt = una0 + 10 * MSS;
        for _ in 0..3 {
            c.on_dup_ack(una0, nxt, 10 * MSS);
        }
        c.on_dup_ack(una0, nxt, 10 * MSS); // cwnd 9 MSS
        assert_eq!(c.cwnd(), 9 * MSS);
        // Partial ACK of 2 segments: 9 - 2 + 1 = 8 MSS.
        let una1 = una0 + 2 * MSS;
        assert_eq!(c.on_ack(una1, 2 * MSS, 10 * MSS), AckOutcome::PartialAck);
        assert_eq!(c.cwnd(), 8 * MSS);
        assert!(c.in_recovery());
        assert_eq!(c.dup_acks(), 0);
        // Partial ACK smaller than MSS: no add-back.
        let una2 = una1 + 500usize;
        assert_eq!(c.on_ack(una2, 500, 8 * MSS), AckOutcome::PartialAck);
        assert_eq!(c.cwnd(), 8 * MSS - 500);
        // Dup acks in recovery do not re-enter.
        for _ in 0..3 {
            assert!(!c.on_dup_ack(una2, nxt, 8 * MSS));
        }
        // Full ACK: cwnd = min(ssthresh, max(flight_after, MSS) + MSS).
        let flight = nxt - una2;
        assert_eq!(c.on_ack(nxt, flight, flight), AckOutcome::RecoveryExited);
        assert!(!c.in_recovery());
        assert_eq!(c.cwnd(), MSS + MSS);
        // Full ACK with much still in flight (new data sent during recovery).
        let mut c = NewReno::new(MSS, ISS);
        let una = ISS + 1u32;
        for _ in 0..3 {
            c.on_dup_ack(una, una + 20 * MSS, 20 * MSS);
        }
        assert_eq!(c.ssthresh(), 10 * MSS);
        let ack = una + 20 * MSS;
        assert_eq!(
            c.on_ack(ack, 20 * MSS, 35 * MSS),
            AckOutcome::RecoveryExited
        );
        assert_eq!(c.cwnd(), 10 * MSS, "capped at ssthresh");
        // Dup acks exactly at the old recover point do not trigger (step 1B).
        for _ in 0..2 {
            assert!(!c.on_dup_ack(ack, ack + 15 * MSS, 15 * MSS));
        }
        assert!(!c.on_dup_ack(ack, ack + 15 * MSS, 15 * MSS));
        assert!(!c.in_recovery());
        // ...but once SND.UNA passes it, a new loss is recovered normally.
        let ack2 = ack + MSS;
        c.on_ack(ack2, MSS, 15 * MSS);
        for _ in 0..2 {
            assert!(!c.on_dup_ack(ack2, ack2 + 14 * MSS, 14 * MSS));
        }
        assert!(c.on_dup_ack(ack2, ack2 + 14 * MSS, 14 * MSS));
    }

    #[test]
    fn rto_collapse() {
        let mut c = NewReno::new(MSS, ISS);
        let una = ISS + 1u32;
        for _ in 0..3 {
            c.on_dup_ack(una, una + 16 * MSS, 16 * MSS);
        }
        assert!(c.in_recovery());
        let nxt = una + 16 * MSS;
        c.on_rto(16 * MSS, nxt);
        assert!(!c.in_recovery());
        assert_eq!(c.cwnd(), MSS);
        assert_eq!(c.ssthresh(), 8 * MSS);
        assert_eq!(c.dup_acks(), 0);
        // A second timeout of the same segment keeps ssthresh.
        c.on_rto(MSS, nxt);
        assert_eq!(c.ssthresh(), 8 * MSS);
        assert_eq!(c.cwnd(), MSS);
        // Dup acks below the recover point after an RTO do not fast-retransmit.
        for _ in 0..3 {
            assert!(!c.on_dup_ack(una, nxt, 16 * MSS));
        }
        // Progress, then a new timeout recomputes ssthresh.
        let una2 = una + MSS;
        assert_eq!(c.on_ack(una2, MSS, 16 * MSS), AckOutcome::Normal);
        assert_eq!(c.cwnd(), 2 * MSS);
        c.on_rto(6 * MSS, nxt);
        assert_eq!(c.ssthresh(), 3 * MSS);
    }

    #[test]
    fn idle_restart() {
        let mut c = NewReno::new(MSS, ISS);
        let mut una = ISS + 1u32;
        for _ in 0..10 {
            una = una + MSS;
            c.on_ack(una, MSS, 4 * MSS);
        }
        assert_eq!(c.cwnd(), 14 * MSS);
        c.on_idle_restart();
        assert_eq!(c.cwnd(), 4 * MSS);
        c.on_rto(4 * MSS, una);
        c.on_idle_restart();
        assert_eq!(c.cwnd(), MSS, "min(IW, cwnd)");
    }

    #[test]
    fn no_overflow_on_extreme_inputs() {
        let mut c = NewReno::new(usize::MAX, ISS);
        c.on_ack(ISS + 10u32, usize::MAX, usize::MAX);
        c.on_dup_ack(ISS + 10u32, ISS + 20u32, usize::MAX);
        c.on_dup_ack(ISS + 10u32, ISS + 20u32, usize::MAX);
        c.on_dup_ack(ISS + 10u32, ISS + 20u32, usize::MAX);
        c.on_dup_ack(ISS + 10u32, ISS + 20u32, usize::MAX);
        c.on_ack(ISS + 15u32, usize::MAX, 0);
        c.on_rto(usize::MAX, ISS);
        c.set_mss(usize::MAX);
        c.on_idle_restart();
        assert!(c.cwnd() > 0);
    }
}
