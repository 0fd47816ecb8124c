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
use super::{checksum, SeqNum, TcpFlags, TcpOptions, TcpRepr, PROTO_TCP};

/// Writes `tcp` (which must have no payload) from `src` to `dst` as an IPv4
/// packet with TTL `hop_limit`, DSCP `dscp` (0..=63) and ECN Not-ECT into
/// the front of `buf`, and returns its length — the bytes
/// [`emit_tcp_packet_dscp`](super::emit_tcp_packet_dscp) writes. `None`
/// when `buf` is too small or `tcp` carries a payload (the general emitter
/// then says which). A SYN or SYN-ACK with the usual options goes through
/// [`emit_syn_v4`].
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
    if let Some((mss, shift, tsval, tsecr)) = usual_syn_ack_options(&tcp.options) {
        let syn = UsualSyn {
            src_port: tcp.src_port,
            dst_port: tcp.dst_port,
            seq: tcp.seq,
            ack: tcp.ack,
            flags: tcp.flags,
            window: tcp.window,
            urgent: tcp.urgent,
            mss,
            shift,
            tsval,
            tsecr,
        };
        return emit_syn_v4(src, dst, hop_limit, dscp, &syn, buf);
    }
    let opt_len = tcp.options.encoded_len();
    let total = IPV4_HEADER_LEN + TCP_HEADER_LEN + opt_len;
    let out = buf.get_mut(..total)?;
    let (hdr, opts) = out.split_at_mut(IPV4_HEADER_LEN + TCP_HEADER_LEN);
    let hdr: &mut [u8; IPV4_HEADER_LEN + TCP_HEADER_LEN] = hdr.try_into().ok()?;
    let n = tcp.options.emit(opts).ok()?;
    let opt_sum = checksum::sum(&opts[..n], 0);
    let t0 = u32::from(tcp.src_port) << 16 | u32::from(tcp.dst_port);
    let fields = [t0, tcp.seq.0, tcp.ack.0];
    write_headers(
        hdr,
        (src, dst, hop_limit, dscp),
        fields,
        (tcp.flags, tcp.window, tcp.urgent),
        opt_sum,
        total,
    );
    Some(total)
}

/// A SYN or SYN-ACK carrying the usual options — MSS; SACK-permitted, TS;
/// NOP, WS, the layout [`TcpOptions::emit`] gives them and both synfin
/// and Linux send — as the fields [`emit_syn_v4`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsualSyn {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number (the ISS).
    pub seq: SeqNum,
    /// Acknowledgment number (zero on a SYN).
    pub ack: SeqNum,
    /// Control bits: SYN, maybe ACK, ECE, CWR.
    pub flags: TcpFlags,
    /// Window field (never scaled on a SYN, RFC 7323 §2.2).
    pub window: u16,
    /// Urgent pointer (zero: no SYN synfin sends is urgent).
    pub urgent: u16,
    /// The MSS option's value.
    pub mss: u16,
    /// The window scale option's shift.
    pub shift: u8,
    /// TSval.
    pub tsval: u32,
    /// TSecr (zero on a SYN).
    pub tsecr: u32,
}

impl UsualSyn {
    /// The same segment as a [`TcpRepr`], for the general emitter.
    pub fn repr(&self) -> TcpRepr<'static> {
        TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            urgent: self.urgent,
            options: TcpOptions {
                mss: Some(self.mss),
                window_scale: Some(self.shift),
                sack_permitted: true,
                timestamps: Some((self.tsval, self.tsecr)),
                ..TcpOptions::default()
            },
            payload: &[],
        }
    }
}

/// Writes `syn` from `src` to `dst` as [`emit_v4`] does (the same bytes as
/// the general emitter for `syn.repr()`), from its fields: no option list
/// built, walked or summed from bytes. The one writer of every connection's
/// SYN and SYN-ACK. `None` when `buf` is too small.
#[inline(never)]
pub fn emit_syn_v4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    hop_limit: u8,
    dscp: u8,
    syn: &UsualSyn,
    buf: &mut [u8],
) -> Option<usize> {
    const TOTAL: usize = IPV4_HEADER_LEN + TCP_HEADER_LEN + 20;
    let out: &mut [u8; TOTAL] = buf.get_mut(..TOTAL)?.try_into().ok()?;
    let (hdr, opts) = out.split_at_mut(IPV4_HEADER_LEN + TCP_HEADER_LEN);
    let hdr: &mut [u8; IPV4_HEADER_LEN + TCP_HEADER_LEN] = hdr.try_into().ok()?;
    // MSS; SACK-permitted, TS; NOP, WS (kinds 2, 4, 8, 1, 3).
    let words = [
        0x0204_0000 | u32::from(syn.mss),
        0x0402_080a,
        syn.tsval,
        syn.tsecr,
        0x0103_0300 | u32::from(syn.shift),
    ];
    let mut opt_sum = 0u64;
    for (chunk, w) in opts.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_be_bytes());
        opt_sum += u64::from(w);
    }
    let t0 = u32::from(syn.src_port) << 16 | u32::from(syn.dst_port);
    write_headers(
        hdr,
        (src, dst, hop_limit, dscp),
        [t0, syn.seq.0, syn.ack.0],
        (syn.flags, syn.window, syn.urgent),
        opt_sum,
        TOTAL,
    );
    Some(TOTAL)
}

/// The IPv4 and TCP headers of a `total`-byte packet whose options (after
/// the TCP header, summing to `opt_sum` unfolded) are written:
/// `ports_seq_ack` is the TCP header's first three words. Both checksums
/// come from the same fields as 32-bit words (a big-endian 32-bit word is
/// congruent to the sum of its two 16-bit halves modulo 0xffff, RFC 1071
/// §2(A)), the address words shared by the IPv4 header and the TCP
/// pseudo-header (RFC 9293 §3.1).
#[inline(always)]
fn write_headers(
    hdr: &mut [u8; IPV4_HEADER_LEN + TCP_HEADER_LEN],
    (src, dst, hop_limit, dscp): (Ipv4Addr, Ipv4Addr, u8, u8),
    ports_seq_ack: [u32; 3],
    (flags, window, urgent): (TcpFlags, u16, u16),
    opt_sum: u64,
    total: usize,
) {
    let tcp_len = total - IPV4_HEADER_LEN;
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
    let [t0, seq, ack] = ports_seq_ack;
    let t3 = ((tcp_len / 4) as u32) << 28 | u32::from(flags.bits()) << 16 | u32::from(window);
    let t4 = u32::from(urgent);
    let tcp_sum = addrs
        + u64::from(PROTO_TCP)
        + tcp_len as u64
        + u64::from(t0)
        + u64::from(seq)
        + u64::from(ack)
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
    hdr[24..28].copy_from_slice(&seq.to_be_bytes());
    hdr[28..32].copy_from_slice(&ack.to_be_bytes());
    hdr[32..36].copy_from_slice(&t3.to_be_bytes());
    hdr[36..40].copy_from_slice(&(u32::from(tcp_check) << 16 | t4).to_be_bytes());
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
