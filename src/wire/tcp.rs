//! TCP header (RFC 9293 §3.1) and options: MSS (RFC 9293 §3.2), window
//! scale and timestamps (RFC 7323), SACK (RFC 2018), shared experimental
//! options (RFC 6994).

use core::fmt;
use core::ops::{BitAnd, BitAndAssign, BitOr, BitOrAssign};
use std::net::IpAddr;

use super::checksum;
use super::ip::PROTO_TCP;
use super::{SeqNum, WireError};

mod options;
pub use options::{SackBlocks, TcpOptions};

/// Minimum TCP header length: data offset 5 (RFC 9293 §3.1).
pub const TCP_HEADER_LEN: usize = 20;
/// Maximum room for options: data offset 15 gives 60 bytes of header.
pub const MAX_OPTIONS_LEN: usize = 40;
/// Largest window shift allowed (RFC 7323 §2.3).
pub const MAX_WINDOW_SCALE: u8 = 14;

/// The TCP control bits (RFC 9293 §3.1, RFC 3168 §6.1 for ECE/CWR), as the
/// low byte of the flags field (byte 13).
#[derive(Copy, Clone, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push function.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// Acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// Urgent pointer field is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN-Echo (RFC 3168).
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion Window Reduced (RFC 3168).
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// No flags.
    pub const fn empty() -> Self {
        TcpFlags(0)
    }
    /// True if every bit of `other` is set in `self`.
    pub fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// True if any bit of `other` is set in `self`.
    pub fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }
    /// The raw bits.
    pub fn bits(self) -> u8 {
        self.0
    }
    /// True if no flag is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}
impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}
impl BitAnd for TcpFlags {
    type Output = TcpFlags;
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}
impl BitAndAssign for TcpFlags {
    fn bitand_assign(&mut self, rhs: TcpFlags) {
        self.0 &= rhs.0;
    }
}

