//! SYN cookies (RFC 4987 §3.6) in the simulator: once a listener's SYN
//! queue is full, a SYN is answered statelessly, and a valid final ACK lands
//! the connection straight in the accept queue — with the MSS it carried,
//! and window scale and SACK-permitted when timestamps carried them.

mod common;
#[path = "common/open.rs"]
mod open;
use common::*;
use open::packet;

use std::net::SocketAddr;
use std::time::Duration;

use synfin::links::LinkModel;
use synfin::stack::{Error, StackConfig};
use synfin::tcp::State;
use synfin::wire::{self, SeqNum, TcpFlags, TcpOptions, TcpRepr};

/// A SYN from an address nobody routes back to (its SYN-ACK goes nowhere).
fn spoofed_syn(i: u32, to: SocketAddr) -> Vec<u8> {
    let from: SocketAddr = format!(
        "198.19.{}.{}:{}",
        (i >> 8) & 0xff,
        i & 0xff,
        1024 + i % 60000
    )
    .parse()
    .unwrap();
    let repr = TcpRepr {
        src_port: from.port(),
        dst_port: to.port(),
        seq: SeqNum(i.wrapping_mul(2_654_435_761)),
        ack: SeqNum(0),
        flags: TcpFlags::SYN,
        window: 65535,
        urgent: 0,
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    let mut buf = vec![0u8; 128];
    let n = wire::emit_tcp_packet(from.ip(), to.ip(), 64, &repr, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// A server with `backlog` whose SYN queue is already full of spoofed SYNs.
fn flooded(cfg: StackConfig, backlog: usize) -> (Pair, synfin::stack::SocketHandle) {
    let mut p = Pair::with_config(3, LinkModel::new().delay(Duration::from_millis(5)), cfg);
    p.trace();
    let l = p.s().listen(Pair::server_addr(), backlog).unwrap();
    let now = p.now();
    for i in 0..backlog as u32 {
        p.s()
            .handle_packet(now, &spoofed_syn(i, Pair::server_addr()));
    }
    assert_eq!(p.s().stats().syn_cookies_sent, 0, "the queue held them");
    // Their SYN-ACKs leave (to nowhere) before the test looks at the trace.
    p.run_for(Duration::from_millis(1));
    p.segments();
    (p, l)
}

/// Connects, accepts, and moves 100 kB each way; returns the two sockets.
fn connect_and_transfer(p: &mut Pair, l: synfin::stack::SocketHandle) {
    let (c, s) = p.connect_accept(l, Duration::from_secs(10));
    assert_eq!(p.c().state(c), Ok(State::Established));
    let (up, down) = (pattern(100_000, 1), pattern(100_000, 2));
    let (mut sent_up, mut sent_down) = (0, 0);
    let (mut got_up, mut got_down) = (Vec::new(), Vec::new());
    p.run_until(Duration::from_secs(60), |p| {
        let now = p.now();
        if let Ok(n) = p.c().send(now, c, &up[sent_up..]) {
            sent_up += n;
        }
        if let Ok(n) = p.s().send(now, s, &down[sent_down..]) {
            sent_down += n;
        }
        p.drain(true, s, &mut got_up).unwrap();
        p.drain(false, c, &mut got_down).unwrap();
        got_up.len() == up.len() && got_down.len() == down.len()
    });
    assert!(got_up == up && got_down == down, "bytes intact");
}

#[test]
fn a_full_syn_queue_answers_with_cookies_and_the_ack_completes_the_connection() {
    let (mut p, l) = flooded(StackConfig::default(), 4);
    p.segments();
    connect_and_transfer(&mut p, l);
    let st = p.s().stats();
    assert_eq!(st.syn_cookies_sent, 1);
    assert_eq!(st.syn_cookies_accepted, 1);
    let segs = p.segments();
    let syn = segs
        .iter()
        .find(|s| s.from_client && s.is(TcpFlags::SYN))
        .unwrap();
    let syn_ack = segs
        .iter()
        .find(|s| !s.from_client && s.is(TcpFlags::SYN | TcpFlags::ACK))
        .unwrap();
    // Timestamps on: window scale is offered, and the TSval carries the
    // client's shift and SACK-permitted.
    assert!(syn_ack.options.window_scale.is_some());
    let (tsval, _) = syn_ack.options.timestamps.unwrap();
    let client_ws = syn.options.window_scale.unwrap();
    assert_eq!(tsval & 0xf, u32::from(client_ws));
    if syn.options.sack_permitted {
        assert!(syn_ack.options.sack_permitted, "SACK-permitted echoed");
        assert_ne!(tsval & 0x10, 0, "and carried in the TSval");
    }
    // 100 kB each way went through above, so the window scale both sides
    // applied agreed. Nothing else was accepted.
    assert_eq!(p.s().accept(l).err(), Some(Error::WouldBlock));
    assert_eq!(p.s().socket_count(), 2, "listener and one connection");
}

#[test]
fn without_timestamps_cookies_offer_no_window_scaling() {
    let mut cfg = StackConfig::default();
    cfg.tcp.timestamps = false;
    let (mut p, l) = flooded(cfg, 2);
    p.segments();
    connect_and_transfer(&mut p, l);
    let segs = p.segments();
    let syn_ack = segs
        .iter()
        .find(|s| !s.from_client && s.is(TcpFlags::SYN | TcpFlags::ACK))
        .unwrap();
    assert_eq!(syn_ack.options.window_scale, None);
    assert_eq!(syn_ack.options.timestamps, None);
    assert_eq!(syn_ack.options.mss, Some(1460));
    assert_eq!(p.s().stats().syn_cookies_accepted, 1);
}

#[test]
fn a_forged_or_stale_cookie_is_reset_and_creates_nothing() {
    let (mut p, l) = flooded(StackConfig::default(), 2);
    // One real cookie goes out, so the listener is checking cookies.
    let now = p.now();
    p.s()
        .handle_packet(now, &spoofed_syn(999, Pair::server_addr()));
    assert_eq!(p.s().stats().syn_cookies_sent, 1);
    let from: SocketAddr = "198.18.0.1:40000".parse().unwrap();
    let ack = packet(
        from,
        Pair::server_addr(),
        1001,
        0x1234_5678,
        TcpFlags::ACK,
        &[],
    );
    p.segments();
    p.s().handle_packet(now, &ack);
    p.run_for(Duration::from_millis(20));
    assert_eq!(p.s().stats().syn_cookies_rejected, 1);
    assert_eq!(p.s().accept(l), Err(Error::WouldBlock));
    let rst = p.segments();
    assert!(
        rst.iter()
            .any(|s| !s.from_client && s.has(TcpFlags::RST) && s.seq == 0x1234_5678),
        "answered with <SEQ=SEG.ACK><CTL=RST>"
    );
}

/// The client's final ACK of a cookie handshake is lost; the same ACK is
/// replayed `after` later while the listener is still flooded. Returns
/// whether it created the connection.
fn replayed_cookie_ack_accepted(after: Duration) -> bool {
    let (mut p, l) = flooded(StackConfig::default(), 2);
    let now = p.now();
    p.net.script(
        p.client,
        p.server,
        [synfin::links::Fault::Pass, synfin::links::Fault::Drop],
    );
    let c = p.c().connect(now, Pair::server_addr()).unwrap();
    p.run_for(Duration::from_millis(30));
    assert_eq!(p.c().state(c), Ok(State::Established));
    assert_eq!(p.s().accept(l), Err(Error::WouldBlock), "the ACK was lost");
    let segs = p.segments();
    let final_ack = segs
        .iter()
        .find(|s| s.from_client && s.is(TcpFlags::ACK) && s.len == 0)
        .unwrap();
    p.run_for(after);
    let now = p.now();
    let replay = packet(
        final_ack.src,
        final_ack.dst,
        final_ack.seq,
        final_ack.ack,
        TcpFlags::ACK,
        &[],
    );
    // The spoofed entries may have timed out: flood again, so the listener
    // is sending cookies and checks the ACK against them.
    for i in 5000..5003 {
        p.s()
            .handle_packet(now, &spoofed_syn(i, Pair::server_addr()));
    }
    p.s().handle_packet(now, &replay);
    let st = p.s().stats();
    assert_eq!(
        st.syn_cookies_accepted + st.syn_cookies_rejected,
        1,
        "{st:?}"
    );
    st.syn_cookies_accepted == 1 && p.s().accept(l).is_ok()
}

#[test]
fn a_cookie_lives_one_to_two_periods_of_64_s() {
    assert!(replayed_cookie_ack_accepted(Duration::from_secs(10)));
    assert!(!replayed_cookie_ack_accepted(Duration::from_secs(180)));
}

#[test]
fn cookies_off_drops_the_syn() {
    let cfg = StackConfig {
        syn_cookies: false,
        ..StackConfig::default()
    };
    let (mut p, l) = flooded(cfg, 2);
    let now = p.now();
    let c = p.c().connect(now, Pair::server_addr()).unwrap();
    p.run_for(Duration::from_millis(500));
    assert_eq!(p.c().state(c), Ok(State::SynSent));
    assert_eq!(p.s().accept(l), Err(Error::WouldBlock));
    assert!(p.s().stats().listen_overflows >= 1);
    assert_eq!(p.s().stats().syn_cookies_sent, 0);
}

#[test]
fn backlog_is_capped_by_max_backlog() {
    let cfg = StackConfig {
        max_backlog: 3,
        ..StackConfig::default()
    };
    let mut p = Pair::with_config(1, LinkModel::new(), cfg);
    let _l = p.s().listen(Pair::server_addr(), 1_000_000).unwrap();
    let now = p.now();
    for i in 0..10 {
        p.s()
            .handle_packet(now, &spoofed_syn(i, Pair::server_addr()));
    }
    assert_eq!(
        p.s().stats().syn_cookies_sent,
        7,
        "3 queued, the rest cookies"
    );
}

#[test]
fn a_cookie_ack_that_finds_the_accept_queue_full_becomes_a_half_open_entry() {
    // Backlog 2, four clients at once and no accept: two fill the SYN queue
    // and then the accept queue; the other two get cookies, and their final
    // ACKs find the accept queue full. Linux would drop them, leaving a
    // client with nothing to send waiting forever; here each becomes a
    // half-open entry (the SYN queue has emptied), whose retransmitted
    // SYN-ACK completes the handshake once the application accepts.
    let mut p = Pair::new(14, LinkModel::default());
    let l = p.s().listen(Pair::server_addr(), 2).unwrap();
    let now = p.now();
    let cs: Vec<_> = (0..4)
        .map(|_| p.c().connect(now, Pair::server_addr()).unwrap())
        .collect();
    p.run_for(Duration::from_millis(500));
    for &c in &cs {
        assert_eq!(p.c().state(c), Ok(State::Established));
    }
    assert_eq!(p.s().stats().syn_cookies_sent, 2);
    assert_eq!(p.s().stats().syn_cookies_accepted, 0);
    assert_eq!(p.s().stats().listen_overflows, 2);
    let mut accepted = vec![p.s().accept(l).unwrap().0, p.s().accept(l).unwrap().0];
    assert_eq!(p.s().accept(l), Err(Error::WouldBlock));
    let now = p.now();
    for &c in &cs {
        p.c().send(now, c, b"hello").unwrap();
    }
    p.run_until(Duration::from_secs(10), |p| {
        while let Ok((h, _)) = p.s().accept(l) {
            accepted.push(h);
        }
        accepted.len() == 4
    });
    p.run_for(Duration::from_secs(1));
    for &h in &accepted {
        let mut got = Vec::new();
        p.drain(true, h, &mut got).unwrap();
        assert_eq!(got, b"hello");
    }
}
