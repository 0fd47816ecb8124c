//! The receive fast path's view of a packet: an IPv4 packet carrying a
//! TCP segment of the one shape header prediction (RFC 9293 §3.10.7.4
//! order, Van Jacobson's fast path, RFC 7323 Appendix A) expects on an
//! established bulk connection, read straight from the bytes without
//! building an [`IpRepr`](super::IpRepr) or a [`TcpRepr`](super::TcpRepr).
//!
//! [`FastSegment::parse`] answers `None` for anything else — IPv6, IPv4
//! options, fragments, a bad IPv4 header checksum, any TCP option layout
//! but none or `NOP,NOP,TS`, any control bit but ACK, PSH and FIN —
//! and the caller then takes the general path ([`parse_tcp_packet_with`]),
//! which accepts, rejects or counts the packet exactly as before. So every
//! packet this accepts is one the general parser accepts with the same
//! fields (`tests` below check that), except for the TCP checksum, which is
//! left to the caller: it is verified while the payload is copied into the
//! receive queue ([`FastSegment::verify_payload`]), or in place for a
//! segment that is not copied ([`FastSegment::verify`]).
//!
//! [`parse_tcp_packet_with`]: super::parse_tcp_packet_with

use std::net::{IpAddr, Ipv4Addr};

use super::checksum;
use super::ip::{Ecn, IpRepr, IPV4_HEADER_LEN, PROTO_TCP};
use super::tcp::{TcpFlags, TcpOptions, TcpRepr};
use super::{SeqNum, TcpPacket, V4Key};

/// `NOP,NOP,TS,10`: the first word of the options of every segment of an
/// established connection with timestamps (RFC 7323 Appendix A).
const TS_WORD: [u8; 4] = [1, 1, 8, 10];

/// The TCP header fields header prediction and the light path look at
/// (`tcp/conn/predict.rs`), however they were read: [`FastSegment::parse`]
/// reads them here, once, into the place they are used.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct RxHeader {
    pub seq: SeqNum,
    pub ack: SeqNum,
    /// Raw (unscaled) window field.
    pub window: u16,
    /// ACK, maybe PSH and FIN when read by [`FastSegment::parse`].
    pub flags: TcpFlags,
    /// `(TSval, TSecr)` when the options were `NOP,NOP,TS`, the only
    /// option a predicted segment carries.
    pub timestamps: Option<(u32, u32)>,
    /// The IP header carried a CE mark (RFC 3168 §5).
    pub ce: bool,
}

/// A predicted-shape IPv4/TCP packet, fields read, payload borrowed: what
/// the connection's receive steps need and nothing else (the addresses and
/// ports go into the [`V4Key`] that [`FastSegment::parse`] returns beside
/// it, and the view the general path needs is read again from the bytes,
/// [`FastSegment::packet`]), so the few words written out for the light
/// path are the ones it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FastSegment<'a> {
    /// The header fields, as the connection takes them.
    pub hdr: RxHeader,
    /// Unfolded sum of the pseudo-header and the TCP header (RFC 9293 §3.1):
    /// adding the payload's sum to it and folding gives 0xffff for a
    /// segment whose checksum is right.
    pub header_sum: u64,
    /// The TCP payload (empty for a pure ACK).
    pub payload: &'a [u8],
}

#[inline(always)]
pub(super) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
#[inline(always)]
pub(super) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// An IPv4 packet without IP options carrying a whole TCP segment (version
/// 4, IHL 5, protocol TCP, neither MF nor a fragment offset, RFC 791
/// §3.1): its header and the segment up to the total length. `None` for
/// anything else. The first test of every one-pass parser here (`parse_v4`,
/// [`FastSegment::parse`], syn.rs `SynSegment::parse`).
#[inline(always)]
pub(super) fn ipv4_tcp(packet: &[u8]) -> Option<(&[u8; IPV4_HEADER_LEN], &[u8])> {
    let ip: &[u8; IPV4_HEADER_LEN] = packet.get(..IPV4_HEADER_LEN)?.try_into().ok()?;
    if ip[0] != 0x45 || ip[9] != PROTO_TCP || be16(ip, 6) & 0x3fff != 0 {
        return None;
    }
    Some((ip, packet.get(IPV4_HEADER_LEN..usize::from(be16(ip, 2)))?))
}

