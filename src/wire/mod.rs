//! Wire formats: IPv4, IPv6, TCP, checksums.

pub mod seq;
pub use seq::SeqNum;
