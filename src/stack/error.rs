//! Errors of socket operations, with their `std::io::ErrorKind`, POSIX errno
//! and Winsock code (DESIGN.md: "Errors map to std::io::ErrorKind").

use core::fmt;
use std::io;

use crate::tcp::ConnError;

/// The error of a stack operation.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Error {
    /// The operation would block (`EAGAIN` / `WSAEWOULDBLOCK`).
    WouldBlock,
    /// The socket is not connected (`ENOTCONN`).
    NotConnected,
    /// The socket is already connected or listening (`EISCONN`).
    AlreadyConnected,
    /// The peer refused the connection (`ECONNREFUSED`).
    ConnectionRefused,
    /// The peer reset the connection (`ECONNRESET`).
    ConnectionReset,
    /// The connection was aborted locally (`ECONNABORTED` /
    /// `WSAECONNABORTED`): retransmissions exhausted, for example.
    ConnectionAborted,
    /// A connect attempt timed out (`ETIMEDOUT`).
    TimedOut,
    /// Writing after the write side was shut down (`EPIPE` /
    /// `WSAESHUTDOWN`).
    BrokenPipe,
    /// The local address is in use (`EADDRINUSE`).
    AddrInUse,
    /// The local address is not one of the stack's (`EADDRNOTAVAIL`).
    AddrNotAvailable,
    /// The handle does not name a live socket (`EBADF`).
    InvalidHandle,
    /// The call does not fit the socket's state or its arguments are wrong
    /// (`EINVAL`).
    InvalidInput,
    /// The operation is not supported on this socket's protocol
    /// (`ENOPROTOOPT` / `WSAENOPROTOOPT`): disconnect data or messages on a
    /// byte-stream connection (DESIGN.md: TCP has no field for them).
    Unsupported,
    /// A message-mode connect reached a peer that does not speak message
    /// mode: its SYN-ACK lacked the option (`EPROTONOSUPPORT` /
    /// `WSAEPROTONOSUPPORT`). The connection was reset.
    MessageModeRefused,
    /// The peer broke message mode's record format — an oversize record, a
    /// record after DISCONNECT, an unknown type, a broken or truncated
    /// header (`EPROTO`; Winsock has no protocol-error code, so
    /// `WSAECONNABORTED`). The connection was reset.
    ProtocolViolation,
    /// Message mode: the peer's DISCONNECT has been reached — every message
    /// was read and [`super::Stack::recv_disconnect`] returns its
    /// disconnect data (`WSAEDISCON`; Linux has no such code, synfin uses
    /// `ESHUTDOWN`). The message-mode end-of-stream.
    Disconnected,
    /// A message larger than allowed (`EMSGSIZE` / `WSAEMSGSIZE`). On
    /// receive, the buffer is too small: nothing was consumed and `len` is
    /// the size needed. On send, `len` is the message's size, above the
    /// maximum message size.
    MessageTooLarge {
        /// The message's length in bytes.
        len: usize,
    },
}

impl Error {
    /// The Linux errno for this error (used by the packetdrill runner).
    pub fn errno(self) -> i32 {
        match self {
            Error::WouldBlock => 11,
            Error::NotConnected => 107,
            Error::AlreadyConnected => 106,
            Error::ConnectionRefused => 111,
            Error::ConnectionReset => 104,
            Error::ConnectionAborted => 103,
            Error::TimedOut => 110,
            Error::BrokenPipe => 32,
            Error::AddrInUse => 98,
            Error::AddrNotAvailable => 99,
            Error::InvalidHandle => 9,
            Error::InvalidInput => 22,
            Error::Unsupported => 92,
            Error::MessageModeRefused => 93,
            Error::ProtocolViolation => 71,
            Error::Disconnected => 108,
            Error::MessageTooLarge { .. } => 90,
        }
    }

    /// The Winsock error code.
    pub fn winsock(self) -> i32 {
        match self {
            Error::WouldBlock => 10035,
            Error::NotConnected => 10057,
            Error::AlreadyConnected => 10056,
            Error::ConnectionRefused => 10061,
            Error::ConnectionReset => 10054,
            Error::ConnectionAborted => 10053,
            Error::TimedOut => 10060,
            Error::BrokenPipe => 10058,
            Error::AddrInUse => 10048,
            Error::AddrNotAvailable => 10049,
            Error::InvalidHandle => 10038,
            Error::InvalidInput => 10022,
            Error::Unsupported => 10042,
            Error::MessageModeRefused => 10043,
            Error::ProtocolViolation => 10053,
            Error::Disconnected => 10101,
            Error::MessageTooLarge { .. } => 10040,
        }
    }

