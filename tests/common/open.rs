//! Helpers shared by the connection-establishment and RST scenario tests
//! (`scenario_open.rs`, `scenario_rst.rs`): crafted segments for injecting
//! into a stack, and event collection.
//!
//! Included with `#[path = "common/open.rs"] mod open;` beside `mod common;`.
#![allow(dead_code)]

use std::net::SocketAddr;

use synfin::stack::{Event, SocketHandle, Stack};
use synfin::time::Instant;
use synfin::wire::{self, SeqNum, TcpFlags, TcpOptions, TcpRepr};

use super::common::Pair;

/// The decoded trace, under the name these tests use.
pub type Seg = super::common::WireSeg;

/// Decodes every packet recorded since the last call.
pub fn take_segs(p: &mut Pair) -> Vec<Seg> {
    p.segments()
}

/// A ladder diagram of decoded segments, for assertion messages.
pub fn ladder(segs: &[Seg]) -> String {
    segs.iter()
        .map(|s| {
            format!(
                "{:>12} {} {:<8?} seq={} ack={} len={} win={}{}\n",
                s.sent_at,
                if s.from_client { "C->S" } else { "S->C" },
                s.flags,
                s.seq,
                s.ack,
                s.len,
                s.window,
                if s.delivered { "" } else { " (lost)" }
            )
        })
        .collect()
}

/// An IPv4/IPv6 packet carrying one TCP segment with no options.
pub fn packet(
    from: SocketAddr,
    to: SocketAddr,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    payload: &[u8],
) -> Vec<u8> {
    packet_with_options(from, to, seq, ack, flags, TcpOptions::default(), payload)
}

/// An IPv4/IPv6 packet carrying one TCP segment with `options`.
pub fn packet_with_options(
    from: SocketAddr,
    to: SocketAddr,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    options: TcpOptions,
    payload: &[u8],
) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: from.port(),
        dst_port: to.port(),
        seq: SeqNum(seq),
        ack: SeqNum(ack),
        flags,
        window: 65535,
        urgent: 0,
        options,
        payload,
    };
    let mut buf = vec![0u8; wire::tcp_packet_len(&from.ip(), &repr)];
    let n = wire::emit_tcp_packet(from.ip(), to.ip(), 64, &repr, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// Every packet `stack` has ready, decoded (for stacks outside a network).
pub fn transmit_all(
    stack: &mut Stack,
    now: Instant,
) -> Vec<(SocketAddr, SocketAddr, TcpRepr<'static>)> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65535];
    while let Some(n) = stack.poll_transmit(now, &mut buf) {
        let pk = wire::parse_tcp_packet(&buf[..n]).expect("stack emitted a bad packet");
        assert!(pk.tcp.payload.is_empty(), "helper only keeps bare segments");
        let repr = TcpRepr {
            payload: &[],
            ..pk.tcp
        };
        out.push((
            SocketAddr::new(pk.ip.src, pk.tcp.src_port),
            SocketAddr::new(pk.ip.dst, pk.tcp.dst_port),
            repr,
        ));
    }
    out
}

/// Drains a stack's event queue.
pub fn events(stack: &mut Stack) -> Vec<(SocketHandle, Event)> {
    std::iter::from_fn(|| stack.poll_event()).collect()
}

/// The events of one socket, in order.
pub fn events_of(all: &[(SocketHandle, Event)], h: SocketHandle) -> Vec<Event> {
    all.iter()
        .filter(|(s, _)| *s == h)
        .map(|&(_, e)| e)
        .collect()
}
