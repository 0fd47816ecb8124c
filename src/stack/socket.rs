//! Socket handles and the table that owns every socket.

use std::borrow::Cow;
use std::net::SocketAddr;

use super::listener::Listener;
use crate::tcp::{Connection, State, TcpConfig};
use crate::time::Instant;

/// Names a socket in a [`super::Stack`]. Carries a generation so a handle
/// to a closed socket never reaches the socket that reuses its slot.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, serde::Serialize)]
pub struct SocketHandle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl core::fmt::Display for SocketHandle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "#{}", self.index)
    }
}

/// A socket that is neither listening nor connected yet.
#[derive(Clone, Debug, Default)]
pub(crate) struct Unbound {
    pub local: Option<SocketAddr>,
    /// [`Stack::set_ecn`](super::Stack::set_ecn), kept here rather than in
    /// `SocketOptions`, which every connection's slot pays for.
    pub ecn: Option<crate::tcp::EcnMode>,
    /// `IP_TOS`, `IP_TTL`, `TCP_NOOPT`, `TCP_KEEPINIT`, `TCP_USER_TIMEOUT`
    /// for the connection or listener this becomes.
    pub header: HeaderOptions,
}

/// A socket's IP header fields and SYN-shaping switches before it connects
/// or while it listens: `IP_TOS` / `IPV6_TCLASS`, `IP_TTL` /
/// `IPV6_UNICAST_HOPS`, `TCP_NOOPT`, `TCP_KEEPINIT`, and `TCP_USER_TIMEOUT`
/// (not a header field, but set before connecting alike). Unset ones inherit the
/// stack's [`TcpConfig`]. They live in the boxed unbound and listener
/// states, not in [`SocketOptions`], so the slot of every connection does
/// not pay for them; a connection keeps its own copy.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct HeaderOptions {
    pub tos: Option<u8>,
    pub hop_limit: Option<u8>,
    pub no_options: Option<bool>,
    /// `Some(None)`: no bound.
    pub keepinit: Option<Option<core::time::Duration>>,
    /// `TCP_USER_TIMEOUT`; `Some(None)`: off.
    pub user_timeout: Option<Option<core::time::Duration>>,
}

impl HeaderOptions {
    /// Nothing set (`== HeaderOptions::default()`, asked at every connect
    /// and accept): the discriminants alone, not the durations compared.
    /// The pattern names every field, so one added later must be added
    /// here too.
    #[inline]
    pub fn is_default(&self) -> bool {
        let HeaderOptions {
            tos,
            hop_limit,
            no_options,
            keepinit,
            user_timeout,
        } = self;
        tos.is_none()
            && hop_limit.is_none()
            && no_options.is_none()
            && keepinit.is_none()
            && user_timeout.is_none()
    }

    /// `cfg` with these overrides applied.
    pub fn apply(&self, cfg: &mut TcpConfig) {
        if let Some(t) = self.tos {
            cfg.tos = t;
        }
        if let Some(h) = self.hop_limit {
            cfg.hop_limit = h;
        }
        if let Some(n) = self.no_options {
            cfg.no_options = n;
        }
        if let Some(k) = self.keepinit {
            cfg.keepinit = k;
        }
        if let Some(u) = self.user_timeout {
            cfg.user_timeout = u;
        }
    }
}

/// A connection socket.
pub(crate) struct ConnSocket {
    pub conn: Box<Connection>,
    /// In its listener's accept queue, not yet accepted (the application
    /// has no handle for it). A flag, not the listener's handle: nothing
    /// needs to find the listener from here, and the slot stays small.
    pub in_accept_queue: bool,
    /// Last state reported, to record transitions.
    pub last_state: State,
    /// Queued in the stack's transmit list.
    pub tx_queued: bool,
    /// Message-mode framing state, allocated on the first touch of a
    /// connection that negotiated message mode (`None` for byte streams, so
    /// they pay one pointer).
    pub message: Option<Box<super::message::Framing>>,
}

impl ConnSocket {
    /// The socket of a connection just opened (not in an accept queue,
    /// nothing reported yet).
    pub fn new(conn: Box<Connection>) -> ConnSocket {
        ConnSocket {
            conn,
            in_accept_queue: false,
            last_state: State::Closed,
            tx_queued: false,
            message: None,
        }
    }

    /// Whether nothing the full `touch` handles has happened since the last
    /// one: the state it reported, no events pending, not done, a byte
    /// stream. Then a send or a read needs only the transmit list and the
    /// network events (`queues_touched` in ops.rs), a plain data segment
    /// out those and the timer (`touch_sent`).
    #[inline]
    pub fn unchanged_since_touch(&self) -> bool {
        self.quiet_since_touch() && !self.conn.is_done()
    }

