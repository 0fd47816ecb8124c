//! The SYN-flood scenario of `synfin soak --flood` and
//! `tests/hardening_flood.rs` (one function, so the command and the test
//! suite run the same thing): spoofed SYNs at a listener while 100
//! legitimate clients — 10 hosts × 10 connections, over links with 10 ms
//! delay and 1 % loss — connect through the middle of the flood and each
//! send a 300-byte request.
//!
//! ```
//! use std::time::Duration;
//!
//! let r = synfin::links::flood::run(20_000, Duration::from_millis(100));
//! assert!(r.ok(), "{r:?}");
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::attack::{Node, SynFlood};
use super::{HostId, LinkModel, Network};
use crate::stack::{MemoryUsage, SocketHandle, Stack, StackConfig, StackStats};
use crate::tcp::State;
use crate::time::Instant;

/// The listener's backlog: the SYN queue is full within a millisecond.
pub const BACKLOG: usize = 128;
/// Client hosts, and connections from each.
pub const HOSTS: usize = 10;
/// Connections from each client host.
pub const PER_HOST: usize = 10;
/// Bytes each legitimate client sends.
pub const REQUEST: usize = 300;
/// The bound the server's tables (buffers aside) must stay under: a full
/// SYN queue, 100 connections, the control queue.
pub const TABLES_BOUND: usize = 256 * 1024;

/// What one flood run measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FloodReport {
    /// Spoofed SYNs the attacker sent.
    pub spoofed_syns: u64,
    /// How long the flood lasted (virtual time).
    pub flood_seconds: f64,
    /// Spoofed SYNs per second.
    pub rate_per_second: u64,
    /// Legitimate connections attempted.
    pub legitimate: usize,
    /// Of those, accepted by the server.
    pub legitimate_accepted: usize,
    /// Of those, whose request arrived whole, on a connection from the
    /// client that sent it.
    pub legitimate_intact: usize,
    /// Connections the server could still accept at the end: only spoofed
    /// ones could be there, so anything but 0 is a failure.
    pub extra_accepted: usize,
    /// Virtual seconds from the first connect until every request was in.
    pub seconds_to_serve_all: Option<f64>,
    /// The server's largest memory use, buffers included.
    pub peak_memory: usize,
    /// The same moment without buffers (SYN queue, tables, control queue).
    pub peak_tables: usize,
    /// The breakdown at that moment.
    pub peak_breakdown: MemoryUsage,
    /// The server's counters at the end (SYN cookies sent and accepted …).
    pub server: StackStats,
}

impl FloodReport {
    /// Every legitimate client accepted with its request intact, no spoofed
    /// connection accepted, and the tables within [`TABLES_BOUND`].
    pub fn ok(&self) -> bool {
        self.legitimate_accepted == self.legitimate
            && self.legitimate_intact == self.legitimate
            && self.extra_accepted == 0
            && self.peak_tables <= TABLES_BOUND
    }
}

fn stack(net: &mut Network<Node>, id: HostId) -> &mut Stack {
    match net.host_mut(id) {
        Node::Stack(s) => s,
        Node::Flood(_) => unreachable!("a client or the server is a stack"),
    }
}

/// The request a client connection sends: unique per host and handle.
fn request(host: usize, h: SocketHandle) -> Vec<u8> {
    format!("{host}/{h};")
        .bytes()
        .cycle()
        .take(REQUEST)
        .collect()
}

