//! TCP sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4).

use core::cmp::Ordering;
use core::ops::{Add, Sub};

/// A TCP sequence number. Comparison is circular: `a < b` when `b` is ahead of
/// `a` by less than 2^31, which is the only meaningful order for sequence
/// space (RFC 9293 §3.4). It is not a total order over all of u32, so it is not
/// `Ord`; use it only for numbers within half the space of each other.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// Signed distance from `other` to `self`.
    #[inline]
    pub fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
    /// The larger of two sequence numbers in circular order.
    #[inline]
    pub fn max(self, other: SeqNum) -> SeqNum {
        if self.diff(other) >= 0 {
            self
        } else {
            other
        }
    }
    /// The smaller of two sequence numbers in circular order.
    #[inline]
    pub fn min(self, other: SeqNum) -> SeqNum {
        if self.diff(other) <= 0 {
            self
        } else {
            other
        }
    }
    /// `lo <= self < hi` in circular order.
    #[inline]
    pub fn in_range(self, lo: SeqNum, hi: SeqNum) -> bool {
        self.diff(lo) >= 0 && hi.diff(self) > 0
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    #[inline]
    fn add(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs))
    }
}
impl Add<usize> for SeqNum {
    type Output = SeqNum;
    #[inline]
    fn add(self, rhs: usize) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs as u32))
    }
}
impl Sub<u32> for SeqNum {
    type Output = SeqNum;
    #[inline]
    fn sub(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(rhs))
    }
}
/// Distance `self - rhs` as an unsigned count. Panics in debug builds if
/// `rhs` is ahead of `self`; callers check the order first.
impl Sub<SeqNum> for SeqNum {
    type Output = usize;
    #[inline]
    fn sub(self, rhs: SeqNum) -> usize {
        let d = self.diff(rhs);
        debug_assert!(
            d >= 0,
            "sequence subtraction went negative: {} - {}",
            self.0,
            rhs.0
        );
        d.max(0) as usize
    }
}
impl PartialOrd for SeqNum {
    #[inline]
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

impl core::fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}
impl core::fmt::Display for SeqNum {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn wraps() {
        let a = SeqNum(u32::MAX - 1);
        let b = a + 4u32;
        assert_eq!(b.0, 2);
        assert!(a < b);
        assert_eq!(b - a, 4);
        assert!(SeqNum(5).in_range(SeqNum(u32::MAX), SeqNum(6)));
        assert!(!SeqNum(6).in_range(SeqNum(u32::MAX), SeqNum(6)));
    }
}
