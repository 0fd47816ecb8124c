//! Message mode's wire format (docs/message-mode.md): the handshake option
//! that negotiates it and the records framed inside the byte stream.
//!
//! This module is pure format — no connection state. The stack's message
//! layer (`stack/message.rs`) frames and unframes records over a
//! connection's ordinary send and receive queues, so the TCP state machine
//! carries message mode like any other bytes.
//!
//! ```text
//!  0        1        2        3        4        5        6        7
//! +--------+--------+--------+--------+--------+--------+--------+--------+
//! | version|  type  |  reserved (0)   |        length (big-endian)        |
//! +--------+--------+--------+--------+--------+--------+--------+--------+
//! | payload: `length` bytes …
//! ```
//!
//! ```
//! use synfin::tcp::message::{RecordHeader, RecordType, HEADER_LEN};
//! let h = RecordHeader { kind: RecordType::Data, len: 5 };
//! assert_eq!(h.encode(), [1, 1, 0, 0, 0, 0, 0, 5]);
//! assert_eq!(RecordHeader::parse(&h.encode()), Ok(h));
//! assert_eq!(HEADER_LEN, 8);
//! ```

use core::fmt;

/// The RFC 6994 experiment identifier synfin's message mode puts after
/// option kind 253 (`253, 4, 0x53, 0x46`: "SF"). It is not registered with
/// IANA (RFC 6994 §3.1 allows unregistered ExIDs for experiments) and was
/// picked not to collide with the ExIDs in common use, such as TCP Fast
/// Open's 0xF989.
pub const MESSAGE_EXID: u16 = 0x5346;

/// The record format's version; a record with any other version is a
/// broken header.
pub const VERSION: u8 = 1;

/// Bytes in a record header.
pub const HEADER_LEN: usize = 8;

/// Largest maximum message size a stack may be configured with (16 MiB):
/// the receiver holds a whole record before delivering it, so the limit
/// bounds per-connection memory.
pub const MAX_MESSAGE_SIZE_LIMIT: usize = 16 << 20;

/// Default maximum message (and disconnect data) size, in bytes.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// What a record carries.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// One application message (type 1).
    Data,
    /// The sender's disconnect data (type 2); the last record of its
    /// direction, followed by the FIN.
    Disconnect,
}

impl RecordType {
    /// The type byte.
    pub fn code(self) -> u8 {
        match self {
            RecordType::Data => 1,
            RecordType::Disconnect => 2,
        }
    }
}

/// Why a record header does not parse.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum RecordError {
    /// Fewer than [`HEADER_LEN`] bytes.
    Truncated,
    /// A version other than [`VERSION`].
    BadVersion(u8),
    /// A type byte that is neither DATA nor DISCONNECT.
    UnknownType(u8),
    /// The reserved bytes are not zero.
    BadReserved(u16),
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Truncated => f.write_str("record header truncated"),
            RecordError::BadVersion(v) => write!(f, "record version {v} (expected {VERSION})"),
            RecordError::UnknownType(t) => write!(f, "unknown record type {t}"),
            RecordError::BadReserved(r) => write!(f, "reserved header bits set ({r:#06x})"),
        }
    }
}

/// A parsed record header.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct RecordHeader {
    /// DATA or DISCONNECT.
    pub kind: RecordType,
    /// Payload bytes after the header.
    pub len: u32,
}

impl RecordHeader {
    /// The eight header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let l = self.len.to_be_bytes();
        [VERSION, self.kind.code(), 0, 0, l[0], l[1], l[2], l[3]]
    }

    /// Parses the first [`HEADER_LEN`] bytes of `b` (more are ignored).
    /// The length is not checked here: the limit is the receiver's.
    pub fn parse(b: &[u8]) -> Result<RecordHeader, RecordError> {
        let [v, t, r0, r1, l0, l1, l2, l3] = *b.get(..HEADER_LEN).ok_or(RecordError::Truncated)?
        else {
            return Err(RecordError::Truncated);
        };
        if v != VERSION {
            return Err(RecordError::BadVersion(v));
        }
        let kind = match t {
            1 => RecordType::Data,
            2 => RecordType::Disconnect,
            other => return Err(RecordError::UnknownType(other)),
        };
        let reserved = u16::from_be_bytes([r0, r1]);
        if reserved != 0 {
            return Err(RecordError::BadReserved(reserved));
        }
        Ok(RecordHeader {
            kind,
            len: u32::from_be_bytes([l0, l1, l2, l3]),
        })
    }

    /// Header plus payload.
    pub fn record_len(&self) -> usize {
        HEADER_LEN + self.len as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_example_bytes() {
        let d = RecordHeader {
            kind: RecordType::Disconnect,
            len: 0x0102_0304,
        };
        assert_eq!(d.encode(), [1, 2, 0, 0, 1, 2, 3, 4]);
        assert_eq!(RecordHeader::parse(&d.encode()), Ok(d));
        assert_eq!(d.record_len(), 8 + 0x0102_0304);
        let z = RecordHeader {
            kind: RecordType::Data,
            len: 0,
        };
        assert_eq!(RecordHeader::parse(&[1, 1, 0, 0, 0, 0, 0, 0, 9]), Ok(z));
    }

    #[test]
    fn broken_headers() {
        assert_eq!(
            RecordHeader::parse(&[1, 1, 0, 0, 0, 0, 0]),
            Err(RecordError::Truncated)
        );
        assert_eq!(
            RecordHeader::parse(&[2, 1, 0, 0, 0, 0, 0, 0]),
            Err(RecordError::BadVersion(2))
        );
        assert_eq!(
            RecordHeader::parse(&[1, 0, 0, 0, 0, 0, 0, 0]),
            Err(RecordError::UnknownType(0))
        );
        assert_eq!(
            RecordHeader::parse(&[1, 3, 0, 0, 0, 0, 0, 0]),
            Err(RecordError::UnknownType(3))
        );
        assert_eq!(
            RecordHeader::parse(&[1, 1, 0x80, 0, 0, 0, 0, 0]),
            Err(RecordError::BadReserved(0x8000))
        );
        for e in [
            RecordError::Truncated,
            RecordError::BadVersion(9),
            RecordError::UnknownType(9),
            RecordError::BadReserved(1),
        ] {
            assert!(!e.to_string().is_empty());
        }
    }
}
