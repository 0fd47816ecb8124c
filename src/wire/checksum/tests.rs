//! Tests of the checksum: known values, the portable code against a naive
//! word-by-word reference, every vector kernel against the portable code
//! (every length to 2048, every alignment, random initial values), the
//! fused copy, and chaining across odd splits.

use super::*;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Naive reference: 16-bit words, fold as we go.
fn naive(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from(c[0]) << 8
        };
        s += u32::from(w);
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

#[test]
fn rfc1071_example() {
    // RFC 1071 §3 numerical example: the sum of these bytes is ddf2.
    let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    assert_eq!(fold(sum(&d, 0)), 0xddf2);
    assert_eq!(checksum(&d), !0xddf2);
}

#[test]
fn ipv4_header_known_value() {
    // A well-known IPv4 header (192.168.0.1 -> 192.168.0.199, UDP) whose
    // checksum field is b861.
    let mut h = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];
    assert_eq!(checksum(&h), 0xb861);
    h[10] = 0xb8;
    h[11] = 0x61;
    assert_eq!(checksum(&h), 0);
}

#[test]
fn matches_naive_all_lengths() {
    let data: Vec<u8> = (0..300u32).map(|i| (i * 97 + 13) as u8 ^ 0xa5).collect();
    for n in 0..data.len() {
        assert_eq!(fold(sum(&data[..n], 0)), naive(&data[..n]), "len {n}");
    }
    let ff = [0xffu8; 77];
    for n in 0..ff.len() {
        assert_eq!(fold(sum(&ff[..n], 0)), naive(&ff[..n]), "ff len {n}");
    }
}

#[test]
fn wide_path_matches_naive() {
    // Long inputs go through the 32-byte lanes; every offset and length
    // near the lane boundaries, and all-ones data (the carry worst case).
    let data: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    for n in (0..200).chain([1447, 1448, 1460, 4095, 4096, 4097, 5000]) {
        for start in [0, 1, 2, 3] {
            let d = &data[start..start + n.min(data.len() - start)];
            assert_eq!(fold(sum(d, 0)), naive(d), "start {start} len {n}");
        }
    }
    let ff = vec![0xffu8; 65535];
    assert_eq!(fold(sum(&ff, 0)), naive(&ff));
    assert_eq!(fold(sum(&ff, u64::MAX - 1)), fold(sum(&ff, 0xfffe)));
}

#[test]
fn huge_initial_does_not_overflow() {
    let s = sum(&[0xff; 64], u64::MAX - 3);
    // u64::MAX ≡ 0 (mod 0xffff), so the initial contributes -3 ≡ 0xfffc.
    assert_eq!(fold(s), fold(sum(&[0xff; 64], 0xfffc)));
}

#[test]
fn chained_sum() {
    let data: Vec<u8> = (0..101u8).collect();
    for split in (0..data.len()).step_by(2) {
        let s = sum(&data[split..], sum(&data[..split], 0));
        assert_eq!(fold(s), fold(sum(&data, 0)));
    }
}

#[test]
fn pseudo_headers() {
    let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let mut ph = [0u8; 12];
    ph[..4].copy_from_slice(&[10, 0, 0, 1]);
    ph[4..8].copy_from_slice(&[10, 0, 0, 2]);
    ph[9] = 6;
    ph[10..12].copy_from_slice(&40u16.to_be_bytes());
    assert_eq!(fold(pseudo_header(&a, &b, 6, 40)), naive(&ph));

    let a6 = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 1, 2, 3, 4));
    let b6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0xffff, 1));
    let mut ph6 = [0u8; 40];
    ph6[..16].copy_from_slice(&match a6 {
        IpAddr::V6(x) => x.octets(),
        _ => unreachable!(),
    });
    ph6[16..32].copy_from_slice(&match b6 {
        IpAddr::V6(x) => x.octets(),
        _ => unreachable!(),
    });
    ph6[32..36].copy_from_slice(&70000u32.to_be_bytes());
    ph6[39] = 6;
    assert_eq!(fold(pseudo_header(&a6, &b6, 6, 70000)), naive(&ph6));
}

/// Pseudo-random bytes (a fixed multiplicative hash: reproducible).
fn bytes(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_add(seed).wrapping_mul(2654435761) >> 13) as u8)
        .collect()
}

