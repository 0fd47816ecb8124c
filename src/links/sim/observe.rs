//! What a [`Network`] tells about its traffic: counters, the packet
//! trace, pcap captures.

use std::io;
use std::path::Path;

use super::{HostId, Network, PacketFate};
use crate::links::model::DropReason;
use crate::links::pcap::PcapCapture;
use crate::links::Host;
use crate::time::Instant;

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

pub(super) struct Capture {
    /// `None` captures every link; `Some((a, b))` only traffic between a and b.
    pub(super) between: Option<(HostId, HostId)>,
    pub(super) pcap: PcapCapture,
}

impl<H: Host> Network<H> {
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

    pub(super) fn count_drop(&mut self, reason: DropReason) {
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

    pub(super) fn record(
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
