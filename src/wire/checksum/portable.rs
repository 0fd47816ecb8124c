//! The portable sum: plain integer code for every target, the fallback
//! where no vector kernel exists, the path of short inputs, and what the
//! kernels are tested against (with a naive word-by-word sum).
//!
//! It sums the data as *little-endian* 16-bit words on every target (so
//! the code that runs here is the code that runs everywhere; a big-endian
//! machine pays a byte swap per 8-byte load) and turns that into the
//! checksum's big-endian sum at the end with [`le_to_be`].

use super::add_carry;

/// Unfolded running sum of `data` from `initial` (see [`super::sum`]).
#[inline]
pub(super) fn sum(data: &[u8], initial: u64) -> u64 {
    add_carry(initial, le_to_be(le_sum(data)))
}

/// Copies `src` into `dst` (same length, checked by the caller) and
/// returns the sum of `src` from `initial`: two passes, the copy by
/// `copy_from_slice` (the platform's `memcpy`).
#[inline]
pub(super) fn copy_and_sum(dst: &mut [u8], src: &[u8], initial: u64) -> u64 {
    dst.copy_from_slice(src);
    sum(src, initial)
}

/// A sum of little-endian 16-bit words turned into the big-endian sum the
/// checksum is defined on. Every word is byte-swapped, and a swapped word
/// is `256 · w (mod 0xffff)` (because `256 · 256 = 2^16 ≡ 1`), so the whole
/// sum is swapped back by multiplying it by 256 — which for a 64-bit value
/// modulo `2^64 - 1` (a multiple of `0xffff`) is a rotation left by 8 bits
/// (RFC 1071 §2(B)).
#[inline(always)]
pub(super) fn le_to_be(le: u64) -> u64 {
    le.rotate_left(8)
}

/// The sum of `data` as little-endian 16-bit words, with end-around
/// carries (so congruent modulo `0xffff`; [`le_to_be`] turns it into the
/// checksum's big-endian sum).
///
/// The data is added as little-endian 64-bit words in one add-with-carry
/// chain per 64 bytes ([`add_words`]; the compiler makes it one `adc` per
/// word with the word straight from memory), each block's last carry
/// counted apart and added at the end: `2^64 ≡ 1`, so a carry out of the
/// top is worth 1 at the bottom (RFC 1071 §2(A)). The last 0–63 bytes are
/// [`le_rest`]'s.
#[inline]
pub(super) fn le_sum(data: &[u8]) -> u64 {
    // Headers (pure ACKs, handshake segments) are under 64 bytes: no loop
    // to set up for them.
    if data.len() < 64 {
        return le_rest(data, 0, 0, 0);
    }
    let mut blocks = data.chunks_exact(64);
    let (mut acc, mut carries) = (0u64, 0u64);
    for b in &mut blocks {
        let (s, c) = add_words(acc, b);
        acc = s;
        // At most one per 64 bytes: cannot overflow.
        carries += u64::from(c);
    }
    le_rest(data, data.len() - blocks.remainder().len(), acc, carries)
}

/// Adds `data[start..]` (under 64 bytes; `start` is even) to the running
/// little-endian sum `acc` and its pending `carries`, and resolves them,
/// in straight-line code: a 32-, a 16- and an 8-byte carry chain, each
/// there or not, then the last 1–7 bytes in one 8-byte load that ends at
/// the end of the data, shifted right to drop the bytes before them. That
/// keeps them where they belong in their words: their start is a multiple
/// of 8 from `start`, so even, and it lands on byte 0; an odd last byte is
/// the low half of a little-endian word, which is the zero padding on its
/// right in the big-endian view (RFC 1071 §1, step 1). Under 8 bytes in
/// all there is nothing to overlap: [`le_tiny`].
#[inline(always)]
fn le_rest(data: &[u8], start: usize, mut acc: u64, mut carries: u64) -> u64 {
    let len = data.len();
    if len < 8 {
        return add_carry(add_carry(acc, carries), le_tiny(data));
    }
    let mut r = &data[start..];
    if let Some((w, more)) = r.split_first_chunk::<32>() {
        let (s, c) = add_words(acc, w);
        (acc, r) = (s, more);
        carries += u64::from(c);
    }
    if let Some((w, more)) = r.split_first_chunk::<16>() {
        let (s, c) = add_words(acc, w);
        (acc, r) = (s, more);
        carries += u64::from(c);
    }
    if let Some((w, more)) = r.split_first_chunk::<8>() {
        let (s, c) = add_words(acc, w);
        (acc, r) = (s, more);
        carries += u64::from(c);
    }
    let mut last = 0;
    if let (false, Some(end)) = (r.is_empty(), data.last_chunk::<8>()) {
        // 1..=7 bytes left: shift by 8..=56 bits.
        last = word64(end) >> (8 * (8 - r.len()));
    }
    add_carry(add_carry(acc, carries), last)
}

/// The sum (big-endian, as [`sum`] from 0) of exactly 20 bytes: two
/// little-endian 64-bit words and a 32-bit one in one carry chain, then
/// [`le_to_be`].
#[inline(always)]
pub(super) fn sum20(h: &[u8; 20]) -> u64 {
    // Constant offsets into a 20-byte array: no bounds checks.
    let c = u64::from(u32::from_le_bytes([h[16], h[17], h[18], h[19]]));
    let (s, c1) = word64(&h[..8]).overflowing_add(word64(&h[8..16]));
    // c + c1 <= 2^32; if adding it carries, the wrapped sum is under 2^32,
    // so adding that carry back cannot carry again.
    let (s, c2) = s.overflowing_add(c + u64::from(c1));
    le_to_be(s + u64::from(c2))
}

/// The little-endian sum of under 8 bytes: a 4-, a 2- and a 1-byte piece,
/// each there or not (each at an even offset; the odd last byte as in
/// [`le_rest`]).
#[inline(always)]
fn le_tiny(data: &[u8]) -> u64 {
    let mut r = data;
    let mut t = 0u64;
    if let [a, b, c, d, more @ ..] = r {
        t += u64::from(u32::from_le_bytes([*a, *b, *c, *d]));
        r = more;
    }
    if let [a, b, more @ ..] = r {
        t += u64::from(u16::from_le_bytes([*a, *b]));
        r = more;
    }
    if let [a] = r {
        t += u64::from(*a);
    }
    t
}

/// Adds the little-endian 64-bit words of `words` (a multiple of 8 bytes,
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

/// A little-endian 64-bit word from the first 8 bytes of `w`.
#[inline(always)]
fn word64(w: &[u8]) -> u64 {
    u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]])
}