/// Every way this build can sum `data` from `initial`, each folded: the
/// public entry point, the portable code and (on x86_64) each kernel
/// called directly, below its length threshold too, plus the fused copies.
/// (Calling the kernels directly is `unsafe`: the CPU-feature contract.)
#[allow(unsafe_code)]
fn all_sums(data: &[u8], initial: u64) -> Vec<(&'static str, u16)> {
    let mut out = vec![
        ("sum", fold(sum(data, initial))),
        ("portable", fold(portable::sum(data, initial))),
    ];
    let mut dst = vec![0u8; data.len()];
    out.push(("copy_and_sum", fold(copy_and_sum(&mut dst, data, initial))));
    assert_eq!(dst, data, "copy_and_sum copied");
    #[cfg(target_arch = "x86_64")]
    {
        let finish = |native: u64| fold(add_carry(initial, portable::le_to_be(native)));
        // SAFETY: SSE2 is part of the x86_64 baseline.
        out.push(("sse2", finish(unsafe { x86_64::sum_sse2(data) })));
        let mut dst = vec![0u8; data.len()];
        // SAFETY: as above.
        let native = unsafe { x86_64::copy_and_sum_sse2(&mut dst, data) };
        assert_eq!(dst, data, "sse2 copy");
        out.push(("copy_sse2", finish(native)));
        if x86_64::has_avx2() {
            // SAFETY: the CPU has AVX2.
            out.push(("avx2", finish(unsafe { x86_64::sum_avx2(data) })));
            let mut dst = vec![0u8; data.len()];
            // SAFETY: as above.
            let native = unsafe { x86_64::copy_and_sum_avx2(&mut dst, data) };
            assert_eq!(dst, data, "avx2 copy");
            out.push(("copy_avx2", finish(native)));
        }
    }
    out
}

fn assert_all_agree(data: &[u8], initial: u64, what: &str) {
    // The naive sum, with the initial value added in one's complement.
    let mut want = u32::from(naive(data)) + u32::from(fold(initial));
    want = (want & 0xffff) + (want >> 16);
    let want = want as u16;
    for (name, got) in all_sums(data, initial) {
        assert_eq!(got, want, "{name}: {what}, len {}", data.len());
    }
}

#[test]
fn avx2_detection_reports() {
    // Not an assertion about the machine: the kernels' test coverage
    // depends on it, so say which ones ran.
    #[cfg(target_arch = "x86_64")]
    eprintln!(
        "checksum tests: AVX2 kernels tested: {}",
        x86_64::has_avx2()
    );
}

#[test]
fn every_length_and_alignment_agrees() {
    let data = bytes(2048 + 64, 7);
    // Offset 0, and an offset that walks through every alignment to 64
    // bytes as the length grows; the initial value cycles too.
    for len in 0..=2048 {
        for off in [0, 1 + len % 63] {
            let d = &data[off..off + len];
            let init = [0, 0x1234_5678_9abc_def0, u64::MAX][len % 3];
            assert_all_agree(d, init, &format!("offset {off}"));
        }
    }
}

#[test]
fn carry_worst_cases_agree() {
    // All-ones words push every lane to its extreme; all-0x80 sits exactly
    // at the signed boundary the kernels bias around; zero must stay zero.
    for fill in [0xffu8, 0x80, 0x7f, 0x00] {
        for len in [0, 1, 63, 64, 65, 1460, 9000, 65535, 65536, 65537, 200_001] {
            let d = vec![fill; len];
            assert_all_agree(&d, 0, &format!("fill {fill:#x}"));
            assert_all_agree(&d, u64::MAX - 1, &format!("fill {fill:#x}, big initial"));
        }
    }
    // Longer than one kernel piece (64 KiB), random data.
    let d = bytes(300_007, 99);
    assert_all_agree(&d, 0, "300 007 bytes");
    assert_eq!(sum(&[0u8; 4096], 0), 0);
    assert_eq!(copy_and_sum(&mut [1u8; 100], &[0u8; 100], 0), 0);
}

#[test]
fn carry_chain_edges_agree() {
    // The carry chain's rarest case: a partial sum of all ones meeting a
    // carry in (MAX, MAX, 1: the second addition carries, the third makes
    // MAX and the carry wraps it to 0), at every word position of a block.
    let words = |ws: &[u64]| -> Vec<u8> { ws.iter().flat_map(|w| w.to_ne_bytes()).collect() };
    for pos in 0..16 {
        let mut ws = vec![0u64; 24];
        ws[pos..pos + 3].copy_from_slice(&[u64::MAX, u64::MAX, 1]);
        let d = words(&ws);
        for len in [64, 72, 100, 128, 192] {
            assert_all_agree(&d[..len], 0, &format!("edge at word {pos}"));
        }
    }
}

#[test]
fn twenty_byte_path_agrees() {
    // checksum() takes a fixed path for 20 bytes (IPv4 headers).
    for seed in 0..200 {
        let mut h: Vec<u8> = bytes(20, seed);
        if seed % 3 == 0 {
            h[..16].fill(0xff);
        }
        assert_eq!(checksum(&h), !naive(&h), "seed {seed}");
        assert_eq!(checksum(&h), !fold(portable::sum(&h, 0)), "seed {seed}");
    }
    assert_eq!(checksum(&[0xff; 20]), !fold(sum(&[0xff; 20], 0)));
    assert_eq!(checksum(&[0; 20]), 0xffff);
}

#[test]
fn copy_and_sum_writes_exactly_dst() {
    let src = bytes(1500, 3);
    for len in [0, 1, 31, 32, 33, 64, 127, 128, 129, 1460, 1500] {
        for off in 0..=3 {
            let mut buf = vec![0xeeu8; 1600];
            let s = copy_and_sum(&mut buf[off..off + len], &src[..len], 5);
            assert_eq!(fold(s), fold(sum(&src[..len], 5)), "len {len} off {off}");
            assert_eq!(buf[off..off + len], src[..len], "len {len} off {off}");
            assert!(buf[..off].iter().all(|&b| b == 0xee), "before dst");
            assert!(buf[off + len..].iter().all(|&b| b == 0xee), "after dst");
        }
    }
}

