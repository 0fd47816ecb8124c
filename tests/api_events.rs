//! Network events through the blocking API: a `Poller` over many sockets
//! and the per-socket wait, across a whole lifecycle — the order of READ,
//! WRITE, ACCEPT, CONNECT and CLOSE, their Winsock re-arming, and CLOSE's
//! error code for graceful, reset and aborted endings.

mod api_common;

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use api_common::*;
use synfin::api::{Poller, TcpListener, TcpSocket, TcpStream};
use synfin::stack::{Error, NetEvents, NetworkEvents};

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

/// The one socket's events from a poller wait, which must report exactly
/// that token.
fn only(ready: Vec<(usize, NetworkEvents)>, token: usize) -> NetworkEvents {
    assert_eq!(ready.len(), 1, "{ready:?}");
    assert_eq!(ready[0].0, token, "{ready:?}");
    ready[0].1
}

#[test]
fn events_follow_a_whole_lifecycle_with_winsock_rearming() {
    with_watchdog(|| {
        let h = hosts(41);
        let l = TcpListener::bind(&h.server, server_addr(80)).unwrap();
        let mut sp = Poller::new(&h.server);
        sp.register(&l, 0, NetEvents::ALL).unwrap();
        // Nothing yet: the wait times out empty.
        assert!(sp.wait(Some(Duration::from_millis(20))).unwrap().is_empty());

        let sock = TcpSocket::new(&h.client).unwrap();
        let c = sock.connect_nonblocking(server_addr(80)).unwrap();
        let mut cp = Poller::new(&h.client);
        cp.register(&c, 7, NetEvents::ALL).unwrap();
        // CONNECT (success) and WRITE arrive together once established.
        let mut ev = only(cp.wait(WAIT).unwrap(), 7);
        if !ev.events.contains(NetEvents::WRITE) {
            ev.events |= only(cp.wait(WAIT).unwrap(), 7).events;
        }
        assert_eq!(ev.events, NetEvents::CONNECT | NetEvents::WRITE, "{ev:?}");
        assert_eq!(ev.error(NetEvents::CONNECT), None);

        // ACCEPT, once, until the next accept.
        let ev = only(sp.wait(WAIT).unwrap(), 0);
        assert_eq!(ev.events, NetEvents::ACCEPT);
        let (mut s, _) = l.accept().unwrap();
        // The accepted socket inherits the listener's selection.
        sp.register(&s, 1, NetEvents::ALL).unwrap();
        let ev = only(sp.wait(WAIT).unwrap(), 1);
        assert_eq!(ev.events, NetEvents::WRITE);

        // READ: once, re-recorded by the next recv if data remains.
        (&c).write_all(b"abc").unwrap();
        let ev = only(sp.wait(WAIT).unwrap(), 1);
        assert_eq!(ev.events, NetEvents::READ);
        (&c).write_all(b"def").unwrap();
        // Not recorded again before a recv, however long the data waits.
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while s.recv_queue_len().unwrap() < 6 {
            assert!(std::time::Instant::now() < until, "data never arrived");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(sp.wait(Some(Duration::from_millis(1))).unwrap().is_empty());
        let mut one = [0u8; 1];
        assert_eq!(s.read(&mut one).unwrap(), 1);
        let ev = only(sp.wait(WAIT).unwrap(), 1);
        assert_eq!(ev.events, NetEvents::READ);
        let mut rest = [0u8; 16];
        assert_eq!(s.read(&mut rest).unwrap(), 5);
        assert!(sp.wait(Some(Duration::from_millis(20))).unwrap().is_empty());

        // The client starts the teardown: the server's CLOSE, graceful.
        c.shutdown(Shutdown::Write).unwrap();
        let ev = only(sp.wait(WAIT).unwrap(), 1);
        assert_eq!(ev.events, NetEvents::CLOSE);
        assert_eq!(ev.error(NetEvents::CLOSE), None);
        assert_eq!(s.read(&mut rest).unwrap(), 0);
        // The server replies and closes; the client's CLOSE comes after the
        // reply has been read.
        s.write_all(b"bye").unwrap();
        s.close().unwrap();
        let ev = only(cp.wait(WAIT).unwrap(), 7);
        assert_eq!(ev.events, NetEvents::READ);
        let mut buf = [0u8; 8];
        assert_eq!((&c).read(&mut buf).unwrap(), 3);
        let ev = only(cp.wait(WAIT).unwrap(), 7);
        assert_eq!(ev.events, NetEvents::CLOSE);
        assert_eq!(ev.error(NetEvents::CLOSE), None);
        // CLOSE and CONNECT never come again; a closed socket leaves the set.
        assert!(cp.wait(Some(Duration::from_millis(20))).unwrap().is_empty());
        assert_eq!(sp.len(), 2);
        assert!(sp.wait(Some(Duration::from_millis(5))).unwrap().is_empty());
        assert_eq!(sp.len(), 1, "the closed server socket is dropped");
    });
}

#[test]
fn write_is_recorded_again_after_a_send_that_would_block() {
    with_watchdog(|| {
        let h = hosts(42);
        let l = TcpListener::bind(&h.server, server_addr(81)).unwrap();
        let c = TcpStream::connect(&h.client, server_addr(81)).unwrap();
        let (s, _) = l.accept().unwrap();
        c.select_events(NetEvents::WRITE).unwrap();
        assert_eq!(
            c.wait_network_events(WAIT).unwrap().events,
            NetEvents::WRITE
        );
        // Sends that succeed do not re-arm WRITE.
        (&c).write_all(b"small").unwrap();
        assert!(c
            .wait_network_events(Some(Duration::from_millis(20)))
            .unwrap()
            .is_empty());
        // Fill the queue until a send would block...
        c.set_nonblocking(true).unwrap();
        let big = pattern(1 << 20, 1);
        loop {
            match (&c).write(&big) {
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        // ...then space opens as the server reads: WRITE again.
        let reader = std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            let mut n = 0;
            // Less than the send queue held when the write would block, so
            // it is there whatever the timing.
            while n < 100_000 {
                n += (&s).read(&mut buf).unwrap();
            }
            s
        });
        assert_eq!(
            c.wait_network_events(WAIT).unwrap().events,
            NetEvents::WRITE
        );
        drop(reader.join().unwrap());
    });
}

#[test]
fn close_carries_reset_and_aborted_error_codes() {
    with_watchdog(|| {
        let h = hosts(43);
        let l = TcpListener::bind(&h.server, server_addr(82)).unwrap();
        // Reset by the peer.
        let c = TcpStream::connect(&h.client, server_addr(82)).unwrap();
        let (s, _) = l.accept().unwrap();
        c.select_events(NetEvents::CLOSE).unwrap();
        s.abort().unwrap();
        let ev = c.wait_network_events(WAIT).unwrap();
        assert_eq!(ev.events, NetEvents::CLOSE);
        assert_eq!(ev.error(NetEvents::CLOSE), Some(Error::ConnectionReset));

        // This side gave up: retransmissions exhausted.
        let c = TcpStream::connect(&h.client, server_addr(82)).unwrap();
        let (_s, _) = l.accept().unwrap();
        c.select_events(NetEvents::CLOSE).unwrap();
        h.link_up(false);
        (&c).write_all(b"lost").unwrap();
        let ev = c.wait_network_events(WAIT).unwrap();
        assert_eq!(ev.events, NetEvents::CLOSE);
        assert_eq!(ev.error(NetEvents::CLOSE), Some(Error::ConnectionAborted));
    });
}

#[test]
fn a_refused_connect_reports_connect_only() {
    with_watchdog(|| {
        let h = hosts(44);
        let sock = TcpSocket::new(&h.client).unwrap();
        let c = sock.connect_nonblocking(server_addr(83)).unwrap();
        c.select_events(NetEvents::ALL).unwrap();
        let ev = c.wait_network_events(WAIT).unwrap();
        assert_eq!(ev.events, NetEvents::CONNECT);
        assert_eq!(ev.error(NetEvents::CONNECT), Some(Error::ConnectionRefused));
        assert!(c
            .wait_network_events(Some(Duration::from_millis(30)))
            .unwrap()
            .is_empty());
    });
}

#[test]
fn a_poller_rejects_a_socket_of_another_node() {
    let h = hosts(45);
    let l = TcpListener::bind(&h.server, server_addr(84)).unwrap();
    let mut p = Poller::new(&h.client);
    let e = p.register(&l, 0, NetEvents::ACCEPT).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(p.is_empty());
}
