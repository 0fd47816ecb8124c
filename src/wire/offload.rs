//! Transmit checksum offload: TCP segments whose checksum field carries
//! only the pseudo-header sum, for a device that completes the checksum
//! itself.
//!
//! A NIC with checksum offload (or the kernel behind a TUN device opened
//! with `IFF_VNET_HDR`, told so by the virtio-net header's `NEEDS_CSUM`
//! flag, virtio spec 1.1 §5.1.6.2) is handed each TCP segment with its
//! checksum field holding the folded, uncomplemented sum of the
//! pseudo-header (RFC 9293 §3.1: addresses, protocol, TCP length); it sums
//! the segment from the TCP header onwards over that seed and writes the
//! complement into the field. The sender then never reads its payload to
//! checksum it: the copy out of the send queue is a plain copy. This is
//! Linux's `CHECKSUM_PARTIAL` (`tcp_v4_send_check`).
//!
//! [`Stack::poll_transmit_offload`](crate::stack::Stack::poll_transmit_offload)
//! writes every TCP segment partial in this way: the bulk sender's full
//! segments directly (no payload sum at all), every other segment (ACKs,
//! SYNs, RSTs, retransmissions: few, and cold) whole and then made
//! partial by [`make_partial`]. [`DeviceHost`](crate::links::host::DeviceHost)
//! uses it when its device completes checksums
//! ([`PacketDevice::set_tx_checksum_offload`](crate::links::device::PacketDevice::set_tx_checksum_offload)).
//!
//! ```
//! use synfin::wire::{self, offload, TcpFlags, TcpRepr, TcpOptions, SeqNum};
//! let (src, dst) = ("198.18.0.2".parse().unwrap(), "198.18.0.1".parse().unwrap());
//! let repr = TcpRepr {
//!     src_port: 5000, dst_port: 40000, seq: SeqNum(1), ack: SeqNum(2),
//!     flags: TcpFlags::ACK, window: 1000, urgent: 0,
//!     options: TcpOptions::default(), payload: b"hello",
//! };
//! let mut buf = [0u8; 64];
//! let n = wire::emit_tcp_packet(src, dst, 64, &repr, &mut buf).unwrap();
//! let whole = buf;
//! assert!(offload::make_partial(&mut buf[..n]));
//! assert_ne!(buf, whole);
//! assert!(offload::complete(&mut buf[..n]));
//! assert_eq!(buf, whole);
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{checksum, PROTO_TCP};

/// Where the TCP header of an IP packet starts, if the packet is TCP and
/// whole: IPv4 (any header length, not a fragment) or IPv6 with TCP as the
/// first next header. `None` for anything else (which has no TCP
/// checksum to offload).
pub fn tcp_offset(pkt: &[u8]) -> Option<usize> {
    let at = match pkt.first()? >> 4 {
        4 => {
            let ihl = usize::from(pkt[0] & 0x0f) * 4;
            let whole = pkt.len() >= 20
                && ihl >= 20
                && pkt[9] == PROTO_TCP
                // MF clear, fragment offset zero.
                && u16::from_be_bytes([pkt[6], pkt[7]]) & 0x3fff == 0;
            whole.then_some(ihl)?
        }
        6 => (pkt.len() >= 40 && pkt[6] == PROTO_TCP).then_some(40)?,
        _ => return None,
    };
    // The checksum field lies within the packet.
    (pkt.len() >= at + 18).then_some(at)
}

/// The folded pseudo-header sum of the TCP segment at `at` in `pkt`
/// (addresses from the IP header, the segment's length from the packet's):
/// what a partial checksum field holds.
fn pseudo_sum(pkt: &[u8], at: usize) -> u16 {
    let (src, dst) = if pkt[0] >> 4 == 4 {
        let a: [u8; 4] = pkt[12..16].try_into().expect("4 bytes");
        let b: [u8; 4] = pkt[16..20].try_into().expect("4 bytes");
        (IpAddr::V4(Ipv4Addr::from(a)), IpAddr::V4(Ipv4Addr::from(b)))
    } else {
        let a: [u8; 16] = pkt[8..24].try_into().expect("16 bytes");
        let b: [u8; 16] = pkt[24..40].try_into().expect("16 bytes");
        (IpAddr::V6(Ipv6Addr::from(a)), IpAddr::V6(Ipv6Addr::from(b)))
    };
    let len = (pkt.len() - at) as u32;
    checksum::fold(checksum::pseudo_header(&src, &dst, PROTO_TCP, len))
}

