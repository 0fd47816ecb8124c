//! A bounded set of out-of-order byte ranges for reassembly.
//!
//! RFC 9293 §3.10.7.4 lets a receiver keep segments that arrive ahead of
//! RCV.NXT ("segments with higher beginning sequence numbers ... may be held
//! for later processing"). The [`Assembler`] records which ranges of the
//! receive window are filled; the bytes themselves live in the receive queue.
//! Offsets are relative to the receive queue's contiguous end (RCV.NXT).
//!
//! Storage is inline and bounded by [`MAX_HOLES`] so that a peer cannot make
//! us allocate by sending a pathological pattern of tiny segments; a segment
//! that would need another block is simply not recorded (the peer will
//! retransmit it). The sorted blocks double as the source for SACK blocks
//! (RFC 2018).

/// Maximum number of separate out-of-order blocks kept (bounded memory:
/// 12 bytes each, and the assembler exists only while out-of-order data is
/// held). A slow-start overshoot into a drop-tail queue loses every other
/// segment of a window; with too few blocks the receiver would discard the
/// segments between the holes and turn one loss into two (measured: with
/// 16 blocks a 100 Mbit/s, 20 ms path resent 600 segments needlessly after
/// one overshoot), so this is as many as the `u8` count allows, about 3 KiB
/// while out-of-order data is held.
pub const MAX_HOLES: usize = 255;

/// A sorted set of disjoint, non-adjacent half-open ranges `[start, end)`.
///
/// Invariants: `blocks[..count]` is sorted ascending, every block is
/// non-empty, and consecutive blocks are separated by a gap of at least one
/// byte (adjacent blocks are always merged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assembler {
    /// `(start, end)` offsets; u32 is ample since a TCP window is at most
    /// 2^30 bytes (RFC 7323 §2.3) and it halves the struct size.
    blocks: [(u32, u32); MAX_HOLES],
    /// When each block last grew or was touched by a segment (a counter,
    /// larger is newer): SACK reports blocks most recent first (RFC 2018
    /// §4), so this travels with its block through every move.
    stamps: [u32; MAX_HOLES],
    /// The next stamp to hand out.
    clock: u32,
    count: u8,
}

impl Default for Assembler {
    fn default() -> Self {
        Self::new()
    }
}

impl Assembler {
    /// An empty set.
    pub const fn new() -> Self {
        Assembler {
            blocks: [(0, 0); MAX_HOLES],
            stamps: [0; MAX_HOLES],
            clock: 0,
            count: 0,
        }
    }

    /// Whether no range is recorded.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Forget all ranges.
    #[inline]
    pub fn clear(&mut self) {
        self.count = 0;
    }

    #[inline]
    fn live(&self) -> &[(u32, u32)] {
        &self.blocks[..self.count as usize]
    }

    /// Record that `[offset, offset + len)` is present. Merges overlapping
    /// and adjacent blocks. Returns `false` (and changes nothing) if it would
    /// need more than [`MAX_HOLES`] blocks, or if the range does not fit in
    /// 32-bit offsets (beyond any possible TCP window). An empty range is a
    /// successful no-op.
    pub fn add(&mut self, offset: usize, len: usize) -> bool {
        if len == 0 {
            return true;
        }
        let (start, end) = match offset.checked_add(len) {
            Some(end) if end <= u32::MAX as usize => (offset as u32, end as u32),
            _ => return false,
        };
        let n = self.count as usize;
        // First block that touches or follows the new range: its end reaches
        // `start` (adjacency counts, so `>=`).
        let i = self.live().partition_point(|&(_, e)| e < start);
        // First block entirely after the new range, leaving a gap.
        let j = i + self.blocks[i..n].partition_point(|&(s, _)| s <= end);
        if i == j {
            // Touches nothing: insert a new block at i.
            if n == MAX_HOLES {
                return false;
            }
            self.blocks.copy_within(i..n, i + 1);
            self.stamps.copy_within(i..n, i + 1);
            self.clock = self.clock.wrapping_add(1);
            self.blocks[i] = (start, end);
            self.stamps[i] = self.clock;
            self.count += 1;
        } else {
            // Blocks i..j all overlap or abut the new range: fuse them into i.
            let merged = (start.min(self.blocks[i].0), end.max(self.blocks[j - 1].1));
            self.clock = self.clock.wrapping_add(1);
            self.blocks[i] = merged;
            self.stamps[i] = self.clock;
            self.blocks.copy_within(j..n, i + 1);
            self.stamps.copy_within(j..n, i + 1);
            self.count -= (j - i - 1) as u8;
        }
        true
    }

