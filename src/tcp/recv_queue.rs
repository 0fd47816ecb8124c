//! The receive queue (RecvQ): in-order bytes waiting for the application,
//! followed by the rest of the receive window, where out-of-order segments are
//! placed directly at their final position.
//!
//! RFC 9293 §3.10.7.4 allows holding segments beyond RCV.NXT for later
//! processing. Storing them in place means that when the gap is filled the
//! bytes are already where the application will read them: no second copy
//! and no per-segment allocation. An [`Assembler`] records which parts of the
//! window are filled.
//!
//! Layout of the ring (logical offsets from `head`):
//!
//! ```text
//! [0, len)            readable in-order bytes (up to RCV.NXT)
//! [len, cap)          the window (RCV.WND before scaling); out-of-order
//!                     bytes at `len + offset` for each assembler block
//! ```

use super::assembler::Assembler;
use super::ring::Ring;

/// A ring buffer of received bytes with in-place reassembly.
///
/// Invariants: `len + ooo.end() <= ring.capacity()`; the assembler never
/// holds a block starting at offset 0 (such a block is immediately made
/// readable).
#[derive(Debug, Default)]
pub struct RecvQueue {
    /// Logical offset 0 is the first readable byte.
    ring: Ring,
    /// Number of readable in-order bytes.
    len: usize,
    /// Out-of-order ranges, offsets relative to the in-order end (RCV.NXT).
    ooo: LazyAssembler,
}

impl RecvQueue {
    /// A queue of `capacity` bytes. Does not allocate; storage is created
    /// when the first byte arrives.
    pub fn new(capacity: usize) -> Self {
        RecvQueue {
            ring: Ring::new(capacity),
            len: 0,
            ooo: LazyAssembler(None),
        }
    }

    /// Total capacity: readable bytes plus the window.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Change the capacity, growing or shrinking. Never drops data: the
    /// capacity is raised to cover all readable bytes and all out-of-order
    /// bytes already stored, if `cap` is smaller. Note that shrinking the
    /// capacity shrinks the advertised window, which RFC 9293 §3.8.6.2.1
    /// discourages once advertised; that policy is the caller's. Allocated
    /// storage is reallocated at the new size (not a hot-path call); holes
    /// between out-of-order blocks are copied too, their contents unread.
    pub fn set_capacity(&mut self, cap: usize) {
        let keep = self.len + self.ooo.end();
        self.ring.set_capacity(cap.max(keep), keep);
    }

    /// Number of readable in-order bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no in-order bytes are readable (out-of-order bytes may still
    /// be held; see [`has_out_of_order`](Self::has_out_of_order)).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `capacity - len`: the space the peer may fill, i.e. RCV.WND before
    /// window scaling (RFC 9293 §3.3.2, RFC 7323 §2.3).
    #[inline]
    pub fn window(&self) -> usize {
        self.capacity() - self.len
    }

    /// Place `data` whose first byte is `offset` bytes after the in-order end
    /// (offset 0 = RCV.NXT). Bytes beyond [`window`](Self::window) are cut
    /// off (RFC 9293 §3.10.7.4 trims segments to the window). Already-present
    /// bytes may be overwritten with identical data, so duplicates and
    /// overlaps are harmless.
    ///
    /// Returns `(accepted, advanced)`. `accepted` is false only when
    /// out-of-order data could not be recorded because the assembler is full
    /// (nothing is stored then; the peer will retransmit). Data at offset 0
    /// is always accepted: it needs no assembler slot, so a full assembler
    /// can never block progress. Data lying wholly outside the window is
    /// reported as `(true, 0)`: nothing needed recording. `advanced` is how
    /// many bytes became newly readable in order (RCV.NXT moves by this).
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> (bool, usize) {
        let window = self.window();
        if data.is_empty() || offset >= window {
            return (true, 0);
        }
        let n = data.len().min(window - offset);
        if offset > 0 && !self.ooo.add(offset, n) {
            return (false, 0);
        }
        // Allocates on first use: a connection that never receives costs
        // nothing.
        self.ring.write_at(self.len + offset, &data[..n]);

        let mut advanced = 0;
        if offset == 0 {
            // In-order data: rebase the assembler past it; a block it reached
            // or overlapped then starts at 0 and joins the readable bytes.
            advanced = n;
            self.ooo.shift(n);
        }
        let joined = self.ooo.remove_front();
        self.ooo.shift(joined);
        advanced += joined;
        self.len += advanced;
        (true, advanced)
    }

