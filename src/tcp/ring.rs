//! The byte ring under both the send and the receive queue.
//!
//! Up to [`INLINE`] bytes are held in the ring itself; heap storage is
//! taken when more are written, at the logical capacity, and handed back
//! when the queue is empty (to the thread's spares, `tcp/spare.rs`, for the
//! next ring of that size), so an idle connection costs no buffer memory,
//! a request/response of a few bytes costs none either, and the hot path
//! never allocates. Positions are logical
//! offsets from `head`; the ring knows nothing of what the bytes mean (the
//! queues keep their own lengths).

/// Bytes a ring holds in its own block before it takes heap storage.
pub(crate) const INLINE: usize = 8;

/// Ring storage. Invariants: `buf` is empty (not allocated) or exactly `cap`
/// bytes long; `head < buf.len()` when allocated. While `buf` is empty the
/// ring is *inline*: what it holds sits at `inline[head..]`, `head <=
/// INLINE`, and every write so far fitted there (`head + offset + len <=
/// INLINE`); the first write that does not moves it to `cap` bytes of heap
/// (`spill`).
///
/// The inline bytes cost the block nothing: with `head` and `cap` as `u32`
/// the ring is the 32 bytes it was with `usize` ones and no inline part. A
/// request/response exchange of a few bytes a side (every connection
/// lifecycle of the benchmark) then never takes a buffer from the spare
/// list nor gives one back: four of each a lifecycle, about 90
/// instructions a pair through the thread-local list (callgrind, issue 6).
#[derive(Debug, Default)]
pub(crate) struct Ring {
    buf: Box<[u8]>,
    head: u32,
    cap: u32,
    inline: [u8; INLINE],
}

impl Ring {
    /// A ring of `cap` bytes; nothing is allocated yet. `cap` is at most
    /// `u32::MAX` (the stack caps buffers far below: `TcpConfig`).
    pub fn new(cap: usize) -> Ring {
        Ring {
            buf: Box::default(),
            head: 0,
            cap: cap_u32(cap),
            inline: [0; INLINE],
        }
    }

    #[inline]
    pub fn capacity(&self) -> usize {
        self.cap as usize
    }

    /// Bytes of heap held (0 when not allocated).
    #[inline]
    pub fn heap_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Physical index `offset` bytes after `head` in the heap storage.
    /// Callers keep `offset < 2 * cap`, so one conditional subtraction
    /// replaces a modulo.
    #[inline]
    fn wrap(&self, offset: usize) -> usize {
        let i = self.head as usize + offset;
        if i >= self.buf.len() {
            i - self.buf.len()
        } else {
            i
        }
    }

