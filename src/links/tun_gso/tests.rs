use super::*;
use crate::wire::{self, TcpFlags, TcpOptions, TcpRepr};

const A: &str = "198.18.0.2";
const B: &str = "198.18.0.1";

/// A data segment as synfin's stack would emit it.
fn segment(seq: u32, payload: &[u8], flags: TcpFlags) -> Vec<u8> {
    let (src, dst): (IpAddr, IpAddr) = (A.parse().unwrap(), B.parse().unwrap());
    let repr = TcpRepr {
        src_port: 5000,
        dst_port: 40000,
        seq: wire::SeqNum(seq),
        ack: wire::SeqNum(77),
        flags,
        window: 512,
        urgent: 0,
        options: TcpOptions::default(),
        payload,
    };
    let mut buf = vec![0u8; 2000];
    let n = wire::emit_tcp_packet(src, dst, 64, &repr, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn ack() -> TcpFlags {
    TcpFlags::ACK
}

#[test]
fn header_round_trip() {
    let h = VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: GSO_TCPV4,
        hdr_len: 52,
        gso_size: 1448,
        csum_start: 20,
        csum_offset: 16,
    };
    let mut b = [0u8; VNET_HDR_LEN];
    h.encode(&mut b);
    assert_eq!(VnetHdr::decode(&b), Some(h));
    assert_eq!(VnetHdr::decode(&b[..9]), None);
    assert!(h.checksum_trusted());
    assert!(!VnetHdr::default().checksum_trusted());
}

#[test]
fn one_segment_goes_out_as_a_plain_packet() {
    let s = segment(1000, &[7; 100], ack());
    let mut c = Coalescer::default();
    assert!(c.start(&s));
    let out = c.finish().unwrap().to_vec();
    assert_eq!(VnetHdr::decode(&out), Some(VnetHdr::default()));
    assert_eq!(&out[VNET_HDR_LEN..], &s[..]);
    assert!(c.is_empty());
}

#[test]
fn consecutive_segments_make_one_super_packet_that_splits_back() {
    let payloads: Vec<Vec<u8>> = (0..5u8)
        .map(|i| {
            (0..if i == 4 { 300 } else { 1000 })
                .map(|j| (j as u8) ^ i)
                .collect()
        })
        .collect();
    let mut seq = 1000u32;
    let mut segs = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let f = if i == 2 { ack() | TcpFlags::PSH } else { ack() };
        segs.push(segment(seq, p, f));
        seq += p.len() as u32;
    }
    let mut c = Coalescer::default();
    assert!(c.start(&segs[0]));
    for s in &segs[1..] {
        assert!(c.append(s));
    }
    assert_eq!(c.segments(), 5);
    // After the short one nothing more joins.
    assert!(!c.append(&segment(seq, &[1; 1000], ack())));
    let mut out = c.finish().unwrap().to_vec();
    let h = VnetHdr::decode(&out).unwrap();
    assert_eq!(h.gso_type, GSO_TCPV4);
    assert_eq!(h.flags, F_NEEDS_CSUM);
    assert_eq!(h.gso_size, 1000);
    assert_eq!(h.hdr_len, 40);
    assert_eq!((h.csum_start, h.csum_offset), (20, 16));
    let pkt = &mut out[VNET_HDR_LEN..];
    assert!(complete_checksum(pkt, &h));
    // Now an ordinary (if large) valid segment: the payloads in order,
    // PSH set, lengths right.
    let p = wire::parse_tcp_packet(pkt).unwrap();
    let all: Vec<u8> = payloads.concat();
    assert_eq!(p.tcp.payload, &all[..]);
    assert_eq!(p.tcp.seq, wire::SeqNum(1000));
    assert!(p.tcp.flags.contains(TcpFlags::PSH));
}

