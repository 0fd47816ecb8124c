//! One sans-IO [`Stack`] on one real [`PacketDevice`], in real time: the
//! driver loop the `synfin serve` / `connect` commands run.
//!
//! Each [`DeviceHost::pump`] moves everything that is due without blocking:
//! packets read from the device go to the stack (through the optional
//! [`Impairment`]), due timers fire, and the stack's packets go to the
//! device. [`DeviceHost::wait`] sleeps in `poll(2)` until the device is
//! readable or the stack's next deadline. An application acts on
//! [`DeviceHost::stack`] between the two, at [`DeviceHost::now`].
//!
//! ```no_run
//! use synfin::links::host::DeviceHost;
//! use synfin::links::udp::UdpLink;
//! use synfin::stack::{Stack, StackConfig};
//!
//! let link = UdpLink::open("127.0.0.1:40001".parse().unwrap(), "127.0.0.1:40002".parse().unwrap(), 1500)?;
//! let mut stack = Stack::new(StackConfig::default(), 7);
//! stack.add_address("198.18.1.2".parse().unwrap());
//! let mut host = DeviceHost::new(stack, link);
//! let l = host.stack.listen("198.18.1.2:80".parse().unwrap(), 16).unwrap();
//! loop {
//!     host.pump()?;
//!     if let Ok((conn, peer)) = host.stack.accept(l) {
//!         println!("{peer} connected");
//!         # let _ = conn; break;
//!     }
//!     host.wait(None)?;
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::path::Path;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::device::PacketDevice;
use super::impair::{Direction, ImpairStats, Impairment};
use super::pcap::PcapCapture;
use super::LinkModel;
use crate::stack::Stack;
use crate::time::Instant;

/// Counters of the packets a [`DeviceHost`] moved.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct HostStats {
    /// Packets read from the device.
    pub rx_packets: u64,
    /// Bytes read from the device.
    pub rx_bytes: u64,
    /// Packets written to the device.
    pub tx_packets: u64,
    /// Bytes written to the device.
    pub tx_bytes: u64,
}

/// A stack driven over a real device.
pub struct DeviceHost<D: PacketDevice> {
    /// The stack; act on it between [`pump`](Self::pump) calls, at
    /// [`now`](Self::now).
    pub stack: Stack,
    device: D,
    impair: Option<Impairment>,
    pcap: Option<PcapCapture>,
    origin: std::time::Instant,
    buf: Vec<u8>,
    stats: HostStats,
    /// The device completes TCP checksums: the stack's packets are
    /// polled with partial ones.
    tx_partial: bool,
}

impl<D: PacketDevice> core::fmt::Debug for DeviceHost<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeviceHost")
            .field("stats", &self.stats)
            .field("impair", &self.impair)
            .finish_non_exhaustive()
    }
}

impl<D: PacketDevice> DeviceHost<D> {
    /// `stack` on `device`; the stack's clock starts at zero now. A device
    /// that completes TCP checksums (a TUN device with offloads) gets the
    /// stack's segments with partial ones
    /// ([`Stack::poll_transmit_offload`]).
    pub fn new(stack: Stack, mut device: D) -> DeviceHost<D> {
        let mtu = device.mtu().clamp(68, 65535);
        let tx_partial = device.set_tx_checksum_offload(true);
        DeviceHost {
            tx_partial,
            stack,
            device,
            impair: None,
            pcap: None,
            origin: std::time::Instant::now(),
            buf: vec![0; mtu],
            stats: HostStats::default(),
        }
    }

    /// Puts `model` on both directions of the link (faults drawn from
    /// `seed`).
    ///
    /// The stack's checksums are then complete (transmit checksum offload
    /// off): a segment the model corrupts must fail the receiver's check,
    /// which the kernel skips for a partial checksum it completes itself.
    pub fn impair(&mut self, model: LinkModel, seed: u64) {
        self.impair = Some(Impairment::new(model, seed));
        self.set_tx_checksum_offload(false);
    }

    /// Turns the stack's transmit checksum offload on (if the device
    /// completes checksums) or off, for device and stack together;
    /// returns whether it is on. Before traffic.
    pub fn set_tx_checksum_offload(&mut self, on: bool) -> bool {
        self.tx_partial = self.device.set_tx_checksum_offload(on);
        self.tx_partial
    }

    /// Whether the stack's segments go to the device with partial
    /// checksums for it to complete.
    pub fn tx_checksum_offload(&self) -> bool {
        self.tx_partial
    }

    /// Captures every packet read from or written to the device into a pcap
    /// file at `path` (timestamps are wall-clock time). The stack's
    /// checksums are then complete (transmit checksum offload off), as a
    /// capture's readers expect.
    pub fn capture(&mut self, path: &Path) -> io::Result<()> {
        self.pcap = Some(PcapCapture::create(path)?);
        self.set_tx_checksum_offload(false);
        Ok(())
    }

