//! After anything happened to a connection: `touch` reports its events and
//! state changes, queues it to transmit and reschedules its timer, and
//! `retire` takes a finished one out of the tables; the timer heap
//! ([`TimerHeap`]).

use super::socket::{self, SocketHandle, SocketKind};
use super::{demux, events, message, time_wait, Event, Stack, Transition};
use crate::tcp::{Events, State};
use crate::time::Instant;
use crate::wire::FourTuple;

impl Stack {
    // ---- timers ----

    /// The earliest instant at which [`Stack::handle_timeout`] has work.
    // Inline: an event loop asks after every step (ten times a lifecycle
    // in the benchmark), and the answer is two loads and a compare — the
    // heap's top and the TIME-WAIT table's kept next expiry (issue 6).
    #[inline]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let t = self.timers.peek().map(|(t, _)| t);
        Instant::earliest([t, self.time_wait.next_expiry()])
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((t, h)) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            // An entry left by a socket since removed (`retire` leaves it:
            // the slot's next socket takes it over) finds no socket.
            let Some(s) = self.sockets.get_mut(h) else {
                continue;
            };
            if s.timer_at == Some(t) {
                s.timer_at = None;
            }
            match &mut s.kind {
                SocketKind::Conn(c) => {
                    c.conn.handle_timeout(now, &self.config.tcp);
                    if self.sockets.linger_until(h).is_some_and(|t| t <= now) {
                        self.linger_expired(h);
                    }
                    self.touch(now, h);
                }
                SocketKind::Listener(_) => self.listener_timeout(now, h),
                SocketKind::Unbound(_) => {}
            }
        }
        self.expire_time_wait(now);
    }

    /// Puts `h` on the timer heap for `at`, unless its entry is due at or
    /// before `at` already.
    pub(crate) fn schedule(&mut self, h: SocketHandle, at: Instant) {
        if let Some(s) = self.sockets.get_mut(h) {
            reschedule(&mut self.timers, &mut s.timer_at, h, at);
        }
    }

    /// After anything happened to a connection: report its events and state
    /// changes, queue it for transmit, reschedule its timer, and retire it
    /// once it is done.
    pub(crate) fn touch(&mut self, now: Instant, h: SocketHandle) {
        self.touch_inner(now, h, Touch::Changed);
    }

    /// The bookkeeping after every packet in and out and every user call
    /// (about 20 times per connection lifecycle), so it looks the socket up
    /// once and works on its fields directly.
    pub(super) fn touch_inner(&mut self, now: Instant, h: SocketHandle, why: Touch) {
        let linger_until = self.sockets.linger_until(h);
        let Some(socket::Socket {
            kind: SocketKind::Conn(c),
            timer_at,
            orphaned,
            net,
            queued,
            ..
        }) = self.sockets.get_mut(h)
        else {
            return;
        };
        let orphaned = *orphaned;
        message::pump(c, self.config.max_message_size);
        let events = c.conn.take_events();
        let state = c.conn.state();
        let from = c.last_state;
        c.last_state = state;
        let is_done = c.conn.is_done();
        // Asked only when the answer is used: to queue the connection, or
        // to hold a done one back until it has sent what it owes.
        let wants_tx = (is_done || (!c.tx_queued && why != Touch::Idle)) && c.conn.wants_transmit();
        if wants_tx && !c.tx_queued && why != Touch::Idle {
            c.tx_queued = true;
            self.tx_ready.push_back(h);
        }
        // A lingering close can complete (or must report failure): wake the
        // application so it calls close again. Once it can, the linger
        // deadline no longer counts (it may already be past).
        let linger_ready =
            linger_until.is_some() && (c.conn.all_acked() || c.conn.state() == State::Closed);
        let linger_deadline = linger_until.filter(|_| !linger_ready);
        let done = is_done && !wants_tx;
        if from != state {
            note_transition(&mut self.transitions, now, c, from, state);
        }
        if !orphaned && !events.is_empty() {
            let in_accept_queue = c.in_accept_queue;
            for (bit, ev) in [
                (Events::CONNECTED, Event::Connected),
                (Events::READABLE, Event::Readable),
                (Events::WRITABLE, Event::Writable),
                (Events::CLOSED, Event::Closed),
            ] {
                if events.contains(bit) && !(in_accept_queue && bit == Events::CONNECTED) {
                    raise(&mut self.events, queued, h, ev);
                }
            }
        }
        if linger_ready {
            raise(&mut self.events, queued, h, Event::Closed);
        }
        // A finished orphan's socket goes below (`retire`): no deadline
        // of its own to keep (a timer entry would only be skipped later).
        if !(done && orphaned) {
            if let Some(t) = Instant::earliest([c.conn.poll_timeout(), linger_deadline]) {
                reschedule(&mut self.timers, timer_at, h, t);
            }
        }
        if !orphaned {
            net.update_conn(c);
        }
        if done {
            // An IPv4 connection's key comes straight from its addresses;
            // others are rebuilt from the compact tuple only here.
            let key = match c.conn.v4_key() {
                Some(k) => demux::TableKey::V4(k),
                None => demux::TableKey::Other(FourTuple::new(c.conn.local(), c.conn.remote())),
            };
            let tw_info = (state == State::TimeWait)
                .then(|| (c.conn.time_wait_info(), c.conn.negotiated().rcv_wscale));
            self.retire(now, h, key, tw_info, orphaned);
        }
    }

    /// A connection reached CLOSED or TIME-WAIT: its 4-tuple leaves the
    /// demultiplexing table (TIME-WAIT moves to a compact record), and an
    /// orphan's slot is freed.
    pub(super) fn retire(
        &mut self,
        now: Instant,
        h: SocketHandle,
        key: demux::TableKey,
        tw: Option<(crate::tcp::conn::TimeWaitInfo, u8)>,
        orphaned: bool,
    ) {
        // An IPv4 key is hashed once for both tables (they share the
        // hasher).
        let hash = match &key {
            demux::TableKey::V4(k) => {
                let hash = self.conns.hash_v4(k);
                self.conns.remove_v4_if_hashed(hash, k, h);
                hash
            }
            demux::TableKey::Other(t) => {
                self.conns.remove_if(t, h);
                0
            }
        };
        if let Some(((snd_nxt, rcv_nxt, ts, window), rcv_wscale)) = tw {
            let entry = time_wait::TimeWaitEntry {
                snd_nxt,
                rcv_nxt,
                ts_recent: ts.map(|t| t.0),
                window,
                rcv_wscale,
            };
            let expires = now + self.config.tcp.time_wait();
            match key {
                demux::TableKey::V4(k) => self
                    .time_wait
                    .insert_absent_v4_hashed(hash, k, entry, expires),
                demux::TableKey::Other(t) => self.time_wait.insert_absent(t, entry, expires),
            };
        }
        if orphaned {
            if let Some(socket::Socket {
                kind: SocketKind::Conn(c),
                ..
            }) = self.sockets.remove(h)
            {
                self.recycle_conn(c.conn);
            }
            // Its timer entry, if any, stays: the slot's next socket takes
            // it over (`TimerHeap::set`), and if it fires first it finds no
            // socket. The heap holds at most one entry per slot.
        }
    }
}

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
/// they were due, and the sweep walked them again: some 280 instructions a
/// lifecycle (callgrind, issue 6), where this heap holds the live sockets'
/// entries only and a lifecycle's moves are a few compares each. Entries
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
    pub(super) fn set(&mut self, h: SocketHandle, t: Instant) {
        let index = h.index as usize;
        if index >= self.pos.len() {
            self.grow_pos(index);
        }
        let e = TimerEntry {
            at: t,
            index: h.index,
            generation: h.generation,
        };
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
            self.heap[i] = p;
            self.pos[p.index as usize] = i as u32;
            i = parent;
        }
        self.heap[i] = e;
        self.pos[e.index as usize] = i as u32;
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
            self.heap[i] = c;
            self.pos[c.index as usize] = i as u32;
            i = child;
        }
        self.heap[i] = e;
        self.pos[e.index as usize] = i as u32;
    }
}

