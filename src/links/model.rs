//! What one direction of a simulated link does to the packets put on it.
//!
//! A [`LinkModel`] is plain data: delay, rate, queue, and fault
//! probabilities. The per-packet decisions are drawn from the network's
//! seeded RNG, so a run is a pure function of its seed.

use core::time::Duration;

use rand::{Rng, RngExt};

use crate::time::Instant;

/// The behaviour of one direction of a link.
///
/// Every probability is clamped to `0.0..=1.0` when used (NaN counts as 0), so
/// no value can make the simulator panic. A probability of exactly 0 draws no
/// random number, so turning a fault off does not perturb the RNG stream of
/// the faults that stay on.
///
/// ```
/// use core::time::Duration;
/// use synfin::links::LinkModel;
///
/// let lossy = LinkModel::new()
///     .delay(Duration::from_millis(20))
///     .bandwidth(1_000_000)
///     .loss(0.01);
/// assert_eq!(lossy.mtu, 65535);
/// assert!(lossy.up);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LinkModel {
    /// One-way propagation delay (default 1 ms).
    pub delay: Duration,
    /// Extra uniformly random delay in `0..=jitter` per packet (default 0).
    /// Because each packet draws its own, jitter can reorder packets.
    pub jitter: Duration,
    /// Serialization rate in bits per second; `None` is infinitely fast.
    ///
    /// With a rate, packets leave FIFO per direction: each waits until the
    /// previous one has been serialized, and a packet that would make the
    /// backlog exceed [`queue_limit_bytes`](Self::queue_limit_bytes) is
    /// dropped (drop-tail). A rate of 0 drops everything.
    pub bandwidth_bps: Option<u64>,
    /// Backlog limit of the FIFO when `bandwidth_bps` is set (default 1 MiB).
    pub queue_limit_bytes: usize,
    /// Probability that a packet is lost (it still occupies the link).
    pub loss: f64,
    /// Probability that a packet is delivered twice; the copy arrives
    /// [`DUPLICATE_GAP`] after the original.
    pub duplicate: f64,
    /// Probability that a packet is held back by
    /// [`reorder_delay`](Self::reorder_delay), so later packets overtake it.
    pub reorder: f64,
    /// Extra delay of a reordered packet (default 5 ms).
    pub reorder_delay: Duration,
    /// Probability that one uniformly chosen bit of the packet is flipped.
    pub corrupt: f64,
    /// Largest packet the link carries (default 65535); larger ones are
    /// dropped.
    pub mtu: usize,
    /// `false` partitions the link: everything sent is dropped.
    pub up: bool,
    /// Probability that an active queue manager signals congestion on a
    /// packet (default 0): an ECN-capable packet (ECT in its IP header) is
    /// marked CE and delivered, any other is dropped before the queue
    /// (RFC 3168 §5, RFC 7567 §4.2.1). Unlike [`loss`](Self::loss), this is
    /// congestion, which ECN lets a sender learn of without a loss.
    pub mark: f64,
    /// A step AQM: when the FIFO backlog (with `bandwidth_bps` set) exceeds
    /// this many bytes as a packet arrives, the packet signals congestion as
    /// for [`mark`](Self::mark). `None` (the default) signals nothing.
    pub mark_threshold_bytes: Option<usize>,
    /// Whether the AQM marks ECN-capable packets (default `true`); `false`
    /// models an AQM without ECN, which drops them like any other.
    pub ecn_marking: bool,
}

/// How much later than the original a duplicated copy arrives.
pub const DUPLICATE_GAP: Duration = Duration::from_micros(1);

impl Default for LinkModel {
    fn default() -> Self {
        LinkModel {
            delay: Duration::from_millis(1),
            jitter: Duration::ZERO,
            bandwidth_bps: None,
            queue_limit_bytes: 1 << 20,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(5),
            corrupt: 0.0,
            mtu: 65535,
            up: true,
            mark: 0.0,
            mark_threshold_bytes: None,
            ecn_marking: true,
        }
    }
}

