//! Socket options on the sans-IO stack: linger in its three modes,
//! keep-alive, and the one-shot pending error.

mod common;

use std::time::Duration;

use common::*;
use synfin::links::LinkModel;
use synfin::stack::{Error, Event, StackConfig};
use synfin::tcp::{State, TcpConfig};
use synfin::wire::TcpFlags;

fn events_for(p: &mut Pair, server_side: bool) -> Vec<(synfin::stack::SocketHandle, Event)> {
    let st = if server_side { p.s() } else { p.c() };
    std::iter::from_fn(|| st.poll_event()).collect()
}

#[test]
fn linger_zero_aborts_without_time_wait() {
    let mut p = Pair::new(21, LinkModel::default());
    let (c, s, _l) = p.establish();
    p.trace();
    let now = p.now();
    p.c().send(now, c, b"never read by anyone").unwrap();
    p.c().set_linger(c, Some(Duration::ZERO)).unwrap();
    assert_eq!(p.c().close(now, c), Ok(()));
    p.run_for(Duration::from_millis(20));
    let segs = p.segments();
    let rst: Vec<_> = segs
        .iter()
        .filter(|s| s.from_client && s.has(TcpFlags::RST))
        .collect();
    assert_eq!(rst.len(), 1, "{segs:?}");
    // The queued data was discarded, not sent ahead of the RST.
    assert!(
        segs.iter().all(|s| !s.from_client || s.len == 0),
        "{segs:?}"
    );
    assert_eq!(p.c().time_wait_count(), 0);
    assert_eq!(p.c().socket_count(), 0);
    let mut buf = [0u8; 64];
    let now = p.now();
    assert_eq!(p.s().recv(now, s, &mut buf), Err(Error::ConnectionReset));
}

#[test]
fn linger_waits_for_acknowledgment_then_closes() {
    let mut p = Pair::new(22, LinkModel::new().delay(Duration::from_millis(10)));
    let (c, s, _l) = p.establish();
    let data = pattern(20_000, 1);
    let now = p.now();
    assert_eq!(p.c().send(now, c, &data), Ok(data.len()));
    p.c().set_linger(c, Some(Duration::from_secs(5))).unwrap();
    assert_eq!(p.c().linger(c), Ok(Some(Duration::from_secs(5))));
    // Nothing is acknowledged yet: the close has to wait.
    assert_eq!(p.c().close(now, c), Err(Error::WouldBlock));
    assert_eq!(p.c().state(c), Ok(State::FinWait1));
    let mut got = Vec::new();
    let mut closed_event = false;
    p.run_until(Duration::from_secs(3), |p| {
        let _ = p.drain(true, s, &mut got);
        closed_event |= events_for(p, false).contains(&(c, Event::Closed));
        closed_event
    });
    assert!(got == data[..got.len()]);
    let now = p.now();
    assert_eq!(p.c().close(now, c), Ok(()));
    assert_eq!(p.c().state(c), Err(Error::InvalidHandle));
    // The connection goes on to its normal end in the background.
    p.run_until(Duration::from_secs(3), |p| {
        p.drain(true, s, &mut got) == Ok(true)
    });
    assert!(got == data);
}

#[test]
fn linger_expiry_resets_and_reports_timeout() {
    // The server never reads and its window is small, so the client's data
    // cannot all be acknowledged.
    let cfg = StackConfig {
        tcp: TcpConfig {
            recv_buffer: 4096,
            send_buffer: 65536,
            // Fixed queues: no auto-tuning.
            recv_buffer_max: 4096,
            send_buffer_max: 65536,
            ..TcpConfig::default()
        },
        ..StackConfig::default()
    };
    let mut p = Pair::with_config(23, LinkModel::default(), cfg);
    let (c, _s, _l) = p.establish();
    let now = p.now();
    let n = p.c().send(now, c, &pattern(30_000, 2)).unwrap();
    assert_eq!(n, 30_000);
    p.c().set_linger(c, Some(Duration::from_secs(2))).unwrap();
    assert_eq!(p.c().close(now, c), Err(Error::WouldBlock));
    p.trace();
    p.run_for(Duration::from_millis(1900));
    let now = p.now();
    assert_eq!(
        p.c().close(now, c),
        Err(Error::WouldBlock),
        "still within the linger time"
    );
    p.run_for(Duration::from_millis(200));
    let segs = p.segments();
    assert!(
        segs.iter().any(|s| s.from_client && s.has(TcpFlags::RST)),
        "{segs:?}"
    );
    assert!(events_for(&mut p, false).contains(&(c, Event::Closed)));
    let now = p.now();
    assert_eq!(p.c().close(now, c), Err(Error::TimedOut));
    assert_eq!(p.c().socket_count(), 0);
    assert_eq!(p.c().time_wait_count(), 0);
}

