//! Vector kernels for x86_64: SSE2 (part of the x86_64 baseline, always
//! there) and AVX2 (detected at run time once, then a cached flag).
//!
//! # The arithmetic
//!
//! A kernel adds the data as native-endian (little-endian) 16-bit words
//! into 32-bit lanes and returns their exact sum; the caller swaps it to
//! big-endian and adds it to the running sum ([`super::portable::le_to_be`],
//! RFC 1071 §2(B)). There is no unsigned "add adjacent 16-bit words into
//! 32 bits" instruction, but there is a signed one, `pmaddwd` (multiply
//! 16-bit lanes and add adjacent products; with all multipliers 1 it adds
//! adjacent words). So each word `w` is first XORed with `0x8000`, which as
//! a signed 16-bit value is exactly `w - 32768`; a 32-bit lane then gains
//! `w0 + w1 - 65536`, and the total over all lanes is
//! `Σw - 32768 · (bytes / 2)`, so `Σw` is the lanes' total plus
//! `16384 · bytes` ([`unbias`]) — exact, no carry lost.
//!
//! The end of the data, shorter than a vector, is not summed byte by byte:
//! the kernel loads the last full vector's worth of bytes that ends at an
//! even offset (overlapping bytes already summed), clears the bytes already
//! summed with a mask ([`MASK`]), and adds it like any other vector — its
//! start is even, so its words are the checksum's words, and a cleared word
//! is a zero word, which the bias accounts for like any other. An odd last
//! byte is added alone (it is the low half of a native word: RFC 1071 §1's
//! zero padding on its right, big-endian). The copying kernels copy that
//! last vector whole (rewriting bytes already copied with the same values).
//!
//! Nothing overflows the `i32` lanes: every lane, and every sum of lanes
//! the code forms, is a partial sum of the per-4-byte contributions
//! `w0 + w1 - 65536` of one piece, each of magnitude at most 65536. The
//! data is taken in pieces of at most [`PIECE`] `= 2^16` bytes (plus the
//! final masked vector) with fresh accumulators, so there are at most
//! `2^14 + 8` contributions and any partial sum stays under `2^31` in
//! magnitude; each piece's total is then widened into a `u64` that cannot
//! overflow below 2^47 bytes.
//!
//! Per 128 bytes the AVX2 loop is about 13.5 instructions (three per
//! vector — the XOR takes its operand straight from memory — and the
//! loop's three per 256 bytes), the portable add-with-carry chain about 24,
//! SSE2's about 38. Measured with callgrind (instructions per call, this
//! machine):
//!
//! | bytes | portable |   SSE2 |  AVX2 |
//! |------:|---------:|-------:|------:|
//! |   256 |      100 |    153 |   101 |
//! |   512 |      148 |    229 |   127 |
//! |  1460 |      332 |    507 |   231 |
//! | 65535 |   12 351 | 19 528 | 6 992 |
//!
//! So the kernels start at [`VECTOR_MIN`] bytes. AVX2 pays from about
//! 300 bytes in instructions, and more in time: four independent vector
//! chains against one serial carry chain (3 million 1460-byte sums took
//! 0.19–0.21 s with AVX2, 0.21–0.24 s with SSE2, 0.31–0.35 s with the
//! carry chain). SSE2 executes more instructions than the carry chain but
//! is faster in time, so it stays the path of an x86_64 CPU without AVX2.
//!
//! # Safety, in one place
//!
//! Every `unsafe` operation here is one of:
//! - a vector load or store through a pointer into a slice, at an offset
//!   `k` with `k + width <= len` as noted at each site (chunks of exactly
//!   the width, or the final vector, which the kernels reach only for
//!   inputs of at least [`KERNEL_MIN`] bytes): always in bounds; the
//!   `loadu`/`storeu` forms accept any alignment;
//! - a call of an intrinsic or a `#[target_feature(enable = "avx2")]`
//!   function, made only after [`has_avx2`] said the CPU has AVX2 (SSE2 is
//!   in every x86_64 CPU and enabled for the whole target).

#![allow(unsafe_code)]

