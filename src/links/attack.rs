//! Attackers for the simulator: a host that floods a listener with SYNs from
//! spoofed addresses, and [`Node`], which lets such a host share a
//! [`Network`](super::Network) with ordinary stacks.
//!
//! ```
//! use std::time::Duration;
//! use synfin::links::attack::{Node, SynFlood};
//! use synfin::links::{LinkModel, Network};
//! use synfin::stack::{Stack, StackConfig};
//! use synfin::time::Instant;
//!
//! let server_ip = "198.18.0.2".parse().unwrap();
//! let mut net = Network::new(1);
//! let mut server = Stack::new(StackConfig::default(), 1);
//! server.add_address(server_ip);
//! let s = net.add_host(&[server_ip], Node::Stack(Box::new(server)));
//! let flood = SynFlood::new(7, "198.18.0.2:80".parse().unwrap(), 10_000)
//!     .until(Instant::from_millis(100));
//! let f = net.add_host(&[], Node::Flood(Box::new(flood)));
//! net.link(f, s, LinkModel::new());
//! let l = net.host_mut(s).stack_mut().unwrap().listen("198.18.0.2:80".parse().unwrap(), 8).unwrap();
//! net.run_for(Duration::from_millis(200));
//! let stats = net.host(s).stack().unwrap().stats();
//! assert_eq!(stats.syn_cookies_sent, 1000 - 8); // 8 sit in the SYN queue
//! # let _ = l;
//! ```

use core::time::Duration;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};

use super::Host;
use crate::stack::Stack;
use crate::time::Instant;
use crate::wire::{self, SeqNum, TcpFlags, TcpOptions, TcpRepr};

/// Sends SYNs to `target` at a fixed rate, each from a random source in
/// 198.19.0.0/16 (which no host owns, so the SYN-ACKs go nowhere — the
/// situation SYN cookies exist for) with a random port and ISN. It owns no
/// address and ignores anything it receives.
#[derive(Debug)]
pub struct SynFlood {
    rng: ChaCha8Rng,
    target: SocketAddr,
    interval: Duration,
    next: Instant,
    until: Instant,
    sent: u64,
}

impl SynFlood {
    /// A flood of `per_second` SYNs (at least 1) at `target`, starting at
    /// time zero and running forever (see [`until`](Self::until)); the
    /// sources come from a generator seeded with `seed`.
    pub fn new(seed: u64, target: SocketAddr, per_second: u64) -> SynFlood {
        SynFlood {
            rng: ChaCha8Rng::seed_from_u64(seed),
            target,
            interval: Duration::from_nanos(1_000_000_000 / per_second.max(1)),
            next: Instant::ZERO,
            until: Instant::FAR_FUTURE,
            sent: 0,
        }
    }

    /// Starts the flood at `t` instead of time zero.
    pub fn starting(mut self, t: Instant) -> SynFlood {
        self.next = t;
        self
    }

    /// Stops the flood at `t`.
    pub fn until(mut self, t: Instant) -> SynFlood {
        self.until = t;
        self
    }

    /// SYNs sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    fn emit(&mut self, buf: &mut [u8]) -> Option<usize> {
        let r = self.rng.next_u64();
        let src = match self.target.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(198, 19, (r >> 8) as u8, r as u8)),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::new(
                0x2001,
                0xdb8,
                0x5f,
                0,
                0,
                0,
                (r >> 16) as u16,
                r as u16,
            )),
        };
        let repr = TcpRepr {
            src_port: 1024 + ((r >> 32) as u16 % 64_000),
            dst_port: self.target.port(),
            seq: SeqNum(self.rng.next_u32()),
            ack: SeqNum(0),
            flags: TcpFlags::SYN,
            window: 65535,
            urgent: 0,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some((self.rng.next_u32(), 0)),
                ..TcpOptions::default()
            },
            payload: &[],
        };
        wire::emit_tcp_packet(src, self.target.ip(), 64, &repr, buf).ok()
    }
}

impl Host for SynFlood {
    fn receive(&mut self, _now: Instant, _packet: &[u8]) {}

    fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if self.next > now || self.next >= self.until {
            return None;
        }
        self.next += self.interval;
        self.sent += 1;
        self.emit(buf)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (self.next < self.until).then_some(self.next)
    }

    fn handle_timeout(&mut self, _now: Instant) {}
}

/// A host in a simulation that mixes stacks and attackers.
pub enum Node {
    /// A synfin stack.
    Stack(Box<Stack>),
    /// A SYN flooder.
    Flood(Box<SynFlood>),
}

impl Node {
    /// The stack, if this node is one.
    pub fn stack(&self) -> Option<&Stack> {
        match self {
            Node::Stack(s) => Some(s),
            Node::Flood(_) => None,
        }
    }

    /// The stack, mutably, if this node is one.
    pub fn stack_mut(&mut self) -> Option<&mut Stack> {
        match self {
            Node::Stack(s) => Some(s),
            Node::Flood(_) => None,
        }
    }
}

impl Host for Node {
    fn receive(&mut self, now: Instant, packet: &[u8]) {
        match self {
            Node::Stack(s) => s.handle_packet(now, packet),
            Node::Flood(f) => f.receive(now, packet),
        }
    }
    fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        match self {
            Node::Stack(s) => s.poll_transmit(now, buf),
            Node::Flood(f) => f.transmit(now, buf),
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Node::Stack(s) => s.poll_timeout(),
            Node::Flood(f) => f.poll_timeout(),
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Node::Stack(s) => s.handle_timeout(now),
            Node::Flood(f) => f.handle_timeout(now),
        }
    }
}
