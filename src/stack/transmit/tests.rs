//! Real connections through the templated path; in debug builds every
//! packet it writes is compared with the general emitter's (transmit.rs).
use super::super::{Stack, StackConfig};
use crate::tcp::{EcnMode, State, TcpConfig};
use crate::time::Instant;
use crate::wire;
use std::net::{IpAddr, SocketAddr};

/// A client and a server stack on `tcp` (seeded with `seeds`), each with
/// its address, and the server's port-80 address.
fn two_stacks(
    tcp: TcpConfig,
    client_ip: &str,
    server_ip: &str,
    seeds: (u64, u64),
) -> (Stack, Stack, SocketAddr) {
    let cfg = StackConfig {
        tcp,
        ..StackConfig::default()
    };
    let (cip, sip): (IpAddr, IpAddr) = (client_ip.parse().unwrap(), server_ip.parse().unwrap());
    let mut c = Stack::new(cfg.clone(), seeds.0);
    c.add_address(cip);
    let mut s = Stack::new(cfg, seeds.1);
    s.add_address(sip);
    (c, s, SocketAddr::new(sip, 80))
}

/// Runs each stack's timers that are due at `now`.
fn fire_due_timers(now: Instant, c: &mut Stack, s: &mut Stack) {
    for st in [c, s] {
        if st.poll_timeout().is_some_and(|t| t <= now) {
            st.handle_timeout(now);
        }
    }
}

/// Moves packets both ways until both stacks are quiet; returns how
/// many went client to server.
fn pump(now: Instant, c: &mut Stack, s: &mut Stack) -> usize {
    let mut buf = vec![0u8; 1500];
    let mut sent = 0;
    loop {
        let mut any = false;
        while let Some(n) = c.poll_transmit(now, &mut buf) {
            wire::parse_tcp_packet(&buf[..n]).expect("client packet parses");
            s.handle_packet(now, &buf[..n]);
            sent += 1;
            any = true;
        }
        while let Some(n) = s.poll_transmit(now, &mut buf) {
            wire::parse_tcp_packet(&buf[..n]).expect("server packet parses");
            c.handle_packet(now, &buf[..n]);
            any = true;
        }
        if !any {
            return sent;
        }
    }
}

/// `chunk`: the most the application writes at a time; with an odd
/// one (and Nagle off) segments have odd lengths and the send ring
/// wraps at odd offsets, so payloads come in two pieces of odd length.
fn run(client_ip: &str, server_ip: &str, timestamps: bool, ecn: EcnMode, chunk: usize) {
    let tcp = TcpConfig {
        timestamps,
        ecn,
        nodelay: chunk % 2 == 1,
        // A receiver that reads only now and then (below) holds
        // the sender's window closed with part of its queue
        // acknowledged, so the application's next writes wrap the
        // send ring and later segments straddle the wrap.
        send_buffer: 50_001,
        recv_buffer: 30_011,
        ..TcpConfig::default()
    };
    let (mut c, mut s, server) = two_stacks(tcp, client_ip, server_ip, (1, 2));
    let l = s.listen(server, 4).unwrap();
    let mut now = Instant::ZERO;
    let h = c.connect(now, server).unwrap();
    pump(now, &mut c, &mut s);
    let (sh, _) = s.accept(l).unwrap();
    assert_eq!(c.state(h), Ok(State::Established));
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut got = Vec::new();
    let mut off = 0;
    let mut rbuf = vec![0u8; 65536];
    for round in 0..2000 {
        if round == 1 {
            // The template follows socket options changed mid-stream.
            c.set_tos(h, 0xb8).unwrap();
            c.set_hop_limit(h, Some(17)).unwrap();
        }
        if round == 2 {
            c.set_tos(h, 0).unwrap();
            c.set_hop_limit(h, Some(64)).unwrap();
        }
        if off < data.len() {
            for _ in 0..3 {
                let end = data.len().min(off.saturating_add(chunk));
                off += c.send(now, h, &data[off..end]).unwrap_or(0);
            }
        }
        pump(now, &mut c, &mut s);
        if round % 4 == 0 {
            while let Ok(n) = s.recv(now, sh, &mut rbuf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&rbuf[..n]);
            }
        }
        if got.len() == data.len() {
            break;
        }
        now += core::time::Duration::from_millis(1);
        fire_due_timers(now, &mut c, &mut s);
    }
    assert_eq!(got, data);
    // The data went out through the template, rebuilt after the
    // socket options changed back.
    assert_eq!(c.tx_template.cached(), Some((h, true)));
}

