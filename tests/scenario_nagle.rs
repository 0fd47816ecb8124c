//! Nagle's algorithm as synfin runs it (RFC 9293 §3.7.4, in Minshall's
//! variant as Linux runs it): a short segment waits only while an earlier
//! short segment is unacknowledged, so the tail of a write just over the MSS
//! goes at once, while small writes in a row still coalesce.

mod common;

use std::time::Duration;

use common::*;
use synfin::links::LinkModel;
use synfin::stack::StackConfig;
use synfin::time::Instant;

/// The data segments the client sent since the last call: (when, length).
fn client_data(p: &mut Pair) -> Vec<(Instant, usize)> {
    p.segments()
        .iter()
        .filter(|w| w.from_client && w.len > 0)
        .map(|w| (w.sent_at, w.len))
        .collect()
}

/// What the server reads on `s` until `n` bytes have come (at most 1 s of
/// virtual time).
fn received(p: &mut Pair, s: synfin::stack::SocketHandle, n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    p.run_until(Duration::from_secs(1), |p| {
        p.drain(true, s, &mut got).unwrap();
        got.len() >= n
    });
    got
}

/// Three writes of 10 bytes, 1 ms apart (each has left, if it may, before
/// the next; the round trip is 10 ms).
fn write_1ms_apart(p: &mut Pair, c: synfin::stack::SocketHandle) {
    for chunk in [b"aaaaaaaaaa", b"bbbbbbbbbb", b"cccccccccc"] {
        let now = p.now();
        assert_eq!(p.c().send(now, c, chunk), Ok(10));
        p.run_for(Duration::from_millis(1));
    }
}

fn pair() -> Pair {
    // 5 ms each way; the delayed ACK (40 ms by default) is far longer than
    // the round trip, so any wait for it shows.
    let cfg = StackConfig::default();
    assert!(cfg.tcp.delayed_ack >= Duration::from_millis(40));
    Pair::with_config(7, LinkModel::default().delay(Duration::from_millis(5)), cfg)
}

/// A request of one MSS and 12 bytes: both segments leave together and the
/// server has all of it one trip later. Classic Nagle held the 12 bytes for
/// the ACK of the full segment, which the server delays (it may hold the ACK
/// of a single full segment, RFC 1122 §4.2.3.2): a 40 ms stall per request.
#[test]
fn the_tail_of_a_write_just_over_the_mss_goes_at_once() {
    let mut p = pair();
    p.trace();
    let (c, s, _l) = p.establish();
    p.segments();
    let mss = 1448; // 1500 - 20 (IP) - 20 (TCP) - 12 (timestamps)
    let data = vec![7u8; mss + 12];
    let t0 = p.now();
    assert_eq!(p.c().send(t0, c, &data), Ok(data.len()));
    let got = received(&mut p, s, data.len());
    assert_eq!(got, data);
    assert!(
        p.now() < t0 + Duration::from_millis(20),
        "all of it after {:?} (one trip is 5 ms)",
        p.now() - t0
    );
    let segs = client_data(&mut p);
    assert_eq!(
        segs.iter().map(|&(_, n)| n).collect::<Vec<_>>(),
        [mss, 12],
        "{segs:?}"
    );
    assert_eq!(segs[0].0, segs[1].0, "sent together: {segs:?}");
}

/// Small writes in a row: the first goes at once; the next two wait behind
/// it (a short segment is in flight) and leave as one segment when its ACK
/// comes back.
#[test]
fn small_writes_behind_a_small_segment_in_flight_coalesce() {
    let mut p = pair();
    p.trace();
    let (c, s, _l) = p.establish();
    p.segments();
    write_1ms_apart(&mut p, c);
    let got = received(&mut p, s, 30);
    assert_eq!(&got[..], b"aaaaaaaaaabbbbbbbbbbcccccccccc");
    let segs = client_data(&mut p);
    assert_eq!(
        segs.iter().map(|&(_, n)| n).collect::<Vec<_>>(),
        [10, 20],
        "{segs:?}"
    );
    assert!(
        segs[1].0 - segs[0].0 >= Duration::from_millis(10),
        "the second waited for the ACK of the first: {segs:?}"
    );
}

/// With `nodelay` nothing waits: three small writes are three segments,
/// each as it is written.
#[test]
fn nodelay_sends_every_small_write_at_once() {
    let mut cfg = StackConfig::default();
    cfg.tcp.nodelay = true;
    let mut p = Pair::with_config(7, LinkModel::default().delay(Duration::from_millis(5)), cfg);
    p.trace();
    let (c, s, _l) = p.establish();
    p.segments();
    write_1ms_apart(&mut p, c);
    let got = received(&mut p, s, 30);
    assert_eq!(&got[..], b"aaaaaaaaaabbbbbbbbbbcccccccccc");
    let segs = client_data(&mut p);
    assert_eq!(
        segs.iter().map(|&(_, n)| n).collect::<Vec<_>>(),
        [10, 10, 10],
        "{segs:?}"
    );
    assert!(
        segs[2].0 - segs[0].0 <= Duration::from_millis(2),
        "{segs:?}"
    );
}