    /// Copies `data` to logical offset `offset`, taking storage on first
    /// use; at most two copies (the ring's wrap). The caller keeps
    /// `offset + data.len() <= cap`.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        debug_assert!(offset + data.len() <= self.capacity());
        if self.buf.is_empty() {
            // Inline if it fits, else heap storage first. The test inline
            // rather than in a cold call: a lifecycle's two sends take
            // this branch (38 instructions a lifecycle, callgrind).
            let at = self.head as usize + offset;
            if at + data.len() <= INLINE {
                self.inline[at..at + data.len()].copy_from_slice(data);
                return;
            }
            self.spill();
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
    /// (the second non-empty only when the range wraps), taking storage on
    /// first use: for a caller that fills them itself (the receive fast
    /// path copies and checksums in one place). The caller keeps
    /// `offset + len <= cap`.
    #[inline]
    pub fn slices_mut(&mut self, offset: usize, len: usize) -> (&mut [u8], &mut [u8]) {
        debug_assert!(offset + len <= self.capacity());
        if len == 0 {
            return (&mut [], &mut []);
        }
        if self.buf.is_empty() {
            let at = self.head as usize + offset;
            if at + len <= INLINE {
                return (&mut self.inline[at..at + len], &mut []);
            }
            self.spill();
        }
        let start = self.wrap(offset);
        let first = len.min(self.buf.len() - start);
        let (low, high) = self.buf.split_at_mut(start);
        (&mut high[..first], &mut low[..len - first])
    }

    /// Heap storage for a ring that outgrew its inline bytes (once per
    /// fill of an empty queue past [`INLINE`] bytes), what it held inline
    /// moved to the front: out of line, so the per-segment callers above
    /// inline the rest.
    #[cold]
    #[inline(never)]
    fn spill(&mut self) {
        let mut buf = super::spare::take_bytes(self.capacity());
        // What the ring holds lies in `inline[head..]`, and the write that
        // did not fit there needs more than that: it fits in `cap`.
        let held = &self.inline[(self.head as usize).min(INLINE)..];
        let n = held.len().min(buf.len());
        buf[..n].copy_from_slice(&held[..n]);
        self.buf = buf;
        self.head = 0;
    }

    /// Zero-copy view of logical `[offset, offset + len)` as at most two
    /// slices (the second non-empty only when the range wraps). The caller
    /// keeps the range within what it has written.
    #[inline(always)]
    pub fn slices(&self, offset: usize, len: usize) -> (&[u8], &[u8]) {
        if self.buf.is_empty() {
            return (self.inline_slice(offset, len), &[]);
        }
        if len == 0 {
            return (&[], &[]);
        }
        let start = self.wrap(offset);
        let first = len.min(self.buf.len() - start);
        (&self.buf[start..start + first], &self.buf[..len - first])
    }

    /// The inline bytes at logical `[offset, offset + len)` (empty when
    /// `len` is 0).
    #[inline]
    fn inline_slice(&self, offset: usize, len: usize) -> &[u8] {
        let at = (self.head as usize + offset).min(INLINE);
        &self.inline[at..(at + len).min(INLINE)]
    }

    /// Copies logical `[0, out.len())` into `out`; a short copy (the
    /// application's read of a few bytes) without a `memcpy` call.
    #[inline]
    pub fn copy_out(&self, out: &mut [u8]) {
        let (a, b) = self.slices(0, out.len());
        copy_short(&mut out[..a.len()], a);
        // Only when the range wraps (see `write_at`).
        if !b.is_empty() {
            out[a.len()..a.len() + b.len()].copy_from_slice(b);
        }
    }

    /// Moves the front forward by `n` bytes.
    pub fn advance(&mut self, n: usize) {
        if !self.buf.is_empty() {
            self.head = self.wrap(n) as u32;
        } else {
            // Inline: what was written lay within `inline`, so `n` does.
            self.head = (self.head as usize + n).min(INLINE) as u32;
        }
    }

    /// Puts the front back at the start of the storage: when nothing is
    /// held, later writes and reads are then contiguous (one copy, not two).
    pub fn rewind(&mut self) {
        self.head = 0;
    }

    /// Changes the capacity to `cap`, keeping logical `[0, keep)` (the
    /// caller guarantees `keep <= cap`). Reallocates if storage exists; a
    /// configuration-time operation, not a hot-path one. Inline contents
    /// stay where they are (they fit any capacity they were written under,
    /// and `keep` bytes of them fit the new one).
    pub fn set_capacity(&mut self, cap: usize, keep: usize) {
        let cap = cap_u32(cap);
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
        let mut new = vec![0u8; cap as usize].into_boxed_slice();
        self.copy_out(&mut new[..keep]);
        self.buf = new;
        self.head = 0;
    }

    /// Frees the storage (to this thread's spare buffers); the next write
    /// goes inline again.
    pub fn release(&mut self) {
        self.head = 0;
        if self.buf.is_empty() {
            // Nothing held (an idle queue, most drops, an inline ring): no
            // thread-local access.
            return;
        }
        super::spare::give_bytes(core::mem::take(&mut self.buf));
    }
}

/// Copies `src` into `dst` (the same length): inline loads and stores for
/// up to 8 bytes (two overlapping ones of 4 or 2), where a call of
/// `memcpy` costs more than the copy; `copy_from_slice` beyond.
#[inline(always)]
pub(crate) fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    let dst = &mut dst[..n];
    if n > 8 {
        dst.copy_from_slice(src);
    } else if n >= 4 {
        dst[..4].copy_from_slice(&src[..4]);
        dst[n - 4..].copy_from_slice(&src[n - 4..]);
    } else if n >= 2 {
        dst[..2].copy_from_slice(&src[..2]);
        dst[n - 2..].copy_from_slice(&src[n - 2..]);
    } else if n == 1 {
        dst[0] = src[0];
    }
}

/// A ring capacity as stored: rings are bounded by the buffer sizes, far
/// below 4 GiB (a larger request is clamped, never wrapped).
fn cap_u32(cap: usize) -> u32 {
    u32::try_from(cap).unwrap_or(u32::MAX)
}

