//! RFC 5681 slow start and congestion avoidance, the window arithmetic of
//! NewReno (the RFC 6582 recovery itself is in [`crate::tcp::recovery`]).

use core::time::Duration;

use super::{initial_window, CongestionControl, INITIAL_SSTHRESH};
use crate::time::Instant;

/// NewReno's window state (bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewReno {
    cwnd: usize,
    ssthresh: usize,
    mss: usize,
    /// Bytes acknowledged in congestion avoidance since cwnd last grew
    /// (appropriate byte counting, RFC 5681 §3.1 / RFC 3465).
    bytes_acked: usize,
}

impl NewReno {
    /// State for a new connection with SMSS `mss`: cwnd is the RFC 5681
    /// §3.1 initial window, ssthresh arbitrarily high. An `mss` of 0 is
    /// treated as 1.
    pub fn new(mss: usize) -> Self {
        let mss = mss.clamp(1, INITIAL_SSTHRESH / 4);
        NewReno {
            cwnd: initial_window(mss),
            ssthresh: INITIAL_SSTHRESH,
            mss,
            bytes_acked: 0,
        }
    }

    /// ssthresh after a loss: RFC 5681 §3.1 equation (4).
    fn loss_ssthresh(&self, flight: usize) -> usize {
        (flight / 2).max(2 * self.mss)
    }
}

impl CongestionControl for NewReno {
    #[inline]
    fn cwnd(&self) -> usize {
        self.cwnd
    }
    #[inline]
    fn ssthresh(&self) -> usize {
        self.ssthresh
    }
    fn set_cwnd(&mut self, cwnd: usize) {
        self.cwnd = cwnd.clamp(self.mss, INITIAL_SSTHRESH);
        self.bytes_acked = 0;
    }
    /// If cwnd is still the initial window for the old MSS it is recomputed
    /// for the new one, so the usual call right after the handshake gets the
    /// right IW; otherwise cwnd (a byte count) is kept.
    fn set_mss(&mut self, mss: usize) {
        super::change_mss(&mut self.cwnd, &mut self.mss, mss);
    }
    /// Below ssthresh: slow start, cwnd += min(acked, SMSS) (RFC 5681 §3.1
    /// equation (2)). At or above: congestion avoidance with byte counting,
    /// the method RFC 5681 §3.1 RECOMMENDS: one SMSS per cwnd of
    /// acknowledged bytes, i.e. per RTT, whether ACKs are delayed or not.
    fn on_ack(&mut self, _now: Instant, acked: usize, _flight: usize, _srtt: Option<Duration>) {
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
    }
    /// ssthresh = max(FlightSize / 2, 2 * SMSS) (RFC 5681 §3.2 step 2,
    /// RFC 6582 §3.2 step 2); cwnd = ssthresh (recovery inflates it).
    fn on_congestion_event(&mut self, _now: Instant, flight: usize) {
        self.ssthresh = self.loss_ssthresh(flight);
        self.cwnd = self.ssthresh;
        self.bytes_acked = 0;
    }
    fn on_rto(&mut self, flight: usize, repeated: bool) {
        if !repeated {
            self.ssthresh = self.loss_ssthresh(flight);
        }
        self.cwnd = self.mss;
        self.bytes_acked = 0;
    }
    fn on_idle_restart(&mut self) {
        self.cwnd = self.cwnd.min(initial_window(self.mss));
        self.bytes_acked = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;
    const T: Instant = Instant::ZERO;

    #[test]
    fn initial_window_rfc5681() {
        assert_eq!(NewReno::new(536).cwnd(), 4 * 536);
        assert_eq!(NewReno::new(1095).cwnd(), 4 * 1095);
        assert_eq!(NewReno::new(1096).cwnd(), 3 * 1096);
        assert_eq!(NewReno::new(1460).cwnd(), 3 * 1460);
        assert_eq!(NewReno::new(2190).cwnd(), 3 * 2190);
        assert_eq!(NewReno::new(2191).cwnd(), 2 * 2191);
        assert_eq!(NewReno::new(0).cwnd(), 4, "no panic, mss floored at 1");
        assert!(NewReno::new(536).ssthresh() >= 1 << 30);
        let mut c = NewReno::new(536);
        c.set_mss(1460);
        assert_eq!(c.cwnd(), 3 * 1460, "IW recomputed before anything is acked");
        c.on_ack(T, 1460, 1460, None);
        c.set_mss(1000);
        assert_eq!(c.cwnd(), 4 * 1460, "grown cwnd kept in bytes");
    }

    #[test]
    fn slow_start_then_congestion_avoidance() {
        let mut c = NewReno::new(MSS);
        c.on_ack(T, MSS, 4 * MSS, None);
        assert_eq!(c.cwnd(), 5 * MSS);
        c.on_ack(T, 3 * MSS, 4 * MSS, None);
        assert_eq!(c.cwnd(), 6 * MSS, "stretch ACK: +SMSS only");
        c.on_ack(T, 100, 4 * MSS, None);
        assert_eq!(c.cwnd(), 6 * MSS + 100);
        c.on_rto(20 * MSS, false);
        assert_eq!(c.ssthresh(), 10 * MSS);
        assert_eq!(c.cwnd(), MSS);
        while c.cwnd() < c.ssthresh() {
            c.on_ack(T, MSS, c.cwnd(), None);
        }
        assert_eq!(c.cwnd(), 10 * MSS);
        for _ in 0..10 {
            c.on_ack(T, MSS, 10 * MSS, None);
        }
        assert_eq!(c.cwnd(), 11 * MSS);
        for _ in 0..5 {
            c.on_ack(T, 2 * MSS, 11 * MSS, None);
        }
        assert_eq!(c.cwnd(), 11 * MSS, "10 of 11 kB acked: not yet");
        c.on_ack(T, 2 * MSS, 11 * MSS, None);
        assert_eq!(c.cwnd(), 12 * MSS);
    }

    #[test]
    fn loss_and_rto() {
        let mut c = NewReno::new(MSS);
        c.on_congestion_event(T, 10 * MSS);
        assert_eq!((c.ssthresh(), c.cwnd()), (5 * MSS, 5 * MSS));
        c.on_congestion_event(T, MSS);
        assert_eq!(c.ssthresh(), 2 * MSS, "floor of 2 SMSS");
        c.on_rto(16 * MSS, false);
        assert_eq!((c.ssthresh(), c.cwnd()), (8 * MSS, MSS));
        c.on_rto(MSS, true);
        assert_eq!(c.ssthresh(), 8 * MSS, "repeated timeout keeps ssthresh");
        c.set_cwnd(0);
        assert_eq!(c.cwnd(), MSS);
    }

    #[test]
    fn idle_restart() {
        let mut c = NewReno::new(MSS);
        for _ in 0..10 {
            c.on_ack(T, MSS, 4 * MSS, None);
        }
        assert_eq!(c.cwnd(), 14 * MSS);
        c.on_idle_restart();
        assert_eq!(c.cwnd(), 4 * MSS);
        c.on_rto(4 * MSS, false);
        c.on_idle_restart();
        assert_eq!(c.cwnd(), MSS, "min(IW, cwnd)");
    }

    #[test]
    fn no_overflow_on_extreme_inputs() {
        let mut c = NewReno::new(usize::MAX);
        c.on_ack(T, usize::MAX, usize::MAX, None);
        c.on_congestion_event(T, usize::MAX);
        c.on_rto(usize::MAX, false);
        c.set_mss(usize::MAX);
        c.on_idle_restart();
        assert!(c.cwnd() > 0);
    }
}
