//! The sans-IO stack: sockets by handle, demultiplexing by 4-tuple then
//! listener, ephemeral ports, the TIME-WAIT table, one timer heap and one
//! transmit queue for all connections.
//!
//! Like the connection below it, the stack does no I/O: feed it packets with
//! [`Stack::handle_packet`], take packets from [`Stack::poll_transmit`], and
//! call [`Stack::handle_timeout`] at [`Stack::poll_timeout`].
//!
//! ```
//! use synfin::stack::{Stack, StackConfig};
//! use synfin::time::Instant;
//! let mut server = Stack::new(StackConfig::default(), 1);
//! server.add_address("198.18.0.2".parse().unwrap());
//! let l = server.listen("198.18.0.2:80".parse().unwrap(), 16).unwrap();
//! assert!(server.accept(l).is_err()); // nothing yet: WouldBlock
//! # let _ = Instant::ZERO;
//! ```

mod demux;
mod error;
mod events;
mod fast_rx;
mod isn;
mod linger;
mod listener;
mod memory;
mod message;
mod ops;
mod options;
mod orphans;
mod ports;
mod receive;
mod settle;
mod socket;
mod syn_ack_rx;
mod syn_cookie;
pub mod time_wait;
mod time_wait_ops;
mod timers;
mod transmit;

use std::collections::VecDeque;

use hashbrown::HashMap;
use std::net::{IpAddr, SocketAddr};

use rand::{Rng, SeedableRng};

pub use crate::wire::FourTuple;
pub use error::Error;
pub use events::{NetEvents, NetworkEvents};
pub use memory::MemoryUsage;
pub use ops::Shutdown;
pub use socket::SocketHandle;

use isn::Secret;
use receive::is_local_v4;
use settle::{note_state_change, queue_for_transmit, queue_owed, raise, settle_after_light, Touch};
use socket::SocketTable;
use time_wait::TimeWaitTable;
use timers::{reschedule, TimerHeap};

use crate::tcp::{State, TcpConfig};
use crate::time::Instant;
use crate::wire::{self, checksum, SeqNum, TcpFlags, TcpOptions, TcpRepr};

/// Stack-wide configuration.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// Defaults for every connection.
    pub tcp: TcpConfig,
    /// Ephemeral port range (RFC 6056 recommends the IANA range).
    pub ephemeral_ports: (u16, u16),
    /// Most TIME-WAIT records kept; at the cap the oldest is dropped early.
    pub max_time_wait: usize,
    /// Most stack-generated segments (RSTs, SYN-ACKs, TIME-WAIT ACKs) waiting
    /// to be sent; more are dropped and counted.
    pub max_control_queue: usize,
    /// Most challenge ACKs per second across the stack (RFC 5961 §7;
    /// Linux's `tcp_challenge_ack_limit`). Each second's budget is drawn at
    /// random between half and all of it, so an off-path attacker cannot
    /// count the ACKs to learn that a guess hit a window (CVE-2016-5696). 0
    /// sends none.
    pub challenge_ack_limit: u32,
    /// Answer SYNs with SYN cookies when a listener's SYN queue is full
    /// (RFC 4987 §3.6); off, such SYNs are dropped.
    pub syn_cookies: bool,
    /// Largest backlog `listen` accepts (Linux's `somaxconn`); it bounds
    /// both queues of every listener.
    pub max_backlog: usize,
    /// Largest message and disconnect data of message-mode connections
    /// (docs/message-mode.md), at most 16 MiB; a peer's larger record resets
    /// the connection.
    pub max_message_size: usize,
    /// Drop every segment with both SYN and FIN set, unanswered, before
    /// a listener or connection looks at it (FreeBSD's
    /// `net.inet.tcp.drop_synfin`; such a segment is otherwise processed as
    /// a SYN whose FIN is trimmed or queued, as RFC 9293 allows). A 4-tuple
    /// in TIME-WAIT still answers it like any SYN it does not reopen for
    /// (as FreeBSD, whose TIME-WAIT check comes first). Off by default.
    /// Counted in [`StackStats::malformed`].
    pub drop_syn_fin: bool,
    /// Most orphaned connections (closed by the application, still in
    /// FIN-WAIT-1, FIN-WAIT-2, CLOSING or LAST-ACK; Linux's
    /// `tcp_max_orphans`). A close that would exceed it resets that
    /// connection instead, counted in [`StackStats::orphans_reset`]
    /// (`stack/orphans.rs` says why the new one, not the oldest).
    pub max_orphans: usize,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            tcp: TcpConfig::default(),
            ephemeral_ports: (49152, 65535),
            max_time_wait: 262_144,
            max_control_queue: 4096,
            challenge_ack_limit: 1000,
            syn_cookies: true,
            max_backlog: 4096,
            max_message_size: crate::tcp::message::DEFAULT_MAX_MESSAGE_SIZE,
            drop_syn_fin: false,
            max_orphans: 16_384,
        }
    }
}

