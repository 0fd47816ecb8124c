//! Per-socket IP header fields and SYN shaping over the simulated link:
//! `IP_TOS`/`IPV6_TCLASS` (`Stack::set_tos`), `IP_TTL`/`IPV6_UNICAST_HOPS`
//! (`Stack::set_hop_limit`), `TCP_NOOPT` (`Stack::set_no_options`),
//! `TCP_KEEPINIT` (`Stack::set_keepinit`) and the stack-wide
//! `TcpConfig::syn_rexmit_drop_options` (FreeBSD's `rexmit_drop_options`).

mod common;

use std::time::Duration;

use common::*;
use synfin::links::{Fault, LinkModel};
use synfin::stack::{Error, StackConfig};
use synfin::tcp::State;
use synfin::wire::{self, TcpFlags};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Accepts from `l` once the final ACK has arrived.
fn accept(p: &mut Pair, l: synfin::stack::SocketHandle) -> synfin::stack::SocketHandle {
    let mut got = None;
    p.run_until(secs(2), |p| {
        got = p.s().accept(l).ok();
        got.is_some()
    });
    got.unwrap().0
}

/// (from client, flags, DSCP, hop limit, options) of every packet recorded.
fn ip_trace(p: &mut Pair) -> Vec<(bool, TcpFlags, u8, u8, wire::TcpOptions)> {
    let client = p.client;
    p.net
        .take_trace()
        .into_iter()
        .filter_map(|r| {
            let pk = wire::parse_tcp_packet(&r.bytes).ok()?;
            Some((
                r.from == client,
                pk.tcp.flags,
                pk.ip.dscp,
                pk.ip.hop_limit,
                pk.tcp.options,
            ))
        })
        .collect()
}

/// The listener's TOS and hop limit go on its SYN-ACK and on everything
/// the accepted connection sends; the client's own on its SYN and data;
/// changed on a connection, they apply from the next segment. A RST for a
/// bound, not listening port carries the bound socket's fields.
#[test]
fn tos_and_hop_limit_follow_the_socket() {
    let mut p = Pair::new(81, LinkModel::default());
    p.trace();
    let l = p.s().socket();
    p.s().set_tos(l, 0x20).unwrap(); // CS1
    p.s().set_hop_limit(l, Some(7)).unwrap();
    p.s().bind(l, Pair::server_addr()).unwrap();

    // Bound, not listening: the RST answering a SYN is the socket's.
    let now = p.now();
    let probe = p.c().connect(now, Pair::server_addr()).unwrap();
    p.run_for(ms(50));
    assert_eq!(p.c().state(probe), Ok(State::Closed));
    let t = ip_trace(&mut p);
    let rst = t
        .iter()
        .find(|x| !x.0 && x.1.contains(TcpFlags::RST))
        .unwrap();
    assert_eq!((rst.2, rst.3), (8, 7), "{t:?}");

    p.s().listen_on(l, 4).unwrap();
    let c = p.c().socket();
    p.c().set_tos(c, 0xe3).unwrap(); // CS7; the ECN bits are not ours
    assert_eq!(p.c().tos(c), Ok(0xe0));
    assert_eq!(p.c().hop_limit(c), Ok(64));
    let now = p.now();
    p.c().connect_from(now, c, Pair::server_addr()).unwrap();
    p.run_until(secs(2), |p| p.c().state(c) == Ok(State::Established));
    let s = accept(&mut p, l);
    assert_eq!(p.s().tos(s), Ok(0x20));
    assert_eq!(p.s().hop_limit(s), Ok(7));
    let now = p.now();
    p.s().send(now, s, b"hello").unwrap();
    p.c().send(now, c, b"world").unwrap();
    p.run_for(ms(200));
    let t = ip_trace(&mut p);
    assert!(t.iter().any(|x| x.1.contains(TcpFlags::SYN) && !x.0));
    for (from_client, flags, dscp, hop, _) in &t {
        let want = if *from_client { (0x38, 64) } else { (8, 7) };
        assert_eq!((*dscp, *hop), want, "{flags:?} from client {from_client}");
    }

    // On a connection: from the next segment on.
    p.s().set_tos(s, 0).unwrap();
    p.s().set_hop_limit(s, None).unwrap();
    let now = p.now();
    p.s().send(now, s, b"again").unwrap();
    p.run_for(ms(200));
    let t = ip_trace(&mut p);
    let data = t.iter().find(|x| !x.0).unwrap();
    assert_eq!((data.2, data.3), (0, 64));
    assert_eq!(p.s().set_hop_limit(s, Some(0)), Err(Error::InvalidInput));
}

