//! Retransmission timeout computation (RFC 6298).
//!
//! The estimator only does arithmetic; the connection decides which
//! measurements are valid (Karn's algorithm, RFC 6298 §3: no samples from
//! retransmitted segments) and when the timer runs.

use core::time::Duration;

/// Clock granularity G (RFC 6298 §2): our clock has microsecond resolution,
/// but a 1 ms floor on the variance term keeps the RTO from collapsing onto
/// SRTT on very stable paths, where any jitter would cause a spurious timeout.
const G_US: u32 = 1_000;
/// K (RFC 6298 §2).
const K: u64 = 4;
/// Backoff doublings beyond this cannot matter: u32 microseconds << 32
/// already exceeds any cap we could compare against in u64.
const MAX_SHIFT: u32 = 32;

/// Smoothed RTT estimator and RTO calculator per RFC 6298.
///
/// Times are kept as u32 microseconds (up to ~71 minutes, far beyond any
/// sensible RTO cap) to keep the per-connection state small; larger inputs
/// saturate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttEstimator {
    /// SRTT in microseconds once `has_sample`. Before the first sample
    /// SRTT is undefined (RFC 6298 §2.1), so the field holds the RTO
    /// before backoff instead: the initial one, clamped to `[min, max]`,
    /// or the §5.7 fallback. Reusing it keeps the block at 24 bytes.
    srtt_us: u32,
    /// RTTVAR in microseconds; meaningful only if `has_sample`.
    rttvar_us: u32,
    /// The current RTO in microseconds, backoff (RFC 6298 §5.5) and slop
    /// included and capped at `max` (§2.5), as [`rto_micros`] returns it.
    /// Cached because the timer is re-armed with it after every data send
    /// (§5.1, §5.3), far more often than its inputs change; every writer
    /// of `srtt_us`, `rttvar_us`, `backoff` or `has_sample` refreshes it.
    ///
    /// [`rto_micros`]: RttEstimator::rto_micros
    rto_us: u32,
    min_rto_us: u32,
    max_rto_us: u32,
    /// Number of consecutive doublings (RFC 6298 §5.5), saturating. A u8
    /// (255 doublings are far past any cap: the shift stops at
    /// `MAX_SHIFT`), so the estimator packs into 24 bytes of every
    /// connection block.
    backoff: u8,
    /// Added to every RTO but the initial one, in milliseconds
    /// ([`RttEstimator::with_slop`]).
    slop_ms: u16,
    has_sample: bool,
}

