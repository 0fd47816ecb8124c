//! Explicit Congestion Notification (RFC 3168): the `TcpConfig::ecn` knob and
//! the handshake rules. What a connection does with ECN once it is agreed
//! lives in `conn/ecn.rs`.
//!
//! The handshake (RFC 3168 §6.1.1): an *ECN-setup SYN* carries ECE and CWR;
//! an *ECN-setup SYN-ACK* carries ECE and not CWR. A SYN-ACK with both bits
//! (a peer that reflects the flags it got) is not ECN-setup, so a broken
//! middlebox or peer that echoes the header does not turn ECN on.

use crate::wire::TcpFlags;

/// Whether connections use ECN (RFC 3168), as Linux's `net.ipv4.tcp_ecn`
/// and FreeBSD's `net.inet.tcp.ecn.enable`.
///
/// The default is [`EcnMode::Passive`], the default of both Linux
/// (`tcp_ecn=2`) and FreeBSD (`ecn.enable=2`): never ask, but agree when a
/// peer asks. A peer that asks has shown it can take ECT packets, so
/// answering is safe, while asking on every connect would expose our SYNs
/// to the (rare) middleboxes that drop ECN-setup SYNs; the SYN is retried
/// without the flags anyway ([`TcpConfig::ecn_syn_retries`]).
///
/// ```
/// use synfin::tcp::{EcnMode, TcpConfig};
///
/// let cfg = TcpConfig { ecn: EcnMode::On, ..TcpConfig::default() };
/// assert!(cfg.ecn.requests() && cfg.ecn.accepts());
/// assert_eq!(TcpConfig::default().ecn, EcnMode::Passive);
/// ```
///
/// [`TcpConfig::ecn_syn_retries`]: crate::tcp::TcpConfig::ecn_syn_retries
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum EcnMode {
    /// Never ask and never agree (`tcp_ecn=0`): every SYN-ACK lacks ECE.
    Off,
    /// Agree when the peer's SYN asks, never ask ourselves (`tcp_ecn=2`).
    #[default]
    Passive,
    /// Ask on active opens and agree on passive ones (`tcp_ecn=1`).
    On,
}

impl EcnMode {
    /// Whether an active open sends an ECN-setup SYN.
    pub fn requests(self) -> bool {
        self == EcnMode::On
    }
    /// Whether an ECN-setup SYN from the peer is answered with an ECN-setup
    /// SYN-ACK.
    pub fn accepts(self) -> bool {
        self != EcnMode::Off
    }
    /// The mode from the value of Linux's `tcp_ecn` / FreeBSD's
    /// `ecn.enable` (0, 1, 2); other values are `None`.
    pub fn from_sysctl(v: i64) -> Option<EcnMode> {
        match v {
            0 => Some(EcnMode::Off),
            1 => Some(EcnMode::On),
            2 => Some(EcnMode::Passive),
            _ => None,
        }
    }
}

/// An ECN-setup SYN (RFC 3168 §6.1.1): SYN with ECE and CWR, no ACK.
pub fn is_ecn_setup_syn(flags: TcpFlags) -> bool {
    flags.contains(TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR) && !flags.contains(TcpFlags::ACK)
}

/// An ECN-setup SYN-ACK (RFC 3168 §6.1.1): ECE set and CWR clear. "A host
/// MUST NOT set ECN-setup SYN-ACK packets" with CWR, and one that does is
/// not taken as agreement.
pub fn is_ecn_setup_syn_ack(flags: TcpFlags) -> bool {
    flags.contains(TcpFlags::SYN | TcpFlags::ACK | TcpFlags::ECE) && !flags.contains(TcpFlags::CWR)
}

/// The flags an ECN-setup SYN adds.
pub const SYN_FLAGS: TcpFlags = TcpFlags(TcpFlags::ECE.0 | TcpFlags::CWR.0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_segments() {
        let s = TcpFlags::SYN;
        let sa = TcpFlags::SYN | TcpFlags::ACK;
        assert!(is_ecn_setup_syn(s | SYN_FLAGS));
        assert!(!is_ecn_setup_syn(s | TcpFlags::ECE));
        assert!(!is_ecn_setup_syn(s | TcpFlags::CWR));
        assert!(!is_ecn_setup_syn(sa | SYN_FLAGS));
        assert!(is_ecn_setup_syn_ack(sa | TcpFlags::ECE));
        // §6.1.1: ECE and CWR both set is not an ECN-setup SYN-ACK.
        assert!(!is_ecn_setup_syn_ack(sa | SYN_FLAGS));
        assert!(!is_ecn_setup_syn_ack(sa));
        assert!(!is_ecn_setup_syn_ack(s | TcpFlags::ECE));
    }

    #[test]
    fn modes() {
        assert_eq!(EcnMode::from_sysctl(0), Some(EcnMode::Off));
        assert_eq!(EcnMode::from_sysctl(1), Some(EcnMode::On));
        assert_eq!(EcnMode::from_sysctl(2), Some(EcnMode::Passive));
        assert_eq!(EcnMode::from_sysctl(3), None);
        assert!(!EcnMode::Off.accepts() && !EcnMode::Off.requests());
        assert!(EcnMode::Passive.accepts() && !EcnMode::Passive.requests());
    }
}