/// `TCP_NOOPT` on a client: its SYN carries no option at all, so nothing
/// is negotiated and the server sends segments of the default MSS (RFC 9293
/// §3.7.1: 536 for IPv4). On a listener: its SYN-ACK carries none either.
#[test]
fn no_options_sends_bare_syns_and_negotiates_nothing() {
    for on_listener in [false, true] {
        let mut p = Pair::new(82, LinkModel::default());
        p.trace();
        let l = p.s().socket();
        p.s().bind(l, Pair::server_addr()).unwrap();
        if on_listener {
            p.s().set_no_options(l, true).unwrap();
            assert_eq!(p.s().no_options(l), Ok(true));
        }
        p.s().listen_on(l, 4).unwrap();
        let c = p.c().socket();
        if !on_listener {
            p.c().set_no_options(c, true).unwrap();
        }
        let now = p.now();
        p.c().connect_from(now, c, Pair::server_addr()).unwrap();
        p.run_until(secs(2), |p| p.c().state(c) == Ok(State::Established));
        let s = accept(&mut p, l);
        let t = ip_trace(&mut p);
        let bare_from_client = !on_listener;
        let syn = t
            .iter()
            .find(|x| x.0 == bare_from_client && x.1.contains(TcpFlags::SYN))
            .unwrap();
        assert_eq!(syn.4, wire::TcpOptions::default(), "{t:?}");
        for h in [(true, c), (false, s)] {
            let st = if h.0 { p.c() } else { p.s() };
            let n = st.connection(h.1).unwrap().negotiated();
            assert!(
                !n.timestamps && !n.window_scaling && !n.sack_permitted,
                "{n:?}"
            );
        }
        // The side that sent no MSS is sent 536-byte segments.
        let (sender, receiver) = if on_listener { (c, s) } else { (s, c) };
        let now = p.now();
        let data = pattern(3000, 1);
        if on_listener {
            p.c().send(now, sender, &data).unwrap();
        } else {
            p.s().send(now, sender, &data).unwrap();
        }
        p.run_for(ms(500));
        let mut got = Vec::new();
        p.drain(on_listener, receiver, &mut got).unwrap();
        assert_eq!(got, data);
        let segs = p.segments();
        let sizes: Vec<usize> = segs
            .iter()
            .filter(|x| x.from_client == on_listener && x.len > 0)
            .map(|x| x.len)
            .collect();
        assert!(
            sizes.iter().all(|&n| n <= 536) && sizes.contains(&536),
            "{sizes:?}"
        );
    }
}

/// `TCP_KEEPINIT` ends a connect to a silent host at the bound, before the
/// SYN retries run out; the stack's default applies to sockets that do not
/// set it, and a connected socket cannot change it.
#[test]
fn keepinit_bounds_connection_establishment() {
    let mut cfg = StackConfig::default();
    cfg.tcp.keepinit = Some(secs(100));
    let mut p = Pair::with_config(83, LinkModel::default(), cfg);
    p.trace();
    let c = p.c().socket();
    assert_eq!(p.c().keepinit(c), Ok(Some(secs(100))));
    p.c().set_keepinit(c, Some(secs(5))).unwrap();
    assert_eq!(p.c().keepinit(c), Ok(Some(secs(5))));
    let (client, server) = (p.client, p.server);
    p.net.script(client, server, [Fault::Drop; 10]);
    let start = p.now();
    p.c().connect_from(start, c, Pair::server_addr()).unwrap();
    assert_eq!(p.c().set_keepinit(c, None), Err(Error::AlreadyConnected));
    p.run_until(secs(60), |p| p.c().state(c) == Ok(State::Closed));
    let took = p.now() - start;
    assert!(took >= secs(5) && took < secs(5) + ms(10), "{took:?}");
    assert_eq!(p.c().take_error(c), Ok(Some(Error::TimedOut)));
    // 1 s initial RTO: SYNs at 0, 1 and 3 s; the next would be at 7 s.
    let syns = ip_trace(&mut p)
        .iter()
        .filter(|x| x.0 && x.1.contains(TcpFlags::SYN))
        .count();
    assert_eq!(syns, 3);
}

/// A connection that gets through keeps no deadline: it outlives
/// `TCP_KEEPINIT` once established.
#[test]
fn keepinit_does_not_touch_an_established_connection() {
    let mut p = Pair::new(84, LinkModel::default());
    let c = p.c().socket();
    p.c().set_keepinit(c, Some(secs(2))).unwrap();
    let l = p.s().listen(Pair::server_addr(), 4).unwrap();
    let now = p.now();
    p.c().connect_from(now, c, Pair::server_addr()).unwrap();
    p.run_until(secs(1), |p| p.c().state(c) == Ok(State::Established));
    p.run_for(secs(10));
    assert_eq!(p.c().state(c), Ok(State::Established));
    accept(&mut p, l);
}

/// `syn_rexmit_drop_options`: the SYN and its first two retransmissions
/// offer window scaling, SACK and timestamps; the third and later offer the
/// MSS alone — and what the answering SYN-ACK then negotiates follows that
/// last offer, not the stack's defaults.
#[test]
fn third_syn_retransmission_drops_the_options() {
    let mut cfg = StackConfig::default();
    cfg.tcp.syn_rexmit_drop_options = true;
    let mut p = Pair::with_config(85, LinkModel::default(), cfg);
    p.trace();
    let (client, server) = (p.client, p.server);
    p.net.script(client, server, [Fault::Drop; 4]);
    let l = p.s().listen(Pair::server_addr(), 4).unwrap();
    let now = p.now();
    let c = p.c().connect(now, Pair::server_addr()).unwrap();
    p.run_until(secs(30), |p| p.c().state(c) == Ok(State::Established));
    accept(&mut p, l);
    let syns: Vec<_> = ip_trace(&mut p)
        .into_iter()
        .filter(|x| x.0 && x.1 == TcpFlags::SYN)
        .map(|x| x.4)
        .collect();
    assert_eq!(syns.len(), 5);
    for (i, o) in syns.iter().enumerate() {
        assert!(o.mss.is_some());
        let full = o.window_scale.is_some() && o.sack_permitted && o.timestamps.is_some();
        let bare = o.window_scale.is_none() && !o.sack_permitted && o.timestamps.is_none();
        assert!(if i < 3 { full } else { bare }, "SYN {i}: {o:?}");
    }
    let n = p.c().connection(c).unwrap().negotiated();
    assert!(
        !n.timestamps && !n.window_scaling && !n.sack_permitted,
        "{n:?}"
    );
}
