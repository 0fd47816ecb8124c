//! The byte ring under both the send and the receive queue.
//!
//! Storage is allocated on first use at the logical capacity and can be
//! handed back when the queue is empty (to the thread's spares,
//! `tcp/spare.rs`, for the next ring of that size), so an idle connection
//! costs no buffer memory and the hot path never allocates. Positions are logical
//! offsets from `head`; the ring knows nothing of what the bytes mean (the
//! queues keep their own lengths).

/// Ring storage. Invariants: `buf` is empty (not allocated) or exactly `cap`
/// bytes long; `head < buf.len()` when allocated, 0 otherwise.
#[derive(Debug, Default)]
pub(crate) struct Ring {
    buf: Box<[u8]>,
    head: usize,
    cap: usize,
}

impl Ring {
    /// A ring of `cap` bytes; nothing is allocated yet.
    pub fn new(cap: usize) -> Ring {
        Ring {
            buf: Box::default(),
            head: 0,
            cap,
        }
    }

    #[inline]
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Bytes of heap held (0 when not allocated).
    #[inline]
    pub fn heap_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Physical index `offset` bytes after `head`. Callers keep
    /// `offset < 2 * cap`, so one conditional subtraction replaces a modulo.
    #[inline]
    fn wrap(&self, offset: usize) -> usize {
        let i = self.head + offset;
        if i >= self.buf.len() {
            i - self.buf.len()
        } else {
            i
        }
    }

    /// Copies `data` to logical offset `offset`, allocating on first use;
    /// at most two copies (the ring's wrap). The caller keeps
    /// `offset + data.len() <= cap`.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        debug_assert!(offset + data.len() <= self.cap);
        if self.buf.is_empty() {
            self.allocate();
        }
        let pos = self.wrap(offset);
        let first = data.len().min(self.buf.len() - pos);
        self.buf[pos..pos + first].copy_from_slice(&data[..first]);
        // Only when the write wraps: an empty copy is still a call to
        // `memcpy` (some 10 instructions, twice per small send; issue 6).
        if first < data.len() {
            self.buf[..data.len() - first].copy_from_slice(&data[first..]);
        }
    }

    /// Logical `[offset, offset + len)` as at most two writable slices
    /// (the second non-empty only when the range wraps), allocating on
    /// first use: for a caller that fills them itself (the receive fast
    /// path copies and checksums in one place). The caller keeps
    /// `offset + len <= cap`.
    #[inline]
    pub fn slices_mut(&mut self, offset: usize, len: usize) -> (&mut [u8], &mut [u8]) {
        debug_assert!(offset + len <= self.cap);
        if len == 0 {
            return (&mut [], &mut []);
        }
        if self.buf.is_empty() {
            self.allocate();
        }
        let start = self.wrap(offset);
        let first = len.min(self.buf.len() - start);
        let (low, high) = self.buf.split_at_mut(start);
        (&mut high[..first], &mut low[..len - first])
    }

    /// The storage, on first use (once per fill of an empty queue): out
    /// of line, so the per-segment callers above inline the rest.
    #[cold]
    #[inline(never)]
    fn allocate(&mut self) {
        self.buf = super::spare::take_bytes(self.cap);
        self.head = 0;
    }

    /// Zero-copy view of logical `[offset, offset + len)` as at most two
    /// slices (the second non-empty only when the range wraps). The caller
    /// keeps the range within what it has written.
    #[inline(always)]
    pub fn slices(&self, offset: usize, len: usize) -> (&[u8], &[u8]) {
        if len == 0 || self.buf.is_empty() {
            return (&[], &[]);
        }
        let start = self.wrap(offset);
        let first = len.min(self.buf.len() - start);
        (&self.buf[start..start + first], &self.buf[..len - first])
    }

    /// Copies logical `[0, out.len())` into `out`.
    pub fn copy_out(&self, out: &mut [u8]) {
        let (a, b) = self.slices(0, out.len());
        out[..a.len()].copy_from_slice(a);
        // Only when the range wraps (see `write_at`).
        if !b.is_empty() {
            out[a.len()..a.len() + b.len()].copy_from_slice(b);
        }
    }

    /// Moves the front forward by `n` bytes.
    pub fn advance(&mut self, n: usize) {
        if !self.buf.is_empty() {
            self.head = self.wrap(n);
        }
    }

    /// Puts the front back at the start of the storage: when nothing is
    /// held, later writes and reads are then contiguous (one copy, not two).
    pub fn rewind(&mut self) {
        self.head = 0;
    }

    /// Changes the capacity to `cap`, keeping logical `[0, keep)` (the
    /// caller guarantees `keep <= cap`). Reallocates if storage exists; a
    /// configuration-time operation, not a hot-path one.
    pub fn set_capacity(&mut self, cap: usize, keep: usize) {
        if cap == self.cap {
            return;
        }
        self.cap = cap;
        if self.buf.is_empty() {
            return;
        }
        if cap == 0 {
            self.release();
            return;
        }
        let mut new = vec![0u8; cap].into_boxed_slice();
        self.copy_out(&mut new[..keep]);
        self.buf = new;
        self.head = 0;
    }

    /// Frees the storage (to this thread's spare buffers); the next write
    /// allocates again.
    pub fn release(&mut self) {
        if self.buf.is_empty() {
            // Nothing held (an idle queue, most drops): no thread-local
            // access.
            self.head = 0;
            return;
        }
        super::spare::give_bytes(core::mem::take(&mut self.buf));
        self.head = 0;
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lazy_wrapping_and_resizing() {
        let mut r = Ring::new(8);
        assert_eq!(r.heap_bytes(), 0);
        assert_eq!(r.slices(0, 3), (&[][..], &[][..]));
        r.write_at(0, b"abcdef");
        assert_eq!(r.heap_bytes(), 8);
        r.advance(5);
        // Logical 0 is 'f'; writing 6 more wraps around the end.
        r.write_at(1, b"ghijkl");
        let (a, b) = r.slices(0, 7);
        assert_eq!([a, b].concat(), b"fghijkl");
        assert!(!b.is_empty());
        // The same range, writable: the wrapped part comes second.
        let (a, b) = r.slices_mut(1, 6);
        assert_eq!((a.len(), b.len()), (2, 4));
        a.copy_from_slice(b"GH");
        b.copy_from_slice(b"IJKL");
        let (a, b) = r.slices(0, 7);
        assert_eq!([a, b].concat(), b"fGHIJKL");
        r.set_capacity(16, 7);
        assert_eq!(r.heap_bytes(), 16);
        let mut out = [0u8; 7];
        r.copy_out(&mut out);
        assert_eq!(&out, b"fGHIJKL");
        r.release();
        assert_eq!(r.heap_bytes(), 0);
        r.set_capacity(0, 0);
        assert_eq!(r.capacity(), 0);
    }
}