/// An application-visible event on a socket.
// Each discriminant is the event's bit in the socket's set of queued
// events (`events::event_bit`: a cast, not a match, at every raise and
// every `poll_event`, issue 6).
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[repr(u8)]
pub enum Event {
    /// A connect completed.
    Connected = 1,
    /// A listener has a connection to accept.
    Acceptable = 2,
    /// Data, end-of-stream or an error can be read.
    Readable = 4,
    /// Space opened in the send queue.
    Writable = 8,
    /// The connection closed (reached CLOSED or TIME-WAIT).
    Closed = 16,
}

/// A state transition, for ladder diagrams and tests.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Transition {
    /// When it happened.
    #[serde(skip)]
    pub at: Instant,
    /// Local endpoint.
    pub local: SocketAddr,
    /// Remote endpoint (none for a listener).
    pub remote: Option<SocketAddr>,
    /// State before.
    pub from: State,
    /// State after.
    pub to: State,
}

/// Counters of what the stack did with odd input.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct StackStats {
    /// Packets that failed to parse (truncated, malformed, bad checksum).
    pub malformed: u64,
    /// Packets for addresses that are not ours.
    pub not_for_us: u64,
    /// RSTs sent for segments that matched no socket.
    pub resets_sent: u64,
    /// SYNs or final ACKs dropped because a listener's queue was full.
    pub listen_overflows: u64,
    /// Control segments dropped because the control queue was full.
    pub control_dropped: u64,
    /// Challenge ACKs sent (RFC 5961).
    pub challenge_acks: u64,
    /// Challenge ACKs not sent because the stack-wide limit was reached.
    pub challenge_acks_limited: u64,
    /// SYN-ACKs sent with a SYN cookie (the SYN queue was full).
    pub syn_cookies_sent: u64,
    /// Connections created from a valid cookie in a final ACK.
    pub syn_cookies_accepted: u64,
    /// ACKs checked against cookies that did not hold one (answered by RST).
    pub syn_cookies_rejected: u64,
    /// Connections reset at close because the stack already held
    /// [`StackConfig::max_orphans`] orphans.
    pub orphans_reset: u64,
    /// TIME-WAIT records dropped before 2×MSL because the table held
    /// [`StackConfig::max_time_wait`] records (the oldest goes first).
    pub time_wait_evicted: u64,
}

/// A segment the stack sends on its own behalf (RST, SYN-ACK, TIME-WAIT ACK),
/// as [`Stack::push_control`] takes it.
#[derive(Clone, Debug)]
pub(crate) struct Control {
    local: SocketAddr,
    remote: SocketAddr,
    seq: SeqNum,
    ack: SeqNum,
    flags: TcpFlags,
    window: u16,
    options: TcpOptions,
    /// IP header fields: the socket's (a listener's SYN-ACK) or the
    /// stack's; a hop limit of 0 is the stack's.
    ip: crate::tcp::IpFields,
}

/// The longest control segment: an IPv6 header, a TCP header and 40 bytes
/// of options (a control segment has no payload).
const CONTROL_MAX: usize = 40 + 20 + 40;