/// Runs the flood: `rate` spoofed SYNs per second for `flood` of virtual
/// time (at least 1 ms). The legitimate clients connect, one every
/// `flood`/200, from 50 ms on, once the SYN queue is full; the run ends
/// once every request is in and the flood is over, or a minute after the
/// flood.
pub fn run(rate: u64, flood: Duration) -> FloodReport {
    let flood = flood.max(Duration::from_millis(1));
    let mut net: Network<Node> = Network::new(42);
    let server_ip = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));
    let addr = SocketAddr::new(server_ip, 80);
    let mut server = Stack::new(StackConfig::default(), 2);
    server.add_address(server_ip);
    let s = net.add_host(&[server_ip], Node::Stack(Box::new(server)));
    let flood_end = Instant::ZERO + flood;
    let attacker = SynFlood::new(9, addr, rate).until(flood_end);
    let f = net.add_host(&[], Node::Flood(Box::new(attacker)));
    net.link(f, s, LinkModel::new().delay(Duration::from_millis(2)));
    let mut clients = Vec::new();
    for i in 0..HOSTS {
        let ip = IpAddr::V4(Ipv4Addr::new(198, 18, 1, i as u8 + 1));
        let mut st = Stack::new(StackConfig::default(), 100 + i as u64);
        st.add_address(ip);
        let id = net.add_host(&[ip], Node::Stack(Box::new(st)));
        net.link(
            id,
            s,
            LinkModel::new().delay(Duration::from_millis(10)).loss(0.01),
        );
        clients.push(id);
    }
    let l = stack(&mut net, s)
        .listen(addr, BACKLOG)
        .expect("a fresh stack listens on its own address");
    let start = Instant::from_millis(50);
    let spacing = flood / 200;
    let total = HOSTS * PER_HOST;
    let mut conns: Vec<(usize, SocketHandle, usize)> = Vec::new();
    let mut accepted: Vec<(SocketHandle, Vec<u8>)> = Vec::new();
    let (mut peak, mut peak_total) = (MemoryUsage::default(), 0);
    let mut served_at = None;
    let deadline = flood_end + Duration::from_secs(60);
    net.run_until(start);
    while net.now() < deadline {
        let now = net.now();
        while conns.len() < total && now >= start + spacing * conns.len() as u32 {
            let i = conns.len() % HOSTS;
            // A client with 50 000 free ports never runs out of them here.
            if let Ok(h) = stack(&mut net, clients[i]).connect(now, addr) {
                conns.push((i, h, 0));
            }
        }
        for (i, h, sent) in conns.iter_mut() {
            let st = stack(&mut net, clients[*i]);
            if *sent < REQUEST && st.state(*h) == Ok(State::Established) {
                if let Ok(n) = st.send(now, *h, &request(*i, *h)[*sent..]) {
                    *sent += n;
                }
            }
        }
        let st = stack(&mut net, s);
        while let Ok((h, _)) = st.accept(l) {
            accepted.push((h, Vec::new()));
        }
        let mut buf = [0u8; 2048];
        for (h, got) in accepted.iter_mut() {
            while let Ok(n) = st.recv(now, *h, &mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
        }
        let m = st.memory_usage();
        if m.total() > peak_total {
            peak_total = m.total();
            peak = m;
        }
        if served_at.is_none()
            && accepted.len() == total
            && accepted.iter().all(|(_, g)| g.len() == REQUEST)
        {
            served_at = Some(now);
        }
        if served_at.is_some() && now >= flood_end {
            break;
        }
        net.run_for(Duration::from_millis(1));
    }
    let spoofed_syns = match net.host(f) {
        Node::Flood(fl) => fl.sent(),
        Node::Stack(_) => 0,
    };
    let mut want: Vec<Vec<u8>> = conns.iter().map(|(i, h, _)| request(*i, *h)).collect();
    want.sort();
    let intact = accepted
        .iter()
        .filter(|(_, g)| want.binary_search(g).is_ok())
        .count();
    let st = stack(&mut net, s);
    let mut extra_accepted = 0;
    while st.accept(l).is_ok() {
        extra_accepted += 1;
    }
    FloodReport {
        spoofed_syns,
        flood_seconds: flood.as_secs_f64(),
        rate_per_second: rate,
        legitimate: total,
        legitimate_accepted: accepted.len(),
        legitimate_intact: intact,
        extra_accepted,
        seconds_to_serve_all: served_at.map(|t| t.saturating_duration_since(start).as_secs_f64()),
        peak_memory: peak_total,
        peak_tables: peak.without_buffers(),
        peak_breakdown: peak,
        server: st.stats(),
    }
}
