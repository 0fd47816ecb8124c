//! docs/SEMANTICS.md through the async API (`synfin::api::tokio`) over the
//! simulated network driven in real time, and the cancellation safety of
//! its futures.

mod api_common;

use std::future::Future;
use std::io::ErrorKind;
use std::net::Shutdown;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use api_common::*;
use synfin::api::tokio::{TcpListener, TcpStream};
use synfin::stack::{Error, NetEvents};
use synfin::tcp::State;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Runs `f` on a multi-threaded tokio runtime, under the watchdog.
fn run<F: Future<Output = ()> + Send + 'static>(f: impl FnOnce() -> F + Send + 'static) {
    with_watchdog(move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap()
            .block_on(f())
    })
}

async fn connected(h: &Hosts, port: u16) -> (TcpStream, TcpStream, TcpListener) {
    let l = TcpListener::bind(&h.server, server_addr(port))
        .await
        .unwrap();
    let c = TcpStream::connect(&h.client, server_addr(port))
        .await
        .unwrap();
    let (s, peer) = l.accept().await.unwrap();
    assert_eq!(peer, c.local_addr().unwrap());
    (c, s, l)
}

async fn read_to_end_result(s: &mut TcpStream) -> (Vec<u8>, std::io::Result<()>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf).await {
            Ok(0) => return (got, Ok(())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, Err(e)),
        }
    }
}

/// Yields to the scheduler until `f` holds (the stack moves on its own
/// thread meanwhile).
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(std::time::Instant::now() < until, "never happened: {what}");
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn half_close_echo_over_async_read_and_write() {
    run(|| async {
        let h = hosts(31);
        let (mut c, mut s, _l) = connected(&h, 7).await;
        let request = pattern(60_000, 1);
        let reply = pattern(90_000, 2);
        let rep = reply.clone();
        let server = tokio::spawn(async move {
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            assert_eq!(s.state().unwrap(), State::CloseWait);
            s.write_all(&rep).await.unwrap();
            s.close().await.unwrap();
            got
        });
        c.write_all(&request).await.unwrap();
        // poll_shutdown sends the FIN.
        c.shutdown().await.unwrap();
        let e = c.write_all(b"more").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BrokenPipe);
        let mut got = Vec::new();
        c.read_to_end(&mut got).await.unwrap();
        assert!(got == reply);
        assert!(server.await.unwrap() == request);
        drop(c);
        drop(h);
    });
}

#[test]
fn shutdown_read_and_unread_close_reset_the_peer() {
    run(|| async {
        let h = hosts(32);
        let (mut c, s, _l) = connected(&h, 8).await;
        c.write_all(b"unread").await.unwrap();
        let mut peek = [0u8; 6];
        assert_eq!(s.peek(&mut peek).await.unwrap(), 6);
        s.shutdown_std(Shutdown::Read).unwrap();
        let (_, end) = read_to_end_result(&mut c).await;
        assert_eq!(end.unwrap_err().kind(), ErrorKind::ConnectionReset);

        let (mut c, mut s, _l2) = connected(&h, 9).await;
        c.write_all(b"never read").await.unwrap();
        let mut one = [0u8; 1];
        assert_eq!(s.peek(&mut one).await.unwrap(), 1);
        s.close().await.unwrap();
        let (_, end) = read_to_end_result(&mut c).await;
        assert_eq!(end.unwrap_err().kind(), ErrorKind::ConnectionReset);
        // Closed: nothing more works on it.
        assert!(s.state().is_err());
    });
}