    /// [`ConnSocket::unchanged_since_touch`] for a finished connection:
    /// the touch that saw it finish reported its state and took its
    /// events, and nothing happened since. Once it has nothing left to
    /// send, all the full `touch` would do is retire it.
    #[inline]
    pub fn finished_since_touch(&self) -> bool {
        self.quiet_since_touch() && self.conn.is_done()
    }

    /// The part the two share: the state the last touch reported, no
    /// events pending, a byte stream.
    #[inline(always)]
    fn quiet_since_touch(&self) -> bool {
        self.last_state == self.conn.state()
            && !self.conn.has_events()
            && !self.conn.negotiated().message_mode
    }
}

pub(crate) enum SocketKind {
    // Boxed, like listeners: only connections should size a slot.
    Unbound(Box<Unbound>),
    // Boxed: listeners are few, and an inline one would size every slot.
    Listener(Box<Listener>),
    Conn(ConnSocket),
}

/// An `Option<u32>` in four bytes (values up to `u32::MAX - 1`): these ride
/// in every socket slot, and an `Option<u32>` takes eight.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct OptU32(Option<core::num::NonZeroU32>);

impl OptU32 {
    /// `None` for `None`; a value of `u32::MAX` is an error.
    pub fn new(v: Option<u32>) -> Option<OptU32> {
        match v {
            None => Some(OptU32(None)),
            Some(v) => core::num::NonZeroU32::new(v.checked_add(1)?).map(|n| OptU32(Some(n))),
        }
    }
    pub fn get(self) -> Option<u32> {
        self.0.map(|n| n.get() - 1)
    }
    pub fn is_some(self) -> bool {
        self.0.is_some()
    }
}

/// Options a socket carries whatever its kind.
#[derive(Clone, Debug, Default)]
pub(crate) struct SocketOptions {
    pub reuse_address: bool,
    pub nodelay: Option<bool>,
    // u32, not usize: these ride in every socket slot.
    pub send_buffer: OptU32,
    pub recv_buffer: OptU32,
    pub keepalive: Option<bool>,
    /// `SO_LINGER` in milliseconds.
    pub linger_ms: OptU32,
    /// Listen or connect in message mode (docs/message-mode.md).
    pub message_mode: bool,
}

impl SocketOptions {
    /// Whether any of these changes the connection configuration
    /// ([`SocketOptions::effective`] would differ from its base).
    pub fn overrides_config(&self) -> bool {
        self.nodelay.is_some()
            || self.send_buffer.is_some()
            || self.recv_buffer.is_some()
            || self.keepalive.is_some()
    }

    /// The configuration a connection opened or accepted on this socket
    /// starts with: `base` with these options, the socket's ECN mode and
    /// its IP header options — `base` itself when none of them changes
    /// anything (most sockets), so a connection costs no copy of it.
    pub fn connection_config<'a>(
        &self,
        base: &'a TcpConfig,
        ecn: Option<crate::tcp::EcnMode>,
        header: &HeaderOptions,
    ) -> Cow<'a, TcpConfig> {
        if !self.overrides_config() && ecn.is_none() && header.is_default() {
            return Cow::Borrowed(base);
        }
        let mut cfg = self.effective(base);
        if let Some(e) = ecn {
            cfg.ecn = e;
        }
        header.apply(&mut cfg);
        Cow::Owned(cfg)
    }

    /// The stack-wide connection defaults with this socket's overrides.
    pub fn effective(&self, base: &TcpConfig) -> TcpConfig {
        let mut cfg = base.clone();
        if let Some(nd) = self.nodelay {
            cfg.nodelay = nd;
        }
        // An explicit size also turns auto-tuning off, as in Linux.
        if let Some(b) = self.send_buffer.get() {
            cfg.send_buffer = b as usize;
            cfg.send_buffer_max = b as usize;
        }
        if let Some(b) = self.recv_buffer.get() {
            cfg.recv_buffer = b as usize;
            cfg.recv_buffer_max = b as usize;
        }
        if let Some(k) = self.keepalive {
            cfg.keepalive = k;
        }
        cfg
    }
}

pub(crate) struct Socket {
    pub kind: SocketKind,
    pub options: SocketOptions,
    /// The deadline of its entry on the stack's timer heap (`TimerHeap`),
    /// if it has one.
    pub timer_at: Option<Instant>,
    /// The application closed its handle; the stack frees the slot once the
    /// connection is done.
    pub orphaned: bool,
    // A lingering close's deadline (`SO_LINGER`) is kept in the table's
    // `lingering` map, not here: few sockets ever linger, and every slot
    // would pay 8 bytes for it.
    /// Network events selected and recorded (Winsock's `FD_*`).
    pub net: super::events::NetState,
    /// Application events of this socket waiting in the stack's event
    /// queue, one bit per kind (events.rs `event_bit`): an event already
    /// waiting is not queued again, at the cost of a bit test rather than
    /// a search of the queue.
    pub queued: u8,
}

