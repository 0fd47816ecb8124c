//! The stack's timers: an indexed min-heap holding at most one entry per
//! socket slot ([`TimerHeap`]), and the rescheduling rule the socket's
//! `timer_at` follows ([`reschedule`]).

use super::socket::SocketHandle;
use crate::time::Instant;

/// The stack's timers: a binary min-heap of (deadline, socket index,
/// generation) holding at most one entry per socket slot, with each slot's
/// position in it kept (an indexed heap), so a deadline that moves earlier
/// moves its entry rather than adding one.
///
/// It used to be a `BinaryHeap` with lazy cancellation: every earlier
/// deadline pushed an entry and the superseded ones stayed until they
/// fired or a sweep dropped those of retired sockets. A connection's
/// lifecycle pushed four (a SYN's retransmission timeout, then the data's,
/// then a delayed ACK, and the peer's delayed ACK), all dead by the time
/// they were due, and the sweep walked them again. This heap holds one
/// entry per slot (a retired socket's stays until the slot's next socket
/// takes it over, or fires and finds no socket) and a lifecycle's moves
/// are a few compares each: 57 instructions a lifecycle fewer net
/// (callgrind, issue 6). Entries
/// fire in the same order as before (deadline, then index, then
/// generation); a superseded deadline no longer fires a second, idle
/// `handle_timeout` of its connection.
#[derive(Default)]
pub(super) struct TimerHeap {
    heap: Vec<TimerEntry>,
    /// Where slot `index`'s entry sits in `heap`; [`NO_ENTRY`] if none.
    pos: Vec<u32>,
}

/// A [`TimerHeap::pos`] of a slot with no entry.
const NO_ENTRY: u32 = u32::MAX;

#[derive(Copy, Clone)]
struct TimerEntry {
    at: Instant,
    index: u32,
    generation: u32,
}

impl TimerEntry {
    /// Whether `self` fires before `other`: the order of the old heap's
    /// `(deadline, index, generation)` tuples.
    #[inline]
    fn before(&self, other: &TimerEntry) -> bool {
        (self.at.total_micros(), self.index, self.generation)
            < (other.at.total_micros(), other.index, other.generation)
    }
}

impl TimerHeap {
    /// The first entry due: when, and whose.
    #[inline]
    pub(super) fn peek(&self) -> Option<(Instant, SocketHandle)> {
        self.heap.first().map(|e| {
            (
                e.at,
                SocketHandle {
                    index: e.index,
                    generation: e.generation,
                },
            )
        })
    }

    /// Drops the first entry due.
    pub(super) fn pop(&mut self) {
        let Some(last) = self.heap.pop() else {
            return;
        };
        if let Some(top) = self.heap.first_mut() {
            let top = core::mem::replace(top, last);
            self.pos[top.index as usize] = NO_ENTRY;
            self.sift_down(0);
        } else {
            self.pos[last.index as usize] = NO_ENTRY;
        }
    }

    /// Makes `t` the deadline of slot `h.index`'s entry, for socket `h`:
    /// a new entry, or the slot's one moved (earlier, or later when it was
    /// a removed socket's).
    ///
    /// The usual case is an entry that stays where it is (every move of a
    /// connection lifecycle: the heap holds a slot or two, and a moved
    /// entry is the root or a leaf, or stays before its children): a
    /// compare or two and a store, in a function small enough to save one
    /// register. The sifts are `set_moving`'s, whose frame the usual case
    /// no longer pays (about 50 instructions a `set` before, 35 now, and
    /// no `sift_down` call for an entry that stays; callgrind, issue 6).
    /// Forced inline into its callers it cost more than it saved (+50 a
    /// lifecycle, +12 a bulk segment: register pressure in the receive
    /// and transmit paths).
    #[inline]
    pub(super) fn set(&mut self, h: SocketHandle, t: Instant) {
        let e = TimerEntry {
            at: t,
            index: h.index,
            generation: h.generation,
        };
        if let Some(&p) = self.pos.get(h.index as usize) {
            if p != NO_ENTRY && self.stays(p as usize, &e) {
                self.heap[p as usize] = e;
                return;
            }
        }
        self.set_moving(e);
    }

    /// Whether `e`, the new deadline of the entry at `p`, keeps the heap
    /// order where it is: no parent after it, no child before it. Then
    /// the sifts `set_moving` would run leave it at `p`.
    #[inline(always)]
    fn stays(&self, p: usize, e: &TimerEntry) -> bool {
        let Some(old) = self.heap.get(p) else {
            return false;
        };
        if e.before(old) {
            p == 0 || !e.before(&self.heap[(p - 1) / 2])
        } else {
            let child = 2 * p + 1;
            let n = self.heap.len();
            (child >= n || !self.heap[child].before(e))
                && (child + 1 >= n || !self.heap[child + 1].before(e))
        }
    }

    /// [`TimerHeap::set`] for an entry that is new or moves.
    #[inline(never)]
    fn set_moving(&mut self, e: TimerEntry) {
        let index = e.index as usize;
        if index >= self.pos.len() {
            self.grow_pos(index);
        }
        match self.pos[index] {
            NO_ENTRY => {
                self.heap.push(e);
                self.sift_up(self.heap.len() - 1, e);
            }
            p => {
                let p = p as usize;
                let earlier = e.before(&self.heap[p]);
                self.heap[p] = e;
                if earlier {
                    self.sift_up(p, e);
                } else if 2 * p + 1 < self.heap.len() {
                    // A leaf (as most entries are) stays where it is.
                    self.sift_down(p);
                }
            }
        }
    }

