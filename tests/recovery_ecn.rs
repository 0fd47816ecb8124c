//! ECN (RFC 3168) in the simulator: the handshake each way and against a
//! peer without ECN, which segments go out ECT(0), the receiver's echo of a
//! CE mark until CWR, the sender's single window reduction per window of
//! data without a retransmission, and a bulk transfer through a marking AQM
//! with no retransmission at all.

mod common;
#[path = "common/open.rs"]
mod open;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use synfin::links::{Fault, LinkModel};
use synfin::stack::{SocketHandle, Stack, StackConfig};
use synfin::tcp::{EcnMode, TcpConfig};
use synfin::wire::{self, Ecn, SeqNum, TcpFlags, TcpOptions, TcpRepr};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cfg(ecn: EcnMode) -> StackConfig {
    StackConfig {
        tcp: TcpConfig {
            ecn,
            ..TcpConfig::default()
        },
        ..StackConfig::default()
    }
}

/// A pair whose client and server have their own ECN modes.
fn pair(seed: u64, model: LinkModel, client: EcnMode, server: EcnMode) -> Pair {
    let mut p = Pair::with_config(seed, model, cfg(client));
    p.s().config_mut().tcp.ecn = server;
    p
}

fn path() -> LinkModel {
    LinkModel::default().delay(ms(10))
}

const ECE: TcpFlags = TcpFlags::ECE;
const CWR: TcpFlags = TcpFlags::CWR;

/// Client asks, server accepts (the default mode): SYN with ECE+CWR, SYN-ACK
/// with ECE only, neither ECT; then data goes ECT(0) and pure ACKs do not.
#[test]
fn negotiated_when_asked_and_accepted() {
    let mut p = pair(1, path(), EcnMode::On, EcnMode::Passive);
    p.trace();
    let (c, s, _) = p.establish();
    assert!(p.c().connection(c).unwrap().ecn_enabled());
    assert!(p.s().connection(s).unwrap().ecn_enabled());
    p.transfer(c, s, &pattern(20_000, 1), Duration::from_secs(5));
    let segs = p.segments();
    let syn = &segs[0];
    assert!(syn.is(TcpFlags::SYN | ECE | CWR), "ECN-setup SYN: {syn:?}");
    assert_eq!(syn.ecn, Ecn::NotEct, "§6.1.1: a SYN is not ECT");
    let syn_ack = &segs[1];
    assert!(
        syn_ack.is(TcpFlags::SYN | TcpFlags::ACK | ECE),
        "{syn_ack:?}"
    );
    assert_eq!(syn_ack.ecn, Ecn::NotEct);
    let data: Vec<_> = segs.iter().filter(|s| s.from_client && s.len > 0).collect();
    assert!(data.len() >= 10);
    assert!(
        data.iter().all(|s| s.ecn == Ecn::Ect0),
        "new data is ECT(0)"
    );
    let acks: Vec<_> = segs[2..].iter().filter(|s| s.len == 0).collect();
    assert!(!acks.is_empty());
    assert!(
        acks.iter().all(|s| s.ecn == Ecn::NotEct && !s.has(ECE)),
        "pure ACKs are not ECT, and nothing was marked"
    );
}

/// A server that does not do ECN answers with a plain SYN-ACK: both sides
/// run without ECN and the data is not ECT.
#[test]
fn peer_without_ecn_falls_back() {
    let mut p = pair(2, path(), EcnMode::On, EcnMode::Off);
    p.trace();
    let (c, s, _) = p.establish();
    assert!(!p.c().connection(c).unwrap().ecn_enabled());
    assert!(!p.s().connection(s).unwrap().ecn_enabled());
    let st = p.transfer(c, s, &pattern(20_000, 2), Duration::from_secs(5));
    assert_eq!(st.retransmits, 0);
    let segs = p.segments();
    assert!(segs[0].is(TcpFlags::SYN | ECE | CWR));
    assert!(segs[1].is(TcpFlags::SYN | TcpFlags::ACK), "{:?}", segs[1]);
    assert!(segs.iter().all(
        |s| s.ecn == Ecn::NotEct && (s.flags.0 & (ECE.0 | CWR.0) == 0 || s.seq == segs[0].seq)
    ));
}

/// Neither side asks (both in the default mode): no ECN bits anywhere.
#[test]
fn not_asked_not_used() {
    let mut p = pair(3, path(), EcnMode::Passive, EcnMode::Passive);
    p.trace();
    let (c, s, _) = p.establish();
    assert!(!p.c().connection(c).unwrap().ecn_enabled());
    p.transfer(c, s, &pattern(10_000, 3), Duration::from_secs(5));
    assert!(p
        .segments()
        .iter()
        .all(|s| s.ecn == Ecn::NotEct && s.flags.0 & (ECE.0 | CWR.0) == 0));
}

