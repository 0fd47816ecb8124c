//! The per-socket user timeout (`TCP_USER_TIMEOUT`; RFC 5482 §3 for the
//! local timeout, RFC 9293 §3.10.8 USER TIMEOUT): data, a SYN or window
//! probes left unacknowledged that long abort the connection with
//! `TimedOut`, whatever the retry count — on the sans-IO stack (virtual
//! time) and through the blocking and async socket APIs.

mod api_common;
mod common;

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use common::Pair;
use synfin::links::LinkModel;
use synfin::stack::{Error, StackConfig};
use synfin::tcp::State;

fn link() -> LinkModel {
    LinkModel::new().delay(Duration::from_millis(5))
}

fn partition(p: &mut Pair, up: bool) {
    let (a, b) = (p.client, p.server);
    for (x, y) in [(a, b), (b, a)] {
        let m = p.net.model_mut(x, y).unwrap();
        *m = m.clone().up(up);
    }
}

/// Sends into a partition and returns how long until `c` closed, and why.
fn time_to_give_up(p: &mut Pair, c: synfin::stack::SocketHandle) -> (Duration, Option<Error>) {
    partition(p, false);
    let start = p.now();
    p.c().send(start, c, b"into the void").unwrap();
    p.run_until(Duration::from_secs(3600), |p| {
        p.c().state(c) == Ok(State::Closed)
    });
    let took = p.now().saturating_duration_since(start);
    (took, p.c().socket_error(c).unwrap())
}

#[test]
fn a_socket_user_timeout_aborts_at_that_time_not_at_the_next_backoff() {
    let mut p = Pair::new(1, link());
    let (c, _s, _l) = p.establish();
    assert_eq!(p.c().user_timeout(c), Ok(None), "off by default");
    p.c()
        .set_user_timeout(c, Some(Duration::from_secs(3)))
        .unwrap();
    assert_eq!(p.c().user_timeout(c), Ok(Some(Duration::from_secs(3))));
    let (took, err) = time_to_give_up(&mut p, c);
    assert_eq!(err, Some(Error::TimedOut));
    // Counted from the first transmission; the last backed-off timeout is
    // cut short to end at 3 s (not at 0.2 + 0.4 + 0.8 + 1.6 + 3.2 s).
    assert!(
        took >= Duration::from_millis(2900) && took <= Duration::from_millis(3300),
        "{took:?}"
    );
}

#[test]
fn without_it_the_retry_limit_decides_and_reports_aborted() {
    let mut cfg = StackConfig::default();
    cfg.tcp.max_retries = 5;
    let mut p = Pair::with_config(2, link(), cfg);
    let (c, _s, _l) = p.establish();
    let (took, err) = time_to_give_up(&mut p, c);
    assert_eq!(err, Some(Error::ConnectionAborted));
    assert!(took > Duration::from_secs(5), "{took:?}");
}

#[test]
fn none_overrides_the_stack_default_for_one_socket() {
    let mut cfg = StackConfig::default();
    cfg.tcp.max_retries = 5;
    cfg.tcp.user_timeout = Some(Duration::from_secs(1));
    let mut p = Pair::with_config(3, link(), cfg);
    let (c, _s, _l) = p.establish();
    assert_eq!(p.c().user_timeout(c), Ok(Some(Duration::from_secs(1))));
    p.c().set_user_timeout(c, None).unwrap();
    assert_eq!(p.c().user_timeout(c), Ok(None));
    let (took, err) = time_to_give_up(&mut p, c);
    assert_eq!(
        err,
        Some(Error::ConnectionAborted),
        "the retry limit ended it"
    );
    assert!(took > Duration::from_secs(5), "{took:?}");
    // A zero timeout is an error (as std's socket timeouts), not "off".
    let c2 = p.c().socket();
    assert_eq!(
        p.c().set_user_timeout(c2, Some(Duration::ZERO)),
        Err(Error::InvalidInput)
    );
}

