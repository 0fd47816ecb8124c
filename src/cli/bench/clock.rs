//! The clock both stacks of a benchmark see.
//!
//! The stacks are sans-IO: they are handed the time. With [`Mode::Real`] that
//! is the monotonic clock since the run started; with [`Mode::Virtual`] time
//! stands still while the stacks work, so a run is exactly repeatable (what
//! the callgrind script needs). In both modes, when neither stack has
//! anything to do but wait for a timer (a delayed ACK, a retransmission),
//! the clock jumps to that timer instead of spinning, and the jump is
//! counted so a run that leans on timers shows it.

/// How time advances.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Monotonic wall-clock time (plus any jumps).
    Real,
    /// Only jumps move time.
    Virtual,
}

/// Microseconds since the start of a run.
pub struct Clock {
    mode: Mode,
    start: std::time::Instant,
    offset: u64,
    /// Jumps to a timer because both stacks were idle.
    pub jumps: u64,
}

impl Clock {
    /// A clock at zero.
    pub fn new(mode: Mode) -> Clock {
        Clock {
            mode,
            start: std::time::Instant::now(),
            // Start well away from zero so no stack sees time 0 specially.
            offset: 1_000_000,
            jumps: 0,
        }
    }

    /// Now, in microseconds.
    #[inline]
    pub fn now(&self) -> u64 {
        match self.mode {
            Mode::Real => self.offset + self.start.elapsed().as_micros() as u64,
            Mode::Virtual => self.offset,
        }
    }

    /// Moves the clock to `t` (if it is later), counting a jump.
    pub fn jump_to(&mut self, t: u64) {
        let now = self.now();
        if t > now {
            self.offset += t - now;
        }
        self.jumps += 1;
    }
}
