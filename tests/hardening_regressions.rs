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
