//! The stack's control segments over IPv4 — SYN-ACKs above all, and RSTs,
//! TIME-WAIT ACKs and challenge ACKs — written in one pass.
//!
//! A control segment has no payload, and the stack builds one for every
//! passive open (the SYN-ACK), so the general emitter's generality costs on
//! every connection: [`emit_tcp_packet_dscp`](super::emit_tcp_packet_dscp)
//! works the option layout out twice, writes the IP header and sums it
//! byte by byte, then writes the TCP header and sums it again from the
//! bytes. [`emit_v4`] writes both headers from the fields, computes their
//! checksums from the same fields as 32-bit words (a big-endian 32-bit
//! word is congruent to the sum of its two 16-bit halves modulo 0xffff,
//! RFC 1071 §2(A)), shares the address words between the IPv4 header and
//! the TCP pseudo-header (RFC 9293 §3.1), and sums only the option bytes
//! ([`TcpOptions::emit`] writes them, so the layout is the general one).
//!
//! The bytes are exactly those of
//! [`emit_tcp_packet_dscp`](super::emit_tcp_packet_dscp) for the same
//! segment (the tests below compare them over every option combination).
//!
//! ```
//! use std::net::Ipv4Addr;
//! use synfin::wire::{control, SeqNum, TcpFlags, TcpOptions, TcpRepr};
//! let syn_ack = TcpRepr {
//!     src_port: 80, dst_port: 49152, seq: SeqNum(1000), ack: SeqNum(2001),
//!     flags: TcpFlags::SYN | TcpFlags::ACK, window: 65535, urgent: 0,
//!     options: TcpOptions { mss: Some(1460), ..TcpOptions::default() }, payload: &[],
//! };
//! let (src, dst) = (Ipv4Addr::new(198, 18, 0, 2), Ipv4Addr::new(198, 18, 0, 1));
//! let mut buf = [0u8; 64];
//! let n = control::emit_v4(src, dst, 64, 0, &syn_ack, &mut buf).unwrap();
//! let pkt = synfin::wire::parse_tcp_packet(&buf[..n]).unwrap(); // both checksums verify
//! assert_eq!(pkt.tcp, syn_ack);
//! ```

use std::net::Ipv4Addr;

use super::ip::IPV4_HEADER_LEN;
use super::tcp::TCP_HEADER_LEN;
use super::{checksum, TcpOptions, TcpRepr, PROTO_TCP};

/// Writes `tcp` (which must have no payload) from `src` to `dst` as an IPv4
/// packet with TTL `hop_limit`, DSCP `dscp` (0..=63) and ECN Not-ECT into
/// the front of `buf`, and returns its length — the bytes
/// [`emit_tcp_packet_dscp`](super::emit_tcp_packet_dscp) writes. `None`
/// when `buf` is too small or `tcp` carries a payload (the general emitter
/// then says which).
pub fn emit_v4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    hop_limit: u8,
    dscp: u8,
    tcp: &TcpRepr<'_>,
    buf: &mut [u8],
) -> Option<usize> {
    if !tcp.payload.is_empty() {
        return None;
    }
    let usual = usual_syn_ack_options(&tcp.options);
    let opt_len = if usual.is_some() {
        20
    } else {
        tcp.options.encoded_len()
    };
    let tcp_len = TCP_HEADER_LEN + opt_len;
    let total = IPV4_HEADER_LEN + tcp_len;
    let out = buf.get_mut(..total)?;
    let (hdr, opts) = out.split_at_mut(IPV4_HEADER_LEN + TCP_HEADER_LEN);
    let hdr: &mut [u8; IPV4_HEADER_LEN + TCP_HEADER_LEN] = hdr.try_into().ok()?;
    let opt_sum = emit_options(&tcp.options, usual, opts)?;

    let (s, d) = (src.to_bits(), dst.to_bits());
    let addrs = u64::from(s) + u64::from(d);
    // IPv4 (RFC 791 §3.1), as IpRepr::emit: version 4, IHL 5, TOS from the
    // DSCP, identification 0, DF, no options.
    let tos = (dscp & 0x3f) << 2;
    let w0 = 0x4500_0000 | u32::from(tos) << 16 | total as u32;
    let w1 = 0x0000_4000u32;
    let w2 = u32::from(hop_limit) << 24 | u32::from(PROTO_TCP) << 16;
    let ip_sum = addrs + u64::from(w0) + u64::from(w1) + u64::from(w2);
    let ip_check = !checksum::fold(ip_sum);
    // TCP (RFC 9293 §3.1): the header words, then the pseudo-header's
    // addresses, protocol and length.
    let t0 = u32::from(tcp.src_port) << 16 | u32::from(tcp.dst_port);
    let t3 =
        ((tcp_len / 4) as u32) << 28 | u32::from(tcp.flags.bits()) << 16 | u32::from(tcp.window);
    let t4 = u32::from(tcp.urgent);
    let tcp_sum = addrs
        + u64::from(PROTO_TCP)
        + tcp_len as u64
        + u64::from(t0)
        + u64::from(tcp.seq.0)
        + u64::from(tcp.ack.0)
        + u64::from(t3)
        + u64::from(t4)
        + opt_sum;
    let tcp_check = !checksum::fold(tcp_sum);

    hdr[0..4].copy_from_slice(&w0.to_be_bytes());
    hdr[4..8].copy_from_slice(&w1.to_be_bytes());
    hdr[8..12].copy_from_slice(&(w2 | u32::from(ip_check)).to_be_bytes());
    hdr[12..16].copy_from_slice(&s.to_be_bytes());
    hdr[16..20].copy_from_slice(&d.to_be_bytes());
    hdr[20..24].copy_from_slice(&t0.to_be_bytes());
    hdr[24..28].copy_from_slice(&tcp.seq.0.to_be_bytes());
    hdr[28..32].copy_from_slice(&tcp.ack.0.to_be_bytes());
    hdr[32..36].copy_from_slice(&t3.to_be_bytes());
    hdr[36..40].copy_from_slice(&(u32::from(tcp_check) << 16 | t4).to_be_bytes());
    Some(total)
}