    /// The stack's clock: time since this host was made.
    pub fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.device
    }

    /// Packet counters.
    pub fn stats(&self) -> HostStats {
        self.stats
    }

    /// What the impairment did, if there is one.
    pub fn impair_stats(&self) -> Option<ImpairStats> {
        self.impair.as_ref().map(Impairment::stats)
    }

    /// Moves everything due now, without blocking: device → stack, timers,
    /// stack → device. Returns whether any packet moved or timer fired.
    pub fn pump(&mut self) -> io::Result<bool> {
        let now = self.now();
        let mut progressed = false;
        // Device → stack. Without a capture or a link model (which want
        // every packet as it would cross a wire), offloaded segments go to
        // the stack whole.
        if self.impair.is_none() && self.pcap.is_none() {
            let DeviceHost {
                stack,
                device,
                stats,
                ..
            } = self;
            let n = device.recv_offloaded(&mut |pkt, trusted| {
                stats.rx_packets += 1;
                stats.rx_bytes += pkt.len() as u64;
                if trusted {
                    stack.handle_packet_trusted(now, pkt);
                } else {
                    stack.handle_packet(now, pkt);
                }
            })?;
            progressed |= n > 0;
        } else {
            let DeviceHost {
                stack,
                device,
                impair,
                pcap,
                stats,
                ..
            } = self;
            let n = device.recv_batch(&mut |pkt| {
                stats.rx_packets += 1;
                stats.rx_bytes += pkt.len() as u64;
                if let Some(c) = pcap.as_mut() {
                    c.record(wall_clock(), pkt);
                }
                match impair.as_mut() {
                    Some(imp) => imp.offer(Direction::In, now, pkt),
                    None => stack.handle_packet(now, pkt),
                }
            })?;
            progressed |= n > 0;
        }
        if let Some(imp) = self.impair.as_mut() {
            while let Some(p) = imp.pop_due(Direction::In, now) {
                self.stack.handle_packet(now, &p);
                progressed = true;
            }
        }
        // Timers.
        if self.stack.poll_timeout().is_some_and(|t| t <= now) {
            self.stack.handle_timeout(now);
            progressed = true;
        }
        // Stack → device.
        progressed |= self.transmit(now)?;
        Ok(progressed)
    }

    /// Sends whatever the stack has to send at `now` (after an application
    /// call, say), and the impairment's due packets.
    pub fn transmit(&mut self, now: Instant) -> io::Result<bool> {
        let mut progressed = false;
        if self.impair.is_none() && self.pcap.is_none() {
            // Nothing needs a copy of the packet: the stack builds each one
            // in the device's buffer (a TUN device with offloads lends its
            // super-packet's).
            let (stack, partial) = (&mut self.stack, self.tx_partial);
            let mut poll = |b: &mut [u8]| {
                if partial {
                    stack.poll_transmit_offload(now, b)
                } else {
                    stack.poll_transmit(now, b)
                }
            };
            while let Some(n) = self.device.send_built(&mut self.buf, &mut poll)? {
                progressed = true;
                self.stats.tx_packets += 1;
                self.stats.tx_bytes += n as u64;
            }
            self.device.flush()?;
            return Ok(progressed);
        }
        loop {
            let n = if self.tx_partial {
                self.stack.poll_transmit_offload(now, &mut self.buf)
            } else {
                self.stack.poll_transmit(now, &mut self.buf)
            };
            let Some(n) = n else { break };
            progressed = true;
            let Some(pkt) = self.buf.get(..n) else {
                continue;
            };
            match self.impair.as_mut() {
                Some(imp) => imp.offer(Direction::Out, now, pkt),
                None => {
                    Self::put(&mut self.device, &mut self.pcap, &mut self.stats, pkt)?;
                }
            }
        }
        if let Some(imp) = self.impair.as_mut() {
            while let Some(p) = imp.pop_due(Direction::Out, now) {
                Self::put(&mut self.device, &mut self.pcap, &mut self.stats, &p)?;
                progressed = true;
            }
        }
        self.device.flush()?;
        Ok(progressed)
    }

    fn put(
        device: &mut D,
        pcap: &mut Option<PcapCapture>,
        stats: &mut HostStats,
        pkt: &[u8],
    ) -> io::Result<()> {
        stats.tx_packets += 1;
        stats.tx_bytes += pkt.len() as u64;
        if let Some(c) = pcap.as_mut() {
            c.record(wall_clock(), pkt);
        }
        device.send(pkt)
    }

    /// When the stack or the impairment next has work without new input.
    pub fn next_deadline(&self) -> Option<Instant> {
        let a = self.stack.poll_timeout();
        let b = self.impair.as_ref().and_then(Impairment::next_deadline);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Blocks until the device is readable, the next deadline passes, or
    /// `max` elapses (`None`: no bound but the deadline).
    pub fn wait(&mut self, max: Option<Duration>) -> io::Result<()> {
        let now = self.now();
        let until_deadline = self
            .next_deadline()
            .map(|t| t.saturating_duration_since(now));
        let d = match (until_deadline, max) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        wait_readable(&[self.device.as_fd()], d).map(drop)
    }

    /// Flushes the capture file, if any.
    pub fn flush_capture(&mut self) -> io::Result<()> {
        match self.pcap.as_mut() {
            Some(c) => c.flush(),
            None => Ok(()),
        }
    }
}

/// `poll(2)` for readability of `fds` for at most `timeout` (`None`:
/// forever), rounded up to whole milliseconds so a deadline is never
/// missed by waking early and spinning. Returns which fds are readable.
pub fn wait_readable(
    fds: &[std::os::fd::BorrowedFd<'_>],
    timeout: Option<Duration>,
) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    let t = match timeout {
        None => PollTimeout::NONE,
        Some(d) => {
            let ms = d.as_micros().div_ceil(1000);
            PollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
        }
    };
    match poll(&mut pfds, t) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => {}
        Err(e) => return Err(io::Error::from(e)),
    }
    Ok(pfds
        .iter()
        .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
        .collect())
}

/// Wall-clock time as an [`Instant`] since the Unix epoch, for pcap
/// timestamps that line up with other captures.
fn wall_clock() -> Instant {
    let us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Instant::from_micros(us)
}
