//! The handshake's segments as they usually come, read straight from the
//! bytes: an IPv4 packet without options or fragmentation carrying a SYN
//! or a SYN-ACK (ECE and CWR allowed: ECN setup, RFC 3168 §6.1.1) with no
//! payload and exactly the options both synfin and Linux put on one —
//! `MSS; SACK-permitted, TS; NOP, WS` (20 bytes, the layout
//! [`TcpOptions::emit`](super::TcpOptions::emit) writes and
//! [`TcpOptions::parse`](super::TcpOptions::parse) reads at once).
//!
//! Every connection's handshake has one of each: the server's SYN and the
//! client's SYN-ACK. The general parser walks to the same fields through
//! a general option parse; this reads them at fixed offsets into the
//! [`TcpPacket`] the general parser gives (the tests below compare them
//! on arbitrary bytes), so the two segments share one parse. The SYN-ACK
//! of a connection in SYN-SENT then takes `Stack::receive_syn_ack`, the
//! SYN (and any other) the general path from its parse.
//! [`SynSegment::parse`] answers `None` for anything else, and the caller
//! then runs the general parser, which accepts, rejects or counts the
//! packet exactly as before. The TCP checksum is the caller's
//! ([`SynSegment::verify`]), summed from the words already read.

use super::fast::{be16, be32, ipv4_repr, ipv4_tcp, pseudo_v4, sum_header_le};
use super::ip::IPV4_HEADER_LEN;
use super::tcp::{TcpFlags, TcpOptions, TcpRepr, MAX_WINDOW_SCALE};
use super::{checksum, SeqNum, TcpPacket};

/// TCP header plus the usual options.
const SYN_LEN: usize = 40;

/// The flags a usual SYN or SYN-ACK may carry besides SYN.
const OTHER_FLAGS: u8 = TcpFlags::ACK.0 | TcpFlags::ECE.0 | TcpFlags::CWR.0;

/// A usual-shape SYN or SYN-ACK (module docs), fields read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SynSegment<'a> {
    /// IPv4 source address (the remote end).
    pub src: [u8; 4],
    /// IPv4 destination address (the local end).
    pub dst: [u8; 4],
    /// The packet as the general parser reads it.
    pub packet: TcpPacket<'a>,
    /// Unfolded sum of the pseudo-header and the whole segment (RFC 9293
    /// §3.1): it folds to 0xffff when the checksum is right.
    sum: u64,
}

/// The TCP flags byte of `packet` if it is an IPv4 packet without IP
/// options (for anything else, a byte whose value means nothing), or
/// `None` if the packet is shorter: the receive path's first look at a
/// packet, before any parse.
#[inline(always)]
fn v4_flags_byte(packet: &[u8]) -> Option<u8> {
    packet.get(IPV4_HEADER_LEN + 13).copied()
}

/// Whether `packet` may be a SYN or a SYN-ACK: the TCP flags byte of an
/// IPv4 packet without options is SYN, maybe with ACK, ECE and CWR. The one
/// test the receive path makes before handing a packet to
/// [`SynSegment::parse`].
#[inline(always)]
pub(crate) fn looks_like_syn(packet: &[u8]) -> bool {
    v4_flags_byte(packet).is_some_and(|f| f & !OTHER_FLAGS == TcpFlags::SYN.0)
}

/// Whether `packet` may carry SYN, so that header prediction and the
/// light paths (which never take a SYN) need not look at it: its flags
/// byte has SYN, or the packet is too short to have one. A false yes (an
/// IPv4 packet with options, another family) only sends the packet to the
/// general path, which is right for any packet; a false no reaches the
/// fast parse, which refuses a SYN itself.
#[inline(always)]
pub(crate) fn may_carry_syn(packet: &[u8]) -> bool {
    v4_flags_byte(packet).is_none_or(|f| f & TcpFlags::SYN.0 != 0)
}