    /// If a block starts at offset 0, remove it and return its length (the
    /// bytes that are now contiguous with the in-order data); otherwise 0.
    /// Offsets of the remaining blocks are unchanged; follow with
    /// [`shift`](Self::shift) to rebase them.
    pub fn remove_front(&mut self) -> usize {
        match self.live().first() {
            Some(&(0, end)) => {
                let n = self.count as usize;
                self.blocks.copy_within(1..n, 0);
                self.stamps.copy_within(1..n, 0);
                self.count -= 1;
                end as usize
            }
            _ => 0,
        }
    }

    /// Shift all offsets down by `n` (after `n` bytes became contiguous).
    /// Parts of blocks that fall below 0 are clipped; blocks entirely below
    /// 0 are removed.
    pub fn shift(&mut self, n: usize) {
        if n == 0 || self.count == 0 {
            return;
        }
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        // Blocks are sorted, so the fully-consumed ones form a prefix.
        let dead = self.live().partition_point(|&(_, e)| e <= n);
        let count = self.count as usize;
        self.blocks.copy_within(dead..count, 0);
        self.stamps.copy_within(dead..count, 0);
        self.count = (count - dead) as u8;
        for b in &mut self.blocks[..count - dead] {
            *b = (b.0.saturating_sub(n), b.1 - n);
        }
    }

