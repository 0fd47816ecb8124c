//! Wire formats: IPv4, IPv6, TCP, checksums.
//!
//! smoltcp-style discipline: checked zero-copy views (`*Packet::new_checked`,
//! [`TcpSegment::new_checked`]) validate lengths once, after which accessors
//! cannot panic; `*Repr` types are the parsed, owned-ish form with `parse` and
//! `emit`. Malformed, truncated or bad-checksum input yields a [`WireError`].

#![warn(missing_docs)]

pub mod checksum;
pub mod control;
pub(crate) mod fast;
pub mod ip;
pub mod offload;
pub mod seq;
pub(crate) mod syn;
pub mod tcp;
pub mod template;
mod tuple;

use std::net::IpAddr;

pub use ip::{parse_ip, Ecn, IpRepr, Ipv4Packet, Ipv6Packet, PROTO_TCP};
pub use seq::SeqNum;
pub use tcp::{SackBlocks, TcpFlags, TcpOptions, TcpRepr, TcpSegment};
pub use tuple::FourTuple;
pub(crate) use tuple::V4Key;

/// Why a packet could not be parsed or emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The buffer is shorter than the headers or lengths require.
    Truncated,
    /// A field has an impossible value (bad version, length, option, …).
    Malformed,
    /// A checksum did not verify.
    BadChecksum,
    /// Valid but not handled here (fragments, non-TCP protocols).
    Unsupported,
}

impl core::fmt::Display for WireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            WireError::Truncated => "truncated packet",
            WireError::Malformed => "malformed packet",
            WireError::BadChecksum => "bad checksum",
            WireError::Unsupported => "unsupported packet",
        })
    }
}

impl std::error::Error for WireError {}

/// An IP header summary plus the TCP segment it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<'a> {
    /// The IP layer.
    pub ip: IpRepr,
    /// The TCP segment; its payload borrows from the input bytes.
    pub tcp: TcpRepr<'a>,
}

/// IP + TCP in one go. Non-TCP protocol -> `Unsupported`. Verifies the IPv4
/// header checksum and the TCP checksum. Errors as in [`parse_ip`],
/// [`TcpSegment::new_checked`] and [`TcpRepr::parse`].
pub fn parse_tcp_packet(bytes: &[u8]) -> Result<TcpPacket<'_>, WireError> {
    parse_tcp_packet_with(bytes, true)
}

/// [`parse_tcp_packet`], with the TCP checksum verified only if
/// `verify_checksum` (a link that vouches for it, such as a TUN device's
/// offloads, passes `false`; the IPv4 header checksum is always verified).
pub fn parse_tcp_packet_with(
    bytes: &[u8],
    verify_checksum: bool,
) -> Result<TcpPacket<'_>, WireError> {
    // The common IPv4 shapes in one pass (fast.rs); anything it does not
    // take — errors included — goes through the layered parse below.
    if let Some(p) = fast::parse_v4(bytes, verify_checksum) {
        return Ok(p);
    }
    parse_tcp_packet_layered(bytes, verify_checksum)
}

/// [`parse_tcp_packet_with`] layer by layer ([`parse_ip`],
/// [`TcpSegment::new_checked`], [`TcpRepr::parse`]): every packet the
/// one-pass IPv4 parse does not take, and the reference its tests compare
/// it with.
#[inline(never)]
pub(crate) fn parse_tcp_packet_layered(
    bytes: &[u8],
    verify_checksum: bool,
) -> Result<TcpPacket<'_>, WireError> {
    let (ip, payload) = parse_ip(bytes)?;
    if ip.protocol != PROTO_TCP {
        return Err(WireError::Unsupported);
    }
    let seg = TcpSegment::new_checked(payload)?;
    let tcp = TcpRepr::parse(&seg, &ip.src, &ip.dst, verify_checksum)?;
    Ok(TcpPacket { ip, tcp })
}

/// Total bytes [`emit_tcp_packet`] would write: IP header (by the family of
/// `src`) + TCP header + payload.
pub fn tcp_packet_len(src: &IpAddr, tcp: &TcpRepr) -> usize {
    let ip = match src {
        IpAddr::V4(_) => 20,
        IpAddr::V6(_) => 40,
    };
    ip + tcp.header_len() + tcp.payload.len()
}