    /// [`write_at`](Self::write_at) at offset 0 of data that fits the
    /// window, with no out-of-order data held: the usual segment of a
    /// request/response exchange. Nothing needs the assembler then (no
    /// block to join or rebase), and all of `data` becomes readable.
    #[inline]
    pub fn write_in_order(&mut self, data: &[u8]) {
        debug_assert!(!self.has_out_of_order() && data.len() <= self.window());
        self.ring.write_at(self.len, data);
        self.len += data.len();
    }

    /// The first `n` bytes of the window (from RCV.NXT on) as at most two
    /// slices for the caller to fill, allocating storage on first use.
    /// Nothing becomes readable until [`commit_in_order`]
    /// (Self::commit_in_order): the receive fast path copies a segment's
    /// text here, verifies its checksum on the way, and commits only a
    /// segment that verified. Only for a queue without out-of-order data
    /// (the window is then free) and `n <= window()`; anything else takes
    /// [`write_at`](Self::write_at).
    #[inline]
    pub fn stage_in_order(&mut self, n: usize) -> (&mut [u8], &mut [u8]) {
        debug_assert!(!self.has_out_of_order() && n <= self.window());
        self.ring.slices_mut(self.len, n)
    }

    /// Makes the `n` bytes just staged by [`stage_in_order`]
    /// (Self::stage_in_order) readable: what [`write_at`](Self::write_at)
    /// at offset 0 does with them.
    #[inline]
    pub fn commit_in_order(&mut self, n: usize) {
        debug_assert!(!self.has_out_of_order() && n <= self.window());
        self.ooo.shift(n);
        self.len += n;
    }