/// A queued control segment, written as it goes on the wire when it was
/// queued: `poll_transmit` only copies it out. (The segment was decided —
/// its timestamps taken — at that moment anyway, and the stack's
/// SYN-ACKs, one per passive open, are written in one pass from the
/// handshake's fields with no intermediate description built, queued and
/// converted: issue 6.)
pub(crate) struct ControlPacket {
    len: u8,
    bytes: [u8; CONTROL_MAX],
}

/// A userspace TCP/IP stack, sans-IO.
pub struct Stack {
    config: StackConfig,
    addrs: Vec<IpAddr>,
    sockets: SocketTable,
    conns: demux::Demux,
    listeners: listener::ListenerTable,
    /// Bound, not listening sockets with their own IP header fields
    /// (`IP_TOS`, `IP_TTL`): the RST that answers a segment for their port
    /// carries them (options.rs). Checked when used; stale entries go then.
    bound_ip: HashMap<SocketAddr, SocketHandle>,
    time_wait: TimeWaitTable,
    timers: TimerHeap,
    tx_ready: events::Fifo<SocketHandle>,
    /// The header template of the connection last sent for (transmit.rs).
    tx_template: transmit::TxTemplate,
    control: VecDeque<ControlPacket>,
    events: events::EventQueue,
    secret: Secret,
    rng: rand::rngs::ChaCha8Rng,
    port_counter: u32,
    /// The last RFC 6056 port offset computed and its input (local address,
    /// remote address and port): a client connecting to the same server
    /// again and again needs the keyed hash once, not once per connection.
    port_memo: Option<(IpAddr, SocketAddr, u32)>,
    /// Connection blocks of retired sockets, reused by the next
    /// connections (a lifecycle allocates and frees two; see
    /// `Stack::conn_box`). At most [`SPARE_CONNS`]. Boxes, not values:
    /// the point is to keep the allocations.
    #[allow(clippy::vec_box)]
    spare_conns: Vec<Box<crate::tcp::Connection>>,
    /// [`ConnDefaults`](crate::tcp::conn::ConnDefaults) of `config.tcp`,
    /// worked out at the first connect after [`Stack::config_mut`].
    conn_defaults: Option<crate::tcp::conn::ConnDefaults>,
    stats: StackStats,
    transitions: Option<Vec<Transition>>,
    challenges: ChallengeBudget,
}

/// The stack-wide challenge-ACK budget of the current second (RFC 5961 §7).
#[derive(Default)]
struct ChallengeBudget {
    /// Start of the current one-second window.
    window: Option<Instant>,
    left: u32,
}

impl ChallengeBudget {
    /// Whether one more challenge ACK may go out at `now`.
    fn allow(&mut self, now: Instant, limit: u32, rng: &mut rand::rngs::ChaCha8Rng) -> bool {
        let expired = self
            .window
            .is_none_or(|w| now.saturating_duration_since(w) >= core::time::Duration::from_secs(1));
        if expired {
            self.window = Some(now);
            let half = limit / 2;
            self.left = half + rng.next_u32() % (limit - half + 1);
        }
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        true
    }

    /// After `conn` took a segment (the general path or the light one,
    /// stack/fast_rx.rs): the challenge ACK it asked for, if the budget
    /// allows one.
    #[inline]
    fn answer(
        &mut self,
        conn: &mut crate::tcp::Connection,
        now: Instant,
        limit: u32,
        rng: &mut rand::rngs::ChaCha8Rng,
        stats: &mut StackStats,
    ) {
        if conn.take_challenge() {
            if self.allow(now, limit, rng) {
                conn.send_challenge_ack();
                stats.challenge_acks += 1;
            } else {
                stats.challenge_acks_limited += 1;
            }
        }
    }
}

