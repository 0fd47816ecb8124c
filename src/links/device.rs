//! What a real link looks like to synfin: something that carries whole IP
//! packets, can be read without blocking, and has a file descriptor to wait
//! on. The TUN device ([`super::tun`]) and the UDP tunnel ([`super::udp`])
//! implement it; [`super::host::DeviceHost`] drives a stack over either.

use std::io;
use std::os::fd::AsFd;

/// A packet link backed by a file descriptor.
///
/// Reads and writes never block: [`recv_batch`](Self::recv_batch) returns
/// what is available now, and [`send`](Self::send) queues a packet that
/// [`flush`](Self::flush) (or a full batch) writes out. Batching is what the
/// device allows: a TUN device with offloads coalesces a batch of segments
/// into one TSO super-packet; the UDP tunnel batches with `recvmmsg` and
/// `sendmmsg`.
pub trait PacketDevice: AsFd {
    /// Reads the packets available now (at most a batch), calling `f` with
    /// each whole IP packet; returns how many were read (0: nothing ready).
    fn recv_batch(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<usize>;
    /// Like [`recv_batch`](Self::recv_batch), but a device with receive
    /// offloads may hand over TCP segments larger than its MTU (the
    /// kernel's TSO super-packets, not split), and says with each packet
    /// whether its TCP checksum needs no verification (`true`: the kernel
    /// vouches for it — verified, or partial because the packet never
    /// crossed a wire). The default is `recv_batch`, every checksum to be
    /// verified.
    fn recv_offloaded(&mut self, f: &mut dyn FnMut(&[u8], bool)) -> io::Result<usize> {
        self.recv_batch(&mut |p| f(p, false))
    }
    /// Queues one IP packet for sending.
    fn send(&mut self, packet: &[u8]) -> io::Result<()>;
    /// Queues the packet `write` builds (at most [`mtu`](Self::mtu)
    /// bytes; it returns the length, or `None` when it has nothing to
    /// send) and returns its length. A device that batches may lend its
    /// own buffer, saving the copy [`send`](Self::send) makes: a TUN device
    /// with offloads has each segment built where it belongs in the
    /// super-packet. The default builds into `scratch` and calls `send`.
    fn send_built(
        &mut self,
        scratch: &mut [u8],
        write: &mut dyn FnMut(&mut [u8]) -> Option<usize>,
    ) -> io::Result<Option<usize>> {
        send_from_scratch(self, scratch, write)
    }
    /// Writes every queued packet.
    fn flush(&mut self) -> io::Result<()>;
    /// Asks the device to complete the TCP checksum of every packet it is
    /// given from now on (they carry only the pseudo-header sum:
    /// [`Stack::poll_transmit_offload`](crate::stack::Stack::poll_transmit_offload),
    /// wire/offload.rs), or (`false`) to send them as they are. Returns
    /// whether it will complete them; the default, a device that cannot,
    /// says `false`. Set before traffic: a packet queued before the change
    /// may go out under the other setting.
    fn set_tx_checksum_offload(&mut self, on: bool) -> bool {
        let _ = on;
        false
    }
    /// The largest IP packet the link carries.
    fn mtu(&self) -> usize;
}

/// [`PacketDevice::send_built`] for a device that lends nothing: `write`
/// builds the packet in `scratch`, and [`PacketDevice::send`] queues it.
pub(crate) fn send_from_scratch<D: PacketDevice + ?Sized>(
    device: &mut D,
    scratch: &mut [u8],
    write: &mut dyn FnMut(&mut [u8]) -> Option<usize>,
) -> io::Result<Option<usize>> {
    let Some(n) = write(scratch) else {
        return Ok(None);
    };
    let n = n.min(scratch.len());
    device.send(&scratch[..n])?;
    Ok(Some(n))
}

/// Whether an I/O error only means "nothing to do now".
pub(crate) fn is_would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}