/// tcpdump / packetdrill style: `S`, `F`, `R`, `P`, `U`, `E`, `W` in that
/// order, then `.` if ACK is set; `-` when nothing is set.
/// E.g. SYN|ACK is `S.`, a bare ACK is `.`, RST is `R`.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("-");
        }
        for (flag, c, _) in FLAG_NAMES {
            if self.contains(flag) {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

/// Each flag with its tcpdump letter and its name, in display order.
const FLAG_NAMES: [(TcpFlags, char, &str); 8] = [
    (TcpFlags::SYN, 'S', "SYN"),
    (TcpFlags::FIN, 'F', "FIN"),
    (TcpFlags::RST, 'R', "RST"),
    (TcpFlags::PSH, 'P', "PSH"),
    (TcpFlags::URG, 'U', "URG"),
    (TcpFlags::ECE, 'E', "ECE"),
    (TcpFlags::CWR, 'W', "CWR"),
    (TcpFlags::ACK, '.', "ACK"),
];

impl TcpFlags {
    /// The names of the set flags (`SYN`, `ACK`, …) in the order tcpdump
    /// prints them, ACK last.
    ///
    /// ```
    /// use synfin::wire::TcpFlags;
    /// let f = TcpFlags::SYN | TcpFlags::ACK;
    /// assert_eq!(f.names().collect::<Vec<_>>(), ["SYN", "ACK"]);
    /// ```
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        FLAG_NAMES
            .into_iter()
            .filter(move |(f, _, _)| self.contains(*f))
            .map(|(_, _, n)| n)
    }
}
impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A checked, zero-copy view of a TCP segment (header + payload),
/// RFC 9293 §3.1.
///
/// After [`TcpSegment::new_checked`] succeeds, the buffer holds at least 20
/// bytes and `20 <= header_len() <= buffer len`.
#[derive(Debug, Clone)]
pub struct TcpSegment<T: AsRef<[u8]>> {
    buffer: T,
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<T: AsRef<[u8]>> TcpSegment<T> {
    /// Wraps `buffer` after checking: at least 20 bytes (`Truncated`), data
    /// offset >= 5 (`Malformed`), header within the buffer (`Truncated`).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < TCP_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let hl = usize::from(b[12] >> 4) * 4;
        if hl < TCP_HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if hl > b.len() {
            return Err(WireError::Truncated);
        }
        Ok(TcpSegment { buffer })
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.b(), 0)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.b(), 2)
    }
    /// Sequence number.
    pub fn seq_number(&self) -> SeqNum {
        SeqNum(be32(self.b(), 4))
    }
    /// Acknowledgment number (raw; meaningful when ACK is set).
    pub fn ack_number(&self) -> SeqNum {
        SeqNum(be32(self.b(), 8))
    }
    /// Header length in bytes (data offset × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.b()[12] >> 4) * 4
    }
    /// Control bits (byte 13; the reserved bits of byte 12 are not reported).
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.b()[13])
    }
    /// Window field (unscaled).
    pub fn window_len(&self) -> u16 {
        be16(self.b(), 14)
    }
    /// Checksum field as stored.
    pub fn checksum(&self) -> u16 {
        be16(self.b(), 16)
    }
    /// Urgent pointer field.
    pub fn urgent_at(&self) -> u16 {
        be16(self.b(), 18)
    }
    /// The options area (between byte 20 and the data offset).
    pub fn options(&self) -> &[u8] {
        &self.b()[TCP_HEADER_LEN..self.header_len()]
    }
    /// The payload: everything after the header.
    pub fn payload(&self) -> &[u8] {
        &self.b()[self.header_len()..]
    }
    /// True if the checksum over pseudo-header + whole segment is correct
    /// (RFC 9293 §3.1). Mixed address families return false.
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        if src.is_ipv4() != dst.is_ipv4() {
            return false;
        }
        let b = self.b();
        let Ok(len) = u32::try_from(b.len()) else {
            return false;
        };
        let s = checksum::sum(b, checksum::pseudo_header(src, dst, PROTO_TCP, len));
        checksum::fold(s) == 0xffff
    }

    /// [`TcpSegment::verify_checksum`] with the payload's sum already
    /// computed (`payload_sum` must be `checksum::sum(self.payload(), 0)`,
    /// or the [`checksum::copy_and_sum`] of it into a receive buffer, or
    /// pieces of it joined by [`checksum::combine`]): sums only the
    /// pseudo-header and the TCP header. For a receiver that copies the
    /// payload out and verifies in the same pass, committing the copy only
    /// when this returns true.
    pub fn verify_checksum_with_payload_sum(
        &self,
        src: &IpAddr,
        dst: &IpAddr,
        payload_sum: u64,
    ) -> bool {
        if src.is_ipv4() != dst.is_ipv4() {
            return false;
        }
        let b = self.b();
        let Ok(len) = u32::try_from(b.len()) else {
            return false;
        };
        let hl = self.header_len();
        let s = checksum::sum(&b[..hl], checksum::pseudo_header(src, dst, PROTO_TCP, len));
        checksum::fold(checksum::combine(s, hl, payload_sum)) == 0xffff
    }
}

