//! The send queue (SendQ): bytes the application has written that the peer
//! has not yet acknowledged (RFC 9293 §3.3.1: the span from SND.UNA onwards).
//!
//! The front of the queue is always SND.UNA; retransmissions read from an
//! offset relative to it and an acknowledgment that advances SND.UNA calls
//! [`SendQueue::consume`]. Storage is a ring buffer allocated on the first
//! write and reused afterwards, so the hot path never allocates, and an idle
//! connection can hand its memory back with [`SendQueue::release_if_empty`].

use super::ring::Ring;

/// A ring buffer of unacknowledged outgoing bytes.
///
/// Invariant: `len <= ring.capacity()`; logical offset 0 of the ring is
/// SND.UNA's byte.
#[derive(Debug, Default)]
pub struct SendQueue {
    ring: Ring,
    /// Number of queued bytes.
    len: usize,
}

impl SendQueue {
    /// A queue holding at most `capacity` bytes. Does not allocate: the
    /// storage is created on the first [`write`](Self::write).
    pub fn new(capacity: usize) -> Self {
        SendQueue {
            ring: Ring::new(capacity),
            len: 0,
        }
    }

    /// The maximum number of bytes the queue can hold.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Change the capacity, growing or shrinking. Queued bytes are never
    /// dropped: if `cap` is smaller than [`len`](Self::len), the capacity
    /// becomes `len` instead (so [`free`](Self::free) is then 0). Allocated
    /// storage is reallocated at the new size; this is a configuration-time
    /// operation, not a hot-path one.
    pub fn set_capacity(&mut self, cap: usize) {
        self.ring.set_capacity(cap.max(self.len), self.len);
    }

    /// Number of queued (written, unacknowledged) bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Space left for the application to write.
    #[inline]
    pub fn free(&self) -> usize {
        self.capacity() - self.len
    }