impl LinkModel {
    /// The default link: 1 ms delay, infinite rate, no faults, MTU 65535.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the one-way propagation delay.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
    /// Sets the maximum extra random delay.
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }
    /// Sets the serialization rate in bits per second.
    pub fn bandwidth(mut self, bps: u64) -> Self {
        self.bandwidth_bps = Some(bps);
        self
    }
    /// Sets the FIFO backlog limit in bytes.
    pub fn queue_limit(mut self, bytes: usize) -> Self {
        self.queue_limit_bytes = bytes;
        self
    }
    /// Sets the loss probability.
    pub fn loss(mut self, p: f64) -> Self {
        self.loss = p;
        self
    }
    /// Sets the duplication probability.
    pub fn duplicate(mut self, p: f64) -> Self {
        self.duplicate = p;
        self
    }
    /// Sets the reordering probability and how long a reordered packet is
    /// held back.
    pub fn reorder(mut self, p: f64, hold: Duration) -> Self {
        self.reorder = p;
        self.reorder_delay = hold;
        self
    }
    /// Sets the bit-corruption probability.
    pub fn corrupt(mut self, p: f64) -> Self {
        self.corrupt = p;
        self
    }
    /// Sets the MTU.
    pub fn mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }
    /// Sets whether the link is up (`false` = partitioned).
    pub fn up(mut self, up: bool) -> Self {
        self.up = up;
        self
    }
    /// Sets the probability of an AQM congestion signal: CE for an ECT
    /// packet, a drop for any other.
    ///
    /// ```
    /// use synfin::links::LinkModel;
    ///
    /// // 100 Mbit/s with a step AQM at 30 kB of backlog, as DCTCP's K.
    /// let aqm = LinkModel::new().bandwidth(100_000_000).mark_above(30_000);
    /// assert_eq!(aqm.mark_threshold_bytes, Some(30_000));
    /// assert!(aqm.ecn_marking);
    /// let random = LinkModel::new().mark(0.01);
    /// assert_eq!(random.mark, 0.01);
    /// ```
    pub fn mark(mut self, p: f64) -> Self {
        self.mark = p;
        self
    }
    /// Sets the backlog above which every arriving packet signals
    /// congestion (CE if ECT, else dropped).
    pub fn mark_above(mut self, bytes: usize) -> Self {
        self.mark_threshold_bytes = Some(bytes);
        self
    }
    /// Sets whether the AQM marks ECT packets (`true`) or drops them too.
    pub fn ecn_marking(mut self, on: bool) -> Self {
        self.ecn_marking = on;
        self
    }

    /// Decides the fate of one packet of `len` bytes handed to this direction
    /// at `now`, updating the FIFO state in `queue`.
    ///
    /// `scripted` overrides the random fault draws for this packet (delay,
    /// jitter and the queue still apply); `ect` says whether the packet is
    /// ECN-capable (ECT(0), ECT(1) or CE in its IP header), which decides
    /// whether an AQM signal marks it or drops it.
    pub(crate) fn plan<R: Rng>(
        &self,
        rng: &mut R,
        queue: &mut QueueState,
        now: Instant,
        len: usize,
        ect: bool,
        scripted: Option<Fault>,
    ) -> Plan {
        if !self.up {
            return Plan::Drop(DropReason::LinkDown);
        }
        if len > self.mtu {
            return Plan::Drop(DropReason::Mtu);
        }
        // The AQM decides as the packet arrives at the queue (RFC 7567):
        // above the threshold, or at random, or as scripted.
        let over = match (self.bandwidth_bps, self.mark_threshold_bytes) {
            (Some(bps), Some(limit)) => queue.backlog(now, bps) > limit as u128,
            _ => false,
        };
        let signal = over
            || match scripted {
                Some(f) => f == Fault::Mark,
                None => chance(rng, self.mark),
            };
        let ce = signal && ect && self.ecn_marking;
        if signal && !ce {
            return Plan::Drop(DropReason::Aqm);
        }
        let departs = match self.bandwidth_bps {
            None => now,
            Some(bps) => match queue.enqueue(now, len, bps, self.queue_limit_bytes) {
                Some(done) => done,
                None => return Plan::Drop(DropReason::QueueFull),
            },
        };

        let (lost, dup, reorder, corrupt) = match scripted {
            Some(f) => (
                f == Fault::Drop,
                f == Fault::Duplicate,
                f == Fault::Reorder,
                f == Fault::Corrupt,
            ),
            None => (
                chance(rng, self.loss),
                chance(rng, self.duplicate),
                chance(rng, self.reorder),
                chance(rng, self.corrupt),
            ),
        };
        if lost {
            return Plan::Lose;
        }

        let jitter_us = micros(self.jitter);
        let jitter = if jitter_us == 0 {
            Duration::ZERO
        } else {
            Duration::from_micros(rng.random_range(0..=jitter_us))
        };
        let mut arrives = departs + self.delay + jitter;
        if reorder {
            arrives += self.reorder_delay;
        }
        let corrupt_bit = if corrupt && len > 0 {
            // len * 8 cannot overflow u64 for any packet that fits in memory.
            Some(rng.random_range(0..(len as u64) * 8))
        } else {
            None
        };
        Plan::Deliver {
            arrives,
            duplicate_at: dup.then(|| arrives + DUPLICATE_GAP),
            corrupt_bit,
            reordered: reorder,
            ce,
        }
    }
}