#[test]
fn what_does_not_continue_the_flow_is_refused() {
    let first = segment(1000, &[1; 500], ack());
    let mut c = Coalescer::default();
    assert!(c.start(&first));
    // A gap in the sequence space, a longer segment, a FIN, another ACK
    // number: none joins.
    assert!(!c.append(&segment(1600, &[1; 500], ack())));
    assert!(!c.append(&segment(1500, &[1; 600], ack())));
    assert!(!c.append(&segment(1500, &[1; 500], ack() | TcpFlags::FIN)));
    let mut other = segment(1500, &[1; 500], ack());
    other[20 + 11] ^= 1; // the ACK number
    assert!(!c.append(&other));
    assert_eq!(c.segments(), 1);
    // Control segments never start one.
    let mut d = Coalescer::default();
    assert!(!d.start(&segment(1, &[], ack())));
    assert!(!d.start(&segment(1, &[], TcpFlags::SYN)));
    assert!(!d.start(&[0x45, 0, 0]));
}

#[test]
fn a_super_packet_never_exceeds_64_kib() {
    let mut c = Coalescer::default();
    let mut seq = 0u32;
    let s = segment(seq, &[9; 1448], ack());
    assert!(c.start(&s));
    seq += 1448;
    while c.append(&segment(seq, &[9; 1448], ack())) {
        seq += 1448;
    }
    assert_eq!(c.segments(), 45);
    let out = c.finish().unwrap();
    assert!(out.len() - VNET_HDR_LEN <= 65_535);
}

/// Feeds `segs` through the copying path (`append`/`start`, as
/// `TunDevice::send` does) and returns what would be written.
fn by_copy(segs: &[Vec<u8>], partial: bool) -> Vec<(Vec<u8>, usize)> {
    let mut c = Coalescer::default();
    c.set_partial(partial);
    let mut out = Vec::new();
    for s in segs {
        if c.append(s) {
            continue;
        }
        let n = c.segments();
        if let Some(b) = c.finish() {
            out.push((b.to_vec(), n));
        }
        if !c.start(s) {
            let mut b = vec![0u8; VNET_HDR_LEN];
            c.plain_header(s).encode(&mut b);
            b.extend_from_slice(s);
            out.push((b, 1));
        }
    }
    let n = c.segments();
    if let Some(b) = c.finish() {
        out.push((b.to_vec(), n));
    }
    out
}

/// The same through `build_in_place`, each segment written into the
/// buffer it lends; the buffer is scribbled past the packet too, as a
/// careless writer might.
fn in_place(segs: &[Vec<u8>], mtu: usize, partial: bool) -> Vec<(Vec<u8>, usize)> {
    let mut c = Coalescer::default();
    c.set_partial(partial);
    let mut out = Vec::new();
    for s in segs {
        let mut write = |b: &mut [u8]| {
            assert!(b.len() >= s.len(), "lent {} for {}", b.len(), s.len());
            b[..s.len()].copy_from_slice(s);
            if b.len() > s.len() {
                b[s.len()] = 0xee;
            }
            Some(s.len())
        };
        let built = c
            .build_in_place(mtu, &mut write, &mut |b, n| {
                out.push((b.to_vec(), n));
                Ok(())
            })
            .unwrap();
        assert_ne!(built, Built::Nothing);
    }
    // Nothing to send: nothing changes.
    let nothing = c
        .build_in_place(mtu, &mut |_| None, &mut |_, _| panic!("wrote"))
        .unwrap();
    assert_eq!(nothing, Built::Nothing);
    let n = c.segments();
    if let Some(b) = c.finish() {
        out.push((b.to_vec(), n));
    }
    out
}

