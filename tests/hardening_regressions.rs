//! Regression tests for bugs found by `synfin soak` and by fuzzing
//! (docs/RELIABILITY.md lists them). Each names the seed or input that found
//! it.

mod common;
#[path = "common/open.rs"]
mod open;
use common::*;
use open::packet;

use std::time::Duration;

use synfin::links::LinkModel;
use synfin::stack::Error;
use synfin::tcp::State;
use synfin::wire::TcpFlags;

/// `synfin soak --seed 2` (Abort, server closes): the server aborted while
/// an ACK was owed (here: to an out-of-order segment). The closed connection
/// still "wanted to transmit" that ACK, so it was never retired: it stayed
/// in the demultiplexing table and silently swallowed every retransmission
/// of the client, which never learned of the reset and gave up with
/// ConnectionAborted after 15 retries instead of reading ConnectionReset.
#[test]
fn an_abort_with_an_ack_owed_still_retires_the_connection() {
    let mut p = Pair::new(2, LinkModel::new().delay(Duration::from_millis(5)));
    p.trace();
    let (c, s, l) = p.establish();
    let now = p.now();
    p.c().send(now, c, b"hello").unwrap();
    p.run_for(Duration::from_secs(1));
    let segs = p.segments();
    let last = segs.iter().rev().find(|s| s.from_client).unwrap();
    let next = last.seq.wrapping_add(last.len as u32);
    // An out-of-order segment makes the server owe an immediate ACK; the
    // application aborts before the stack could send it.
    let ooo = packet(
        last.src,
        last.dst,
        next + 100,
        last.ack,
        TcpFlags::ACK,
        b"later",
    );
    let now = p.now();
    p.s().handle_packet(now, &ooo);
    p.s().abort(now, s).unwrap();
    p.s().close(now, s).unwrap();
    p.s().close(now, l).unwrap();
    // The server's RST is lost; the client keeps sending.
    p.net
        .script(p.server, p.client, [synfin::links::Fault::Drop]);
    p.run_for(Duration::from_millis(50));
    assert_eq!(
        p.s().connection_count(),
        0,
        "the aborted connection is retired"
    );
    assert_eq!(p.s().socket_count(), 0);
    let now = p.now();
    p.c().send(now, c, b"more").unwrap();
    p.run_for(Duration::from_secs(2));
    let mut buf = [0u8; 16];
    let now = p.now();
    assert_eq!(p.c().recv(now, c, &mut buf), Err(Error::ConnectionReset));
    assert_eq!(p.c().state(c), Ok(State::Closed));
}

/// `fuzz/` target `wire_parse`, input `crash-e37dad49…` (an IPv6 packet whose
/// addresses are all ones, next header TCP, a 53-byte TCP segment): summing
/// the pseudo-header overflowed a `u64` — each address went in as 64-bit
/// words with end-around carry, leaving the sum near `u64::MAX`, and the
/// protocol and length were then added without carry ("attempt to add with
/// overflow" in debug builds; a wrong checksum in release). Every addition
/// now carries end-around.
#[test]
fn an_all_ones_ipv6_pseudo_header_does_not_overflow() {
    use std::net::{IpAddr, Ipv6Addr};
    use synfin::wire::checksum::{fold, pseudo_header};
    let ones = IpAddr::V6(Ipv6Addr::from(u128::MAX));
    // Sixteen 16-bit words of 0xffff, then 6 and 53: 0xffff ≡ 0 in one's
    // complement, so the folded sum is 6 + 53.
    assert_eq!(fold(pseudo_header(&ones, &ones, 6, 53)), 6 + 53);
    assert_eq!(
        fold(pseudo_header(&ones, &ones, 255, u32::MAX)),
        fold(255 + 0xffff + 0xffff)
    );
    let crash: [u8; 153] = [
        0x65, 0x60, 0x00, 0x00, 0x00, 0x42, 0x06, 0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xa8, 0xc6, 0x5b, 0x00, 0x01, 0xc6,
        0x12, 0x00, 0x02, 0x9c, 0x40, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x02, 0x9c, 0x40,
        0x00, 0x50, 0x00, 0x45, 0x00, 0x00, 0x2d, 0x00, 0x00, 0x00, 0x00, 0x40, 0x06, 0xee, 0xa3,
        0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x02, 0x9c, 0x40, 0x00, 0x2c, 0x00, 0x00, 0x60,
        0x60, 0x60, 0x60, 0x60, 0x03, 0xc8, 0x00, 0x00, 0x05, 0x45, 0x00, 0x00, 0x2d, 0xdd, 0x00,
        0x50, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x2f, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0x03,
    ];
    // It must parse or be rejected, never panic; a listening stack drops it.
    let _ = synfin::wire::parse_tcp_packet(&crash);
    let mut st = synfin::stack::Stack::new(synfin::stack::StackConfig::default(), 1);
    st.add_address(IpAddr::V6(Ipv6Addr::from(u128::MAX)));
    st.handle_packet(synfin::time::Instant::ZERO, &crash);
}
