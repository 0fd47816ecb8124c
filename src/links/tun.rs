//! A Linux TUN device as a synfin link: synfin owns an address behind the
//! device, and the host (the kernel) side of the device gets its own address
//! and a route to the prefix, so ordinary kernel sockets reach synfin.
//!
//! The ioctls are the `tun-rs` crate's (this crate keeps `unsafe` out of everything but the checksum's vector kernels). With
//! [`TunConfig::offload`] the device is opened with `IFF_VNET_HDR` and the
//! kernel's TCP segmentation offloads are enabled, so far fewer system
//! calls (and far fewer passes through the kernel's TCP) move the same
//! bytes:
//!
//! - receive: the kernel hands over segments of up to 64 KiB (TSO/GSO) with
//!   a partial checksum. [`PacketDevice::recv_offloaded`] gives them to the
//!   stack whole, checksum trusted (the packet never crossed a wire);
//!   [`PacketDevice::recv_batch`] splits them into MTU-sized packets with
//!   complete checksums (`tun-rs`), for captures and the link model.
//! - send: consecutive data segments of one flow are coalesced into one TSO
//!   super-packet ([`super::tun_gso::Coalescer`]), which the kernel's TCP
//!   receives as one large segment, as if GRO had built it.
//!
//! ```no_run
//! use synfin::links::tun::{TunConfig, TunDevice};
//!
//! // Host side 198.18.0.1/24 on `sf0`; synfin then uses 198.18.0.2.
//! let cfg = TunConfig::new("sf0", "198.18.0.1".parse().unwrap(), 24);
//! let dev = TunDevice::open(&cfg)?;
//! # let _ = dev;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd};

use tun_rs::{DeviceBuilder, SyncDevice, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

use super::device::{is_would_block, PacketDevice};
use super::tun_gso::{
    Built, Coalescer, VnetHdr, GSO_ECN, GSO_NONE, GSO_TCPV4, GSO_TCPV6, VNET_HDR_LEN,
};

/// Largest packet a read can return with offloads on (a GSO super-packet).
const MAX_GSO: usize = 65535;

/// How a TUN device is created or opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunConfig {
    /// Interface name (at most 15 bytes).
    pub name: String,
    /// The kernel side's address on the device.
    pub host_addr: IpAddr,
    /// Prefix length of the device's subnet (the kernel routes it to the
    /// device).
    pub prefix: u8,
    /// Device MTU.
    pub mtu: u16,
    /// Open with `IFF_VNET_HDR` and enable checksum and segmentation
    /// offloads.
    pub offload: bool,
}

impl TunConfig {
    /// A configuration with MTU 1500 and no offloads.
    pub fn new(name: &str, host_addr: IpAddr, prefix: u8) -> TunConfig {
        TunConfig {
            name: name.to_string(),
            host_addr,
            prefix,
            mtu: 1500,
            offload: false,
        }
    }
}

/// An open TUN device (layer 3, no packet-information header).
pub struct TunDevice {
    dev: SyncDevice,
    mtu: usize,
    /// Offloads are on: reads carry a virtio-net header, writes are batched.
    offload: bool,
    rx_raw: Vec<u8>,
    rx_bufs: Vec<Vec<u8>>,
    rx_sizes: Vec<usize>,
    /// The super-packet being built (offload only).
    gso: Coalescer,
    stats: OffloadStats,
}

/// What the offloads did: writes and reads against the segments they
/// carried.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct OffloadStats {
    /// Writes to the device.
    pub tx_writes: u64,
    /// Segments those writes carried (more than `tx_writes` when segments
    /// were coalesced).
    pub tx_segments: u64,
    /// Reads of a TSO super-packet handed over whole.
    pub rx_super: u64,
}

impl core::fmt::Debug for TunDevice {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TunDevice")
            .field("mtu", &self.mtu)
            .field("offload", &self.offload)
            .finish_non_exhaustive()
    }
}

