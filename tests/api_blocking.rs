//! docs/SEMANTICS.md through the blocking API (`synfin::api::TcpStream`,
//! `TcpListener`, `TcpSocket`) over the simulated network driven in real
//! time: what each call returns in each state, and what the peer observes.

mod api_common;

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use api_common::*;
use synfin::api::{TcpListener, TcpSocket, TcpStream};
use synfin::stack::Error;
use synfin::tcp::State;

/// A connected pair: (client stream, server stream, listener).
fn connected(h: &Hosts, port: u16) -> (TcpStream, TcpStream, TcpListener) {
    let l = TcpListener::bind(&h.server, server_addr(port)).unwrap();
    let c = TcpStream::connect(&h.client, server_addr(port)).unwrap();
    let (s, peer) = l.accept().unwrap();
    assert_eq!(peer, c.local_addr().unwrap());
    assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
    (c, s, l)
}

/// Waits (in real time) until `f` holds.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < until, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn half_close_echo_request_then_reply_to_end_of_stream() {
    with_watchdog(|| {
        let h = hosts(1);
        let (mut c, mut s, _l) = connected(&h, 7);
        let request = pattern(50_000, 1);
        let reply = pattern(80_000, 2);
        let server = {
            let reply = reply.clone();
            std::thread::spawn(move || {
                let (got, end) = read_all(&s);
                end.unwrap();
                // The client's FIN: CLOSE-WAIT, and reads stay at 0.
                assert_eq!(s.state().unwrap(), State::CloseWait);
                assert_eq!(s.read(&mut [0u8; 8]).unwrap(), 0);
                s.write_all(&reply).unwrap();
                s.close().unwrap();
                got
            })
        };
        c.write_all(&request).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        // SEMANTICS 1a: after shutdown(Write) a send is BrokenPipe.
        let e = c.write(b"more").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BrokenPipe);
        assert_eq!(synfin_error(&e), Some(Error::BrokenPipe));
        let (got, end) = read_all(&c);
        end.unwrap();
        assert!(
            got == reply,
            "reply: {} of {} bytes",
            got.len(),
            reply.len()
        );
        assert!(server.join().unwrap() == request);
        // The client sent the first FIN, so it is the one in TIME-WAIT.
        c.close().unwrap();
        eventually("client TIME-WAIT", || h.client_time_wait() == 1);
    });
}

#[test]
fn shutdown_read_with_unread_data_resets_the_peer() {
    with_watchdog(|| {
        let h = hosts(2);
        let (mut c, s, _l) = connected(&h, 8);
        c.write_all(b"unread").unwrap();
        eventually("data queued", || s.recv_queue_len().unwrap() == 6);
        s.shutdown(Shutdown::Read).unwrap();
        // Our reads are at end-of-stream at once.
        assert_eq!((&s).read(&mut [0u8; 16]).unwrap(), 0);
        let e = c.read(&mut [0u8; 16]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset);
    });
}

