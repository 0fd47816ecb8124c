//! The compact parts of the connection block: every idle connection pays
//! for each byte of [`Connection`](super::Connection) (issue 6 caps an idle
//! established connection, buffers aside, at 512 bytes with its socket slot
//! and table entries), so what is rarely needed is boxed or packed here.
//!
//! * [`Endpoints`]: the two addresses, 16 bytes for IPv4 where a
//!   [`FourTuple`] takes 36 (IPv6 pairs go to the heap);
//! * [`Cold`]: per-socket settings few sockets change (`IP_TOS` /
//!   `IPV6_TCLASS`, `IP_TTL` / `IPV6_UNICAST_HOPS`, `TCP_KEEPINIT`,
//!   `TCP_USER_TIMEOUT`) and the rare reply-RST, boxed and allocated only
//!   when one of them differs from its default;
//! * [`Settings`]: the per-connection switches, one bit each;
//! * [`SentAt`]: when the timed segment went out, in 4 bytes, so the RTT
//!   probe `Option<(SeqNum, SentAt)>` takes 8 bytes instead of 16.

use core::num::NonZeroU32;
use core::time::Duration;
use std::net::{SocketAddr, SocketAddrV4};

use crate::tcp::congestion::CongestionAlgorithm;
use crate::tcp::{IpFields, TcpConfig};
use crate::time::Instant;
use crate::wire::{FourTuple, SeqNum};

/// A connection's local and remote address and port.
///
/// Both IPv4: inline, 16 bytes with the tag. Otherwise (IPv6, IPv4-mapped
/// IPv6) a boxed [`FourTuple`], which also maps `::ffff:a.b.c.d` back to
/// IPv4 as connections always have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Endpoints {
    V4 {
        local: SocketAddrV4,
        remote: SocketAddrV4,
    },
    V6(Box<FourTuple>),
}

impl Endpoints {
    /// `*self = Endpoints::new(local, remote)` for a reused block: an
    /// IPv4 pair over an IPv4 pair (every reuse of an IPv4 stack) is two
    /// stores; the rest (a box to allocate or free) out of line and cold,
    /// so a new connection's code does not carry it in its cache lines.
    #[inline]
    pub fn set(&mut self, local: SocketAddr, remote: SocketAddr) {
        match (self, local, remote) {
            (
                Endpoints::V4 {
                    local: l,
                    remote: r,
                },
                SocketAddr::V4(a),
                SocketAddr::V4(b),
            ) => {
                *l = a;
                *r = b;
            }
            (this, local, remote) => this.set_other(local, remote),
        }
    }

    #[cold]
    #[inline(never)]
    fn set_other(&mut self, local: SocketAddr, remote: SocketAddr) {
        *self = Endpoints::new(local, remote);
    }

    #[inline]
    pub fn new(local: SocketAddr, remote: SocketAddr) -> Endpoints {
        match (local, remote) {
            (SocketAddr::V4(local), SocketAddr::V4(remote)) => Endpoints::V4 { local, remote },
            _ => Endpoints::V6(Box::new(FourTuple::new(local, remote))),
        }
    }

    #[inline]
    pub fn local(&self) -> SocketAddr {
        match self {
            Endpoints::V4 { local, .. } => SocketAddr::V4(*local),
            Endpoints::V6(t) => t.local(),
        }
    }

    #[inline]
    pub fn remote(&self) -> SocketAddr {
        match self {
            Endpoints::V4 { remote, .. } => SocketAddr::V4(*remote),
            Endpoints::V6(t) => t.remote(),
        }
    }

    /// Heap bytes (the boxed IPv6 tuple).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Endpoints::V4 { .. } => 0,
            Endpoints::V6(_) => core::mem::size_of::<FourTuple>(),
        }
    }
}

/// IP header fields of a connection whose socket and stack set none:
/// [`TcpConfig::default`]'s (checked by a test below).
pub(super) const DEFAULT_IP: IpFields = IpFields {
    dscp: 0,
    hop_limit: 64,
};

/// What few connections need, boxed behind an `Option` in the connection
/// block: absent, every field has its default (the value in brackets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Cold {
    /// `TcpConfig::keepinit` in milliseconds, 0 for none (BSD's
    /// `TCP_KEEPINIT`); while connecting, the idle timer holds its
    /// deadline. [0]
    pub keepinit_ms: u32,
    /// The user timeout in milliseconds, 0 for none (RFC 5482; Linux's
    /// `TCP_USER_TIMEOUT`, in the same unit): from
    /// [`TcpConfig::user_timeout`], or set per socket. [0]
    pub user_timeout_ms: u32,
    /// A reply RST `<SEQ=x><CTL=RST>` owed to an unacceptable segment
    /// (RFC 9293 §3.10.7.3). [None]
    pub pending_rst_reply: Option<SeqNum>,
    /// IP header fields of every segment (`IP_TOS`, `IP_TTL`, ...).
    /// [[`DEFAULT_IP`]]
    pub ip: IpFields,
    /// The congestion controller this connection uses once data flows
    /// (read once, when the loss-recovery state is allocated). [CUBIC]
    pub cc_alg: CongestionAlgorithm,
}

