//! Vector kernels for x86_64: SSE2 (part of the x86_64 baseline, always
//! there) and AVX2 (detected at run time once, then a cached flag).
//!
//! # The arithmetic
//!
//! A kernel adds the data as native-endian (little-endian) 16-bit words
//! into 32-bit lanes and returns their exact sum; the caller swaps it to
//! big-endian and adds it to the running sum ([`super::portable::native_to_be`],
//! RFC 1071 §2(B)). There is no unsigned "add adjacent 16-bit words into
//! 32 bits" instruction, but there is a signed one, `pmaddwd` (multiply
//! 16-bit lanes and add adjacent products; with all multipliers 1 it adds
//! adjacent words). So each word `w` is first XORed with `0x8000`, which as
//! a signed 16-bit value is exactly `w - 32768`; a 32-bit lane then gains
//! `w0 + w1 - 65536`, and the total over all lanes is
//! `Σw - 32768 · (bytes / 2)`, so `Σw` is the lanes' total plus
//! `16384 · bytes` — exact, no carry lost, nothing congruent-only.
//!
//! Nothing overflows the `i32` lanes: every lane, and every sum of lanes
//! the code forms, is a partial sum of the per-4-byte contributions
//! `w0 + w1 - 65536` of one piece, each of magnitude at most 65536. The
//! data is taken in pieces of at most [`PIECE`] `= 2^16` bytes with fresh
//! accumulators, so there are at most `2^14` contributions and any partial
//! sum stays within `2^30` in magnitude; each piece's total is then widened
//! into a `u64` that cannot overflow below 2^47 bytes.
//!
//! Per 32 bytes the AVX2 loop is three instructions (the XOR takes its
//! operand straight from memory), SSE2's is eight; the portable code's is
//! about twelve.
//!
//! # Safety, in one place
//!
//! Every `unsafe` operation here is one of:
//! - a vector load or store through a pointer into a slice chunk of at
//!   least the vector's width (`chunks_exact`, or `b.as_ptr().add(k)` with
//!   `k + width <= b.len()` as noted at the site): always in bounds; the
//!   `loadu`/`storeu` forms accept any alignment;
//! - a call of an intrinsic or a `#[target_feature(enable = "avx2")]`
//!   function, made only after [`has_avx2`] said the CPU has AVX2 (SSE2 is
//!   in every x86_64 CPU and enabled for the whole target).

#![allow(unsafe_code)]

use std::arch::x86_64::{
    __m128i, __m256i, _mm256_add_epi32, _mm256_castsi256_si128, _mm256_extracti128_si256,
    _mm256_loadu_si256, _mm256_madd_epi16, _mm256_set1_epi16, _mm256_setzero_si256,
    _mm256_storeu_si256, _mm256_xor_si256, _mm_add_epi32, _mm_cvtsi128_si32, _mm_loadu_si128,
    _mm_madd_epi16, _mm_set1_epi16, _mm_setzero_si128, _mm_shuffle_epi32, _mm_storeu_si128,
    _mm_xor_si128,
};
use std::sync::atomic::{AtomicU8, Ordering};

use super::{add_carry, portable};

/// Bytes summed with one set of accumulators (see the module docs for why
/// this bounds the lanes). 64 KiB: a whole jumbo segment in one piece.
const PIECE: usize = 1 << 16;

/// Below this many bytes the portable code is as cheap as the vector set-up
/// (measured with callgrind: headers of pure ACKs and handshake segments,
/// 40–60 bytes, stay on it).
pub(super) const VECTOR_MIN: usize = 128;

/// Whether this CPU has AVX2, cached after the first question: one relaxed
/// load and a compare on the hot path. With `-C target-feature=+avx2` (or
/// `target-cpu=native` on such a CPU) it is a constant.
#[inline(always)]
pub(super) fn has_avx2() -> bool {
    #[cfg(target_feature = "avx2")]
    {
        true
    }
    #[cfg(not(target_feature = "avx2"))]
    {
        match AVX2.load(Ordering::Relaxed) {
            YES => true,
            NO => false,
            _ => detect_avx2(),
        }
    }
}

const UNKNOWN: u8 = 0;
const NO: u8 = 1;
const YES: u8 = 2;
static AVX2: AtomicU8 = AtomicU8::new(UNKNOWN);

#[cold]
#[inline(never)]
fn detect_avx2() -> bool {
    let yes = std::is_x86_feature_detected!("avx2");
    // Racing first callers store the same answer.
    AVX2.store(if yes { YES } else { NO }, Ordering::Relaxed);
    yes
}

