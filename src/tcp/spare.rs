//! Spare heap parts of finished or idle connections, kept per thread for
//! the next ones (issue 6).
//!
//! A connection lifecycle allocates and frees the same few small blocks
//! every time: the loss-recovery state when data first flows, and the SACK
//! record ring whenever it has two segments in flight after everything was
//! acknowledged (a single one is recorded inline, sack.rs). Each
//! malloc/free pair costs the allocator some 150 instructions, about 1 000
//! per lifecycle; taking a block from a short per-thread list and giving it
//! back costs a tenth of that. The lists are bounded ([`MAX_KEPT`] blocks of
//! each kind, small ones only), so what they hold is a few KiB per thread
//! whatever the number of connections, and an idle connection still holds
//! none of it.
//!
//! The byte rings' storage (ring.rs) is kept here too, on its own terms:
//! buffers are found by length and bounded by bytes as well as count, so a
//! queue that empties and fills again (every bulk transfer, every short
//! connection) neither zeroes fresh memory nor pays the allocator's
//! `mmap`/`munmap` and page faults for it. The bytes left in a reused
//! buffer are never read: a ring reads only what it wrote.
//!
//! The sans-IO core has no other home for them: a connection does not know
//! its stack, and the stack does not see inside the loss state.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::thread::LocalKey;

use super::sack::SegRecord;

/// Most blocks kept of each kind.
pub(crate) const MAX_KEPT: usize = 16;

/// A per-thread list of spare blocks of one kind.
pub(crate) type Pool<T> = LocalKey<RefCell<Vec<T>>>;

thread_local! {
    /// Empty SACK record rings (sack.rs).
    static RECORDS: RefCell<Vec<VecDeque<SegRecord>>> = const { RefCell::new(Vec::new()) };
}

/// A spare block from `pool`, if one is kept. Never fails: during thread
/// teardown it just finds none.
#[inline]
pub(crate) fn take<T: 'static>(pool: &'static Pool<T>) -> Option<T> {
    pool.try_with(|v| v.borrow_mut().pop()).ok().flatten()
}

/// Keeps `block` in `pool` for the next [`take`], or drops it if the pool
/// is full (or the thread is going away).
#[inline]
pub(crate) fn give<T: 'static>(pool: &'static Pool<T>, block: T) {
    let rejected = pool.try_with(|v| {
        let mut v = v.borrow_mut();
        if v.len() < MAX_KEPT {
            v.push(block);
            None
        } else {
            Some(block)
        }
    });
    // Dropped outside the borrow: a block's own drop may use a pool.
    drop(rejected);
}

/// An empty record ring, from the spare list when one is kept: of the
/// capacity [`give_records`] was told to keep.
#[inline]
pub(crate) fn take_records() -> Option<VecDeque<SegRecord>> {
    take(&RECORDS)
}

/// Gives back a record ring once it is no longer needed; it is emptied
/// here, and kept only if its capacity is `fresh`, the size a ring is
/// first allocated with: a ring taken again then has exactly what a new
/// one would, so the memory the stack reports does not depend on what ran
/// before on the thread, and a bulk sender's grown rings go back to the
/// allocator.
#[inline]
pub(crate) fn give_records(mut ring: VecDeque<SegRecord>, fresh: usize) {
    if ring.capacity() != fresh || fresh == 0 {
        return;
    }
    ring.clear();
    give(&RECORDS, ring);
}

/// Most ring buffers kept.
const MAX_BYTE_BUFS: usize = 16;
/// Most ring bytes kept.
const MAX_BYTES: usize = 16 << 20;

/// The kept ring buffers and their total length (kept up to date rather
/// than summed on every [`give_bytes`]: two of those per connection
/// lifecycle and side).
struct ByteSpare {
    bufs: Vec<Box<[u8]>>,
    held: usize,
}

thread_local! {
    static BYTES: RefCell<ByteSpare> = const {
        RefCell::new(ByteSpare {
            bufs: Vec::new(),
            held: 0,
        })
    };
}

/// A ring buffer of exactly `len` bytes (contents unspecified): a kept
/// one if there is one of that length, else a new one.
pub(crate) fn take_bytes(len: usize) -> Box<[u8]> {
    BYTES
        .with_borrow_mut(|s| {
            let i = s.bufs.iter().rposition(|b| b.len() == len)?;
            s.held -= len;
            Some(s.bufs.swap_remove(i))
        })
        .unwrap_or_else(|| vec![0u8; len].into_boxed_slice())
}

/// Gives a ring's buffer back for [`take_bytes`].
pub(crate) fn give_bytes(buf: Box<[u8]>) {
    if buf.is_empty() {
        return;
    }
    BYTES.with_borrow_mut(|s| {
        debug_assert_eq!(s.held, s.bufs.iter().map(|b| b.len()).sum::<usize>());
        if s.bufs.len() < MAX_BYTE_BUFS && s.held + buf.len() <= MAX_BYTES {
            s.held += buf.len();
            s.bufs.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static TEST: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
    }

    #[test]
    fn keeps_at_most_max_kept() {
        assert_eq!(take(&TEST), None);
        for i in 0..MAX_KEPT as u32 + 5 {
            give(&TEST, i);
        }
        let mut n = 0;
        while take(&TEST).is_some() {
            n += 1;
        }
        assert_eq!(n, MAX_KEPT);
    }

    #[test]
    fn rings_come_back_empty_and_of_the_fresh_size_only() {
        while take_records().is_some() {}
        give_records(VecDeque::new(), 8);
        assert!(take_records().is_none(), "an unallocated ring is not kept");
        give_records(VecDeque::with_capacity(64), 8);
        assert!(take_records().is_none(), "a grown ring is freed");
        // A scoreboard gives its ring back on release and takes it again
        // on its next send.
        let mut b = crate::tcp::sack::Scoreboard::new(100);
        let t = crate::time::Instant::ZERO;
        let s = crate::wire::SeqNum;
        // Two records: one alone is kept inline, without a ring.
        b.on_send(s(0), s(10), t);
        b.on_send(s(10), s(20), t);
        let fresh = b.heap_bytes();
        b.release();
        assert_eq!(b.heap_bytes(), 0);
        let r = take_records().expect("kept");
        assert!(r.is_empty() && r.capacity() > 0);
        give_records(r, fresh / size_of::<SegRecord>());
        b.on_send(s(20), s(30), t);
        b.on_send(s(30), s(40), t);
        assert!(take_records().is_none(), "taken again by the next send");
        assert_eq!((b.len(), b.heap_bytes()), (2, fresh));
    }
}
