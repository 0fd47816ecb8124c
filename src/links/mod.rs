//! Links that move packets between stacks.
//!
//! [`Network`] is a deterministic discrete-event simulation: hosts exchange
//! raw IP packets over [`LinkModel`] links with delay, rate limits and
//! seeded random faults, under a virtual clock. On Linux, real links carry
//! the same packets in real time: a TUN device ([`tun`]), a UDP tunnel
//! ([`udp`]), driven by [`host::DeviceHost`], with the same link model on
//! top ([`impair`]).

pub mod attack;
#[cfg(target_os = "linux")]
pub mod device;
pub mod flood;
#[cfg(target_os = "linux")]
pub mod host;
pub mod impair;
pub mod model;
pub mod pcap;
#[cfg(target_os = "linux")]
pub mod runtime_device;
pub mod sim;
#[cfg(target_os = "linux")]
pub mod tun;
#[cfg(target_os = "linux")]
pub mod tun_gso;
#[cfg(target_os = "linux")]
pub mod udp;

pub use model::{Fault, LinkModel};
pub use sim::{HostId, NetStats, Network, PacketFate, TraceRecord};

use crate::time::Instant;

/// What the network needs from a host (implemented by the sans-IO stack).
///
/// The network calls these with its virtual clock; a host must not read any
/// other clock.
pub trait Host {
    /// Deliver one IP packet to the host at `now`.
    fn receive(&mut self, now: Instant, packet: &[u8]);
    /// The host's next outgoing IP packet, written into `buf`; returns its
    /// length, or `None` when it has nothing to send now.
    ///
    /// `buf.len()` is the largest MTU among the host's outgoing links (65535
    /// when it has none), capped at 65535. A returned length larger than
    /// `buf.len()`, or zero, is counted as a dropped packet.
    fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;
    /// When the host next wants [`handle_timeout`](Self::handle_timeout)
    /// (`None` = no timer).
    fn poll_timeout(&self) -> Option<Instant>;
    /// Timers due at `now` fire.
    fn handle_timeout(&mut self, now: Instant);
}
