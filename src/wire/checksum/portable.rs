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
/// The data is added as native-endian 64-bit words in one add-with-carry
/// chain per 64 bytes ([`add_words`]; the compiler makes it one `adc` per
/// word with the word straight from memory), each block's last carry
/// counted apart and added at the end: `2^64 ≡ 1`, so a carry out of the
/// top is worth 1 at the bottom (RFC 1071 §2(A)). A remainder of 32 bytes
/// is one more chain; the last 0–31 bytes are [`native_tail`]'s.
#[inline]
pub(super) fn native_sum(data: &[u8]) -> u64 {
    // Headers (pure ACKs, handshake segments) are under 64 bytes: no loop
    // to set up for them.
    if data.len() < 64 {
        return native_short(data, 0, 0);
    }
    let mut blocks = data.chunks_exact(64);
    let (mut acc, mut carries) = (0u64, 0u64);
    for b in &mut blocks {
        let (s, c) = add_words(acc, b);
        acc = s;
        // At most one per 64 bytes: cannot overflow.
        carries += u64::from(c);
    }
    native_short(blocks.remainder(), acc, carries)
}

/// Adds `rest` (under 64 bytes, at an even offset) to the running native
/// sum `acc` and its pending `carries`, and resolves them.
#[inline(always)]
fn native_short(rest: &[u8], mut acc: u64, mut carries: u64) -> u64 {
    let mut r = rest;
    if r.len() >= 32 {
        let (s, c) = add_words(acc, &r[..32]);
        acc = s;
        carries += u64::from(c);
        r = &r[32..];
    }
    add_carry(add_carry(acc, carries), native_tail(r))
}

/// Adds the native-endian 64-bit words of `words` (a multiple of 8 bytes,
/// at least 8) to `acc` as one carry chain: returns the sum modulo 2^64
/// and the carry out of the last addition. Every carry but the last goes
/// into the next word's addition, so none is lost. Written with
/// `overflowing_add` pairs, which compilers turn into add-with-carry
/// instructions.
#[inline(always)]
fn add_words(acc: u64, words: &[u8]) -> (u64, bool) {
    let (mut s, mut c) = acc.overflowing_add(word64(&words[..8]));
    for w in words[8..].chunks_exact(8) {
        // s + w + c: at most one of the two additions can carry.
        let (s1, c1) = s.overflowing_add(word64(w));
        let (s2, c2) = s1.overflowing_add(u64::from(c));
        s = s2;
        c = c1 | c2;
    }
    (s, c)
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
