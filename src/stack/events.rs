//! Network events in Winsock's `FD_*` model (DESIGN.md, "Network events";
//! SEMANTICS.md §2 and §3's "Winsock event re-enabling").
//!
//! An application selects the events it wants for a socket
//! ([`Stack::select_events`], Winsock's `WSAEventSelect`) and collects what
//! was recorded ([`Stack::take_network_events`], `WSAEnumNetworkEvents`).
//! The recording follows Winsock's re-enabling rules, so an event-driven
//! server sees each condition once per call that consumes it:
//!
//! * `READ` is recorded when data is readable, then not again until the
//!   next `recv` (even a failed one); if data is still there then, it is
//!   recorded again at once. End-of-stream is not `READ`: it is `CLOSE`.
//! * `ACCEPT` likewise, with `accept`.
//! * `WRITE` is recorded once the connection can send (connect or accept),
//!   then only after a `send` that returned `WouldBlock`, when space opens.
//! * `CONNECT` and `CLOSE` are recorded once and never re-enabled.
//!   `CONNECT` carries the connect's error (`ConnectionRefused`,
//!   `TimedOut`…). `CLOSE` carries none for a graceful close — recorded
//!   once the data before the peer's FIN has been read —,
//!   `ConnectionReset` for a reset, `ConnectionAborted` when this side gave
//!   up (retransmissions, keepalive, linger expiry).
//!
//! A closed handle records nothing more (Winsock never posts `FD_CLOSE`
//! after `closesocket`). Accepted sockets inherit the listener's selection.

use core::fmt;

use super::socket::{ConnSocket, Socket, SocketKind};
use super::{Error, SocketHandle, Stack};
use crate::tcp::{ConnError, State};

/// A set of network events (`FD_READ`, `FD_WRITE`, …).
#[derive(Copy, Clone, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct NetEvents(u8);

impl NetEvents {
    /// No events.
    pub const NONE: NetEvents = NetEvents(0);
    /// Data can be read (`FD_READ`).
    pub const READ: NetEvents = NetEvents(0x01);
    /// Data can be written (`FD_WRITE`).
    pub const WRITE: NetEvents = NetEvents(0x02);
    /// A connection can be accepted (`FD_ACCEPT`).
    pub const ACCEPT: NetEvents = NetEvents(0x04);
    /// A connect finished, successfully or not (`FD_CONNECT`).
    pub const CONNECT: NetEvents = NetEvents(0x08);
    /// The connection was closed by the peer or ended (`FD_CLOSE`).
    pub const CLOSE: NetEvents = NetEvents(0x10);
    /// Every event.
    pub const ALL: NetEvents = NetEvents(0x1f);

    const EACH: [(NetEvents, &'static str); 5] = [
        (NetEvents::READ, "READ"),
        (NetEvents::WRITE, "WRITE"),
        (NetEvents::ACCEPT, "ACCEPT"),
        (NetEvents::CONNECT, "CONNECT"),
        (NetEvents::CLOSE, "CLOSE"),
    ];

    /// Whether every event of `other` is in `self`.
    pub const fn contains(self, other: NetEvents) -> bool {
        self.0 & other.0 == other.0
    }
    /// Whether any event of `other` is in `self`.
    pub const fn intersects(self, other: NetEvents) -> bool {
        self.0 & other.0 != 0
    }
    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The events one by one, in the order READ, WRITE, ACCEPT, CONNECT,
    /// CLOSE.
    pub fn iter(self) -> impl Iterator<Item = NetEvents> {
        NetEvents::EACH
            .into_iter()
            .map(|(e, _)| e)
            .filter(move |&e| self.contains(e))
    }
    fn name(self) -> &'static str {
        NetEvents::EACH
            .iter()
            .find(|(e, _)| *e == self)
            .map_or("?", |(_, n)| n)
    }
}

impl core::ops::BitOr for NetEvents {
    type Output = NetEvents;
    fn bitor(self, rhs: NetEvents) -> NetEvents {
        NetEvents(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for NetEvents {
    fn bitor_assign(&mut self, rhs: NetEvents) {
        self.0 |= rhs.0;
    }
}

impl core::ops::BitAnd for NetEvents {
    type Output = NetEvents;
    fn bitand(self, rhs: NetEvents) -> NetEvents {
        NetEvents(self.0 & rhs.0)
    }
}

impl core::ops::Not for NetEvents {
    type Output = NetEvents;
    fn not(self) -> NetEvents {
        NetEvents(!self.0 & NetEvents::ALL.0)
    }
}

impl fmt::Display for NetEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("NONE");
        }
        for (i, e) in self.iter().enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            f.write_str(e.name())?;
        }
        Ok(())
    }
}