impl<'a> SynSegment<'a> {
    /// Reads `packet` if it is a usual-shape SYN or SYN-ACK (module docs),
    /// else `None`. Never panics; the TCP checksum is not checked here.
    #[inline(always)]
    pub fn parse(packet: &'a [u8]) -> Option<SynSegment<'a>> {
        let (ip, tcp) = ipv4_tcp(packet)?;
        // No payload: the header and its options are the whole segment.
        let tcp: &[u8; SYN_LEN] = tcp.try_into().ok()?;
        let flags = TcpFlags(tcp[13]);
        if tcp[12] >> 4 != (SYN_LEN / 4) as u8 || flags.0 & !OTHER_FLAGS != TcpFlags::SYN.0 {
            return None;
        }
        // Kinds 2 (MSS), 4 (SACK-permitted), 8 (TS), 1 (NOP), 3 (WS).
        let [2, 4, m0, m1, 4, 2, 8, 10, v0, v1, v2, v3, e0, e1, e2, e3, 1, 3, 3, shift] = tcp[20..]
        else {
            return None;
        };
        // The IPv4 header checksum (RFC 791 §3.1), as `FastSegment::parse`.
        if checksum::fold(sum_header_le(ip)) != 0xffff {
            return None;
        }
        let (src, dst) = (
            [ip[12], ip[13], ip[14], ip[15]],
            [ip[16], ip[17], ip[18], ip[19]],
        );
        let th: &[u8; 20] = tcp[..20].try_into().ok()?;
        // The pseudo-header, the header, then the option words as read.
        let mut sum = pseudo_v4(src, dst, SYN_LEN) + sum_header_le(th).rotate_left(8);
        for at in (20..SYN_LEN).step_by(4) {
            sum += u64::from(be32(tcp, at));
        }
        let (tsval, tsecr) = (
            u32::from_be_bytes([v0, v1, v2, v3]),
            u32::from_be_bytes([e0, e1, e2, e3]),
        );
        Some(SynSegment {
            src,
            dst,
            packet: TcpPacket {
                ip: ipv4_repr(ip, SYN_LEN),
                tcp: TcpRepr {
                    src_port: be16(th, 0),
                    dst_port: be16(th, 2),
                    seq: SeqNum(be32(th, 4)),
                    ack: SeqNum(be32(th, 8)),
                    flags,
                    window: be16(th, 14),
                    urgent: be16(th, 18),
                    options: TcpOptions {
                        mss: Some(u16::from_be_bytes([m0, m1])),
                        window_scale: Some(shift.min(MAX_WINDOW_SCALE)),
                        sack_permitted: true,
                        timestamps: Some((tsval, tsecr)),
                        ..TcpOptions::default()
                    },
                    payload: &[],
                },
            },
            sum,
        })
    }

    /// Whether the TCP checksum is right (RFC 9293 §3.1, MUST-2/MUST-3).
    #[inline]
    pub fn verify(&self) -> bool {
        checksum::fold(self.sum) == 0xffff
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fast::parse_v4;
    use crate::wire::{emit_tcp_packet, parse_tcp_packet_with};
    use proptest::prelude::*;
    use std::net::IpAddr;

    fn syn(flags: TcpFlags, mss: u16, shift: u8, ts: (u32, u32)) -> Vec<u8> {
        let repr = TcpRepr {
            src_port: 80,
            dst_port: 49152,
            seq: SeqNum(0xffff_fff0),
            ack: SeqNum(1001),
            flags,
            window: 65535,
            urgent: 0,
            options: TcpOptions {
                mss: Some(mss),
                window_scale: Some(shift),
                sack_permitted: true,
                timestamps: Some(ts),
                ..TcpOptions::default()
            },
            payload: &[],
        };
        let (s, d): (IpAddr, IpAddr) =
            ("198.18.0.2".parse().unwrap(), "198.18.0.1".parse().unwrap());
        let mut buf = vec![0u8; 100];
        let n = emit_tcp_packet(s, d, 64, &repr, &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    /// `parse` against the general parser on the same bytes: whatever it
    /// takes, the general parser takes with the same TCP fields and the
    /// same checksum verdict.
    fn agrees(p: &[u8]) -> Option<bool> {
        let s = SynSegment::parse(p)?;
        assert!(looks_like_syn(p));
        let general = parse_v4(p, false).expect("the general parse refused it");
        assert_eq!(general, s.packet);
        assert_eq!(general.ip.src, IpAddr::from(s.src));
        assert_eq!(general.ip.dst, IpAddr::from(s.dst));
        let verified = parse_tcp_packet_with(p, true).is_ok();
        assert_eq!(s.verify(), verified, "checksum verdicts differ");
        Some(verified)
    }

    #[test]
    fn reads_the_usual_syn_and_syn_ack_as_the_general_parser_does() {
        for flags in [
            TcpFlags::SYN,
            TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR,
            TcpFlags::SYN | TcpFlags::ACK,
            TcpFlags::SYN | TcpFlags::ACK | TcpFlags::ECE,
        ] {
            for shift in [0, 7, 14, 15, 255] {
                let p = syn(flags, 1460, shift, (12345, 0));
                assert_eq!(agrees(&p), Some(true));
            }
        }
    }

    #[test]
    fn refuses_other_shapes() {
        let usual = syn(TcpFlags::SYN | TcpFlags::ACK, 1460, 7, (1, 2));
        // A SYN-ACK with FIN, RST, PSH or URG; an ACK; a RST.
        for f in [0x13u8, 0x16, 0x1a, 0x32, 0x10, 0x04] {
            let mut p = usual.clone();
            p[IPV4_HEADER_LEN + 13] = f;
            assert!(SynSegment::parse(&p).is_none(), "flags {f:#x}");
        }
        // Other option layouts: NOP in place of SACK-permitted's kind.
        let mut p = usual.clone();
        p[IPV4_HEADER_LEN + 24] = 1;
        assert!(SynSegment::parse(&p).is_none());
        // A bad IPv4 header checksum.
        let mut p = usual.clone();
        p[10] ^= 1;
        assert!(SynSegment::parse(&p).is_none());
        // A bad TCP checksum is read, and fails `verify`.
        let mut p = usual.clone();
        p[IPV4_HEADER_LEN + 16] ^= 1;
        assert_eq!(agrees(&p), Some(false));
        // Truncated.
        assert!(SynSegment::parse(&usual[..usual.len() - 1]).is_none());
    }

    proptest! {
        /// Arbitrary changes to a usual SYN-ACK's bytes: `parse` either
        /// refuses or agrees with the general parser.
        #[test]
        fn agrees_with_the_general_parser(
            edits in proptest::collection::vec((0usize..60, any::<u8>()), 0..4),
            mss in any::<u16>(), shift in any::<u8>(), ts in any::<(u32, u32)>(),
        ) {
            let mut p = syn(TcpFlags::SYN | TcpFlags::ACK, mss, shift, ts);
            for (at, b) in edits {
                if let Some(x) = p.get_mut(at) {
                    *x = b;
                }
            }
            agrees(&p);
        }
    }
}