/// Writes IP header + TCP header + payload; returns total length. `hop_limit`
/// is the IPv4 TTL / IPv6 hop limit. Family mismatch (or a segment too long
/// for the IP length field) -> `Malformed`; `buf` too small -> `Truncated`.
pub fn emit_tcp_packet(
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    tcp: &TcpRepr,
    buf: &mut [u8],
) -> Result<usize, WireError> {
    emit_tcp_packet_dscp(src, dst, hop_limit, 0, tcp, buf)
}

/// [`emit_tcp_packet`] with a DSCP (RFC 2474 §3, 0..=63) in the IPv4 TOS /
/// IPv6 traffic class; the ECN bits are left Not-ECT.
pub fn emit_tcp_packet_dscp(
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    dscp: u8,
    tcp: &TcpRepr,
    buf: &mut [u8],
) -> Result<usize, WireError> {
    if src.is_ipv4() != dst.is_ipv4() {
        return Err(WireError::Malformed);
    }
    let seg_len = tcp.header_len() + tcp.payload.len();
    let total = if src.is_ipv4() { 20 } else { 40 } + seg_len;
    let ip = IpRepr {
        src,
        dst,
        protocol: PROTO_TCP,
        hop_limit,
        payload_len: seg_len,
        ecn: ip::Ecn::NotEct,
        dscp,
    };
    let buf = buf.get_mut(..total).ok_or(WireError::Truncated)?;
    let hl = ip.emit(buf)?;
    tcp.emit(&mut buf[hl..], &src, &dst)?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn tcp(payload: &[u8]) -> TcpRepr<'_> {
        TcpRepr {
            src_port: 1234,
            dst_port: 80,
            seq: SeqNum(1000),
            ack: SeqNum(0),
            flags: TcpFlags::SYN,
            window: 29200,
            urgent: 0,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some((12345, 0)),
                ..Default::default()
            },
            payload,
        }
    }

    fn addrs() -> [(IpAddr, IpAddr); 2] {
        [
            (
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
            ),
            (
                IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
                IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2)),
            ),
        ]
    }

    #[test]
    fn roundtrip_both_families() {
        for (src, dst) in addrs() {
            let t = tcp(b"payload!");
            let n = tcp_packet_len(&src, &t);
            let mut buf = vec![0u8; n + 10];
            assert_eq!(emit_tcp_packet(src, dst, 64, &t, &mut buf), Ok(n));
            let p = parse_tcp_packet(&buf[..n]).unwrap();
            assert_eq!(p.tcp, t);
            assert_eq!(p.ip.src, src);
            assert_eq!(p.ip.dst, dst);
            assert_eq!(p.ip.hop_limit, 64);
            assert_eq!(p.ip.protocol, PROTO_TCP);
            assert_eq!(p.ip.payload_len, t.header_len() + 8);
            // Link padding after the packet is ignored.
            assert_eq!(parse_tcp_packet(&buf).unwrap().tcp, t);
            // Truncation at every length errors, never panics.
            for k in 0..n {
                assert!(parse_tcp_packet(&buf[..k]).is_err(), "len {k}");
            }
            // Too-small output buffers.
            for k in 0..n {
                assert_eq!(
                    emit_tcp_packet(src, dst, 64, &t, &mut buf[..k]),
                    Err(WireError::Truncated)
                );
            }
            // Corrupt the TCP payload -> BadChecksum.
            let mut c = buf[..n].to_vec();
            c[n - 1] ^= 0x80;
            assert_eq!(parse_tcp_packet(&c), Err(WireError::BadChecksum));
        }
    }

    #[test]
    fn family_mismatch_and_non_tcp() {
        let [(s4, _), (_, d6)] = addrs();
        let t = tcp(b"");
        assert_eq!(
            emit_tcp_packet(s4, d6, 64, &t, &mut [0; 200]),
            Err(WireError::Malformed)
        );
        let ip = IpRepr {
            src: s4,
            dst: s4,
            protocol: 17,
            hop_limit: 1,
            payload_len: 8,
            ecn: Ecn::NotEct,
            dscp: 0,
        };
        let mut buf = [0u8; 28];
        ip.emit(&mut buf).unwrap();
        assert_eq!(parse_tcp_packet(&buf), Err(WireError::Unsupported));
    }

    #[test]
    fn error_display() {
        assert_eq!(WireError::BadChecksum.to_string(), "bad checksum");
        let e: Box<dyn std::error::Error> = Box::new(WireError::Truncated);
        assert_eq!(e.to_string(), "truncated packet");
    }
}
