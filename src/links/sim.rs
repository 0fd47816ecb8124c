//! The deterministic simulated network: hosts, directed links, and a
//! discrete-event loop under a virtual clock.
//!
//! Determinism rests on three things: all randomness comes from one
//! `ChaCha8Rng` seeded by the caller; events are ordered by
//! `(time, insertion counter)`, so ties break in the order they were
//! scheduled; and every collection that is iterated is ordered (`Vec`,
//! `BTreeMap`).

use core::cmp::{Ordering, Reverse};
use core::time::Duration;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::io;
use std::net::IpAddr;
use std::path::Path;

use rand::rngs::ChaCha8Rng;
use rand::SeedableRng;

use super::model::{DropReason, Fault, LinkModel, Plan, QueueState};
use super::pcap::PcapCapture;
pub use super::Host;
use crate::time::Instant;

/// Most packets taken from one host in one drain. A correct host runs dry
/// long before; the bound keeps a buggy one from hanging the simulation.
/// Anything left is drained the next time the host is touched.
const MAX_DRAIN: usize = 1_000_000;

/// Largest transmit buffer handed to a host: an IP packet's length field is
/// 16 bits.
const MAX_BUF: usize = 65535;

/// Names a host within one [`Network`]; returned by [`Network::add_host`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct HostId(pub usize);

/// What happened to one packet (or one extra copy of it).
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum PacketFate {
    /// Delivered intact.
    Delivered,
    /// Lost on the link.
    Lost,
    /// Delivered with one bit flipped.
    Corrupted,
    /// The extra copy of a duplicated packet (the original has its own
    /// record).
    Duplicated,
    /// Never put on the wire: no host owns the destination, no link to it,
    /// larger than the MTU, queue full, or link down.
    Dropped,
}

/// One entry of the packet trace (see [`Network::enable_trace`]).
///
/// A duplicated packet produces two records: the original's and one with
/// [`PacketFate::Duplicated`] for the copy.
#[derive(Clone, Debug)]
pub struct TraceRecord {
    /// When the host transmitted it.
    pub sent_at: Instant,
    /// When it reaches the receiver, if it does.
    pub arrives_at: Option<Instant>,
    /// The sender.
    pub from: HostId,
    /// The receiver, if the destination address belongs to a host.
    pub to: Option<HostId>,
    /// The packet as the receiver gets it (so a corrupted packet shows the
    /// flipped bit); as sent for packets that are not delivered.
    pub bytes: Vec<u8>,
    /// What happened to it.
    pub fate: PacketFate,
}

/// Packet counters of a [`Network`], since its creation.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct NetStats {
    /// Packets hosts transmitted.
    pub sent: u64,
    /// Packets handed to a host's `receive`, duplicates and corrupted ones
    /// included (counted on arrival, so packets in flight are not yet here).
    pub delivered: u64,
    /// Packets lost on a link.
    pub lost: u64,
    /// Extra copies created by duplication.
    pub duplicated: u64,
    /// Packets that had a bit flipped.
    pub corrupted: u64,
    /// Packets held back to be reordered.
    pub reordered: u64,
    /// Packets never put on the wire; the sum of the `dropped_*` counters.
    pub dropped: u64,
    /// Dropped: unparsable IP header, no host owns the destination, no link
    /// from the sender to that host, or a bad length from `transmit`.
    pub dropped_no_route: u64,
    /// Dropped: larger than the link MTU.
    pub dropped_mtu: u64,
    /// Dropped: the link's FIFO was full.
    pub dropped_queue: u64,
    /// Dropped: the link was down.
    pub dropped_link_down: u64,
    /// Dropped: an AQM signalled congestion on a packet that is not
    /// ECN-capable ([`LinkModel::mark`]).
    pub dropped_aqm: u64,
    /// ECN-capable packets an AQM marked CE instead of dropping them.
    pub ce_marked: u64,
}