    /// Copy the readable bytes `[0, n)` into `buf` without removing them.
    fn copy_out(&self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.len);
        self.ring.copy_out(&mut buf[..n]);
        n
    }

    /// Copy out up to `buf.len()` readable bytes and remove them.
    #[inline]
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = self.copy_out(buf);
        self.discard(n)
    }

    /// [`read`](Self::read), then [`release_if_empty`]
    /// (Self::release_if_empty) if that emptied the queue: the
    /// application's read, in one inline piece (the three calls it was
    /// cost a 1-byte read some 60 instructions, issue 6). A short read
    /// (at most 8 bytes: a request/response exchange's) copies without a
    /// `memcpy` call ([`Ring::copy_out`](super::ring::Ring::copy_out)).
    #[inline]
    pub fn read_and_release(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.len);
        if n == 0 {
            return 0;
        }
        self.ring.copy_out(&mut buf[..n]);
        self.len -= n;
        if self.len == 0 && self.ooo.is_empty() {
            // What `discard`'s rewind and `release_if_empty` do: the
            // release rewinds too.
            self.ring.release();
            self.ooo.0 = None;
        } else {
            self.ring.advance(n);
        }
        n
    }

    /// Copy out up to `buf.len()` readable bytes without removing them.
    pub fn peek(&self, buf: &mut [u8]) -> usize {
        self.copy_out(buf)
    }

    /// Copy readable bytes starting `offset` bytes after the first one into
    /// `buf` without removing them; returns the count (0 past the end).
    pub fn peek_at(&self, offset: usize, buf: &mut [u8]) -> usize {
        if offset >= self.len {
            return 0;
        }
        let (a, b) = self.ring.slices(offset, buf.len().min(self.len - offset));
        buf[..a.len()].copy_from_slice(a);
        buf[a.len()..a.len() + b.len()].copy_from_slice(b);
        a.len() + b.len()
    }

    /// Drop up to `n` readable bytes; returns how many were dropped.
    pub fn discard(&mut self, n: usize) -> usize {
        let n = n.min(self.len);
        if n == 0 {
            return 0;
        }
        self.len -= n;
        if self.len == 0 && self.ooo.is_empty() {
            // Nothing is positioned relative to head, so rewind it: the next
            // segment then lands contiguously (one copy instead of two).
            self.ring.rewind();
        } else {
            self.ring.advance(n);
        }
        n
    }

    /// Drop everything, including out-of-order data. Keeps the allocation.
    pub fn clear(&mut self) {
        self.ring.rewind();
        self.len = 0;
        self.ooo.0 = None;
    }

    /// Whether out-of-order bytes are held beyond RCV.NXT.
    #[inline]
    pub fn has_out_of_order(&self) -> bool {
        !self.ooo.is_empty()
    }

    /// The out-of-order blocks as `(start, end)` offsets relative to RCV.NXT,
    /// sorted ascending (for SACK, RFC 2018).
    pub fn out_of_order_blocks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.ooo.blocks()
    }

    /// Up to `N` out-of-order blocks (offsets relative to RCV.NXT), most
    /// recently received first, as SACK reports them (RFC 2018 §4).
    pub fn recent_blocks<const N: usize>(&self) -> ([(usize, usize); N], usize) {
        match &self.ooo.0 {
            Some(a) => a.most_recent::<N>(),
            None => ([(0, 0); N], 0),
        }
    }

    /// The lowest part of `[offset, offset + len)` (relative to RCV.NXT)
    /// already held out of order: what a D-SACK reports (RFC 2883).
    pub fn duplicate_part(&self, offset: usize, len: usize) -> Option<(usize, usize)> {
        self.ooo.0.as_ref()?.first_overlap(offset, len)
    }

    /// Bytes of heap currently allocated for storage.
    #[inline]
    pub fn heap_bytes(&self) -> usize {
        self.ring.heap_bytes()
    }

    /// Bytes of heap held by the out-of-order bookkeeping (0 unless
    /// out-of-order data is held).
    pub fn reassembly_bytes(&self) -> usize {
        self.ooo
            .0
            .as_ref()
            .map_or(0, |_| core::mem::size_of::<Assembler>())
    }

    /// Free the storage when nothing (in-order or out-of-order) is held, so
    /// idle connections cost no buffer memory.
    pub fn release_if_empty(&mut self) {
        if self.len == 0 && self.ooo.is_empty() {
            self.ring.release();
            self.ooo.0 = None;
        }
    }
}

/// The assembler, allocated only while out-of-order data is held: most
/// segments arrive in order, and an inline assembler would add its 3 KiB
/// to every connection (issue 2's per-connection memory target).
#[derive(Debug, Default)]
struct LazyAssembler(Option<Box<Assembler>>);