/// Why [`Stack::touch_inner`] runs.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(super) enum Touch {
    /// Input, a timer or a user call changed the connection.
    Changed,
    /// It just sent a segment (it is off the transmit list).
    Sent,
    /// It was polled and had nothing to send after all (off the list, and
    /// stays off until something changes).
    Idle,
}

/// Notes connection `c`'s move `from` → `to` when transitions are being
/// recorded ([`Stack::record_transitions`]); a free function, so a caller
/// holding the socket can call it. Always inline: with a plain `#[inline]`
/// the lifecycle cost 14 instructions more (callgrind).
#[inline(always)]
pub(super) fn note_transition(
    transitions: &mut Option<Vec<Transition>>,
    now: Instant,
    c: &socket::ConnSocket,
    from: State,
    to: State,
) {
    if let Some(t) = transitions {
        t.push(Transition {
            at: now,
            local: c.conn.local(),
            remote: Some(c.conn.remote()),
            from,
            to,
        });
    }
}

/// Queues an application event unless the same one is already waiting for
/// this socket (`queued` is the socket's [`socket::Socket::queued`]).
// Always inline: the bulk receiver's predicted segments raise READABLE
// each, almost always finding it queued already — a bit test, not a call
// (left to itself LLVM outlined it once the push was inline: +7
// instructions a bulk segment).
#[inline(always)]
pub(super) fn raise(events: &mut events::EventQueue, queued: &mut u8, h: SocketHandle, ev: Event) {
    let bit = events::event_bit(ev);
    if *queued & bit == 0 {
        *queued |= bit;
        push_event(events, h, ev);
    }
}