    /// The matching `std::io::ErrorKind`.
    pub fn kind(self) -> io::ErrorKind {
        use io::ErrorKind as K;
        match self {
            Error::WouldBlock => K::WouldBlock,
            Error::NotConnected => K::NotConnected,
            Error::AlreadyConnected => K::AlreadyExists,
            Error::ConnectionRefused => K::ConnectionRefused,
            Error::ConnectionReset => K::ConnectionReset,
            Error::ConnectionAborted => K::ConnectionAborted,
            Error::TimedOut => K::TimedOut,
            Error::BrokenPipe => K::BrokenPipe,
            Error::AddrInUse => K::AddrInUse,
            Error::AddrNotAvailable => K::AddrNotAvailable,
            Error::InvalidHandle | Error::InvalidInput => K::InvalidInput,
            Error::Unsupported => K::Unsupported,
            Error::MessageModeRefused => K::ConnectionRefused,
            Error::ProtocolViolation => K::InvalidData,
            Error::Disconnected => K::UnexpectedEof,
            Error::MessageTooLarge { .. } => K::InvalidInput,
        }
    }
}

impl From<ConnError> for Error {
    fn from(e: ConnError) -> Error {
        match e {
            ConnError::Refused => Error::ConnectionRefused,
            ConnError::Reset => Error::ConnectionReset,
            ConnError::TimedOut => Error::TimedOut,
            ConnError::Aborted => Error::ConnectionAborted,
            ConnError::MessageModeRefused => Error::MessageModeRefused,
            ConnError::ProtocolViolation => Error::ProtocolViolation,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Error::MessageTooLarge { len } = self {
            return write!(f, "message too large ({len} bytes)");
        }
        f.write_str(match self {
            Error::WouldBlock => "operation would block",
            Error::NotConnected => "socket is not connected",
            Error::AlreadyConnected => "socket is already connected",
            Error::ConnectionRefused => "connection refused",
            Error::ConnectionReset => "connection reset by peer",
            Error::ConnectionAborted => "connection aborted",
            Error::TimedOut => "connection timed out",
            Error::BrokenPipe => "write side is shut down",
            Error::AddrInUse => "address in use",
            Error::AddrNotAvailable => "address not available",
            Error::InvalidHandle => "no such socket",
            Error::InvalidInput => "invalid argument for this socket",
            Error::Unsupported => "operation not supported by this socket's protocol",
            Error::MessageModeRefused => "peer does not support message mode",
            Error::ProtocolViolation => "peer violated the message-mode record format",
            Error::Disconnected => "peer disconnected: no more messages",
            Error::MessageTooLarge { .. } => "message too large",
        })
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}

#[cfg(test)]
mod tests {
    use super::Error;
    use std::io::ErrorKind;

    #[test]
    fn io_error_keeps_the_kind_and_the_typed_error() {
        let all = [
            (Error::WouldBlock, ErrorKind::WouldBlock, 11, 10035),
            (Error::NotConnected, ErrorKind::NotConnected, 107, 10057),
            (
                Error::ConnectionRefused,
                ErrorKind::ConnectionRefused,
                111,
                10061,
            ),
            (
                Error::ConnectionReset,
                ErrorKind::ConnectionReset,
                104,
                10054,
            ),
            (
                Error::ConnectionAborted,
                ErrorKind::ConnectionAborted,
                103,
                10053,
            ),
            (Error::TimedOut, ErrorKind::TimedOut, 110, 10060),
            (Error::BrokenPipe, ErrorKind::BrokenPipe, 32, 10058),
            (Error::AddrInUse, ErrorKind::AddrInUse, 98, 10048),
            (Error::Unsupported, ErrorKind::Unsupported, 92, 10042),
            (
                Error::MessageModeRefused,
                ErrorKind::ConnectionRefused,
                93,
                10043,
            ),
            (Error::ProtocolViolation, ErrorKind::InvalidData, 71, 10053),
            (Error::Disconnected, ErrorKind::UnexpectedEof, 108, 10101),
            (
                Error::MessageTooLarge { len: 70_000 },
                ErrorKind::InvalidInput,
                90,
                10040,
            ),
        ];
        for (e, kind, errno, wsa) in all {
            let io: std::io::Error = e.into();
            assert_eq!(io.kind(), kind);
            assert_eq!(
                io.get_ref().and_then(|r| r.downcast_ref::<Error>()),
                Some(&e)
            );
            assert_eq!((e.errno(), e.winsock()), (errno, wsa));
            assert!(!e.to_string().is_empty());
        }
    }
}
