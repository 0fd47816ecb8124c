//! A prebuilt IP + TCP header for the segments of one connection: the
//! transmit fast path's answer to "most header bytes never change".
//!
//! Between two data segments of an established connection only the sequence
//! and acknowledgment numbers, the flags, the window, the timestamps, the
//! lengths, the ECN bits and the checksums change; the addresses, ports,
//! version, TTL/hop limit, DSCP and (for the NOP,NOP,TS layout of RFC 7323
//! Appendix A) the option bytes do not. A [`HeaderTemplate`] holds those
//! bytes once, together with their one's complement sums (the TCP
//! pseudo-header with the constant TCP words, and the constant IPv4 header
//! words), so that [`HeaderTemplate::emit`] copies them, patches the
//! variable fields and finishes both checksums by adding the variable words
//! to the precomputed sums (RFC 1071 §2(A),(B): the sum is commutative and
//! associative, so the constant part can be added ahead of time; RFC 1624
//! is the same idea for an updated field).
//!
//! The bytes written are exactly those of [`IpRepr::emit`] followed by
//! [`TcpRepr::emit_header`] and the checksum over pseudo-header, header and
//! payload (the tests below and `tests/tx_template.rs` compare them); a
//! segment with any option other than the timestamps (SACK blocks, a SYN's
//! options) is not the template's: [`HeaderTemplate::emit`] refuses it and
//! the caller uses the general emitters.
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use synfin::wire::template::{HeaderTemplate, SegmentFields};
//! use synfin::wire::{checksum, Ecn, SeqNum, TcpFlags};
//! let src: IpAddr = "198.18.0.1".parse().unwrap();
//! let dst: IpAddr = "198.18.0.2".parse().unwrap();
//! let t = HeaderTemplate::new(src, dst, 49152, 80, 64, 0).unwrap();
//! let fields = SegmentFields {
//!     seq: SeqNum(1),
//!     ack: SeqNum(2),
//!     flags: TcpFlags::ACK | TcpFlags::PSH,
//!     window: 512,
//!     timestamps: Some((7, 9)),
//!     ecn: Ecn::NotEct,
//! };
//! let mut buf = [0u8; 1500];
//! let hl = t.header_len(fields.timestamps.is_some());
//! buf[hl..hl + 5].copy_from_slice(b"hello");
//! let n = t.emit(&mut buf, &fields, 5, checksum::sum(b"hello", 0)).unwrap();
//! assert_eq!(n, 20 + 32 + 5);
//! let pkt = synfin::wire::parse_tcp_packet(&buf[..n]).unwrap(); // checksums verify
//! assert_eq!(pkt.tcp.payload, b"hello");
//! ```

use std::net::{IpAddr, Ipv4Addr};

use super::ip::{IPV4_HEADER_LEN, IPV6_HEADER_LEN};
use super::tcp::TCP_HEADER_LEN;
use super::{checksum, Ecn, SeqNum, TcpFlags, WireError, PROTO_TCP};

/// The option bytes of the NOP,NOP,TS layout (RFC 7323 Appendix A), before
/// the two 32-bit values.
const TS_PREFIX: [u8; 4] = [1, 1, 8, 10];
/// Largest header a template writes: IPv6, the TCP header, NOP,NOP,TS.
const MAX_HEADER: usize = IPV6_HEADER_LEN + TCP_HEADER_LEN + 12;

/// The fields of one segment that a [`HeaderTemplate`] does not hold.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SegmentFields {
    /// Sequence number.
    pub seq: SeqNum,
    /// Acknowledgment number (the raw field).
    pub ack: SeqNum,
    /// Control bits.
    pub flags: TcpFlags,
    /// Window field, already scaled down.
    pub window: u16,
    /// `(TSval, TSecr)` in the NOP,NOP,TS layout, or no option at all.
    pub timestamps: Option<(u32, u32)>,
    /// The IP header's ECN codepoint.
    pub ecn: Ecn,
}