impl Drop for Ring {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length the short copy special-cases, and past them.
    #[test]
    fn copy_short_copies_every_length() {
        for n in 0..=20 {
            let src: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(7) ^ 0x5A).collect();
            let mut dst = vec![0xEEu8; n + 3];
            copy_short(&mut dst, &src);
            assert_eq!(&dst[..n], &src[..], "length {n}");
            assert!(
                dst[n..].iter().all(|&b| b == 0xEE),
                "length {n}: wrote past the end"
            );
        }
    }

    #[test]
    fn lazy_wrapping_and_resizing() {
        let mut r = Ring::new(16);
        assert_eq!(r.heap_bytes(), 0);
        assert_eq!(r.slices(0, 0), (&[][..], &[][..]));
        // Past the inline bytes: heap storage of the full capacity.
        r.write_at(0, b"abcdefghijkl");
        assert_eq!(r.heap_bytes(), 16);
        r.advance(11);
        // Logical 0 is 'l'; writing 10 more wraps around the end.
        r.write_at(1, b"mnopqrstuv");
        let (a, b) = r.slices(0, 11);
        assert_eq!([a, b].concat(), b"lmnopqrstuv");
        assert!(!b.is_empty());
        // The same range, writable: the wrapped part comes second.
        let (a, b) = r.slices_mut(1, 10);
        assert_eq!((a.len(), b.len()), (4, 6));
        a.copy_from_slice(b"MNOP");
        b.copy_from_slice(b"QRSTUV");
        let (a, b) = r.slices(0, 11);
        assert_eq!([a, b].concat(), b"lMNOPQRSTUV");
        r.set_capacity(32, 11);
        assert_eq!(r.heap_bytes(), 32);
        let mut out = [0u8; 11];
        r.copy_out(&mut out);
        assert_eq!(&out, b"lMNOPQRSTUV");
        r.release();
        assert_eq!(r.heap_bytes(), 0);
        r.set_capacity(0, 0);
        assert_eq!(r.capacity(), 0);
    }

    #[test]
    fn small_contents_stay_inline_until_they_outgrow_it() {
        let mut r = Ring::new(64);
        r.write_at(0, b"abc");
        r.write_at(3, b"de");
        assert_eq!(r.heap_bytes(), 0, "five bytes sit in the block");
        assert_eq!(r.slices(1, 3), (&b"bcd"[..], &[][..]));
        r.advance(2);
        assert_eq!(r.slices(0, 3), (&b"cde"[..], &[][..]));
        // A writable range that fits stays inline too.
        let (a, b) = r.slices_mut(3, 3);
        assert!(b.is_empty());
        a.copy_from_slice(b"fgh");
        assert_eq!(r.heap_bytes(), 0);
        let mut out = [0u8; 6];
        r.copy_out(&mut out);
        assert_eq!(&out, b"cdefgh");
        // The next byte does not fit behind the head: the contents move to
        // the front of heap storage.
        r.write_at(6, b"ij");
        assert_eq!(r.heap_bytes(), 64);
        let mut out = [0u8; 8];
        r.copy_out(&mut out);
        assert_eq!(&out, b"cdefghij");
        r.advance(8);
        r.release();
        assert_eq!(r.heap_bytes(), 0);
        // Empty again: inline from the start, also through `slices_mut`.
        let (a, _) = r.slices_mut(0, 8);
        a.copy_from_slice(b"12345678");
        assert_eq!(r.heap_bytes(), 0);
        let (a, _) = r.slices_mut(8, 1);
        a[0] = b'9';
        assert_eq!(r.heap_bytes(), 64);
        assert_eq!(r.slices(0, 9), (&b"123456789"[..], &[][..]));
        // A capacity below the inline size is honoured (the caller never
        // writes past it) and a resize keeps inline contents.
        let mut t = Ring::new(4);
        t.write_at(0, b"wxyz");
        t.set_capacity(6, 4);
        t.write_at(4, b"!?");
        assert_eq!(t.heap_bytes(), 0);
        assert_eq!(t.slices(0, 6), (&b"wxyz!?"[..], &[][..]));
        t.advance(3);
        t.write_at(3, b"+-=");
        assert_eq!(t.heap_bytes(), 6, "past the inline bytes");
        assert_eq!(t.slices(0, 6), (&b"z!?+-="[..], &[][..]));
    }

    #[test]
    fn stays_the_size_it_was() {
        assert_eq!(size_of::<Ring>(), 32);
    }
}