/// The push of [`raise`], out of line: one copy of it, not one per
/// caller (instruction-cache footprint: I1 misses 427 -> 382 a
/// lifecycle, callgrind --cache-sim, issue 6).
#[inline(never)]
pub(super) fn push_event(events: &mut events::EventQueue, h: SocketHandle, ev: Event) {
    events.push_back((h, ev));
}

/// Puts connection `h` on the transmit list unless it is there already or
/// has nothing to send. Always inline: it is a test and a push, and
/// outlined (as LLVM did once `receive_packet` grew) it costs the bulk
/// receiver's fast path a call per segment.
#[inline(always)]
pub(super) fn queue_for_transmit(
    tx_ready: &mut events::Fifo<SocketHandle>,
    c: &mut socket::ConnSocket,
    h: SocketHandle,
) {
    if !c.tx_queued && c.conn.wants_transmit() {
        c.tx_queued = true;
        tx_ready.push_back(h);
    }
}

/// The part of `touch` after a segment that one of the light receive paths
/// took (`receive_light`, `receive_syn_ack`) for a connection it left
/// alive, with no lingering close and no message framing: the state change
/// recorded, the connection's events taken (the caller raises them), the
/// connection queued to transmit, its timer rescheduled. Inlined into both:
/// the bulk sender's ACKs take `receive_light` and pay no call for it.
#[inline(always)]
pub(super) fn settle_after_light(
    transitions: &mut Option<Vec<Transition>>,
    tx_ready: &mut events::Fifo<SocketHandle>,
    timers: &mut TimerHeap,
    now: Instant,
    h: SocketHandle,
    c: &mut socket::ConnSocket,
    timer_at: &mut Option<Instant>,
) {
    let state = c.conn.state();
    if c.last_state != state {
        let from = core::mem::replace(&mut c.last_state, state);
        note_transition(transitions, now, c, from, state);
    }
    c.conn.take_events();
    queue_for_transmit(tx_ready, c, h);
    if let Some(t) = c.conn.poll_timeout() {
        reschedule(timers, timer_at, h, t);
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
        push_timer(timers, h, t);
    }
}

/// Sets socket `h`'s timer-heap entry to `t` (the socket's `timer_at`
/// must say `t`; see [`reschedule`]).
#[inline]
pub(super) fn push_timer(timers: &mut TimerHeap, h: SocketHandle, t: Instant) {
    timers.set(h, t);
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
        let mut st = Stack::new(crate::stack::StackConfig::default(), 1);
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
