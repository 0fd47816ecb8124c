//! The discrete-event loop of a [`Network`]: events ordered by
//! `(time, insertion counter)` and the calls that run them.

use core::cmp::{Ordering, Reverse};
use core::time::Duration;

use super::{HostId, Network};
use crate::links::Host;
use crate::time::Instant;

pub(super) struct Event {
    pub(super) at: Instant,
    pub(super) seq: u64,
    pub(super) kind: EventKind,
}

pub(super) enum EventKind {
    Arrive { to: HostId, packet: Vec<u8> },
    Timer { host: HostId, generation: u64 },
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Event {
    fn cmp(&self, other: &Self) -> Ordering {
        // `seq` is unique, so this is a total order without looking at `kind`.
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl<H: Host> Network<H> {
    /// When the next event is due, if any (after skipping stale timers).
    ///
    /// Does not pick up changes made through `host_mut` since the last
    /// `step`/`run_*` call.
    pub fn next_event_time(&mut self) -> Option<Instant> {
        self.skip_stale();
        self.events.peek().map(|Reverse(e)| e.at)
    }

    /// Processes the next event (a packet arrival or a host timer) and drains
    /// the transmits of the host it touched. Returns `false`, leaving the
    /// clock alone, when nothing is scheduled at all.
    ///
    /// Starts by draining every host's transmits and re-reading their
    /// timers (see the type docs).
    pub fn step(&mut self) -> bool {
        self.sync_all();
        self.step_inner(None)
    }

    /// Runs every event due at or before `deadline`, then sets the clock to
    /// `deadline` (or leaves it, if it is already later).
    pub fn run_until(&mut self, deadline: Instant) {
        self.sync_all();
        while self.step_inner(Some(deadline)) {}
        self.now = self.now.max(deadline);
    }

    /// [`run_until`](Self::run_until) that says whether any event (a
    /// packet arrival or a host timer) ran, for a driver that wakes
    /// waiters only when something happened.
    pub fn advance_to(&mut self, deadline: Instant) -> bool {
        self.sync_all();
        let mut any = false;
        while self.step_inner(Some(deadline)) {
            any = true;
        }
        self.now = self.now.max(deadline);
        any
    }

    /// [`run_until`](Self::run_until)`(now + d)`.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Runs events until `cond` holds or none are left at or before
    /// `deadline`; returns whether `cond` held.
    ///
    /// `cond` is checked before the first event and after each one; when it
    /// holds, the clock stays at that event's time. Otherwise the clock ends
    /// at `deadline`.
    pub fn run_until_cond(
        &mut self,
        deadline: Instant,
        mut cond: impl FnMut(&mut Self) -> bool,
    ) -> bool {
        self.sync_all();
        loop {
            if cond(self) {
                return true;
            }
            // `cond` may have changed hosts through `host_mut`.
            self.sync_dirty();
            if !self.step_inner(Some(deadline)) {
                break;
            }
        }
        self.now = self.now.max(deadline);
        cond(self)
    }

    /// Drops timer events that no longer match their host's deadline.
    fn skip_stale(&mut self) {
        while let Some(Reverse(e)) = self.events.peek() {
            let stale = match e.kind {
                EventKind::Timer { host, generation } => {
                    !matches!(self.hosts.get(host.0), Some(s) if s.timer_gen == generation)
                }
                EventKind::Arrive { .. } => false,
            };
            if !stale {
                return;
            }
            self.events.pop();
        }
    }

    /// Processes one event due no later than `limit`; `false` if there is
    /// none.
    fn step_inner(&mut self, limit: Option<Instant>) -> bool {
        self.skip_stale();
        match self.events.peek() {
            None => return false,
            Some(Reverse(e)) if limit.is_some_and(|l| e.at > l) => return false,
            Some(_) => {}
        }
        let Some(Reverse(event)) = self.events.pop() else {
            return false;
        };
        // Events are never scheduled in the past, so the clock only advances.
        self.now = self.now.max(event.at);
        match event.kind {
            EventKind::Arrive { to, packet } => {
                let Some(slot) = self.hosts.get_mut(to.0) else {
                    return true;
                };
                tracing::trace!(now = %self.now, ?to, len = packet.len(), "deliver");
                self.stats.delivered += 1;
                slot.host.receive(self.now, &packet);
                self.drain(to);
                self.refresh_timer(to, false);
            }
            EventKind::Timer { host, .. } => {
                let Some(slot) = self.hosts.get_mut(host.0) else {
                    return true;
                };
                // Re-check: the host may have changed behind our back (e.g.
                // through shared state). Only fire when really due.
                if slot.host.poll_timeout().is_some_and(|t| t <= self.now) {
                    tracing::trace!(now = %self.now, ?host, "timer");
                    slot.host.handle_timeout(self.now);
                    self.drain(host);
                    self.refresh_timer(host, true);
                } else {
                    self.drain(host);
                    self.refresh_timer(host, false);
                }
            }
        }
        true
    }

    fn sync_all(&mut self) {
        for i in 0..self.hosts.len() {
            self.hosts[i].dirty = false;
            self.drain(HostId(i));
            self.refresh_timer(HostId(i), false);
        }
    }

    fn sync_dirty(&mut self) {
        for i in 0..self.hosts.len() {
            if core::mem::take(&mut self.hosts[i].dirty) {
                self.drain(HostId(i));
                self.refresh_timer(HostId(i), false);
            }
        }
    }

    /// Re-reads `id`'s deadline and (re)schedules its timer event.
    ///
    /// `just_fired`: the host's timer fired at `now`. If it still asks for
    /// `now` or earlier, it is pushed 1 µs later, so a host that never
    /// clears its deadline cannot stall the clock forever.
    fn refresh_timer(&mut self, id: HostId, just_fired: bool) {
        let now = self.now;
        let Some(slot) = self.hosts.get_mut(id.0) else {
            return;
        };
        let wanted = slot.host.poll_timeout().map(|t| {
            if just_fired && t <= now {
                tracing::debug!(host = ?id, %now, "timer still due after firing; retrying 1 µs later");
                now + Duration::from_micros(1)
            } else {
                t.max(now)
            }
        });
        if wanted == slot.timer {
            return;
        }
        slot.timer = wanted;
        slot.timer_gen += 1;
        if let Some(at) = wanted {
            let generation = slot.timer_gen;
            self.schedule(
                at,
                EventKind::Timer {
                    host: id,
                    generation,
                },
            );
        }
    }

    pub(super) fn schedule(&mut self, at: Instant, kind: EventKind) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.events.push(Reverse(Event { at, seq, kind }));
    }
}