use std::arch::x86_64::{
    __m128i, __m256i, _mm256_add_epi32, _mm256_and_si256, _mm256_castsi256_si128,
    _mm256_extracti128_si256, _mm256_loadu_si256, _mm256_madd_epi16, _mm256_set1_epi16,
    _mm256_setzero_si256, _mm256_storeu_si256, _mm256_xor_si256, _mm_add_epi32, _mm_and_si128,
    _mm_cvtsi128_si32, _mm_loadu_si128, _mm_madd_epi16, _mm_set1_epi16, _mm_setzero_si128,
    _mm_shuffle_epi32, _mm_storeu_si128, _mm_xor_si128,
};
use std::sync::atomic::{AtomicU8, Ordering};

use super::{add_carry, portable};

/// Bytes summed with one set of accumulators (see the module docs for why
/// this bounds the lanes). 64 KiB: a whole jumbo segment in one piece.
const PIECE: usize = 1 << 16;

/// Below this many bytes the portable carry chain is no more instructions
/// than a kernel with its set-up and horizontal sum (module docs): all
/// headers and small segments stay on it.
pub(super) const VECTOR_MIN: usize = 256;

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
    let native = if has_avx2() {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { sum_avx2(data) }
    } else {
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe { sum_sse2(data) }
    };
    add_carry(initial, portable::le_to_be(native))
}

/// [`super::copy_and_sum`] on x86_64 (`dst.len() == src.len()`, checked by
/// the caller). Always inlined, as before the aligned path existed: the
/// callers' per-segment copies pay no call (callgrind: outlined, a bulk
/// segment at MTU 1500 cost 22 instructions more).
#[inline(always)]
pub(super) fn copy_and_sum(dst: &mut [u8], src: &[u8], initial: u64) -> u64 {
    if src.len() < VECTOR_MIN {
        return portable::copy_and_sum(dst, src, initial);
    }
    let native = if has_avx2() {
        if src.len() >= ALIGN_MIN {
            aligned_copy_and_sum_avx2(dst, src)
        } else {
            // SAFETY: the CPU has AVX2 (checked just above).
            unsafe { copy_and_sum_avx2(dst, src) }
        }
    } else {
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe { copy_and_sum_sse2(dst, src) }
    };
    add_carry(initial, portable::le_to_be(native))
}

/// From this many bytes, [`aligned_copy_and_sum_avx2`] copies a head first
/// so that the kernel's stores start on a 32-byte boundary. Not for an MTU
/// of 1500: at 1448 bytes the head's copy and sum cost more than the split
/// stores (callgrind: +140 instructions per bulk segment, and no gain in
/// time), the data being in L1 anyway.
const ALIGN_MIN: usize = 2048;

/// [`copy_and_sum_avx2`] with its stores aligned (for `src.len() >=
/// ALIGN_MIN`, on a CPU with AVX2): the bytes before `dst`'s
/// first 32-byte boundary are copied and summed on their own, then the
/// kernel does the rest. A receive ring's write position and a packet
/// buffer's payload offset fall anywhere, and an unaligned 32-byte store
/// that straddles two cache lines costs two; with a copy into a cold ring
/// that made the copy about a quarter slower (a 64 KiB copy-and-sum into a
/// 1 MiB ring at odd positions, alternating with the reads out of it:
/// 27 GB/s unaligned, 33 GB/s aligned, this machine). The loads stay
/// unaligned: they cost far less when they split.
///
/// Out of line: it runs for copies of at least [`ALIGN_MIN`] bytes, where
/// a call is nothing, and keeps the short copies' inlined code small.
#[inline(never)]
fn aligned_copy_and_sum_avx2(dst: &mut [u8], src: &[u8]) -> u64 {
    // Bytes up to the boundary (0 when already aligned); < 32 < len.
    let head = (dst.as_ptr() as usize).wrapping_neg() & 31;
    let (dh, dt) = dst.split_at_mut(head);
    let (sh, st) = src.split_at(head);
    dh.copy_from_slice(sh);
    // SAFETY: the caller checked that the CPU has AVX2.
    let tail = unsafe { copy_and_sum_avx2(dt, st) };
    // The tail's little-endian words start `head` bytes in: after an odd
    // head its bytes sit in the other halves of the whole's words, so its
    // sum is byte-swapped (×256 modulo 2^64 − 1, as in `combine`).
    let tail = if head % 2 == 0 {
        tail
    } else {
        tail.rotate_left(8)
    };
    add_carry(portable::le_sum(sh), tail)
}

