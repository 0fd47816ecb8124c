//! One end of a `synfin goodput` transfer as a simulator [`Host`]: synfin's
//! [`Stack`] or (feature `bench-smoltcp`) a smoltcp interface, so that every
//! pairing — synfin↔synfin, smoltcp↔smoltcp and the mixed ones — crosses the
//! same [`Network`](synfin::links::Network) and link model.
//!
//! Each end also counts, from the TCP headers it puts on the wire, the data
//! segments it sent and how many of them started below the highest sequence
//! number sent before (retransmissions): the one loss-recovery figure that
//! can be read the same way off both stacks (smoltcp keeps no counters).

use std::net::{IpAddr, SocketAddr};

use synfin::links::Host;
use synfin::stack::{Error, SocketHandle, Stack, StackConfig};
use synfin::tcp::{LossStats, State};
use synfin::time::Instant;

/// Which TCP implementation an end runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// synfin with the `StackConfig` given to [`Endpoint::new`].
    Synfin,
    /// smoltcp with its congestion control as shipped (none, with the
    /// crate's default features).
    Smoltcp,
    /// smoltcp with its optional Cubic controller.
    SmoltcpCubic,
    /// smoltcp with its optional Reno controller.
    SmoltcpReno,
}

impl Kind {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Synfin => "synfin",
            Kind::Smoltcp => "smoltcp",
            Kind::SmoltcpCubic => "smoltcp-cubic",
            Kind::SmoltcpReno => "smoltcp-reno",
        }
    }

    /// Parses [`name`](Self::name).
    pub fn parse(s: &str) -> Result<Kind, String> {
        [
            Kind::Synfin,
            Kind::Smoltcp,
            Kind::SmoltcpCubic,
            Kind::SmoltcpReno,
        ]
        .into_iter()
        .find(|k| k.name() == s)
        .ok_or_else(|| {
            format!("`{s}` is not a stack (synfin, smoltcp, smoltcp-cubic, smoltcp-reno)")
        })
    }
}

/// Data segments an end put on the wire, and the retransmissions among them.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WireStats {
    /// Segments carrying data (or SYN/FIN).
    pub data_segments: u64,
    /// Of those, segments starting below the highest sequence number sent
    /// before.
    pub retransmits: u64,
    #[serde(skip)]
    highest: Option<u32>,
}

impl WireStats {
    /// Looks at one outgoing IPv4 packet.
    fn observe(&mut self, p: &[u8]) {
        let Some(&vihl) = p.first() else { return };
        let ihl = usize::from(vihl & 0x0f) * 4;
        if vihl >> 4 != 4 || p.len() < ihl + 20 || p[9] != 6 {
            return;
        }
        let total = usize::from(u16::from_be_bytes([p[2], p[3]])).min(p.len());
        let tcp = &p[ihl..total];
        let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
        let doff = usize::from(tcp[12] >> 4) * 4;
        let flags = tcp[13];
        let len = tcp.len().saturating_sub(doff) as u32
            + u32::from(flags & 0x02 != 0)
            + u32::from(flags & 0x01 != 0);
        if len == 0 {
            return;
        }
        self.data_segments += 1;
        let end = seq.wrapping_add(len);
        match self.highest {
            Some(h) if (seq.wrapping_sub(h) as i32) < 0 => {
                self.retransmits += 1;
                if (end.wrapping_sub(h) as i32) > 0 {
                    self.highest = Some(end);
                }
            }
            _ => self.highest = Some(end),
        }
    }
}

enum Inner {
    Synfin {
        stack: Box<Stack>,
        listener: Option<SocketHandle>,
        conn: Option<SocketHandle>,
    },
    #[cfg(feature = "bench-smoltcp")]
    Smol(Box<super::smol::SmolHost>),
}

/// One end of the transfer.
pub struct Endpoint {
    inner: Inner,
    wire: WireStats,
}

impl Endpoint {
    /// An end of kind `kind` owning address `ip`; `cfg` is synfin's
    /// configuration, `buffer` the send and receive buffer of a smoltcp
    /// socket.
    pub fn new(
        kind: Kind,
        ip: IpAddr,
        cfg: &StackConfig,
        buffer: usize,
        seed: u64,
    ) -> Result<Endpoint, String> {
        let inner = match kind {
            Kind::Synfin => {
                let mut stack = Stack::new(cfg.clone(), seed);
                stack.add_address(ip);
                Inner::Synfin {
                    stack: Box::new(stack),
                    listener: None,
                    conn: None,
                }
            }
            #[cfg(feature = "bench-smoltcp")]
            _ => Inner::Smol(Box::new(super::smol::SmolHost::new(
                kind, ip, buffer, seed,
            )?)),
            #[cfg(not(feature = "bench-smoltcp"))]
            _ => {
                let _ = buffer;
                return Err(format!(
                    "{} needs smoltcp: build with --features bench-smoltcp",
                    kind.name()
                ));
            }
        };
        Ok(Endpoint {
            inner,
            wire: WireStats::default(),
        })
    }

    /// Listens on `addr`.
    pub fn listen(&mut self, addr: SocketAddr) -> Result<(), String> {
        match &mut self.inner {
            Inner::Synfin {
                stack, listener, ..
            } => {
                *listener = Some(stack.listen(addr, 4).map_err(|e| format!("listen: {e}"))?);
                Ok(())
            }
            #[cfg(feature = "bench-smoltcp")]
            Inner::Smol(h) => h.listen(addr.port()),
        }
    }

