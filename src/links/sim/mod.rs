//! The deterministic simulated network: hosts, directed links, and a
//! discrete-event loop under a virtual clock.
//!
//! Determinism rests on three things: all randomness comes from one
//! `ChaCha8Rng` seeded by the caller; events are ordered by
//! `(time, insertion counter)`, so ties break in the order they were
//! scheduled; and every collection that is iterated is ordered (`Vec`,
//! `BTreeMap`).
//!
//! The parts: this file holds the hosts, links and accessors;
//! `event_loop` the event queue and the calls that run it; `delivery`
//! what happens to a packet a host transmits (routing, the link model);
//! `observe` the counters, the packet trace and pcap captures.

mod delivery;
mod event_loop;
mod observe;
#[cfg(test)]
mod tests;

use core::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::net::IpAddr;

use rand::rngs::ChaCha8Rng;
use rand::SeedableRng;

use super::model::{Fault, LinkModel, QueueState};

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

use event_loop::Event;
use observe::Capture;
pub use observe::{NetStats, TraceRecord};

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
}
