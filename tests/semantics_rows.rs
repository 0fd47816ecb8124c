//! Rows of docs/SEMANTICS.md that no lifecycle scenario covers already, on
//! the sans-IO stack: shutdown in the states where it does little or
//! nothing, and data after close.

mod common;

use std::time::Duration;

use common::*;
use synfin::links::{Fault, LinkModel};
use synfin::stack::{Error, Shutdown};
use synfin::tcp::State;
use synfin::wire::TcpFlags;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn s1a_shutdown_write_in_syn_sent_defers_the_fin() {
    let mut p = Pair::new(41, LinkModel::default());
    p.trace();
    let (client, server) = (p.client, p.server);
    // The first SYN is lost, so the shutdown lands in SYN-SENT.
    p.net.script(client, server, [Fault::Drop]);
    let (l, c) = p.listen_connect(4);
    let now = p.now();
    p.c().send(now, c, b"request").unwrap();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    assert_eq!(p.c().state(c), Ok(State::SynSent));
    assert_eq!(p.c().send(now, c, b"more"), Err(Error::BrokenPipe));
    // BSD's TF_NEEDFIN: once connected, the data and then the FIN go out.
    p.run_for(Duration::from_secs(3));
    assert_eq!(p.c().state(c), Ok(State::FinWait2));
    let (s, _) = p.s().accept(l).unwrap();
    let mut got = Vec::new();
    assert_eq!(p.drain(true, s, &mut got), Ok(true));
    assert_eq!(got, b"request");
}

#[test]
fn s1a_shutdown_write_twice_sends_one_fin() {
    let mut p = Pair::new(42, LinkModel::default());
    let (c, _s, _l) = p.establish();
    p.trace();
    let now = p.now();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    p.run_for(ms(50));
    assert_eq!(p.c().state(c), Ok(State::FinWait2));
    let now = p.now();
    assert_eq!(p.c().shutdown(now, c, Shutdown::Write), Ok(()));
    p.run_for(ms(50));
    let fins = p
        .segments()
        .iter()
        .filter(|s| s.from_client && s.has(TcpFlags::FIN))
        .count();
    assert_eq!(fins, 1);
    assert_eq!(p.c().state(c), Ok(State::FinWait2));
}

#[test]
fn s1a_shutdown_of_a_never_connected_socket_is_not_connected() {
    let mut p = Pair::new(43, LinkModel::default());
    let h = p.c().socket();
    let now = p.now();
    assert_eq!(
        p.c().shutdown(now, h, Shutdown::Write),
        Err(Error::NotConnected)
    );
    let l = p.c().listen("198.18.0.1:9".parse().unwrap(), 1).unwrap();
    // A listener is not connected either (Winsock: WSAENOTCONN); it keeps
    // listening.
    assert_eq!(
        p.c().shutdown(now, l, Shutdown::Both),
        Err(Error::NotConnected)
    );
    assert_eq!(p.c().state(l), Ok(State::Listen));
    // A connection that has ended is not connected.
    let c = p.c().connect(now, Pair::server_addr()).unwrap();
    p.run_for(ms(50));
    assert_eq!(
        p.c().state(c),
        Ok(State::Closed),
        "refused: nothing listens"
    );
    let now = p.now();
    assert_eq!(
        p.c().shutdown(now, c, Shutdown::Write),
        Err(Error::NotConnected)
    );
}

#[test]
fn s1d_data_after_close_is_answered_with_rst() {
    let mut p = Pair::new(44, LinkModel::default());
    let (c, s, _l) = p.establish();
    let now = p.now();
    // The server closes (default linger, nothing unread): FIN, FIN-WAIT.
    p.s().close(now, s).unwrap();
    p.run_for(ms(50));
    assert_eq!(p.c().state(c), Ok(State::CloseWait));
    p.trace();
    // The client's first write is accepted locally…
    let now = p.now();
    assert_eq!(p.c().send(now, c, b"anyone there?"), Ok(13));
    p.run_for(ms(50));
    // …and answered with RST, because nobody will ever read it.
    let segs = p.segments();
    assert!(
        segs.iter().any(|s| !s.from_client && s.has(TcpFlags::RST)),
        "{segs:?}"
    );
    let now = p.now();
    let mut buf = [0u8; 8];
    // The FIN came before the reset: reads end with 0 (§2 row 5)…
    assert_eq!(p.c().recv(now, c, &mut buf), Ok(0));
    // …and the next write fails.
    assert_eq!(p.c().send(now, c, b"x"), Err(Error::ConnectionReset));
}

#[test]
fn s2_1_fin_reads_zero_repeatedly_and_writes_still_work() {
    let mut p = Pair::new(45, LinkModel::default());
    let (c, s, _l) = p.establish();
    let now = p.now();
    p.c().send(now, c, b"ask").unwrap();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    p.run_for(ms(50));
    let mut buf = [0u8; 8];
    let now = p.now();
    assert_eq!(p.s().recv(now, s, &mut buf), Ok(3));
    for _ in 0..3 {
        assert_eq!(p.s().recv(now, s, &mut buf), Ok(0));
    }
    assert_eq!(p.s().state(s), Ok(State::CloseWait));
    assert_eq!(p.s().send(now, s, b"answer"), Ok(6));
    p.run_for(ms(50));
    let now = p.now();
    assert_eq!(p.c().recv(now, c, &mut buf), Ok(6));
}

#[test]
fn s2_2_fin_after_our_shutdown_then_writes_are_broken_pipe() {
    let mut p = Pair::new(46, LinkModel::default());
    let (c, s, _l) = p.establish();
    let now = p.now();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    p.run_for(ms(50));
    let now = p.now();
    p.s().shutdown(now, s, Shutdown::Write).unwrap();
    p.run_for(ms(50));
    assert_eq!(p.c().state(c), Ok(State::TimeWait));
    let mut buf = [0u8; 4];
    let now = p.now();
    assert_eq!(p.c().recv(now, c, &mut buf), Ok(0));
    assert_eq!(p.c().send(now, c, b"x"), Err(Error::BrokenPipe));
}

#[test]
fn s1d_close_in_syn_sent_sends_nothing_more() {
    let mut p = Pair::new(47, LinkModel::default());
    let (client, server) = (p.client, p.server);
    p.net.model_mut(client, server).unwrap().up = false;
    let now = p.now();
    let c = p.c().connect(now, Pair::server_addr()).unwrap();
    p.run_for(ms(10));
    p.trace();
    let now = p.now();
    assert_eq!(p.c().close(now, c), Ok(()));
    assert_eq!(p.c().state(c), Err(Error::InvalidHandle));
    p.run_for(Duration::from_secs(10));
    assert!(p.segments().is_empty(), "no RST, no SYN retransmission");
    assert_eq!(p.c().socket_count(), 0);
}
