//! CUBIC (RFC 9438): the window follows a cubic function of the time since
//! the last congestion event, so it recovers quickly to the previous maximum
//! W_max, probes carefully around it and then accelerates; a Reno-friendly
//! estimate keeps it at least as aggressive as Reno on short-RTT paths.
//!
//! Window arithmetic is in segments as `f64` (the RFC's units); cwnd is
//! reported in bytes.

use core::time::Duration;

use super::{initial_window, CongestionControl, INITIAL_SSTHRESH};
use crate::time::Instant;

/// C (RFC 9438 §5): scales the cubic function, in segments / s³.
const C: f64 = 0.4;
/// β_cubic (RFC 9438 §4.6): the multiplicative decrease factor.
const BETA: f64 = 0.7;
/// α_cubic (RFC 9438 §4.3) = 3 (1 - β) / (1 + β): the additive increase of
/// the Reno-friendly estimate, so it matches Reno's average rate.
const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// CUBIC's state for one connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Cubic {
    cwnd: usize,
    ssthresh: usize,
    mss: usize,
    /// Fraction of a byte of growth carried over between ACKs.
    frac: f64,
    /// W_max (segments): the window just before the last reduction.
    w_max: f64,
    /// K (s): when the cubic function reaches W_max again.
    k: f64,
    /// The start of the current congestion avoidance epoch (RFC 9438 §4.2),
    /// `None` until the first ACK in congestion avoidance after a change.
    epoch_start: Option<Instant>,
    /// W_est (segments): the Reno-friendly estimate (RFC 9438 §4.3).
    w_est: f64,
}

impl Cubic {
    /// State for a new connection with SMSS `mss`: the RFC 5681 initial
    /// window, ssthresh arbitrarily high (RFC 9438 §4.10 uses standard slow
    /// start).
    pub fn new(mss: usize) -> Self {
        let mss = mss.clamp(1, INITIAL_SSTHRESH / 4);
        Cubic {
            cwnd: initial_window(mss),
            ssthresh: INITIAL_SSTHRESH,
            mss,
            frac: 0.0,
            w_max: 0.0,
            k: 0.0,
            epoch_start: None,
            w_est: 0.0,
        }
    }

    fn segs(&self, bytes: usize) -> f64 {
        bytes as f64 / self.mss as f64
    }

    /// W_max with fast convergence (RFC 9438 §4.7): when a flow is pushed
    /// below its previous maximum it releases bandwidth to newcomers by
    /// remembering a smaller W_max.
    fn remember_w_max(&mut self) {
        let cwnd = self.segs(self.cwnd);
        self.w_max = if cwnd < self.w_max {
            cwnd * (1.0 + BETA) / 2.0
        } else {
            cwnd
        };
    }

    /// W_max (segments), for tests and diagnostics.
    pub fn w_max(&self) -> f64 {
        self.w_max
    }

    /// K (seconds), for tests and diagnostics.
    pub fn k(&self) -> f64 {
        self.k
    }

    /// An ACK of `acked` bytes at `now` in congestion avoidance (cwnd at or
    /// above ssthresh, [`CongestionControl::on_ack`]'s second half).
    #[inline(never)]
    fn avoid_congestion(&mut self, now: Instant, acked: usize, srtt: Option<Duration>) {
        let cwnd = self.segs(self.cwnd);
        let start = *self.epoch_start.get_or_insert(now);
        if start == now && self.w_est == 0.0 {
            // A new epoch (RFC 9438 §4.2, equation 2): K from the distance
            // to W_max; W_est starts at the current window.
            self.k = if self.w_max > cwnd {
                ((self.w_max - cwnd) / C).cbrt()
            } else {
                0.0
            };
            if self.w_max < cwnd {
                self.w_max = cwnd;
            }
            self.w_est = cwnd;
        }
        let t = (now - start).as_secs_f64();
        let rtt = srtt.map_or(0.0, |d| d.as_secs_f64());
        let acked_segs = self.segs(acked);
        // Reno-friendly region (§4.3): W_est grows by α per window; once it
        // passes W_max, by one segment per window like Reno.
        let alpha = if self.w_est >= self.w_max { 1.0 } else { ALPHA };
        self.w_est += alpha * acked_segs / cwnd;
        let w_cubic = |t: f64| C * (t - self.k).powi(3) + self.w_max;
        let grow_segs = if w_cubic(t) < self.w_est {
            (self.w_est - cwnd).max(0.0)
        } else {
            // Concave and convex regions (§4.4, §4.5): aim at W_cubic one
            // RTT ahead, clamped to [cwnd, 1.5 cwnd].
            let target = w_cubic(t + rtt).clamp(cwnd, 1.5 * cwnd);
            (target - cwnd) / cwnd * acked_segs
        };
        let grow = grow_segs * self.mss as f64 + self.frac;
        let whole = grow.floor();
        self.frac = grow - whole;
        self.cwnd = (self.cwnd as f64 + whole).min(INITIAL_SSTHRESH as f64) as usize;
    }
}