/// The constant part of a connection's IP and TCP headers, with its sums.
#[derive(Clone, Debug)]
pub struct HeaderTemplate {
    /// IP header then TCP header then the NOP,NOP,TS prefix, every variable
    /// field zero.
    bytes: [u8; MAX_HEADER],
    /// 20 (IPv4) or 40 (IPv6).
    ip_len: u8,
    /// IPv4: unfolded sum of the IP header with total length, ECN bits and
    /// checksum zero.
    ip_sum: u64,
    /// Unfolded sum of the pseudo-header without its length and of the
    /// constant TCP header words (ports); the NOP,NOP,TS prefix is added
    /// separately when the segment carries it.
    tcp_sum: u64,
    /// The pseudo-header's part of `tcp_sum` (addresses and protocol), for
    /// [`HeaderTemplate::set_ports`].
    pseudo_sum: u64,
    /// What the template was built for, so a cache can check it still
    /// applies.
    key: (u8, u8),
}

impl HeaderTemplate {
    /// The template of segments from `src`:`src_port` to `dst`:`dst_port`
    /// with `hop_limit` (IPv4 TTL) and `dscp`. `Malformed` if the address
    /// families differ.
    pub fn new(
        src: IpAddr,
        dst: IpAddr,
        src_port: u16,
        dst_port: u16,
        hop_limit: u8,
        dscp: u8,
    ) -> Result<HeaderTemplate, WireError> {
        let mut bytes = [0u8; MAX_HEADER];
        // As IpRepr::emit writes them (RFC 791 §3.1, RFC 8200 §3), with the
        // lengths, the ECN bits and the IPv4 checksum left zero.
        let ip_len = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let h = &mut bytes[..IPV4_HEADER_LEN];
                h[0] = 0x45;
                h[1] = (dscp & 0x3f) << 2;
                // Identification 0, DF set: we never fragment.
                h[6..8].copy_from_slice(&0x4000u16.to_be_bytes());
                h[8] = hop_limit;
                h[9] = PROTO_TCP;
                h[12..16].copy_from_slice(&s.octets());
                h[16..20].copy_from_slice(&d.octets());
                IPV4_HEADER_LEN
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let h = &mut bytes[..IPV6_HEADER_LEN];
                let first = 0x6000_0000u32 | (u32::from((dscp & 0x3f) << 2) << 20);
                h[0..4].copy_from_slice(&first.to_be_bytes());
                h[6] = PROTO_TCP;
                h[7] = hop_limit;
                h[8..24].copy_from_slice(&s.octets());
                h[24..40].copy_from_slice(&d.octets());
                IPV6_HEADER_LEN
            }
            _ => return Err(WireError::Malformed),
        };
        let ip_sum = if ip_len == IPV4_HEADER_LEN {
            checksum::sum(&bytes[..IPV4_HEADER_LEN], 0)
        } else {
            0
        };
        let tcp = &mut bytes[ip_len..ip_len + TCP_HEADER_LEN + 4];
        tcp[0..2].copy_from_slice(&src_port.to_be_bytes());
        tcp[2..4].copy_from_slice(&dst_port.to_be_bytes());
        tcp[TCP_HEADER_LEN..].copy_from_slice(&TS_PREFIX);
        let pseudo_sum = checksum::pseudo_header(&src, &dst, PROTO_TCP, 0);
        let tcp_sum = checksum::sum(&tcp[..TCP_HEADER_LEN], pseudo_sum);
        Ok(HeaderTemplate {
            bytes,
            ip_len: ip_len as u8,
            ip_sum,
            tcp_sum,
            pseudo_sum,
            key: (hop_limit, dscp),
        })
    }

    /// Whether the template is for segments from `src` to `dst` (whatever
    /// their ports): then [`set_ports`](Self::set_ports) makes it another
    /// connection's between the same addresses.
    #[inline]
    pub fn has_addresses(&self, src: IpAddr, dst: IpAddr) -> bool {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => self.has_v4_addresses(s, d),
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                self.ip_len as usize == IPV6_HEADER_LEN
                    && self.bytes[8..24] == s.octets()
                    && self.bytes[24..40] == d.octets()
            }
            _ => false,
        }
    }

    /// [`has_addresses`](Self::has_addresses) for two IPv4 addresses: the
    /// eight address bytes compared at once.
    #[inline]
    pub fn has_v4_addresses(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let mut want = [0u8; 8];
        want[..4].copy_from_slice(&src.octets());
        want[4..].copy_from_slice(&dst.octets());
        self.ip_len as usize == IPV4_HEADER_LEN && self.bytes[12..20] == want
    }

    /// Makes the template the one of segments between the same addresses
    /// from `src_port` to `dst_port`: the two port words and their part of
    /// the sum are all that differ between two connections of one pair of
    /// addresses (every connection a client opens to one server), so the
    /// rest need not be built again. The result is what
    /// [`HeaderTemplate::new`] builds for the new ports.
    #[inline]
    pub fn set_ports(&mut self, src_port: u16, dst_port: u16) {
        let ip_len = usize::from(self.ip_len);
        self.bytes[ip_len..ip_len + 2].copy_from_slice(&src_port.to_be_bytes());
        self.bytes[ip_len + 2..ip_len + 4].copy_from_slice(&dst_port.to_be_bytes());
        // The TCP header's constant words are the ports alone (the rest is
        // zero until a segment's fields go in).
        self.tcp_sum = self.pseudo_sum + u64::from(src_port) + u64::from(dst_port);
    }

    /// Whether the template still describes segments with `hop_limit` and
    /// `dscp` (the fields a socket option can change; the addresses and
    /// ports of a connection never change).
    #[inline]
    pub fn matches(&self, hop_limit: u8, dscp: u8) -> bool {
        self.key == (hop_limit, dscp)
    }

    /// IP plus TCP header length of a segment with or without the
    /// timestamps option: where the payload starts.
    #[inline]
    pub fn header_len(&self, timestamps: bool) -> usize {
        usize::from(self.ip_len) + TCP_HEADER_LEN + if timestamps { 12 } else { 0 }
    }

    /// Writes the IP and TCP headers of a segment into the front of `buf`,
    /// whose payload of `payload_len` bytes is already in place right after
    /// them (at [`HeaderTemplate::header_len`]) and sums to `payload_sum`
    /// ([`checksum::sum`] from 0), and returns the packet's length.
    /// `Truncated` if `buf` cannot hold the packet, `Malformed` if it is too
    /// long for the IP length field.
    #[inline(always)]
    pub fn emit(
        &self,
        buf: &mut [u8],
        f: &SegmentFields,
        payload_len: usize,
        payload_sum: u64,
    ) -> Result<usize, WireError> {
        self.emit_checksum(buf, f, payload_len, Some(payload_sum))
    }

    /// [`emit`](Self::emit) for a device that completes the TCP checksum
    /// (wire/offload.rs): the checksum field gets the pseudo-header sum
    /// alone, and the payload is not summed at all.
    #[inline(always)]
    pub fn emit_partial(
        &self,
        buf: &mut [u8],
        f: &SegmentFields,
        payload_len: usize,
    ) -> Result<usize, WireError> {
        self.emit_checksum(buf, f, payload_len, None)
    }

    /// `emit` (`Some(payload_sum)`) or `emit_partial` (`None`).
    #[inline(always)]
    fn emit_checksum(
        &self,
        buf: &mut [u8],
        f: &SegmentFields,
        payload_len: usize,
        payload_sum: Option<u64>,
    ) -> Result<usize, WireError> {
        let ip_len = usize::from(self.ip_len);
        let tcp_hdr = TCP_HEADER_LEN + if f.timestamps.is_some() { 12 } else { 0 };
        let hl = ip_len + tcp_hdr;
        let total = hl + payload_len;
        if buf.len() < total {
            return Err(WireError::Truncated);
        }
        let tcp_len = tcp_hdr + payload_len;
        // An IPv4 total length or an IPv6 payload length fits in 16 bits.
        let ip_field = if ip_len == IPV4_HEADER_LEN {
            total
        } else {
            tcp_len
        };
        let ip_field = u16::try_from(ip_field).map_err(|_| WireError::Malformed)?;
        let h = &mut buf[..hl];
        // One of four fixed sizes, so the copy is a few vector moves
        // rather than a call to memcpy.
        let v4 = ip_len == IPV4_HEADER_LEN;
        match (v4, f.timestamps.is_some()) {
            (true, true) => h[..52].copy_from_slice(&self.bytes[..52]),
            (true, false) => h[..40].copy_from_slice(&self.bytes[..40]),
            (false, true) => h[..72].copy_from_slice(&self.bytes[..72]),
            (false, false) => h[..60].copy_from_slice(&self.bytes[..60]),
        }
        self.patch_ip(h, v4, f, ip_field);
        let t = &mut h[ip_len..];
        let mut s = self.patch_tcp(t, f, tcp_hdr, tcp_len);
        if let Some((val, ecr)) = f.timestamps {
            t[24..28].copy_from_slice(&val.to_be_bytes());
            t[28..32].copy_from_slice(&ecr.to_be_bytes());
            s += u64::from(u32::from_be_bytes(TS_PREFIX)) + u64::from(val) + u64::from(ecr);
        }
        let c = match payload_sum {
            Some(payload_sum) => {
                let (s, carry) = s.overflowing_add(payload_sum);
                !checksum::fold(s + u64::from(carry))
            }
            // The pseudo-header with the segment's length: what the
            // device seeds its sum with (wire/offload.rs).
            None => checksum::fold(self.pseudo_sum + tcp_len as u64),
        };
        t[16..18].copy_from_slice(&c.to_be_bytes());
        Ok(total)
    }

    /// [`emit`](Self::emit) for a segment with other options than the
    /// timestamps alone (a SYN's, SACK blocks): `options` are the option
    /// bytes as [`TcpOptions::emit`](super::TcpOptions::emit) writes them
    /// (a multiple of 4, at most 40), which go right after the fixed TCP
    /// header; `f.timestamps` is not looked at (they are in `options`).
    /// The payload is already in place after them, at
    /// `header_len(false) + options.len()`. `Malformed` also for an
    /// options block of a length a header cannot carry.
    #[inline]
    pub fn emit_with_options(
        &self,
        buf: &mut [u8],
        f: &SegmentFields,
        options: &[u8],
        payload_len: usize,
        payload_sum: u64,
    ) -> Result<usize, WireError> {
        if options.len() % 4 != 0 || options.len() > 40 {
            return Err(WireError::Malformed);
        }
        let ip_len = usize::from(self.ip_len);
        let tcp_hdr = TCP_HEADER_LEN + options.len();
        let hl = ip_len + tcp_hdr;
        let total = hl + payload_len;
        if buf.len() < total {
            return Err(WireError::Truncated);
        }
        let tcp_len = tcp_hdr + payload_len;
        let v4 = ip_len == IPV4_HEADER_LEN;
        let ip_field =
            u16::try_from(if v4 { total } else { tcp_len }).map_err(|_| WireError::Malformed)?;
        let h = &mut buf[..hl];
        let fixed = ip_len + TCP_HEADER_LEN;
        h[..fixed].copy_from_slice(&self.bytes[..fixed]);
        h[fixed..].copy_from_slice(options);
        self.patch_ip(h, v4, f, ip_field);
        let t = &mut h[ip_len..];
        // The options start on a 16-bit boundary (byte 20 of the TCP
        // header), so their sum adds to the header's like its words.
        let s = self.patch_tcp(t, f, tcp_hdr, tcp_len)
            + checksum::fold(checksum::sum(options, 0)) as u64;
        let (s, carry) = s.overflowing_add(payload_sum);
        let s = s + u64::from(carry);
        t[16..18].copy_from_slice(&(!checksum::fold(s)).to_be_bytes());
        Ok(total)
    }

    /// Patches the IP header copied from the template in `h`: the ECN
    /// bits, the length field (`ip_field`: IPv4 total length or IPv6
    /// payload length) and, for IPv4, the header checksum from the
    /// template's precomputed sum (RFC 1624).
    #[inline(always)]
    fn patch_ip(&self, h: &mut [u8], v4: bool, f: &SegmentFields, ip_field: u16) {
        let ecn = f.ecn.bits();
        if v4 {
            h[1] |= ecn;
            h[2..4].copy_from_slice(&ip_field.to_be_bytes());
            // The ECN bits are the low byte of the first 16-bit word.
            let s = self.ip_sum + u64::from(ecn) + u64::from(ip_field);
            h[10..12].copy_from_slice(&(!checksum::fold(s)).to_be_bytes());
        } else {
            // Traffic class bits 0-1 (ECN) are bits 20-21 of the first word.
            h[1] |= ecn << 4;
            h[4..6].copy_from_slice(&ip_field.to_be_bytes());
        }
    }

    /// Writes the fixed TCP header's per-segment words into `t` (sequence
    /// and acknowledgment numbers, data offset and flags, window) and
    /// returns the checksum's running sum so far: the template's constant
    /// words, the pseudo-header's length and these. Each added term is
    /// below 2^32 and there are few: no overflow before the caller's final
    /// add with carry.
    #[inline(always)]
    fn patch_tcp(&self, t: &mut [u8], f: &SegmentFields, tcp_hdr: usize, tcp_len: usize) -> u64 {
        t[4..8].copy_from_slice(&f.seq.0.to_be_bytes());
        t[8..12].copy_from_slice(&f.ack.0.to_be_bytes());
        let offset_flags = u16::from_be_bytes([((tcp_hdr / 4) as u8) << 4, f.flags.bits()]);
        t[12..14].copy_from_slice(&offset_flags.to_be_bytes());
        t[14..16].copy_from_slice(&f.window.to_be_bytes());
        self.tcp_sum
            + tcp_len as u64
            + u64::from(f.seq.0)
            + u64::from(f.ack.0)
            + u64::from(offset_flags)
            + u64::from(f.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{IpRepr, TcpOptions, TcpRepr};
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// The general path, as the stack wrote every segment before the
    /// template: IpRepr::emit, TcpRepr::emit_header, one checksum.
    #[allow(clippy::too_many_arguments)]
    fn general(
        src: IpAddr,
        dst: IpAddr,
        ports: (u16, u16),
        hop: u8,
        dscp: u8,
        f: &SegmentFields,
        payload: &[u8],
    ) -> Vec<u8> {
        let options = TcpOptions {
            timestamps: f.timestamps,
            ..TcpOptions::default()
        };
        general_with(src, dst, ports, hop, dscp, f, options, payload)
    }

    /// `general` with any options.
    #[allow(clippy::too_many_arguments)]
    fn general_with(
        src: IpAddr,
        dst: IpAddr,
        ports: (u16, u16),
        hop: u8,
        dscp: u8,
        f: &SegmentFields,
        options: TcpOptions,
        payload: &[u8],
    ) -> Vec<u8> {
        let repr = TcpRepr {
            src_port: ports.0,
            dst_port: ports.1,
            seq: f.seq,
            ack: f.ack,
            flags: f.flags,
            window: f.window,
            urgent: 0,
            options,
            payload,
        };
        let ip = IpRepr {
            src,
            dst,
            protocol: PROTO_TCP,
            hop_limit: hop,
            payload_len: repr.header_len() + payload.len(),
            ecn: f.ecn,
            dscp,
        };
        let mut buf = vec![0u8; ip.header_len() + ip.payload_len];
        let il = ip.emit(&mut buf).unwrap();
        repr.emit(&mut buf[il..], &src, &dst).unwrap();
        buf
    }

    fn templated(
        t: &HeaderTemplate,
        f: &SegmentFields,
        payload: &[u8],
        slack: usize,
    ) -> Result<Vec<u8>, WireError> {
        let hl = t.header_len(f.timestamps.is_some());
        let mut buf = vec![0xa5u8; hl + payload.len() + slack];
        buf[hl..hl + payload.len()].copy_from_slice(payload);
        let n = t.emit(&mut buf, f, payload.len(), checksum::sum(payload, 0))?;
        buf.truncate(n);
        Ok(buf)
    }

    fn ecn_of(i: u8) -> Ecn {
        Ecn::from_bits(i)
    }

    /// Two IPv6 addresses from 16 random bytes each, or two IPv4 ones
    /// from their first four.
    fn addr_pair(v6: bool, a: [u8; 16], b: [u8; 16]) -> (IpAddr, IpAddr) {
        if v6 {
            (IpAddr::V6(Ipv6Addr::from(a)), IpAddr::V6(Ipv6Addr::from(b)))
        } else {
            let x: [u8; 4] = a[..4].try_into().unwrap();
            let y: [u8; 4] = b[..4].try_into().unwrap();
            (IpAddr::V4(Ipv4Addr::from(x)), IpAddr::V4(Ipv4Addr::from(y)))
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Byte for byte what the general emitters write, for any state a
        /// segment can carry, IPv4 and IPv6.
        #[test]
        fn same_bytes_as_the_general_path(
            v6 in any::<bool>(),
            a in any::<[u8; 16]>(),
            b in any::<[u8; 16]>(),
            ports in any::<(u16, u16)>(),
            hop in any::<u8>(),
            dscp in 0u8..64,
            seq in any::<u32>(),
            ack in any::<u32>(),
            flags in any::<u8>(),
            window in any::<u16>(),
            ts in proptest::option::of(any::<(u32, u32)>()),
            ecn in 0u8..4,
            payload in proptest::collection::vec(any::<u8>(), 0..1600),
        ) {
            let (src, dst) = addr_pair(v6, a, b);
            let f = SegmentFields {
                seq: SeqNum(seq),
                ack: SeqNum(ack),
                flags: TcpFlags(flags),
                window,
                timestamps: ts,
                ecn: ecn_of(ecn),
            };
            let t = HeaderTemplate::new(src, dst, ports.0, ports.1, hop, dscp).unwrap();
            prop_assert!(t.matches(hop, dscp));
            let want = general(src, dst, ports, hop, dscp, &f, &payload);
            prop_assert_eq!(templated(&t, &f, &payload, 7).unwrap(), want.clone());
            // With checksum offload: the pseudo-header sum alone, which
            // the device completes into the same packet.
            let hl = t.header_len(f.timestamps.is_some());
            let mut p = vec![0x5au8; hl + payload.len()];
            p[hl..].copy_from_slice(&payload);
            prop_assert_eq!(t.emit_partial(&mut p, &f, payload.len()), Ok(p.len()));
            let mut partial = want.clone();
            prop_assert!(crate::wire::offload::make_partial(&mut partial));
            prop_assert_eq!(&p, &partial);
            prop_assert!(crate::wire::offload::complete(&mut p));
            prop_assert_eq!(p, want);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// `emit_with_options`, byte for byte the general emitters' packet
        /// for a SYN's options and for SACK blocks (with or without the
        /// timestamps), IPv4 and IPv6.
        #[test]
        fn options_same_bytes_as_the_general_path(
            v6 in any::<bool>(),
            a in any::<[u8; 16]>(),
            b in any::<[u8; 16]>(),
            ports in any::<(u16, u16)>(),
            seq in any::<u32>(),
            ack in any::<u32>(),
            flags in any::<u8>(),
            window in any::<u16>(),
            ts in proptest::option::of(any::<(u32, u32)>()),
            mss in proptest::option::of(any::<u16>()),
            ws in proptest::option::of(0u8..15),
            sack_permitted in any::<bool>(),
            blocks in proptest::collection::vec(any::<(u32, u32)>(), 0..4),
            ecn in 0u8..4,
            payload in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let (src, dst) = addr_pair(v6, a, b);
            let f = SegmentFields {
                seq: SeqNum(seq),
                ack: SeqNum(ack),
                flags: TcpFlags(flags),
                window,
                timestamps: None,
                ecn: ecn_of(ecn),
            };
            let mut options = TcpOptions {
                mss,
                window_scale: ws,
                sack_permitted,
                timestamps: ts,
                ..TcpOptions::default()
            };
            for (l, r) in blocks {
                options.sack_blocks.push(SeqNum(l), SeqNum(r));
            }
            let mut opts = [0u8; 40];
            let Ok(olen) = options.emit(&mut opts) else {
                return Ok(()); // more than a header holds: not the template's
            };
            let t = HeaderTemplate::new(src, dst, ports.0, ports.1, 64, 0).unwrap();
            let hl = t.header_len(false) + olen;
            let mut buf = vec![0x5au8; hl + payload.len() + 3];
            buf[hl..hl + payload.len()].copy_from_slice(&payload);
            let n = t
                .emit_with_options(&mut buf, &f, &opts[..olen], payload.len(), checksum::sum(&payload, 0))
                .unwrap();
            let want = general_with(src, dst, ports, 64, 0, &f, options, &payload);
            prop_assert_eq!(&buf[..n], &want[..]);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// A template given other ports writes what a new one for those
        /// ports writes, and knows its addresses.
        #[test]
        fn set_ports_is_a_new_template(
            v6 in any::<bool>(),
            a in any::<[u8; 16]>(),
            b in any::<[u8; 16]>(),
            ports in any::<(u16, u16)>(),
            other in any::<(u16, u16)>(),
            seq in any::<u32>(),
            ts in proptest::option::of(any::<(u32, u32)>()),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let (src, dst) = addr_pair(v6, a, b);
            let mut t = HeaderTemplate::new(src, dst, ports.0, ports.1, 64, 0).unwrap();
            prop_assert!(t.has_addresses(src, dst));
            prop_assert_eq!(t.has_addresses(dst, src), src == dst);
            t.set_ports(other.0, other.1);
            let fresh = HeaderTemplate::new(src, dst, other.0, other.1, 64, 0).unwrap();
            let f = SegmentFields {
                seq: SeqNum(seq),
                ack: SeqNum(!seq),
                flags: TcpFlags::ACK,
                window: 100,
                timestamps: ts,
                ecn: Ecn::NotEct,
            };
            prop_assert_eq!(templated(&t, &f, &payload, 0).unwrap(), templated(&fresh, &f, &payload, 0).unwrap());
        }
    }

    #[test]
    fn refuses_mixed_families_and_short_buffers() {
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(
            HeaderTemplate::new(v4, v6, 1, 2, 64, 0).unwrap_err(),
            WireError::Malformed
        );
        let t = HeaderTemplate::new(v4, v4, 1, 2, 64, 0).unwrap();
        assert!(!t.matches(63, 0) && !t.matches(64, 1));
        let f = SegmentFields {
            seq: SeqNum(1),
            ack: SeqNum(2),
            flags: TcpFlags::ACK,
            window: 3,
            timestamps: None,
            ecn: Ecn::NotEct,
        };
        let mut buf = [0u8; 45];
        assert_eq!(t.emit(&mut buf, &f, 6, 0), Err(WireError::Truncated));
        let mut big = vec![0u8; 70_000];
        assert_eq!(t.emit(&mut big, &f, 65_496, 0), Err(WireError::Malformed));
        assert_eq!(t.emit(&mut big, &f, 65_495, 0), Ok(65_535));
    }

    #[test]
    fn only_timestamps_or_nothing_is_templated() {
        let mut o = TcpOptions::default();
        assert_eq!(o.only_timestamps(), Some(None));
        o.timestamps = Some((1, 2));
        assert_eq!(o.only_timestamps(), Some(Some((1, 2))));
        o.sack_blocks.push(SeqNum(1), SeqNum(5));
        assert_eq!(o.only_timestamps(), None);
        let syn = TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        };
        assert_eq!(syn.only_timestamps(), None);
    }
}
