//! The simulator's [`LinkModel`] applied to a real link: loss, delay,
//! reordering, duplication, corruption and a rate limit with a drop-tail
//! queue, decided per packet exactly as [`super::Network`] decides them, but
//! in real time. The Linux kernel on this machine has no `netem` qdisc, so
//! this is how faults get onto a path between synfin and the kernel.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::rngs::ChaCha8Rng;
use rand::SeedableRng;

use super::model::{LinkModel, Plan, QueueState};
use crate::time::Instant;

/// Which way a packet travels through an [`Impairment`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the stack (or bridge side A) onto the link.
    Out = 0,
    /// From the link to the stack (or bridge side B).
    In = 1,
}

/// Counters of what the impairment did.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImpairStats {
    /// Packets offered.
    pub offered: u64,
    /// Lost by the model's random loss.
    pub lost: u64,
    /// Dropped by the rate limiter's full queue or the MTU.
    pub dropped: u64,
    /// Held back to be reordered.
    pub reordered: u64,
    /// Delivered twice.
    pub duplicated: u64,
    /// Had a bit flipped.
    pub corrupted: u64,
}

#[derive(Default)]
struct Lane {
    queue: QueueState,
    /// Packets waiting for their delivery time, in order of (time, arrival
    /// number) so equal times keep FIFO order.
    pending: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>,
}

/// A [`LinkModel`] on both directions of a real link, with its own seeded
/// random source.
///
/// ```
/// use core::time::Duration;
/// use synfin::links::impair::{Direction, Impairment};
/// use synfin::links::LinkModel;
/// use synfin::time::Instant;
///
/// let mut imp = Impairment::new(LinkModel::new().delay(Duration::from_millis(10)), 1);
/// imp.offer(Direction::Out, Instant::ZERO, b"packet");
/// assert!(imp.pop_due(Direction::Out, Instant::from_millis(9)).is_none());
/// assert_eq!(imp.pop_due(Direction::Out, Instant::from_millis(10)).unwrap(), b"packet");
/// ```
pub struct Impairment {
    model: LinkModel,
    rng: ChaCha8Rng,
    lanes: [Lane; 2],
    seq: u64,
    stats: ImpairStats,
}

impl core::fmt::Debug for Impairment {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Impairment")
            .field("model", &self.model)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Impairment {
    /// The model on both directions, faults drawn from `seed`.
    pub fn new(model: LinkModel, seed: u64) -> Impairment {
        Impairment {
            model,
            rng: ChaCha8Rng::seed_from_u64(seed),
            lanes: [Lane::default(), Lane::default()],
            seq: 0,
            stats: ImpairStats::default(),
        }
    }

    /// The model in use.
    pub fn model(&self) -> &LinkModel {
        &self.model
    }

    /// What has happened so far.
    pub fn stats(&self) -> ImpairStats {
        self.stats
    }

    /// Hands one packet to direction `dir` at `now`.
    pub fn offer(&mut self, dir: Direction, now: Instant, packet: &[u8]) {
        self.stats.offered += 1;
        let lane = &mut self.lanes[dir as usize];
        match self.model.plan(
            &mut self.rng,
            &mut lane.queue,
            now,
            packet.len(),
            crate::wire::ip::packet_ecn(packet).is_some_and(crate::wire::Ecn::is_ect),
            None,
        ) {
            Plan::Drop(_) => self.stats.dropped += 1,
            Plan::Lose => self.stats.lost += 1,
            Plan::Deliver {
                arrives,
                duplicate_at,
                corrupt_bit,
                reordered,
                ce,
            } => {
                let mut p = packet.to_vec();
                if ce {
                    crate::wire::ip::mark_ce(&mut p);
                }
                if let Some(bit) = corrupt_bit {
                    self.stats.corrupted += 1;
                    let (byte, shift) = ((bit / 8) as usize, 7 - (bit % 8) as u32);
                    if let Some(b) = p.get_mut(byte) {
                        *b ^= 1 << shift;
                    }
                }
                if reordered {
                    self.stats.reordered += 1;
                }
                if let Some(at) = duplicate_at {
                    self.stats.duplicated += 1;
                    self.seq += 1;
                    lane.pending.push(Reverse((at, self.seq, p.clone())));
                }
                self.seq += 1;
                lane.pending.push(Reverse((arrives, self.seq, p)));
            }
        }
    }

    /// The next packet of direction `dir` due at or before `now`.
    pub fn pop_due(&mut self, dir: Direction, now: Instant) -> Option<Vec<u8>> {
        let lane = &mut self.lanes[dir as usize];
        match lane.pending.peek() {
            Some(Reverse((t, _, _))) if *t <= now => lane.pending.pop().map(|Reverse(e)| e.2),
            _ => None,
        }
    }

    /// When the next held packet (either direction) is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.lanes
            .iter()
            .filter_map(|l| l.pending.peek().map(|Reverse((t, _, _))| *t))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    #[test]
    fn loss_and_order() {
        let mut imp = Impairment::new(LinkModel::new().delay(Duration::ZERO).loss(1.0), 3);
        imp.offer(Direction::In, Instant::ZERO, b"x");
        assert_eq!(imp.pop_due(Direction::In, Instant::from_secs(1)), None);
        assert_eq!(imp.stats().lost, 1);

        let mut imp = Impairment::new(LinkModel::new().delay(Duration::from_millis(1)), 3);
        imp.offer(Direction::In, Instant::ZERO, b"a");
        imp.offer(Direction::In, Instant::ZERO, b"b");
        imp.offer(Direction::Out, Instant::ZERO, b"c");
        assert_eq!(imp.next_deadline(), Some(Instant::from_millis(1)));
        let t = Instant::from_millis(1);
        assert_eq!(imp.pop_due(Direction::In, t).as_deref(), Some(&b"a"[..]));
        assert_eq!(imp.pop_due(Direction::In, t).as_deref(), Some(&b"b"[..]));
        assert_eq!(imp.pop_due(Direction::In, t), None);
        assert_eq!(imp.pop_due(Direction::Out, t).as_deref(), Some(&b"c"[..]));
        assert_eq!(imp.next_deadline(), None);
    }

    #[test]
    fn reordered_packets_are_overtaken() {
        let m = LinkModel::new()
            .delay(Duration::ZERO)
            .reorder(1.0, Duration::from_millis(5));
        let mut imp = Impairment::new(m, 1);
        imp.offer(Direction::Out, Instant::ZERO, b"late");
        let mut imp2 = Impairment::new(LinkModel::new().delay(Duration::ZERO), 1);
        imp2.offer(Direction::Out, Instant::ZERO, b"now");
        assert!(imp
            .pop_due(Direction::Out, Instant::from_millis(4))
            .is_none());
        assert!(imp2.pop_due(Direction::Out, Instant::ZERO).is_some());
        assert!(imp
            .pop_due(Direction::Out, Instant::from_millis(5))
            .is_some());
        assert_eq!(imp.stats().reordered, 1);
    }
}
