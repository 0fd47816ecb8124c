//! Loss recovery episodes: when fast recovery starts and ends, and how the
//! window behaves meanwhile, for any [`CongestionControl`].
//!
//! Two flavours, chosen per ACK by whether the peer sends SACK:
//!
//! * Without SACK, RFC 5681 §3.2 fast retransmit on the third duplicate ACK
//!   with the RFC 6582 (NewReno) modification: a partial ACK retransmits the
//!   next hole and deflates the window; only an ACK covering `recover` ends
//!   recovery; duplicate ACKs at or below an old `recover` (step 1B) start
//!   nothing.
//! * With SACK (RFC 6675 §5), the scoreboard and RACK decide what is lost
//!   ([`crate::tcp::sack`], [`crate::tcp::rack`]); entering recovery reduces
//!   ssthresh once, and until the ACK passes RecoveryPoint the window
//!   follows Proportional Rate Reduction (RFC 6937, PRR-SSRB): the sender
//!   sends about ssthresh/RecoverFS of what the ACKs report delivered, so a
//!   queue that overflowed drains instead of taking a burst of
//!   retransmissions, then slow-starts back up to ssthresh.

use core::time::Duration;

use super::congestion::CongestionControl;
use crate::time::Instant;
use crate::wire::SeqNum;

/// What the connection must do after an ACK that advanced SND.UNA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// Nothing special: send what cwnd and the peer's window allow.
    Normal,
    /// A partial ACK during (non-SACK) fast recovery: retransmit the first
    /// unacknowledged segment now (RFC 6582 §3.2 step 5). Recovery continues.
    PartialAck,
    /// The ACK covered `recover`: fast recovery is over.
    RecoveryExited,
}

/// The recovery state of one connection (bytes; `mss` is SMSS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    mss: usize,
    /// Consecutive duplicate ACKs seen.
    dup_acks: u32,
    /// RFC 6582 `recover` / RFC 6675 RecoveryPoint: one past the highest
    /// sequence number sent when recovery (or the last RTO) started. A full
    /// ACK is `ack >= recover`.
    recover: SeqNum,
    in_recovery: bool,
    /// A retransmission timeout happened and no new data has been
    /// acknowledged since: a further timeout is for the same segment, and
    /// RFC 5681 §3.1 then leaves ssthresh alone.
    rto_pending: bool,
    /// PRR (RFC 6937): FlightSize at the start of recovery, bytes delivered
    /// and bytes sent since.
    recover_fs: usize,
    prr_delivered: usize,
    prr_out: usize,
}

impl Recovery {
    /// No recovery; `recover` starts at ISS (RFC 6582 §3.2 step 1).
    pub fn new(mss: usize, iss: SeqNum) -> Self {
        Recovery {
            mss: mss.max(1),
            dup_acks: 0,
            recover: iss,
            in_recovery: false,
            rto_pending: false,
            recover_fs: 0,
            prr_delivered: 0,
            prr_out: 0,
        }
    }

    /// Update SMSS.
    pub fn set_mss(&mut self, mss: usize) {
        self.mss = mss.max(1);
    }

    /// Whether fast recovery is in progress.
    #[inline]
    pub fn in_recovery(&self) -> bool {
        self.in_recovery
    }

    /// Consecutive duplicate ACKs counted.
    #[inline]
    pub fn dup_acks(&self) -> u32 {
        self.dup_acks
    }

    /// RecoveryPoint / `recover`.
    #[inline]
    pub fn recover(&self) -> SeqNum {
        self.recover
    }