/// Every packet of a scenario, in order, both directions (client's
/// marked 0, server's 1): a lifecycle with one byte each way, then a
/// transfer over a link that drops every `drop_every`th data packet
/// (SACK blocks, D-SACK, retransmissions, the tail-loss probe, RTOs),
/// then both closes. `plain`: whether `poll_plain` is on. `offload`:
/// both stacks polled with `poll_transmit_offload`, every packet checked to be
/// partial and completed (as the device would) before it is recorded and
/// delivered.
fn trace(
    client_ip: &str,
    server_ip: &str,
    tcp: TcpConfig,
    drop_every: usize,
    plain: bool,
    offload: bool,
) -> (Vec<(u8, Vec<u8>)>, usize) {
    let (mut c, mut s, server) = two_stacks(tcp, client_ip, server_ip, (7, 8));
    c.tx_template.plain_off = !plain;
    s.tx_template.plain_off = !plain;
    let poll = |st: &mut Stack, now: Instant, buf: &mut [u8]| {
        if offload {
            st.poll_transmit_offload(now, buf)
        } else {
            st.poll_transmit(now, buf)
        }
    };
    let complete = |p: &mut [u8]| {
        if offload {
            let sent = p.to_vec();
            assert!(wire::offload::make_partial(p));
            assert_eq!(p, &sent[..], "the checksum is the pseudo-header sum");
            assert!(wire::offload::complete(p));
        }
    };
    let l = s.listen(server, 4).unwrap();
    let mut now = Instant::ZERO;
    let mut out = Vec::new();
    let mut k = 0usize;
    let mut buf = vec![0u8; 1500];
    let mut step = |now: Instant, c: &mut Stack, s: &mut Stack, out: &mut Vec<(u8, Vec<u8>)>| loop {
        let mut any = false;
        while let Some(n) = poll(c, now, &mut buf) {
            complete(&mut buf[..n]);
            out.push((0, buf[..n].to_vec()));
            k += 1;
            if drop_every == 0 || n < 100 || k % drop_every != 0 {
                s.handle_packet(now, &buf[..n]);
            }
            any = true;
        }
        while let Some(n) = poll(s, now, &mut buf) {
            complete(&mut buf[..n]);
            out.push((1, buf[..n].to_vec()));
            c.handle_packet(now, &buf[..n]);
            any = true;
        }
        if !any {
            break;
        }
    };
    let h = c.connect(now, server).unwrap();
    step(now, &mut c, &mut s, &mut out);
    let (sh, _) = s.accept(l).unwrap();
    c.send(now, h, b"q").unwrap();
    step(now, &mut c, &mut s, &mut out);
    let mut rbuf = vec![0u8; 65536];
    assert_eq!(s.recv(now, sh, &mut rbuf), Ok(1));
    s.send(now, sh, b"r").unwrap();
    step(now, &mut c, &mut s, &mut out);
    assert_eq!(c.recv(now, h, &mut rbuf), Ok(1));
    let data: Vec<u8> = (0..120_000u32).map(|i| (i * 13 + i / 97) as u8).collect();
    let (mut off, mut got) = (0, 0);
    for _ in 0..20_000 {
        if off < data.len() {
            off += c.send(now, h, &data[off..]).unwrap_or(0);
        }
        step(now, &mut c, &mut s, &mut out);
        while let Ok(n) = s.recv(now, sh, &mut rbuf) {
            if n == 0 {
                break;
            }
            got += n;
        }
        if got == data.len() {
            break;
        }
        now += core::time::Duration::from_millis(5);
        fire_due_timers(now, &mut c, &mut s);
    }
    assert_eq!(got, data.len());
    c.close(now, h).unwrap();
    step(now, &mut c, &mut s, &mut out);
    s.close(now, sh).unwrap();
    step(now, &mut c, &mut s, &mut out);
    assert_eq!(c.time_wait_count(), 1, "{:?}", c.state(h));
    (out, c.tx_template.plain_sent + s.tx_template.plain_sent)
}