impl LazyAssembler {
    fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|a| a.is_empty())
    }
    fn add(&mut self, offset: usize, len: usize) -> bool {
        self.0
            .get_or_insert_with(|| Box::new(Assembler::new()))
            .add(offset, len)
    }
    fn remove_front(&mut self) -> usize {
        self.0.as_mut().map_or(0, |a| a.remove_front())
    }
    /// Inlined to its test: the in-order receiver (the fast path's every
    /// segment) has no assembler at all.
    #[inline(always)]
    fn shift(&mut self, n: usize) {
        if self.0.is_some() {
            self.shift_held(n);
        }
    }
    #[inline(never)]
    fn shift_held(&mut self, n: usize) {
        if let Some(a) = &mut self.0 {
            a.shift(n);
            if a.is_empty() {
                self.0 = None;
            }
        }
    }
    fn end(&self) -> usize {
        self.0.as_ref().map_or(0, |a| a.end())
    }
    fn blocks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.0.iter().flat_map(|a| a.blocks())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pattern(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed))
            .collect()
    }

    fn read_all(q: &mut RecvQueue) -> Vec<u8> {
        let mut v = vec![0u8; q.len()];
        let n = q.read(&mut v);
        assert_eq!(n, v.len());
        assert!(q.is_empty());
        v
    }

    /// The application's read takes the bytes and, once the queue is
    /// drained with nothing out of order, hands the storage back.
    #[test]
    fn read_and_release_hands_storage_back_when_drained() {
        let mut q = RecvQueue::new(64);
        let src = pattern(40, 1);
        assert_eq!(q.write_at(0, &src), (true, 40));
        assert_eq!(q.heap_bytes(), 64);
        let mut b = [0u8; 30];
        assert_eq!(q.read_and_release(&mut b), 30);
        assert_eq!(&b[..], &src[..30]);
        assert_eq!(q.heap_bytes(), 64, "10 bytes still queued");
        assert_eq!(q.read_and_release(&mut b), 10);
        assert_eq!(&b[..10], &src[30..]);
        assert_eq!(q.heap_bytes(), 0);
        assert_eq!(q.read_and_release(&mut b), 0);
    }

    #[test]
    fn lazy_allocation_and_release() {
        let mut q = RecvQueue::new(64);
        assert_eq!(q.heap_bytes(), 0);
        assert_eq!(q.write_at(0, &[]), (true, 0));
        assert_eq!(q.write_at(64, b"x"), (true, 0));
        assert_eq!(q.heap_bytes(), 0);
        // Past the ring's inline bytes (ring.rs), so heap storage.
        assert_eq!(q.write_at(9, b"x"), (true, 0));
        assert_eq!(q.heap_bytes(), 64);
        q.release_if_empty();
        assert_eq!(q.heap_bytes(), 64, "out-of-order data must be kept");
        assert_eq!(q.write_at(0, b"abcdefghi"), (true, 10));
        q.release_if_empty();
        assert_eq!(q.heap_bytes(), 64);
        assert_eq!(read_all(&mut q), b"abcdefghix");
        q.release_if_empty();
        assert_eq!(q.heap_bytes(), 0);
        assert_eq!(q.write_at(0, b"hi"), (true, 2));
        assert_eq!(read_all(&mut q), b"hi");
    }

    #[test]
    fn zero_capacity() {
        let mut q = RecvQueue::new(0);
        assert_eq!(q.window(), 0);
        assert_eq!(q.write_at(0, b"abc"), (true, 0));
        assert_eq!(q.heap_bytes(), 0);
        assert_eq!(q.read(&mut [0u8; 4]), 0);
        assert_eq!(q.discard(3), 0);
    }

    #[test]
    fn in_order_peek_discard() {
        let mut q = RecvQueue::new(10);
        assert_eq!(q.write_at(0, b"hello"), (true, 5));
        assert_eq!(q.window(), 5);
        let mut b = [0u8; 3];
        assert_eq!(q.peek(&mut b), 3);
        assert_eq!(&b, b"hel");
        assert_eq!(q.len(), 5);
        assert_eq!(q.discard(2), 2);
        assert_eq!(q.read(&mut b), 3);
        assert_eq!(&b, b"llo");
        assert_eq!(q.discard(10), 0);
    }

    #[test]
    fn beyond_window_truncated() {
        let mut q = RecvQueue::new(8);
        assert_eq!(q.write_at(0, b"0123456789"), (true, 8));
        assert_eq!(q.window(), 0);
        assert_eq!(q.write_at(0, b"zz"), (true, 0));
        assert_eq!(read_all(&mut q), b"01234567");
        // Out-of-order segment straddling the window edge.
        assert_eq!(q.write_at(5, b"abcdef"), (true, 0));
        assert_eq!(q.out_of_order_blocks().collect::<Vec<_>>(), [(5, 8)]);
        assert_eq!(q.write_at(0, b"01234"), (true, 8));
        assert_eq!(read_all(&mut q), b"01234abc");
        assert!(!q.has_out_of_order());
    }

    #[test]
    fn out_of_order_then_fill_gap() {
        let src = pattern(30, 1);
        let mut q = RecvQueue::new(32);
        assert_eq!(q.write_at(20, &src[20..30]), (true, 0));
        assert_eq!(q.write_at(5, &src[5..10]), (true, 0));
        assert_eq!(q.write_at(12, &src[12..20]), (true, 0));
        assert_eq!(
            q.out_of_order_blocks().collect::<Vec<_>>(),
            [(5, 10), (12, 30)]
        );
        assert_eq!(q.len(), 0);
        assert_eq!(q.window(), 32);
        assert_eq!(q.write_at(0, &src[0..5]), (true, 10));
        assert_eq!(q.out_of_order_blocks().collect::<Vec<_>>(), [(2, 20)]);
        // Duplicate of already-readable data is cut at the window start by
        // the caller; here an overlapping retransmission covering the gap.
        assert_eq!(q.write_at(0, &src[10..14]), (true, 20));
        assert!(!q.has_out_of_order());
        assert_eq!(read_all(&mut q), src);
    }

    #[test]
    fn duplicates_and_overlaps() {
        let src = pattern(40, 9);
        let mut q = RecvQueue::new(40);
        assert_eq!(q.write_at(10, &src[10..20]), (true, 0));
        assert_eq!(q.write_at(10, &src[10..20]), (true, 0)); // exact dup
        assert_eq!(q.write_at(15, &src[15..25]), (true, 0)); // overlap right
        assert_eq!(q.write_at(8, &src[8..12]), (true, 0)); // overlap left
        assert_eq!(q.write_at(30, &src[30..31]), (true, 0));
        assert_eq!(
            q.out_of_order_blocks().collect::<Vec<_>>(),
            [(8, 25), (30, 31)]
        );
        assert_eq!(q.write_at(0, &src[0..30]), (true, 31)); // covers all
        assert_eq!(q.write_at(0, &src[31..40]), (true, 9));
        assert_eq!(read_all(&mut q), src);
    }

    #[test]
    fn assembler_full_rejects_but_in_order_progresses() {
        let holes = crate::tcp::assembler::MAX_HOLES;
        let cap = 3 * holes + 50;
        let src = pattern(cap, 3);
        let mut q = RecvQueue::new(cap);
        for k in 0..holes {
            let o = 2 + k * 3;
            assert_eq!(q.write_at(o, &src[o..o + 1]), (true, 0));
        }
        let o = 3 * holes + 20;
        assert_eq!(q.write_at(o, &src[o..o + 1]), (false, 0));
        // Merging with an existing block still works.
        assert_eq!(q.write_at(3, &src[3..4]), (true, 0));
        // In-order data never needs a block.
        assert_eq!(q.write_at(0, &src[0..1]), (true, 1));
        assert_eq!(q.write_at(0, &src[1..cap]), (true, cap - 1));
        assert_eq!(read_all(&mut q), src);
    }

    #[test]
    fn wrap_around_at_every_position() {
        let cap = 11;
        for start in 0..cap {
            for n in 1..=cap {
                let mut q = RecvQueue::new(cap);
                // Put head at `start`: keep one byte so discard does not rewind.
                q.write_at(0, &vec![0xee; start + 1]);
                q.discard(start);
                assert_eq!(q.len(), 1);
                let data = pattern(n, start as u8);
                let room = cap - 1; // the window
                                    // Out-of-order second half first, then the first half; both
                                    // may wrap physically and be cut at the window edge.
                let half = n / 2;
                let (acc1, adv1) = q.write_at(half, &data[half..]);
                let (acc2, adv2) = q.write_at(0, &data[..half]);
                assert!(acc1 && acc2);
                let stored = n.min(room);
                assert_eq!(adv1 + adv2, stored, "start {start} n {n}");
                assert!(!q.has_out_of_order());
                let mut want = vec![0xee];
                want.extend_from_slice(&data[..stored]);
                let mut b = vec![0u8; cap];
                let got = q.peek(&mut b);
                assert_eq!(&b[..got], &want[..], "start {start} n {n}");
                assert_eq!(read_all(&mut q), want);
            }
        }
    }

    #[test]
    fn set_capacity_keeps_everything() {
        let src = pattern(40, 5);
        let mut q = RecvQueue::new(16);
        q.write_at(0, &src[..12]);
        assert_eq!(q.discard(10), 10); // head at 10
        assert_eq!(q.write_at(4, &src[16..20]), (true, 0)); // wraps physically
        q.set_capacity(4);
        assert_eq!(q.capacity(), 2 + 8, "kept readable + out-of-order extent");
        assert_eq!(q.window(), 8);
        q.set_capacity(32);
        assert_eq!(q.capacity(), 32);
        assert_eq!(q.heap_bytes(), 32);
        assert_eq!(q.out_of_order_blocks().collect::<Vec<_>>(), [(4, 8)]);
        assert_eq!(q.write_at(0, &src[12..16]), (true, 8));
        assert_eq!(q.write_at(0, &src[20..40]), (true, 20));
        assert_eq!(read_all(&mut q), &src[10..40]);
        q.set_capacity(0);
        assert_eq!(q.capacity(), 0);
        assert_eq!(q.heap_bytes(), 0);
    }

    #[test]
    fn clear_drops_out_of_order() {
        let mut q = RecvQueue::new(16);
        q.write_at(0, b"ab");
        q.write_at(4, b"cd");
        q.clear();
        assert!(q.is_empty());
        assert!(!q.has_out_of_order());
        assert_eq!(q.window(), 16);
        assert_eq!(q.write_at(0, b"xy"), (true, 2));
        assert_eq!(read_all(&mut q), b"xy");
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Segment starting `ahead` bytes after RCV.NXT, of length `len`.
        Seg {
            ahead: usize,
            len: usize,
        },
        Read(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0usize..80, 0usize..40).prop_map(|(ahead, len)| Op::Seg { ahead, len }),
            1 => (0usize..64).prop_map(Op::Read),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        /// Random out-of-order, overlapping, duplicate and beyond-window
        /// segments from a source stream, interleaved with reads, then the
        /// rest in order: the application sees exactly the source bytes.
        #[test]
        fn reassembles_stream(
            src in prop::collection::vec(any::<u8>(), 0..600),
            cap in 1usize..96,
            ops in prop::collection::vec(op(), 0..120),
        ) {
            let mut q = RecvQueue::new(cap);
            let mut nxt = 0usize; // absolute RCV.NXT
            let mut out = Vec::with_capacity(src.len());
            for op in ops {
                match op {
                    Op::Seg { ahead, len } => {
                        let start = (nxt + ahead).min(src.len());
                        let end = (start + len).min(src.len());
                        let before = q.len();
                        let (ok, adv) = q.write_at(start - nxt, &src[start..end]);
                        if !ok { prop_assert_eq!(adv, 0); }
                        prop_assert_eq!(q.len(), before + adv);
                        nxt += adv;
                        prop_assert!(nxt <= src.len());
                    }
                    Op::Read(n) => {
                        let mut b = vec![0u8; n];
                        // Both reads: the plain one and the application's
                        // (which also hands storage back when drained).
                        let got = if n % 2 == 0 { q.read(&mut b) } else { q.read_and_release(&mut b) };
                        out.extend_from_slice(&b[..got]);
                    }
                }
                prop_assert!(q.len() <= q.capacity());
                for (s, e) in q.out_of_order_blocks() {
                    prop_assert!(0 < s && s < e && e <= q.window());
                }
            }
            while out.len() < src.len() {
                let (ok, adv) = q.write_at(0, &src[nxt..]);
                prop_assert!(ok);
                nxt += adv;
                out.extend_from_slice(&read_all(&mut q));
            }
            prop_assert_eq!(nxt, src.len());
            prop_assert_eq!(out, src);
        }
    }
}
