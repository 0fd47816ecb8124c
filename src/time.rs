//! Time as the sans-IO core sees it: an opaque monotonic instant passed in by
//! the caller. The core never reads a clock (DESIGN.md, "Layers").

use core::cmp::Ordering;
use core::num::NonZeroU64;
use core::ops::{Add, AddAssign, Sub};
use core::time::Duration;

/// A point in time, in microseconds since an arbitrary epoch chosen by the
/// driver (the simulator starts at zero; a real-time runtime uses process
/// start).
///
/// Stored as the bitwise complement of the microseconds in a `NonZeroU64`,
/// so that `Option<Instant>` is 8 bytes rather than 16: a connection keeps
/// several optional deadlines, and issue 2 caps an idle connection at 512
/// bytes. The largest representable instant is `u64::MAX - 1` µs (arithmetic
/// saturates there), some 584 000 years.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct Instant {
    inverted: NonZeroU64,
}

const MAX_MICROS: u64 = u64::MAX - 1;

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant::from_micros(0);
    /// A time later than any the stack will see; handy as "never".
    pub const FAR_FUTURE: Instant = Instant::from_micros(u64::MAX / 2);

    /// The earliest of optional deadlines, `None` only when all are: one
    /// unsigned maximum per deadline and no branch, because the stored form
    /// is inverted (an earlier instant is a larger number) and `None` is the
    /// niche 0, smaller than any instant. A connection asks this of its
    /// seven timers after every packet and every user call
    /// (`Connection::poll_timeout`), where pairwise `Option` compares cost
    /// about three times as much (issue 6).
    ///
    /// ```
    /// use synfin::time::Instant;
    /// let (a, b) = (Instant::from_micros(5), Instant::from_micros(9));
    /// assert_eq!(Instant::earliest([None, Some(b), Some(a)]), Some(a));
    /// assert_eq!(Instant::earliest([None, None]), None);
    /// ```
    #[inline]
    pub fn earliest<const N: usize>(deadlines: [Option<Instant>; N]) -> Option<Instant> {
        let mut m = 0u64;
        for d in deadlines {
            m = m.max(d.map_or(0, |t| t.inverted.get()));
        }
        NonZeroU64::new(m).map(|inverted| Instant { inverted })
    }

    /// An instant `micros` microseconds after the epoch.
    pub const fn from_micros(micros: u64) -> Self {
        let m = if micros > MAX_MICROS {
            MAX_MICROS
        } else {
            micros
        };
        match NonZeroU64::new(!m) {
            Some(inverted) => Instant { inverted },
            // `m <= u64::MAX - 1`, so `!m >= 1`.
            None => unreachable!(),
        }
    }
    /// An instant `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Instant::from_micros(millis.saturating_mul(1000))
    }
    /// An instant `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Instant::from_micros(secs.saturating_mul(1_000_000))
    }
    /// Microseconds since the epoch.
    pub const fn total_micros(self) -> u64 {
        !self.inverted.get()
    }
    /// `self` plus `micros` microseconds (saturating): `self + d` for a
    /// duration already in microseconds.
    #[inline]
    pub const fn add_micros(self, micros: u64) -> Self {
        Instant::from_micros(self.total_micros().saturating_add(micros))
    }
    /// Milliseconds since the epoch (truncated).
    pub const fn total_millis(self) -> u64 {
        self.total_micros() / 1000
    }
    /// Time since `earlier`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.total_micros().saturating_sub(earlier.total_micros()))
    }
}

impl Default for Instant {
    fn default() -> Self {
        Instant::ZERO
    }
}

impl PartialOrd for Instant {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Instant {
    fn cmp(&self, other: &Self) -> Ordering {
        self.total_micros().cmp(&other.total_micros())
    }
}

fn dur_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 4)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant::from_micros(self.total_micros().saturating_add(dur_micros(rhs)))
    }
}
impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}
impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, rhs: Duration) -> Instant {
        Instant::from_micros(self.total_micros().saturating_sub(dur_micros(rhs)))
    }
}
impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl core::fmt::Debug for Instant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{}.{:06}s",
            self.total_micros() / 1_000_000,
            self.total_micros() % 1_000_000
        )
    }
}
impl core::fmt::Display for Instant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_instant_is_one_word() {
        assert_eq!(core::mem::size_of::<Option<Instant>>(), 8);
    }

    #[test]
    fn order_and_arithmetic() {
        let a = Instant::from_millis(5);
        let b = a + Duration::from_millis(3);
        assert!(a < b && b > Instant::ZERO && Instant::ZERO < Instant::FAR_FUTURE);
        assert_eq!(b - a, Duration::from_millis(3));
        assert_eq!(a - b, Duration::ZERO);
        assert_eq!((a - Duration::from_secs(9)).total_micros(), 0);
        assert_eq!(Instant::from_micros(u64::MAX).total_micros(), u64::MAX - 1);
        assert!(Instant::FAR_FUTURE + Duration::MAX > Instant::FAR_FUTURE);
        assert_eq!(Instant::from_secs(2).total_millis(), 2000);
        assert_eq!(format!("{}", Instant::from_micros(1_500_000)), "1.500000s");
    }
}