impl fmt::Debug for NetEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What [`Stack::take_network_events`] returns: the events recorded since
/// the last call and their error codes (`WSANETWORKEVENTS`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct NetworkEvents {
    /// The events recorded.
    pub events: NetEvents,
    connect_error: Option<Error>,
    close_error: Option<Error>,
}

impl NetworkEvents {
    /// The error code of one recorded event (`iErrorCode[FD_x_BIT]`): only
    /// `CONNECT` and `CLOSE` carry one; `None` for success or for an event
    /// that was not recorded.
    pub fn error(&self, ev: NetEvents) -> Option<Error> {
        if ev == NetEvents::CONNECT {
            self.connect_error
        } else if ev == NetEvents::CLOSE {
            self.close_error
        } else {
            None
        }
    }
    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// Per-socket recording state, six bytes in every socket slot.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct NetState {
    /// Selected (`WSAEventSelect`'s mask).
    mask: NetEvents,
    /// Recorded, not yet taken.
    recorded: NetEvents,
    /// READ, WRITE and ACCEPT may not be recorded again until re-enabled;
    /// CONNECT and CLOSE once recorded never again.
    disabled: NetEvents,
    /// `connect` was called and its outcome is not yet recorded.
    connecting: bool,
    // Kept as the one-byte `ConnError` (converted on take): these ride in
    // every socket slot, and `Error` is larger.
    connect_error: Option<ConnError>,
    close_error: Option<ConnError>,
}

/// The bit of `ev` in [`super::socket::Socket::queued`]: its
/// discriminant (each a distinct bit).
#[inline]
pub(crate) fn event_bit(ev: super::Event) -> u8 {
    ev as u8
}

impl NetState {
    /// A socket created by `connect`.
    pub(crate) fn connecting() -> NetState {
        NetState {
            connecting: true,
            ..NetState::default()
        }
    }

    /// An accepted socket: the listener's selection, and no CONNECT.
    pub(crate) fn inherit(listener: &NetState) -> NetState {
        NetState {
            mask: listener.mask,
            ..NetState::default()
        }
    }

    /// Keeps the selection of the socket this one replaces (a socket
    /// selected before `connect`).
    pub(crate) fn inherit_mask(&mut self, before: &NetState) {
        self.mask = before.mask;
    }

    /// A call that re-enables `ev` (recv → READ, accept → ACCEPT, a send
    /// that would block → WRITE).
    pub(crate) fn reenable(&mut self, ev: NetEvents) {
        self.disabled = self.disabled & !ev;
    }

    fn record(&mut self, ev: NetEvents) {
        if self.mask.contains(ev) && !self.disabled.contains(ev) {
            self.recorded |= ev;
            self.disabled |= ev;
        }
    }

    /// Records what the socket's current condition warrants.
    pub(crate) fn update(&mut self, kind: &SocketKind) {
        if self.mask.is_empty() {
            return;
        }
        match kind {
            SocketKind::Unbound(_) => {}
            SocketKind::Listener(l) => {
                if !l.accept_queue.is_empty() {
                    self.record(NetEvents::ACCEPT);
                }
            }
            SocketKind::Conn(c) => self.update_conn(c),
        }
    }

    /// [`NetState::update`] for a connection. Inlined to the check that
    /// nothing is selected, which is most sockets' case, after every packet.
    #[inline]
    pub(crate) fn update_conn(&mut self, c: &ConnSocket) {
        if !self.mask.is_empty() {
            self.update_selected_conn(c);
        }
    }

