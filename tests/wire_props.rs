//! Property tests for the wire layer: parsers never panic on arbitrary input,
//! emit-then-parse round-trips, and checksum sums compose.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use synfin::wire::{
    checksum, emit_tcp_packet, parse_ip, parse_tcp_packet, tcp_packet_len, SackBlocks, SeqNum,
    TcpFlags, TcpOptions, TcpRepr, TcpSegment,
};

fn arb_options() -> impl Strategy<Value = TcpOptions> {
    (
        proptest::option::of(any::<u16>()),
        proptest::option::of(0u8..=14),
        any::<bool>(),
        proptest::collection::vec((any::<u32>(), any::<u32>()), 0..=4),
        proptest::option::of((any::<u32>(), any::<u32>())),
        proptest::option::of(any::<u16>()),
    )
        .prop_map(
            |(mss, window_scale, sack_permitted, blocks, timestamps, experimental)| {
                let mut sack_blocks = SackBlocks::new();
                for (l, r) in blocks {
                    sack_blocks.push(SeqNum(l), SeqNum(r));
                }
                let mut o = TcpOptions {
                    mss,
                    window_scale,
                    sack_permitted,
                    sack_blocks,
                    timestamps,
                    experimental,
                };
                // Blocks that do not fit in 40 bytes are dropped by emit; keep
                // only what survives so the round trip is exact.
                o.sack_blocks.truncate(o.sack_blocks_emitted());
                o
            },
        )
}

fn arb_addrs() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    prop_oneof![
        (any::<u32>(), any::<u32>())
            .prop_map(|(a, b)| (IpAddr::V4(Ipv4Addr::from(a)), IpAddr::V4(Ipv4Addr::from(b)))),
        (any::<u128>(), any::<u128>())
            .prop_map(|(a, b)| (IpAddr::V6(Ipv6Addr::from(a)), IpAddr::V6(Ipv6Addr::from(b)))),
    ]
}

proptest! {
    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_tcp_packet(&bytes);
        let _ = parse_ip(&bytes);
        let _ = TcpOptions::parse(&bytes);
        if let Ok(seg) = TcpSegment::new_checked(&bytes[..]) {
            let a = IpAddr::V4(Ipv4Addr::LOCALHOST);
            let _ = seg.options();
            let _ = seg.payload();
            let _ = TcpRepr::parse(&seg, &a, &a, true);
            let _ = TcpRepr::parse(&seg, &a, &a, false);
        }
    }

    /// Arbitrary bytes behind a plausible IP header, to get past the version
    /// and length checks into the TCP and option parsers.
    #[test]
    fn parsers_never_panic_behind_ip_header(
        v6 in any::<bool>(),
        tail in proptest::collection::vec(any::<u8>(), 0..120),
        opt_bytes in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let (src, dst) = if v6 {
            (IpAddr::V6(Ipv6Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST))
        } else {
            (IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V4(Ipv4Addr::LOCALHOST))
        };
        let mut seg = tail.clone();
        if seg.len() >= 20 {
            // Sometimes a sane data offset with random options.
            let olen = opt_bytes.len() / 4 * 4;
            let hl = 20 + olen;
            if seg.len() >= hl {
                seg[12] = ((hl / 4) as u8) << 4;
                seg[20..hl].copy_from_slice(&opt_bytes[..olen]);
            }
        }
        let tcp = TcpRepr {
            src_port: 1, dst_port: 2, seq: SeqNum(0), ack: SeqNum(0),
            flags: TcpFlags::empty(), window: 0, urgent: 0,
            options: TcpOptions::default(), payload: &[],
        };
        let mut buf = vec![0u8; 60];
        let n = emit_tcp_packet(src, dst, 64, &tcp, &mut buf).unwrap();
        let ip_len = n - 20;
        buf.truncate(ip_len);
        buf.extend_from_slice(&seg);
        // Fix up the IP length fields (v4 checksum too) to cover the tail.
        if v6 {
            let pl = seg.len() as u16;
            buf[4..6].copy_from_slice(&pl.to_be_bytes());
        } else {
            let tl = buf.len() as u16;
            buf[2..4].copy_from_slice(&tl.to_be_bytes());
            buf[10..12].copy_from_slice(&[0, 0]);
            let c = checksum::checksum(&buf[..20]);
            buf[10..12].copy_from_slice(&c.to_be_bytes());
        }
        let _ = parse_tcp_packet(&buf);
        if let Ok(s) = TcpSegment::new_checked(&seg[..]) {
            let _ = TcpRepr::parse(&s, &src, &dst, false);
        }
    }

    #[test]
    fn emit_then_parse_roundtrip(
        (src, dst) in arb_addrs(),
        src_port in any::<u16>(),
        dst_port in any::<u16>(),
        seq in any::<u32>(),
        ack in any::<u32>(),
        flags in any::<u8>(),
        window in any::<u16>(),
        urgent in any::<u16>(),
        hop_limit in any::<u8>(),
        options in arb_options(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let tcp = TcpRepr {
            src_port, dst_port,
            seq: SeqNum(seq), ack: SeqNum(ack),
            flags: TcpFlags(flags), window, urgent, options,
            payload: &payload,
        };
        let len = tcp_packet_len(&src, &tcp);
        let mut buf = vec![0u8; len + 7];
        prop_assert_eq!(emit_tcp_packet(src, dst, hop_limit, &tcp, &mut buf), Ok(len));
        let p = parse_tcp_packet(&buf[..len]).unwrap();
        prop_assert_eq!(p.tcp, tcp);
        prop_assert_eq!(p.ip.src, src);
        prop_assert_eq!(p.ip.dst, dst);
        prop_assert_eq!(p.ip.hop_limit, hop_limit);
        prop_assert_eq!(p.ip.payload_len, tcp.header_len() + payload.len());
        prop_assert_eq!(tcp.header_len() % 4, 0);
        prop_assert!(tcp.header_len() <= 60);
    }

    #[test]
    fn options_roundtrip(o in arb_options()) {
        let mut buf = [0u8; 40];
        let n = o.emit(&mut buf).unwrap();
        prop_assert_eq!(n, o.encoded_len());
        prop_assert_eq!(TcpOptions::parse(&buf[..n]).unwrap(), o);
    }

    #[test]
    fn checksum_split_sum(
        data in proptest::collection::vec(any::<u8>(), 0..600),
        split in any::<usize>(),
        initial in any::<u64>(),
    ) {
        let split = (split % (data.len() + 1)) & !1;
        let (a, b) = data.split_at(split);
        let whole = checksum::sum(&data, initial);
        let parts = checksum::sum(b, checksum::sum(a, initial));
        prop_assert_eq!(checksum::fold(parts), checksum::fold(whole));
    }

    #[test]
    fn checksum_matches_naive(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut s: u32 = 0;
        for c in data.chunks(2) {
            let w = if c.len() == 2 { u16::from_be_bytes([c[0], c[1]]) } else { u16::from(c[0]) << 8 };
            s += u32::from(w);
            s = (s & 0xffff) + (s >> 16);
        }
        prop_assert_eq!(checksum::fold(checksum::sum(&data, 0)), s as u16);
    }
}