/// A parsed or to-be-emitted TCP segment.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: SeqNum,
    /// Acknowledgment number: the raw field, meaningful when `flags` has ACK.
    pub ack: SeqNum,
    /// Control bits.
    pub flags: TcpFlags,
    /// Raw (unscaled) window field.
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Options.
    pub options: TcpOptions,
    /// Payload bytes.
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Parses a checked segment. With `verify_checksum`, a wrong checksum is
    /// `BadChecksum` and mixed address families are `Malformed`. Option
    /// errors are as in [`TcpOptions::parse`].
    pub fn parse(
        segment: &TcpSegment<&'a [u8]>,
        src: &IpAddr,
        dst: &IpAddr,
        verify_checksum: bool,
    ) -> Result<TcpRepr<'a>, WireError> {
        if verify_checksum {
            if src.is_ipv4() != dst.is_ipv4() {
                return Err(WireError::Malformed);
            }
            if !segment.verify_checksum(src, dst) {
                return Err(WireError::BadChecksum);
            }
        }
        let buf: &'a [u8] = segment.buffer;
        let options = TcpOptions::parse(segment.options())?;
        Ok(TcpRepr {
            src_port: segment.src_port(),
            dst_port: segment.dst_port(),
            seq: segment.seq_number(),
            ack: segment.ack_number(),
            flags: segment.flags(),
            window: segment.window_len(),
            urgent: segment.urgent_at(),
            options,
            payload: &buf[segment.header_len()..],
        })
    }

    /// Header length: 20 + `options.encoded_len()`.
    pub fn header_len(&self) -> usize {
        TCP_HEADER_LEN + self.options.encoded_len()
    }

    /// Length in sequence space: payload bytes plus one each for SYN and FIN.
    pub fn segment_len(&self) -> usize {
        self.payload.len()
            + usize::from(self.flags.contains(TcpFlags::SYN))
            + usize::from(self.flags.contains(TcpFlags::FIN))
    }

    /// Writes header + payload into the front of `buf` with the checksum
    /// filled in, returning the bytes written. `Truncated` if `buf` is too
    /// small; `Malformed` if `src`/`dst` families differ.
    pub fn emit(&self, buf: &mut [u8], src: &IpAddr, dst: &IpAddr) -> Result<usize, WireError> {
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(WireError::Malformed);
        }
        let hl = self.header_len();
        let total = hl + self.payload.len();
        let len32 = u32::try_from(total).map_err(|_| WireError::Malformed)?;
        let out = buf.get_mut(..total).ok_or(WireError::Truncated)?;
        // One pass over the payload: copied and summed together (a SYN,
        // a SYN-ACK or an ACK has none).
        let payload_sum = if self.payload.is_empty() {
            0
        } else {
            checksum::copy_and_sum(&mut out[hl..], self.payload, 0)
        };
        self.emit_checksummed_header(out, hl, src, dst, len32, payload_sum)?;
        Ok(total)
    }

    /// Writes the header alone (options included, `self.payload` ignored)
    /// with its checksum computed from `payload_sum`, the sum of the
    /// `payload_len` payload bytes that go (or already are) after it:
    /// `checksum::sum(payload, 0)`, or the [`checksum::copy_and_sum`] that
    /// put them there, or pieces joined by [`checksum::combine`]. Returns the
    /// header length. For a caller that copies the payload into the packet
    /// itself and sums it on the way, so only the header is summed here.
    /// `Truncated` if `buf` is too small for the header; `Malformed` if
    /// `src`/`dst` families differ or the segment is too long.
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv4Addr};
    /// use synfin::wire::{checksum, SeqNum, TcpFlags, TcpOptions, TcpRepr, TcpSegment};
    /// let (src, dst) = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
    /// let repr = TcpRepr {
    ///     src_port: 1, dst_port: 2, seq: SeqNum(3), ack: SeqNum(4), flags: TcpFlags::ACK,
    ///     window: 5, urgent: 0, options: TcpOptions::default(), payload: &[],
    /// };
    /// let (ring_a, ring_b) = (&b"hello, "[..], &b"world"[..]); // a wrapped send ring
    /// let mut pkt = [0u8; 32];
    /// let hl = repr.header_len();
    /// let (a, b) = pkt[hl..].split_at_mut(ring_a.len());
    /// let sa = checksum::copy_and_sum(a, ring_a, 0);
    /// let sum = checksum::combine(sa, ring_a.len(), checksum::copy_and_sum(b, ring_b, 0));
    /// repr.emit_header_with_payload_sum(&mut pkt, &src, &dst, 12, sum).unwrap();
    /// assert!(TcpSegment::new_checked(&pkt[..]).unwrap().verify_checksum(&src, &dst));
    /// ```
    pub fn emit_header_with_payload_sum(
        &self,
        buf: &mut [u8],
        src: &IpAddr,
        dst: &IpAddr,
        payload_len: usize,
        payload_sum: u64,
    ) -> Result<usize, WireError> {
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(WireError::Malformed);
        }
        let hl = self.header_len();
        let len32 = hl
            .checked_add(payload_len)
            .and_then(|t| u32::try_from(t).ok())
            .ok_or(WireError::Malformed)?;
        self.emit_checksummed_header(buf, hl, src, dst, len32, payload_sum)
    }

    /// The header (`hl` bytes, [`TcpRepr::header_len`]) with its checksum
    /// from the payload's sum; `len32` is the segment length (header +
    /// payload), already checked.
    fn emit_checksummed_header(
        &self,
        buf: &mut [u8],
        hl: usize,
        src: &IpAddr,
        dst: &IpAddr,
        len32: u32,
        payload_sum: u64,
    ) -> Result<usize, WireError> {
        self.emit_header_of_len(buf, hl)?;
        let pseudo = checksum::pseudo_header(src, dst, PROTO_TCP, len32);
        let s = checksum::combine(checksum::sum(&buf[..hl], pseudo), hl, payload_sum);
        buf[16..18].copy_from_slice(&(!checksum::fold(s)).to_be_bytes());
        Ok(hl)
    }

    /// Writes the header alone (options included, `self.payload` ignored)
    /// with a zero checksum field, returning its length. For a caller that
    /// places the payload itself and then computes the checksum once over
    /// header and payload (the stack's transmit path), instead of
    /// [`TcpRepr::emit`]'s copy and sum. `Truncated` if `buf` is too small.
    pub fn emit_header(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        self.emit_header_of_len(buf, self.header_len())
    }

    /// [`TcpRepr::emit_header`] with the header length `hl` already known
    /// (the option layout is worked out once per segment, not per use).
    fn emit_header_of_len(&self, buf: &mut [u8], hl: usize) -> Result<usize, WireError> {
        debug_assert_eq!(hl, self.header_len());
        let out = buf.get_mut(..hl).ok_or(WireError::Truncated)?;
        out[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        out[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        out[4..8].copy_from_slice(&self.seq.0.to_be_bytes());
        out[8..12].copy_from_slice(&self.ack.0.to_be_bytes());
        out[12] = ((hl / 4) as u8) << 4;
        out[13] = self.flags.bits();
        out[14..16].copy_from_slice(&self.window.to_be_bytes());
        out[16..18].copy_from_slice(&[0, 0]);
        out[18..20].copy_from_slice(&self.urgent.to_be_bytes());
        self.options
            .emit_len(&mut out[TCP_HEADER_LEN..hl], hl - TCP_HEADER_LEN)?;
        Ok(hl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn syn_options_in_the_usual_layout() {
        // The one-go write of MSS, SACK-permitted, TS, WS: the layout the
        // writer documents, and what the parser reads back.
        let o = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((0x0102_0304, 0x0a0b_0c0d)),
            ..TcpOptions::default()
        };
        let mut buf = [0xeeu8; 24];
        assert_eq!(o.encoded_len(), 20);
        assert_eq!(o.emit(&mut buf), Ok(20));
        assert_eq!(
            buf[..20],
            [2, 4, 5, 180, 4, 2, 8, 10, 1, 2, 3, 4, 10, 11, 12, 13, 1, 3, 3, 7]
        );
        assert_eq!(buf[20..], [0xee; 4]);
        assert_eq!(TcpOptions::parse(&buf[..20]), Ok(o));
        assert_eq!(o.emit(&mut buf[..19]), Err(WireError::Truncated));
    }

    fn v4() -> (IpAddr, IpAddr) {
        (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        )
    }
    fn v6() -> (IpAddr, IpAddr) {
        (
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
        )
    }

    fn all_options() -> TcpOptions {
        let mut sack = SackBlocks::new();
        sack.push(SeqNum(100), SeqNum(200));
        TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            sack_blocks: sack,
            timestamps: Some((0xdeadbeef, 0x01020304)),
            experimental: Some(0xf989),
        }
    }

    fn repr(options: TcpOptions, payload: &[u8]) -> TcpRepr<'_> {
        TcpRepr {
            src_port: 49152,
            dst_port: 80,
            seq: SeqNum(0x11223344),
            ack: SeqNum(0x55667788),
            flags: TcpFlags::PSH | TcpFlags::ACK,
            window: 65535,
            urgent: 0,
            options,
            payload,
        }
    }

    fn emit_opts(o: &TcpOptions) -> Vec<u8> {
        let mut buf = vec![0xaa; 40];
        let n = o.emit(&mut buf).unwrap();
        assert_eq!(n, o.encoded_len());
        assert_eq!(n % 4, 0);
        assert!(n <= 40);
        buf.truncate(n);
        buf
    }

    #[test]
    fn flags_display() {
        let f = |x: TcpFlags| format!("{x}");
        assert_eq!(f(TcpFlags::SYN | TcpFlags::ACK), "S.");
        assert_eq!(f(TcpFlags::FIN | TcpFlags::ACK), "F.");
        assert_eq!(f(TcpFlags::PSH | TcpFlags::ACK), "P.");
        assert_eq!(f(TcpFlags::RST), "R");
        assert_eq!(f(TcpFlags::RST | TcpFlags::ACK), "R.");
        assert_eq!(f(TcpFlags::ACK), ".");
        assert_eq!(f(TcpFlags::empty()), "-");
        assert_eq!(f(TcpFlags(0xff)), "SFRPUEW.");
        assert_eq!(format!("{:?}", TcpFlags::SYN), "S");
        let mut x = TcpFlags::SYN;
        x |= TcpFlags::ACK;
        assert!(x.contains(TcpFlags::SYN | TcpFlags::ACK));
        assert!(!x.contains(TcpFlags::SYN | TcpFlags::FIN));
        assert!(x.intersects(TcpFlags::SYN | TcpFlags::FIN));
        assert_eq!((x & TcpFlags::ACK).bits(), 0x10);
    }

    #[test]
    fn sack_blocks() {
        let mut s = SackBlocks::new();
        assert!(s.is_empty());
        for i in 0..4 {
            assert!(s.push(SeqNum(i), SeqNum(i + 1)));
        }
        assert!(!s.push(SeqNum(9), SeqNum(10)));
        assert_eq!(s.len(), 4);
        assert_eq!(s.as_slice()[3], (SeqNum(3), SeqNum(4)));
        s.truncate(1);
        let mut t = SackBlocks::new();
        t.push(SeqNum(0), SeqNum(1));
        assert_eq!(s, t);
        s.clear();
        assert_eq!(s, SackBlocks::new());
    }

    #[test]
    fn layout_syn_linux() {
        // mss, sackOK, TS, nop, wscale — Linux's SYN.
        let o = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((1, 2)),
            ..Default::default()
        };
        assert_eq!(
            emit_opts(&o),
            [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 7]
        );
        assert_eq!(TcpOptions::parse(&emit_opts(&o)).unwrap(), o);
    }

    #[test]
    fn layout_each_option() {
        let o = TcpOptions {
            mss: Some(536),
            sack_permitted: true,
            ..Default::default()
        };
        assert_eq!(emit_opts(&o), [2, 4, 2, 0x18, 1, 1, 4, 2]);
        let o = TcpOptions {
            timestamps: Some((7, 0)),
            ..Default::default()
        };
        assert_eq!(emit_opts(&o), [1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 0]);
        let o = TcpOptions {
            window_scale: Some(14),
            ..Default::default()
        };
        assert_eq!(emit_opts(&o), [1, 3, 3, 14]);
        let o = TcpOptions {
            experimental: Some(0xf989),
            ..Default::default()
        };
        assert_eq!(emit_opts(&o), [253, 4, 0xf9, 0x89]);
        let mut o = TcpOptions::default();
        o.sack_blocks.push(SeqNum(1), SeqNum(2));
        o.sack_blocks.push(SeqNum(3), SeqNum(4));
        assert_eq!(
            emit_opts(&o),
            [1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]
        );
        assert!(emit_opts(&TcpOptions::default()).is_empty());
        let o = all_options();
        assert_eq!(o.encoded_len(), 4 + 12 + 4 + 4 + 12);
        assert_eq!(TcpOptions::parse(&emit_opts(&o)).unwrap(), o);
    }

    #[test]
    fn sack_blocks_dropped_to_fit() {
        let mut o = TcpOptions {
            timestamps: Some((1, 2)),
            ..Default::default()
        };
        for i in 0..4 {
            o.sack_blocks.push(SeqNum(i * 10), SeqNum(i * 10 + 5));
        }
        assert_eq!(o.sack_blocks_emitted(), 3);
        assert_eq!(o.encoded_len(), 40);
        let parsed = TcpOptions::parse(&emit_opts(&o)).unwrap();
        assert_eq!(parsed.sack_blocks.len(), 3);
        // Everything set: base 24, room for one block.
        let mut o = all_options();
        for i in 0..3 {
            o.sack_blocks.push(SeqNum(i), SeqNum(i + 1));
        }
        assert_eq!(o.sack_blocks_emitted(), 1);
        assert_eq!(o.encoded_len(), 36);
        // No other options: 4 blocks fit (4 + 32 = 36).
        let mut o = TcpOptions::default();
        for i in 0..4 {
            o.sack_blocks.push(SeqNum(i), SeqNum(i + 1));
        }
        assert_eq!(o.encoded_len(), 36);
        assert_eq!(TcpOptions::parse(&emit_opts(&o)).unwrap(), o);
    }

    #[test]
    fn parse_rules() {
        // EOL ends the list even if junk follows.
        let p = TcpOptions::parse(&[2, 4, 1, 0, 0, 99, 99, 99]).unwrap();
        assert_eq!(p.mss, Some(256));
        // Unknown kinds skipped; kind 254 skipped; 253 with len < 4 skipped.
        let p = TcpOptions::parse(&[
            30, 4, 9, 9, 254, 6, 1, 2, 3, 4, 253, 3, 7, 253, 2, 1, 3, 3, 9,
        ])
        .unwrap();
        assert_eq!(
            p,
            TcpOptions {
                window_scale: Some(9),
                ..Default::default()
            }
        );
        // 253 with trailing data: ExID only.
        let p = TcpOptions::parse(&[253, 8, 0xf9, 0x89, 1, 2, 3, 4]).unwrap();
        assert_eq!(p.experimental, Some(0xf989));
        // Window scale clamped.
        let p = TcpOptions::parse(&[3, 3, 200, 0]).unwrap();
        assert_eq!(p.window_scale, Some(14));
        // More than 4 SACK blocks: the extras are ignored.
        let mut o = vec![5, 42];
        for i in 0..5u32 {
            o.extend_from_slice(&i.to_be_bytes());
            o.extend_from_slice(&(i + 1).to_be_bytes());
        }
        let p = TcpOptions::parse(&o).unwrap();
        assert_eq!(p.sack_blocks.len(), 4);
        assert_eq!(p.sack_blocks.as_slice()[3], (SeqNum(3), SeqNum(4)));
        // Trailing NOPs fine.
        assert!(TcpOptions::parse(&[1, 1, 1, 1]).is_ok());
    }

    #[test]
    fn timestamps_fast_paths_match_the_general_ones() {
        // NOP,NOP,TS takes the parser's fast path; TS,NOP,NOP the walk.
        let ts = [8, 10, 0, 0, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef];
        let fast: Vec<u8> = [1, 1].iter().chain(&ts).copied().collect();
        let slow: Vec<u8> = ts.iter().chain(&[1, 1]).copied().collect();
        let want = TcpOptions {
            timestamps: Some((0x1234, 0xdead_beef)),
            ..Default::default()
        };
        assert_eq!(TcpOptions::parse(&fast).unwrap(), want);
        assert_eq!(TcpOptions::parse(&slow).unwrap(), want);
        // The emitter's fast path writes exactly that layout.
        assert_eq!(want.encoded_len(), 12);
        assert_eq!(emit_opts(&want), fast);
        let mut short = [0u8; 11];
        assert_eq!(want.emit(&mut short), Err(WireError::Truncated));
        // Any other option beside the timestamps takes the general path.
        let mut with_sack = want;
        with_sack.sack_blocks.push(SeqNum(1), SeqNum(2));
        assert_eq!(with_sack.encoded_len(), 24);
        assert_eq!(
            TcpOptions::parse(&emit_opts(&with_sack)).unwrap(),
            with_sack
        );
    }

    #[test]
    fn syn_layout_fast_path_matches_the_walk() {
        // mss,sackOK,TS,nop,wscale takes the parser's fast path; the same
        // options in another order take the walk.
        for shift in [0u8, 7, 14, 15, 255] {
            let want = TcpOptions {
                mss: Some(0x05b4),
                window_scale: Some(shift.min(MAX_WINDOW_SCALE)),
                sack_permitted: true,
                timestamps: Some((0x0102_0304, 0xa0b0_c0d0)),
                ..Default::default()
            };
            let fast = [
                2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0, 1, 3, 3, shift,
            ];
            let slow = [
                1, 3, 3, shift, 8, 10, 1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0, 2, 4, 0x05, 0xb4, 4, 2,
            ];
            assert_eq!(TcpOptions::parse(&fast).unwrap(), want);
            assert_eq!(TcpOptions::parse(&slow).unwrap(), want);
            // The emitter writes exactly that layout for a full SYN.
            if shift <= MAX_WINDOW_SCALE {
                assert_eq!(emit_opts(&want), fast);
            }
        }
    }

    #[test]
    fn parse_malformed() {
        let bad: &[&[u8]] = &[
            &[2, 3, 0],                   // MSS len 3
            &[2, 5, 0, 0, 0],             // MSS len 5
            &[3, 2],                      // wscale len 2
            &[4, 3, 0],                   // sackOK len 3
            &[5, 2],                      // SACK with no blocks
            &[5, 9, 0, 0, 0, 0, 0, 0, 0], // SACK len not 8n+2
            &[8, 8, 0, 0, 0, 0, 0, 0],    // TS len 8
            &[30, 1],                     // length < 2
            &[30, 0],                     // length 0
            &[30],                        // no length byte
            &[30, 5, 0, 0],               // runs past end
            &[2, 4, 0],                   // MSS runs past end
        ];
        for b in bad {
            assert_eq!(TcpOptions::parse(b), Err(WireError::Malformed), "{b:?}");
        }
    }

    #[test]
    fn roundtrip_v4_v6() {
        for (src, dst) in [v4(), v6()] {
            for opts in [TcpOptions::default(), all_options()] {
                let r = repr(opts, b"GET / HTTP/1.0\r\n\r\n");
                let mut buf = vec![0u8; 200];
                let n = r.emit(&mut buf, &src, &dst).unwrap();
                assert_eq!(n, r.header_len() + r.payload.len());
                let seg = TcpSegment::new_checked(&buf[..n]).unwrap();
                assert!(seg.verify_checksum(&src, &dst));
                assert_eq!(seg.header_len(), r.header_len());
                assert_eq!(seg.flags(), TcpFlags::PSH | TcpFlags::ACK);
                assert_eq!(seg.payload(), r.payload);
                let p = TcpRepr::parse(&seg, &src, &dst, true).unwrap();
                assert_eq!(p, r);
                // Wrong pseudo-header -> bad checksum.
                assert_eq!(
                    TcpRepr::parse(&seg, &dst, &dst, true),
                    Err(WireError::BadChecksum)
                );
                assert_eq!(
                    TcpRepr::parse(&seg, &v4().0, &v6().0, true),
                    Err(WireError::Malformed)
                );
                // Any single bit flip is detected.
                for i in 0..n {
                    let mut c = buf[..n].to_vec();
                    c[i] ^= 0x04;
                    if let Ok(s) = TcpSegment::new_checked(&c[..]) {
                        assert!(!s.verify_checksum(&src, &dst), "flip at {i}");
                    }
                }
                // Truncation at every length: Err or (checksum) failure, never panic.
                for k in 0..n {
                    let res = TcpSegment::new_checked(&buf[..k])
                        .and_then(|s| TcpRepr::parse(&s, &src, &dst, true));
                    assert!(res.is_err(), "len {k}");
                }
            }
        }
    }

    #[test]
    fn payload_sum_emit_and_verify_match_the_whole_segment_ones() {
        // The split paths (payload summed apart, in two pieces cut at every
        // point, odd ones included) give the same bytes and verdicts as
        // summing the whole segment.
        let payload: Vec<u8> = (0..300u32).map(|i| (i * 131 + 7) as u8).collect();
        for (src, dst) in [v4(), v6()] {
            for opts in [TcpOptions::default(), all_options()] {
                for plen in [0, 1, 2, 3, 64, 129, 300] {
                    let r = repr(opts, &payload[..plen]);
                    let mut whole = vec![0u8; 400];
                    let n = r.emit(&mut whole, &src, &dst).unwrap();
                    let hl = r.header_len();
                    for cut in [0, 1, plen / 2, plen.saturating_sub(1), plen] {
                        let (a, b) = r.payload.split_at(cut.min(plen));
                        let mut buf = vec![0xaau8; n];
                        let (pa, pb) = buf[hl..].split_at_mut(a.len());
                        let sa = checksum::copy_and_sum(pa, a, 0);
                        let ps = checksum::combine(sa, a.len(), checksum::copy_and_sum(pb, b, 0));
                        let got = r.emit_header_with_payload_sum(&mut buf, &src, &dst, plen, ps);
                        assert_eq!(got, Ok(hl));
                        assert_eq!(buf, whole[..n], "plen {plen} cut {cut}");
                    }
                    let seg = TcpSegment::new_checked(&whole[..n]).unwrap();
                    let ps = checksum::sum(seg.payload(), 0);
                    assert!(seg.verify_checksum_with_payload_sum(&src, &dst, ps));
                    assert!(!seg.verify_checksum_with_payload_sum(&dst, &dst, ps));
                    assert!(!seg.verify_checksum_with_payload_sum(&v4().0, &v6().0, ps));
                    // A flip anywhere: in the header it is caught by the
                    // header sum, in the payload by the payload sum.
                    for i in 0..n {
                        let mut c = whole[..n].to_vec();
                        c[i] ^= 0x10;
                        let s = TcpSegment::new_checked(&c[..]);
                        if let Ok(s) = s {
                            let ps = checksum::sum(s.payload(), 0);
                            assert!(!s.verify_checksum_with_payload_sum(&src, &dst, ps), "{i}");
                        }
                    }
                }
            }
        }
        let (s, d) = v4();
        let r = repr(TcpOptions::default(), b"");
        assert_eq!(
            r.emit_header_with_payload_sum(&mut [0u8; 19], &s, &d, 0, 0),
            Err(WireError::Truncated)
        );
        assert_eq!(
            r.emit_header_with_payload_sum(&mut [0u8; 20], &s, &v6().1, 0, 0),
            Err(WireError::Malformed)
        );
        assert_eq!(
            r.emit_header_with_payload_sum(&mut [0u8; 20], &s, &d, usize::MAX - 8, 0),
            Err(WireError::Malformed)
        );
    }

    #[test]
    fn emit_errors() {
        let (s, d) = v4();
        let r = repr(all_options(), b"xyz");
        let need = r.header_len() + 3;
        for k in 0..need {
            assert_eq!(r.emit(&mut vec![0; k], &s, &d), Err(WireError::Truncated));
        }
        assert_eq!(
            r.emit(&mut vec![0; need], &s, &v6().1),
            Err(WireError::Malformed)
        );
    }

    #[test]
    fn segment_len_and_checks() {
        let mut r = repr(TcpOptions::default(), b"abc");
        assert_eq!(r.segment_len(), 3);
        r.flags = TcpFlags::SYN | TcpFlags::FIN;
        assert_eq!(r.segment_len(), 5);
        let mut hdr = [0u8; 20];
        hdr[12] = 0x40;
        assert_eq!(
            TcpSegment::new_checked(&hdr[..]).err(),
            Some(WireError::Malformed)
        );
        hdr[12] = 0x60;
        assert_eq!(
            TcpSegment::new_checked(&hdr[..]).err(),
            Some(WireError::Truncated)
        );
    }

    #[test]
    fn known_checksum() {
        // SYN 10.0.0.1:49152 -> 10.0.0.2:80, seq 1, no options, win 65535.
        // Hand-computed RFC 1071 sum:
        //   pseudo: 0a00+0001+0a00+0002+0006+0014           = 0x141d
        //   header: c000+0050+0000+0001+0000+0000+5002+ffff+0000+0000
        //         = 0x2_1052 -> fold 0x1054
        //   total 0x141d+0x1054 = 0x2471 -> checksum !0x2471 = 0xdb8e
        let (s, d) = v4();
        let r = TcpRepr {
            src_port: 49152,
            dst_port: 80,
            seq: SeqNum(1),
            ack: SeqNum(0),
            flags: TcpFlags::SYN,
            window: 65535,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &[],
        };
        let mut buf = [0u8; 20];
        r.emit(&mut buf, &s, &d).unwrap();
        assert_eq!(&buf[16..18], &[0xdb, 0x8e]);
    }
}
