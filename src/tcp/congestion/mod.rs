//! Congestion control: how large the congestion window is, and how it grows
//! and shrinks.
//!
//! The split follows RFC 5681 and RFC 9438: a [`CongestionControl`]
//! implementation owns cwnd and ssthresh and decides the growth on ACKs and
//! the reduction on a congestion event; *loss recovery* — which ACKs are
//! duplicates, when fast retransmit starts, what to retransmit, RFC 6582's
//! partial ACKs, RFC 6675's pipe — lives in [`crate::tcp::recovery`] and the
//! connection, and only asks the controller for the numbers. Adding an
//! algorithm means implementing the trait and adding a variant to
//! [`Controller`] and [`CongestionAlgorithm`].
//!
//! Two algorithms are provided: [`Cubic`] (RFC 9438, the default, as in
//! Linux) and [`NewReno`] (RFC 5681 growth; the RFC 6582 recovery is generic).

mod cubic;
mod newreno;

pub use cubic::Cubic;
pub use newreno::NewReno;

use core::time::Duration;

use crate::time::Instant;

/// "Arbitrarily high" initial ssthresh (RFC 5681 §3.1), also the ceiling for
/// cwnd so that arithmetic can never overflow.
pub const INITIAL_SSTHRESH: usize = usize::MAX / 2;

/// Which congestion controller new connections use ([`TcpConfig`]'s
/// `congestion` field).
///
/// [`TcpConfig`]: crate::tcp::TcpConfig
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum CongestionAlgorithm {
    /// CUBIC (RFC 9438), the default of Linux, Windows and macOS.
    #[default]
    Cubic,
    /// NewReno (RFC 5681 / RFC 6582).
    NewReno,
}

/// What a congestion controller decides. Sizes are bytes; `mss` is SMSS.
///
/// The connection calls [`on_ack`](Self::on_ack) only outside loss recovery
/// (RFC 5681 §3.2, RFC 6675 §5: recovery sets the window itself), and
/// [`on_congestion_event`](Self::on_congestion_event) once per recovery
/// episode.
pub trait CongestionControl {
    /// The congestion window.
    fn cwnd(&self) -> usize;
    /// The slow start threshold.
    fn ssthresh(&self) -> usize;
    /// Sets cwnd directly; loss recovery deflates and inflates it (RFC 6582
    /// §3.2) and sets it to ssthresh on exit. Clamped to at least one SMSS.
    fn set_cwnd(&mut self, cwnd: usize);
    /// Update SMSS (after the handshake or a path MTU change).
    fn set_mss(&mut self, mss: usize);
    /// `acked` new bytes were acknowledged at `now` outside recovery, with
    /// `flight` bytes outstanding before the ACK; `srtt` is the smoothed RTT
    /// if known.
    fn on_ack(&mut self, now: Instant, acked: usize, flight: usize, srtt: Option<Duration>);
    /// A loss was detected (fast retransmit, SACK or RACK): the multiplicative
    /// decrease. Sets ssthresh and cwnd = ssthresh; `flight` is FlightSize.
    fn on_congestion_event(&mut self, now: Instant, flight: usize);
    /// An ACK echoed a congestion mark (ECE, RFC 3168 §6.1.2), at most once
    /// per window of data: the same decrease as for a loss — RFC 3168 asks
    /// for it, and RFC 9438 §4.6 applies CUBIC's β to ECN too — but nothing
    /// is retransmitted and no recovery episode starts. An algorithm that
    /// answers marks more gently (RFC 8511's ABE) overrides this.
    fn on_ecn_echo(&mut self, now: Instant, flight: usize) {
        self.on_congestion_event(now, flight)
    }
    /// A retransmission timeout: ssthresh from the window (unless
    /// `repeated`, a further timeout of the same data, RFC 5681 §3.1), and
    /// cwnd = one SMSS, the loss window.
    fn on_rto(&mut self, flight: usize, repeated: bool);
    /// Restart after idle (RFC 5681 §4.1): cwnd = min(IW, cwnd).
    fn on_idle_restart(&mut self);
}