fn to_us(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

impl RttEstimator {
    /// A new estimator. Until the first sample the RTO is `initial_rto`
    /// (RFC 6298 §2.1 recommends 1 s), clamped to `[min_rto, max_rto]`. RFC
    /// 6298 §2.4 says the minimum SHOULD be 1 s; many stacks (Linux) use
    /// 200 ms, so it is a parameter. If `min_rto > max_rto` the maximum is
    /// raised to the minimum.
    pub fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        let min_rto_us = to_us(min_rto);
        let max_rto_us = to_us(max_rto).max(min_rto_us);
        let initial_us = to_us(initial_rto).clamp(min_rto_us, max_rto_us);
        RttEstimator {
            // No sample yet: the RTO before backoff (see the field), which
            // without backoff or slop is also the current RTO.
            srtt_us: initial_us,
            rttvar_us: 0,
            rto_us: initial_us,
            min_rto_us,
            max_rto_us,
            backoff: 0,
            slop_ms: 0,
            has_sample: false,
        }
    }

    /// Adds `slop` (at most 65 s) to every RTO once it is computed from a
    /// sample or backed off — not to the initial one — before the cap, as
    /// BSD's `TCPT_RANGESET` adds `net.inet.tcp.rexmit_slop` (200 ms
    /// there): a margin for the peer's delayed ACK and timer granularity.
    /// RFC 6298 has no such term; 0 (the default) is RFC 6298 exactly.
    pub fn with_slop(mut self, slop: Duration) -> Self {
        self.slop_ms = u16::try_from(slop.as_millis()).unwrap_or(u16::MAX);
        self.refresh_rto();
        self
    }

    /// Take an RTT measurement (RFC 6298 §2.2 for the first, §2.3 for later
    /// ones, with alpha = 1/8, beta = 1/4, K = 4, G = 1 ms), recompute the
    /// RTO clamped to `[min, max]` (§2.4, §2.5) and reset the backoff: a
    /// fresh sample means the path is delivering again (§5.7 keeps the
    /// backed-off value only until then).
    pub fn sample(&mut self, rtt: Duration) {
        self.sample_micros(to_us(rtt));
    }

    /// [`sample`](Self::sample) with the RTT in microseconds, as the
    /// connection measures it.
    pub fn sample_micros(&mut self, rtt_us: u32) {
        let r = rtt_us as u64;
        if self.has_sample {
            // RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|, updated
            // before SRTT as §2.3 requires. u64 avoids overflow.
            let srtt = self.srtt_us as u64;
            let err = srtt.abs_diff(r);
            self.rttvar_us = ((3 * self.rttvar_us as u64 + err) / 4) as u32;
            // SRTT <- (1 - alpha) * SRTT + alpha * R'
            self.srtt_us = ((7 * srtt + r) / 8) as u32;
        } else {
            // SRTT <- R, RTTVAR <- R/2
            self.srtt_us = r as u32;
            self.rttvar_us = (r / 2) as u32;
            self.has_sample = true;
        }
        self.backoff = 0;
        // `refresh_rto` with no backoff and a sample taken: base plus slop,
        // capped (RFC 6298 §2.4, §2.5).
        let rto = self.base_rto_us() as u64 + u64::from(self.slop_ms) * 1000;
        self.rto_us = rto.min(self.max_rto_us as u64) as u32;
    }

    /// The RTO before backoff and slop, clamped to `[min, max]`: SRTT +
    /// max(G, K * RTTVAR) once sampled (RFC 6298 §2.2, §2.3, §2.4, §2.5),
    /// before that the value kept in `srtt_us` (§2.1, §5.7).
    fn base_rto_us(&self) -> u32 {
        if !self.has_sample {
            return self.srtt_us;
        }
        // RTO <- SRTT + max(G, K * RTTVAR)
        let var = (K * self.rttvar_us as u64).max(G_US as u64);
        let rto = (self.srtt_us as u64 + var).min(u32::MAX as u64) as u32;
        rto.clamp(self.min_rto_us, self.max_rto_us)
    }

    /// Recompute the cached current RTO after any of its inputs changed:
    /// the base doubled per backoff (RFC 6298 §5.5), plus the slop once
    /// sampled or backed off, capped at `max` (§2.5). The result is at
    /// most `max_rto_us`, so it fits the u32.
    fn refresh_rto(&mut self) {
        let shift = u32::from(self.backoff).min(MAX_SHIFT);
        let slop = if self.has_sample || shift > 0 {
            u64::from(self.slop_ms) * 1000
        } else {
            0
        };
        let rto = ((self.base_rto_us() as u64) << shift) + slop;
        self.rto_us = rto.min(self.max_rto_us as u64) as u32;
    }

    /// The current RTO including exponential backoff (RFC 6298 §5.5),
    /// capped at `max_rto` (§2.5 permits a maximum).
    pub fn rto(&self) -> Duration {
        Duration::from_micros(self.rto_micros())
    }

    /// [`rto`](Self::rto) in microseconds: what the retransmission timer
    /// is armed with after every data send, without the round trip through
    /// a `Duration` (a division by 10^6 and a 128-bit product). A load of
    /// the cached value: the timer is armed far more often (RFC 6298 §5.1,
    /// §5.3) than a sample or backoff changes it.
    #[inline]
    pub fn rto_micros(&self) -> u64 {
        u64::from(self.rto_us)
    }

    /// Double the RTO after a retransmission timeout (RFC 6298 §5.5). The
    /// count keeps increasing even once the cap is reached, so the
    /// connection can use it to give up (RFC 9293 §3.8.3, R2).
    pub fn backoff(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
        self.refresh_rto();
    }

    /// Number of doublings since the last sample or reset.
    #[inline]
    pub fn backoff_count(&self) -> u32 {
        u32::from(self.backoff)
    }

    /// RFC 6298 §5.7: the SYN (or SYN-ACK) was retransmitted and the
    /// handshake yielded no RTT sample (Karn), so the RTO is re-initialized
    /// to 3 s, if lower, when data transmission begins.
    pub fn syn_timeout_fallback(&mut self) {
        const FALLBACK_US: u32 = 3_000_000;
        if !self.has_sample {
            // Before a sample `srtt_us` holds the RTO before backoff.
            self.srtt_us = self
                .srtt_us
                .max(FALLBACK_US)
                .clamp(self.min_rto_us, self.max_rto_us);
            self.refresh_rto();
        }
    }

    /// Forget the backoff without a new sample.
    /// Called on every new ACK; with no backoff to forget the cached RTO
    /// is already current, so nothing is recomputed.
    pub fn reset_backoff(&mut self) {
        if self.backoff != 0 {
            self.backoff = 0;
            self.refresh_rto();
        }
    }

    /// The smoothed RTT in microseconds, once a sample has been taken (for
    /// deadlines computed without `Duration`).
    pub fn srtt_micros(&self) -> Option<u64> {
        self.has_sample.then_some(u64::from(self.srtt_us))
    }

    /// The smoothed RTT, once a sample has been taken.
    pub fn srtt(&self) -> Option<Duration> {
        self.has_sample
            .then(|| Duration::from_micros(self.srtt_us as u64))
    }

    /// The RTT variation, once a sample has been taken.
    pub fn rttvar(&self) -> Option<Duration> {
        self.has_sample
            .then(|| Duration::from_micros(self.rttvar_us as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }
    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn slop_is_added_after_a_sample_or_a_backoff_only() {
        let mut e = RttEstimator::new(ms(1000), ms(30), ms(64_000)).with_slop(ms(200));
        assert_eq!(e.rto(), ms(1000));
        e.backoff();
        assert_eq!(e.rto(), ms(2200));
        e.sample(ms(100));
        // 100 + 4 * 50, plus the slop.
        assert_eq!(e.rto(), ms(500));
        for _ in 0..20 {
            e.backoff();
        }
        assert_eq!(e.rto(), ms(64_000), "capped after the slop");
    }

    /// The cached RTO tracks every input: the §5.7 fallback while backed
    /// off, a reset, a sample, and the slop set after a sample.
    #[test]
    fn cached_rto_follows_every_writer() {
        let mut e = RttEstimator::new(ms(1000), ms(200), ms(60_000));
        e.backoff();
        assert_eq!(e.rto(), ms(2000));
        e.syn_timeout_fallback();
        assert_eq!(e.rto(), ms(6000), "3 s fallback, still backed off once");
        e.reset_backoff();
        assert_eq!(e.rto(), ms(3000));
        e.reset_backoff();
        assert_eq!(e.rto(), ms(3000), "a reset without backoff keeps it");
        e.sample(ms(100));
        assert_eq!(e.rto(), ms(300));
        e.syn_timeout_fallback();
        assert_eq!(e.rto(), ms(300), "no fallback once sampled");
        let e = e.with_slop(ms(50));
        assert_eq!(e.rto(), ms(350));
    }

    #[test]
    fn initial_rto_until_first_sample() {
        let e = RttEstimator::new(ms(1000), ms(200), ms(60_000));
        assert_eq!(e.rto(), ms(1000));
        assert_eq!(e.srtt(), None);
        assert_eq!(e.rttvar(), None);
        assert_eq!(e.backoff_count(), 0);
        // Initial value is clamped too.
        assert_eq!(
            RttEstimator::new(ms(10), ms(200), ms(60_000)).rto(),
            ms(200)
        );
        assert_eq!(
            RttEstimator::new(ms(90_000), ms(200), ms(60_000)).rto(),
            ms(60_000)
        );
        // Inverted bounds do not panic.
        assert_eq!(RttEstimator::new(ms(1), ms(500), ms(100)).rto(), ms(500));
    }

    #[test]
    fn rfc6298_arithmetic() {
        let mut e = RttEstimator::new(ms(1000), ms(200), ms(60_000));
        // First sample R = 100 ms (§2.2): SRTT = 100, RTTVAR = 50,
        // RTO = 100 + 4 * 50 = 300 ms.
        e.sample(ms(100));
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), Some(ms(50)));
        assert_eq!(e.rto(), ms(300));
        // Second sample R' = 200 ms (§2.3):
        // RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 62.5 ms
        // SRTT   = 7/8 * 100 + 1/8 * 200       = 112.5 ms
        // RTO    = 112.5 + 4 * 62.5             = 362.5 ms
        e.sample(ms(200));
        assert_eq!(e.rttvar(), Some(us(62_500)));
        assert_eq!(e.srtt(), Some(us(112_500)));
        assert_eq!(e.rto(), us(362_500));
        // Third sample R' = 112.5 ms (no error):
        // RTTVAR = 3/4 * 62.5 = 46.875 ms, SRTT unchanged,
        // RTO = 112.5 + 187.5 = 300 ms.
        e.sample(us(112_500));
        assert_eq!(e.rttvar(), Some(us(46_875)));
        assert_eq!(e.srtt(), Some(us(112_500)));
        assert_eq!(e.rto(), ms(300));
    }

    #[test]
    fn granularity_and_min_clamp() {
        // Perfectly stable tiny RTT: RTTVAR decays to 0, G keeps 1 ms.
        let mut e = RttEstimator::new(ms(1000), Duration::ZERO, ms(60_000));
        for _ in 0..100 {
            e.sample(us(50));
        }
        assert_eq!(e.rttvar(), Some(Duration::ZERO));
        assert_eq!(e.rto(), us(1_050));
        // With a minimum RTO of 200 ms the floor wins (§2.4).
        let mut e = RttEstimator::new(ms(1000), ms(200), ms(60_000));
        e.sample(ms(10));
        assert_eq!(e.rto(), ms(200));
        // Max clamp (§2.5).
        e.sample(Duration::from_secs(100));
        assert_eq!(e.rto(), ms(60_000));
        // Absurd sample saturates without panicking.
        e.sample(Duration::MAX);
        assert_eq!(e.rto(), ms(60_000));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let mut e = RttEstimator::new(ms(1000), ms(200), ms(60_000));
        e.backoff();
        assert_eq!(e.rto(), ms(2000));
        e.backoff();
        assert_eq!(e.rto(), ms(4000));
        for _ in 0..4 {
            e.backoff();
        }
        assert_eq!(e.backoff_count(), 6);
        assert_eq!(e.rto(), ms(60_000), "64 s capped at 60 s");
        for _ in 0..100 {
            e.backoff();
        }
        assert_eq!(e.backoff_count(), 106);
        assert_eq!(e.rto(), ms(60_000));
        e.reset_backoff();
        assert_eq!(e.rto(), ms(1000));
        e.backoff();
        e.sample(ms(100));
        assert_eq!(e.backoff_count(), 0, "a sample resets backoff");
        assert_eq!(e.rto(), ms(300));
        // Saturating counter.
        e.backoff = u8::MAX;
        e.backoff();
        assert_eq!(e.rto(), ms(60_000));
    }
}