/// [`super::sum`] on x86_64.
#[inline]
pub(super) fn sum(data: &[u8], initial: u64) -> u64 {
    if data.len() < VECTOR_MIN {
        return portable::sum(data, initial);
    }
    let (done, native) = if has_avx2() {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { sum_avx2(data) }
    } else {
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe { sum_sse2(data) }
    };
    let native = add_carry(native, portable::native_tail(&data[done..]));
    add_carry(initial, portable::native_to_be(native))
}

/// [`super::copy_and_sum`] on x86_64 (`dst.len() == src.len()`, checked by
/// the caller).
#[inline]
pub(super) fn copy_and_sum(dst: &mut [u8], src: &[u8], initial: u64) -> u64 {
    if src.len() < VECTOR_MIN {
        return portable::copy_and_sum(dst, src, initial);
    }
    let (done, native) = if has_avx2() {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { copy_and_sum_avx2(dst, src) }
    } else {
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe { copy_and_sum_sse2(dst, src) }
    };
    dst[done..].copy_from_slice(&src[done..]);
    let native = add_carry(native, portable::native_tail(&src[done..]));
    add_carry(initial, portable::native_to_be(native))
}

/// The exact sum of the words of one piece from the lanes' total
/// (module docs: `Σw = lanes + 16384 · bytes`). Never negative.
#[inline(always)]
fn unbias(lanes: i32, bytes: usize) -> u64 {
    (i64::from(lanes) + 16384 * bytes as i64) as u64
}

/// Sums the whole 16-byte blocks of `data`: returns how many bytes that
/// was and the exact sum of their native-endian 16-bit words.
///
/// # Safety
/// The CPU must have SSE2 (every x86_64 CPU does).
pub(super) unsafe fn sum_sse2(data: &[u8]) -> (usize, u64) {
    let wide = data.len() / 16 * 16;
    let bias = _mm_set1_epi16(i16::MIN);
    let ones = _mm_set1_epi16(1);
    let mut total = 0u64;
    for piece in data[..wide].chunks(PIECE) {
        let mut acc = [_mm_setzero_si128(); 4];
        let mut blocks = piece.chunks_exact(64);
        for b in &mut blocks {
            for (i, a) in acc.iter_mut().enumerate() {
                // SAFETY: 16 * i + 16 <= 64 == b.len().
                let v = _mm_loadu_si128(b.as_ptr().add(16 * i).cast::<__m128i>());
                *a = _mm_add_epi32(*a, _mm_madd_epi16(_mm_xor_si128(v, bias), ones));
            }
        }
        for b in blocks.remainder().chunks_exact(16) {
            // SAFETY: b.len() == 16.
            let v = _mm_loadu_si128(b.as_ptr().cast::<__m128i>());
            acc[0] = _mm_add_epi32(acc[0], _mm_madd_epi16(_mm_xor_si128(v, bias), ones));
        }
        let a = _mm_add_epi32(_mm_add_epi32(acc[0], acc[1]), _mm_add_epi32(acc[2], acc[3]));
        total += unbias(hsum128(a), piece.len());
    }
    (wide, total)
}

/// Copies the whole 16-byte blocks of `src` into `dst` while summing them
/// as [`sum_sse2`] does; returns the bytes done and their sum. The rest is
/// the caller's to copy.
///
/// # Safety
/// The CPU must have SSE2 (every x86_64 CPU does); `dst.len() == src.len()`.
pub(super) unsafe fn copy_and_sum_sse2(dst: &mut [u8], src: &[u8]) -> (usize, u64) {
    let wide = src.len() / 16 * 16;
    let bias = _mm_set1_epi16(i16::MIN);
    let ones = _mm_set1_epi16(1);
    let mut total = 0u64;
    for (dp, sp) in dst[..wide].chunks_mut(PIECE).zip(src[..wide].chunks(PIECE)) {
        let mut acc = [_mm_setzero_si128(); 4];
        let mut dblocks = dp.chunks_exact_mut(64);
        let mut sblocks = sp.chunks_exact(64);
        for (d, s) in (&mut dblocks).zip(&mut sblocks) {
            for (i, a) in acc.iter_mut().enumerate() {
                // SAFETY: 16 * i + 16 <= 64 == s.len() == d.len().
                let v = _mm_loadu_si128(s.as_ptr().add(16 * i).cast::<__m128i>());
                _mm_storeu_si128(d.as_mut_ptr().add(16 * i).cast::<__m128i>(), v);
                *a = _mm_add_epi32(*a, _mm_madd_epi16(_mm_xor_si128(v, bias), ones));
            }
        }
        let drest = dblocks.into_remainder().chunks_exact_mut(16);
        for (d, s) in drest.zip(sblocks.remainder().chunks_exact(16)) {
            // SAFETY: s.len() == d.len() == 16.
            let v = _mm_loadu_si128(s.as_ptr().cast::<__m128i>());
            _mm_storeu_si128(d.as_mut_ptr().cast::<__m128i>(), v);
            acc[0] = _mm_add_epi32(acc[0], _mm_madd_epi16(_mm_xor_si128(v, bias), ones));
        }
        let a = _mm_add_epi32(_mm_add_epi32(acc[0], acc[1]), _mm_add_epi32(acc[2], acc[3]));
        total += unbias(hsum128(a), sp.len());
    }
    (wide, total)
}