/// Initial window, RFC 5681 §3.1 equation (1).
/// A new SMSS for a controller: cwnd is recomputed when it is still the
/// initial window of the old SMSS (the usual call right after the
/// handshake), otherwise kept as the byte count it is.
pub(crate) fn change_mss(cwnd: &mut usize, smss: &mut usize, mss: usize) {
    let mss = mss.clamp(1, INITIAL_SSTHRESH / 4);
    if *cwnd == initial_window(*smss) {
        *cwnd = initial_window(mss);
    }
    *smss = mss;
}

pub fn initial_window(mss: usize) -> usize {
    if mss > 2190 {
        2 * mss
    } else if mss > 1095 {
        3 * mss
    } else {
        4 * mss
    }
}

/// One connection's controller: an enum rather than a trait object, so it
/// needs no allocation of its own and calls are static.
#[derive(Debug, Clone)]
pub enum Controller {
    /// CUBIC.
    Cubic(Cubic),
    /// NewReno.
    NewReno(NewReno),
}

impl Controller {
    /// A controller of kind `alg` for SMSS `mss`.
    pub fn new(alg: CongestionAlgorithm, mss: usize) -> Controller {
        match alg {
            CongestionAlgorithm::Cubic => Controller::Cubic(Cubic::new(mss)),
            CongestionAlgorithm::NewReno => Controller::NewReno(NewReno::new(mss)),
        }
    }

    fn inner_mut(&mut self) -> &mut dyn CongestionControl {
        match self {
            Controller::Cubic(c) => c,
            Controller::NewReno(c) => c,
        }
    }

    /// Which algorithm this is.
    pub fn algorithm(&self) -> CongestionAlgorithm {
        match self {
            Controller::Cubic(_) => CongestionAlgorithm::Cubic,
            Controller::NewReno(_) => CongestionAlgorithm::NewReno,
        }
    }
}

impl CongestionControl for Controller {
    // The two reads a send asks for (`send_room`, every segment) matched
    // here rather than through `inner`'s trait object: each variant's
    // method is a field load, inlined, where the virtual call cost a
    // dozen instructions around it.
    #[inline]
    fn cwnd(&self) -> usize {
        match self {
            Controller::Cubic(c) => c.cwnd(),
            Controller::NewReno(c) => c.cwnd(),
        }
    }
    #[inline]
    fn ssthresh(&self) -> usize {
        match self {
            Controller::Cubic(c) => c.ssthresh(),
            Controller::NewReno(c) => c.ssthresh(),
        }
    }
    fn set_cwnd(&mut self, cwnd: usize) {
        self.inner_mut().set_cwnd(cwnd)
    }
    fn set_mss(&mut self, mss: usize) {
        self.inner_mut().set_mss(mss)
    }
    // Matched, not through `inner_mut`, for the same reason as `cwnd`: an
    // ACK in slow start (each one of a short connection) is then a compare
    // and an add inline, not a virtual call.
    #[inline]
    fn on_ack(&mut self, now: Instant, acked: usize, flight: usize, srtt: Option<Duration>) {
        match self {
            Controller::Cubic(c) => c.on_ack(now, acked, flight, srtt),
            Controller::NewReno(c) => c.on_ack(now, acked, flight, srtt),
        }
    }
    fn on_congestion_event(&mut self, now: Instant, flight: usize) {
        self.inner_mut().on_congestion_event(now, flight)
    }
    fn on_ecn_echo(&mut self, now: Instant, flight: usize) {
        self.inner_mut().on_ecn_echo(now, flight)
    }
    fn on_rto(&mut self, flight: usize, repeated: bool) {
        self.inner_mut().on_rto(flight, repeated)
    }
    fn on_idle_restart(&mut self) {
        self.inner_mut().on_idle_restart()
    }
}