/// Replaces the TCP checksum of `pkt` (an IP packet, its checksum complete
/// or not) with the pseudo-header sum a device completes. Returns `false`,
/// changing nothing, for a packet that is not TCP ([`tcp_offset`]).
#[cold]
#[inline(never)]
pub fn make_partial(pkt: &mut [u8]) -> bool {
    let Some(at) = tcp_offset(pkt) else {
        return false;
    };
    let p = pseudo_sum(pkt, at);
    pkt[at + 16..at + 18].copy_from_slice(&p.to_be_bytes());
    true
}

/// Completes the partial TCP checksum of `pkt` as the device would: the
/// sum of the segment from its header on, seeded by the field's
/// pseudo-header sum, complemented into the field. Returns `false`,
/// changing nothing, for a packet that is not TCP. For captures of a stack
/// whose segments are partial, and for tests.
pub fn complete(pkt: &mut [u8]) -> bool {
    let Some(at) = tcp_offset(pkt) else {
        return false;
    };
    finish(pkt, at, at + 16)
}

/// Completes a partial checksum: the sum from `start` to the end of `pkt`,
/// seeded by the pseudo-header sum the field at `field` holds, goes into
/// that field (what a device does for `NEEDS_CSUM`, virtio 1.1 §5.1.6.2).
/// `false`, changing nothing, if the field is not inside `pkt`.
pub fn finish(pkt: &mut [u8], start: usize, field: usize) -> bool {
    if start > field || field + 2 > pkt.len() {
        return false;
    }
    let seed = u64::from(u16::from_be_bytes([pkt[field], pkt[field + 1]]));
    pkt[field] = 0;
    pkt[field + 1] = 0;
    let c = !checksum::fold(checksum::sum(&pkt[start..], seed));
    pkt[field..field + 2].copy_from_slice(&c.to_be_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{self, SeqNum, TcpFlags, TcpOptions, TcpRepr};
    use proptest::prelude::*;

    fn packet(v6: bool, payload: &[u8], flags: TcpFlags) -> Vec<u8> {
        let (src, dst): (IpAddr, IpAddr) = if v6 {
            (
                "2001:db8::2".parse().unwrap(),
                "2001:db8::1".parse().unwrap(),
            )
        } else {
            ("198.18.0.2".parse().unwrap(), "198.18.0.1".parse().unwrap())
        };
        let repr = TcpRepr {
            src_port: 5000,
            dst_port: 40_000,
            seq: SeqNum(0xdead_beef),
            ack: SeqNum(7),
            flags,
            window: 512,
            urgent: 0,
            options: TcpOptions {
                timestamps: Some((1, 2)),
                ..TcpOptions::default()
            },
            payload,
        };
        let mut buf = vec![0u8; 100 + payload.len()];
        let n = wire::emit_tcp_packet(src, dst, 64, &repr, &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    proptest! {
        /// Partial, then completed: the packet written whole, for both
        /// families and any payload.
        #[test]
        fn partial_then_completed_is_whole(
            v6 in any::<bool>(),
            payload in proptest::collection::vec(any::<u8>(), 0..1500),
        ) {
            let whole = packet(v6, &payload, TcpFlags::ACK | TcpFlags::PSH);
            let mut p = whole.clone();
            prop_assert!(make_partial(&mut p));
            prop_assert!(complete(&mut p));
            prop_assert_eq!(&p, &whole);
            prop_assert!(wire::parse_tcp_packet(&p).is_ok());
        }
    }

    #[test]
    fn partial_field_is_the_pseudo_header_sum() {
        let mut p = packet(false, b"abc", TcpFlags::ACK);
        assert!(make_partial(&mut p));
        let tcp_len = (p.len() - 20) as u32;
        let want = checksum::fold(checksum::pseudo_header(
            &"198.18.0.2".parse().unwrap(),
            &"198.18.0.1".parse().unwrap(),
            PROTO_TCP,
            tcp_len,
        ));
        assert_eq!(u16::from_be_bytes([p[36], p[37]]), want);
    }

    #[test]
    fn not_tcp_is_left_alone() {
        let mut p = packet(false, b"x", TcpFlags::ACK);
        p[9] = 17; // UDP
        let before = p.clone();
        assert!(!make_partial(&mut p));
        assert!(!complete(&mut p));
        assert_eq!(p, before);
        // A fragment, a truncated packet, nothing at all.
        let mut f = packet(false, b"x", TcpFlags::ACK);
        f[6] |= 0x20;
        assert_eq!(tcp_offset(&f), None);
        assert_eq!(tcp_offset(&before[..30]), None);
        assert_eq!(tcp_offset(&[]), None);
        assert_eq!(tcp_offset(&packet(true, b"", TcpFlags::SYN)), Some(40));
    }
}