/// Sums the whole 32-byte blocks of `data` (as [`sum_sse2`], twice as wide).
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn sum_avx2(data: &[u8]) -> (usize, u64) {
    let wide = data.len() / 32 * 32;
    let bias = _mm256_set1_epi16(i16::MIN);
    let ones = _mm256_set1_epi16(1);
    let mut total = 0u64;
    for piece in data[..wide].chunks(PIECE) {
        let mut acc = [_mm256_setzero_si256(); 4];
        let mut blocks = piece.chunks_exact(128);
        for b in &mut blocks {
            for (i, a) in acc.iter_mut().enumerate() {
                // SAFETY: 32 * i + 32 <= 128 == b.len().
                let v = _mm256_loadu_si256(b.as_ptr().add(32 * i).cast::<__m256i>());
                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(_mm256_xor_si256(v, bias), ones));
            }
        }
        for b in blocks.remainder().chunks_exact(32) {
            // SAFETY: b.len() == 32.
            let v = _mm256_loadu_si256(b.as_ptr().cast::<__m256i>());
            acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(_mm256_xor_si256(v, bias), ones));
        }
        let a = _mm256_add_epi32(
            _mm256_add_epi32(acc[0], acc[1]),
            _mm256_add_epi32(acc[2], acc[3]),
        );
        total += unbias(hsum256(a), piece.len());
    }
    (wide, total)
}

/// Copies and sums the whole 32-byte blocks (as [`copy_and_sum_sse2`],
/// twice as wide).
///
/// # Safety
/// The CPU must have AVX2; `dst.len() == src.len()`.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn copy_and_sum_avx2(dst: &mut [u8], src: &[u8]) -> (usize, u64) {
    let wide = src.len() / 32 * 32;
    let bias = _mm256_set1_epi16(i16::MIN);
    let ones = _mm256_set1_epi16(1);
    let mut total = 0u64;
    for (dp, sp) in dst[..wide].chunks_mut(PIECE).zip(src[..wide].chunks(PIECE)) {
        let mut acc = [_mm256_setzero_si256(); 4];
        let mut dblocks = dp.chunks_exact_mut(128);
        let mut sblocks = sp.chunks_exact(128);
        for (d, s) in (&mut dblocks).zip(&mut sblocks) {
            for (i, a) in acc.iter_mut().enumerate() {
                // SAFETY: 32 * i + 32 <= 128 == s.len() == d.len().
                let v = _mm256_loadu_si256(s.as_ptr().add(32 * i).cast::<__m256i>());
                _mm256_storeu_si256(d.as_mut_ptr().add(32 * i).cast::<__m256i>(), v);
                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(_mm256_xor_si256(v, bias), ones));
            }
        }
        let drest = dblocks.into_remainder().chunks_exact_mut(32);
        for (d, s) in drest.zip(sblocks.remainder().chunks_exact(32)) {
            // SAFETY: s.len() == d.len() == 32.
            let v = _mm256_loadu_si256(s.as_ptr().cast::<__m256i>());
            _mm256_storeu_si256(d.as_mut_ptr().cast::<__m256i>(), v);
            acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(_mm256_xor_si256(v, bias), ones));
        }
        let a = _mm256_add_epi32(
            _mm256_add_epi32(acc[0], acc[1]),
            _mm256_add_epi32(acc[2], acc[3]),
        );
        total += unbias(hsum256(a), sp.len());
    }
    (wide, total)
}

/// Adds the four 32-bit lanes (no overflow: module docs).
///
/// # Safety
/// SSE2 (every x86_64 CPU).
#[inline]
unsafe fn hsum128(a: __m128i) -> i32 {
    // Swap the 64-bit halves and add, then the 32-bit pairs and add.
    let a = _mm_add_epi32(a, _mm_shuffle_epi32::<0b01_00_11_10>(a));
    let a = _mm_add_epi32(a, _mm_shuffle_epi32::<0b10_11_00_01>(a));
    _mm_cvtsi128_si32(a)
}

/// Adds the eight 32-bit lanes (no overflow: module docs).
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn hsum256(a: __m256i) -> i32 {
    let lo = _mm256_castsi256_si128(a);
    let hi = _mm256_extracti128_si256::<1>(a);
    hsum128(_mm_add_epi32(lo, hi))
}