struct Slot {
    generation: u32,
    socket: Option<Socket>,
}

/// A message-mode connection's framing state, freed out of line: nearly
/// every retiring connection is a byte stream with none.
#[cold]
#[inline(never)]
fn drop_framing(m: Box<super::message::Framing>) {
    drop(m);
}

/// The socket table: a slab indexed by handle.
#[derive(Default)]
pub(crate) struct SocketTable {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    /// Connection sockets the application closed whose connection is still
    /// finishing (`Socket::orphaned`); kept here so removal keeps it exact.
    orphans: usize,
    /// Deadlines of lingering closes under way (`SO_LINGER`), by slot
    /// index; removing a socket removes its entry.
    lingering: hashbrown::HashMap<u32, Instant>,
}

impl SocketTable {
    /// Puts `socket` in a free slot (the last one freed) or a new one.
    // Always inline: its callers (a connect, a passive open's final ACK)
    // build the 56-byte socket from parts, which are then written straight
    // into the slot instead of onto the stack and copied by a call (38
    // instructions a call before, about 11 after; −41 a lifecycle,
    // callgrind, issue 6). A plain `#[inline]` was not taken.
    #[inline(always)]
    pub fn insert(&mut self, socket: Socket) -> SocketHandle {
        self.live += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.socket = Some(socket);
            SocketHandle {
                index,
                generation: slot.generation,
            }
        } else {
            let index = self.slots.len() as u32;
            self.slots.push(Slot {
                generation: 0,
                socket: Some(socket),
            });
            SocketHandle {
                index,
                generation: 0,
            }
        }
    }

    #[inline]
    pub fn get(&self, h: SocketHandle) -> Option<&Socket> {
        let slot = self.slots.get(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.socket.as_ref()
    }

    #[inline]
    pub fn get_mut(&mut self, h: SocketHandle) -> Option<&mut Socket> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.socket.as_mut()
    }

    /// The socket as the application sees it: a closed (orphaned) socket
    /// is gone from its view even while its connection finishes in the
    /// background, as a closed file descriptor is.
    #[inline]
    pub fn app(&self, h: SocketHandle) -> Option<&Socket> {
        self.get(h).filter(|s| !s.orphaned)
    }

    /// Mutable [`SocketTable::app`].
    #[inline]
    pub fn app_mut(&mut self, h: SocketHandle) -> Option<&mut Socket> {
        self.get_mut(h).filter(|s| !s.orphaned)
    }

    /// [`SocketTable::app_mut`] and the table's orphan count, for a
    /// caller that orphans the socket in place (`close`: one look-up for
    /// the call); it must set `orphaned` and add one to the count
    /// together, as [`SocketTable::orphan`] does.
    #[inline]
    pub fn app_mut_and_orphans(&mut self, h: SocketHandle) -> Option<(&mut Socket, &mut usize)> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        let s = slot.socket.as_mut().filter(|s| !s.orphaned)?;
        Some((s, &mut self.orphans))
    }

    pub fn remove(&mut self, h: SocketHandle) -> Option<Socket> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation || slot.socket.is_none() {
            return None;
        }
        let s = slot.socket.take();
        slot.generation = slot.generation.wrapping_add(1);
        self.note_freed(h.index, s.as_ref().is_some_and(|s| s.orphaned));
        s
    }

    /// The table's side of a removal, once the socket is out of slot
    /// `index` and the slot's generation bumped: the slot goes on the free
    /// list, its lingering deadline (if any) and its counts go.
    #[inline(always)]
    fn note_freed(&mut self, index: u32, orphaned: bool) {
        if !self.lingering.is_empty() {
            self.lingering.remove(&index);
        }
        self.free.push(index);
        self.live -= 1;
        if orphaned {
            self.orphans -= 1;
        }
    }

    /// [`SocketTable::remove`] for a connection's socket, giving back only
    /// its block: the rest of the socket is dropped in its slot instead of
    /// the whole socket being moved out through the caller (a retiring
    /// orphan's, once per connection). `None`, with nothing removed, if
    /// `h` names no connection. Always inline: its one caller is
    /// `Stack::retire_orphan` (twice a lifecycle), which spares the call's
    /// register saves.
    #[inline(always)]
    pub fn remove_conn(&mut self, h: SocketHandle) -> Option<Box<Connection>> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        let (conn, message, orphaned) = match slot.socket.take() {
            Some(Socket {
                kind: SocketKind::Conn(c),
                orphaned,
                ..
            }) => (c.conn, c.message, orphaned),
            other => {
                slot.socket = other;
                return None;
            }
        };
        slot.generation = slot.generation.wrapping_add(1);
        self.note_freed(h.index, orphaned);
        if let Some(m) = message {
            drop_framing(m);
        }
        Some(conn)
    }

    /// Marks `h` closed by the application (its slot is freed once the
    /// connection is done). Returns whether it was not already.
    pub fn orphan(&mut self, h: SocketHandle) -> bool {
        match self.get_mut(h) {
            Some(s) if !s.orphaned => {
                s.orphaned = true;
                self.orphans += 1;
                true
            }
            _ => false,
        }
    }

    /// Whether no lingering close is under way on any socket (nearly
    /// always): then no socket's [`SocketTable::linger_until`] need be
    /// asked.
    #[inline]
    pub fn none_lingering(&self) -> bool {
        self.lingering.is_empty()
    }

    /// The deadline of `h`'s lingering close, if one is under way.
    #[inline]
    pub fn linger_until(&self, h: SocketHandle) -> Option<Instant> {
        if self.lingering.is_empty() {
            return None;
        }
        self.get(h)?;
        self.lingering.get(&h.index).copied()
    }

    /// Starts (`Some`) or ends (`None`) `h`'s lingering close.
    pub fn set_linger_until(&mut self, h: SocketHandle, until: Option<Instant>) {
        if self.get(h).is_none() {
            return;
        }
        match until {
            Some(t) => {
                self.lingering.insert(h.index, t);
            }
            None => {
                self.lingering.remove(&h.index);
            }
        }
    }

    /// Sockets marked by [`SocketTable::orphan`] and not yet removed.
    pub fn orphans(&self) -> usize {
        self.orphans
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn handles(&self) -> impl Iterator<Item = SocketHandle> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.socket.is_some())
            .map(|(i, s)| SocketHandle {
                index: i as u32,
                generation: s.generation,
            })
    }

    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * core::mem::size_of::<Slot>()
            + self.free.capacity() * 4
            + super::memory::hash_table_bytes(
                self.lingering.capacity(),
                core::mem::size_of::<(u32, Instant)>(),
            )
    }
}
#[cfg(test)]
mod tests {
    /// Every socket slot is paid for by every idle connection (the issue's
    /// ≤ 512 B budget); growing it should be a decision, not an accident.
    /// 72 → 80: the message-mode framing pointer (issue 4), one `None` for
    /// a byte stream, chosen over a field in the connection block so the
    /// TCP state machine stays unaware of framing. 80 → 64 (issue 6): the
    /// accept-queue listener handle became a flag, the linger deadline moved
    /// to a side map.
    #[test]
    fn slot_stays_small() {
        assert!(core::mem::size_of::<super::Slot>() <= 64);
        assert!(core::mem::size_of::<super::SocketOptions>() <= 16);
    }

