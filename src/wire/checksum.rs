//! The Internet checksum (RFC 1071) and the TCP pseudo-header
//! (RFC 9293 §3.1 for IPv4, RFC 8200 §8.1 for IPv6).
//!
//! The checksum is the 16-bit one's complement of the one's complement sum of
//! the data taken as big-endian 16-bit words (RFC 1071 §1). Because
//! `2^16 ≡ 1 (mod 2^16 - 1)`, a big-endian 64-bit chunk is congruent to the
//! sum of its four 16-bit words, so [`sum`] adds 8 bytes at a time with an
//! end-around carry at 2^64 (also `≡ 1`), and [`fold`] reduces to 16 bits at
//! the end (RFC 1071 §2(B) "deferred carries", §2(C) "parallel summation").

use std::net::IpAddr;

/// Adds `b` to `a` with an end-around carry at 2^64, which keeps the value
/// congruent modulo `0xffff` (RFC 1071 §2(A)).
#[inline(always)]
fn add_carry(a: u64, b: u64) -> u64 {
    let (s, c) = a.overflowing_add(b);
    // If it carried, s <= 2^64 - 2, so adding 1 cannot overflow again.
    s + u64::from(c)
}

/// Unfolded running one's complement sum of `data` as big-endian 16-bit words,
/// starting from `initial`. An odd trailing byte is padded with a zero byte on
/// the right (RFC 1071 §1, step 1).
///
/// Sums can be chained: `sum(b, sum(a, 0))` folds to the same value as
/// `sum(a ++ b, 0)` whenever `a` has even length.
///
/// The bulk of the data is added as native-endian 64-bit words into four
/// 128-bit accumulators: each addition is an add and an add-with-carry on
/// the machine (no vector unpacking), no carry is ever lost (a lane would
/// need 2^64 words to overflow), and four independent chains keep the
/// adder busy. Byte order does not matter to a one's complement sum as long
/// as the result is swapped back (RFC 1071 §2(B)), and `2^64 ≡ 1`, so a
/// lane's high half counts as its carries added at the bottom (§2(A)). The
/// remainder, under 32 bytes, takes the big-endian path.
pub fn sum(data: &[u8], initial: u64) -> u64 {
    let wide = data.len() / 32 * 32;
    let mut lanes = [0u128; 4];
    for c in data[..wide].chunks_exact(32) {
        for (lane, w) in lanes.iter_mut().zip(c.chunks_exact(8)) {
            let word = [w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]];
            *lane += u128::from(u64::from_ne_bytes(word));
        }
    }
    let mut acc = initial;
    if wide > 0 {
        // A lane holds under 2^64 per word added (far under 2^126), so
        // the four together fit in 128 bits.
        let native: u128 = lanes.iter().sum();
        let native = add_carry(native as u64, (native >> 64) as u64);
        let folded = fold(native);
        let be = if cfg!(target_endian = "little") {
            folded.swap_bytes()
        } else {
            folded
        };
        acc = add_carry(acc, u64::from(be));
    }
    // The remainder (all of a header-only packet's IP and TCP headers):
    // under 32 bytes as at most seven big-endian 32-bit words, each
    // congruent to the sum of its two 16-bit words, added without carries
    // into a 64-bit total that cannot overflow, then the last 0–3 bytes.
    let mut words = data[wide..].chunks_exact(4);
    let mut tail = 0u64;
    for w in &mut words {
        tail += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    tail += match *words.remainder() {
        [a, b, c] => u64::from(u16::from_be_bytes([a, b])) + (u64::from(c) << 8),
        [a, b] => u64::from(u16::from_be_bytes([a, b])),
        // An odd trailing byte is padded with a zero byte on the right.
        [a] => u64::from(a) << 8,
        _ => 0,
    };
    add_carry(acc, tail)
}

/// Folds the carries of an unfolded sum down to 16 bits (end-around carry,
/// RFC 1071 §2(B)). The result is *not* complemented.
pub fn fold(mut sum: u64) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Unfolded sum of the TCP/UDP pseudo-header: source and destination
/// addresses, the protocol number and the upper-layer length
/// (RFC 9293 §3.1 for IPv4; RFC 8200 §8.1 for IPv6, where the length is 32
/// bits and the next-header value sits in the low byte of a 32-bit word —
/// both sum to the same thing as a 16-bit protocol word plus the length).
///
/// The addresses should be of the same family; mixed families simply sum both
/// addresses, which callers reject before getting here.
pub fn pseudo_header(src: &IpAddr, dst: &IpAddr, protocol: u8, length: u32) -> u64 {
    // A big-endian 32- or 64-bit word is congruent to the sum of its 16-bit
    // words (module docs), so each address goes in as one or two words.
    let mut acc = 0u64;
    for a in [src, dst] {
        acc = match a {
            IpAddr::V4(a) => acc + u64::from(a.to_bits()),
            IpAddr::V6(a) => {
                let b = a.to_bits();
                add_carry(add_carry(acc, (b >> 64) as u64), b as u64)
            }
        };
    }
    add_carry(
        acc,
        u64::from(protocol) + u64::from(length >> 16) + u64::from(length & 0xffff),
    )
}

/// The Internet checksum of `data`: `!fold(sum(data, 0))` (RFC 1071 §1).
/// Computing it over data that includes a correct checksum field yields 0.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
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
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
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
}
