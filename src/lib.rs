//! synfin — a userspace TCP/IP stack whose subject is the whole life of a
//! connection, SYN to FIN.
//!
//! The layers, bottom up (see `docs/ARCHITECTURE.md`):
//!
//! * [`wire`] — checked zero-copy views and emitters for IPv4, IPv6 and TCP.
//! * [`tcp`] — one connection's sans-IO state machine (RFC 9293 §3.10).
//! * [`stack`] — sockets by handle, demultiplexing, listeners, ports, the
//!   TIME-WAIT table; still sans-IO.
//! * [`links`] — what moves packets: the deterministic simulated network.
//! * [`conformance`] — the packetdrill script runner (FreeBSD TCP test suite).
//!
//! The core does no I/O and reads no clock: time is an argument
//! ([`time::Instant`]), packets come in as byte slices and go out through
//! `poll_transmit`, and the next deadline is reported by `poll_timeout`.

// No `unsafe` anywhere except the checksum's vector kernels
// (`wire/checksum/x86_64.rs`, which allows it for itself and documents why
// each use is sound); `deny` rather than `forbid` so that one module can.
#![deny(unsafe_code)]

pub mod api;
pub mod conformance;
pub mod links;
pub mod stack;
pub mod tcp;
pub mod time;
pub mod wire;

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
