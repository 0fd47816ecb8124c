//! Optional pacing ([`TcpConfig::pacing`](crate::tcp::TcpConfig::pacing)):
//! data segments are spread over the round trip instead of leaving in a
//! burst as ACKs open the window, so a sender does not overflow a shallow
//! bottleneck queue (slow start's doubling, a window opened by a
//! cumulative ACK after recovery).
//!
//! The rate is Linux's (`tcp_update_pacing_rate`): max(cwnd, FlightSize)
//! per smoothed RTT, times 2 while cwnd is below half of ssthresh (slow
//! start: the window doubles per RTT and the rate must keep up) and 1.2
//! after. Each data segment of `len` bytes pushes the earliest departure
//! of the next one `len / rate` past the later of now and the previous
//! departure (the "earliest departure time" model; nothing is saved up
//! while idle, so there is no burst after a pause). Until the RTT is
//! measured nothing is paced.
//!
//! Sans-IO: a segment held back is simply not returned by `poll_transmit`;
//! the departure time becomes a `poll_timeout` deadline, and when it fires
//! the connection is offered the transmit opportunity again.

use core::time::Duration;

use super::Connection;
use crate::tcp::congestion::CongestionControl;
use crate::time::Instant;

/// Pacing gain while cwnd < ssthresh / 2 (Linux `tcp_pacing_ss_ratio`).
const SS_RATIO: f64 = 2.0;
/// Pacing gain otherwise (Linux `tcp_pacing_ca_ratio`).
const CA_RATIO: f64 = 1.2;

impl Connection {
    /// Whether pacing holds data back at `now`. If so the pacing timer is
    /// armed for the departure time.
    pub(super) fn pacing_holds(&mut self, now: Instant) -> bool {
        if !self.settings.has(super::block::Settings::PACING) {
            return false;
        }
        let Some(l) = self.loss.as_mut() else {
            return false;
        };
        match l.pace_at {
            Some(t) if t > now => {
                l.pace_armed = true;
                true
            }
            _ => false,
        }
    }

    /// A data segment of `len` bytes left at `now` with `flight` bytes
    /// outstanding (itself included): the next may leave one interval
    /// later.
    pub(super) fn pacing_on_send(&mut self, now: Instant, len: usize, flight: usize) {
        if !self.settings.has(super::block::Settings::PACING) {
            return;
        }
        let Some(srtt) = self.rtt.srtt() else {
            return;
        };
        let l = self.loss();
        let cwnd = l.cc.cwnd();
        let ratio = if cwnd < l.cc.ssthresh() / 2 {
            SS_RATIO
        } else {
            CA_RATIO
        };
        // bytes per second = ratio × max(cwnd, flight) / srtt.
        let window = cwnd.max(flight).max(1) as f64;
        let interval = srtt.as_secs_f64() * len as f64 / (ratio * window);
        let from = l.pace_at.map_or(now, |t| t.max(now));
        l.pace_at = Some(from + Duration::from_secs_f64(interval.min(1.0)));
        l.pace_armed = false;
    }

    /// The departure time, while data waits for it.
    pub(super) fn pacing_timeout(&self) -> Option<Instant> {
        let l = self.loss.as_ref()?;
        l.pace_armed.then_some(l.pace_at).flatten()
    }

    /// The departure time came: the next transmit opportunity sends.
    pub(super) fn pacing_handle_timeout(&mut self, now: Instant) {
        if let Some(l) = self.loss.as_mut() {
            if l.pace_armed && l.pace_at.is_none_or(|t| t <= now) {
                l.pace_armed = false;
            }
        }
    }
}