/// A fault forced onto one specific packet, bypassing the random draws; see
/// [`Network::script`](crate::links::Network::script).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Deliver normally, with no random fault.
    Pass,
    /// Lose the packet.
    Drop,
    /// Deliver it twice.
    Duplicate,
    /// Hold it back by the model's `reorder_delay`.
    Reorder,
    /// Flip one random bit.
    Corrupt,
    /// An AQM congestion signal: mark it CE if it is ECN-capable, else drop
    /// it (see [`LinkModel::mark`]).
    Mark,
}

/// Why a packet never made it onto the wire.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum DropReason {
    NoRoute,
    Mtu,
    QueueFull,
    LinkDown,
    /// An AQM's congestion signal on a packet that is not ECN-capable.
    Aqm,
}

/// The outcome [`LinkModel::plan`] chose for one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    Drop(DropReason),
    Lose,
    Deliver {
        arrives: Instant,
        duplicate_at: Option<Instant>,
        /// Bit index (from the first byte's most significant bit) to flip.
        corrupt_bit: Option<u64>,
        reordered: bool,
        /// An AQM marked it: rewrite its ECN field to CE.
        ce: bool,
    },
}

/// FIFO state of one rate-limited direction.
///
/// The backlog is derived from `busy_until` rather than tracked per packet:
/// whatever has not been serialized by `now` is still queued, which needs no
/// dequeue events.
#[derive(Clone, Debug, Default)]
pub(crate) struct QueueState {
    busy_until: Instant,
}

impl QueueState {
    /// Bytes not yet serialized at `now`, at `bps`.
    fn backlog(&self, now: Instant, bps: u64) -> u128 {
        let pending_us = u128::from(micros(self.busy_until.saturating_duration_since(now)));
        (pending_us * u128::from(bps)).div_ceil(8_000_000)
    }

    /// Admits `len` bytes at `now` and returns when their last bit leaves, or
    /// `None` if the queue is full (or the rate is 0).
    fn enqueue(&mut self, now: Instant, len: usize, bps: u64, limit: usize) -> Option<Instant> {
        if bps == 0 {
            return None;
        }
        let backlog = self.backlog(now, bps);
        let bps = u128::from(bps);
        if backlog + len as u128 > limit as u128 {
            return None;
        }
        let tx_us = (len as u128 * 8_000_000).div_ceil(bps);
        let tx = Duration::from_micros(u64::try_from(tx_us).unwrap_or(u64::MAX / 4));
        let done = self.busy_until.max(now) + tx;
        self.busy_until = done;
        Some(done)
    }
}