/// The [`IpRepr`] of an IPv4 header without options, `ip`, over a TCP
/// segment of `payload_len` bytes: what the general parser reads from it.
#[inline(always)]
pub(super) fn ipv4_repr(ip: &[u8; IPV4_HEADER_LEN], payload_len: usize) -> IpRepr {
    IpRepr {
        src: IpAddr::V4(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15])),
        dst: IpAddr::V4(Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19])),
        protocol: PROTO_TCP,
        hop_limit: ip[8],
        payload_len,
        ecn: Ecn::from_bits(ip[1]),
        dscp: ip[1] >> 2,
    }
}

/// The five 32-bit words of a 20-byte header summed from little-endian
/// loads (no byte swaps), without `checksum::sum`'s set-up for long data:
/// congruent modulo `0xffff` to 256 times the one's complement sum of its
/// big-endian 16-bit words (RFC 1071 §2), so it folds to 0xffff
/// exactly when that does (256 is invertible modulo `0xffff`, and both
/// are zero only for an all-zero header), and rotating it left by 8 bits
/// gives a value congruent to the big-endian sum (the checksum module's
/// docs, RFC 1071 §2(B)).
#[inline(always)]
pub(super) fn sum_header_le(b: &[u8; 20]) -> u64 {
    (0..5).fold(0, |acc, i| acc + le_word(b, i))
}

/// The `i`th 32-bit word of a header or its options, loaded
/// little-endian (see [`sum_header_le`]).
#[inline(always)]
fn le_word<const N: usize>(b: &[u8; N], i: usize) -> u64 {
    u64::from(u32::from_le_bytes([
        b[4 * i],
        b[4 * i + 1],
        b[4 * i + 2],
        b[4 * i + 3],
    ]))
}

/// The unfolded sum of the IPv4 pseudo-header (RFC 9293 §3.1) of a TCP
/// segment of `len` bytes: the two addresses as 32-bit words (congruent to
/// the sum of their 16-bit words, RFC 1071 §2), the protocol and the length.
#[inline(always)]
pub(super) fn pseudo_v4(src: [u8; 4], dst: [u8; 4], len: usize) -> u64 {
    u64::from(u32::from_be_bytes(src))
        + u64::from(u32::from_be_bytes(dst))
        + u64::from(PROTO_TCP)
        + len as u64
}

/// [`parse_tcp_packet_with`]'s answer for the common case, read in one
/// pass: an IPv4 packet without IP options or fragmentation, whose header
/// checksum verifies, carrying a TCP segment whose options are none,
/// `NOP,NOP,TS` (read without walking the list) or anything else
/// [`TcpOptions::parse`] accepts (a SYN's), and whose checksum verifies
/// (with `verify`). The header checksum is summed as five 32-bit words and
/// the pseudo-header as two (RFC 1071 §2: congruent to the sum of their
/// 16-bit words), and no intermediate `IpRepr`/`TcpSegment`/`Result` is
/// built and moved.
///
/// `None` for anything else — the caller then runs the general parser,
/// which accepts, rejects or reports the packet exactly as before — so
/// whatever this accepts, the general parser accepts with the same fields
/// (`tests` below check that on arbitrary bytes).
///
/// [`parse_tcp_packet_with`]: super::parse_tcp_packet_with
#[inline(always)]
pub(crate) fn parse_v4(packet: &[u8], verify: bool) -> Option<TcpPacket<'_>> {
    let (ip, tcp) = ipv4_tcp(packet)?;
    let th: &[u8; 20] = tcp.get(..20)?.try_into().ok()?;
    let hl = usize::from(th[12] >> 4) * 4;
    let opts = tcp.get(20..hl)?;
    if checksum::fold(sum_header_le(ip)) != 0xffff {
        return None;
    }
    let (src, dst) = (
        [ip[12], ip[13], ip[14], ip[15]],
        [ip[16], ip[17], ip[18], ip[19]],
    );
    if verify && checksum::fold(checksum::sum(tcp, pseudo_v4(src, dst, tcp.len()))) != 0xffff {
        return None;
    }
    let options = match *opts {
        [] => TcpOptions::default(),
        [1, 1, 8, 10, v0, v1, v2, v3, e0, e1, e2, e3] => TcpOptions {
            timestamps: Some((
                u32::from_be_bytes([v0, v1, v2, v3]),
                u32::from_be_bytes([e0, e1, e2, e3]),
            )),
            ..TcpOptions::default()
        },
        _ => TcpOptions::parse(opts).ok()?,
    };
    Some(TcpPacket {
        ip: ipv4_repr(ip, tcp.len()),
        tcp: TcpRepr {
            src_port: be16(th, 0),
            dst_port: be16(th, 2),
            seq: SeqNum(be32(th, 4)),
            ack: SeqNum(be32(th, 8)),
            flags: TcpFlags(th[13]),
            window: be16(th, 14),
            urgent: be16(th, 18),
            options,
            payload: &tcp[hl..],
        },
    })
}

