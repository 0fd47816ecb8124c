//! One TCP connection as a sans-IO state machine (RFC 9293 §3.10).
//!
//! [`Connection`] covers SYN-SENT, an actively opened SYN-RECEIVED
//! (simultaneous open), ESTABLISHED and the closing states up to the moment it
//! enters TIME-WAIT; the stack keeps LISTEN, the passive SYN-RECEIVED
//! (half-open) and TIME-WAIT in smaller types of its own.

pub mod assembler;
pub mod config;
pub mod congestion;
pub mod conn;
pub mod ecn;
pub mod message;
pub mod rack;
pub mod recovery;
pub mod recv_queue;
mod ring;
pub mod rtt;
pub mod sack;
pub mod send_queue;
pub(crate) mod spare;
pub mod state;

pub use config::{IpFields, TcpConfig};
pub use congestion::CongestionAlgorithm;
pub use conn::{Connection, Events, LossStats, Segment};
pub use ecn::EcnMode;
pub use state::State;

/// Why a connection ended abnormally, as the application sees it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ConnError {
    /// The peer answered our SYN with RST (RFC 9293 §3.10.7.3).
    Refused,
    /// The peer reset a synchronized connection (RFC 9293 §3.10.7.4).
    Reset,
    /// A connect attempt ran out of SYN retransmissions.
    TimedOut,
    /// The connection gave up locally: retransmissions exhausted
    /// (RFC 9293 §3.8.3 R2), or an orphan's timer expired.
    Aborted,
    /// A message-mode connect got a SYN-ACK without the message-mode option
    /// (docs/message-mode.md): the peer speaks the plain byte stream.
    MessageModeRefused,
    /// The peer broke message mode's record format (docs/message-mode.md):
    /// the connection was reset.
    ProtocolViolation,
}

impl core::fmt::Display for ConnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ConnError::Refused => "connection refused",
            ConnError::Reset => "connection reset by peer",
            ConnError::TimedOut => "connection timed out",
            ConnError::Aborted => "connection aborted",
            ConnError::MessageModeRefused => "peer does not support message mode",
            ConnError::ProtocolViolation => "peer violated the message-mode record format",
        })
    }
}