    /// Append as much of `data` as fits and return how many bytes were taken.
    /// Allocates the storage on first use (connections that never send cost
    /// nothing); at most two copies (ring wrap).
    ///
    /// Inline, copying through the ring's slices: a short write (a
    /// request's few bytes, held in the ring's inline bytes) is a few
    /// loads and stores, not a call of `Ring::write_at` and one of
    /// `memcpy` from it (issue 6).
    #[inline]
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        if n == 0 {
            return 0;
        }
        let (a, b) = self.ring.slices_mut(self.len, n);
        let (head, tail) = data[..n].split_at(a.len());
        super::ring::copy_short(a, head);
        if !b.is_empty() {
            b.copy_from_slice(tail);
        }
        self.len += n;
        n
    }

    /// Copy bytes starting `offset` bytes after the front (SND.UNA) into
    /// `buf`, up to `buf.len()` or the end of the queue. Returns the count
    /// (0 if `offset >= len`).
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> usize {
        let (a, b) = self.slices_at(offset, buf.len());
        buf[..a.len()].copy_from_slice(a);
        buf[a.len()..a.len() + b.len()].copy_from_slice(b);
        a.len() + b.len()
    }

    /// Zero-copy view of the queued bytes `[offset, offset + len)`, clipped
    /// to the queue's length, as at most two slices (the second is non-empty
    /// only when the range wraps around the ring). Used to build segments
    /// directly from the queue.
    #[inline]
    pub fn slices_at(&self, offset: usize, len: usize) -> (&[u8], &[u8]) {
        if offset >= self.len {
            return (&[], &[]);
        }
        self.ring.slices(offset, len.min(self.len - offset))
    }

    /// Drop `n` bytes from the front because the peer acknowledged them
    /// (SND.UNA advanced, RFC 9293 §3.10.7.4). `n > len` clamps.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        if n == self.len {
            self.clear();
            return;
        }
        self.ring.advance(n);
        self.len -= n;
    }

    /// Drop everything queued (e.g. on abort). Keeps the allocation.
    pub fn clear(&mut self) {
        self.ring.rewind();
        self.len = 0;
    }

    /// Bytes of heap currently allocated for storage (0 until the first
    /// write, and after [`release_if_empty`](Self::release_if_empty)).
    #[inline]
    pub fn heap_bytes(&self) -> usize {
        self.ring.heap_bytes()
    }

    /// Free the storage if nothing is queued, so idle connections cost no
    /// buffer memory. The next write allocates again.
    pub fn release_if_empty(&mut self) {
        if self.len == 0 {
            self.ring.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    fn pattern(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
            .collect()
    }

    fn contents(q: &SendQueue) -> Vec<u8> {
        let (a, b) = q.slices_at(0, usize::MAX);
        [a, b].concat()
    }

    #[test]
    fn lazy_allocation_and_release() {
        let mut q = SendQueue::new(100);
        assert_eq!(q.heap_bytes(), 0);
        assert_eq!(q.write(&[]), 0);
        assert_eq!(q.heap_bytes(), 0);
        assert_eq!(q.write(b"hi"), 2);
        assert_eq!(q.heap_bytes(), 0, "a few bytes sit in the ring (ring.rs)");
        assert_eq!(q.write(b", hello"), 7);
        assert_eq!(q.heap_bytes(), 100);
        q.release_if_empty();
        assert_eq!(q.heap_bytes(), 100, "not empty, must keep storage");
        assert_eq!(contents(&q), b"hi, hello");
        q.consume(9);
        q.release_if_empty();
        assert_eq!(q.heap_bytes(), 0);
        assert_eq!(q.write(b"again"), 5);
        assert_eq!(contents(&q), b"again");
    }

    #[test]
    fn zero_capacity() {
        let mut q = SendQueue::new(0);
        assert_eq!(q.write(b"x"), 0);
        assert_eq!(q.heap_bytes(), 0);
        let mut b = [0u8; 4];
        assert_eq!(q.read_at(0, &mut b), 0);
        q.consume(10);
        assert_eq!(q.slices_at(3, 3), (&[][..], &[][..]));
    }

    #[test]
    fn write_clamps_to_free() {
        let mut q = SendQueue::new(8);
        assert_eq!(q.write(&pattern(20, 1)), 8);
        assert_eq!(q.free(), 0);
        assert_eq!(q.write(b"x"), 0);
        assert_eq!(contents(&q), pattern(8, 1));
    }

    #[test]
    fn wrap_around_at_every_position() {
        let cap = 13;
        for start in 0..cap {
            for n in 1..=cap {
                let data = pattern(n, start as u8);
                // Put the head at physical index `start`. A fully drained
                // queue rewinds to 0, so keep one marker byte queued.
                let mut q = SendQueue::new(cap);
                q.write(&vec![0xee; start]);
                if start > 0 {
                    q.write(&[0xaa]);
                    q.consume(start);
                    assert_eq!(q.len(), 1);
                }
                let took = q.write(&data);
                assert_eq!(took, n.min(q.capacity() - if start > 0 { 1 } else { 0 }));
                let mut expect = if start > 0 { vec![0xaa] } else { vec![] };
                expect.extend_from_slice(&data[..took]);
                assert_eq!(contents(&q), expect);
                // read_at at every offset and length.
                for off in 0..=expect.len() + 1 {
                    for len in 0..=expect.len() + 1 {
                        let mut b = vec![0u8; len];
                        let got = q.read_at(off, &mut b);
                        let want = &expect[off.min(expect.len())..(off + len).min(expect.len())];
                        assert_eq!(&b[..got], want, "start {start} n {n} off {off} len {len}");
                        let (x, y) = q.slices_at(off, len);
                        assert_eq!([x, y].concat(), want);
                    }
                }
            }
        }
    }

    #[test]
    fn set_capacity_with_wrapped_data() {
        let mut q = SendQueue::new(10);
        q.write(&pattern(10, 0));
        q.consume(7);
        q.write(&pattern(6, 100)); // wraps
        let before = contents(&q);
        assert_eq!(before.len(), 9);
        q.set_capacity(20);
        assert_eq!(q.capacity(), 20);
        assert_eq!(q.heap_bytes(), 20);
        assert_eq!(contents(&q), before);
        assert_eq!(q.write(&pattern(11, 50)), 11);
        let mut want = before.clone();
        want.extend(pattern(11, 50));
        assert_eq!(contents(&q), want);
        // Shrinking below len keeps everything.
        q.set_capacity(3);
        assert_eq!(q.capacity(), 20);
        q.consume(15);
        q.set_capacity(3);
        assert_eq!(q.capacity(), 5);
        assert_eq!(contents(&q), want[15..]);
        q.consume(5);
        q.set_capacity(0);
        assert_eq!(q.capacity(), 0);
        assert_eq!(q.heap_bytes(), 0);
        // Unallocated queue: capacity change does not allocate.
        let mut q = SendQueue::new(4);
        q.set_capacity(4096);
        assert_eq!(q.heap_bytes(), 0);
        assert_eq!(q.free(), 4096);
    }

    #[test]
    fn consume_clamps_and_clear() {
        let mut q = SendQueue::new(10);
        q.write(b"abcdef");
        q.consume(2);
        assert_eq!(contents(&q), b"cdef");
        q.consume(100);
        assert!(q.is_empty());
        // Past the ring's inline bytes (ring.rs): heap storage, which a
        // clear keeps.
        q.write(b"rstuvwxyz");
        q.clear();
        assert!(q.is_empty());
        assert_eq!(q.free(), 10);
        assert_eq!(q.heap_bytes(), 10);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Write(usize),
        Consume(usize),
        Cap(usize),
        Release,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0usize..40).prop_map(Op::Write),
            3 => (0usize..40).prop_map(Op::Consume),
            1 => (0usize..64).prop_map(Op::Cap),
            1 => Just(Op::Release),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        #[test]
        fn matches_vecdeque_model(cap in 0usize..48, ops in prop::collection::vec(op(), 0..60)) {
            let mut q = SendQueue::new(cap);
            let mut model: VecDeque<u8> = VecDeque::new();
            let mut model_cap = cap;
            let mut next = 0u8;
            for op in ops {
                match op {
                    Op::Write(n) => {
                        let data: Vec<u8> = (0..n).map(|_| { next = next.wrapping_add(1); next }).collect();
                        let took = q.write(&data);
                        prop_assert_eq!(took, n.min(model_cap - model.len()));
                        model.extend(&data[..took]);
                    }
                    Op::Consume(n) => {
                        q.consume(n);
                        let n = n.min(model.len());
                        model.drain(..n);
                    }
                    Op::Cap(c) => {
                        q.set_capacity(c);
                        model_cap = c.max(model.len());
                    }
                    Op::Release => q.release_if_empty(),
                }
                prop_assert_eq!(q.len(), model.len());
                prop_assert_eq!(q.capacity(), model_cap);
                let m: Vec<u8> = model.iter().copied().collect();
                prop_assert_eq!(contents(&q), m.clone());
                if m.len() > 2 {
                    let mut b = vec![0u8; m.len()];
                    let got = q.read_at(1, &mut b);
                    prop_assert_eq!(&b[..got], &m[1..]);
                }
            }
        }
    }
}