struct HostSlot<H> {
    host: H,
    addrs: Vec<IpAddr>,
    /// The instant a live timer event is scheduled for, if any.
    timer: Option<Instant>,
    /// Bumped whenever `timer` changes; a timer event carrying an older
    /// generation is stale and ignored, so a host whose deadline moved later
    /// is never woken early.
    timer_gen: u64,
    /// Set by `host_mut`: the host may have new packets or a new deadline.
    dirty: bool,
}

struct Link {
    model: LinkModel,
    queue: QueueState,
    script: VecDeque<Fault>,
}

struct Capture {
    /// `None` captures every link; `Some((a, b))` only traffic between a and b.
    between: Option<(HostId, HostId)>,
    pcap: PcapCapture,
}

struct Event {
    at: Instant,
    seq: u64,
    kind: EventKind,
}

enum EventKind {
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

/// A deterministic simulated IP network.
///
/// Hosts own addresses; a packet goes to the host owning its destination
/// address, over the directed link from sender to receiver, which applies its
/// [`LinkModel`]. Time is virtual and only moves when the event loop
/// ([`step`](Self::step), [`run_until`](Self::run_until), ...) processes an
/// event or reaches a deadline.
///
/// **Hosts changed from outside.** After you change a host through
/// [`host_mut`](Self::host_mut) (say, to open a connection), the network
/// notices on the next `step`/`run_*` call: each of those first drains every
/// host's `transmit` and re-reads every host's `poll_timeout`, at the current
/// time. The same happens for hosts touched inside a `run_until_cond`
/// condition.
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use synfin::links::{Host, LinkModel, Network};
/// use synfin::time::Instant;
///
/// /// Sends one 20-byte IPv4 header to 10.0.0.2, counts what it receives.
/// struct Pinger { pending: bool, got: usize }
/// impl Host for Pinger {
///     fn receive(&mut self, _now: Instant, _packet: &[u8]) { self.got += 1; }
///     fn transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
///         if !std::mem::take(&mut self.pending) { return None; }
///         buf[..20].fill(0);
///         buf[0] = 0x45;
///         buf[16..20].copy_from_slice(&[10, 0, 0, 2]);
///         Some(20)
///     }
///     fn poll_timeout(&self) -> Option<Instant> { None }
///     fn handle_timeout(&mut self, _now: Instant) {}
/// }
///
/// let mut net = Network::new(7);
/// let a = net.add_host(&[IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))], Pinger { pending: false, got: 0 });
/// let b = net.add_host(&[IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))], Pinger { pending: false, got: 0 });
/// net.link(a, b, LinkModel::new());
/// net.host_mut(a).pending = true;
/// while net.step() {}
/// assert_eq!(net.host(b).got, 1);
/// assert_eq!(net.now(), Instant::from_millis(1));
/// ```
pub struct Network<H: Host> {
    now: Instant,
    rng: ChaCha8Rng,
    hosts: Vec<HostSlot<H>>,
    routes: BTreeMap<IpAddr, HostId>,
    links: BTreeMap<(HostId, HostId), Link>,
    events: BinaryHeap<Reverse<Event>>,
    next_seq: u64,
    trace: Option<Vec<TraceRecord>>,
    captures: Vec<Capture>,
    stats: NetStats,
    buf: Vec<u8>,
}

impl<H: Host> core::fmt::Debug for Network<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Network")
            .field("now", &self.now)
            .field("hosts", &self.hosts.len())
            .field("links", &self.links.len())
            .field("pending_events", &self.events.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<H: Host> Network<H> {
    /// An empty network at time zero. Every random choice comes from a
    /// `ChaCha8Rng` seeded with `seed`: the same seed, hosts and calls give
    /// an identical run.
    pub fn new(seed: u64) -> Self {
        Network {
            now: Instant::ZERO,
            rng: ChaCha8Rng::seed_from_u64(seed),
            hosts: Vec::new(),
            routes: BTreeMap::new(),
            links: BTreeMap::new(),
            events: BinaryHeap::new(),
            next_seq: 0,
            trace: None,
            captures: Vec::new(),
            stats: NetStats::default(),
            buf: Vec::new(),
        }
    }

    /// Adds a host; packets whose destination is one of `addrs` go to it.
    ///
    /// An address already owned by another host moves to this one.
    pub fn add_host(&mut self, addrs: &[IpAddr], host: H) -> HostId {
        let id = HostId(self.hosts.len());
        for &addr in addrs {
            if let Some(old) = self.routes.insert(addr, id) {
                tracing::debug!(%addr, ?old, new = ?id, "address moved to another host");
            }
        }
        self.hosts.push(HostSlot {
            host,
            addrs: addrs.to_vec(),
            timer: None,
            timer_gen: 0,
            dirty: true,
        });
        id
    }

    /// The addresses `id` was added with.
    pub fn addrs(&self, id: HostId) -> &[IpAddr] {
        self.hosts.get(id.0).map_or(&[], |s| &s.addrs)
    }

    /// Connects `a` and `b` in both directions with `model`, replacing any
    /// existing link (and its queue and script) between them.
    pub fn link(&mut self, a: HostId, b: HostId, model: LinkModel) {
        self.link_directed(a, b, model.clone());
        self.link_directed(b, a, model);
    }

    /// Connects `from` to `to` in that direction only, replacing any existing
    /// link (and its queue and script) in that direction.
    pub fn link_directed(&mut self, from: HostId, to: HostId, model: LinkModel) {
        let link = Link {
            model,
            queue: QueueState::default(),
            script: VecDeque::new(),
        };
        self.links.insert((from, to), link);
    }

    /// The model of the link from `from` to `to`, to change it mid-run (heal
    /// a partition, raise the loss rate, ...). Packets already in flight are
    /// unaffected.
    pub fn model_mut(&mut self, from: HostId, to: HostId) -> Option<&mut LinkModel> {
        self.links.get_mut(&(from, to)).map(|l| &mut l.model)
    }

    /// The model of the link from `from` to `to`.
    pub fn model(&self, from: HostId, to: HostId) -> Option<&LinkModel> {
        self.links.get(&(from, to)).map(|l| &l.model)
    }

    /// Forces the fates of the next packets put on the link from `from` to
    /// `to`, one per packet in order, instead of drawing them at random;
    /// after the script runs out the model's probabilities apply again.
    /// Packets dropped before the link (MTU, queue, link down) do not consume
    /// an entry. Returns `false` if there is no such link.
    ///
    /// `script(a, b, [Fault::Pass, Fault::Drop])` loses exactly the second
    /// packet from `a` to `b`.
    pub fn script(
        &mut self,
        from: HostId,
        to: HostId,
        faults: impl IntoIterator<Item = Fault>,
    ) -> bool {
        match self.links.get_mut(&(from, to)) {
            Some(link) => {
                link.script.extend(faults);
                true
            }
            None => false,
        }
    }

    /// The host `id`.
    ///
    /// # Panics
    ///
    /// If `id` was not returned by this network's [`add_host`](Self::add_host).
    pub fn host(&self, id: HostId) -> &H {
        &self.hosts[id.0].host
    }

    /// The host `id`, mutably. The network picks up its new packets and
    /// deadline at the start of the next `step`/`run_*` call.
    ///
    /// # Panics
    ///
    /// If `id` was not returned by this network's [`add_host`](Self::add_host).
    pub fn host_mut(&mut self, id: HostId) -> &mut H {
        let slot = &mut self.hosts[id.0];
        slot.dirty = true;
        &mut slot.host
    }

    /// Number of hosts.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// The virtual clock.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Packet counters so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Starts (`true`) or stops keeping [`TraceRecord`]s; off by default.
    /// Turning it off discards records not yet taken.
    pub fn enable_trace(&mut self, on: bool) {
        match (on, self.trace.is_some()) {
            (true, false) => self.trace = Some(Vec::new()),
            (false, true) => self.trace = None,
            _ => {}
        }
    }

    /// The records kept since the last call (empty if tracing is off).
    pub fn take_trace(&mut self) -> Vec<TraceRecord> {
        self.trace.as_mut().map(core::mem::take).unwrap_or_default()
    }

    /// Writes every packet put on any link to a pcap file at `path`
    /// (`LINKTYPE_RAW`, timestamps in virtual time).
    ///
    /// Packets are recorded when sent, before the link's faults, so a
    /// corrupted packet appears intact, lost ones appear, and a duplicated
    /// one appears once. Packets dropped for the MTU, a full queue or a down
    /// link were put on a link and are recorded; packets with no route are
    /// not. Each call adds a capture; the file is flushed by
    /// [`flush_capture`](Self::flush_capture) and when the network is
    /// dropped.
    pub fn capture(&mut self, path: &Path) -> io::Result<()> {
        let pcap = PcapCapture::create(path)?;
        self.captures.push(Capture {
            between: None,
            pcap,
        });
        Ok(())
    }

    /// Like [`capture`](Self::capture), but only packets between `a` and `b`
    /// (both directions).
    pub fn capture_link(&mut self, a: HostId, b: HostId, path: &Path) -> io::Result<()> {
        let pcap = PcapCapture::create(path)?;
        self.captures.push(Capture {
            between: Some((a, b)),
            pcap,
        });
        Ok(())
    }

    /// Flushes all capture files; returns the first write error any of them
    /// met since the last flush.
    pub fn flush_capture(&mut self) -> io::Result<()> {
        let mut result = Ok(());
        for c in &mut self.captures {
            let r = c.pcap.flush();
            if result.is_ok() {
                result = r;
            }
        }
        result
    }

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

    fn schedule(&mut self, at: Instant, kind: EventKind) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.events.push(Reverse(Event { at, seq, kind }));
    }

    /// Takes packets from `id` until it has none (or [`MAX_DRAIN`]).
    fn drain(&mut self, id: HostId) {
        let size = self
            .links
            .range((id, HostId(0))..=(id, HostId(usize::MAX)))
            .map(|(_, l)| l.model.mtu)
            .max()
            .unwrap_or(MAX_BUF)
            .min(MAX_BUF);
        let mut buf = core::mem::take(&mut self.buf);
        buf.resize(size, 0);
        for _ in 0..MAX_DRAIN {
            let now = self.now;
            let Some(n) = self
                .hosts
                .get_mut(id.0)
                .and_then(|s| s.host.transmit(now, &mut buf))
            else {
                self.buf = buf;
                return;
            };
            match buf.get(..n) {
                Some(packet) if n > 0 => self.send(id, packet),
                _ => {
                    tracing::debug!(host = ?id, n, buf = size, "transmit returned a bad length");
                    self.count_drop(DropReason::NoRoute);
                    self.stats.sent += 1;
                    self.record(id, None, &buf[..0], None, PacketFate::Dropped);
                }
            }
        }
        tracing::debug!(host = ?id, "host still transmitting after {MAX_DRAIN} packets; deferring");
        self.buf = buf;
    }

    /// Puts one packet from `from` on the network.
    fn send(&mut self, from: HostId, packet: &[u8]) {
        self.stats.sent += 1;
        let now = self.now;
        let to = destination(packet).and_then(|addr| self.routes.get(&addr).copied());
        let Some(link) = to.and_then(|to| self.links.get_mut(&(from, to))) else {
            tracing::debug!(?from, ?to, len = packet.len(), "no route; dropped");
            self.count_drop(DropReason::NoRoute);
            self.record(from, to, packet, None, PacketFate::Dropped);
            return;
        };
        let Some(to) = to else { return };

        let scripted = link.script.front().copied();
        let ect = crate::wire::ip::packet_ecn(packet).is_some_and(crate::wire::Ecn::is_ect);
        let plan = link.model.plan(
            &mut self.rng,
            &mut link.queue,
            now,
            packet.len(),
            ect,
            scripted,
        );
        // A scripted AQM signal is used up even when it drops the packet.
        if !matches!(plan, Plan::Drop(r) if r != DropReason::Aqm) {
            link.script.pop_front();
        }

        for c in &mut self.captures {
            let wanted = match c.between {
                None => true,
                Some((a, b)) => (a, b) == (from, to) || (b, a) == (from, to),
            };
            if wanted {
                c.pcap.record(now, packet);
            }
        }

        match plan {
            Plan::Drop(reason) => {
                tracing::debug!(?from, ?to, ?reason, len = packet.len(), "dropped");
                self.count_drop(reason);
                self.record(from, Some(to), packet, None, PacketFate::Dropped);
            }
            Plan::Lose => {
                tracing::trace!(?from, ?to, len = packet.len(), "lost");
                self.stats.lost += 1;
                self.record(from, Some(to), packet, None, PacketFate::Lost);
            }
            Plan::Deliver {
                arrives,
                duplicate_at,
                corrupt_bit,
                reordered,
                ce,
            } => {
                let mut bytes = packet.to_vec();
                let mut fate = PacketFate::Delivered;
                if ce && crate::wire::ip::mark_ce(&mut bytes) {
                    self.stats.ce_marked += 1;
                }
                if let Some(bit) = corrupt_bit {
                    if let Some(byte) = usize::try_from(bit / 8).ok().and_then(|i| bytes.get_mut(i))
                    {
                        *byte ^= 0x80 >> (bit % 8);
                        fate = PacketFate::Corrupted;
                        self.stats.corrupted += 1;
                    }
                }
                if reordered {
                    self.stats.reordered += 1;
                }
                tracing::trace!(?from, ?to, len = packet.len(), %arrives, ?fate, "in flight");
                if let Some(at) = duplicate_at {
                    self.stats.duplicated += 1;
                    self.record(from, Some(to), &bytes, Some(arrives), fate);
                    // The copy is of the packet as sent: corruption hit only
                    // the original.
                    self.record(from, Some(to), packet, Some(at), PacketFate::Duplicated);
                    self.schedule(arrives, EventKind::Arrive { to, packet: bytes });
                    self.schedule(
                        at,
                        EventKind::Arrive {
                            to,
                            packet: packet.to_vec(),
                        },
                    );
                } else {
                    self.record(from, Some(to), &bytes, Some(arrives), fate);
                    self.schedule(arrives, EventKind::Arrive { to, packet: bytes });
                }
            }
        }
    }

    fn count_drop(&mut self, reason: DropReason) {
        self.stats.dropped += 1;
        let counter = match reason {
            DropReason::NoRoute => &mut self.stats.dropped_no_route,
            DropReason::Mtu => &mut self.stats.dropped_mtu,
            DropReason::QueueFull => &mut self.stats.dropped_queue,
            DropReason::Aqm => &mut self.stats.dropped_aqm,
            DropReason::LinkDown => &mut self.stats.dropped_link_down,
        };
        *counter += 1;
    }

    fn record(
        &mut self,
        from: HostId,
        to: Option<HostId>,
        bytes: &[u8],
        arrives_at: Option<Instant>,
        fate: PacketFate,
    ) {
        if let Some(trace) = &mut self.trace {
            trace.push(TraceRecord {
                sent_at: self.now,
                arrives_at,
                from,
                to,
                bytes: bytes.to_vec(),
                fate,
            });
        }
    }
}

/// The destination address of a raw IPv4 or IPv6 packet, or `None` if it is
/// too short or of another version. Only what routing needs: the rest of the
/// header is the receiver's business.
fn destination(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 => {
            let b: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
            Some(IpAddr::from(b))
        }
        6 => {
            let b: [u8; 16] = packet.get(24..40)?.try_into().ok()?;
            Some(IpAddr::from(b))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_parsing() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[16..20].copy_from_slice(&[192, 0, 2, 9]);
        assert_eq!(destination(&v4), Some("192.0.2.9".parse().unwrap()));
        assert_eq!(destination(&v4[..19]), None);
        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        v6[24] = 0x20;
        v6[25] = 0x01;
        v6[39] = 1;
        assert_eq!(destination(&v6), Some("2001::1".parse().unwrap()));
        assert_eq!(destination(&v6[..39]), None);
        assert_eq!(destination(&[]), None);
        assert_eq!(destination(&[0x55; 60]), None);
    }
}