/// A stream with everything that ends a super-packet: a PSH in the middle,
/// a short segment, a pure ACK, a gap, a FIN, another ACK number, 64 KiB
/// filled up.
fn mixed_stream() -> Vec<Vec<u8>> {
    let mut segs = Vec::new();
    let mut seq = 5000u32;
    let push = |segs: &mut Vec<Vec<u8>>, len: usize, f: TcpFlags, seq: &mut u32| {
        let p: Vec<u8> = (0..len).map(|j| (j as u8) ^ (*seq as u8)).collect();
        segs.push(segment(*seq, &p, f));
        *seq = seq.wrapping_add(len as u32);
    };
    for i in 0..3 {
        let f = if i == 1 { ack() | TcpFlags::PSH } else { ack() };
        push(&mut segs, 1448, f, &mut seq);
    }
    push(&mut segs, 700, ack(), &mut seq);
    push(&mut segs, 1448, ack(), &mut seq);
    segs.push(segment(seq, &[], ack()));
    push(&mut segs, 1448, ack(), &mut seq);
    seq += 1448; // a gap: the next one does not continue the flow
    push(&mut segs, 1448, ack(), &mut seq);
    push(&mut segs, 1448, ack() | TcpFlags::FIN, &mut seq);
    let mut other = segment(seq, &[3; 1448], ack());
    other[20 + 11] ^= 1; // the ACK number
                         // Its checksum made right again.
    assert!(wire::offload::make_partial(&mut other) && wire::offload::complete(&mut other));
    segs.push(other);
    seq += 1448;
    for _ in 0..100 {
        push(&mut segs, 1448, ack(), &mut seq);
    }
    segs
}

/// Building in place writes exactly what copying writes.
#[test]
fn building_in_place_writes_what_copying_writes() {
    let segs = mixed_stream();
    let copied = by_copy(&segs, false);
    assert!(copied.len() > 8, "{} writes", copied.len());
    assert!(copied.iter().any(|(_, n)| *n == 45), "a full super-packet");
    assert_eq!(in_place(&segs, 1500, false), copied);
}

/// The packets a write carries once the kernel completed its checksum.
fn completed(write: &[u8]) -> Vec<u8> {
    let h = VnetHdr::decode(write).unwrap();
    let mut p = write[VNET_HDR_LEN..].to_vec();
    if h.flags & F_NEEDS_CSUM != 0 {
        assert!(complete_checksum(&mut p, &h));
    }
    p
}

/// With the stack's checksum offload (every segment's checksum partial,
/// wire/offload.rs), every write asks the kernel to complete it, and once
/// completed is the write made of whole segments — by copy and in place.
#[test]
fn partial_checksums_complete_to_the_whole_packets() {
    let segs = mixed_stream();
    let whole = by_copy(&segs, false);
    let partial_segs: Vec<Vec<u8>> = segs
        .iter()
        .map(|s| {
            let mut p = s.clone();
            assert!(wire::offload::make_partial(&mut p));
            p
        })
        .collect();
    for partial in [
        by_copy(&partial_segs, true),
        in_place(&partial_segs, 1500, true),
    ] {
        assert_eq!(partial.len(), whole.len());
        for ((p, pn), (w, wn)) in partial.iter().zip(&whole) {
            assert_eq!(pn, wn);
            let h = VnetHdr::decode(p).unwrap();
            assert_eq!(h.flags, F_NEEDS_CSUM);
            assert_eq!((h.csum_start, h.csum_offset), (20, 16));
            assert!(usize::from(h.hdr_len) >= 20 + 18);
            assert_eq!(completed(p), completed(w));
            assert!(wire::parse_tcp_packet(&completed(p)).is_ok());
        }
    }
}

#[test]
fn a_partial_packet_alone_asks_for_its_checksum() {
    let mut c = Coalescer::default();
    let syn = segment(1, &[], TcpFlags::SYN);
    assert_eq!(c.plain_header(&syn), VnetHdr::default());
    c.set_partial(true);
    let h = c.plain_header(&syn);
    assert_eq!(h.flags, F_NEEDS_CSUM);
    assert_eq!(h.gso_type, GSO_NONE);
    assert_eq!((h.csum_start, h.csum_offset, h.hdr_len), (20, 16, 40));
    // Not TCP: nothing to complete.
    let mut udp = syn.clone();
    udp[9] = 17;
    assert_eq!(c.plain_header(&udp), VnetHdr::default());
    // One data segment, finished alone.
    let mut s = segment(1000, &[7; 100], ack());
    let whole = s.clone();
    assert!(wire::offload::make_partial(&mut s));
    assert!(c.start(&s));
    let out = c.finish().unwrap().to_vec();
    assert_eq!(VnetHdr::decode(&out).unwrap().flags, F_NEEDS_CSUM);
    assert_eq!(completed(&out), whole);
}