impl Stack {
    /// A stack with no addresses yet; every random choice (ISN secret,
    /// ephemeral ports) derives from `seed`.
    pub fn new(config: StackConfig, seed: u64) -> Stack {
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(seed);
        let secret = Secret::new([rng.next_u64(), rng.next_u64()]);
        let port_counter = rng.next_u32();
        // One seeded hasher for the IPv4 demultiplexing and TIME-WAIT
        // tables: a key's hash serves both (demux.rs).
        let hasher = hashbrown::DefaultHashBuilder::default();
        Stack {
            time_wait: TimeWaitTable::with_v4_hasher(config.max_time_wait, hasher),
            config,
            addrs: Vec::new(),
            sockets: SocketTable::default(),
            conns: demux::Demux::with_hasher(hasher),
            listeners: listener::ListenerTable::default(),
            bound_ip: HashMap::new(),
            timers: TimerHeap::default(),
            tx_ready: events::Fifo::default(),
            tx_template: transmit::TxTemplate::default(),
            control: VecDeque::new(),
            events: events::EventQueue::default(),
            secret,
            rng,
            port_counter,
            port_memo: None,
            spare_conns: Vec::new(),
            conn_defaults: None,
            stats: StackStats::default(),
            transitions: None,
            challenges: ChallengeBudget::default(),
        }
    }

    /// Adds a local address (IPv4 or IPv6).
    pub fn add_address(&mut self, addr: IpAddr) {
        if !self.addrs.contains(&addr) {
            self.addrs.push(addr);
        }
    }

    /// The stack's local addresses.
    pub fn addresses(&self) -> &[IpAddr] {
        &self.addrs
    }

    /// The configuration.
    pub fn config(&self) -> &StackConfig {
        &self.config
    }

    /// Mutable configuration; affects connections created afterwards.
    pub fn config_mut(&mut self) -> &mut StackConfig {
        // The caller may change the connection defaults.
        self.conn_defaults = None;
        &mut self.config
    }

    /// Counters.
    pub fn stats(&self) -> StackStats {
        StackStats {
            time_wait_evicted: self.time_wait.evicted(),
            ..self.stats
        }
    }

    /// Starts (or stops) recording state transitions.
    pub fn record_transitions(&mut self, on: bool) {
        self.transitions = on.then(Vec::new);
    }

    /// Takes the transitions recorded so far.
    pub fn take_transitions(&mut self) -> Vec<Transition> {
        self.transitions
            .as_mut()
            .map(core::mem::take)
            .unwrap_or_default()
    }

    /// Live sockets (listeners, connections, including orphans still
    /// closing), not counting TIME-WAIT records.
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// Connections in the demultiplexing table.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// TIME-WAIT records.
    pub fn time_wait_count(&self) -> usize {
        self.time_wait.len()
    }

    /// The TIME-WAIT table.
    pub fn time_wait_table(&self) -> &TimeWaitTable {
        &self.time_wait
    }

    /// Next application event, if any.
    // Inline: an event loop drains the queue after every step, and most
    // calls find it empty.
    #[inline]
    pub fn poll_event(&mut self) -> Option<(SocketHandle, Event)> {
        let (h, ev) = self.events.pop_front()?;
        if let Some(s) = self.sockets.get_mut(h) {
            s.queued &= !events::event_bit(ev);
        }
        Some((h, ev))
    }

    // ---- packets out ----