/// The kernels take inputs of at least this many bytes (shorter ones go
/// to the portable code inside them): the final vector must fit in the
/// data below its even end.
pub(super) const KERNEL_MIN: usize = 33;

/// 32 zero bytes, then 32 bytes of ones: the 32 bytes at `MASK[k..]` keep
/// the last `k` bytes of a 32-byte vector, the 16 at `MASK[16 + k..]` the
/// last `k` of a 16-byte one.
static MASK: [u8; 64] = {
    let mut m = [0u8; 64];
    let mut i = 32;
    while i < 64 {
        m[i] = 0xff;
        i += 1;
    }
    m
};

/// The exact sum of the words of `bytes` bytes from their lanes' total
/// (module docs: `Σw = lanes + 16384 · bytes`). Never negative.
#[inline(always)]
fn unbias(lanes: i32, bytes: usize) -> u64 {
    (i64::from(lanes) + 16384 * bytes as i64) as u64
}

/// Where the final vector of a kernel ends (the data's length rounded down
/// to even) and how many of its last bytes the blocks did not cover.
#[inline(always)]
fn final_vector(len: usize, blocks: usize) -> (usize, usize) {
    let end = len & !1;
    (end, end - blocks)
}

/// The exact little-endian word sum of `data` (the caller swaps and adds
/// it; module docs).
///
/// # Safety
/// The CPU must have SSE2 (every x86_64 CPU does).
pub(super) unsafe fn sum_sse2(data: &[u8]) -> u64 {
    if data.len() < KERNEL_MIN {
        return portable::le_sum(data);
    }
    let (bias, ones) = (_mm_set1_epi16(i16::MIN), _mm_set1_epi16(1));
    let len = data.len();
    let wide = len / 16 * 16;
    let mut total = 0u64;
    let mut rest = &data[..wide];
    while rest.len() > PIECE {
        let (piece, r) = rest.split_at(PIECE);
        total += unbias(hsum128(blocks128(piece, bias, ones)), PIECE);
        rest = r;
    }
    let mut acc = blocks128(rest, bias, ones);
    let (end, keep) = final_vector(len, wide);
    // SAFETY: len >= KERNEL_MIN, so 16 <= end <= len; keep < 16, so
    // 16 + keep + 16 <= 64 == MASK.len().
    let v = _mm_loadu_si128(data.as_ptr().add(end - 16).cast::<__m128i>());
    let m = _mm_loadu_si128(MASK.as_ptr().add(16 + keep).cast::<__m128i>());
    acc = _mm_add_epi32(acc, madd128(_mm_and_si128(v, m), bias, ones));
    total += unbias(hsum128(acc), rest.len() + 16);
    if len % 2 == 1 {
        total += u64::from(data[len - 1]);
    }
    total
}

/// Copies `src` into `dst` and returns the exact native-endian word sum
/// of `src`, as [`sum_sse2`] does, from the same loads.
///
/// # Safety
/// The CPU must have SSE2 (every x86_64 CPU does).
pub(super) unsafe fn copy_and_sum_sse2(dst: &mut [u8], src: &[u8]) -> u64 {
    assert_eq!(dst.len(), src.len());
    if src.len() < KERNEL_MIN {
        dst.copy_from_slice(src);
        return portable::le_sum(src);
    }
    let (bias, ones) = (_mm_set1_epi16(i16::MIN), _mm_set1_epi16(1));
    let len = src.len();
    let wide = len / 16 * 16;
    let mut total = 0u64;
    let (mut drest, mut srest) = (&mut dst[..wide], &src[..wide]);
    while srest.len() > PIECE {
        let (dp, dr) = drest.split_at_mut(PIECE);
        let (sp, sr) = srest.split_at(PIECE);
        total += unbias(hsum128(copy_blocks128(dp, sp, bias, ones)), PIECE);
        (drest, srest) = (dr, sr);
    }
    let mut acc = copy_blocks128(drest, srest, bias, ones);
    let blocks = srest.len();
    let (end, keep) = final_vector(len, wide);
    // SAFETY: as in `sum_sse2`; dst.len() == src.len() (asserted).
    let v = _mm_loadu_si128(src.as_ptr().add(end - 16).cast::<__m128i>());
    _mm_storeu_si128(dst.as_mut_ptr().add(end - 16).cast::<__m128i>(), v);
    let m = _mm_loadu_si128(MASK.as_ptr().add(16 + keep).cast::<__m128i>());
    acc = _mm_add_epi32(acc, madd128(_mm_and_si128(v, m), bias, ones));
    total += unbias(hsum128(acc), blocks + 16);
    if len % 2 == 1 {
        dst[len - 1] = src[len - 1];
        total += u64::from(src[len - 1]);
    }
    total
}