impl Default for Cold {
    fn default() -> Self {
        Cold {
            keepinit_ms: 0,
            user_timeout_ms: 0,
            pending_rst_reply: None,
            ip: DEFAULT_IP,
            cc_alg: CongestionAlgorithm::Cubic,
        }
    }
}

impl Cold {
    /// The cold part a new connection with `cfg` needs, `None` when all of
    /// it is default (the common case: no allocation).
    #[inline]
    pub fn for_config(cfg: &TcpConfig) -> Option<Box<Cold>> {
        if cfg.keepinit.is_none()
            && cfg.user_timeout.is_none()
            && cfg.ip_fields() == DEFAULT_IP
            && cfg.congestion == CongestionAlgorithm::Cubic
        {
            return None;
        }
        Cold::for_config_slow(cfg)
    }

    /// [`for_config`](Self::for_config) for a connection whose defaults
    /// say some setting is not the default (`ConnDefaults::cold`): out of
    /// line and cold, as a connection of a stack with default settings
    /// never asks.
    #[cold]
    #[inline(never)]
    pub fn for_config_cold(cfg: &TcpConfig) -> Option<Box<Cold>> {
        Cold::for_config(cfg)
    }

    fn for_config_slow(cfg: &TcpConfig) -> Option<Box<Cold>> {
        let c = Cold {
            keepinit_ms: cfg.keepinit.map_or(0, |d| {
                u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
            }),
            user_timeout_ms: super::user_timeout_ms(cfg.user_timeout),
            pending_rst_reply: None,
            ip: cfg.ip_fields(),
            cc_alg: cfg.congestion,
        };
        (c != Cold::default()).then(|| Box::new(c))
    }
}

/// The connection's switches, one bit each (eight bools would take eight
/// bytes of every connection block).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Settings(u8);

impl Settings {
    /// Our SYN offers timestamps (RFC 7323).
    pub const OFFER_TS: u8 = 1 << 0;
    /// Our SYN offers window scaling (RFC 7323).
    pub const OFFER_WSCALE: u8 = 1 << 1;
    /// Our SYN offers SACK (RFC 2018).
    pub const OFFER_SACK: u8 = 1 << 2;
    /// `TcpConfig::no_options` (`TCP_NOOPT`): our SYN or SYN-ACK carries no
    /// option at all, not even the MSS.
    pub const NO_OPTIONS: u8 = 1 << 3;
    /// Pace data segments over the RTT (pacing.rs).
    pub const PACING: u8 = 1 << 4;
    /// `TCP_NODELAY`: Nagle's algorithm off.
    pub const NODELAY: u8 = 1 << 5;
    /// `SO_KEEPALIVE`.
    pub const KEEPALIVE: u8 = 1 << 6;
    /// The error was handed out by `Connection::take_error` (`SO_ERROR` is
    /// one-shot; reads and writes keep reporting it).
    pub const ERROR_TAKEN: u8 = 1 << 7;

    /// The switches of a new connection with `cfg`.
    pub fn for_config(cfg: &TcpConfig) -> Settings {
        let mut s = Settings(0);
        let offers = !cfg.no_options;
        s.set(Settings::OFFER_TS, cfg.timestamps && offers);
        s.set(Settings::OFFER_WSCALE, cfg.window_scaling && offers);
        s.set(Settings::OFFER_SACK, cfg.sack && offers);
        s.set(Settings::NO_OPTIONS, cfg.no_options);
        s.set(Settings::PACING, cfg.pacing);
        s.set(Settings::NODELAY, cfg.nodelay);
        s.set(Settings::KEEPALIVE, cfg.keepalive);
        s
    }

    /// Whether every bit of `bits` is set.
    #[inline]
    pub fn has(self, bits: u8) -> bool {
        self.0 & bits == bits
    }

    /// Sets or clears `bits`.
    #[inline]
    pub fn set(&mut self, bits: u8, on: bool) {
        if on {
            self.0 |= bits;
        } else {
            self.0 &= !bits;
        }
    }
}