    /// Writes the next packet to send into `buf` and returns its length, or
    /// `None` when nothing is ready. `buf` should hold the link MTU.
    #[inline]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.poll_transmit_as::<false>(now, buf)
    }

    /// [`poll_transmit`](Self::poll_transmit) for a device that completes
    /// TCP checksums itself (transmit checksum offload, wire/offload.rs:
    /// a TUN device with offloads, told by the virtio-net header's
    /// `NEEDS_CSUM`): every TCP segment's checksum field holds only the
    /// pseudo-header sum. A bulk sender's full segments are copied out of
    /// the send queue without their payload being summed at all; the
    /// general path's segments (few in a bulk transfer, and small) are
    /// written whole and then made partial. Received segments are
    /// verified as ever.
    pub fn poll_transmit_offload(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.poll_transmit_as::<true>(now, buf)
    }

    /// Both polls: `PARTIAL` says whether checksums are left partial
    /// (a constant, so each caller gets its own code with no test of it).
    #[inline(always)]
    fn poll_transmit_as<const PARTIAL: bool>(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<usize> {
        // A bulk sender's next full segment (transmit.rs) when no control
        // segment goes first, else the general path — which is not called
        // at all when nothing is queued (the last call of every burst).
        // A control segment (every SYN-ACK) is copied out by a function of
        // its own: through `poll_transmit_general` it paid that large
        // function's register saves and frame. The control queue's storage
        // is given back where its last packet leaves (`transmit_control`),
        // not here: this empty answer is most of an event loop's polls (the
        // benchmark's lifecycle: 24 of them, both stacks, against 8
        // packets), and the capacity test cost each about five
        // instructions.
        let n = if self.control.is_empty() {
            let &h = self.tx_ready.front()?;
            if self.tx_template.is_for(h) {
                if let Some(n) = self.transmit_bulk::<PARTIAL>(now, h, buf) {
                    return Some(n);
                }
            }
            self.poll_transmit_general(now, buf)?
        } else {
            match self.transmit_control(buf) {
                Some(n) => n,
                None => self.poll_transmit_general(now, buf)?,
            }
        };
        if PARTIAL {
            if let Some(p) = buf.get_mut(..n) {
                wire::offload::make_partial(p);
            }
        }
        Some(n)
    }

    /// The next queued control segment copied into `buf`; `None` when
    /// none is left (one `buf` could not hold is dropped, with a warning).
    #[inline(never)]
    fn transmit_control(&mut self, buf: &mut [u8]) -> Option<usize> {
        // Copied out of the queue's slot, then dropped from it: popped
        // first, the 101-byte packet went through the stack frame.
        while let Some(c) = self.control.front() {
            let n = usize::from(c.len);
            let sent = match buf.get_mut(..n) {
                Some(out) => {
                    out.copy_from_slice(&c.bytes[..n]);
                    true
                }
                // Out of line: the warning's code filled hot cache lines.
                None => {
                    transmit::control_too_small();
                    false
                }
            };
            self.control.pop_front();
            if self.control.is_empty() {
                // The last one out: a burst's storage goes back at once.
                self.release_control();
            }
            if sent {
                return Some(n);
            }
        }
        None
    }

    /// `poll_transmit` past the transmit fast path and the control
    /// segments (`transmit_control`): the connections on the transmit list
    /// in turn.
    #[inline(never)]
    fn poll_transmit_general(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        debug_assert!(self.control.is_empty());
        while let Some(h) = self.tx_ready.pop_front() {
            // The segments of an ordinary connection (pure ACKs, FINs, new
            // data) straight in the header template's form (transmit.rs);
            // anything else through the general `poll_transmit` below.
            match self.transmit_plain(now, h, buf) {
                transmit::PlainTx::Sent(Some(n)) => return Some(n),
                transmit::PlainTx::Sent(None) | transmit::PlainTx::Done => continue,
                transmit::PlainTx::General => {}
            }
            // The general path, out of line (transmit.rs).
            if let Some(n) = self.transmit_general(now, h, buf) {
                return Some(n);
            }
        }
        None
    }

    /// The control queue is empty: a burst (a thousand SYN-ACKs) gives
    /// its memory back.
    #[inline]
    fn release_control(&mut self) {
        if self.control.capacity() > CONTROL_KEEP {
            self.control = VecDeque::new();
        }
    }

    /// A box for a new connection block: a retired connection's if one is
    /// kept, else a new one. Saves the allocator's malloc and free (some
    /// 150 instructions a pair) per connection. The caller fills it in
    /// place (`Connection::open_active` / `open_passive`), so the block is
    /// neither built elsewhere and copied in nor the old one dropped whole.
    #[inline]
    pub(crate) fn conn_box(&mut self) -> Box<crate::tcp::Connection> {
        match self.spare_conns.pop() {
            Some(b) => b,
            None => new_conn_box(),
        }
    }

    /// Keeps a retired connection's box for [`Stack::conn_box`] once it
    /// holds nothing else (its loss state and cold settings given back; a
    /// queue still holding data, or an IPv6 address pair, and the box is
    /// freed instead): a kept box is exactly one connection block.
    fn recycle_conn(&mut self, mut b: Box<crate::tcp::Connection>) {
        if self.spare_conns.len() >= SPARE_CONNS {
            return;
        }
        if b.release_heap() {
            self.spare_conns.push(b);
        }
    }

    pub(crate) fn record(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: Option<SocketAddr>,
        from: State,
        to: State,
    ) {
        if let Some(t) = &mut self.transitions {
            t.push(Transition {
                at: now,
                local,
                remote,
                from,
                to,
            });
        }
    }
}