#[test]
fn set_before_connect_it_bounds_the_syn_retries() {
    let mut p = Pair::new(4, link());
    partition(&mut p, false);
    let h = p.c().socket();
    p.c()
        .set_user_timeout(h, Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(p.c().user_timeout(h), Ok(Some(Duration::from_secs(5))));
    let start = p.now();
    p.c().connect_from(start, h, Pair::server_addr()).unwrap();
    assert_eq!(p.c().user_timeout(h), Ok(Some(Duration::from_secs(5))));
    p.run_until(Duration::from_secs(600), |p| {
        p.c().state(h) == Ok(State::Closed)
    });
    let took = p.now().saturating_duration_since(start);
    // Six SYN retries would take 127 s.
    assert!(took <= Duration::from_millis(5300), "{took:?}");
    assert_eq!(p.c().socket_error(h), Ok(Some(Error::TimedOut)));
}

#[test]
fn accepted_connections_inherit_the_listeners() {
    let mut p = Pair::new(5, link());
    let l = p.s().socket();
    p.s().bind(l, Pair::server_addr()).unwrap();
    p.s()
        .set_user_timeout(l, Some(Duration::from_secs(2)))
        .unwrap();
    p.s().listen_on(l, 4).unwrap();
    assert_eq!(p.s().user_timeout(l), Ok(Some(Duration::from_secs(2))));
    let (c, s) = p.connect_accept(l, Duration::from_secs(10));
    assert_eq!(p.s().user_timeout(s), Ok(Some(Duration::from_secs(2))));
    assert_eq!(p.c().user_timeout(c), Ok(None));
    partition(&mut p, false);
    let start = p.now();
    p.s().send(start, s, b"to a vanished client").unwrap();
    p.run_until(Duration::from_secs(60), |p| {
        p.s().state(s) == Ok(State::Closed)
    });
    assert!(p.now().saturating_duration_since(start) <= Duration::from_millis(2300));
    assert_eq!(p.s().socket_error(s), Ok(Some(Error::TimedOut)));
}

#[test]
fn it_bounds_window_probes_nobody_answers() {
    // The server never reads, so its window closes and the client probes;
    // then the server vanishes. Without a user timeout 15 unanswered probes
    // end it as ConnectionAborted; with one, TimedOut.
    let mut cfg = StackConfig::default();
    cfg.tcp.recv_buffer = 4096;
    cfg.tcp.recv_buffer_max = 4096;
    let mut p = Pair::with_config(6, link(), cfg);
    let (c, _s, _l) = p.establish();
    p.c()
        .set_user_timeout(c, Some(Duration::from_secs(20)))
        .unwrap();
    let now = p.now();
    p.c().send(now, c, &[1u8; 20_000]).unwrap();
    p.run_for(Duration::from_secs(2));
    assert!(
        p.c().send_queue_len(c).unwrap() > 10_000,
        "the window closed"
    );
    partition(&mut p, false);
    let start = p.now();
    p.run_until(Duration::from_secs(3600), |p| {
        p.c().state(c) == Ok(State::Closed)
    });
    let took = p.now().saturating_duration_since(start);
    assert_eq!(p.c().socket_error(c), Ok(Some(Error::TimedOut)), "{took:?}");
    assert!(took <= Duration::from_secs(120), "{took:?}");
}

// ---- the socket APIs (real time; timers from api_common::quick_config) ----

#[test]
fn blocking_api_sets_gets_and_times_out() {
    use synfin::api::{TcpListener, TcpSocket};
    api_common::with_watchdog(|| {
        let h = api_common::hosts(31);
        let sock = TcpSocket::new(&h.server).unwrap();
        sock.set_user_timeout(Some(Duration::from_millis(150)))
            .unwrap();
        assert_eq!(
            sock.user_timeout().unwrap(),
            Some(Duration::from_millis(150))
        );
        sock.bind(api_common::server_addr(40)).unwrap();
        let l: TcpListener = sock.listen(4).unwrap();
        let mut c =
            synfin::api::TcpStream::connect(&h.client, api_common::server_addr(40)).unwrap();
        let (s, _) = l.accept().unwrap();
        assert_eq!(s.user_timeout().unwrap(), Some(Duration::from_millis(150)));
        assert_eq!(c.user_timeout().unwrap(), None);
        c.set_user_timeout(Some(Duration::from_millis(150)))
            .unwrap();
        assert_eq!(c.user_timeout().unwrap(), Some(Duration::from_millis(150)));
        // quick_config's retry limit alone would end it as ConnectionAborted.
        h.link_up(false);
        c.write_all(b"into the void").unwrap();
        let e = c.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
    });
}

#[test]
fn async_api_sets_gets_and_times_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    api_common::with_watchdog(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async {
                let h = api_common::hosts(32);
                let l =
                    synfin::api::tokio::TcpListener::bind(&h.server, api_common::server_addr(41))
                        .await
                        .unwrap();
                let mut c =
                    synfin::api::tokio::TcpStream::connect(&h.client, api_common::server_addr(41))
                        .await
                        .unwrap();
                let (_s, _) = l.accept().await.unwrap();
                assert_eq!(c.user_timeout().unwrap(), None);
                c.set_user_timeout(Some(Duration::from_millis(150)))
                    .unwrap();
                assert_eq!(c.user_timeout().unwrap(), Some(Duration::from_millis(150)));
                h.link_up(false);
                c.write_all(b"into the void").await.unwrap();
                let e = c.read(&mut [0u8; 8]).await.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::TimedOut);
            })
    });
}
