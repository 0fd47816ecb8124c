//! Segmentation offload on a TUN device opened with `IFF_VNET_HDR`: the
//! 10-byte virtio-net header (virtio spec 1.1 §5.1.6, `struct
//! virtio_net_hdr`) in front of every packet, and the coalescing of
//! synfin's consecutive segments of one flow into one TSO super-packet.
//!
//! A super-packet is what a NIC with TSO is handed: one IP header and one
//! TCP header (those of the first segment, with the lengths of the whole),
//! the payloads back to back, `gso_size` the segments' payload size, and
//! the TCP checksum left to the device (`NEEDS_CSUM`: the field holds the
//! pseudo-header sum, `csum_start`/`csum_offset` say where to finish it).
//! The kernel delivers such a packet to its own TCP as one large segment,
//! as GRO would have made it, so the per-packet cost of its receive path
//! (and of the write system call) is paid once per super-packet instead of
//! once per segment.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::wire::checksum;

/// Bytes of `struct virtio_net_hdr` (without `num_buffers`).
pub const VNET_HDR_LEN: usize = 10;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum is partial (CHECKSUM_PARTIAL).
pub const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_F_DATA_VALID`: the checksum was verified.
pub const F_DATA_VALID: u8 = 2;
/// `VIRTIO_NET_HDR_GSO_NONE`.
pub const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
pub const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_TCPV6`.
pub const GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_ECN` (ORed into the type).
pub const GSO_ECN: u8 = 0x80;
/// Largest IP packet a super-packet may be (the IPv4 total-length field).
const MAX_SUPER: usize = 65_535;
/// TCP flag bits.
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// The virtio-net header (little-endian fields: a TUN device's default).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    /// `F_NEEDS_CSUM`, `F_DATA_VALID`.
    pub flags: u8,
    /// `GSO_NONE`, `GSO_TCPV4`, `GSO_TCPV6` (| `GSO_ECN`).
    pub gso_type: u8,
    /// Bytes of headers (IP + TCP) in front of the payload.
    pub hdr_len: u16,
    /// Payload bytes per segment.
    pub gso_size: u16,
    /// Where checksumming starts (the TCP header).
    pub csum_start: u16,
    /// Offset of the checksum field from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHdr {
    /// Reads a header from the first [`VNET_HDR_LEN`] bytes.
    pub fn decode(b: &[u8]) -> Option<VnetHdr> {
        let b = b.get(..VNET_HDR_LEN)?;
        let u = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Some(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
        })
    }

    /// Writes the header into the first [`VNET_HDR_LEN`] bytes of `b`.
    pub fn encode(&self, b: &mut [u8]) {
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
    }

    /// Whether the kernel vouches for the packet's checksum: it was
    /// verified, or it is partial because the packet never left this host.
    pub fn checksum_trusted(&self) -> bool {
        self.flags & (F_NEEDS_CSUM | F_DATA_VALID) != 0 || self.gso_type & !GSO_ECN != GSO_NONE
    }
}

/// Where a TCP data segment's parts are, if it may join a super-packet:
/// IPv4 without options or fragmentation, or IPv6 with TCP as the first
/// next header; flags only ACK (and PSH); a payload.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Layout {
    v6: bool,
    ip_len: usize,
    hdr_len: usize,
    payload: usize,
    seq: u32,
}

fn layout(p: &[u8]) -> Option<Layout> {
    let (v6, ip_len) = match p.first()? >> 4 {
        4 => {
            let ok = p.len() >= 20
                && p[0] & 0x0f == 5
                && p[9] == 6
                && usize::from(u16::from_be_bytes([p[2], p[3]])) == p.len()
                // MF clear, fragment offset zero.
                && u16::from_be_bytes([p[6], p[7]]) & 0x3fff == 0;
            ok.then_some((false, 20))?
        }
        6 => {
            let ok = p.len() >= 40
                && p[6] == 6
                && usize::from(u16::from_be_bytes([p[4], p[5]])) + 40 == p.len();
            ok.then_some((true, 40))?
        }
        _ => return None,
    };
    let tcp = p.get(ip_len..ip_len + 20)?;
    let tcp_len = usize::from(tcp[12] >> 4) * 4;
    let hdr_len = ip_len + tcp_len;
    let flags = tcp[13];
    if tcp_len < 20 || hdr_len >= p.len() || flags & ACK == 0 || flags & !(ACK | PSH) != 0 {
        return None;
    }
    Some(Layout {
        v6,
        ip_len,
        hdr_len,
        payload: p.len() - hdr_len,
        seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
    })
}

/// The header bits two segments of one super-packet share, for a first
/// segment laid out as `l`: all of its `hdr_len` bytes but the IP length,
/// ID and checksum, the TCP sequence number, checksum and PSH bit.
fn header_mask(l: &Layout) -> [u8; MAX_HDR] {
    let mut m = [0u8; MAX_HDR];
    m[..l.hdr_len].fill(0xff);
    let free: &[usize] = if l.v6 { &[4, 5] } else { &[2, 3, 4, 5, 10, 11] };
    for &i in free {
        m[i] = 0;
    }
    let t = l.ip_len;
    m[t + 4..t + 8].fill(0);
    m[t + 16..t + 18].fill(0);
    m[t + 13] = !PSH;
    m
}

/// Whether `a` and `b` are equal in the bits of `mask`'s first `n` bytes
/// (8 <= `n` <= all three lengths): eight bytes at a time, the last word
/// overlapping the one before it — a handful of word operations, where
/// comparing the shared fields one slice at a time cost a `memcmp` call.
#[inline]
fn masked_eq(a: &[u8], b: &[u8], mask: &[u8; MAX_HDR], n: usize) -> bool {
    let word = |s: &[u8]| u64::from_le_bytes(s.try_into().expect("8 bytes"));
    let (a, b, m) = (&a[..n], &b[..n], &mask[..n]);
    // Whole chunks: no bounds check inside the loop.
    let mut diff = a
        .chunks_exact(8)
        .zip(b.chunks_exact(8))
        .zip(m.chunks_exact(8))
        .fold(0u64, |d, ((x, y), k)| d | ((word(x) ^ word(y)) & word(k)));
    if n % 8 != 0 {
        let j = n - 8;
        diff |= (word(&a[j..]) ^ word(&b[j..])) & word(&m[j..]);
    }
    diff == 0
}

/// Builds super-packets out of consecutive segments of one flow.
///
/// Two ways in: [`append`](Self::append) and [`start`](Self::start) copy a
/// packet built elsewhere; [`build_in_place`](Self::build_in_place) lends
/// the stack the buffer itself, placed so that a segment continuing the
/// super-packet is written with its payload already where it belongs —
/// only its header (tens of bytes) is moved, never the payload.
#[derive(Debug)]
pub struct Coalescer {
    /// Virtio header room, then the packet being built (`len` bytes in
    /// all), then room to build the next segment in place. Allocated once,
    /// at the first packet.
    buf: Vec<u8>,
    len: usize,
    layout: Option<Layout>,
    segments: usize,
    next_seq: u32,
    /// A segment shorter than the first ended the super-packet.
    closed: bool,
    /// A packet built in place that could not join: held here while the
    /// super-packet before it is written.
    spare: Vec<u8>,
    /// The header bits a segment must share with the first to join
    /// ([`header_mask`]), set when a super-packet starts.
    mask: [u8; MAX_HDR],
    /// The header bytes a segment built in place overwrote.
    saved: [u8; MAX_HDR],
    /// Every TCP packet given carries a partial checksum (the stack's
    /// transmit checksum offload, wire/offload.rs): each goes out with
    /// `NEEDS_CSUM`, not only super-packets.
    partial: bool,
}

/// The most header bytes a segment has (IPv6 and 60 bytes of TCP header):
/// what building in place overwrites and puts back.
const MAX_HDR: usize = 40 + 60;

/// The buffer: the virtio header, a whole super-packet, and room for one
/// more packet of any size behind it.
const BUF_LEN: usize = VNET_HDR_LEN + 2 * MAX_SUPER;

impl Default for Coalescer {
    fn default() -> Self {
        Coalescer {
            buf: Vec::new(),
            len: 0,
            layout: None,
            segments: 0,
            next_seq: 0,
            closed: false,
            spare: Vec::new(),
            mask: [0; MAX_HDR],
            saved: [0; MAX_HDR],
            partial: false,
        }
    }
}

/// What [`Coalescer::build_in_place`] did with the packet it had built.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Built {
    /// The builder had nothing to send.
    Nothing,
    /// The packet joined or started a super-packet, still being built.
    Held,
    /// The packet (and any super-packet before it) went to `out`.
    Written,
}

impl Coalescer {
    /// Whether a packet is being built.
    pub fn is_empty(&self) -> bool {
        self.layout.is_none()
    }

    /// Segments in the packet being built.
    pub fn segments(&self) -> usize {
        self.segments
    }

    /// Whether the TCP packets given have partial checksums (only the
    /// pseudo-header sum, wire/offload.rs), to be completed by the kernel:
    /// then every TCP packet goes out with `NEEDS_CSUM`. Set it before
    /// the first packet.
    pub fn set_partial(&mut self, partial: bool) {
        self.partial = partial;
    }

    /// The virtio header of a packet written alone (not a super-packet):
    /// empty, or with `NEEDS_CSUM` for a TCP packet whose checksum is
    /// partial.
    pub fn plain_header(&self, pkt: &[u8]) -> VnetHdr {
        if !self.partial {
            return VnetHdr::default();
        }
        partial_header(pkt).unwrap_or_default()
    }

    fn reserve(&mut self) {
        if self.buf.len() < BUF_LEN {
            self.buf.resize(BUF_LEN, 0);
        }
    }

    /// Where `pkt`'s parts are if it continues the packet being built. Its
    /// header equal to the first segment's but for the fields that differ
    /// between segments ([`header_mask`]) means the same layout, which
    /// [`layout`] checked for the first: version, header lengths,
    /// protocol, no fragment, flags ACK (and PSH); only the length field
    /// (against the packet's length), the sequence number and the payload
    /// are its own.
    #[inline]
    fn joins(&self, pkt: &[u8]) -> Option<Layout> {
        let l = self.layout?;
        if self.closed || pkt.len() <= l.hdr_len {
            return None;
        }
        let payload = pkt.len() - l.hdr_len;
        let ip_field = if l.v6 {
            usize::from(u16::from_be_bytes([pkt[4], pkt[5]])) + 40
        } else {
            usize::from(u16::from_be_bytes([pkt[2], pkt[3]]))
        };
        let t = l.ip_len;
        let seq = u32::from_be_bytes([pkt[t + 4], pkt[t + 5], pkt[t + 6], pkt[t + 7]]);
        let ok = ip_field == pkt.len()
            && seq == self.next_seq
            && payload <= l.payload
            && self.len - VNET_HDR_LEN + payload <= MAX_SUPER
            && masked_eq(&self.buf[VNET_HDR_LEN..], pkt, &self.mask, l.hdr_len);
        ok.then_some(Layout { payload, seq, ..l })
    }

    /// The bookkeeping of a segment laid out as `n` (flags byte
    /// `tcp_flags`) joining; its payload is already in place at `len`.
    fn joined(&mut self, n: &Layout, tcp_flags: u8) {
        let Some(l) = self.layout else {
            return;
        };
        // PSH anywhere makes the whole super-packet PSH.
        self.buf[VNET_HDR_LEN + l.ip_len + 13] |= tcp_flags & PSH;
        self.len += n.payload;
        self.segments += 1;
        self.next_seq = n.seq.wrapping_add(n.payload as u32);
        self.closed = n.payload < l.payload;
    }

    /// The bookkeeping of a packet laid out as `l`, in place at the front,
    /// starting a super-packet.
    fn started(&mut self, l: Layout, len: usize) {
        self.len = VNET_HDR_LEN + len;
        self.mask = header_mask(&l);
        self.layout = Some(l);
        self.segments = 1;
        self.next_seq = l.seq.wrapping_add(l.payload as u32);
        self.closed = false;
    }

    /// Appends `pkt` to the packet being built if it continues it; returns
    /// `false` (and changes nothing) otherwise.
    pub fn append(&mut self, pkt: &[u8]) -> bool {
        let Some(n) = self.joins(pkt) else {
            return false;
        };
        self.buf[self.len..self.len + n.payload].copy_from_slice(&pkt[n.hdr_len..]);
        self.joined(&n, pkt[n.ip_len + 13]);
        true
    }

    /// Starts a packet with `pkt`; returns `false` (and changes nothing) if
    /// it cannot be coalesced with anything, so it is to be written alone.
    pub fn start(&mut self, pkt: &[u8]) -> bool {
        debug_assert!(self.is_empty());
        let Some(l) = layout(pkt) else {
            return false;
        };
        self.reserve();
        self.buf[VNET_HDR_LEN..VNET_HDR_LEN + pkt.len()].copy_from_slice(pkt);
        self.started(l, pkt.len());
        true
    }

    /// Has `write` build the next packet (at most `mtu` bytes, its length
    /// returned, `None` for no packet) straight into the buffer, and
    /// coalesces it; `out` is given each packet that is finished (bytes,
    /// virtio header first, and the segments it carries) — the
    /// super-packet before a packet that does not join, and a packet that
    /// cannot be coalesced at all.
    ///
    /// While a super-packet is being built, `write` gets the buffer from
    /// `len - hdr_len` on: a segment that continues it lands with its
    /// payload right behind the payloads before it. The `hdr_len` bytes its
    /// header overwrote are put back afterwards, so only they are copied
    /// (twice), never the payload. A packet that does not join is moved
    /// aside, and the super-packet before it restored and written first.
    pub fn build_in_place(
        &mut self,
        mtu: usize,
        write: &mut dyn FnMut(&mut [u8]) -> Option<usize>,
        out: &mut dyn FnMut(&[u8], usize) -> std::io::Result<()>,
    ) -> std::io::Result<Built> {
        self.reserve();
        let mtu = mtu.min(MAX_SUPER);
        if let Some(l) = self.layout {
            // No full segment can join any more: write it now rather than
            // build the next one behind it and move that aside.
            if self.closed || self.len - VNET_HDR_LEN + l.payload > MAX_SUPER {
                self.finish_into(out)?;
            }
        }
        let Some(l) = self.layout else {
            let Some(n) = write(&mut self.buf[VNET_HDR_LEN..VNET_HDR_LEN + mtu]) else {
                return Ok(Built::Nothing);
            };
            let n = n.min(mtu);
            return self.place_first(n, out);
        };
        let at = self.len - l.hdr_len;
        let saved = &mut self.saved[..l.hdr_len];
        saved.copy_from_slice(&self.buf[at..self.len]);
        let Some(n) = write(&mut self.buf[at..at + mtu]) else {
            self.buf[at..self.len].copy_from_slice(&self.saved[..l.hdr_len]);
            return Ok(Built::Nothing);
        };
        let n = n.min(mtu);
        let pkt = &self.buf[at..at + n];
        if let Some(nl) = self.joins(pkt) {
            let flags = pkt[nl.ip_len + 13];
            self.buf[at..self.len].copy_from_slice(&self.saved[..l.hdr_len]);
            self.joined(&nl, flags);
            return Ok(Built::Held);
        }
        // It does not join: set it aside, restore and write what was built,
        // then take it as a first packet.
        self.spare.clear();
        self.spare.extend_from_slice(pkt);
        self.buf[at..self.len].copy_from_slice(&self.saved[..l.hdr_len]);
        self.finish_into(out)?;
        let n = self.spare.len();
        self.buf[VNET_HDR_LEN..VNET_HDR_LEN + n].copy_from_slice(&self.spare);
        self.place_first(n, out)
    }

    /// The builder is empty and a packet of `n` bytes sits at the front:
    /// it starts a super-packet if it is a data segment, or goes out alone
    /// behind an empty virtio header.
    fn place_first(
        &mut self,
        n: usize,
        out: &mut dyn FnMut(&[u8], usize) -> std::io::Result<()>,
    ) -> std::io::Result<Built> {
        match layout(&self.buf[VNET_HDR_LEN..VNET_HDR_LEN + n]) {
            Some(l) => {
                self.started(l, n);
                Ok(Built::Held)
            }
            None => {
                let h = self.plain_header(&self.buf[VNET_HDR_LEN..VNET_HDR_LEN + n]);
                h.encode(&mut self.buf[..VNET_HDR_LEN]);
                out(&self.buf[..VNET_HDR_LEN + n], 1)?;
                Ok(Built::Written)
            }
        }
    }

    /// [`finish`](Self::finish), handing the packet (if one was being
    /// built) and the segments it carries to `out`.
    pub fn finish_into(
        &mut self,
        out: &mut dyn FnMut(&[u8], usize) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let segments = self.segments;
        match self.finish() {
            Some(b) => out(b, segments),
            None => Ok(()),
        }
    }

    /// Finishes the packet being built: the virtio header and, for more than
    /// one segment, the lengths, the IPv4 header checksum and the partial
    /// TCP checksum. Returns the bytes to write (virtio header first); the
    /// builder is empty afterwards.
    pub fn finish(&mut self) -> Option<&[u8]> {
        let l = self.layout.take()?;
        let segments = core::mem::take(&mut self.segments);
        let len = core::mem::take(&mut self.len);
        if segments == 1 {
            // A plain packet: its own checksum complete, or partial with
            // the stack's checksum offload.
            let h = self.plain_header(&self.buf[VNET_HDR_LEN..len]);
            h.encode(&mut self.buf);
            return Some(&self.buf[..len]);
        }
        let p = &mut self.buf[VNET_HDR_LEN..len];
        let total = p.len();
        let tcp_len = total - l.ip_len;
        let (src, dst) = if l.v6 {
            p[4..6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
            let a: [u8; 16] = p[8..24].try_into().expect("16 bytes");
            let b: [u8; 16] = p[24..40].try_into().expect("16 bytes");
            (IpAddr::V6(Ipv6Addr::from(a)), IpAddr::V6(Ipv6Addr::from(b)))
        } else {
            p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            p[10] = 0;
            p[11] = 0;
            let c = checksum::checksum(&p[..20]);
            p[10..12].copy_from_slice(&c.to_be_bytes());
            let a: [u8; 4] = p[12..16].try_into().expect("4 bytes");
            let b: [u8; 4] = p[16..20].try_into().expect("4 bytes");
            (IpAddr::V4(Ipv4Addr::from(a)), IpAddr::V4(Ipv4Addr::from(b)))
        };
        // NEEDS_CSUM: the field carries the pseudo-header sum (not
        // complemented); whoever finishes the checksum sums from
        // `csum_start` onwards (virtio spec 1.1 §5.1.6.2).
        let partial = checksum::fold(checksum::pseudo_header(&src, &dst, 6, tcp_len as u32));
        p[l.ip_len + 16..l.ip_len + 18].copy_from_slice(&partial.to_be_bytes());
        VnetHdr {
            flags: F_NEEDS_CSUM,
            // Only ACK and PSH segments join: never CWR, so never GSO_ECN.
            gso_type: if l.v6 { GSO_TCPV6 } else { GSO_TCPV4 },
            hdr_len: l.hdr_len as u16,
            gso_size: l.payload as u16,
            csum_start: l.ip_len as u16,
            csum_offset: 16,
        }
        .encode(&mut self.buf);
        Some(&self.buf[..len])
    }
}

/// The `NEEDS_CSUM` header of a TCP packet with a partial checksum, sent
/// whole (`GSO_NONE`); `None` if it is not TCP.
fn partial_header(pkt: &[u8]) -> Option<VnetHdr> {
    let at = crate::wire::offload::tcp_offset(pkt)?;
    let tcp_len = usize::from(pkt[at + 12] >> 4) * 4;
    Some(VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: GSO_NONE,
        // Headers the kernel keeps in the linear part: at least up to the
        // checksum field.
        hdr_len: (at + tcp_len.max(18)).min(pkt.len()) as u16,
        gso_size: 0,
        csum_start: at as u16,
        csum_offset: 16,
    })
}

/// Completes a partial (`NEEDS_CSUM`) checksum in place: the sum from
/// `csum_start` to the end, seeded by the field's pseudo-header sum, goes
/// into the field at `csum_start + csum_offset`. Returns `false` if the
/// offsets do not fit the packet.
pub fn complete_checksum(pkt: &mut [u8], hdr: &VnetHdr) -> bool {
    let start = usize::from(hdr.csum_start);
    crate::wire::offload::finish(pkt, start, start + usize::from(hdr.csum_offset))
}

#[cfg(test)]
mod tests;
