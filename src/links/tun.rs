//! A Linux TUN device as a synfin link: synfin owns an address behind the
//! device, and the host (the kernel) side of the device gets its own address
//! and a route to the prefix, so ordinary kernel sockets reach synfin.
//!
//! The ioctls are the `tun-rs` crate's (this crate forbids `unsafe`). With
//! [`TunConfig::offload`] the device is opened with `IFF_VNET_HDR` and the
//! kernel's TCP segmentation offloads are enabled: the kernel hands synfin
//! segments of up to 64 KiB (TSO/GSO) that `tun-rs` splits into MTU-sized
//! packets, and a batch of synfin's segments of one flow is coalesced (GRO)
//! into one large write, so far fewer system calls move the same bytes.
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

use tun_rs::{DeviceBuilder, GROTable, SyncDevice, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

use super::device::{is_would_block, PacketDevice};

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
    /// Queued packets (offload only), each behind `VIRTIO_NET_HDR_LEN` bytes
    /// of headroom for the header `tun-rs` writes.
    tx_bufs: Vec<Vec<u8>>,
    tx_len: usize,
    gro: GROTable,
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
            tx_bufs: Vec::new(),
            tx_len: 0,
            gro: GROTable::default(),
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

    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        if !self.offload {
            return match self.dev.send(packet) {
                Ok(_) => Ok(()),
                // The kernel's queue is full: the packet is lost, as on a
                // congested link; TCP recovers.
                Err(e) if is_would_block(&e) || e.raw_os_error() == Some(105) => Ok(()),
                Err(e) => Err(e),
            };
        }
        if self.tx_len == self.tx_bufs.len() {
            self.tx_bufs
                .push(Vec::with_capacity(VIRTIO_NET_HDR_LEN + self.mtu));
        }
        let b = &mut self.tx_bufs[self.tx_len];
        b.clear();
        b.resize(VIRTIO_NET_HDR_LEN, 0);
        b.extend_from_slice(packet);
        self.tx_len += 1;
        if self.tx_len >= IDEAL_BATCH_SIZE {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.tx_len == 0 {
            return Ok(());
        }
        let n = core::mem::take(&mut self.tx_len);
        match self
            .dev
            .send_multiple(&mut self.gro, &mut self.tx_bufs[..n], VIRTIO_NET_HDR_LEN)
        {
            Ok(_) => Ok(()),
            Err(e) if is_would_block(&e) || e.raw_os_error() == Some(105) => Ok(()),
            Err(e) if e.raw_os_error().is_none() => {
                tracing::debug!(error = %e, "dropped a batch the TUN device could not coalesce");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn mtu(&self) -> usize {
        self.mtu
    }
}

impl AsFd for TunDevice {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.dev.as_fd()
    }
}