impl TunDevice {
    /// Creates the device (or opens a persistent one of that name), gives
    /// the kernel side its address and brings the link up.
    pub fn open(cfg: &TunConfig) -> io::Result<TunDevice> {
        if cfg.name.is_empty() || cfg.name.len() > 15 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("TUN name `{}` must be 1 to 15 bytes", cfg.name),
            ));
        }
        let max_prefix = if cfg.host_addr.is_ipv4() { 32 } else { 128 };
        if cfg.prefix > max_prefix {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("prefix /{} is too long for {}", cfg.prefix, cfg.host_addr),
            ));
        }
        let mut b = DeviceBuilder::new()
            .name(cfg.name.clone())
            .mtu(cfg.mtu)
            .offload(cfg.offload);
        b = match cfg.host_addr {
            IpAddr::V4(a) => b.ipv4(a, cfg.prefix, None),
            IpAddr::V6(a) => b.ipv6(a, cfg.prefix),
        };
        let dev = b.build_sync().map_err(|e| {
            io::Error::new(e.kind(), format!("opening TUN device `{}`: {e}", cfg.name))
        })?;
        dev.set_nonblocking(true)?;
        let mtu = usize::from(cfg.mtu);
        let (rx_raw, rx_bufs, rx_sizes) = if cfg.offload {
            (
                vec![0; VIRTIO_NET_HDR_LEN + MAX_GSO],
                vec![vec![0; mtu]; IDEAL_BATCH_SIZE],
                vec![0; IDEAL_BATCH_SIZE],
            )
        } else {
            (Vec::new(), vec![vec![0; mtu]], vec![0])
        };
        tracing::info!(name = %cfg.name, host = %cfg.host_addr, prefix = cfg.prefix, mtu, offload = cfg.offload, "TUN device up");
        Ok(TunDevice {
            dev,
            mtu,
            offload: cfg.offload,
            rx_raw,
            rx_bufs,
            rx_sizes,
            gso: Coalescer::default(),
            stats: OffloadStats::default(),
        })
    }

    /// The interface name the kernel gave the device.
    pub fn name(&self) -> io::Result<String> {
        self.dev.name()
    }

    /// Whether offloads are on.
    pub fn offload(&self) -> bool {
        self.offload
    }

    /// What the offloads did so far.
    pub fn offload_stats(&self) -> OffloadStats {
        self.stats
    }

    /// Writes one packet (offload: with its virtio header in front). A full
    /// kernel queue loses it, as a congested link would; TCP recovers.
    fn write(
        dev: &SyncDevice,
        stats: &mut OffloadStats,
        b: &[u8],
        segments: usize,
    ) -> io::Result<()> {
        stats.tx_writes += 1;
        stats.tx_segments += segments as u64;
        match dev.send(b) {
            Ok(_) => Ok(()),
            Err(e) if is_would_block(&e) || e.raw_os_error() == Some(105) => Ok(()),
            // A packet the kernel refused (a malformed virtio header would
            // be EINVAL): lost, as on a link.
            Err(e) if e.raw_os_error() == Some(22) => {
                tracing::debug!(error = %e, len = b.len(), "the TUN device refused a packet");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Writes the super-packet being built, if any.
    fn flush_gso(&mut self) -> io::Result<()> {
        let (dev, stats) = (&self.dev, &mut self.stats);
        self.gso
            .finish_into(&mut |b, segments| Self::write(dev, stats, b, segments))
    }
}

/// Most reads in one [`PacketDevice::recv_batch`] call, so one busy
/// direction cannot starve the other.
const READS_PER_BATCH: usize = 64;

impl PacketDevice for TunDevice {
    fn recv_batch(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
        let mut count = 0;
        for _ in 0..READS_PER_BATCH {
            let r = if self.offload {
                self.dev
                    .recv_multiple(&mut self.rx_raw, &mut self.rx_bufs, &mut self.rx_sizes, 0)
            } else {
                self.dev.recv(&mut self.rx_bufs[0]).map(|n| {
                    self.rx_sizes[0] = n;
                    1
                })
            };
            match r {
                Ok(n) => {
                    for (buf, &len) in self.rx_bufs.iter().zip(&self.rx_sizes).take(n) {
                        f(&buf[..len.min(buf.len())]);
                    }
                    count += n;
                }
                Err(e) if is_would_block(&e) => break,
                // A packet tun-rs could not split (odd virtio header, bad
                // IP version): drop it, as a NIC would.
                Err(e) if e.raw_os_error().is_none() => {
                    tracing::debug!(error = %e, "dropped a packet the TUN device could not split");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(count)
    }

    fn recv_offloaded(&mut self, f: &mut dyn FnMut(&[u8], bool)) -> io::Result<usize> {
        if !self.offload {
            return self.recv_batch(&mut |p| f(p, false));
        }
        let mut count = 0;
        for _ in 0..READS_PER_BATCH {
            let n = match self.dev.recv(&mut self.rx_raw) {
                Ok(n) => n,
                Err(e) if is_would_block(&e) => break,
                Err(e) => return Err(e),
            };
            let Some(hdr) = VnetHdr::decode(&self.rx_raw[..n]) else {
                continue;
            };
            let pkt = &mut self.rx_raw[VNET_HDR_LEN..n];
            match hdr.gso_type & !GSO_ECN {
                GSO_NONE => f(pkt, hdr.checksum_trusted()),
                GSO_TCPV4 | GSO_TCPV6 => {
                    // One TSO super-packet: a single large segment to the
                    // stack, its checksum partial and trusted.
                    if pkt.first().is_some_and(|v| v >> 4 == 4) && pkt.len() >= 20 {
                        fix_ipv4_length(pkt);
                    }
                    self.stats.rx_super += 1;
                    f(pkt, true);
                }
                // UDP segmentation: nothing synfin's TCP can use.
                _ => continue,
            }
            count += 1;
        }
        Ok(count)
    }

    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        if !self.offload {
            return Self::write(&self.dev, &mut self.stats, packet, 1);
        }
        if self.gso.append(packet) {
            return Ok(());
        }
        self.flush_gso()?;
        if self.gso.start(packet) {
            return Ok(());
        }
        // Not a data segment (SYN, FIN, RST, a pure ACK…): alone, behind an
        // empty virtio header (`NEEDS_CSUM` if its checksum is partial), in
        // order after what was built before it.
        let mut b = [0u8; VNET_HDR_LEN];
        self.gso.plain_header(packet).encode(&mut b);
        let n = self
            .dev
            .send_vectored(&[io::IoSlice::new(&b), io::IoSlice::new(packet)]);
        self.stats.tx_writes += 1;
        self.stats.tx_segments += 1;
        match n {
            Ok(_) => Ok(()),
            Err(e) if is_would_block(&e) || e.raw_os_error() == Some(105) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn send_built(
        &mut self,
        scratch: &mut [u8],
        write: &mut dyn FnMut(&mut [u8]) -> Option<usize>,
    ) -> io::Result<Option<usize>> {
        if !self.offload {
            return super::device::send_from_scratch(self, scratch, write);
        }
        // Built in the super-packet's own buffer (tun_gso.rs): the payload
        // is never copied on its way to the kernel.
        let mut len = 0;
        let mut counted = |b: &mut [u8]| {
            let n = write(b);
            len = n.unwrap_or(0);
            n
        };
        let (dev, stats) = (&self.dev, &mut self.stats);
        let built = self
            .gso
            .build_in_place(self.mtu, &mut counted, &mut |b, segments| {
                Self::write(dev, stats, b, segments)
            })?;
        Ok((built != Built::Nothing).then_some(len))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_gso()
    }

    fn set_tx_checksum_offload(&mut self, on: bool) -> bool {
        // The kernel completes a `NEEDS_CSUM` checksum only behind a
        // virtio-net header.
        let on = on && self.offload;
        self.gso.set_partial(on);
        on
    }

    fn mtu(&self) -> usize {
        self.mtu
    }
}

/// A super-packet's IPv4 total length covers all of it (when the kernel
/// left it otherwise, the header checksum is redone to match).
fn fix_ipv4_length(pkt: &mut [u8]) {
    let Ok(len) = u16::try_from(pkt.len()) else {
        return;
    };
    if u16::from_be_bytes([pkt[2], pkt[3]]) == len {
        return;
    }
    pkt[2..4].copy_from_slice(&len.to_be_bytes());
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    if ihl < 20 || ihl > pkt.len() {
        return;
    }
    pkt[10] = 0;
    pkt[11] = 0;
    let c = crate::wire::checksum::checksum(&pkt[..ihl]);
    pkt[10..12].copy_from_slice(&c.to_be_bytes());
}

impl Drop for TunDevice {
    fn drop(&mut self) {
        if self.offload {
            tracing::debug!(stats = ?self.stats, "TUN offloads");
        }
    }
}

impl AsFd for TunDevice {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.dev.as_fd()
    }
}