    /// Room in `pos` for slot `index`: once per slot the table grows by,
    /// out of line so the common `set` saves fewer registers.
    #[cold]
    #[inline(never)]
    fn grow_pos(&mut self, index: usize) {
        self.pos.resize(index + 1, NO_ENTRY);
    }

    /// Number of entries (at most one per socket slot).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Moves `e`, at position `i`, up to where it belongs.
    #[inline(always)]
    fn sift_up(&mut self, mut i: usize, e: TimerEntry) {
        while i > 0 {
            let parent = (i - 1) / 2;
            let p = self.heap[parent];
            if !e.before(&p) {
                break;
            }
            self.place(i, p);
            i = parent;
        }
        self.place(i, e);
    }

    /// Moves the entry at position `i` down to where it belongs.
    #[inline(never)]
    fn sift_down(&mut self, mut i: usize) {
        let e = self.heap[i];
        let n = self.heap.len();
        loop {
            let mut child = 2 * i + 1;
            if child >= n {
                break;
            }
            if child + 1 < n && self.heap[child + 1].before(&self.heap[child]) {
                child += 1;
            }
            let c = self.heap[child];
            if !c.before(&e) {
                break;
            }
            self.place(i, c);
            i = child;
        }
        self.place(i, e);
    }

    /// Puts `e` at position `i` and notes where its slot's entry now is.
    #[inline(always)]
    fn place(&mut self, i: usize, e: TimerEntry) {
        self.heap[i] = e;
        self.pos[e.index as usize] = i as u32;
    }
}

/// Puts `h` on the timer heap for `t` unless its entry is due at or before
/// `t` (`timer_at` is the socket's, the entry's deadline): the entry holds
/// the earliest deadline set, and a later one is found when it fires (a
/// deadline moved later is not worth moving the entry for).
#[inline]
pub(super) fn reschedule(
    timers: &mut TimerHeap,
    timer_at: &mut Option<Instant>,
    h: SocketHandle,
    t: Instant,
) {
    if !timer_at.is_some_and(|at| at <= t) {
        *timer_at = Some(t);
        timers.set(h, t);
    }
}

#[cfg(test)]
mod timer_heap_tests {
    use super::*;

    fn h(index: u32, generation: u32) -> SocketHandle {
        SocketHandle { index, generation }
    }

    /// Pops everything: (deadline ms, index, generation) in firing order.
    fn drain(t: &mut TimerHeap) -> Vec<(u64, u32, u32)> {
        let mut out = Vec::new();
        while let Some((at, h)) = t.peek() {
            out.push((at.total_millis(), h.index, h.generation));
            t.pop();
        }
        assert!(t.pos.iter().all(|&p| p == NO_ENTRY), "positions cleared");
        out
    }

    /// Entries fire by deadline, then index, then generation, as the old
    /// heap's tuples did; one entry per slot, moved when its deadline moves.
    #[test]
    fn entries_fire_in_tuple_order_one_per_slot() {
        let mut t = TimerHeap::default();
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut expect = std::collections::BTreeMap::new();
        for _ in 0..2000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let index = (rng % 97) as u32;
            let generation = ((rng >> 8) % 3) as u32;
            let ms = (rng >> 16) % 50;
            t.set(h(index, generation), Instant::from_millis(ms));
            expect.insert(index, (ms, index, generation));
        }
        assert_eq!(t.len(), expect.len());
        let mut want: Vec<_> = expect.into_values().collect();
        want.sort();
        assert_eq!(drain(&mut t), want);
    }

    /// A slot's entry taken over by the slot's next socket moves later as
    /// well as earlier; popping keeps the positions in step.
    #[test]
    fn a_reused_slot_takes_its_entry_over() {
        let mut t = TimerHeap::default();
        t.set(h(1, 0), Instant::from_millis(5));
        t.set(h(2, 0), Instant::from_millis(7));
        t.set(h(3, 0), Instant::from_millis(6));
        t.set(h(1, 1), Instant::from_millis(9));
        t.set(h(3, 0), Instant::from_millis(1));
        assert_eq!(drain(&mut t), vec![(1, 3, 0), (7, 2, 0), (9, 1, 1)]);
        t.set(h(4, 0), Instant::from_millis(3));
        assert_eq!(t.peek(), Some((Instant::from_millis(3), h(4, 0))));
        t.pop();
        assert_eq!(t.peek(), None);
    }

    /// A socket's deadlines moving earlier keep one entry in the heap, and a
    /// removed socket's entry is dropped when it comes due.
    #[test]
    fn the_stack_keeps_one_entry_per_socket() {
        let mut st = crate::stack::Stack::new(crate::stack::StackConfig::default(), 1);
        let live = st.socket();
        for i in 0..100 {
            st.schedule(live, Instant::from_millis(1_000_000 - i));
        }
        assert_eq!(st.timers.len(), 1);
        assert_eq!(
            st.timers.peek(),
            Some((Instant::from_millis(999_901), live))
        );
        let gone = st.socket();
        st.schedule(gone, Instant::from_millis(10));
        st.close(Instant::ZERO, gone).unwrap();
        assert_eq!(st.timers.len(), 2);
        st.handle_timeout(Instant::from_millis(10));
        assert_eq!(st.timers.len(), 1);
        assert_eq!(st.timers.peek().map(|(_, h)| h), Some(live));
    }
}
