//! Stack-level scenarios: IPv6, several local addresses, listener
//! demultiplexing (specific address before wildcard), bind conflicts and the
//! reuse-address option, ephemeral ports.

mod common;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::*;
use synfin::links::{HostId, LinkModel, Network};
use synfin::stack::{Error, Shutdown, SocketHandle, Stack, StackConfig};
use synfin::tcp::State;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Two hosts with the given addresses each.
fn hosts(a: &[IpAddr], b: &[IpAddr]) -> (Network<Stack>, HostId, HostId) {
    let mut net = Network::new(11);
    let mut sa_ = Stack::new(StackConfig::default(), 1);
    for &x in a {
        sa_.add_address(x);
    }
    let mut sb = Stack::new(StackConfig::default(), 2);
    for &x in b {
        sb.add_address(x);
    }
    let ha = net.add_host(a, sa_);
    let hb = net.add_host(b, sb);
    net.link(ha, hb, LinkModel::default());
    (net, ha, hb)
}

fn read_all(
    st: &mut Stack,
    now: synfin::time::Instant,
    h: SocketHandle,
    out: &mut Vec<u8>,
) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match st.recv(now, h, &mut buf) {
            Ok(0) => return true,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(Error::WouldBlock) => return false,
            Err(e) => panic!("recv: {e}"),
        }
    }
}

#[test]
fn ipv6_connection_lives_and_dies_like_ipv4() {
    let (mut net, c, s) = hosts(&[ip("2001:db8::1")], &[ip("2001:db8::2")]);
    net.enable_trace(true);
    let server = sa("[2001:db8::2]:443");
    let l = net.host_mut(s).listen(server, 4).unwrap();
    let now = net.now();
    let ch = net.host_mut(c).connect(now, server).unwrap();
    assert!(net.host(c).local_addr(ch).unwrap().is_ipv6());
    net.run_for(Duration::from_millis(20));
    let (sh, peer) = net.host_mut(s).accept(l).unwrap();
    assert_eq!(peer, net.host(c).local_addr(ch).unwrap());

    let data = pattern(50_000, 9);
    let mut sent = 0;
    let mut got = Vec::new();
    let deadline = net.now() + Duration::from_secs(10);
    while net.now() < deadline {
        let now = net.now();
        if sent < data.len() {
            sent += net.host_mut(c).send(now, ch, &data[sent..]).unwrap_or(0);
            if sent == data.len() {
                net.host_mut(c).shutdown(now, ch, Shutdown::Write).unwrap();
            }
        }
        if read_all(net.host_mut(s), now, sh, &mut got) {
            break;
        }
        net.run_for(Duration::from_millis(1));
    }
    assert!(got == data, "{} of {} bytes", got.len(), data.len());
    let now = net.now();
    net.host_mut(s).close(now, sh).unwrap();
    net.run_for(Duration::from_millis(20));
    assert_eq!(net.host(c).state(ch), Ok(State::TimeWait));
    // The TIME-WAIT record is an IPv6 one.
    let tw: Vec<_> = net
        .host(c)
        .time_wait_table()
        .iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(tw.len(), 1);
    assert!(tw[0].local().is_ipv6());
    // Every packet on the wire was IPv6 (version nibble 6).
    let trace = net.take_trace();
    assert!(!trace.is_empty());
    assert!(trace.iter().all(|r| r.bytes[0] >> 4 == 6));
    let now = net.now();
    net.host_mut(c).close(now, ch).unwrap();
    net.run_for(Duration::from_secs(61));
    assert_eq!(net.host(c).time_wait_count(), 0);
    assert_eq!(net.host(c).socket_count(), 0);
}

#[test]
fn specific_listener_wins_over_wildcard() {
    let (mut net, c, s) = hosts(&[ip("198.18.0.1")], &[ip("198.18.0.2"), ip("198.18.0.3")]);
    let st = net.host_mut(s);
    let wild = st.socket();
    st.set_reuse_address(wild, true).unwrap();
    st.bind(wild, sa("0.0.0.0:8080")).unwrap();
    st.listen_on(wild, 4).unwrap();
    // Without reuse-address a specific bind on the same port conflicts.
    let plain = st.socket();
    assert_eq!(st.bind(plain, sa("198.18.0.3:8080")), Err(Error::AddrInUse));
    let spec = st.socket();
    st.set_reuse_address(spec, true).unwrap();
    st.bind(spec, sa("198.18.0.3:8080")).unwrap();
    st.listen_on(spec, 4).unwrap();
    // The exact same address and port conflicts even with reuse-address.
    let dup = st.socket();
    st.set_reuse_address(dup, true).unwrap();
    assert_eq!(st.bind(dup, sa("198.18.0.3:8080")), Err(Error::AddrInUse));

    let now = net.now();
    let to_spec = net.host_mut(c).connect(now, sa("198.18.0.3:8080")).unwrap();
    let to_wild = net.host_mut(c).connect(now, sa("198.18.0.2:8080")).unwrap();
    net.run_for(Duration::from_millis(20));
    assert_eq!(net.host(c).state(to_spec), Ok(State::Established));
    assert_eq!(net.host(c).state(to_wild), Ok(State::Established));
    let (a, _) = net.host_mut(s).accept(spec).unwrap();
    let (b, _) = net.host_mut(s).accept(wild).unwrap();
    assert_eq!(net.host(s).local_addr(a), Ok(sa("198.18.0.3:8080")));
    assert_eq!(net.host(s).local_addr(b), Ok(sa("198.18.0.2:8080")));
    assert_eq!(net.host_mut(s).accept(spec), Err(Error::WouldBlock));
    assert_eq!(net.host_mut(s).accept(wild), Err(Error::WouldBlock));
}