/// The server asks (ECN on), the client only accepts: it works the other
/// way round, and data from the server is ECT(0) too.
#[test]
fn negotiated_server_to_client_data() {
    let mut p = pair(4, path(), EcnMode::Passive, EcnMode::On);
    p.trace();
    let (c, s, _) = p.establish();
    // The client did not ask, so nothing is agreed even though the server
    // would: only the active opener's mode decides whether to ask.
    assert!(!p.c().connection(c).unwrap().ecn_enabled());
    assert!(!p.s().connection(s).unwrap().ecn_enabled());
    let mut p = pair(4, path(), EcnMode::On, EcnMode::On);
    p.trace();
    let (c, s, _) = p.establish();
    let now = p.now();
    p.s().send(now, s, &pattern(5000, 4)).unwrap();
    let mut got = Vec::new();
    p.run_until(Duration::from_secs(5), |p| {
        p.drain(false, c, &mut got).unwrap();
        got.len() == 5000
    });
    let segs = p.segments();
    let from_server: Vec<_> = segs
        .iter()
        .filter(|s| !s.from_client && s.len > 0)
        .collect();
    assert!(!from_server.is_empty());
    assert!(from_server.iter().all(|s| s.ecn == Ecn::Ect0));
}

/// RFC 3168 §6.1.1.1: a lost ECN-setup SYN is retransmitted without ECE and
/// CWR (Linux's fallback; `ecn_syn_retries` = 0), and the connection then
/// runs without ECN. With `ecn_syn_retries` = 1 (FreeBSD's default) the
/// first retransmission still asks.
#[test]
fn retransmitted_syn_falls_back() {
    for (retries, second_asks) in [(0u8, false), (1, true)] {
        let mut p = pair(5, path(), EcnMode::On, EcnMode::Passive);
        p.c().config_mut().tcp.ecn_syn_retries = retries;
        let (client, server) = (p.client, p.server);
        p.net.script(client, server, [Fault::Drop]);
        p.trace();
        let (c, _, _) = p.establish();
        let syns: Vec<_> = p
            .segments()
            .into_iter()
            .filter(|s| s.from_client && s.has(TcpFlags::SYN))
            .collect();
        assert_eq!(syns.len(), 2, "{syns:?}");
        assert!(syns[0].has(ECE | CWR));
        assert_eq!(syns[1].has(ECE | CWR), second_asks, "{:?}", syns[1]);
        assert_eq!(syns[1].flags.0 & (ECE.0 | CWR.0) == 0, !second_asks);
        assert_eq!(p.c().connection(c).unwrap().ecn_enabled(), second_asks);
    }
}

/// One client stack outside any network, with a SYN sent to a peer played
/// by the test.
fn lone_client(ecn: EcnMode) -> (Stack, SocketHandle, SocketAddr, SocketAddr, u32) {
    let local: SocketAddr = "198.18.0.1:40000".parse().unwrap();
    let remote = Pair::server_addr();
    let mut st = Stack::new(cfg(ecn), 9);
    st.add_address(local.ip());
    let now = synfin::time::Instant::ZERO;
    let c = st.connect(now, remote).unwrap();
    let mut buf = vec![0u8; 2048];
    let n = st.poll_transmit(now, &mut buf).unwrap();
    let syn = wire::parse_tcp_packet(&buf[..n]).unwrap();
    assert!(syn.tcp.flags.contains(TcpFlags::SYN | ECE | CWR));
    let local = SocketAddr::new(syn.ip.src, syn.tcp.src_port);
    (st, c, local, remote, syn.tcp.seq.0)
}