/// The SYN-ACK's usual options — MSS, window scale, timestamps and
/// SACK-permitted, nothing else — as `(mss, shift, tsval, tsecr)`.
#[inline]
fn usual_syn_ack_options(o: &TcpOptions) -> Option<(u16, u8, u32, u32)> {
    match (
        o.mss,
        o.sack_permitted,
        o.timestamps,
        o.window_scale,
        o.experimental,
        o.sack_blocks.is_empty(),
    ) {
        (Some(mss), true, Some((v, e)), Some(shift), None, true) => Some((mss, shift, v, e)),
        _ => None,
    }
}

/// Writes the options into `out` (exactly their encoded length) and returns
/// their unfolded sum. The usual SYN-ACK options are written in the layout
/// [`TcpOptions::emit`] gives them (MSS; SACK-permitted, TS; NOP, WS) and
/// summed from the fields; any others go through [`TcpOptions::emit`] and
/// are summed from the bytes.
#[inline]
fn emit_options(o: &TcpOptions, usual: Option<(u16, u8, u32, u32)>, out: &mut [u8]) -> Option<u64> {
    if let Some((mss, shift, v, e)) = usual {
        let out: &mut [u8; 20] = out.try_into().ok()?;
        let words = [
            0x0204_0000 | u32::from(mss),
            0x0402_080a,
            v,
            e,
            0x0103_0300 | u32::from(shift),
        ];
        let mut sum = 0u64;
        for (chunk, w) in out.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&w.to_be_bytes());
            sum += u64::from(w);
        }
        return Some(sum);
    }
    let n = o.emit(out).ok()?;
    Some(checksum::sum(&out[..n], 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{emit_tcp_packet_dscp, SeqNum, TcpFlags};
    use std::net::IpAddr;

    /// Every combination of options (with 0 to 4 SACK blocks), of flags,
    /// DSCP and TTL, and of odd field values: the same bytes as the general
    /// emitter, and the same refusals for a buffer one byte short.
    #[test]
    fn same_bytes_as_the_general_emitter() {
        let src = Ipv4Addr::new(198, 18, 0, 2);
        let dst = Ipv4Addr::new(198, 19, 255, 1);
        let mut checked = 0;
        for bits in 0u32..64 {
            for blocks in 0..=4u32 {
                let mut options = TcpOptions {
                    mss: (bits & 1 != 0).then_some(1460),
                    window_scale: (bits & 2 != 0).then_some(7),
                    sack_permitted: bits & 4 != 0,
                    timestamps: (bits & 8 != 0).then_some((0xfedc_ba98, 0x0123_4567)),
                    experimental: (bits & 16 != 0).then_some(0x4d4d),
                    ..TcpOptions::default()
                };
                for b in 0..blocks {
                    assert!(options
                        .sack_blocks
                        .push(SeqNum(1000 * b + 1), SeqNum(1000 * b + 500)));
                }
                let flags = [
                    TcpFlags::SYN | TcpFlags::ACK,
                    TcpFlags::SYN | TcpFlags::ACK | TcpFlags::ECE,
                    TcpFlags::RST,
                    TcpFlags::RST | TcpFlags::ACK,
                    TcpFlags::ACK,
                ][(bits as usize + blocks as usize) % 5];
                let repr = TcpRepr {
                    src_port: 80,
                    dst_port: 0xfff0 - bits as u16,
                    seq: SeqNum(0xffff_ff00u32.wrapping_add(bits * 77_777)),
                    ack: SeqNum(bits.wrapping_mul(0x9e37_79b9)),
                    flags,
                    window: if bits & 32 != 0 { 65535 } else { 0 },
                    urgent: if bits & 32 != 0 { 0 } else { 7 },
                    options,
                    payload: &[],
                };
                let (hop, dscp) = (if bits & 1 != 0 { 255 } else { 1 }, (bits % 64) as u8);
                let mut general = [0u8; 128];
                let n = emit_tcp_packet_dscp(
                    IpAddr::V4(src),
                    IpAddr::V4(dst),
                    hop,
                    dscp,
                    &repr,
                    &mut general,
                )
                .unwrap();
                let mut fast = [0xaau8; 128];
                assert_eq!(emit_v4(src, dst, hop, dscp, &repr, &mut fast), Some(n));
                assert_eq!(
                    fast[..n],
                    general[..n],
                    "options {bits:#x}, {blocks} blocks"
                );
                assert_eq!(fast[n..], [0xaa; 128][n..], "nothing written past the end");
                assert_eq!(
                    emit_v4(src, dst, hop, dscp, &repr, &mut fast[..n - 1]),
                    None
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 64 * 5);
    }

    #[test]
    fn a_payload_is_left_to_the_general_emitter() {
        let repr = TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq: SeqNum(3),
            ack: SeqNum(4),
            flags: TcpFlags::ACK,
            window: 5,
            urgent: 0,
            options: TcpOptions::default(),
            payload: b"x",
        };
        let a = Ipv4Addr::new(198, 18, 0, 1);
        assert_eq!(emit_v4(a, a, 64, 0, &repr, &mut [0; 64]), None);
    }
}