#[test]
fn copy_and_sum_at_every_destination_alignment() {
    // Long copies align their stores to the destination (x86_64's AVX2
    // path copies a head of 0–31 bytes first; an odd head swaps the rest's
    // sum): every head length, even and odd, on both sides of the
    // threshold, and a source that is not aligned the same way.
    let src = bytes(65_600, 21);
    for len in [1447, 1448, 2047, 2048, 2049, 9001, 65_495] {
        let mut buf = vec![0u8; len + 64];
        for off in 0..32 {
            let soff = (off * 7) % 5;
            let s = &src[soff..soff + len];
            buf.fill(0xee);
            let got = copy_and_sum(&mut buf[off..off + len], s, 9);
            assert_eq!(fold(got), fold(sum(s, 9)), "len {len} off {off}");
            assert_eq!(fold(got), {
                let mut w = u32::from(naive(s)) + 9;
                w = (w & 0xffff) + (w >> 16);
                w as u16
            });
            assert_eq!(&buf[off..off + len], s, "len {len} off {off}");
            assert!(buf[..off].iter().all(|&b| b == 0xee), "before dst");
            assert!(buf[off + len..].iter().all(|&b| b == 0xee), "after dst");
        }
    }
}

#[test]
#[should_panic(expected = "lengths differ")]
fn copy_and_sum_rejects_unequal_lengths() {
    copy_and_sum(&mut [0u8; 3], &[0u8; 4], 0);
}

#[test]
fn combine_across_every_split() {
    let data = bytes(301, 11);
    for split in 0..=data.len() {
        let (a, b) = data.split_at(split);
        let whole = fold(sum(&data, 42));
        assert_eq!(
            fold(combine(sum(a, 42), split, sum(b, 0))),
            whole,
            "split {split}"
        );
        assert_eq!(
            fold(sum_chain(sum(a, 42), split, b)),
            whole,
            "split {split}"
        );
        // The receiver's shape: one source into two destination pieces.
        let mut d = vec![0u8; data.len()];
        let (da, db) = d.split_at_mut(split);
        let sa = copy_and_sum(da, a, 42);
        assert_eq!(fold(combine(sa, split, copy_and_sum(db, b, 0))), whole);
        assert_eq!(d, data);
    }
}

proptest! {
    #[test]
    fn kernels_match_portable(
        data in proptest::collection::vec(any::<u8>(), 0..=2048 + 64),
        len in 0usize..=2048,
        off in 0usize..64,
        initial in any::<u64>(),
    ) {
        let off = off.min(data.len());
        let len = len.min(data.len() - off);
        let d = &data[off..off + len];
        let want = fold(portable::sum(d, initial));
        for (name, got) in all_sums(d, initial) {
            prop_assert_eq!(got, want, "{}", name);
        }
    }

    #[test]
    fn extreme_words_agree(
        picks in proptest::collection::vec(0usize..4, 0..300),
        tail in 0usize..8,
        initial in any::<u64>(),
    ) {
        // Words of all ones, all but one, one and zero: the values that
        // make carries ripple and partial sums sit at their limits.
        let vals = [u64::MAX, u64::MAX - 1, 1, 0];
        let mut d: Vec<u8> = picks.iter().flat_map(|&i| vals[i].to_ne_bytes()).collect();
        d.truncate(d.len().saturating_sub(tail));
        let want = fold(portable::sum(&d, initial));
        for (name, got) in all_sums(&d, initial) {
            prop_assert_eq!(got, want, "{}", name);
        }
        let mut n = u32::from(naive(&d)) + u32::from(fold(initial));
        n = (n & 0xffff) + (n >> 16);
        prop_assert_eq!(want, n as u16);
    }

    #[test]
    fn chaining_across_random_splits(
        data in proptest::collection::vec(any::<u8>(), 0..3000),
        cuts in proptest::collection::vec(any::<usize>(), 0..4),
        initial in any::<u64>(),
    ) {
        // Any number of pieces of any lengths (odd ones included), each
        // copied and summed on its own, then combined in order.
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
        cuts.push(0);
        cuts.push(data.len());
        cuts.sort_unstable();
        let mut out = vec![0u8; data.len()];
        let mut acc = initial;
        for w in cuts.windows(2) {
            let (lo, hi) = (w[0], w[1]);
            let s = copy_and_sum(&mut out[lo..hi], &data[lo..hi], 0);
            acc = combine(acc, lo, s);
        }
        prop_assert_eq!(&out, &data);
        prop_assert_eq!(fold(acc), fold(sum(&data, initial)));
    }

    #[test]
    fn fold_is_canonical(x in any::<u64>()) {
        // The one value in 1..=0xffff congruent to x modulo 0xffff (0 for 0).
        let want = if x == 0 { 0 } else { ((x - 1) % 0xffff + 1) as u16 };
        prop_assert_eq!(fold(x), want);
    }
}