/// One vector's contribution: `(v ^ 0x8000…) · 1`, adjacent pairs added.
///
/// # Safety
/// SSE2 (every x86_64 CPU).
#[inline]
unsafe fn madd128(v: __m128i, bias: __m128i, ones: __m128i) -> __m128i {
    _mm_madd_epi16(_mm_xor_si128(v, bias), ones)
}

/// The lanes of the whole 16-byte blocks of `piece` (a multiple of 16
/// bytes long), four accumulators added into one.
///
/// # Safety
/// SSE2 (every x86_64 CPU).
#[inline]
unsafe fn blocks128(piece: &[u8], bias: __m128i, ones: __m128i) -> __m128i {
    let mut acc = [_mm_setzero_si128(); 4];
    let mut blocks = piece.chunks_exact(64);
    for b in &mut blocks {
        for (i, a) in acc.iter_mut().enumerate() {
            // SAFETY: 16 * i + 16 <= 64 == b.len().
            let v = _mm_loadu_si128(b.as_ptr().add(16 * i).cast::<__m128i>());
            *a = _mm_add_epi32(*a, madd128(v, bias, ones));
        }
    }
    // The last 0-3 blocks in straight-line code (a loop here would be
    // turned into a call for the copying variant).
    let r = blocks.remainder();
    let n = r.len() / 16;
    for (i, a) in acc.iter_mut().enumerate().take(3) {
        if i < n {
            // SAFETY: 16 * i + 16 <= 16 * n <= r.len().
            let v = _mm_loadu_si128(r.as_ptr().add(16 * i).cast::<__m128i>());
            *a = _mm_add_epi32(*a, madd128(v, bias, ones));
        }
    }
    _mm_add_epi32(_mm_add_epi32(acc[0], acc[1]), _mm_add_epi32(acc[2], acc[3]))
}

/// [`blocks128`] that also stores each block into `dst` (same length).
///
/// # Safety
/// SSE2 (every x86_64 CPU).
#[inline]
unsafe fn copy_blocks128(dst: &mut [u8], src: &[u8], bias: __m128i, ones: __m128i) -> __m128i {
    assert_eq!(dst.len(), src.len());
    let mut acc = [_mm_setzero_si128(); 4];
    let mut dblocks = dst.chunks_exact_mut(64);
    let mut sblocks = src.chunks_exact(64);
    for (d, s) in (&mut dblocks).zip(&mut sblocks) {
        for (i, a) in acc.iter_mut().enumerate() {
            // SAFETY: 16 * i + 16 <= 64 == s.len() == d.len().
            let v = _mm_loadu_si128(s.as_ptr().add(16 * i).cast::<__m128i>());
            _mm_storeu_si128(d.as_mut_ptr().add(16 * i).cast::<__m128i>(), v);
            *a = _mm_add_epi32(*a, madd128(v, bias, ones));
        }
    }
    let (d, s) = (dblocks.into_remainder(), sblocks.remainder());
    let n = s.len() / 16;
    for (i, a) in acc.iter_mut().enumerate().take(3) {
        if i < n {
            // SAFETY: 16 * i + 16 <= 16 * n <= s.len() == d.len().
            let v = _mm_loadu_si128(s.as_ptr().add(16 * i).cast::<__m128i>());
            _mm_storeu_si128(d.as_mut_ptr().add(16 * i).cast::<__m128i>(), v);
            *a = _mm_add_epi32(*a, madd128(v, bias, ones));
        }
    }
    _mm_add_epi32(_mm_add_epi32(acc[0], acc[1]), _mm_add_epi32(acc[2], acc[3]))
}