    /// `overrides_config` is what lets a connect skip copying the stack's
    /// configuration: it must hold for every option `effective` applies.
    #[test]
    fn overrides_config_matches_effective() {
        use super::{OptU32, SocketOptions};
        let base = crate::tcp::TcpConfig::default();
        let none = SocketOptions::default();
        assert!(!none.overrides_config());
        assert_eq!(none.effective(&base), base);
        let each = [
            SocketOptions {
                nodelay: Some(!base.nodelay),
                ..Default::default()
            },
            SocketOptions {
                keepalive: Some(!base.keepalive),
                ..Default::default()
            },
            SocketOptions {
                send_buffer: OptU32::new(Some(1000)).unwrap(),
                ..Default::default()
            },
            SocketOptions {
                recv_buffer: OptU32::new(Some(1000)).unwrap(),
                ..Default::default()
            },
        ];
        let header = super::HeaderOptions::default();
        assert!(matches!(
            none.connection_config(&base, None, &header),
            std::borrow::Cow::Borrowed(_)
        ));
        for o in each {
            assert!(o.overrides_config(), "{o:?}");
            assert_ne!(o.effective(&base), base, "{o:?}");
            assert_eq!(
                *o.connection_config(&base, None, &header),
                o.effective(&base)
            );
        }
        // The ECN mode and the header options tailor it too.
        let ecn = none.connection_config(&base, Some(crate::tcp::EcnMode::Off), &header);
        assert_eq!(ecn.ecn, crate::tcp::EcnMode::Off);
        let ttl = super::HeaderOptions {
            hop_limit: Some(7),
            ..Default::default()
        };
        assert_eq!(none.connection_config(&base, None, &ttl).hop_limit, 7);
    }

    #[test]
    fn opt_u32_round_trips() {
        use super::OptU32;
        for v in [None, Some(0), Some(1), Some(u32::MAX - 1)] {
            assert_eq!(OptU32::new(v).unwrap().get(), v);
        }
        assert_eq!(OptU32::new(Some(u32::MAX)), None);
    }
}