/// `true` with probability `p`; robust to NaN and out-of-range values.
fn chance<R: Rng>(rng: &mut R, p: f64) -> bool {
    if p.is_nan() || p <= 0.0 {
        false
    } else if p >= 1.0 {
        true
    } else {
        rng.random::<f64>() < p
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::ChaCha8Rng;
    use rand::SeedableRng;

    #[test]
    fn serialization_time_and_drop_tail() {
        let mut q = QueueState::default();
        // 1000 bytes at 8 Mbit/s = 1 ms each.
        let t0 = Instant::ZERO;
        assert_eq!(
            q.enqueue(t0, 1000, 8_000_000, 2500),
            Some(Instant::from_millis(1))
        );
        assert_eq!(
            q.enqueue(t0, 1000, 8_000_000, 2500),
            Some(Instant::from_millis(2))
        );
        // Backlog is 2000 bytes; another 1000 exceeds 2500.
        assert_eq!(q.enqueue(t0, 1000, 8_000_000, 2500), None);
        // Half a millisecond later 500 bytes have left.
        let t = Instant::from_micros(1500);
        assert_eq!(
            q.enqueue(t, 1000, 8_000_000, 2500),
            Some(Instant::from_millis(3))
        );
        assert_eq!(q.enqueue(t, 1, 0, 2500), None);
    }

    #[test]
    fn odd_probabilities_do_not_panic() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for p in [f64::NAN, -1.0, 2.0, f64::INFINITY, f64::NEG_INFINITY] {
            let m = LinkModel::new()
                .loss(p)
                .duplicate(p)
                .reorder(p, Duration::MAX)
                .corrupt(p);
            let _ = m.plan(
                &mut rng,
                &mut QueueState::default(),
                Instant::ZERO,
                10,
                true,
                None,
            );
        }
        let m = LinkModel::new().jitter(Duration::MAX).delay(Duration::MAX);
        let _ = m.plan(
            &mut rng,
            &mut QueueState::default(),
            Instant::ZERO,
            0,
            false,
            None,
        );
    }

    #[test]
    fn aqm_marks_ect_and_drops_the_rest() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let m = LinkModel::new().mark(1.0);
        let mut q = QueueState::default();
        let t = Instant::ZERO;
        assert!(matches!(
            m.plan(&mut rng, &mut q, t, 100, true, None),
            Plan::Deliver { ce: true, .. }
        ));
        assert_eq!(
            m.plan(&mut rng, &mut q, t, 100, false, None),
            Plan::Drop(DropReason::Aqm)
        );
        // Without ECN marking the AQM drops ECT packets too.
        let m = m.ecn_marking(false);
        assert_eq!(
            m.plan(&mut rng, &mut q, t, 100, true, None),
            Plan::Drop(DropReason::Aqm)
        );
        // A scripted mark, on a link that never marks by itself.
        let m = LinkModel::new();
        assert!(matches!(
            m.plan(&mut rng, &mut q, t, 100, true, Some(Fault::Mark)),
            Plan::Deliver { ce: true, .. }
        ));
        assert!(matches!(
            m.plan(&mut rng, &mut q, t, 100, true, None),
            Plan::Deliver { ce: false, .. }
        ));
    }

    #[test]
    fn step_aqm_marks_above_the_threshold() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        // 8 Mbit/s: 1000 bytes take 1 ms. Threshold 1500 bytes of backlog.
        let m = LinkModel::new().bandwidth(8_000_000).mark_above(1500);
        let mut q = QueueState::default();
        let t = Instant::ZERO;
        let ce = |p: Plan| matches!(p, Plan::Deliver { ce: true, .. });
        assert!(!ce(m.plan(&mut rng, &mut q, t, 1000, true, None))); // backlog 0
        assert!(!ce(m.plan(&mut rng, &mut q, t, 1000, true, None))); // 1000
        assert!(ce(m.plan(&mut rng, &mut q, t, 1000, true, None))); // 2000
        assert_eq!(
            m.plan(&mut rng, &mut q, t, 1000, false, None),
            Plan::Drop(DropReason::Aqm)
        );
        // Once the queue drained below the threshold, no more marks.
        let later = Instant::from_millis(2);
        assert!(!ce(m.plan(&mut rng, &mut q, later, 1000, true, None)));
    }
}