/// A fresh connection block (no spare one kept): out of line, the
/// steady state reuses retired blocks.
#[cold]
#[inline(never)]
fn new_conn_box() -> Box<crate::tcp::Connection> {
    Box::new(crate::tcp::Connection::vacant())
}

/// Writes a control segment (no payload) into `buf`: over IPv4 with the
/// one-pass writer (wire/control.rs, the same bytes), else with the general
/// emitter. `None` (logged) if it does not fit.
pub(crate) fn emit_control(
    src: IpAddr,
    dst: IpAddr,
    hop: u8,
    dscp: u8,
    repr: &TcpRepr<'_>,
    buf: &mut [u8],
) -> Option<usize> {
    if let (IpAddr::V4(s), IpAddr::V4(d)) = (src, dst) {
        if let Some(n) = wire::control::emit_v4(s, d, hop, dscp, repr, buf) {
            return Some(n);
        }
    }
    wire::emit_tcp_packet_dscp(src, dst, hop, dscp, repr, buf)
        .map_err(|e| tracing::warn!(error = %e, "could not emit control segment"))
        .ok()
}

/// Retired connection blocks kept for reuse ([`Stack::conn_box`]).
const SPARE_CONNS: usize = 8;

/// Control segments whose queue capacity an empty control queue keeps.
const CONTROL_KEEP: usize = 16;

fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

/// Writes a connection's segment as an IP packet: the payload is copied from
/// the send queue straight into place (one copy), then the headers are
/// written and the checksum computed over the result.
fn emit_segment(
    conn: &crate::tcp::Connection,
    seg: &crate::tcp::Segment,
    buf: &mut [u8],
) -> Option<usize> {
    let ip_fields = conn.ip_fields();
    // Rebuilt from the compact tuple once per packet, not once per field.
    let (local, remote) = (conn.local(), conn.remote());
    let (src, dst) = (local.ip(), remote.ip());
    let repr = seg.header_repr(local.port(), remote.port());
    let ip_len = if src.is_ipv4() {
        wire::ip::IPV4_HEADER_LEN
    } else {
        wire::ip::IPV6_HEADER_LEN
    };
    let tcp_hdr = repr.header_len();
    let total = ip_len + tcp_hdr + seg.payload_len;
    if buf.len() < total {
        return None;
    }
    let (a, b) = conn.payload(seg);
    let start = ip_len + tcp_hdr;
    buf[start..start + a.len()].copy_from_slice(a);
    buf[start + a.len()..start + a.len() + b.len()].copy_from_slice(b);
    let tcp_len = tcp_hdr + seg.payload_len;
    let ip = wire::IpRepr {
        src,
        dst,
        protocol: wire::PROTO_TCP,
        hop_limit: ip_fields.hop_limit,
        payload_len: tcp_len,
        // RFC 3168 §6.1.2: new data of an ECN connection goes ECT(0).
        ecn: if seg.ect {
            wire::Ecn::Ect0
        } else {
            wire::Ecn::NotEct
        },
        dscp: ip_fields.dscp,
    };
    ip.emit(&mut buf[..ip_len]).ok()?;
    repr.emit_header(&mut buf[ip_len..ip_len + tcp_hdr]).ok()?;
    // One checksum over header and payload together.
    let tcp = &mut buf[ip_len..total];
    let sum = checksum::sum(
        tcp,
        checksum::pseudo_header(&src, &dst, wire::PROTO_TCP, tcp_len as u32),
    );
    let c = !checksum::fold(sum);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    Some(total)
}

impl crate::links::Host for Stack {
    fn receive(&mut self, now: Instant, packet: &[u8]) {
        self.handle_packet(now, packet);
    }
    fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.poll_transmit(now, buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Stack::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Stack::handle_timeout(self, now)
    }
}