/// [`sum_sse2`] with 32-byte vectors.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn sum_avx2(data: &[u8]) -> u64 {
    if data.len() < KERNEL_MIN {
        return portable::le_sum(data);
    }
    let (bias, ones) = (_mm256_set1_epi16(i16::MIN), _mm256_set1_epi16(1));
    let len = data.len();
    let wide = len / 32 * 32;
    let mut total = 0u64;
    let mut rest = &data[..wide];
    while rest.len() > PIECE {
        let (piece, r) = rest.split_at(PIECE);
        total += unbias(hsum256(blocks256(piece, bias, ones)), PIECE);
        rest = r;
    }
    let mut acc = blocks256(rest, bias, ones);
    let (end, keep) = final_vector(len, wide);
    // SAFETY: len >= KERNEL_MIN, so 32 <= end <= len; keep < 32, so
    // keep + 32 <= 64 == MASK.len().
    let v = _mm256_loadu_si256(data.as_ptr().add(end - 32).cast::<__m256i>());
    let m = _mm256_loadu_si256(MASK.as_ptr().add(keep).cast::<__m256i>());
    acc = _mm256_add_epi32(acc, madd256(_mm256_and_si256(v, m), bias, ones));
    total += unbias(hsum256(acc), rest.len() + 32);
    if len % 2 == 1 {
        total += u64::from(data[len - 1]);
    }
    total
}

/// [`copy_and_sum_sse2`] with 32-byte vectors.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn copy_and_sum_avx2(dst: &mut [u8], src: &[u8]) -> u64 {
    assert_eq!(dst.len(), src.len());
    if src.len() < KERNEL_MIN {
        dst.copy_from_slice(src);
        return portable::le_sum(src);
    }
    let (bias, ones) = (_mm256_set1_epi16(i16::MIN), _mm256_set1_epi16(1));
    let len = src.len();
    let wide = len / 32 * 32;
    let mut total = 0u64;
    let (mut drest, mut srest) = (&mut dst[..wide], &src[..wide]);
    while srest.len() > PIECE {
        let (dp, dr) = drest.split_at_mut(PIECE);
        let (sp, sr) = srest.split_at(PIECE);
        total += unbias(hsum256(copy_blocks256(dp, sp, bias, ones)), PIECE);
        (drest, srest) = (dr, sr);
    }
    let mut acc = copy_blocks256(drest, srest, bias, ones);
    let blocks = srest.len();
    let (end, keep) = final_vector(len, wide);
    // SAFETY: as in `sum_avx2`; dst.len() == src.len() (asserted).
    let v = _mm256_loadu_si256(src.as_ptr().add(end - 32).cast::<__m256i>());
    _mm256_storeu_si256(dst.as_mut_ptr().add(end - 32).cast::<__m256i>(), v);
    let m = _mm256_loadu_si256(MASK.as_ptr().add(keep).cast::<__m256i>());
    acc = _mm256_add_epi32(acc, madd256(_mm256_and_si256(v, m), bias, ones));
    total += unbias(hsum256(acc), blocks + 32);
    if len % 2 == 1 {
        dst[len - 1] = src[len - 1];
        total += u64::from(src[len - 1]);
    }
    total
}

/// One vector's contribution (as [`madd128`]).
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn madd256(v: __m256i, bias: __m256i, ones: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_xor_si256(v, bias), ones)
}

