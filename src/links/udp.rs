//! IP packets carried in UDP datagrams: a point-to-point link between two
//! synfin processes that needs no privileges (each datagram's payload is one
//! whole IPv4 or IPv6 packet, nothing else).
//!
//! Reads and writes are batched: one `recvmmsg(2)` takes up to
//! [`BATCH`] datagrams, and the packets queued by [`PacketDevice::send`] go
//! out in one `sendmmsg(2)` at [`PacketDevice::flush`] (or when the batch is
//! full) — the `nix` crate's safe wrappers, since this crate keeps
//! `unsafe` out of everything but the checksum's vector kernels.
//!
//! ```no_run
//! use synfin::links::udp::UdpLink;
//!
//! let link = UdpLink::open("127.0.0.1:40001".parse().unwrap(), "127.0.0.1:40002".parse().unwrap(), 1500)?;
//! # let _ = link;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::sys::socket::{recvmmsg, sendmmsg, ControlMessage, MsgFlags, MultiHeaders};

use super::device::PacketDevice;

/// Most datagrams one `recvmmsg` or `sendmmsg` moves.
pub const BATCH: usize = 32;
/// Most `recvmmsg` calls in one [`PacketDevice::recv_batch`], so one busy
/// direction cannot starve the other.
const READS_PER_BATCH: usize = 4;

/// One end of a UDP tunnel.
pub struct UdpLink {
    sock: UdpSocket,
    peer: SocketAddr,
    mtu: usize,
    rx_bufs: Vec<Vec<u8>>,
    rx_sizes: Vec<(usize, bool)>,
    tx_bufs: Vec<Vec<u8>>,
    tx_len: usize,
    /// One "no address" per datagram: the socket is connected.
    no_addrs: Vec<Option<()>>,
}

impl core::fmt::Debug for UdpLink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UdpLink")
            .field("peer", &self.peer)
            .field("mtu", &self.mtu)
            .finish_non_exhaustive()
    }
}

impl UdpLink {
    /// Binds `local` and sends to (and only accepts datagrams from) `peer`.
    /// `mtu` is the largest IP packet carried (at most 65507 for UDP over
    /// IPv4).
    pub fn open(local: SocketAddr, peer: SocketAddr, mtu: usize) -> io::Result<UdpLink> {
        if !(68..=65_507).contains(&mtu) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("UDP link MTU must be 68 to 65507, got {mtu}"),
            ));
        }
        let sock = UdpSocket::bind(local)
            .map_err(|e| io::Error::new(e.kind(), format!("binding UDP {local}: {e}")))?;
        // `connect` filters out datagrams from anyone but the peer.
        sock.connect(peer)?;
        sock.set_nonblocking(true)?;
        Ok(UdpLink {
            sock,
            peer,
            mtu,
            // One byte more than the MTU, so an oversized datagram shows up
            // as too long instead of silently truncated.
            rx_bufs: vec![vec![0; mtu + 1]; BATCH],
            rx_sizes: vec![(0, false); BATCH],
            tx_bufs: (0..BATCH).map(|_| Vec::with_capacity(mtu)).collect(),
            tx_len: 0,
            no_addrs: vec![None; BATCH],
        })
    }

    /// The local UDP address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// The peer's UDP address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// One `recvmmsg`: how many datagrams arrived (their sizes and whether
    /// each was truncated in `rx_sizes`).
    fn recv_some(&mut self) -> io::Result<usize> {
        let UdpLink {
            sock,
            rx_bufs,
            rx_sizes,
            ..
        } = self;
        // The headers hold raw pointers (not `Send`), so they are made per
        // call rather than kept: a small allocation next to a system call.
        let mut hdrs = MultiHeaders::<()>::preallocate(BATCH, None);
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
            rx_bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
        let r = recvmmsg(
            sock.as_raw_fd(),
            &mut hdrs,
            iovs.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        );
        match r {
            Ok(msgs) => {
                let mut n = 0;
                for (slot, m) in rx_sizes.iter_mut().zip(msgs) {
                    *slot = (m.bytes, m.flags.contains(MsgFlags::MSG_TRUNC));
                    n += 1;
                }
                Ok(n)
            }
            Err(Errno::EAGAIN | Errno::EINTR) => Ok(0),
            // ICMP port unreachable from a peer that is not up yet: the
            // packet is lost, TCP retransmits.
            Err(Errno::ECONNREFUSED) => Ok(0),
            Err(e) => Err(io::Error::from(e)),
        }
    }
}

impl PacketDevice for UdpLink {
    fn recv_batch(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
        let mut count = 0;
        for _ in 0..READS_PER_BATCH {
            let n = self.recv_some()?;
            for (buf, &(len, truncated)) in self.rx_bufs.iter().zip(&self.rx_sizes).take(n) {
                if truncated || len > self.mtu {
                    tracing::debug!(len, "dropped an oversized UDP datagram");
                    continue;
                }
                f(&buf[..len]);
                count += 1;
            }
            if n < BATCH {
                break;
            }
        }
        Ok(count)
    }

    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        let b = &mut self.tx_bufs[self.tx_len];
        b.clear();
        b.extend_from_slice(packet);
        self.tx_len += 1;
        if self.tx_len == BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        let n = core::mem::take(&mut self.tx_len);
        if n == 0 {
            return Ok(());
        }
        let UdpLink {
            sock,
            tx_bufs,
            no_addrs,
            ..
        } = self;
        let mut hdrs = MultiHeaders::<()>::preallocate(n, None);
        let iovs: Vec<[IoSlice<'_>; 1]> = tx_bufs[..n].iter().map(|b| [IoSlice::new(b)]).collect();
        let none: [ControlMessage<'_>; 0] = [];
        let r = sendmmsg(
            sock.as_raw_fd(),
            &mut hdrs,
            iovs.iter(),
            &no_addrs[..n],
            none,
            MsgFlags::MSG_DONTWAIT,
        );
        match r {
            // Fewer sent than queued (the socket buffer filled up): the
            // rest is lost on the link, as any datagram may be.
            Ok(_) => Ok(()),
            // No buffer space, or the peer is not listening yet: lost.
            Err(Errno::EAGAIN | Errno::EINTR | Errno::ECONNREFUSED | Errno::ENOBUFS) => Ok(()),
            Err(e) => Err(io::Error::from(e)),
        }
    }

    fn mtu(&self) -> usize {
        self.mtu
    }
}

impl AsFd for UdpLink {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (UdpLink, UdpLink) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (pa, pb) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        drop((a, b));
        (
            UdpLink::open(pa, pb, 1500).unwrap(),
            UdpLink::open(pb, pa, 1500).unwrap(),
        )
    }

    #[test]
    fn batches_arrive_whole_and_in_order() {
        let (mut a, mut b) = pair();
        // More than one batch each way, of varying sizes.
        let sent: Vec<Vec<u8>> = (0..100u32)
            .map(|i| vec![i as u8; 20 + (i as usize * 13) % 1400])
            .collect();
        for p in &sent {
            a.send(p).unwrap();
        }
        a.flush().unwrap();
        let mut got = Vec::new();
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while got.len() < sent.len() && std::time::Instant::now() < until {
            b.recv_batch(&mut |p| got.push(p.to_vec())).unwrap();
        }
        assert_eq!(got, sent);
        // Nothing more, nothing twice.
        assert_eq!(b.recv_batch(&mut |_| panic!("nothing more")).unwrap(), 0);
    }
}
