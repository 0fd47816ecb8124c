//! After anything happened to a connection: `touch` reports its events and
//! state changes, queues it to transmit and reschedules its timer, and
//! `retire_orphan` and `unlink` take a finished one out of the tables.

use super::socket::{self, SocketHandle, SocketKind};
use super::timers::{reschedule, TimerHeap};
use super::{demux, events, message, time_wait, Event, Stack, Transition};
use crate::tcp::{Connection, Events, State, TcpConfig};
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
            // An entry left by a socket since removed (`retire_orphan`
            // leaves it: the slot's next socket takes it over) finds no
            // socket.
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
        // A finished orphan's socket goes below (`retire_orphan`): no
        // deadline of its own to keep (a timer entry would only be skipped
        // later).
        if !(done && orphaned) {
            if let Some(t) = Instant::earliest([c.conn.poll_timeout(), linger_deadline]) {
                reschedule(&mut self.timers, timer_at, h, t);
            }
        }
        if !orphaned {
            net.update_conn(c);
        }
        if done {
            if orphaned {
                self.retire_orphan(now, h);
            } else {
                let cfg = &self.config.tcp;
                unlink(&mut self.conns, &mut self.time_wait, cfg, now, h, &c.conn);
            }
        }
    }

    /// Retires finished orphan `h` (CLOSED or TIME-WAIT, nothing left to
    /// send, the application's handle closed): its socket leaves the
    /// table, its 4-tuple the demultiplexing table (TIME-WAIT moves to a
    /// compact record), and its block is kept for the next connection.
    /// Its own look-up is the socket removal's, which the slot needs
    /// anyway, so the light paths call it straight, without the general
    /// touch (the last ACK in either direction: one of each per
    /// lifecycle). Out of line: three callers, once per connection.
    #[inline(never)]
    pub(super) fn retire_orphan(&mut self, now: Instant, h: SocketHandle) {
        let Some(conn) = self.sockets.remove_conn(h) else {
            return;
        };
        let cfg = &self.config.tcp;
        unlink(&mut self.conns, &mut self.time_wait, cfg, now, h, &conn);
        self.recycle_conn(conn);
        // Its timer entry, if any, stays: the slot's next socket takes it
        // over (`TimerHeap::set`), and if it fires first it finds no
        // socket. The heap holds at most one entry per slot.
    }
}

/// Finished connection `conn` (CLOSED or TIME-WAIT) of socket `h` leaves
/// the demultiplexing table, and a TIME-WAIT one gets its compact record
/// for 2×MSL from `now`. An IPv4 connection's key comes straight from its
/// addresses and is hashed once for both tables (they share the hasher);
/// other families go out of line.
// Always inline: the key and its hash stay in registers.
#[inline(always)]
fn unlink(
    conns: &mut demux::Demux,
    time_wait: &mut time_wait::TimeWaitTable,
    cfg: &TcpConfig,
    now: Instant,
    h: SocketHandle,
    conn: &Connection,
) {
    let Some(k) = conn.v4_key() else {
        unlink_other(conns, time_wait, cfg, now, h, conn);
        return;
    };
    let hash = conns.hash_v4(&k);
    conns.remove_v4_if_hashed(hash, &k, h);
    if conn.state() == State::TimeWait {
        time_wait.insert_absent_v4_hashed(hash, k, time_wait_entry(conn), now + cfg.time_wait());
    }
}

/// [`unlink`] for a connection not keyed by a [`V4Key`](crate::wire::V4Key):
/// its tuple rebuilt from the stored addresses.
#[cold]
#[inline(never)]
fn unlink_other(
    conns: &mut demux::Demux,
    time_wait: &mut time_wait::TimeWaitTable,
    cfg: &TcpConfig,
    now: Instant,
    h: SocketHandle,
    conn: &Connection,
) {
    let t = FourTuple::new(conn.local(), conn.remote());
    conns.remove_if(&t, h);
    if conn.state() == State::TimeWait {
        time_wait.insert_absent(t, time_wait_entry(conn), now + cfg.time_wait());
    }
}

/// What the TIME-WAIT record of `conn` keeps.
#[inline(always)]
fn time_wait_entry(conn: &Connection) -> time_wait::TimeWaitEntry {
    let (snd_nxt, rcv_nxt, ts, window) = conn.time_wait_info();
    time_wait::TimeWaitEntry {
        snd_nxt,
        rcv_nxt,
        ts_recent: ts.map(|t| t.0),
        window,
        rcv_wscale: conn.negotiated().rcv_wscale,
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

/// Records connection `c`'s state as the one its socket has seen, noting
/// the move ([`note_transition`]) if it changed: the light paths' part of
/// `touch` for the state.
#[inline(always)]
pub(super) fn note_state_change(
    transitions: &mut Option<Vec<Transition>>,
    now: Instant,
    c: &mut socket::ConnSocket,
) {
    let state = c.conn.state();
    if c.last_state != state {
        let from = core::mem::replace(&mut c.last_state, state);
        note_transition(transitions, now, c, from, state);
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

/// The push of [`raise`], inline: into room it is a compare and three
/// stores, and out of line each of a lifecycle's eight events paid a call
/// and a spill of the pair, 17 instructions (−39 a lifecycle inline). It
/// was put out of line when the push itself was larger (I1 misses 427 ->
/// 382 a lifecycle then); now that the full-storage case is out of line in
/// `Fifo::push_full`, inlining it grows the lifecycle's code by about 220
/// bytes and moves the simulated I1 misses from 250 to 229 a lifecycle
/// (scripts/footprint.py --ways 4; layout noise as much as anything).
#[inline(always)]
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
        queue_owed(tx_ready, c, h);
    }
}

/// Puts `c` on the transmit list (once) for a connection known to owe a
/// segment: [`queue_for_transmit`]'s after it asked `wants_transmit`, and
/// a user call's that has just given the connection a segment to send
/// (new bytes in a synchronized state, a FIN just queued), which need not
/// ask (an out-of-line call of some 25 instructions after each such send
/// and close; debug builds check the answer). Whether the segment can go at
/// once (Nagle, the peer's window) is the transmit path's question, as
/// it is for any queued connection.
#[inline(always)]
pub(super) fn queue_owed(
    tx_ready: &mut events::Fifo<SocketHandle>,
    c: &mut socket::ConnSocket,
    h: SocketHandle,
) {
    debug_assert!(c.conn.wants_transmit(), "a segment is owed");
    if !c.tx_queued {
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
    note_state_change(transitions, now, c);
    c.conn.take_events();
    queue_for_transmit(tx_ready, c, h);
    if let Some(t) = c.conn.poll_timeout() {
        reschedule(timers, timer_at, h, t);
    }
}
