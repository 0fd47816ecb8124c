//! The portable sum: plain integer code for every target, the fallback
//! where no vector kernel exists and the reference the kernels are tested
//! against. It also sums the short remainders the kernels leave.

use super::add_carry;

/// Unfolded running sum of `data` from `initial` (see [`super::sum`]).
#[inline]
pub(super) fn sum(data: &[u8], initial: u64) -> u64 {
    add_carry(initial, native_to_be(native_sum(data)))
}

/// The sum of `data` as native-endian 16-bit words, with end-around
/// carries (so congruent modulo `0xffff`; [`native_to_be`] turns it into
/// the checksum's big-endian sum).
///
/// The bulk of the data is added as native-endian 64-bit words into four
/// 128-bit accumulators: each addition is an add and an add-with-carry on
/// the machine (no vector unpacking), no carry is ever lost (a lane would
/// need 2^64 words to overflow), and four independent chains keep the
/// adder busy. `2^64 ≡ 1`, so a lane's high half counts as its carries
/// added at the bottom (RFC 1071 §2(A)). The remainder, under 32 bytes, is
/// [`native_tail`]'s.
#[inline]
pub(super) fn native_sum(data: &[u8]) -> u64 {
    let mut blocks = data.chunks_exact(32);
    let mut lanes = [0u128; 4];
    for c in &mut blocks {
        for (lane, w) in lanes.iter_mut().zip(c.chunks_exact(8)) {
            *lane += u128::from(word64(w));
        }
    }
    // A lane holds under 2^64 per word added (far under 2^126), so the
    // four together fit in 128 bits.
    let bulk: u128 = lanes.iter().sum();
    let bulk = add_carry(bulk as u64, (bulk >> 64) as u64);
    add_carry(bulk, native_tail(blocks.remainder()))
}

/// The native-endian sum (as [`native_sum`]) of a remainder under 32 bytes
/// that starts at an even offset — what the vector kernels leave, and all
/// of a short header on the portable path: a 16-, an 8-, a 4-, a 2- and a
/// 1-byte piece, each present or not (straight-line code: no loop to set
/// up for a handful of bytes). Every piece starts at an even offset, so
/// its 16-bit words are the checksum's words; an odd last byte is the low
/// half of a native word, which is the zero padding on its right in the
/// big-endian view (RFC 1071 §1, step 1).
#[inline(always)]
pub(super) fn native_tail(rest: &[u8]) -> u64 {
    debug_assert!(rest.len() < 32);
    let mut r = rest;
    let mut t = 0u128;
    if r.len() >= 16 {
        t += u128::from(word64(&r[..8])) + u128::from(word64(&r[8..16]));
        r = &r[16..];
    }
    if r.len() >= 8 {
        t += u128::from(word64(&r[..8]));
        r = &r[8..];
    }
    let mut small = 0u64;
    if let [a, b, c, d, more @ ..] = r {
        small += u64::from(u32::from_ne_bytes([*a, *b, *c, *d]));
        r = more;
    }
    if let [a, b, more @ ..] = r {
        small += u64::from(u16::from_ne_bytes([*a, *b]));
        r = more;
    }
    if let [a] = r {
        small += u64::from(*a);
    }
    t += u128::from(small);
    add_carry(t as u64, (t >> 64) as u64)
}

/// A native-endian 64-bit word from an 8-byte chunk.
#[inline(always)]
fn word64(w: &[u8]) -> u64 {
    u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]])
}

/// A sum of native-endian 16-bit words turned into the big-endian sum the
/// checksum is defined on. On a little-endian machine every word is
/// byte-swapped, and a swapped word is `256 · w (mod 0xffff)` (because
/// `256 · 256 = 2^16 ≡ 1`), so the whole sum is swapped back by multiplying
/// it by 256 — which for a 64-bit value modulo `2^64 - 1` (a multiple of
/// `0xffff`) is a rotation left by 8 bits (RFC 1071 §2(B)).
#[inline(always)]
pub(super) fn native_to_be(native: u64) -> u64 {
    if cfg!(target_endian = "little") {
        native.rotate_left(8)
    } else {
        native
    }
}

/// Copies `src` into `dst` (same length, checked by the caller) and
/// returns the sum of `src` from `initial`: two passes, the copy by
/// `copy_from_slice` (the platform's `memcpy`).
pub(super) fn copy_and_sum(dst: &mut [u8], src: &[u8], initial: u64) -> u64 {
    dst.copy_from_slice(src);
    sum(src, initial)
}