/// The rule `Coalescer::joins` implements, written out field by field as
/// the coalescer first did: the packet parses as a data segment, has the
/// first segment's layout, continues its sequence, is no longer, fits, and
/// its header equals the first's everywhere but the IP length, ID and
/// checksum, the TCP sequence number, checksum and PSH.
fn joins_by_fields(c: &Coalescer, b: &[u8]) -> bool {
    let (Some(l), Some(n)) = (c.layout, layout(b)) else {
        return false;
    };
    let a = &c.buf[VNET_HDR_LEN..];
    let ip_same = if l.v6 {
        a[..4] == b[..4] && a[6..40] == b[6..40]
    } else {
        a[..2] == b[..2] && a[6..10] == b[6..10] && a[12..20] == b[12..20]
    };
    let same = n.v6 == l.v6 && n.hdr_len == l.hdr_len && {
        let (ta, tb) = (&a[l.ip_len..l.hdr_len], &b[l.ip_len..l.hdr_len]);
        ip_same
            && ta[..4] == tb[..4]
            && ta[8..13] == tb[8..13]
            && (ta[13] | PSH) == (tb[13] | PSH)
            && ta[14..16] == tb[14..16]
            && ta[18..] == tb[18..]
    };
    !c.closed
        && same
        && n.seq == c.next_seq
        && n.payload <= l.payload
        && c.len - VNET_HDR_LEN + n.payload <= MAX_SUPER
}

/// A segment with timestamps (a 32-byte TCP header), IPv4 or IPv6.
fn ts_segment(v6: bool, seq: u32, payload: &[u8]) -> Vec<u8> {
    let (src, dst): (IpAddr, IpAddr) = if v6 {
        (
            "2001:db8::2".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
        )
    } else {
        (A.parse().unwrap(), B.parse().unwrap())
    };
    let repr = TcpRepr {
        src_port: 5000,
        dst_port: 40000,
        seq: wire::SeqNum(seq),
        ack: wire::SeqNum(77),
        flags: ack(),
        window: 512,
        urgent: 0,
        options: TcpOptions {
            timestamps: Some((5, 6)),
            ..TcpOptions::default()
        },
        payload,
    };
    let mut buf = vec![0u8; 2000];
    let n = wire::emit_tcp_packet(src, dst, 64, &repr, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

proptest::proptest! {
    /// The masked word compare decides as the field-by-field rule does,
    /// for a next segment with any header byte changed (or none) and any
    /// length, IPv4 and IPv6, with timestamps or without.
    #[test]
    fn joins_decides_as_the_fields_do(
        v6 in proptest::bool::ANY,
        ts in proptest::bool::ANY,
        at in 0usize..80,
        xor in proptest::num::u8::ANY,
        len in 1usize..1300,
    ) {
        // (`segment` is IPv4 without options.)
        let seg = |seq: u32, p: &[u8]| {
            if ts || v6 {
                ts_segment(v6, seq, p)
            } else {
                segment(seq, p, ack())
            }
        };
        let mut c = Coalescer::default();
        proptest::prop_assert!(c.start(&seg(1000, &[1; 1000])));
        let mut next = seg(2000, &vec![2; len]);
        if at < next.len() {
            next[at] ^= xor;
        }
        proptest::prop_assert_eq!(c.joins(&next).is_some(), joins_by_fields(&c, &next));
        if let Some(n) = c.joins(&next) {
            proptest::prop_assert_eq!(Some(n), layout(&next));
        }
    }
}