    fn update_selected_conn(&mut self, c: &ConnSocket) {
        let conn = &c.conn;
        let state = conn.state();
        let synchronized = !matches!(state, State::SynSent | State::SynReceived);
        let error = conn.error();
        let connect_done = state == State::Closed || synchronized;
        if self.connecting && self.mask.contains(NetEvents::CONNECT) && connect_done {
            self.connecting = false;
            self.connect_error = match error {
                Some(e) => Some(e),
                None if state == State::Closed => Some(ConnError::Aborted),
                None => None,
            };
            self.record(NetEvents::CONNECT);
            if self.connect_error.is_some() {
                // A failed connect is reported by CONNECT alone, as
                // Winsock does.
                self.disabled |= NetEvents::CLOSE | NetEvents::WRITE;
            }
        }
        if c.in_accept_queue {
            // Still in the accept queue: the application has no
            // handle for it yet.
            return;
        }
        // Message mode: READ means a whole message is waiting.
        let readable = match &c.message {
            Some(f) => f.message_ready(conn),
            None => conn.recv_queue_len() > 0,
        };
        if readable {
            self.record(NetEvents::READ);
        }
        if matches!(state, State::Established | State::CloseWait) && conn.send_queue_free() > 0 {
            self.record(NetEvents::WRITE);
        }
        if !self.disabled.contains(NetEvents::CLOSE) && self.mask.contains(NetEvents::CLOSE) {
            let close = match error {
                Some(ConnError::Reset) => Some(Some(ConnError::Reset)),
                Some(ConnError::TimedOut | ConnError::Aborted) if synchronized => {
                    Some(Some(ConnError::Aborted))
                }
                Some(ConnError::ProtocolViolation) if synchronized => {
                    Some(Some(ConnError::ProtocolViolation))
                }
                Some(_) => None,
                // Message mode: graceful once the peer's DISCONNECT
                // record has been reached.
                None if c.message.is_some() => c
                    .message
                    .as_ref()
                    .is_some_and(|f| f.disconnected())
                    .then_some(None),
                None if conn.at_eof() => Some(None),
                None => None,
            };
            if let Some(e) = close {
                self.close_error = e;
                self.record(NetEvents::CLOSE);
            }
        }
    }

    fn take(&mut self) -> NetworkEvents {
        let out = NetworkEvents {
            events: self.recorded,
            connect_error: self
                .connect_error
                .filter(|_| self.recorded.contains(NetEvents::CONNECT))
                .map(Error::from),
            close_error: self
                .close_error
                .filter(|_| self.recorded.contains(NetEvents::CLOSE))
                .map(Error::from),
        };
        self.recorded = NetEvents::NONE;
        out
    }
}

impl Stack {
    /// `WSAEventSelect`: records `mask`'s events for `h` from now on
    /// (replacing an earlier selection; `NetEvents::NONE` stops recording).
    /// Conditions that already hold are recorded at once.
    ///
    /// ```
    /// use synfin::stack::{NetEvents, Stack, StackConfig};
    ///
    /// let mut stack = Stack::new(StackConfig::default(), 1);
    /// stack.add_address("198.18.0.1".parse().unwrap());
    /// let l = stack.listen("198.18.0.1:80".parse().unwrap(), 16).unwrap();
    /// stack.select_events(l, NetEvents::ACCEPT).unwrap();
    /// assert!(stack.take_network_events(l).unwrap().is_empty());
    /// ```
    pub fn select_events(&mut self, h: SocketHandle, mask: NetEvents) -> Result<(), Error> {
        let s = self.sockets.app_mut(h).ok_or(Error::InvalidHandle)?;
        s.net.mask = mask;
        s.net.recorded = s.net.recorded & mask;
        s.net.update(&s.kind);
        Ok(())
    }

    /// `WSAEnumNetworkEvents`: the events recorded for `h` since the last
    /// call, with their error codes; clears them.
    pub fn take_network_events(&mut self, h: SocketHandle) -> Result<NetworkEvents, Error> {
        let s = self.sockets.app_mut(h).ok_or(Error::InvalidHandle)?;
        s.net.update(&s.kind);
        Ok(s.net.take())
    }

    /// Re-enables `ev` on `h` after the call that consumes it, and records
    /// it again at once if its condition still holds.
    pub(crate) fn reenable_event(&mut self, h: SocketHandle, ev: NetEvents) {
        if let Some(s) = self.sockets.app_mut(h) {
            s.net.reenable(ev);
            s.net.update(&s.kind);
        }
    }
}

/// Records what a socket's condition warrants after a change (called from
/// the stack's one place that looks at a socket after every change).
pub(crate) fn update(s: &mut Socket) {
    if !s.orphaned {
        s.net.update(&s.kind);
    }
}

/// The stack's queue of application events ([`Stack::poll_event`]): a
/// first-in first-out queue of `(socket, event)` pairs kept in a `Vec` and
/// the index of its front. A `VecDeque`'s `push_back` is an out-of-line
/// call of some 26 instructions, and six events or so are raised per
/// connection lifecycle (issue 6); this push is a store and an increment
/// once the storage is there, and an event loop that drains the queue
/// after every step (every application does) empties it, which puts the
/// front back at the start.
///
/// Memory stays bounded by what is waiting, not by what went through: a
/// push that finds the storage full with at least half of it taken pairs
/// at the front moves the waiting ones down over them instead of growing
/// it (at most as many moves as pushes since the last: amortised O(1)).
pub(crate) type EventQueue = Fifo<(SocketHandle, super::Event)>;

