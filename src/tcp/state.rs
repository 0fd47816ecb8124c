//! The eleven states of RFC 9293 §3.3.2, as the application and the ladder
//! diagram see them.
//!
//! Internally synfin keeps three of them in their own, smaller types: LISTEN
//! is a [`crate::stack`] listener, a passive SYN-RECEIVED is a half-open entry
//! in the listener's SYN queue (no buffers), and TIME-WAIT is a compact record
//! in the stack's TIME-WAIT table. [`crate::tcp::Connection`] covers the rest.

use core::fmt;

/// A TCP connection state (RFC 9293 §3.3.2, Figure 5).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum State {
    /// No connection.
    Closed,
    /// Waiting for a connection request (a listener).
    Listen,
    /// SYN sent, waiting for a matching SYN.
    SynSent,
    /// SYN received and sent, waiting for the acknowledgment of ours.
    SynReceived,
    /// Open; data flows both ways.
    Established,
    /// We sent FIN; waiting for its ACK or the peer's FIN.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer sent FIN; waiting for the local application to close.
    CloseWait,
    /// Both sent FIN simultaneously; waiting for the ACK of ours.
    Closing,
    /// The peer closed first, we sent FIN; waiting for its ACK.
    LastAck,
    /// Waiting 2×MSL so late segments die out.
    TimeWait,
}

impl State {
    /// The RFC's name, upper case with a hyphen (`SYN-SENT`).
    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
            State::TimeWait => "TIME-WAIT",
        }
    }

    /// RFC 9293 "synchronized" states: the handshake is complete.
    pub fn is_synchronized(self) -> bool {
        !matches!(
            self,
            State::Closed | State::Listen | State::SynSent | State::SynReceived
        )
    }

    /// States in which a received FIN has been processed.
    pub fn peer_fin_received(self) -> bool {
        matches!(
            self,
            State::CloseWait | State::LastAck | State::Closing | State::TimeWait
        )
    }

    /// States in which we may still send new data.
    pub fn can_send(self) -> bool {
        matches!(self, State::Established | State::CloseWait)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