fn syn_ack(from: SocketAddr, to: SocketAddr, ack: u32, flags: TcpFlags) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: from.port(),
        dst_port: to.port(),
        seq: SeqNum(5000),
        ack: SeqNum(ack),
        flags: TcpFlags::SYN | TcpFlags::ACK | flags,
        window: 65535,
        urgent: 0,
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    let mut buf = vec![0u8; wire::tcp_packet_len(&from.ip(), &repr)];
    let n = wire::emit_tcp_packet(from.ip(), to.ip(), 64, &repr, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// RFC 3168 §6.1.1: a SYN-ACK with both ECE and CWR (a peer reflecting the
/// SYN's flags) is not an ECN-setup SYN-ACK — no ECN, data not ECT — while
/// ECE alone is.
#[test]
fn syn_ack_with_ece_and_cwr_is_not_ecn_setup() {
    for (extra, agreed) in [(ECE | CWR, false), (ECE, true), (TcpFlags::empty(), false)] {
        let (mut st, c, local, remote, iss) = lone_client(EcnMode::On);
        let now = synfin::time::Instant::from_millis(10);
        st.handle_packet(now, &syn_ack(remote, local, iss.wrapping_add(1), extra));
        assert_eq!(st.connection(c).unwrap().ecn_enabled(), agreed, "{extra:?}");
        st.send(now, c, b"hello").unwrap();
        let mut buf = vec![0u8; 2048];
        let mut data_ecn = None;
        while let Some(n) = st.poll_transmit(now, &mut buf) {
            let p = wire::parse_tcp_packet(&buf[..n]).unwrap();
            if !p.tcp.payload.is_empty() {
                data_ecn = Some(p.ip.ecn);
            } else {
                assert_eq!(p.ip.ecn, Ecn::NotEct, "the ACK of the SYN-ACK");
            }
        }
        let want = if agreed { Ecn::Ect0 } else { Ecn::NotEct };
        assert_eq!(data_ecn, Some(want), "{extra:?}");
    }
}

/// Two CE marks in one window of data: the receiver echoes ECE on every
/// ACK until the sender's CWR arrives, the sender reduces its window exactly
/// once and marks exactly one data segment CWR, and nothing is retransmitted.
#[test]
fn ce_echo_until_cwr_one_reduction_per_window() {
    let mut p = pair(6, path(), EcnMode::On, EcnMode::Passive);
    let (c, s, _) = p.establish();
    let (client, server) = (p.client, p.server);
    let mut script = vec![Fault::Pass; 30];
    script.extend([Fault::Mark, Fault::Pass, Fault::Mark]);
    p.net.script(client, server, script);
    p.trace();
    let st = p.transfer(c, s, &pattern(300_000, 6), Duration::from_secs(20));
    assert_eq!(p.net.stats().ce_marked, 2);
    assert_eq!(
        st.retransmits, 0,
        "ECN reduces without retransmitting: {st:?}"
    );
    assert_eq!(st.recoveries, 0, "{st:?}");
    assert_eq!(st.timeouts, 0, "{st:?}");
    assert_eq!(st.ecn_reductions, 1, "one reduction per window: {st:?}");
    assert!(st.ecn_echoes >= 1, "{st:?}");
    let ssthresh = p.c().connection(c).unwrap().ssthresh().unwrap();
    assert!(
        ssthresh < 1 << 30,
        "slow start ended at the mark: {ssthresh}"
    );
    let srv = p.s().connection(s).unwrap().loss_stats();
    assert_eq!(srv.ce_received, 2, "{srv:?}");

    let segs = p.segments();
    let cwr: Vec<_> = segs
        .iter()
        .filter(|s| s.from_client && s.has(CWR))
        .collect();
    assert_eq!(cwr.len(), 1, "CWR on exactly one segment: {cwr:?}");
    let cwr = cwr[0];
    assert!(cwr.len > 0 && cwr.ecn == Ecn::Ect0, "on new data: {cwr:?}");
    let marked = segs
        .iter()
        .find(|s| s.from_client && s.ecn == Ecn::Ce)
        .unwrap();
    // Every server ACK from the one after the first CE mark up to the one
    // that acknowledges the CWR segment carries ECE; none after.
    let acks: Vec<_> = segs.iter().filter(|s| !s.from_client).collect();
    let after_mark = |a: &&&WireSeg| a.ack.wrapping_sub(marked.seq) as i32 > 0;
    let first = acks.iter().position(|a| after_mark(&a)).unwrap();
    for a in &acks[first..] {
        let cwr_seen = a.ack.wrapping_sub(cwr.seq) as i32 > 0;
        assert_eq!(a.has(ECE), !cwr_seen, "ECE until CWR arrives: {a:?}");
    }
    assert!(acks[first].has(ECE));
}

/// Marks in two windows far apart: two reductions, still no retransmission.
#[test]
fn marks_in_two_windows_reduce_twice() {
    let mut p = pair(7, path(), EcnMode::On, EcnMode::Passive);
    let (c, s, _) = p.establish();
    let (client, server) = (p.client, p.server);
    let mut script = vec![Fault::Pass; 30];
    script.push(Fault::Mark);
    script.extend(vec![Fault::Pass; 150]);
    script.push(Fault::Mark);
    p.net.script(client, server, script);
    let st = p.transfer(c, s, &pattern(600_000, 7), Duration::from_secs(20));
    assert_eq!(st.retransmits, 0, "{st:?}");
    assert_eq!(st.ecn_reductions, 2, "{st:?}");
}

/// The first CE mark is acknowledged at once, not after the delayed-ACK
/// time (Linux's quick-ACK on CE): one small marked segment on an idle
/// connection.
#[test]
fn ce_mark_is_acknowledged_at_once() {
    let mut p = pair(8, path(), EcnMode::On, EcnMode::Passive);
    let (c, s, _) = p.establish();
    p.run_for(ms(100));
    let (client, server) = (p.client, p.server);
    p.net.script(client, server, [Fault::Mark]);
    p.trace();
    let now = p.now();
    p.c().send(now, c, b"one small segment").unwrap();
    let mut got = Vec::new();
    p.run_until(Duration::from_secs(2), |p| {
        p.drain(true, s, &mut got).unwrap();
        p.c().send_queue_len(c) == Ok(0)
    });
    let segs = p.segments();
    let data = segs.iter().find(|s| s.from_client && s.len > 0).unwrap();
    assert_eq!(data.ecn, Ecn::Ce);
    let ack = segs.iter().find(|s| !s.from_client).unwrap();
    assert!(ack.has(ECE), "{ack:?}");
    // 10 ms each way: sent back the moment it arrived, not 40 ms later.
    let rtt = ack.sent_at - data.sent_at;
    assert!(rtt < ms(15), "ACK of a CE mark delayed: {rtt:?}");
    // The next data carries CWR (the sender reduced its window), which is
    // acknowledged at once too (Linux's `tcp_ecn_accept_cwr`); the one
    // after that, unmarked, waits for the delayed-ACK time as usual.
    for (text, cwr) in [(&b"carries CWR"[..], true), (b"plain", false)] {
        let now = p.now();
        p.c().send(now, c, text).unwrap();
        p.run_for(ms(200));
        let segs = p.segments();
        let data = segs.iter().find(|s| s.from_client && s.len > 0).unwrap();
        assert_eq!(data.has(CWR), cwr, "{data:?}");
        assert_eq!(data.ecn, Ecn::Ect0);
        let ack = segs.iter().find(|s| !s.from_client).unwrap();
        assert!(!ack.has(ECE), "{ack:?}");
        let delay = ack.sent_at - data.sent_at;
        if cwr {
            assert!(delay < ms(15), "ACK of CWR data delayed: {delay:?}");
        } else {
            assert!(delay >= ms(40), "delayed as usual: {delay:?}");
        }
    }
}

/// Retransmissions are never ECT (§6.1.5), even on an ECN connection.
#[test]
fn retransmissions_are_not_ect() {
    let mut p = pair(9, path(), EcnMode::On, EcnMode::Passive);
    let (c, s, _) = p.establish();
    let (client, server) = (p.client, p.server);
    let mut script = vec![Fault::Pass; 30];
    script.extend([Fault::Drop, Fault::Pass, Fault::Pass, Fault::Drop]);
    p.net.script(client, server, script);
    p.trace();
    let st = p.transfer(c, s, &pattern(300_000, 9), Duration::from_secs(20));
    assert_eq!(st.retransmits, 2, "{st:?}");
    let segs = p.segments();
    let mut seen = std::collections::HashSet::new();
    let mut rexmits = 0;
    for s in segs.iter().filter(|s| s.from_client && s.len > 0) {
        if seen.insert(s.seq) {
            assert_eq!(s.ecn, Ecn::Ect0, "first transmission: {s:?}");
        } else {
            rexmits += 1;
            assert_eq!(s.ecn, Ecn::NotEct, "retransmission: {s:?}");
            assert!(!s.has(CWR), "{s:?}");
        }
    }
    assert_eq!(rexmits, 2);
}

/// A bottleneck with a step AQM (mark above 30 kB of backlog): with ECN the
/// sender learns of the congestion from marks alone — several reductions,
/// no retransmission, no AQM drop; without ECN the same AQM drops and the
/// sender retransmits.
#[test]
fn marking_bottleneck_goodput_without_retransmissions() {
    let bottleneck = LinkModel::default()
        .delay(ms(10))
        .bandwidth(20_000_000)
        .mark_above(30_000);
    let data = pattern(2_000_000, 10);
    let run = |ecn: EcnMode| {
        let mut p = pair(
            10,
            LinkModel::default().delay(ms(10)),
            ecn,
            EcnMode::Passive,
        );
        let (client, server) = (p.client, p.server);
        p.net.link_directed(client, server, bottleneck.clone());
        let (c, s, _) = p.establish();
        let t0 = p.now();
        let st = p.transfer(c, s, &data, Duration::from_secs(60));
        let secs = (p.now() - t0).as_secs_f64();
        (st, p.net.stats(), data.len() as f64 * 8.0 / secs / 1e6)
    };
    let (st, net, mbps) = run(EcnMode::On);
    eprintln!("ECN: {mbps:.1} Mbit/s");
    assert!(net.ce_marked > 0, "{net:?}");
    assert_eq!(net.dropped_aqm, 0, "{net:?}");
    assert_eq!(st.retransmits, 0, "{st:?}");
    assert_eq!(st.timeouts, 0, "{st:?}");
    assert!(st.ecn_reductions >= 2, "{st:?}");
    assert!(mbps > 12.0, "the bottleneck stays busy: {mbps:.1} Mbit/s");

    let (st, net, mbps) = run(EcnMode::Passive);
    eprintln!("no ECN: {mbps:.1} Mbit/s");
    assert_eq!(net.ce_marked, 0);
    assert!(net.dropped_aqm > 0, "{net:?}");
    assert!(st.retransmits > 0, "{st:?}");
    assert_eq!(st.ecn_reductions, 0);
}

/// The per-socket option over the stack's default: a socket set to ask
/// asks on a stack that only accepts, and a listener set to `Off` refuses
/// on a stack that accepts. Once connected, the mode can no longer change.
#[test]
fn per_socket_mode_overrides_the_stack_default() {
    let mut p = pair(11, path(), EcnMode::Passive, EcnMode::Passive);
    let l = p.s().listen(Pair::server_addr(), 4).unwrap();
    let h = p.c().socket();
    p.c().set_ecn(h, EcnMode::On).unwrap();
    assert_eq!(p.c().ecn(h), Ok(EcnMode::On));
    let now = p.now();
    p.c().connect_from(now, h, Pair::server_addr()).unwrap();
    p.run_until(Duration::from_secs(5), |p| p.s().accept(l).is_ok());
    assert!(p.c().connection(h).unwrap().ecn_enabled());
    assert_eq!(
        p.c().set_ecn(h, EcnMode::Off),
        Err(synfin::stack::Error::InvalidInput)
    );

    let mut p = pair(12, path(), EcnMode::On, EcnMode::Passive);
    let l = p.s().socket();
    p.s().set_ecn(l, EcnMode::Off).unwrap();
    p.s().bind(l, Pair::server_addr()).unwrap();
    p.s().listen_on(l, 4).unwrap();
    p.trace();
    let now = p.now();
    let c = p.c().connect(now, Pair::server_addr()).unwrap();
    let mut s = None;
    p.run_until(Duration::from_secs(5), |p| {
        s = p.s().accept(l).ok().map(|a| a.0);
        s.is_some()
    });
    assert!(!p.c().connection(c).unwrap().ecn_enabled());
    assert!(!p.s().connection(s.unwrap()).unwrap().ecn_enabled());
    let segs = p.segments();
    assert!(segs[0].has(ECE | CWR) && !segs[1].has(ECE), "{:?}", segs[1]);
}

/// RFC 3168 §6.1.6: zero-window probes are not ECT. The server never
/// reads; once its window is closed the client's one-byte probes go out
/// Not-ECT while the data before them was ECT(0).
#[test]
fn window_probes_are_not_ect() {
    let mut p = pair(14, path(), EcnMode::On, EcnMode::Passive);
    p.s().config_mut().tcp.recv_buffer = 8192;
    p.s().config_mut().tcp.recv_buffer_max = 8192;
    let (c, _s, _) = p.establish();
    p.trace();
    let now = p.now();
    let data = pattern(40_000, 14);
    let sent = p.c().send(now, c, &data).unwrap();
    assert!(sent > 8192);
    p.run_for(Duration::from_secs(10));
    let segs = p.segments();
    assert!(
        segs.iter().any(|s| !s.from_client && s.window == 0),
        "the window closed"
    );
    let probes: Vec<_> = segs
        .iter()
        .filter(|s| s.from_client && s.len == 1)
        .collect();
    assert!(
        probes.len() >= 2,
        "persist probes were sent: {}",
        probes.len()
    );
    assert!(
        probes.iter().all(|s| s.ecn == Ecn::NotEct && !s.has(CWR)),
        "{probes:?}"
    );
    let first = segs.iter().find(|s| s.from_client && s.len > 1).unwrap();
    assert_eq!(first.ecn, Ecn::Ect0);
}