#[test]
fn families_are_separate_port_spaces() {
    let (mut net, _c, s) = hosts(&[ip("198.18.0.1")], &[ip("198.18.0.2"), ip("2001:db8::2")]);
    let st = net.host_mut(s);
    st.listen(sa("0.0.0.0:9000"), 1).unwrap();
    st.listen(sa("[::]:9000"), 1).unwrap();
    assert_eq!(st.listen(sa("198.18.0.2:9000"), 1), Err(Error::AddrInUse));
    assert_eq!(
        st.listen(sa("198.18.0.9:9001"), 1),
        Err(Error::AddrNotAvailable)
    );
}

#[test]
fn connect_rejects_bad_destinations_without_side_effects() {
    let mut p = Pair::new(3, LinkModel::default());
    let now = p.now();
    let before = p.c().socket_count();
    assert_eq!(
        p.c().connect(now, sa("198.18.0.2:0")),
        Err(Error::InvalidInput)
    );
    assert_eq!(
        p.c().connect(now, sa("0.0.0.0:80")),
        Err(Error::InvalidInput)
    );
    // No IPv6 address on the client.
    assert_eq!(
        p.c().connect(now, sa("[2001:db8::2]:80")),
        Err(Error::AddrNotAvailable)
    );
    assert_eq!(p.c().socket_count(), before);
    let stale = p.c().connect(now, Pair::server_addr()).unwrap();
    p.c().abort(now, stale).unwrap();
    // Aborted, the handle stays valid but unconnected; closed, it is gone,
    // and the generation keeps a reused slot from answering to it.
    assert_eq!(p.c().send(now, stale, b"x"), Err(Error::NotConnected));
    p.c().close(now, stale).unwrap();
    let fresh = p.c().socket();
    assert_eq!(p.c().send(now, stale, b"x"), Err(Error::InvalidHandle));
    assert_eq!(p.c().state(fresh), Ok(State::Closed));
}

#[test]
fn ephemeral_ports_are_random_distinct_and_in_range() {
    let mut p = Pair::new(4, LinkModel::default());
    let _l = p.s().listen(Pair::server_addr(), 512).unwrap();
    let now = p.now();
    let mut ports = Vec::new();
    for _ in 0..400 {
        let h = p.c().connect(now, Pair::server_addr()).unwrap();
        ports.push(p.c().local_addr(h).unwrap().port());
    }
    let (lo, hi) = StackConfig::default().ephemeral_ports;
    assert!(ports.iter().all(|&x| (lo..=hi).contains(&x)));
    let distinct: HashSet<_> = ports.iter().collect();
    assert_eq!(
        distinct.len(),
        ports.len(),
        "a 4-tuple was handed out twice"
    );
    // RFC 6056: not sequential. Count consecutive pairs that differ by one.
    let sequential = ports
        .windows(2)
        .filter(|w| w[1] == w[0].wrapping_add(1))
        .count();
    assert!(
        sequential < ports.len() / 2,
        "{sequential} of {} steps were +1",
        ports.len()
    );
    // A different seed picks different ports.
    let mut q = Pair::new(5, LinkModel::default());
    let h = q.c().connect(now, Pair::server_addr()).unwrap();
    let other = q.c().local_addr(h).unwrap().port();
    let mut r = Pair::new(6, LinkModel::default());
    let h = r.c().connect(now, Pair::server_addr()).unwrap();
    assert_ne!(other, r.c().local_addr(h).unwrap().port());
}

#[test]
fn ephemeral_ports_run_out_cleanly() {
    let cfg = StackConfig {
        ephemeral_ports: (40000, 40009),
        ..StackConfig::default()
    };
    let mut p = Pair::with_config(8, LinkModel::default(), cfg);
    let now = p.now();
    for _ in 0..10 {
        p.c().connect(now, Pair::server_addr()).unwrap();
    }
    let before = p.c().socket_count();
    assert_eq!(
        p.c().connect(now, Pair::server_addr()),
        Err(Error::AddrNotAvailable)
    );
    assert_eq!(p.c().socket_count(), before);
    // Another destination has its own 4-tuples.
    let other = SocketAddr::new(ip(SERVER_IP), PORT + 1);
    assert!(p.c().connect(now, other).is_ok());
}