#[test]
fn close_with_unread_data_resets_the_peer() {
    with_watchdog(|| {
        let h = hosts(3);
        let (mut c, mut s, _l) = connected(&h, 9);
        c.write_all(b"never read").unwrap();
        eventually("data queued", || s.recv_queue_len().unwrap() > 0);
        s.close().unwrap();
        let (_, end) = read_all(&c);
        assert_eq!(end.unwrap_err().kind(), ErrorKind::ConnectionReset);
        // The handle is gone: every later call fails.
        assert_eq!(s.state().unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(
            synfin_error(&s.write(b"x").unwrap_err()),
            Some(Error::InvalidHandle)
        );
    });
}

#[test]
fn default_close_returns_at_once_and_drains_in_the_background() {
    with_watchdog(|| {
        let h = hosts(4);
        let (mut c, s, _l) = connected(&h, 10);
        let data = pattern(300_000, 3);
        // More than the send buffer: the writer blocks until the reader
        // drains, then close returns at once with data still in flight.
        let reader = std::thread::spawn(move || read_all(&s));
        c.write_all(&data).unwrap();
        // With the link down nothing more can be acknowledged: a close that
        // waited for the drain would hang here.
        h.link_up(false);
        c.close().unwrap();
        assert!(c.state().is_err(), "the handle is gone at once");
        h.link_up(true);
        let (got, end) = reader.join().unwrap();
        end.unwrap();
        assert!(got == data, "{} of {} bytes", got.len(), data.len());
    });
}

#[test]
fn drop_is_a_default_close() {
    with_watchdog(|| {
        let h = hosts(5);
        let (mut c, s, _l) = connected(&h, 11);
        c.write_all(b"last words").unwrap();
        drop(c);
        let (got, end) = read_all(&s);
        end.unwrap();
        assert_eq!(got, b"last words");
    });
}

#[test]
fn linger_zero_close_resets_without_time_wait() {
    with_watchdog(|| {
        let h = hosts(6);
        let (mut c, s, _l) = connected(&h, 12);
        c.set_linger(Some(Duration::ZERO)).unwrap();
        assert_eq!(c.linger().unwrap(), Some(Duration::ZERO));
        c.write_all(b"discarded").unwrap();
        c.close().unwrap();
        let (_, end) = read_all(&s);
        assert_eq!(end.unwrap_err().kind(), ErrorKind::ConnectionReset);
        let e = (&s).write(b"x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset);
        assert_eq!(h.client_time_wait(), 0);
        assert_eq!(h.client.with(|st, _| st.socket_count()), 0);
    });
}

#[test]
fn drop_with_linger_zero_aborts() {
    with_watchdog(|| {
        let h = hosts(7);
        let (c, s, _l) = connected(&h, 13);
        c.set_linger(Some(Duration::ZERO)).unwrap();
        drop(c);
        let (_, end) = read_all(&s);
        assert_eq!(end.unwrap_err().kind(), ErrorKind::ConnectionReset);
    });
}

#[test]
fn linger_close_waits_for_the_acknowledgment() {
    with_watchdog(|| {
        let h = hosts(8);
        let (mut c, s, _l) = connected(&h, 14);
        let data = pattern(100_000, 4);
        let reader = std::thread::spawn(move || read_all(&s));
        c.write_all(&data).unwrap();
        c.set_linger(Some(Duration::from_secs(5))).unwrap();
        c.close().unwrap();
        // Ok means everything, FIN included, was acknowledged.
        let (got, end) = reader.join().unwrap();
        end.unwrap();
        assert!(got == data);
    });
}

/// A server that accepts with a tiny receive buffer and never reads: the
/// client's data cannot all be acknowledged.
fn stalled_pair(h: &Hosts, port: u16) -> (TcpStream, TcpStream, TcpListener) {
    let sock = TcpSocket::new(&h.server).unwrap();
    sock.set_recv_buffer_size(2048).unwrap();
    sock.bind(server_addr(port)).unwrap();
    let l = sock.listen(4).unwrap();
    let c = TcpStream::connect(&h.client, server_addr(port)).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s, l)
}

#[test]
fn linger_expiry_resets_and_reports_timed_out() {
    with_watchdog(|| {
        let h = hosts(9);
        let (mut c, s, _l) = stalled_pair(&h, 15);
        c.set_nonblocking(true).unwrap();
        let data = pattern(50_000, 5);
        let queued = c.write(&data).unwrap();
        assert!(queued > 4096, "{queued}");
        c.set_nonblocking(false).unwrap();
        let linger = Duration::from_millis(300);
        c.set_linger(Some(linger)).unwrap();
        let t = Instant::now();
        let e = c.close().unwrap_err();
        assert!(t.elapsed() >= linger, "{:?}", t.elapsed());
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        assert_eq!(synfin_error(&e), Some(Error::TimedOut));
        // The peer was reset; what it had received stays readable first.
        let (got, end) = read_all(&s);
        // Only part of what was queued got through the small window.
        assert!(
            got.len() < queued && got == data[..got.len()],
            "{} of {queued} bytes",
            got.len()
        );
        assert_eq!(end.unwrap_err().kind(), ErrorKind::ConnectionReset);
    });
}

#[test]
fn non_blocking_linger_close_would_block_then_completes() {
    with_watchdog(|| {
        let h = hosts(10);
        let (mut c, s, _l) = connected(&h, 16);
        // With the link down nothing can be acknowledged, so the close
        // certainly has to wait.
        h.link_up(false);
        c.write_all(&pattern(20_000, 6)).unwrap();
        c.set_linger(Some(Duration::from_secs(5))).unwrap();
        c.set_nonblocking(true).unwrap();
        let e = c.close().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        // The handle stays valid and the FIN is queued.
        assert_eq!(c.state().unwrap(), State::FinWait1);
        assert_eq!(c.close().unwrap_err().kind(), ErrorKind::WouldBlock);
        h.link_up(true);
        let reader = std::thread::spawn(move || read_all(&s));
        let mut tries = 0;
        loop {
            match c.close() {
                Ok(()) => break,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(tries > 0);
        assert_eq!(reader.join().unwrap().0.len(), 20_000);
        // Closed: a second close is an error, not a second outcome.
        assert!(c.close().is_err());
    });
}

#[test]
fn abort_resets_the_peer_and_keeps_the_handle() {
    with_watchdog(|| {
        let h = hosts(11);
        let (c, s, _l) = connected(&h, 17);
        c.abort().unwrap();
        assert_eq!(c.state().unwrap(), State::Closed);
        let (_, end) = read_all(&s);
        assert_eq!(end.unwrap_err().kind(), ErrorKind::ConnectionReset);
        assert_eq!(h.client_time_wait(), 0);
    });
}

#[test]
fn peer_fin_reads_zero_repeatedly_and_writes_still_work() {
    with_watchdog(|| {
        let h = hosts(12);
        let (mut c, mut s, _l) = connected(&h, 18);
        c.write_all(b"before fin").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let (got, end) = read_all(&s);
        end.unwrap();
        assert_eq!(got, b"before fin");
        for _ in 0..3 {
            assert_eq!(s.read(&mut [0u8; 8]).unwrap(), 0);
        }
        s.write_all(b"after fin").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let (got, end) = read_all(&c);
        end.unwrap();
        assert_eq!(got, b"after fin");
    });
}

#[test]
fn peer_reset_is_connection_reset_after_the_data_before_it() {
    with_watchdog(|| {
        let h = hosts(13);
        let (mut c, s, _l) = connected(&h, 19);
        s.set_nodelay(true).unwrap();
        assert!(s.nodelay().unwrap());
        (&s).write_all(b"data then rst").unwrap();
        eventually("data arrived", || c.recv_queue_len().unwrap() == 13);
        s.abort().unwrap();
        eventually("reset arrived", || c.state().unwrap() == State::Closed);
        let mut buf = [0u8; 64];
        assert_eq!(c.read(&mut buf).unwrap(), 13);
        assert_eq!(&buf[..13], b"data then rst");
        for _ in 0..2 {
            assert_eq!(
                c.read(&mut buf).unwrap_err().kind(),
                ErrorKind::ConnectionReset
            );
        }
        assert_eq!(
            c.write(b"x").unwrap_err().kind(),
            ErrorKind::ConnectionReset
        );
        // SO_ERROR: the reason once, then nothing.
        assert_eq!(
            c.take_error().unwrap().map(|e| e.kind()),
            Some(ErrorKind::ConnectionReset)
        );
        assert!(c.take_error().unwrap().is_none());
    });
}

#[test]
fn reset_in_close_wait_reads_end_of_stream_and_fails_writes() {
    with_watchdog(|| {
        let h = hosts(14);
        let (mut c, s, _l) = connected(&h, 20);
        s.shutdown(Shutdown::Write).unwrap();
        eventually("FIN arrived", || c.state().unwrap() == State::CloseWait);
        s.abort().unwrap();
        eventually("RST arrived", || c.state().unwrap() == State::Closed);
        assert_eq!(c.read(&mut [0u8; 8]).unwrap(), 0);
        assert_eq!(
            c.write(b"x").unwrap_err().kind(),
            ErrorKind::ConnectionReset
        );
    });
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    with_watchdog(|| {
        let h = hosts(15);
        let e = TcpStream::connect(&h.client, server_addr(21)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        assert_eq!(synfin_error(&e), Some(Error::ConnectionRefused));
        // Nothing is left behind.
        assert_eq!(h.client.with(|s, _| s.socket_count()), 0);
    });
}

#[test]
fn connect_timeout_gives_up_on_a_silent_host() {
    with_watchdog(|| {
        let h = hosts(16);
        h.link_up(false);
        let t = Instant::now();
        let e = TcpStream::connect_timeout(&h.client, &server_addr(22), Duration::from_millis(100))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        assert!(t.elapsed() >= Duration::from_millis(100));
        assert_eq!(h.client.with(|s, _| s.socket_count()), 0);
        // Without a timeout of our own, the SYN retries run out.
        let e = TcpStream::connect(&h.client, server_addr(22)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
    });
}

#[test]
fn retransmissions_exhausted_is_connection_aborted() {
    with_watchdog(|| {
        let h = hosts(17);
        let (mut c, _s, _l) = connected(&h, 23);
        h.link_up(false);
        c.write_all(b"into the void").unwrap();
        let e = c.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionAborted);
    });
}

#[test]
fn keepalive_drops_a_vanished_peer() {
    with_watchdog(|| {
        let h = hosts(18);
        let (mut c, _s, _l) = connected(&h, 24);
        c.set_keepalive(true).unwrap();
        h.link_up(false);
        let e = c.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
    });
}

#[test]
fn non_blocking_and_timed_reads_would_block() {
    with_watchdog(|| {
        let h = hosts(19);
        let (mut c, s, _l) = connected(&h, 25);
        c.set_nonblocking(true).unwrap();
        assert_eq!(
            c.read(&mut [0u8; 8]).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        c.set_nonblocking(false).unwrap();
        assert_eq!(
            c.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_millis(50)));
        let t = Instant::now();
        assert_eq!(
            c.read(&mut [0u8; 8]).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        assert!(t.elapsed() >= Duration::from_millis(50));
        // peek waits like read, and leaves the data.
        (&s).write_all(b"peek").unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(c.peek(&mut buf).unwrap(), 4);
        assert_eq!(c.read(&mut buf).unwrap(), 4);
        assert_eq!(&buf, b"peek");
        // A full send queue: a non-blocking write says WouldBlock.
        s.set_nonblocking(true).unwrap();
        let big = pattern(1 << 20, 7);
        let mut sent = 0;
        let e = loop {
            match (&s).write(&big[sent..]) {
                Ok(n) => sent += n,
                Err(e) => break e,
            }
        };
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        assert!(sent > 0 && sent < big.len());
    });
}

#[test]
fn data_and_fin_sent_before_accept_are_readable_after() {
    with_watchdog(|| {
        let h = hosts(20);
        let l = TcpListener::bind(&h.server, server_addr(26)).unwrap();
        let mut c = TcpStream::connect(&h.client, server_addr(26)).unwrap();
        c.write_all(b"early").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        eventually("FIN acknowledged", || c.state().unwrap() == State::FinWait2);
        let (s, _) = l.accept().unwrap();
        let (got, end) = read_all(&s);
        end.unwrap();
        assert_eq!(got, b"early");
    });
}

#[test]
fn dropping_a_listener_resets_unaccepted_connections() {
    with_watchdog(|| {
        let h = hosts(21);
        let l = TcpListener::bind(&h.server, server_addr(27)).unwrap();
        let c = TcpStream::connect(&h.client, server_addr(27)).unwrap();
        drop(l);
        let (_, end) = read_all(&c);
        assert_eq!(end.unwrap_err().kind(), ErrorKind::ConnectionReset);
    });
}

#[test]
fn accept_queue_is_bounded_by_the_backlog() {
    with_watchdog(|| {
        let h = hosts(22);
        let sock = TcpSocket::new(&h.server).unwrap();
        sock.bind(server_addr(28)).unwrap();
        let l = sock.listen(2).unwrap();
        // Three clients: two fit the backlog, the third's SYNs are dropped
        // until an accept makes room; all three are served in the end.
        let clients: Vec<_> = (0..3)
            .map(|_| {
                let node = h.client.clone();
                std::thread::spawn(move || TcpStream::connect(&node, server_addr(28)).unwrap())
            })
            .collect();
        eventually("queue full", || {
            h.server.with(|s, _| s.stats().listen_overflows) > 0
        });
        let accepted: Vec<_> = (0..3).map(|_| l.accept().unwrap()).collect();
        let clients: Vec<_> = clients.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(accepted.len(), 3);
        assert_eq!(clients.len(), 3);
    });
}

#[test]
fn bind_errors_are_typed() {
    with_watchdog(|| {
        let h = hosts(23);
        let _l = TcpListener::bind(&h.server, server_addr(29)).unwrap();
        let e = TcpListener::bind(&h.server, server_addr(29)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrInUse);
        let e = TcpListener::bind(&h.server, "203.0.113.9:80").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrNotAvailable);
        let e = TcpListener::bind(&h.server, "no-such-host.invalid:80").unwrap_err();
        assert!(synfin_error(&e).is_none(), "{e}");
        let e = TcpSocket::new(&h.server).unwrap().listen(0).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn options_set_before_connect_shape_the_connection() {
    with_watchdog(|| {
        let h = hosts(24);
        let l = TcpListener::bind(&h.server, server_addr(30)).unwrap();
        let sock = TcpSocket::new(&h.client).unwrap();
        sock.set_nodelay(true).unwrap();
        sock.set_send_buffer_size(8192).unwrap();
        sock.set_linger(Some(Duration::from_secs(1))).unwrap();
        let c = sock.connect(server_addr(30)).unwrap();
        let _s = l.accept().unwrap();
        assert!(c.nodelay().unwrap());
        assert_eq!(c.linger().unwrap(), Some(Duration::from_secs(1)));
        assert_eq!(
            h.client
                .with(|s, _| s.buffer_sizes(c_handle(&c)))
                .unwrap()
                .0,
            8192
        );
    });
}

fn c_handle(c: &TcpStream) -> synfin::stack::SocketHandle {
    synfin::api::AsSocket::socket_handle(c)
}

#[test]
fn try_clone_shares_the_connection_between_threads() {
    with_watchdog(|| {
        let h = hosts(25);
        let (c, mut s, _l) = connected(&h, 31);
        let mut writer = c.try_clone().unwrap();
        // The clones share settings: non-blocking on one is on the other.
        writer.set_nonblocking(true).unwrap();
        assert_eq!(
            (&c).read(&mut [0u8; 4]).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        writer.set_nonblocking(false).unwrap();
        let t = std::thread::spawn(move || {
            writer.write_all(b"from a clone").unwrap();
            writer.shutdown(Shutdown::Write).unwrap();
            writer
        });
        let (got, end) = read_all(&s);
        end.unwrap();
        assert_eq!(got, b"from a clone");
        let mut writer = t.join().unwrap();
        s.write_all(b"reply").unwrap();
        s.close().unwrap();
        let (got, end) = read_all(&c);
        end.unwrap();
        assert_eq!(got, b"reply");
        // Closing one clone closes the connection for all of them.
        writer.close().unwrap();
        assert!(c.state().is_err());
        assert!(c.try_clone().is_err());
    });
}

#[test]
fn dropping_one_clone_keeps_the_connection() {
    with_watchdog(|| {
        let h = hosts(26);
        let (c, s, _l) = connected(&h, 32);
        drop(c.try_clone().unwrap());
        (&c).write_all(b"still open").unwrap();
        drop(c);
        let (got, end) = read_all(&s);
        end.unwrap();
        assert_eq!(got, b"still open");
    });
}