/// `poll_plain` and the template write exactly the packets the general
/// `poll_transmit` and emitter write, in the same order, for the
/// lifecycle's segments (ACKs, one-byte data, FINs) and a lossy bulk
/// transfer's (where it must step aside for SACK blocks and
/// retransmissions).
#[test]
fn plain_path_writes_the_general_paths_packets() {
    let cases = [
        ("198.18.0.1", "198.18.0.2", TcpConfig::default(), 0),
        ("198.18.0.1", "198.18.0.2", TcpConfig::default(), 29),
        (
            "2001:db8::1",
            "2001:db8::2",
            TcpConfig {
                timestamps: false,
                ecn: EcnMode::On,
                nodelay: true,
                ..TcpConfig::default()
            },
            17,
        ),
    ];
    for (cip, sip, tcp, drop_every) in cases {
        let (general, none) = trace(cip, sip, tcp.clone(), drop_every, false, false);
        assert_eq!(none, 0);
        let (plain, sent) = trace(cip, sip, tcp, drop_every, true, false);
        assert!(sent > 10, "the plain path wrote {sent} segments");
        assert_eq!(general.len(), plain.len(), "{cip} drop {drop_every}");
        for (i, (g, p)) in general.iter().zip(&plain).enumerate() {
            assert_eq!(g, p, "packet {i} differs ({cip}, drop {drop_every})");
        }
    }
}

/// With transmit checksum offload every segment of every path (the bulk
/// path's, the plain path's, the general path's, the SYN-ACK from the
/// control queue) carries the pseudo-header sum alone, and completed is
/// the packet written without it: the same trace, byte for byte.
#[test]
fn checksum_offload_completes_to_the_same_packets() {
    for (cip, sip, drop_every) in [
        ("198.18.0.1", "198.18.0.2", 0),
        ("198.18.0.1", "198.18.0.2", 29),
        ("2001:db8::1", "2001:db8::2", 17),
    ] {
        let (whole, _) = trace(cip, sip, TcpConfig::default(), drop_every, true, false);
        let (partial, _) = trace(cip, sip, TcpConfig::default(), drop_every, true, true);
        assert_eq!(whole.len(), partial.len(), "{cip} drop {drop_every}");
        for (i, (w, p)) in whole.iter().zip(&partial).enumerate() {
            assert_eq!(w, p, "packet {i} differs ({cip}, drop {drop_every})");
        }
    }
}

#[test]
fn ipv4_with_and_without_timestamps() {
    run(
        "198.18.0.1",
        "198.18.0.2",
        true,
        EcnMode::Passive,
        usize::MAX,
    );
    run("198.18.0.1", "198.18.0.2", false, EcnMode::Off, 333);
}

#[test]
fn ipv6_and_ecn() {
    run("2001:db8::1", "2001:db8::2", true, EcnMode::On, 777);
    run("2001:db8::1", "2001:db8::2", false, EcnMode::On, usize::MAX);
}

/// The short-payload copy writes the bytes and sums them as the general
/// checksum does, at every length it takes (odd ones included).
#[test]
fn small_copy_sums_as_the_checksum_does() {
    let src: Vec<u8> = (0..super::SMALL_PAYLOAD as u8)
        .map(|i| i.wrapping_mul(37) ^ 0xa5)
        .collect();
    for len in 0..=super::SMALL_PAYLOAD {
        let mut dst = vec![0u8; len];
        let sum = super::copy_summed_small(&mut dst, &src[..len]);
        assert_eq!(dst, src[..len], "copied bytes, length {len}");
        assert_eq!(
            wire::checksum::fold(sum),
            wire::checksum::fold(wire::checksum::sum(&src[..len], 0)),
            "sum, length {len}"
        );
    }
}