#[test]
fn keepalive_drops_a_vanished_peer() {
    let tcp = TcpConfig {
        keepalive_idle: Duration::from_secs(10),
        keepalive_interval: Duration::from_secs(2),
        keepalive_probes: 3,
        ..TcpConfig::default()
    };
    let mut p = Pair::with_config(
        24,
        LinkModel::default(),
        StackConfig {
            tcp,
            ..StackConfig::default()
        },
    );
    let (c, _s, _l) = p.establish();
    let now = p.now();
    p.c().set_keepalive(now, c, true).unwrap();
    p.trace();
    // Idle, with the peer answering: probes get ACKs, nothing fails.
    p.run_for(Duration::from_secs(25));
    let segs = p.segments();
    let probes = segs
        .iter()
        .filter(|s| s.from_client && s.len == 0 && s.has(TcpFlags::ACK))
        .count();
    assert!(probes >= 2, "{segs:?}");
    assert!(
        segs.iter().any(|s| !s.from_client),
        "the peer answers probes"
    );
    assert_eq!(p.c().state(c), Ok(State::Established));
    // The peer disappears.
    let (client, server) = (p.client, p.server);
    p.net.model_mut(server, client).unwrap().up = false;
    p.net.model_mut(client, server).unwrap().up = false;
    let last_heard = segs
        .iter()
        .filter(|s| !s.from_client)
        .map(|s| s.sent_at)
        .max()
        .unwrap();
    p.run_until(Duration::from_secs(30), |p| {
        p.c().state(c) == Ok(State::Closed)
    });
    let closed_at = p.now();
    // Idle is measured from the last segment heard (as Linux does), then
    // `keepalive_probes` unanswered probes `keepalive_interval` apart, and
    // one more interval for the last of them.
    let mut probes: Vec<_> = p.segments().into_iter().filter(|s| s.from_client).collect();
    // Giving up resets the peer, as Linux does, in case it is still there.
    let rst = probes.pop().unwrap();
    assert!(
        rst.has(TcpFlags::RST) && rst.sent_at == closed_at,
        "{rst:?}"
    );
    assert_eq!(probes.len(), 3, "{probes:?}");
    // A probe is SEG.SEQ = SND.NXT - 1 with no data (RFC 9293 §3.8.4).
    assert!(probes
        .iter()
        .all(|s| s.len == 0 && s.seq.wrapping_add(1) == rst.seq));
    let first = probes[0].sent_at - last_heard;
    assert!(
        first >= Duration::from_secs(10) && first <= Duration::from_millis(10_100),
        "{first:?}"
    );
    for w in probes.windows(2) {
        assert_eq!(w[1].sent_at - w[0].sent_at, Duration::from_secs(2));
    }
    assert_eq!(closed_at - probes[2].sent_at, Duration::from_secs(2));
    let mut buf = [0u8; 8];
    let now = p.now();
    assert_eq!(p.c().recv(now, c, &mut buf), Err(Error::TimedOut));
}

#[test]
fn keepalive_is_off_by_default() {
    let mut p = Pair::new(25, LinkModel::default());
    let (_c, _s, _l) = p.establish();
    p.trace();
    p.run_for(Duration::from_secs(3 * 3600));
    assert!(
        p.segments().is_empty(),
        "an idle connection without keep-alive is silent"
    );
}

#[test]
fn pending_error_is_reported_once() {
    let mut p = Pair::new(26, LinkModel::default());
    let (c, s, _l) = p.establish();
    let now = p.now();
    assert_eq!(p.c().take_error(c), Ok(None));
    p.s().abort(now, s).unwrap();
    p.run_for(Duration::from_millis(10));
    assert_eq!(p.c().take_error(c), Ok(Some(Error::ConnectionReset)));
    assert_eq!(p.c().take_error(c), Ok(None));
    // Reads keep saying why.
    let mut buf = [0u8; 8];
    let now = p.now();
    assert_eq!(p.c().recv(now, c, &mut buf), Err(Error::ConnectionReset));
    assert_eq!(p.c().recv(now, c, &mut buf), Err(Error::ConnectionReset));
}

#[test]
fn linger_rejects_absurd_durations() {
    let mut p = Pair::new(27, LinkModel::default());
    let h = p.c().socket();
    assert_eq!(
        p.c().set_linger(h, Some(Duration::from_secs(u64::MAX))),
        Err(Error::InvalidInput)
    );
    assert_eq!(p.c().linger(h), Ok(None));
}
