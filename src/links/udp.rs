//! IP packets carried in UDP datagrams: a point-to-point link between two
//! synfin processes that needs no privileges (each datagram's payload is one
//! whole IPv4 or IPv6 packet, nothing else).
//!
//! ```no_run
//! use synfin::links::udp::UdpLink;
//!
//! let link = UdpLink::open("127.0.0.1:40001".parse().unwrap(), "127.0.0.1:40002".parse().unwrap(), 1500)?;
//! # let _ = link;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};

use super::device::{is_would_block, PacketDevice};

/// Most datagrams read in one [`PacketDevice::recv_batch`] call.
const READS_PER_BATCH: usize = 64;

/// One end of a UDP tunnel.
#[derive(Debug)]
pub struct UdpLink {
    sock: UdpSocket,
    peer: SocketAddr,
    mtu: usize,
    buf: Vec<u8>,
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
            buf: vec![0; mtu + 1],
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
}

impl PacketDevice for UdpLink {
    fn recv_batch(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
        let mut count = 0;
        for _ in 0..READS_PER_BATCH {
            match self.sock.recv(&mut self.buf) {
                Ok(n) if n > self.mtu => {
                    tracing::debug!(len = n, "dropped an oversized UDP datagram");
                }
                Ok(n) => {
                    f(&self.buf[..n]);
                    count += 1;
                }
                Err(e) if is_would_block(&e) => break,
                // ICMP port unreachable from a peer that is not up yet:
                // the packet is lost, TCP retransmits.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e),
            }
        }
        Ok(count)
    }

    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        match self.sock.send(packet) {
            Ok(_) => Ok(()),
            // No buffer space or the peer is not listening yet: lost on the
            // link, as any datagram may be.
            Err(e)
                if is_would_block(&e)
                    || e.kind() == io::ErrorKind::ConnectionRefused
                    || e.raw_os_error() == Some(105) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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