    /// The blocks as `(start, end)` pairs, sorted ascending.
    pub fn blocks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.live().iter().map(|&(s, e)| (s as usize, e as usize))
    }

    /// Up to `N` blocks, most recently touched first (RFC 2018 §4: the first
    /// SACK block holds the most recent segment, the rest repeat the most
    /// recently reported). Allocation-free: a fixed array and a count.
    pub fn most_recent<const N: usize>(&self) -> ([(usize, usize); N], usize) {
        let mut out = [(0usize, 0usize); N];
        let mut taken = [false; MAX_HOLES];
        let n = N.min(self.count as usize);
        for slot in out.iter_mut().take(n) {
            // A selection pass per slot: N is at most 4, count at most 16.
            let mut best: Option<usize> = None;
            let stamps = &self.stamps[..self.count as usize];
            for (k, &stamp) in stamps.iter().enumerate() {
                // Wrapping comparison of stamps.
                let newer = best.is_none_or(|b| (stamp.wrapping_sub(stamps[b]) as i32) > 0);
                if !taken[k] && newer {
                    best = Some(k);
                }
            }
            if let Some(b) = best {
                taken[b] = true;
                let (s, e) = self.blocks[b];
                *slot = (s as usize, e as usize);
            }
        }
        (out, n)
    }

    /// The lowest part of `[offset, offset + len)` already recorded, if any:
    /// the duplicate a D-SACK block reports (RFC 2883 §4).
    pub fn first_overlap(&self, offset: usize, len: usize) -> Option<(usize, usize)> {
        let end = offset.checked_add(len)?;
        self.blocks()
            .find(|&(s, e)| s < end && e > offset)
            .map(|(s, e)| (s.max(offset), e.min(end)))
    }

    /// The highest recorded end offset, 0 if empty.
    #[inline]
    pub fn end(&self) -> usize {
        self.live().last().map_or(0, |&(_, e)| e as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn blocks(a: &Assembler) -> Vec<(usize, usize)> {
        a.blocks().collect()
    }

    #[test]
    fn empty() {
        let mut a = Assembler::new();
        assert!(a.is_empty());
        assert_eq!(a.end(), 0);
        assert_eq!(a.remove_front(), 0);
        assert!(a.add(5, 0));
        assert!(a.is_empty());
        a.shift(10);
        assert!(a.is_empty());
    }

    #[test]
    fn disjoint_sorted() {
        let mut a = Assembler::new();
        assert!(a.add(20, 5));
        assert!(a.add(0, 3));
        assert!(a.add(10, 2));
        assert_eq!(blocks(&a), [(0, 3), (10, 12), (20, 25)]);
        assert_eq!(a.end(), 25);
    }

    #[test]
    fn merges() {
        let mut a = Assembler::new();
        a.add(10, 10); // [10,20)
        a.add(20, 5); // adjacent right
        assert_eq!(blocks(&a), [(10, 25)]);
        a.add(5, 5); // adjacent left
        assert_eq!(blocks(&a), [(5, 25)]);
        a.add(7, 3); // contained
        assert_eq!(blocks(&a), [(5, 25)]);
        a.add(0, 40); // covers
        assert_eq!(blocks(&a), [(0, 40)]);
        a.add(50, 5);
        a.add(60, 5);
        a.add(70, 5);
        assert_eq!(blocks(&a), [(0, 40), (50, 55), (60, 65), (70, 75)]);
        a.add(53, 10); // overlaps two blocks' edges
        assert_eq!(blocks(&a), [(0, 40), (50, 65), (70, 75)]);
        a.add(40, 10); // bridges exactly
        assert_eq!(blocks(&a), [(0, 65), (70, 75)]);
        a.add(66, 2); // inside gap, no touch
        assert_eq!(blocks(&a), [(0, 65), (66, 68), (70, 75)]);
        a.add(65, 1); // fills a one-byte gap
        assert_eq!(blocks(&a), [(0, 68), (70, 75)]);
        a.add(60, 100); // overlap and swallow the tail
        assert_eq!(blocks(&a), [(0, 160)]);
    }

    #[test]
    fn full() {
        let mut a = Assembler::new();
        for k in 0..MAX_HOLES {
            assert!(a.add(k * 10 + 2, 2));
        }
        let before = a;
        let far = MAX_HOLES * 10 + 100;
        assert!(!a.add(far, 1), "one block too many refused");
        assert!(!a.add(0, 1), "new front block refused too");
        assert_eq!(a, before);
        // Merging never needs a new slot, so it still works when full.
        assert!(a.add(4, 8)); // joins [2,4) and [12,14)
        assert_eq!(a.blocks().count(), MAX_HOLES - 1);
        assert!(a.add(far, 1));
        assert!(a.add(3, MAX_HOLES * 10)); // swallow all but the first start
        assert_eq!(blocks(&a), [(2, MAX_HOLES * 10 + 3), (far, far + 1)]);
    }

    #[test]
    fn huge_offsets_refused() {
        let mut a = Assembler::new();
        assert!(!a.add(usize::MAX, 2));
        assert!(!a.add(u32::MAX as usize, 1));
        assert!(a.add(u32::MAX as usize - 1, 1));
        assert!(a.add(0, u32::MAX as usize));
        assert_eq!(blocks(&a), [(0, u32::MAX as usize)]);
    }

    #[test]
    fn remove_front_and_shift() {
        let mut a = Assembler::new();
        a.add(0, 4);
        a.add(6, 4);
        a.add(12, 3);
        assert_eq!(a.remove_front(), 4);
        assert_eq!(a.remove_front(), 0);
        a.shift(4);
        assert_eq!(blocks(&a), [(2, 6), (8, 11)]);
        a.shift(3); // clips the first block
        assert_eq!(blocks(&a), [(0, 3), (5, 8)]);
        a.shift(4); // removes the first, clips nothing else
        assert_eq!(blocks(&a), [(1, 4)]);
        a.shift(usize::MAX);
        assert!(a.is_empty());
    }

    #[test]
    fn recency_and_overlap() {
        let mut a = Assembler::new();
        a.add(100, 100); // 200:300 relative to 100
        a.add(300, 100);
        a.add(500, 100);
        let (b, n) = a.most_recent::<4>();
        assert_eq!(&b[..n], &[(500, 600), (300, 400), (100, 200)]);
        // Touching a block (even a duplicate inside it) makes it newest.
        assert_eq!(a.first_overlap(150, 25), Some((150, 175)));
        a.add(150, 25);
        let (b, n) = a.most_recent::<2>();
        assert_eq!(&b[..n], &[(100, 200), (500, 600)]);
        // Overlap reports the lowest duplicated part only.
        assert_eq!(a.first_overlap(50, 500), Some((100, 200)));
        assert_eq!(a.first_overlap(200, 100), None);
        a.add(250, 200); // merges 300:400 into 250:450
        let (b, n) = a.most_recent::<4>();
        assert_eq!(&b[..n], &[(250, 450), (100, 200), (500, 600)]);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        /// Against a bitmap model: accepted adds set bits, refused adds
        /// change nothing, and blocks are exactly the runs of set bits.
        #[test]
        fn matches_bitmap(ops in prop::collection::vec((0usize..120, 0usize..12, 0usize..4), 0..80)) {
            let mut a = Assembler::new();
            let mut bits = vec![false; 256];
            for (off, len, shift) in ops {
                let before = a;
                if a.add(off, len) {
                    bits[off..off + len].iter_mut().for_each(|b| *b = true);
                } else {
                    prop_assert_eq!(a, before);
                }
                if shift == 0 {
                    let n = a.remove_front();
                    prop_assert!(bits[..n].iter().all(|&b| b));
                    prop_assert!(!bits[n]);
                    a.shift(n);
                    bits.drain(..n);
                    bits.resize(256, false);
                }
                let mut runs = vec![];
                let mut i = 0;
                while i < bits.len() {
                    if bits[i] {
                        let s = i;
                        while i < bits.len() && bits[i] { i += 1; }
                        runs.push((s, i));
                    } else {
                        i += 1;
                    }
                }
                prop_assert!(runs.len() <= MAX_HOLES);
                prop_assert_eq!(blocks(&a), runs);
            }
        }
    }
}