/// When the timed segment of an RTT measurement was sent (RFC 6298 §3:
/// one at a time): the low 32 bits of its microsecond clock, plus one so
/// that `Option<(SeqNum, SentAt)>` has a niche. 32 bits span 71 minutes,
/// far beyond any probe's life (it ends at its ACK or at the first
/// retransmission timeout, and an RTO is at most `max_rto`, itself held in
/// u32 microseconds). A probe sent at the one instant in 2^32 whose low bits
/// are all ones is recorded 1 µs early.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct SentAt(NonZeroU32);

impl SentAt {
    #[inline]
    pub fn new(now: Instant) -> SentAt {
        let t = (now.total_micros() as u32).wrapping_add(1);
        SentAt(NonZeroU32::new(t).unwrap_or(NonZeroU32::MAX))
    }

    /// Microseconds from the send to `now` (`now - self` without the
    /// round trip through a `Duration`, which costs a division by 10^6 on
    /// the way in and a 128-bit product on the way out of the estimator).
    #[inline]
    pub fn micros_until(self, now: Instant) -> u32 {
        (now.total_micros() as u32).wrapping_sub(self.0.get() - 1)
    }
}

/// Time since the probe was sent (`now - sent`).
impl core::ops::Sub<SentAt> for Instant {
    type Output = Duration;
    #[inline]
    fn sub(self, sent: SentAt) -> Duration {
        let now = self.total_micros() as u32;
        Duration::from_micros(u64::from(now.wrapping_sub(sent.0.get() - 1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_round_trip_and_stay_small() {
        for (l, r) in [
            ("198.18.0.1:80", "198.18.0.2:4000"),
            ("[2001:db8::1]:80", "[2001:db8::2]:4000"),
        ] {
            let (l, r): (SocketAddr, SocketAddr) = (l.parse().unwrap(), r.parse().unwrap());
            let e = Endpoints::new(l, r);
            assert_eq!((e.local(), e.remote()), (l, r));
        }
        // IPv4-mapped IPv6 comes back as IPv4, as from a FourTuple.
        let m: SocketAddr = "[::ffff:198.18.0.1]:80".parse().unwrap();
        let e = Endpoints::new(m, m);
        assert_eq!(e.local(), "198.18.0.1:80".parse::<SocketAddr>().unwrap());
        assert_eq!(core::mem::size_of::<Endpoints>(), 16);
    }

    #[test]
    fn defaults_allocate_nothing() {
        let cfg = TcpConfig::default();
        assert_eq!(cfg.ip_fields(), DEFAULT_IP);
        assert!(Cold::for_config(&cfg).is_none());
        let tos = TcpConfig {
            tos: 0x20,
            ..TcpConfig::default()
        };
        assert_eq!(Cold::for_config(&tos).unwrap().ip.dscp, 0x08);
        let ut = TcpConfig {
            user_timeout: Some(core::time::Duration::from_micros(10)),
            ..TcpConfig::default()
        };
        assert_eq!(Cold::for_config(&ut).unwrap().user_timeout_ms, 1);
    }

    #[test]
    fn sent_at_measures_across_wraps() {
        for start in [0u64, 1, 5_000_000, (1 << 32) - 3, (1 << 32) + 7, 9 << 40] {
            let sent = SentAt::new(Instant::from_micros(start));
            for rtt in [0u64, 1, 250, 1_000_000, 3_600_000_000] {
                assert_eq!(
                    Instant::from_micros(start + rtt) - sent,
                    Duration::from_micros(rtt),
                    "start {start} rtt {rtt}"
                );
            }
        }
        // The one instant recorded early.
        let odd = Instant::from_micros(u64::from(u32::MAX));
        assert_eq!(odd - SentAt::new(odd), Duration::from_micros(1));
        assert_eq!(core::mem::size_of::<Option<(SeqNum, SentAt)>>(), 8);
    }

    #[test]
    fn settings_bits() {
        let mut s = Settings::for_config(&TcpConfig::default());
        assert!(s.has(Settings::OFFER_TS | Settings::OFFER_WSCALE | Settings::OFFER_SACK));
        assert!(!s.has(Settings::NODELAY) && !s.has(Settings::NO_OPTIONS));
        s.set(Settings::OFFER_TS | Settings::OFFER_SACK, false);
        assert!(!s.has(Settings::OFFER_TS) && s.has(Settings::OFFER_WSCALE));
        let none = Settings::for_config(&TcpConfig {
            no_options: true,
            ..TcpConfig::default()
        });
        assert!(none.has(Settings::NO_OPTIONS) && !none.has(Settings::OFFER_TS));
    }
}