    /// Connects to `to`.
    pub fn connect(&mut self, now: Instant, to: SocketAddr) -> Result<(), String> {
        match &mut self.inner {
            Inner::Synfin { stack, conn, .. } => {
                *conn = Some(
                    stack
                        .connect(now, to)
                        .map_err(|e| format!("connect: {e}"))?,
                );
                Ok(())
            }
            #[cfg(feature = "bench-smoltcp")]
            Inner::Smol(h) => h.connect(to),
        }
    }

    /// Whether the connection is established (a listener takes its
    /// connection from the accept queue here).
    pub fn established(&mut self) -> bool {
        match &mut self.inner {
            Inner::Synfin {
                stack,
                listener,
                conn,
            } => {
                if conn.is_none() {
                    if let Some(l) = *listener {
                        *conn = stack.accept(l).ok().map(|(h, _)| h);
                    }
                }
                conn.is_some_and(|c| stack.state(c) == Ok(State::Established))
            }
            #[cfg(feature = "bench-smoltcp")]
            Inner::Smol(h) => h.established(),
        }
    }

    /// Queues as much of `chunk` (over and over) as the send buffer takes.
    pub fn fill(&mut self, now: Instant, chunk: &[u8]) -> Result<(), String> {
        match &mut self.inner {
            Inner::Synfin { stack, conn, .. } => {
                let c = conn.ok_or("send before the connection exists")?;
                loop {
                    match stack.send(now, c, chunk) {
                        Ok(0) | Err(Error::WouldBlock) => return Ok(()),
                        Ok(_) => {}
                        Err(e) => return Err(format!("send: {e}")),
                    }
                }
            }
            #[cfg(feature = "bench-smoltcp")]
            Inner::Smol(h) => h.fill(chunk),
        }
    }

    /// Reads everything that has arrived; returns the byte count.
    pub fn drain(&mut self, now: Instant, buf: &mut [u8]) -> Result<u64, String> {
        let mut got = 0u64;
        match &mut self.inner {
            Inner::Synfin { stack, conn, .. } => {
                let c = conn.ok_or("recv before the connection exists")?;
                loop {
                    match stack.recv(now, c, buf) {
                        Ok(0) | Err(Error::WouldBlock) => return Ok(got),
                        Ok(n) => got += n as u64,
                        Err(e) => return Err(format!("recv: {e}")),
                    }
                }
            }
            #[cfg(feature = "bench-smoltcp")]
            Inner::Smol(h) => h.drain(buf),
        }
    }

    /// synfin's own loss-recovery counters (`None` for smoltcp).
    pub fn loss_stats(&self) -> Option<LossStats> {
        match &self.inner {
            Inner::Synfin { stack, conn, .. } => conn
                .and_then(|c| stack.connection(c).ok())
                .map(|c| c.loss_stats()),
            #[cfg(feature = "bench-smoltcp")]
            Inner::Smol(_) => None,
        }
    }

    /// What this end put on the wire.
    pub fn wire(&self) -> WireStats {
        self.wire
    }
}

impl Host for Endpoint {
    fn receive(&mut self, now: Instant, packet: &[u8]) {
        match &mut self.inner {
            Inner::Synfin { stack, .. } => stack.handle_packet(now, packet),
            #[cfg(feature = "bench-smoltcp")]
            Inner::Smol(h) => h.receive(now, packet),
        }
    }

    fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let n = match &mut self.inner {
            Inner::Synfin { stack, .. } => stack.poll_transmit(now, buf),
            #[cfg(feature = "bench-smoltcp")]
            Inner::Smol(h) => h.transmit(now, buf),
        }?;
        if let Some(p) = buf.get(..n) {
            self.wire.observe(p);
        }
        Some(n)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match &self.inner {
            Inner::Synfin { stack, .. } => stack.poll_timeout(),
            #[cfg(feature = "bench-smoltcp")]
            Inner::Smol(h) => h.poll_timeout(),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match &mut self.inner {
            Inner::Synfin { stack, .. } => stack.handle_timeout(now),
            #[cfg(feature = "bench-smoltcp")]
            Inner::Smol(h) => h.handle_timeout(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(seq: u32, payload: usize) -> Vec<u8> {
        let mut p = vec![0u8; 40 + payload];
        p[0] = 0x45;
        let total = p.len() as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[9] = 6;
        p[24..28].copy_from_slice(&seq.to_be_bytes());
        p[32] = 5 << 4;
        p[33] = 0x10;
        p
    }

    #[test]
    fn wire_counts_retransmissions() {
        let mut w = WireStats::default();
        w.observe(&segment(1000, 100));
        w.observe(&segment(1100, 100));
        w.observe(&segment(1200, 0)); // a pure ACK: not data
        w.observe(&segment(1000, 100)); // again
        w.observe(&segment(1200, 100));
        assert_eq!((w.data_segments, w.retransmits), (4, 1));
        // Across the wrap of the sequence space.
        let mut w = WireStats::default();
        w.observe(&segment(u32::MAX - 50, 100));
        w.observe(&segment(49, 100));
        w.observe(&segment(u32::MAX - 50, 100));
        assert_eq!((w.data_segments, w.retransmits), (3, 1));
        assert!(Kind::parse("smoltcp-cubic").is_ok() && Kind::parse("x").is_err());
    }
}
