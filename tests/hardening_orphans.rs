//! The cap on orphaned connections (`StackConfig::max_orphans`, Linux's
//! `tcp_max_orphans`): a server that closes connections whose peers never
//! close their side holds them in FIN-WAIT-2 until the timeout; past the cap,
//! the connection being closed is reset instead (the new orphan, as Linux
//! does), counted in `StackStats::orphans_reset`.

mod common;

use std::time::Duration;

use common::Pair;
use synfin::links::LinkModel;
use synfin::stack::{Error, SocketHandle, StackConfig};
use synfin::tcp::State;

/// `n` connections, established and accepted: (client, server) handles.
fn connections(p: &mut Pair, n: usize) -> Vec<(SocketHandle, SocketHandle)> {
    let l = p.s().listen(Pair::server_addr(), 64).unwrap();
    let now = p.now();
    let clients: Vec<_> = (0..n)
        .map(|_| p.c().connect(now, Pair::server_addr()).unwrap())
        .collect();
    let mut servers = Vec::new();
    p.run_until(Duration::from_secs(30), |p| {
        while let Ok((h, _)) = p.s().accept(l) {
            servers.push(h);
        }
        servers.len() == n
    });
    // Accept order follows the handshakes; pair them by address.
    let mut pairs = Vec::new();
    for &c in &clients {
        let local = p.c().local_addr(c).unwrap();
        let s = *servers
            .iter()
            .find(|&&s| p.s().peer_addr(s) == Ok(local))
            .unwrap();
        pairs.push((c, s));
    }
    let now = p.now();
    p.s().close(now, l).unwrap();
    pairs
}

fn config(max_orphans: usize) -> StackConfig {
    let mut cfg = StackConfig {
        max_orphans,
        ..StackConfig::default()
    };
    cfg.tcp.fin_wait2_timeout = Duration::from_secs(30);
    cfg
}

#[test]
fn past_the_cap_the_new_orphan_is_reset_and_counted() {
    let mut p = Pair::with_config(
        7,
        LinkModel::new().delay(Duration::from_millis(5)),
        config(3),
    );
    let pairs = connections(&mut p, 5);
    // The server closes all five; the clients never close theirs, so each
    // server side waits in FIN-WAIT-2 (an orphan).
    for (i, &(_, s)) in pairs.iter().enumerate() {
        let now = p.now();
        p.s().close(now, s).unwrap();
        p.run_for(Duration::from_millis(50));
        assert_eq!(p.s().orphan_count(), (i + 1).min(3), "after close {i}");
    }
    assert_eq!(p.s().stats().orphans_reset, 2);
    // The first three clients got the FIN (end-of-stream); the last two, a
    // reset.
    for (i, &(c, _)) in pairs.iter().enumerate() {
        let mut got = Vec::new();
        let r = p.drain(false, c, &mut got);
        if i < 3 {
            assert_eq!(r, Ok(true), "client {i} reads end-of-stream");
            assert_eq!(p.c().state(c), Ok(State::CloseWait));
        } else {
            assert_eq!(r, Err(Error::ConnectionReset), "client {i}");
        }
    }
    // The orphans end with the FIN-WAIT-2 timeout; below the cap again, a
    // close is graceful.
    p.run_for(Duration::from_secs(31));
    assert_eq!(p.s().orphan_count(), 0);
    assert_eq!(p.s().socket_count(), 0);
    let more = connections(&mut p, 1);
    let now = p.now();
    p.s().close(now, more[0].1).unwrap();
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.s().orphan_count(), 1);
    assert_eq!(p.s().stats().orphans_reset, 2);
}

#[test]
fn orphans_still_sending_count_and_a_reset_one_drops_its_queue() {
    // Orphans in FIN-WAIT-1 with data still queued (the peer's window is
    // closed: the client never reads) count as much as idle ones; the one
    // reset at the cap sends RST at once instead of its queue.
    let mut cfg = config(1);
    cfg.tcp.recv_buffer = 4096;
    cfg.tcp.recv_buffer_max = 4096;
    let mut p = Pair::with_config(8, LinkModel::new().delay(Duration::from_millis(5)), cfg);
    let pairs = connections(&mut p, 2);
    let now = p.now();
    for &(_, s) in &pairs {
        let n = p.s().send(now, s, &[7u8; 20_000]).unwrap();
        assert!(n > 4096);
    }
    p.run_for(Duration::from_millis(200));
    let now = p.now();
    p.s().close(now, pairs[0].1).unwrap();
    p.s().close(now, pairs[1].1).unwrap();
    assert_eq!(p.s().stats().orphans_reset, 1);
    p.run_for(Duration::from_millis(100));
    // The reset one left once its RST went out.
    assert_eq!(p.s().orphan_count(), 1);
    let mut got = Vec::new();
    assert_eq!(
        p.drain(false, pairs[1].0, &mut got),
        Err(Error::ConnectionReset)
    );
    // The first orphan still delivers everything once the client reads.
    let mut all = Vec::new();
    p.run_until(Duration::from_secs(60), |p| {
        p.drain(false, pairs[0].0, &mut all) == Ok(true)
    });
    assert_eq!(all.len(), 20_000);
}

#[test]
fn the_default_cap_is_generous() {
    assert_eq!(StackConfig::default().max_orphans, 16_384);
}