#[test]
fn linger_modes_through_async_close() {
    run(|| async {
        let h = hosts(33);
        // {on, 0}: reset.
        let (mut c, mut s, _l) = connected(&h, 10).await;
        c.set_linger(Some(Duration::ZERO)).unwrap();
        c.close().await.unwrap();
        let (_, end) = read_to_end_result(&mut s).await;
        assert_eq!(end.unwrap_err().kind(), ErrorKind::ConnectionReset);
        assert_eq!(h.client_time_wait(), 0);

        // {on, N} acknowledged: Ok once the peer has everything.
        let (mut c, mut s, _l) = connected(&h, 11).await;
        let data = pattern(100_000, 3);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            got
        });
        c.write_all(&data).await.unwrap();
        c.set_linger(Some(Duration::from_secs(5))).unwrap();
        c.close().await.unwrap();
        assert!(reader.await.unwrap() == data);
    });
}

#[test]
fn linger_expiry_through_async_close_is_timed_out() {
    run(|| async {
        let h = hosts(34);
        // The server never reads, and its 2 KiB window cannot take our
        // 128 KiB send queue: nothing can make the close complete in time.
        let sock = synfin::api::TcpSocket::new(&h.server).unwrap();
        sock.set_recv_buffer_size(2048).unwrap();
        sock.bind(server_addr(12)).unwrap();
        let l = sock.listen(4).unwrap();
        let mut c = TcpStream::connect(&h.client, server_addr(12))
            .await
            .unwrap();
        let (s, _) = tokio::task::spawn_blocking(move || l.accept().unwrap())
            .await
            .unwrap();
        let mut s = TcpStream::from_std(s).unwrap();
        let data = pattern(1 << 20, 4);
        let written = {
            let mut written = 0;
            let mut cx = Context::from_waker(Waker::noop());
            // poll_write itself, not write_all: fill the queue, never wait.
            while let Poll::Ready(Ok(n @ 1..)) =
                AsyncWrite::poll_write(std::pin::Pin::new(&mut c), &mut cx, &data[written..])
            {
                written += n;
            }
            written
        };
        assert!(written > 0 && written < data.len());
        let linger = Duration::from_millis(300);
        c.set_linger(Some(linger)).unwrap();
        let t = std::time::Instant::now();
        let e = c.close().await.unwrap_err();
        assert!(t.elapsed() >= linger);
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        assert_eq!(synfin_error(&e), Some(Error::TimedOut));
        let (_, end) = read_to_end_result(&mut s).await;
        assert_eq!(end.unwrap_err().kind(), ErrorKind::ConnectionReset);
    });
}

#[test]
fn abort_fin_and_reset_as_seen_by_the_peer() {
    run(|| async {
        let h = hosts(35);
        // Peer FIN: reads 0 repeatedly, writes still work.
        let (mut c, mut s, _l) = connected(&h, 13).await;
        c.write_all(b"before fin").await.unwrap();
        c.shutdown().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"before fin");
        assert_eq!(s.read(&mut [0u8; 4]).await.unwrap(), 0);
        s.write_all(b"after fin").await.unwrap();
        let mut got = [0u8; 9];
        c.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"after fin");

        // Abort: the peer gets the data before the RST, then a reset.
        let (mut c, mut s, _l) = connected(&h, 14).await;
        s.set_nodelay(true).unwrap();
        s.write_all(b"data then rst").await.unwrap();
        let mut buf = [0u8; 13];
        assert_eq!(c.peek(&mut buf).await.unwrap(), 13);
        s.abort().unwrap();
        eventually("reset", || c.state().unwrap() == State::Closed).await;
        let (got, end) = read_to_end_result(&mut c).await;
        assert_eq!(got, b"data then rst");
        assert_eq!(end.unwrap_err().kind(), ErrorKind::ConnectionReset);
        assert_eq!(
            c.write_all(b"x").await.unwrap_err().kind(),
            ErrorKind::ConnectionReset
        );
        assert_eq!(
            c.take_error().unwrap().map(|e| e.kind()),
            Some(ErrorKind::ConnectionReset)
        );
    });
}