impl<'a> FastSegment<'a> {
    /// Reads `packet` if it has the predicted shape (module docs), else
    /// `None`; with it, the connection's key (local = destination). Never
    /// panics; the TCP checksum is not checked here.
    #[inline]
    pub fn parse(packet: &'a [u8]) -> Option<(V4Key, FastSegment<'a>)> {
        // The cheap byte tests first: most packets that are not predicted
        // (SYNs, FINs, pure ACKs) leave at one of them. Fixed-size views,
        // so the reads below need no bounds checks.
        // IPv4 without options (version 4, IHL 5), RFC 791 §3.1.
        let (ip, tcp) = ipv4_tcp(packet)?;
        let th: &[u8; 20] = tcp.get(..20)?.try_into().ok()?;
        let flags = TcpFlags(th[13]);
        // ACK, maybe PSH and FIN (SYNs and RSTs leave here), after a 20- or
        // 32-byte header.
        let hl = usize::from(th[12] >> 4) * 4;
        if flags.0 & !(TcpFlags::PSH.0 | TcpFlags::FIN.0) != TcpFlags::ACK.0 || tcp.len() < hl {
            return None;
        }
        // With the timestamps, their option words' little-endian sum too,
        // added to the header's before it is rotated (`sum_header_le`).
        let (timestamps, opts_le) = match hl {
            20 => (None, 0),
            32 => {
                let o: &[u8; 12] = tcp.get(20..32)?.try_into().ok()?;
                if o[..4] != TS_WORD {
                    return None;
                }
                let le = (0..3).fold(0, |acc, i| acc + le_word(o, i));
                (Some((be32(o, 4), be32(o, 8))), le)
            }
            _ => return None,
        };
        // The header checksum (RFC 791 §3.1): the same verdict as
        // `Ipv4Packet::verify_checksum`, from five 32-bit words, the two
        // addresses' kept for the pseudo-header.
        let addrs = le_word(ip, 3) + le_word(ip, 4);
        if checksum::fold(le_word(ip, 0) + le_word(ip, 1) + le_word(ip, 2) + addrs) != 0xffff {
            return None;
        }
        let (src, dst) = (
            [ip[12], ip[13], ip[14], ip[15]],
            [ip[16], ip[17], ip[18], ip[19]],
        );
        // The pseudo-header (its addresses from the little-endian sum
        // above, rotated with the TCP header's and options', see
        // `sum_header_le`), then the header.
        let header_sum = (addrs + sum_header_le(th) + opts_le).rotate_left(8)
            + u64::from(PROTO_TCP)
            + tcp.len() as u64;
        let key = V4Key::new(dst, src, be16(th, 2), be16(th, 0));
        Some((
            key,
            FastSegment {
                hdr: RxHeader {
                    seq: SeqNum(be32(th, 4)),
                    ack: SeqNum(be32(th, 8)),
                    window: be16(th, 14),
                    flags,
                    timestamps,
                    ce: Ecn::from_bits(ip[1]) == Ecn::Ce,
                },
                header_sum,
                payload: &tcp[hl..],
            },
        ))
    }