/// A first-in first-out queue of small `Copy` items in a `Vec` and the
/// index of its front ([`EventQueue`]'s shape; usable for any queue that
/// its consumer drains now and then).
pub(crate) struct Fifo<T> {
    items: Vec<T>,
    /// Index of the front; `items[..front]` were taken.
    front: usize,
}

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo {
            items: Vec::new(),
            front: 0,
        }
    }
}

impl<T: Copy> Fifo<T> {
    /// Adds `item` at the back. Inline to a compare and the stores when
    /// there is room (nearly every push: the storage is kept across
    /// drains), which LLVM compiles without `Vec::push`'s grow path; the
    /// full storage's case is out of line, and the push saves no
    /// registers for it (callgrind: `push_event` 25 → 17 instructions,
    /// issue 6).
    #[inline]
    pub fn push_back(&mut self, item: T) {
        if self.items.len() < self.items.capacity() {
            self.items.push(item);
        } else {
            self.push_full(item);
        }
    }

    /// [`Fifo::push_back`] into full storage: the waiting items are moved
    /// down over the taken ones if at least half of it is taken, else it
    /// grows.
    #[cold]
    #[inline(never)]
    fn push_full(&mut self, item: T) {
        if self.front > 0 && 2 * self.front >= self.items.len() {
            self.compact();
        }
        self.items.push(item);
    }

    /// Takes the pair at the front.
    #[inline]
    pub fn pop_front(&mut self) -> Option<T> {
        let item = *self.items.get(self.front)?;
        self.front += 1;
        if self.front == self.items.len() {
            // Drained: the next push writes at the start again.
            self.items.clear();
            self.front = 0;
        }
        Some(item)
    }

    /// Drops the taken pairs at the front (the storage is full, at least
    /// half of it taken).
    fn compact(&mut self) {
        self.items.drain(..self.front);
        self.front = 0;
    }

    /// Items waiting.
    #[inline]
    pub fn len(&self) -> usize {
        self.items.len() - self.front
    }

    /// The item at the front, not taken.
    #[inline]
    pub fn front(&self) -> Option<&T> {
        self.items.get(self.front)
    }
}

#[cfg(test)]
mod queue_tests {
    use super::super::Event;
    use super::*;

    fn h(index: u32) -> SocketHandle {
        SocketHandle {
            index,
            generation: 0,
        }
    }

    /// Every event has a bit of its own in a socket's queued set (the
    /// discriminants are the bits): a shared or missing bit would let one
    /// event hide another.
    #[test]
    fn event_bits_are_distinct_single_bits() {
        let all = [
            Event::Connected,
            Event::Acceptable,
            Event::Readable,
            Event::Writable,
            Event::Closed,
        ];
        let mut seen = 0u8;
        for ev in all {
            let bit = event_bit(ev);
            assert_eq!(bit.count_ones(), 1, "{ev:?}");
            assert_eq!(seen & bit, 0, "{ev:?} shares a bit");
            seen |= bit;
        }
    }

    /// First in, first out across drains, compactions and growth, with
    /// the storage bounded by what waits, whatever went through.
    #[test]
    fn event_queue_is_fifo_and_bounded() {
        let mut q = EventQueue::default();
        let mut model = std::collections::VecDeque::new();
        let evs = [Event::Readable, Event::Writable, Event::Closed];
        let mut n = 0u32;
        for round in 0..2_000u32 {
            // Push a few, pop fewer or more: the queue is rarely drained.
            for _ in 0..(round % 4) {
                let item = (h(n), evs[n as usize % 3]);
                q.push_back(item);
                model.push_back(item);
                n += 1;
            }
            for _ in 0..(round % 5) {
                assert_eq!(q.pop_front(), model.pop_front());
            }
            assert_eq!(q.len(), model.len());
            assert!(q.items.capacity() <= 64, "{}", q.items.capacity());
        }
        while let Some(x) = model.pop_front() {
            assert_eq!(q.pop_front(), Some(x));
        }
        assert_eq!(q.pop_front(), None);
        assert_eq!((q.items.len(), q.front), (0, 0));
    }
}