#[test]
fn async_connect_refused_and_timed_out() {
    run(|| async {
        let h = hosts(36);
        let e = TcpStream::connect(&h.client, server_addr(15))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        h.link_up(false);
        let e = TcpStream::connect(&h.client, server_addr(15))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        assert_eq!(h.client.with(|s, _| s.socket_count()), 0);
    });
}

#[test]
fn network_events_as_a_stream_across_a_lifecycle() {
    run(|| async {
        let h = hosts(37);
        let (mut c, s, _l) = connected(&h, 16).await;
        let mut events = s
            .network_events(NetEvents::READ | NetEvents::WRITE | NetEvents::CLOSE)
            .unwrap();
        // Established and writable: WRITE first.
        let ev = events.next().await.unwrap();
        assert!(ev.events.contains(NetEvents::WRITE), "{ev:?}");
        c.write_all(b"hello").await.unwrap();
        let ev = events.next().await.unwrap();
        assert!(ev.events.contains(NetEvents::READ), "{ev:?}");
        let mut s = s;
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).await.unwrap();
        c.shutdown().await.unwrap();
        // CLOSE, graceful: no error code.
        let ev = events.next().await.unwrap();
        assert!(ev.events.contains(NetEvents::CLOSE), "{ev:?}");
        assert_eq!(ev.error(NetEvents::CLOSE), None);
        // A reset on another connection: CLOSE with ConnectionReset.
        let (c2, s2, _l2) = connected(&h, 17).await;
        let mut ev2 = s2.network_events(NetEvents::CLOSE).unwrap();
        c2.abort().unwrap();
        let ev = ev2.next().await.unwrap();
        assert_eq!(ev.error(NetEvents::CLOSE), Some(Error::ConnectionReset));
        // The stream ends once the socket is closed.
        drop(s2);
        assert!(ev2.next().await.is_none());
    });
}

/// Polls a future once with a waker that does nothing, then drops it.
fn poll_once_and_drop<F: Future>(f: F) -> bool {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    f.as_mut().poll(&mut cx).is_ready()
}

#[test]
fn dropped_futures_lose_no_connection_and_no_byte() {
    run(|| async {
        let h = hosts(38);
        let l = TcpListener::bind(&h.server, server_addr(18)).await.unwrap();
        // An accept future dropped before a connection arrives...
        assert!(!poll_once_and_drop(l.accept()));
        let mut c = TcpStream::connect(&h.client, server_addr(18))
            .await
            .unwrap();
        // ...takes nothing: the next accept gets the connection.
        let (mut s, _) = l.accept().await.unwrap();
        // A read future dropped while waiting takes no byte.
        let mut buf = [0u8; 16];
        assert!(!poll_once_and_drop(s.read(&mut buf)));
        c.write_all(b"every byte").await.unwrap();
        c.shutdown().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"every byte");
        // A connect future dropped mid-handshake releases its socket.
        h.link_up(false);
        let before = h.client.with(|st, _| st.socket_count());
        assert!(!poll_once_and_drop(TcpStream::connect(
            &h.client,
            server_addr(18)
        )));
        assert_eq!(h.client.with(|st, _| st.socket_count()), before);
    });
}

#[test]
fn a_blocking_stream_becomes_an_async_one() {
    run(|| async {
        let h = hosts(39);
        let l = synfin::api::TcpListener::bind(&h.server, server_addr(19)).unwrap();
        let client = h.client.clone();
        let c = tokio::task::spawn_blocking(move || {
            synfin::api::TcpStream::connect(&client, server_addr(19)).unwrap()
        })
        .await
        .unwrap();
        let (s, _) = tokio::task::spawn_blocking(move || l.accept().unwrap())
            .await
            .unwrap();
        let clone = c.try_clone().unwrap();
        assert_eq!(
            TcpStream::from_std(clone).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        let mut c = TcpStream::from_std(c).unwrap();
        let mut s = TcpStream::from_std(s).unwrap();
        c.write_all(b"converted").await.unwrap();
        c.shutdown().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"converted");
    });
}