    /// An ACK that advanced SND.UNA to `ack` by `acked` bytes (> 0);
    /// `flight_before` is FlightSize before it; `sack` whether this is
    /// SACK-based recovery. Resets the duplicate count.
    ///
    /// Outside recovery the controller grows the window. In recovery a full
    /// ACK (`ack >= recover`) ends it: cwnd = min(ssthresh, max(FlightSize,
    /// SMSS) + SMSS) without SACK (RFC 6582 §3.2 step 5, option 1), cwnd =
    /// ssthresh with SACK (RFC 6675 §5 leaves it there). A partial ACK
    /// without SACK deflates cwnd by `acked`, adds back SMSS if at least SMSS
    /// was acknowledged, and asks for the next retransmission; with SACK the
    /// scoreboard decides and the window stays.
    // Inline, the recovery episode's part out of line: nearly every ACK
    // comes outside recovery, where this is a few stores and the
    // controller's (inline) slow-start step.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn on_ack(
        &mut self,
        cc: &mut impl CongestionControl,
        now: Instant,
        ack: SeqNum,
        acked: usize,
        flight_before: usize,
        srtt: Option<Duration>,
        sack: bool,
    ) -> AckOutcome {
        self.dup_acks = 0;
        self.rto_pending = false;
        if self.in_recovery {
            return self.on_ack_in_recovery(cc, ack, acked, flight_before, sack);
        }
        // Drag `recover` along once the ACK has passed it: only "ack >
        // recover" matters, and a stale value would compare wrongly after
        // 2^31 bytes of sequence space.
        if ack > self.recover {
            self.recover = ack - 1u32;
        }
        cc.on_ack(now, acked, flight_before, srtt);
        AckOutcome::Normal
    }

    /// [`on_ack`](Self::on_ack) during fast recovery.
    #[inline(never)]
    fn on_ack_in_recovery(
        &mut self,
        cc: &mut impl CongestionControl,
        ack: SeqNum,
        acked: usize,
        flight_before: usize,
        sack: bool,
    ) -> AckOutcome {
        if ack >= self.recover {
            let flight_after = flight_before.saturating_sub(acked);
            let cwnd = if sack {
                cc.ssthresh()
            } else {
                cc.ssthresh()
                    .min(flight_after.max(self.mss).saturating_add(self.mss))
            };
            cc.set_cwnd(cwnd);
            self.in_recovery = false;
            return AckOutcome::RecoveryExited;
        }
        if sack {
            return AckOutcome::Normal;
        }
        // Partial ACK. Keeping at least one SMSS (not in RFC 6582) avoids
        // a zero window that would stall sending after the retransmission.
        let mut cwnd = cc.cwnd().saturating_sub(acked);
        if acked >= self.mss {
            cwnd += self.mss;
        }
        cc.set_cwnd(cwnd.max(self.mss));
        AckOutcome::PartialAck
    }

    /// A duplicate ACK (as defined by RFC 5681 §2; the caller decides) on a
    /// connection without SACK. Returns true exactly when the caller must
    /// fast-retransmit the first unacknowledged segment now: on the third
    /// duplicate ACK, when not already in recovery, and only if `snd_una`
    /// covers more than `recover` (RFC 6582 §3.2 step 1; otherwise these
    /// duplicates may stem from segments retransmitted after a timeout, step
    /// 1B). Entering recovery reduces the window through the controller and
    /// inflates it by 3 SMSS for the segments that left the network (RFC 5681
    /// §3.2 step 3); each further duplicate inflates it by SMSS (step 4).
    pub fn on_dup_ack(
        &mut self,
        cc: &mut impl CongestionControl,
        now: Instant,
        snd_una: SeqNum,
        snd_max: SeqNum,
        flight: usize,
    ) -> bool {
        self.dup_acks = self.dup_acks.saturating_add(1);
        if self.in_recovery {
            cc.set_cwnd(cc.cwnd().saturating_add(self.mss));
            return false;
        }
        if self.dup_acks != 3 || snd_una <= self.recover {
            return false;
        }
        cc.on_congestion_event(now, flight);
        cc.set_cwnd(cc.ssthresh().saturating_add(3 * self.mss));
        self.recover = snd_max;
        self.in_recovery = true;
        true
    }

    /// Whether a SACK-detected loss may start a new recovery episode: not
    /// already recovering, and the lost data lies beyond the last episode's
    /// RecoveryPoint (RFC 6675 §5 step (4.1), which also keeps losses of
    /// data sent before an RTO from reducing the window again).
    pub fn may_enter_sack_recovery(&self, snd_una: SeqNum) -> bool {
        !self.in_recovery && snd_una > self.recover
    }

    /// Enter SACK-based loss recovery (RFC 6675 §5 steps (4.1)–(4.2)):
    /// RecoveryPoint = HighData (`snd_max`), ssthresh and cwnd from the
    /// controller's decrease.
    pub fn enter_sack_recovery(
        &mut self,
        cc: &mut impl CongestionControl,
        now: Instant,
        snd_max: SeqNum,
        flight: usize,
    ) {
        cc.on_congestion_event(now, flight);
        self.recover = snd_max;
        self.in_recovery = true;
        self.dup_acks = 0;
        self.recover_fs = flight.max(1);
        self.prr_delivered = 0;
        self.prr_out = 0;
    }

    /// PRR (RFC 6937 §3) on an ACK during SACK recovery that reported
    /// `delivered` bytes (cumulatively or by SACK), with `pipe` now: sets
    /// cwnd = pipe + sndcnt. While pipe is above ssthresh, sndcnt keeps the
    /// sending rate at ssthresh/RecoverFS of the delivery rate; below it,
    /// the slow-start reduction bound (PRR-SSRB) grows back towards
    /// ssthresh by at most one SMSS more than was delivered.
    pub fn prr_on_ack(&mut self, cc: &mut impl CongestionControl, delivered: usize, pipe: usize) {
        if !self.in_recovery {
            return;
        }
        self.prr_delivered += delivered;
        let ssthresh = cc.ssthresh();
        let sndcnt = if pipe > ssthresh {
            let target = (self.prr_delivered as u128 * ssthresh as u128)
                .div_ceil(self.recover_fs as u128) as usize;
            target.saturating_sub(self.prr_out)
        } else {
            let limit = self
                .prr_delivered
                .saturating_sub(self.prr_out)
                .max(delivered)
                + self.mss;
            (ssthresh - pipe).min(limit)
        };
        cc.set_cwnd(pipe + sndcnt);
    }

    /// Bytes sent during recovery (PRR's prr_out).
    pub fn prr_on_send(&mut self, bytes: usize) {
        if self.in_recovery {
            self.prr_out += bytes;
        }
    }

    /// Retransmission timeout: the controller collapses the window (keeping
    /// ssthresh on a repeated timeout), recovery is abandoned and recover =
    /// `snd_max` (RFC 6582 §3.2 step 4; RFC 6675 §5.1), so duplicate ACKs for
    /// data sent before the timeout cannot trigger a spurious fast
    /// retransmit.
    pub fn on_rto(&mut self, cc: &mut impl CongestionControl, flight: usize, snd_max: SeqNum) {
        cc.on_rto(flight, self.rto_pending);
        self.rto_pending = true;
        self.in_recovery = false;
        self.recover = snd_max;
        self.dup_acks = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::congestion::NewReno;

    const MSS: usize = 1000;
    const ISS: SeqNum = SeqNum(u32::MAX - 5000); // exercise wrap-around
    const T: Instant = Instant::ZERO;

    fn pair() -> (Recovery, NewReno) {
        (Recovery::new(MSS, ISS), NewReno::new(MSS))
    }

    #[test]
    fn three_dup_acks_enter_recovery_once() {
        let (mut r, mut c) = pair();
        let una = ISS + 1u32 + 5 * MSS;
        r.on_ack(&mut c, T, una, 5 * MSS, 5 * MSS, None, false);
        let nxt = una + 10 * MSS;
        let flight = 10 * MSS;
        assert!(!r.on_dup_ack(&mut c, T, una, nxt, flight));
        assert!(!r.on_dup_ack(&mut c, T, una, nxt, flight));
        assert_eq!(r.dup_acks(), 2);
        assert!(
            r.on_dup_ack(&mut c, T, una, nxt, flight),
            "third: fast retransmit"
        );
        assert!(r.in_recovery());
        assert_eq!(c.ssthresh(), 5 * MSS);
        assert_eq!(c.cwnd(), 8 * MSS);
        for k in 1..=5 {
            assert!(!r.on_dup_ack(&mut c, T, una, nxt, flight));
            assert_eq!(c.cwnd(), (8 + k) * MSS);
        }
        // First segment lost: una = iss + 1 > recover.
        let (mut r, mut c) = pair();
        let una = ISS + 1u32;
        for _ in 0..2 {
            r.on_dup_ack(&mut c, T, una, una + MSS, MSS);
        }
        assert!(r.on_dup_ack(&mut c, T, una, una + MSS, MSS));
        assert_eq!(c.ssthresh(), 2 * MSS);
        assert_eq!(c.cwnd(), 5 * MSS);
    }

    #[test]
    fn partial_then_full_ack() {
        let (mut r, mut c) = pair();
        let una0 = ISS + 1u32 + 5 * MSS;
        r.on_ack(&mut c, T, una0, 5 * MSS, 5 * MSS, None, false);
        let nxt = una0 + 10 * MSS;
        for _ in 0..4 {
            r.on_dup_ack(&mut c, T, una0, nxt, 10 * MSS);
        }
        assert_eq!(c.cwnd(), 9 * MSS);
        let una1 = una0 + 2 * MSS;
        let out = r.on_ack(&mut c, T, una1, 2 * MSS, 10 * MSS, None, false);
        assert_eq!(out, AckOutcome::PartialAck);
        assert_eq!(c.cwnd(), 8 * MSS, "9 - 2 + 1");
        assert!(r.in_recovery());
        assert_eq!(r.dup_acks(), 0);
        let una2 = una1 + 500usize;
        let out = r.on_ack(&mut c, T, una2, 500, 8 * MSS, None, false);
        assert_eq!(out, AckOutcome::PartialAck);
        assert_eq!(c.cwnd(), 8 * MSS - 500, "no add-back below SMSS");
        for _ in 0..3 {
            assert!(!r.on_dup_ack(&mut c, T, una2, nxt, 8 * MSS));
        }
        let flight = nxt - una2;
        let out = r.on_ack(&mut c, T, nxt, flight, flight, None, false);
        assert_eq!(out, AckOutcome::RecoveryExited);
        assert!(!r.in_recovery());
        assert_eq!(c.cwnd(), 2 * MSS);
        // Duplicates exactly at the old recover point do not trigger (1B)...
        for _ in 0..3 {
            assert!(!r.on_dup_ack(&mut c, T, nxt, nxt + 15 * MSS, 15 * MSS));
        }
        // ...but once SND.UNA passes it, a new loss is recovered normally.
        let ack2 = nxt + MSS;
        r.on_ack(&mut c, T, ack2, MSS, 15 * MSS, None, false);
        for _ in 0..2 {
            assert!(!r.on_dup_ack(&mut c, T, ack2, ack2 + 14 * MSS, 14 * MSS));
        }
        assert!(r.on_dup_ack(&mut c, T, ack2, ack2 + 14 * MSS, 14 * MSS));
    }

    #[test]
    fn sack_recovery_keeps_window_until_recovery_point() {
        let (mut r, mut c) = pair();
        let una = ISS + 1u32;
        c.set_cwnd(20 * MSS);
        assert!(r.may_enter_sack_recovery(una));
        r.enter_sack_recovery(&mut c, T, una + 20 * MSS, 20 * MSS);
        assert!(r.in_recovery());
        assert!(!r.may_enter_sack_recovery(una));
        assert_eq!(c.cwnd(), 10 * MSS);
        let out = r.on_ack(&mut c, T, una + 5 * MSS, 5 * MSS, 20 * MSS, None, true);
        assert_eq!(out, AckOutcome::Normal);
        assert_eq!(c.cwnd(), 10 * MSS, "partial ACK: pipe does the work");
        let out = r.on_ack(&mut c, T, una + 20 * MSS, 15 * MSS, 15 * MSS, None, true);
        assert_eq!(out, AckOutcome::RecoveryExited);
        assert_eq!(c.cwnd(), 10 * MSS);
        assert!(
            !r.may_enter_sack_recovery(una + 20 * MSS),
            "at the old point"
        );
        assert!(r.may_enter_sack_recovery(una + 21 * MSS));
    }

    #[test]
    fn prr_spreads_the_reduction_over_the_round_trip() {
        let (mut r, mut c) = pair();
        let una = ISS + 1u32;
        c.set_cwnd(20 * MSS);
        r.enter_sack_recovery(&mut c, T, una + 20 * MSS, 20 * MSS);
        assert_eq!(c.ssthresh(), 10 * MSS);
        // One segment lost, pipe 19: each delivered segment allows half a
        // segment out (ssthresh / RecoverFS = 1/2).
        r.prr_on_ack(&mut c, MSS, 18 * MSS);
        assert_eq!(c.cwnd(), 18 * MSS + MSS / 2);
        r.prr_on_send(MSS);
        r.prr_on_ack(&mut c, MSS, 17 * MSS);
        assert_eq!(c.cwnd(), 17 * MSS, "1 sent of 1 allowed: nothing more");
        // Below ssthresh: grows back by delivered + 1 SMSS at most.
        r.prr_on_ack(&mut c, 2 * MSS, 8 * MSS);
        assert_eq!(c.cwnd(), 10 * MSS);
        r.prr_on_ack(&mut c, MSS, 4 * MSS);
        // prr_delivered 5 - prr_out 1 + 1 SMSS = 5, under ssthresh - pipe = 6.
        assert_eq!(c.cwnd(), 9 * MSS);
    }

    #[test]
    fn rto_collapse() {
        let (mut r, mut c) = pair();
        let una = ISS + 1u32;
        for _ in 0..3 {
            r.on_dup_ack(&mut c, T, una, una + 16 * MSS, 16 * MSS);
        }
        assert!(r.in_recovery());
        let nxt = una + 16 * MSS;
        r.on_rto(&mut c, 16 * MSS, nxt);
        assert!(!r.in_recovery());
        assert_eq!(c.cwnd(), MSS);
        assert_eq!(c.ssthresh(), 8 * MSS);
        r.on_rto(&mut c, MSS, nxt);
        assert_eq!(c.ssthresh(), 8 * MSS, "second timeout keeps ssthresh");
        for _ in 0..3 {
            assert!(!r.on_dup_ack(&mut c, T, una, nxt, 16 * MSS));
        }
        let una2 = una + MSS;
        let out = r.on_ack(&mut c, T, una2, MSS, 16 * MSS, None, false);
        assert_eq!(out, AckOutcome::Normal);
        assert_eq!(c.cwnd(), 2 * MSS);
        r.on_rto(&mut c, 6 * MSS, nxt);
        assert_eq!(c.ssthresh(), 3 * MSS);
    }
}