    /// The general parser's view of this segment, read from `packet`, the
    /// bytes it was parsed from: the fields already read, and the three the
    /// fast path has no use for (TTL, DSCP, the urgent pointer) read here.
    /// What [`parse_v4`] answers for the same bytes without
    /// checksum verification (`tests` check it), so a segment that no
    /// connection takes goes on to TIME-WAIT and the listeners without a
    /// second parse (the handshake's final ACK, the receive path's own
    /// demultiplexing miss). The TCP checksum is the caller's
    /// ([`FastSegment::verify`]).
    #[inline]
    pub fn packet(&self, packet: &[u8]) -> TcpPacket<'a> {
        // `parse` read at least the two headers from these bytes.
        let ip: &[u8; 24] = packet[..24].try_into().expect("parsed");
        let ip4: &[u8; IPV4_HEADER_LEN] =
            ip[..IPV4_HEADER_LEN].try_into().expect("24 bytes hold 20");
        let th = IPV4_HEADER_LEN;
        let h = &self.hdr;
        TcpPacket {
            ip: ipv4_repr(ip4, self.payload.len() + self.header_len()),
            tcp: TcpRepr {
                src_port: be16(ip, th),
                dst_port: be16(ip, th + 2),
                seq: h.seq,
                ack: h.ack,
                flags: h.flags,
                window: h.window,
                urgent: be16(packet, th + 18),
                options: TcpOptions {
                    timestamps: h.timestamps,
                    ..TcpOptions::default()
                },
                payload: self.payload,
            },
        }
    }

    /// The TCP header's length: 20 bytes, or 32 with `NOP,NOP,TS`.
    #[inline]
    fn header_len(&self) -> usize {
        if self.hdr.timestamps.is_some() {
            32
        } else {
            20
        }
    }

    /// Whether the TCP checksum is right (RFC 9293 §3.1, MUST-2/MUST-3),
    /// summing the payload where it lies: for a segment the light path
    /// takes (a pure ACK, a FIN, a little text), which is not copied into
    /// the receive window first.
    #[inline]
    pub fn verify(&self) -> bool {
        // The header is 20 or 32 bytes: the payload starts on an even
        // offset, so its sum adds to the header's as it is.
        let sum = if self.payload.is_empty() {
            // A pure ACK: the header is all there is.
            self.header_sum
        } else {
            checksum::sum(self.payload, self.header_sum)
        };
        checksum::fold(sum) == 0xffff
    }

    /// Copies the payload into `a` then `b` (the receive queue's window,
    /// split where its ring wraps; together exactly the payload's length)
    /// and, with `verify`, checks the TCP checksum over the same bytes as
    /// they are copied ([`checksum::copy_and_sum`]: one read of the data
    /// for both). Returns whether the checksum is right (always true
    /// without `verify`); the caller commits the copied bytes only then.
    #[inline]
    pub fn verify_payload(&self, a: &mut [u8], b: &mut [u8], verify: bool) -> bool {
        let (pa, pb) = self.payload.split_at(a.len());
        if !verify {
            a.copy_from_slice(pa);
            b.copy_from_slice(pb);
            return true;
        }
        // The header is 20 or 32 bytes, so the payload starts on an even
        // offset; only a wrap at an odd offset needs `combine`'s swap.
        let mut s = checksum::copy_and_sum(a, pa, self.header_sum);
        if !b.is_empty() {
            s = checksum::combine(s, a.len(), checksum::copy_and_sum(b, pb, 0));
        }
        checksum::fold(s) == 0xffff
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{emit_tcp_packet, parse_tcp_packet, TcpOptions, TcpRepr, WireError};
    use proptest::prelude::*;
    use std::net::IpAddr;

    fn repr(flags: u8, options: TcpOptions, payload: &[u8]) -> TcpRepr<'_> {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: SeqNum(0xfffffff0),
            ack: SeqNum(77),
            flags: TcpFlags(flags),
            window: 512,
            urgent: 0,
            options,
            payload,
        }
    }

    fn packet(r: &TcpRepr) -> Vec<u8> {
        let (s, d): (IpAddr, IpAddr) =
            ("198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap());
        let mut buf = vec![0u8; 2000];
        let n = emit_tcp_packet(s, d, 64, r, &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    fn ts() -> TcpOptions {
        TcpOptions {
            timestamps: Some((5, 6)),
            ..TcpOptions::default()
        }
    }

    /// Checks `p` against the general parser: same fields, and the fused
    /// copy-and-verify agrees with its checksum verdict.
    fn agrees(p: &[u8]) -> Option<bool> {
        let (key, f) = FastSegment::parse(p)?;
        // Every place the ring could wrap, odd and even.
        let mut verdicts = Vec::new();
        for cut in 0..=f.payload.len() {
            let mut out = vec![0u8; f.payload.len()];
            let (a, b) = out.split_at_mut(cut);
            verdicts.push(f.verify_payload(a, b, true));
            assert_eq!(out, f.payload);
            let mut out = vec![0u8; f.payload.len()];
            let (a, b) = out.split_at_mut(cut);
            assert!(f.verify_payload(a, b, false));
            assert_eq!(out, f.payload);
        }
        let ok = verdicts[0];
        assert!(
            verdicts.iter().all(|&v| v == ok),
            "the verdict depends on the wrap"
        );
        assert_eq!(f.verify(), ok, "in place and copied verdicts differ");
        assert_eq!(
            parse_v4(p, false),
            Some(f.packet(p)),
            "the general view differs"
        );
        match parse_tcp_packet(p) {
            Ok(g) => {
                assert!(ok, "checksum verdicts differ");
                let (IpAddr::V4(s), IpAddr::V4(d)) = (g.ip.src, g.ip.dst) else {
                    panic!("fast parse accepted a non-IPv4 packet");
                };
                let t = g.tcp;
                assert_eq!(
                    key,
                    V4Key::new(d.octets(), s.octets(), t.dst_port, t.src_port)
                );
                assert_eq!(f.hdr.ce, g.ip.ecn == Ecn::Ce);
                let h = f.hdr;
                assert_eq!(
                    (h.seq, h.ack, h.flags, h.window),
                    (t.seq, t.ack, t.flags, t.window)
                );
                assert_eq!(h.timestamps, t.options.timestamps);
                assert_eq!(
                    t.options,
                    TcpOptions {
                        timestamps: h.timestamps,
                        ..TcpOptions::default()
                    }
                );
                assert_eq!(f.payload, t.payload);
            }
            Err(WireError::BadChecksum) => assert!(!ok, "a bad checksum verified"),
            Err(e) => panic!("fast parse accepted what the general parser rejects: {e}"),
        }
        Some(ok)
    }

    #[test]
    fn predicted_shapes_are_read_like_the_general_parser() {
        for opts in [TcpOptions::default(), ts()] {
            for flags in [0x10, 0x18, 0x11, 0x19] {
                for data in [&b"hello, world"[..], b"x", b""] {
                    let p = packet(&repr(flags, opts, data));
                    assert_eq!(agrees(&p), Some(true), "{flags:#x} {data:?}");
                }
            }
        }
    }

    #[test]
    fn anything_else_is_left_to_the_general_path() {
        let mut sack = ts();
        sack.sack_blocks.push(SeqNum(1), SeqNum(2));
        let mss = TcpOptions {
            mss: Some(1000),
            ..TcpOptions::default()
        };
        // Control bits other than ACK/PSH/FIN, other options.
        for (flags, opts, data) in [
            (0x01, ts(), &b"x"[..]),
            (0x12, ts(), b"x"),
            (0x14, ts(), b"x"),
            (0x30, ts(), b"x"),
            (0x50, ts(), b"x"),
            (0x90, ts(), b"x"),
            (0x08, ts(), b"x"),
            (0x14, ts(), b""),
            (0x10, sack, b"x"),
            (0x10, mss, b"x"),
        ] {
            let p = packet(&repr(flags, opts, data));
            assert_eq!(FastSegment::parse(&p), None, "flags {flags:#x} {opts:?}");
        }
        let good = packet(&repr(0x10, ts(), b"payload"));
        // A bad IPv4 header checksum, a fragment, IP options, IPv6,
        // truncation: none of them.
        let mut bad = good.clone();
        bad[8] ^= 1;
        assert_eq!(FastSegment::parse(&bad), None);
        let mut frag = good.clone();
        frag[6] |= 0x20;
        assert_eq!(FastSegment::parse(&frag), None);
        let mut opt = good.clone();
        opt[0] = 0x46;
        assert_eq!(FastSegment::parse(&opt), None);
        for k in 0..good.len() {
            assert_eq!(FastSegment::parse(&good[..k]), None, "len {k}");
        }
        // A bad TCP checksum is read, and fails verification.
        let mut c = good.clone();
        let last = c.len() - 1;
        c[last] ^= 0x40;
        assert_eq!(agrees(&c), Some(false));
    }

    /// `parse_v4` takes a packet only as the layered parser does, with the
    /// same fields; it leaves to it what it does not take.
    fn v4_agrees(p: &[u8]) {
        for verify in [true, false] {
            let layered = crate::wire::parse_tcp_packet_layered(p, verify);
            if let Some(q) = parse_v4(p, verify) {
                assert_eq!(layered, Ok(q), "verify {verify}");
            }
            assert_eq!(crate::wire::parse_tcp_packet_with(p, verify), layered);
        }
    }

    #[test]
    fn the_one_pass_parse_takes_the_common_shapes() {
        let syn = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((1, 0)),
            ..TcpOptions::default()
        };
        let mut sack = ts();
        sack.sack_blocks.push(SeqNum(1), SeqNum(2));
        for opts in [TcpOptions::default(), ts(), syn, sack] {
            for (flags, data) in [(0x02, &b""[..]), (0x10, b""), (0x11, b""), (0x18, b"x")] {
                let p = packet(&repr(flags, opts, data));
                assert!(parse_v4(&p, true).is_some(), "{flags:#x} {opts:?}");
                v4_agrees(&p);
                let mut bad = p.clone();
                let last = bad.len() - 1;
                bad[last] ^= 0x20;
                assert_eq!(parse_v4(&bad, true), None);
                v4_agrees(&bad);
                for k in 0..p.len() {
                    v4_agrees(&p[..k]);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_agree_with_the_general_parser(
            flags in prop_oneof![Just(0x10u8), Just(0x18u8), any::<u8>()],
            with_ts in any::<bool>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..3),
        ) {
            let opts = if with_ts { ts() } else { TcpOptions::default() };
            let mut p = packet(&repr(flags, opts, &payload));
            for (at, x) in flips {
                let n = p.len();
                p[at % n] ^= x;
            }
            let _ = agrees(&p);
            v4_agrees(&p);
        }

        #[test]
        fn arbitrary_syns_agree_with_the_layered_parser(
            flags in any::<u8>(),
            mss in proptest::option::of(any::<u16>()),
            ws in proptest::option::of(0u8..20),
            sack_ok in any::<bool>(),
            payload in proptest::collection::vec(any::<u8>(), 0..8),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..3),
        ) {
            let opts = TcpOptions {
                mss,
                window_scale: ws,
                sack_permitted: sack_ok,
                ..ts()
            };
            let mut p = packet(&repr(flags, opts, &payload));
            for (at, x) in flips {
                let n = p.len();
                p[at % n] ^= x;
            }
            v4_agrees(&p);
        }
    }
}