impl CongestionControl for Cubic {
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
        self.frac = 0.0;
    }
    fn set_mss(&mut self, mss: usize) {
        super::change_mss(&mut self.cwnd, &mut self.mss, mss);
    }

    // Inline, congestion avoidance out of line: every ACK of a short
    // connection (and of any sender before its first loss) is in slow
    // start, a compare and an add that the full step's frame (six saved
    // registers, the float set-up) cost several times over.
    #[inline]
    fn on_ack(&mut self, now: Instant, acked: usize, _flight: usize, srtt: Option<Duration>) {
        if self.cwnd < self.ssthresh {
            // Slow start (RFC 9438 §4.10, RFC 5681 §3.1).
            self.cwnd = (self.cwnd + acked.min(self.mss)).min(INITIAL_SSTHRESH);
            return;
        }
        self.avoid_congestion(now, acked, srtt);
    }

    /// RFC 9438 §4.6: ssthresh = cwnd × β (at least 2 SMSS), cwnd =
    /// ssthresh, W_max remembered with fast convergence, a new epoch.
    fn on_congestion_event(&mut self, _now: Instant, flight: usize) {
        self.remember_w_max();
        // The RFC allows flight size instead of cwnd; the smaller of the two
        // keeps an application-limited sender from keeping a stale window.
        let base = self.cwnd.min(flight.max(self.mss));
        self.ssthresh = ((base as f64 * BETA) as usize).max(2 * self.mss);
        self.cwnd = self.ssthresh;
        self.epoch_start = None;
        self.w_est = 0.0;
        self.frac = 0.0;
    }

    /// RFC 9438 §4.8: on a timeout CUBIC reduces like a congestion event
    /// for ssthresh, then cwnd is the loss window of RFC 5681.
    fn on_rto(&mut self, flight: usize, repeated: bool) {
        if !repeated {
            self.remember_w_max();
            let base = self.cwnd.min(flight.max(self.mss));
            self.ssthresh = ((base as f64 * BETA) as usize).max(2 * self.mss);
        }
        self.cwnd = self.mss;
        self.epoch_start = None;
        self.w_est = 0.0;
        self.frac = 0.0;
    }

    /// RFC 5681 §4.1, and RFC 9438 §5.8: the epoch restarts, so the idle
    /// time does not count as time spent growing.
    fn on_idle_restart(&mut self) {
        self.cwnd = self.cwnd.min(initial_window(self.mss));
        self.epoch_start = None;
        self.w_est = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn slow_start_like_reno() {
        let mut c = Cubic::new(1460);
        assert_eq!(c.cwnd(), 3 * 1460);
        c.on_ack(at(0), 1460, 1460, None);
        assert_eq!(c.cwnd(), 4 * 1460);
    }

    #[test]
    fn reduction_is_beta_and_fast_convergence() {
        let mut c = Cubic::new(MSS);
        c.set_cwnd(100 * MSS);
        c.on_congestion_event(at(0), 100 * MSS);
        assert_eq!(c.ssthresh(), 70 * MSS);
        assert_eq!(c.cwnd(), 70 * MSS);
        assert!((c.w_max() - 100.0).abs() < 1e-9);
        // A second loss below W_max: fast convergence remembers less.
        c.on_congestion_event(at(10), 70 * MSS);
        assert!((c.w_max() - 70.0 * 1.7 / 2.0).abs() < 1e-9);
        assert_eq!(c.cwnd(), 49 * MSS);
        // Timeout: loss window, ssthresh by β.
        c.on_rto(49 * MSS, false);
        assert_eq!(c.cwnd(), MSS);
        assert_eq!(c.ssthresh(), 34_300);
        c.on_rto(MSS, true);
        assert_eq!(c.ssthresh(), 34_300, "repeated timeout keeps ssthresh");
    }

    /// After a reduction from W_max = 100, the window climbs back towards
    /// W_max in about K seconds (concave), flattens there, then grows
    /// faster again (convex) — RFC 9438 Figure 1.
    #[test]
    fn cubic_curve_returns_to_w_max_after_k() {
        let mut c = Cubic::new(MSS);
        c.set_cwnd(100 * MSS);
        c.on_congestion_event(at(0), 100 * MSS);
        let rtt = Duration::from_millis(100);
        // K = cbrt(100 × 0.3 / 0.4) = 4.217 s.
        let mut t = 0;
        let mut cwnd_at = Vec::new();
        while t <= 8000 {
            // One window of ACKs per RTT, one ACK per segment.
            let segs = c.cwnd() / MSS;
            for _ in 0..segs {
                c.on_ack(at(t), MSS, c.cwnd(), Some(rtt));
            }
            cwnd_at.push((t, c.cwnd() / MSS));
            t += 100;
        }
        assert!((c.k() - 4.217).abs() < 0.01, "K = {}", c.k());
        let w = |ms: u64| cwnd_at.iter().find(|(t, _)| *t >= ms).unwrap().1;
        assert!(w(1000) > 80, "concave growth is fast at first: {}", w(1000));
        assert!(
            (95..=101).contains(&w(4200)),
            "near W_max at K: {}",
            w(4200)
        );
        assert!(w(4200) - w(3200) < w(1000) - w(0), "plateau around W_max");
        assert!(w(8000) > 120, "convex growth beyond W_max: {}", w(8000));
    }

    /// On a short RTT CUBIC must grow at least like Reno (RFC 9438 §4.3).
    #[test]
    fn reno_friendly_region() {
        let mut c = Cubic::new(MSS);
        c.set_cwnd(20 * MSS);
        c.on_congestion_event(at(0), 20 * MSS); // cwnd 14, W_max 20
        let rtt = Duration::from_millis(1);
        for t in 0..200 {
            let segs = c.cwnd() / MSS;
            for _ in 0..segs {
                c.on_ack(at(t), MSS, c.cwnd(), Some(rtt));
            }
        }
        // 200 RTTs: Reno with α≈0.53 adds ≈ 100 segments; W_cubic after
        // 0.2 s has barely moved from 14.
        assert!(c.cwnd() / MSS > 60, "cwnd {}", c.cwnd() / MSS);
    }
}
