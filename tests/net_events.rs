//! Network events (Winsock's FD_* model) on the sans-IO stack: the order and
//! re-arming of READ, WRITE, ACCEPT, CONNECT and CLOSE across a lifecycle,
//! and CLOSE's error for graceful, reset and aborted endings.

mod common;

use std::time::Duration;

use common::*;
use synfin::links::LinkModel;
use synfin::stack::{Error, NetEvents, NetworkEvents, Shutdown, SocketHandle, Stack, StackConfig};
use synfin::tcp::{State, TcpConfig};

const READ: NetEvents = NetEvents::READ;
const WRITE: NetEvents = NetEvents::WRITE;
const ACCEPT: NetEvents = NetEvents::ACCEPT;
const CONNECT: NetEvents = NetEvents::CONNECT;
const CLOSE: NetEvents = NetEvents::CLOSE;

fn take(st: &mut Stack, h: SocketHandle) -> NetworkEvents {
    st.take_network_events(h).unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Connects a client whose socket selected every event before connect, to a
/// listener that selected every event (so accepted sockets inherit it).
fn selected_pair(p: &mut Pair) -> (SocketHandle, SocketHandle) {
    let l = p.s().listen(Pair::server_addr(), 8).unwrap();
    p.s().select_events(l, NetEvents::ALL).unwrap();
    let c = p.c().socket();
    p.c().select_events(c, NetEvents::ALL).unwrap();
    let now = p.now();
    p.c().connect_from(now, c, Pair::server_addr()).unwrap();
    assert!(take(p.c(), c).is_empty(), "nothing before the handshake");
    p.run_for(ms(50));
    (c, l)
}

#[test]
fn events_follow_a_whole_lifecycle_with_winsock_rearming() {
    let mut p = Pair::new(31, LinkModel::default());
    let (c, l) = selected_pair(&mut p);

    // CONNECT (no error) and the first WRITE, together.
    let ev = take(p.c(), c);
    assert_eq!(ev.events, CONNECT | WRITE);
    assert_eq!(ev.error(CONNECT), None);
    assert!(take(p.c(), c).is_empty(), "recorded once, then taken");

    // ACCEPT is recorded once, re-enabled by accept.
    assert_eq!(take(p.s(), l).events, ACCEPT);
    let (s, _) = p.s().accept(l).unwrap();
    assert!(
        take(p.s(), l).is_empty(),
        "the queue is empty: not recorded again"
    );
    // The accepted socket inherited ALL and is writable at once; no CONNECT.
    assert_eq!(take(p.s(), s).events, WRITE);

    // READ once per arrival burst until the application reads.
    let now = p.now();
    p.c().send(now, c, b"one").unwrap();
    p.run_for(ms(50));
    let now = p.now();
    p.c().send(now, c, b"two").unwrap();
    p.run_for(ms(50));
    assert_eq!(take(p.s(), s).events, READ);
    assert!(take(p.s(), s).is_empty(), "not re-recorded before a recv");
    // A recv that leaves data behind re-records READ at once.
    let mut buf = [0u8; 2];
    let now = p.now();
    assert_eq!(p.s().recv(now, s, &mut buf), Ok(2));
    assert_eq!(take(p.s(), s).events, READ);
    let mut buf = [0u8; 64];
    assert_eq!(p.s().recv(now, s, &mut buf), Ok(4));
    assert!(take(p.s(), s).is_empty(), "everything read: no READ");

    // WRITE is not recorded again by sends that succeed.
    p.run_for(ms(50));
    assert!(take(p.c(), c).is_empty());

    // The client shuts down its write side: the server gets CLOSE(0) only
    // once the data before the FIN has been read — and no READ for it.
    let now = p.now();
    p.c().send(now, c, b"last words").unwrap();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    p.run_for(ms(50));
    assert_eq!(
        take(p.s(), s).events,
        READ,
        "data first; CLOSE waits for it to be read"
    );
    let now = p.now();
    assert_eq!(p.s().recv(now, s, &mut buf), Ok(10));
    let ev = take(p.s(), s);
    assert_eq!(ev.events, CLOSE);
    assert_eq!(ev.error(CLOSE), None, "graceful");
    assert_eq!(p.s().recv(now, s, &mut buf), Ok(0));
    assert!(take(p.s(), s).is_empty(), "CLOSE is one-shot");

    // The half-closed server still writes; the client reads, then sees its
    // own CLOSE(0) when the server's FIN arrives and everything is read.
    p.s().send(now, s, b"reply").unwrap();
    p.s().close(now, s).unwrap();
    p.run_for(ms(50));
    assert_eq!(take(p.c(), c).events, READ);
    let now = p.now();
    assert_eq!(p.c().recv(now, c, &mut buf), Ok(5));
    let ev = take(p.c(), c);
    assert_eq!((ev.events, ev.error(CLOSE)), (CLOSE, None));
    // A closed handle records nothing more and is gone.
    assert_eq!(p.s().take_network_events(s), Err(Error::InvalidHandle));
}

#[test]
fn write_is_recorded_again_only_after_a_send_would_block() {
    let tcp = TcpConfig {
        send_buffer: 4096,
        recv_buffer: 4096,
        // Fixed queues: no auto-tuning.
        send_buffer_max: 4096,
        recv_buffer_max: 4096,
        ..TcpConfig::default()
    };
    let mut p = Pair::with_config(
        32,
        LinkModel::default(),
        StackConfig {
            tcp,
            ..StackConfig::default()
        },
    );
    let (c, l) = selected_pair(&mut p);
    let (s, _) = p.s().accept(l).unwrap();
    assert!(take(p.c(), c).events.contains(WRITE));
    // Fill the client's send queue and the server's window: the server
    // does not read.
    let big = pattern(64 * 1024, 1);
    let mut blocked = false;
    for _ in 0..100 {
        let now = p.now();
        match p.c().send(now, c, &big) {
            Ok(_) => {}
            Err(Error::WouldBlock) => {
                blocked = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
        // Long enough for everything the window allows to be acknowledged,
        // so the send that blocks finds the window closed.
        p.run_for(ms(300));
        assert!(take(p.c(), c).is_empty(), "no WRITE while sends succeed");
    }
    assert!(blocked);
    p.run_for(ms(200));
    assert!(take(p.c(), c).is_empty(), "still full: nothing to record");
    // The server reads; the window opens, the queue drains, WRITE fires.
    let mut sink = Vec::new();
    p.run_until(Duration::from_secs(5), |p| {
        p.drain(true, s, &mut sink).unwrap();
        !take(p.c(), c).is_empty()
    });
    assert_eq!(p.c().state(c), Ok(State::Established));
    assert!(!sink.is_empty());
}

#[test]
fn close_reports_a_reset() {
    let mut p = Pair::new(33, LinkModel::default());
    let (c, l) = selected_pair(&mut p);
    let (s, _) = p.s().accept(l).unwrap();
    take(p.c(), c);
    take(p.s(), s);
    // The server aborts with data unread by the client: CLOSE(ConnectionReset)
    // at once, even though the data stays readable.
    let now = p.now();
    p.s().send(now, s, b"unread").unwrap();
    p.run_for(ms(50));
    let now = p.now();
    p.s().set_linger(s, Some(Duration::ZERO)).unwrap();
    p.s().close(now, s).unwrap();
    p.run_for(ms(50));
    let ev = take(p.c(), c);
    assert_eq!(ev.events, READ | CLOSE);
    assert_eq!(ev.error(CLOSE), Some(Error::ConnectionReset));
    let mut buf = [0u8; 16];
    let now = p.now();
    assert_eq!(p.c().recv(now, c, &mut buf), Ok(6));
    assert_eq!(p.c().recv(now, c, &mut buf), Err(Error::ConnectionReset));
    assert!(take(p.c(), c).is_empty());
}

#[test]
fn close_reports_a_local_give_up_as_aborted() {
    let tcp = TcpConfig {
        max_retries: 3,
        ..TcpConfig::default()
    };
    let mut p = Pair::with_config(
        34,
        LinkModel::default(),
        StackConfig {
            tcp,
            ..StackConfig::default()
        },
    );
    let (c, l) = selected_pair(&mut p);
    let _ = p.s().accept(l).unwrap();
    take(p.c(), c);
    let (client, server) = (p.client, p.server);
    p.net.model_mut(client, server).unwrap().up = false;
    let now = p.now();
    p.c().send(now, c, b"into the void").unwrap();
    p.run_until(Duration::from_secs(120), |p| {
        p.c().state(c) == Ok(State::Closed)
    });
    let ev = take(p.c(), c);
    assert_eq!(ev.events, CLOSE);
    assert_eq!(ev.error(CLOSE), Some(Error::ConnectionAborted));
}

#[test]
fn connect_reports_refusal_and_nothing_else() {
    let mut p = Pair::new(35, LinkModel::default());
    let c = p.c().socket();
    p.c().select_events(c, NetEvents::ALL).unwrap();
    let now = p.now();
    p.c().connect_from(now, c, Pair::server_addr()).unwrap();
    p.run_for(ms(50));
    let ev = take(p.c(), c);
    assert_eq!(ev.events, CONNECT);
    assert_eq!(ev.error(CONNECT), Some(Error::ConnectionRefused));
    p.run_for(ms(50));
    assert!(take(p.c(), c).is_empty(), "no CLOSE after a failed connect");
}

#[test]
fn selecting_late_records_conditions_that_already_hold() {
    let mut p = Pair::new(36, LinkModel::default());
    let (c, s, _l) = p.establish();
    let now = p.now();
    p.c().send(now, c, b"early").unwrap();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    p.run_for(ms(50));
    // Data and the FIN arrived before the server selected anything.
    p.s().select_events(s, READ | CLOSE).unwrap();
    assert_eq!(take(p.s(), s).events, READ);
    let mut buf = [0u8; 16];
    let now = p.now();
    assert_eq!(p.s().recv(now, s, &mut buf), Ok(5));
    assert_eq!(take(p.s(), s).events, CLOSE);
    // Unselected events are not recorded.
    p.s().select_events(s, NetEvents::NONE).unwrap();
    assert!(take(p.s(), s).is_empty());
    assert_eq!(format!("{}", READ | CLOSE), "READ|CLOSE");
}
