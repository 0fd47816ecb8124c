//! The Internet checksum (RFC 1071) and the TCP pseudo-header
//! (RFC 9293 §3.1 for IPv4, RFC 8200 §8.1 for IPv6).
//!
//! # Using it on a data path
//!
//! A running sum is an unfolded `u64` ([`sum`], [`copy_and_sum`]); fold it
//! and complement it once at the end (`!fold(s)` goes into the checksum
//! field; a received segment is good when `fold(s) == 0xffff` with its
//! checksum field included). Any `u64` works as `initial` — typically
//! [`pseudo_header`] plus the sum of the TCP header.
//!
//! - Checksum while you copy: `copy_and_sum(dst, src, initial)` copies
//!   `src` into `dst` (same length) and returns exactly
//!   `sum(src, initial)`, reading the payload once. The sender copies the
//!   send queue into the packet with it; the receiver can copy a segment's
//!   payload into its receive buffer with it *before* verifying, and commit
//!   the bytes only when the checksum turns out good.
//! - Data in two pieces (a ring that wraps): sums chain directly only when
//!   the first piece has even length. In general use
//!   `combine(sum_a, len_a, sum_b)` — `sum_a` covers everything before `b`
//!   (pseudo-header, header, first piece), `len_a` is the number of bytes
//!   summed so far (only its parity matters; the pseudo-header and TCP
//!   header are even) and `sum_b` is `b`'s sum from 0 (RFC 1071 §2(B): after
//!   an odd length every later byte sits in the other half of its word).
//!   [`sum_chain`] does the same for a slice:
//!   ```
//!   use synfin::wire::checksum::{combine, copy_and_sum, fold, sum, sum_chain};
//!   let (a, b) = (&b"odd"[..], &b"length first piece"[..]);
//!   let mut packet = [0u8; 21];
//!   let (pa, pb) = packet.split_at_mut(a.len());
//!   let sa = copy_and_sum(pa, a, 0);
//!   let s = combine(sa, a.len(), copy_and_sum(pb, b, 0));
//!   assert_eq!(fold(s), fold(sum(&packet, 0)));
//!   assert_eq!(fold(sum_chain(sum(a, 0), a.len(), b)), fold(s));
//!   ```
//! - [`TcpRepr::emit_header_with_payload_sum`](super::TcpRepr::emit_header_with_payload_sum)
//!   and [`TcpSegment::verify_checksum_with_payload_sum`](super::TcpSegment::verify_checksum_with_payload_sum)
//!   take a payload sum computed that way and checksum only the header.
//!
//! # Why the arithmetic is right
//!
//! The checksum is the 16-bit one's complement of the one's complement sum of
//! the data taken as big-endian 16-bit words (RFC 1071 §1). One's complement
//! addition is addition modulo `0xffff` (`2^16 - 1`), so any arithmetic
//! that keeps the running value congruent modulo `0xffff` is right, and the
//! value is reduced to 16 bits only at the end ([`fold`]: RFC 1071 §2(B)
//! "deferred carries", §2(C) "parallel summation"):
//!
//! - `2^16 ≡ 1`, so a big-endian 32- or 64-bit word is congruent to the sum
//!   of its 16-bit words, and `2^64 ≡ 1` (`0xffff` divides `2^64 - 1`), so
//!   a carry out of a 64-bit sum is added back at the bottom (`add_carry`,
//!   §2(A)).
//! - Byte order: summing little-endian words gives the byte-swapped
//!   sum, and a swapped 16-bit value is `256 · w` (since `256 · 256 ≡ 1`),
//!   undone by one more multiplication by 256: a rotation by 8 bits of the
//!   64-bit value (§2(B)).
//! - After an odd number of bytes the next byte is the low half of a word,
//!   not the high half, so a later piece's own sum must be swapped the same
//!   way before it is added ([`combine`]).
//!
//! On x86_64 the bulk of the data is summed with SSE2 or, when the CPU has
//! it (detected once at run time), AVX2 (`checksum/x86_64.rs` explains the
//! lane arithmetic); elsewhere, and for inputs under 256 bytes, by the
//! portable integer code (`checksum/portable.rs`). Both give the same
//! folded result for every input.

