//! A packet a host transmits: routed by destination address, put through
//! its link's model, scheduled to arrive (or lost, dropped, duplicated,
//! corrupted).

use super::event_loop::EventKind;
use super::{HostId, Network, PacketFate, MAX_BUF, MAX_DRAIN};
use crate::links::model::{DropReason, Plan};
use crate::links::Host;
use std::net::IpAddr;

impl<H: Host> Network<H> {
    /// Takes packets from `id` until it has none (or [`MAX_DRAIN`]).
    pub(super) fn drain(&mut self, id: HostId) {
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
}

/// The destination address of a raw IPv4 or IPv6 packet, or `None` if it is
/// too short or of another version. Only what routing needs: the rest of the
/// header is the receiver's business.
pub(super) fn destination(packet: &[u8]) -> Option<IpAddr> {
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