/// [`blocks128`] with 32-byte vectors, eight of them per turn of the loop
/// (two per accumulator: fewer loop instructions per byte).
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn blocks256(piece: &[u8], bias: __m256i, ones: __m256i) -> __m256i {
    let mut acc = [_mm256_setzero_si256(); 4];
    let mut blocks = piece.chunks_exact(256);
    for b in &mut blocks {
        for (i, a) in acc.iter_mut().enumerate() {
            // SAFETY: 32 * i + 32 + 128 <= 256 == b.len().
            let v = _mm256_loadu_si256(b.as_ptr().add(32 * i).cast::<__m256i>());
            let w = _mm256_loadu_si256(b.as_ptr().add(32 * i + 128).cast::<__m256i>());
            *a = _mm256_add_epi32(*a, madd256(v, bias, ones));
            *a = _mm256_add_epi32(*a, madd256(w, bias, ones));
        }
    }
    let mut r = blocks.remainder();
    if r.len() >= 128 {
        for (i, a) in acc.iter_mut().enumerate() {
            // SAFETY: 32 * i + 32 <= 128 <= r.len().
            let v = _mm256_loadu_si256(r.as_ptr().add(32 * i).cast::<__m256i>());
            *a = _mm256_add_epi32(*a, madd256(v, bias, ones));
        }
        r = &r[128..];
    }
    let n = r.len() / 32;
    for (i, a) in acc.iter_mut().enumerate().take(3) {
        if i < n {
            // SAFETY: 32 * i + 32 <= 32 * n <= r.len().
            let v = _mm256_loadu_si256(r.as_ptr().add(32 * i).cast::<__m256i>());
            *a = _mm256_add_epi32(*a, madd256(v, bias, ones));
        }
    }
    _mm256_add_epi32(
        _mm256_add_epi32(acc[0], acc[1]),
        _mm256_add_epi32(acc[2], acc[3]),
    )
}

/// [`copy_blocks128`] with 32-byte vectors.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn copy_blocks256(dst: &mut [u8], src: &[u8], bias: __m256i, ones: __m256i) -> __m256i {
    assert_eq!(dst.len(), src.len());
    let mut acc = [_mm256_setzero_si256(); 4];
    let mut dblocks = dst.chunks_exact_mut(256);
    let mut sblocks = src.chunks_exact(256);
    for (d, s) in (&mut dblocks).zip(&mut sblocks) {
        for (i, a) in acc.iter_mut().enumerate() {
            // SAFETY: 32 * i + 32 + 128 <= 256 == s.len() == d.len().
            let v = _mm256_loadu_si256(s.as_ptr().add(32 * i).cast::<__m256i>());
            let w = _mm256_loadu_si256(s.as_ptr().add(32 * i + 128).cast::<__m256i>());
            _mm256_storeu_si256(d.as_mut_ptr().add(32 * i).cast::<__m256i>(), v);
            _mm256_storeu_si256(d.as_mut_ptr().add(32 * i + 128).cast::<__m256i>(), w);
            *a = _mm256_add_epi32(*a, madd256(v, bias, ones));
            *a = _mm256_add_epi32(*a, madd256(w, bias, ones));
        }
    }
    let (mut d, mut s) = (dblocks.into_remainder(), sblocks.remainder());
    if s.len() >= 128 {
        for (i, a) in acc.iter_mut().enumerate() {
            // SAFETY: 32 * i + 32 <= 128 <= s.len() == d.len().
            let v = _mm256_loadu_si256(s.as_ptr().add(32 * i).cast::<__m256i>());
            _mm256_storeu_si256(d.as_mut_ptr().add(32 * i).cast::<__m256i>(), v);
            *a = _mm256_add_epi32(*a, madd256(v, bias, ones));
        }
        (d, s) = (&mut d[128..], &s[128..]);
    }
    let n = s.len() / 32;
    for (i, a) in acc.iter_mut().enumerate().take(3) {
        if i < n {
            // SAFETY: 32 * i + 32 <= 32 * n <= s.len() == d.len().
            let v = _mm256_loadu_si256(s.as_ptr().add(32 * i).cast::<__m256i>());
            _mm256_storeu_si256(d.as_mut_ptr().add(32 * i).cast::<__m256i>(), v);
            *a = _mm256_add_epi32(*a, madd256(v, bias, ones));
        }
    }
    _mm256_add_epi32(
        _mm256_add_epi32(acc[0], acc[1]),
        _mm256_add_epi32(acc[2], acc[3]),
    )
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