use std::net::IpAddr;

mod portable;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "x86_64")]
mod x86_64;

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
/// `sum(a ++ b, 0)` whenever `a` has even length ([`sum_chain`] and
/// [`combine`] for any length). The result is zero only when `initial` and
/// all of `data` are.
///
/// ```
/// use synfin::wire::checksum::{fold, sum};
/// // RFC 1071 §3's example.
/// assert_eq!(fold(sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7], 0)), 0xddf2);
/// ```
#[inline]
pub fn sum(data: &[u8], initial: u64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        x86_64::sum(data, initial)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        portable::sum(data, initial)
    }
}

/// Copies `src` into `dst` and returns `sum(src, initial)`, reading `src`
/// once (the copy and the sum share each load on x86_64).
///
/// # Panics
/// If `dst.len() != src.len()`, as [`slice::copy_from_slice`] does.
#[inline(always)]
pub fn copy_and_sum(dst: &mut [u8], src: &[u8], initial: u64) -> u64 {
    assert_eq!(
        dst.len(),
        src.len(),
        "copy_and_sum: destination and source lengths differ"
    );
    #[cfg(target_arch = "x86_64")]
    {
        x86_64::copy_and_sum(dst, src, initial)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        portable::copy_and_sum(dst, src, initial)
    }
}

/// Combines the running sum `prev` of the first `prev_len` bytes of some
/// data with `next`, the sum (from 0) of the bytes that follow them: the
/// result folds to the sum of the whole. If `prev_len` is odd, `next` is
/// byte-swapped first (RFC 1071 §2(B); module docs). Only the parity of
/// `prev_len` matters.
///
/// ```
/// use synfin::wire::checksum::{combine, fold, sum};
/// let d = b"abcdefg";
/// let s = combine(sum(&d[..3], 7), 3, sum(&d[3..], 0));
/// assert_eq!(fold(s), fold(sum(d, 7)));
/// ```
#[inline]
pub fn combine(prev: u64, prev_len: usize, next: u64) -> u64 {
    if prev_len % 2 == 0 {
        add_carry(prev, next)
    } else {
        // ×256 modulo 2^64 - 1: the byte swap of a sum (module docs).
        add_carry(prev, next.rotate_left(8))
    }
}

/// Continues the running sum `prev` of `prev_len` bytes with `next`:
/// `sum(next, prev)` when `prev_len` is even, else
/// `combine(prev, prev_len, sum(next, 0))`.
#[inline]
pub fn sum_chain(prev: u64, prev_len: usize, next: &[u8]) -> u64 {
    if prev_len % 2 == 0 {
        sum(next, prev)
    } else {
        combine(prev, prev_len, sum(next, 0))
    }
}

/// Folds the carries of an unfolded sum down to 16 bits (end-around carry,
/// RFC 1071 §2(B)). The result is *not* complemented. It is 0 only for 0;
/// any other sum folds to the one value in `1..=0xffff` congruent to it
/// modulo `0xffff` (so `0xffff`, never 0, for a nonzero multiple).
#[inline]
pub fn fold(sum: u64) -> u16 {
    // 64 -> 32 -> 16 bits, each with its end-around carry; a nonzero value
    // stays nonzero at each step (no carry: a nonzero total; carry: +1).
    let (s, c) = (sum as u32).overflowing_add((sum >> 32) as u32);
    let s = s + u32::from(c);
    let (s, c) = (s as u16).overflowing_add((s >> 16) as u16);
    s + u16::from(c)
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
///
/// A 20-byte input (an IPv4 header without options, checked on every
/// packet in and computed on every one out) takes a fixed path: two 64-bit
/// words and a 32-bit one in one carry chain.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    if let Ok(h) = <&[u8; 20]>::try_from(data) {
        return !fold(portable::sum20(h));
    }
    !fold(sum(data, 0))
}
