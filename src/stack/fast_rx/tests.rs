use super::*;
use crate::stack::{SocketHandle, StackConfig};
use crate::wire::{self, checksum, parse_tcp_packet, TcpFlags, TcpRepr};
use proptest::prelude::*;
use std::collections::VecDeque;
use std::net::SocketAddr;

fn taken() -> u64 {
    TAKEN.get()
}

fn light() -> u64 {
    LIGHT.get()
}

/// Two stacks joined by hand: every packet goes through a queue the
/// test can reorder, drop, duplicate or rewrite, and everything that
/// happens is written to `log`, so two worlds can be compared.
struct World {
    client: Stack,
    server: Stack,
    now: Instant,
    c2s: VecDeque<Vec<u8>>,
    s2c: VecDeque<Vec<u8>>,
    ch: SocketHandle,
    sh: SocketHandle,
    received: Vec<u8>,
    log: Vec<String>,
    fast: bool,
}

/// (client address, server address) of the IPv4 and the IPv6 worlds.
fn addresses(v6: bool) -> (&'static str, &'static str) {
    if v6 {
        ("2001:db8::1", "[2001:db8::2]:80")
    } else {
        ("198.18.0.1", "198.18.0.2:80")
    }
}

fn config(sack: bool, timestamps: bool, ecn: bool) -> StackConfig {
    let mut cfg = StackConfig::default();
    cfg.tcp.sack = sack;
    cfg.tcp.timestamps = timestamps;
    cfg.tcp.recv_buffer = 16 * 1024;
    cfg.tcp.recv_buffer_max = 64 * 1024;
    if ecn {
        cfg.tcp.ecn = crate::tcp::EcnMode::On;
    }
    cfg
}

impl World {
    fn new(fast: bool, cfg: StackConfig, v6: bool) -> World {
        let (client_addr, server_addr) = addresses(v6);
        let mut client = Stack::new(cfg.clone(), 1);
        client.add_address(client_addr.parse().unwrap());
        let mut server = Stack::new(cfg, 2);
        let server_addr: SocketAddr = server_addr.parse().unwrap();
        server.add_address(server_addr.ip());
        let l = server.listen(server_addr, 8).unwrap();
        let now = Instant::from_millis(1000);
        let ch = client.connect(now, server_addr).unwrap();
        let mut w = World {
            client,
            server,
            now,
            c2s: VecDeque::new(),
            s2c: VecDeque::new(),
            ch,
            sh: ch,
            received: Vec::new(),
            log: Vec::new(),
            fast,
        };
        for _ in 0..4 {
            w.pump();
            w.deliver_all();
        }
        w.sh = w.server.accept(l).expect("handshake").0;
        w.log.clear();
        w
    }

    /// Runs `f` with header prediction (this fast path and the
    /// connection's own) on or off, as this world wants.
    fn run<R>(&mut self, f: impl FnOnce(&mut World) -> R) -> R {
        if self.fast {
            f(self)
        } else {
            crate::tcp::conn::without_prediction(|| f(self))
        }
    }

    fn pump(&mut self) {
        let mut buf = vec![0u8; 2048];
        while let Some(n) = self.client.poll_transmit(self.now, &mut buf) {
            self.c2s.push_back(buf[..n].to_vec());
        }
        while let Some(n) = self.server.poll_transmit(self.now, &mut buf) {
            self.log.push(format!("s->c {:?}", &buf[..n]));
            self.s2c.push_back(buf[..n].to_vec());
        }
        while let Some(e) = self.server.poll_event() {
            self.log.push(format!("event {e:?}"));
        }
        while self.client.poll_event().is_some() {}
    }

    fn deliver_to_server(&mut self, p: &[u8]) {
        let now = self.now;
        self.run(|w| w.server.handle_packet(now, p));
        let c = self
            .server
            .connection(self.sh)
            .ok()
            .map(|c| (c.state(), c.recv_queue_len(), c.negotiated().snd_mss));
        self.log.push(format!("in {c:?} {:?}", self.server.stats()));
    }

    fn deliver_all(&mut self) {
        while let Some(p) = self.c2s.pop_front() {
            self.deliver_to_server(&p);
        }
        while let Some(p) = self.s2c.pop_front() {
            let now = self.now;
            self.client.handle_packet(now, &p);
        }
    }

    fn step(&mut self, a: &Action) {
        let now = self.now;
        match *a {
            Action::Write(n) => {
                let data: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
                let _ = self.client.send(now, self.ch, &data);
            }
            Action::ServerWrite(n) => {
                let data = vec![0x5a; n];
                let r = self.run(|w| w.server.send(now, w.sh, &data));
                self.log.push(format!("server send {r:?}"));
            }
            Action::Read(n) => {
                let mut buf = vec![0u8; n];
                let r = self.run(|w| w.server.recv(now, w.sh, &mut buf));
                if let Ok(k) = r {
                    self.received.extend_from_slice(&buf[..k]);
                }
                self.log.push(format!("read {r:?}"));
            }
            Action::Deliver(m) => {
                if let Some(p) = self.c2s.pop_front() {
                    match m {
                        Mutation::None => self.deliver_to_server(&p),
                        Mutation::Drop => {}
                        Mutation::Duplicate => {
                            self.deliver_to_server(&p);
                            self.deliver_to_server(&p);
                        }
                        Mutation::Swap => {
                            if let Some(q) = self.c2s.pop_front() {
                                self.deliver_to_server(&q);
                            }
                            self.deliver_to_server(&p);
                        }
                        m => self.deliver_to_server(&mutate(&p, m)),
                    }
                }
            }
            Action::DeliverAcks => {
                while let Some(p) = self.s2c.pop_front() {
                    self.client.handle_packet(now, &p);
                }
            }
            Action::Tick(ms) => {
                self.now = now + core::time::Duration::from_millis(ms);
                let now = self.now;
                self.client.handle_timeout(now);
                self.run(|w| w.server.handle_timeout(now));
            }
            Action::ClientFin => {
                let _ = self
                    .client
                    .shutdown(now, self.ch, crate::stack::Shutdown::Write);
            }
            Action::ServerFin => {
                let r = self.run(|w| w.server.shutdown(now, w.sh, crate::stack::Shutdown::Write));
                self.log.push(format!("server shutdown {r:?}"));
            }
            Action::ServerClose => {
                let r = self.run(|w| w.server.close(now, w.sh));
                self.log.push(format!("server close {r:?}"));
            }
        }
        self.pump();
    }
}

#[derive(Copy, Clone, Debug)]
enum Mutation {
    None,
    Drop,
    Duplicate,
    Swap,
    /// Flip a payload bit: the TCP checksum fails.
    BadChecksum,
    /// An older TSval, checksum fixed: PAWS drops it (RFC 7323 §5.3).
    OldTimestamp,
    /// URG with an urgent pointer.
    Urgent,
    /// FIN on the data segment.
    Fin,
    /// A window one unit wider: a window update.
    Window,
    /// A SACK block in the options.
    Sack,
    /// CE in the IP header (RFC 3168).
    Ce,
    /// A sequence number further on: out of order.
    Ahead,
}

#[derive(Copy, Clone, Debug)]
enum Action {
    Write(usize),
    ServerWrite(usize),
    Read(usize),
    Deliver(Mutation),
    DeliverAcks,
    Tick(u64),
    ClientFin,
    ServerFin,
    ServerClose,
}

/// Rewrites a client packet, checksums made right again (except for
/// `BadChecksum`).
fn mutate(p: &[u8], m: Mutation) -> Vec<u8> {
    let mut out = p.to_vec();
    if let Mutation::BadChecksum = m {
        let last = out.len() - 1;
        out[last] ^= 0x10;
        return out;
    }
    if let (Mutation::Ce, 6) = (m, out[0] >> 4) {
        // ECN is the low two bits of the traffic class (RFC 8200 §7).
        out[1] |= 0x30;
        return out;
    }
    if let Mutation::Ce = m {
        out[1] |= 0x03;
        out[10..12].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&out[..20]);
        out[10..12].copy_from_slice(&c.to_be_bytes());
        return out;
    }
    let Ok(pkt) = parse_tcp_packet(p) else {
        return out;
    };
    let mut t: TcpRepr = pkt.tcp;
    match m {
        Mutation::OldTimestamp => {
            if let Some((v, e)) = t.options.timestamps {
                t.options.timestamps = Some((v.wrapping_sub(100_000), e));
            }
        }
        Mutation::Urgent => {
            t.flags |= TcpFlags::URG;
            t.urgent = 1;
        }
        Mutation::Fin => t.flags |= TcpFlags::FIN,
        Mutation::Window => t.window = t.window.wrapping_add(1),
        Mutation::Sack => {
            t.options.sack_blocks.push(t.ack - 10u32, t.ack - 5u32);
        }
        Mutation::Ahead => t.seq = t.seq + 1000u32,
        _ => {}
    }
    let mut buf = vec![0u8; 4096];
    let n = wire::emit_tcp_packet(pkt.ip.src, pkt.ip.dst, pkt.ip.hop_limit, &t, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn action() -> impl Strategy<Value = Action> {
    let mutation = prop_oneof![
        8 => Just(Mutation::None),
        1 => Just(Mutation::Drop),
        1 => Just(Mutation::Duplicate),
        1 => Just(Mutation::Swap),
        1 => Just(Mutation::BadChecksum),
        1 => Just(Mutation::OldTimestamp),
        1 => Just(Mutation::Urgent),
        1 => Just(Mutation::Fin),
        1 => Just(Mutation::Window),
        1 => Just(Mutation::Sack),
        1 => Just(Mutation::Ce),
        1 => Just(Mutation::Ahead),
    ];
    prop_oneof![
        3 => (1usize..6000).prop_map(Action::Write),
        1 => (1usize..3000).prop_map(Action::ServerWrite),
        2 => (1usize..20000).prop_map(Action::Read),
        8 => mutation.prop_map(Action::Deliver),
        2 => Just(Action::DeliverAcks),
        1 => (1u64..300).prop_map(Action::Tick),
        1 => Just(Action::ClientFin),
        1 => Just(Action::ServerFin),
        1 => Just(Action::ServerClose),
    ]
}

/// Runs `actions` in a world with the fast path and one without; they
/// must do exactly the same thing.
fn same_both_ways(cfg: StackConfig, actions: &[Action]) -> u64 {
    same_both_ways_on(cfg, false, actions)
}

/// [`same_both_ways`] over IPv6 with `v6`.
fn same_both_ways_on(cfg: StackConfig, v6: bool, actions: &[Action]) -> u64 {
    let before = taken();
    let mut fast = World::new(true, cfg.clone(), v6);
    let mut slow = World::new(false, cfg, v6);
    for (i, a) in actions.iter().enumerate() {
        fast.step(a);
        slow.step(a);
        assert_eq!(fast.log, slow.log, "after action {i} ({a:?})");
    }
    assert_eq!(fast.received, slow.received);
    assert_eq!(fast.server.stats(), slow.server.stats());
    taken() - before
}

#[test]
fn bulk_in_order_takes_the_fast_path_and_matches_the_general_one() {
    for (sack, ts) in [(true, true), (false, false), (true, false), (false, true)] {
        let mut actions = Vec::new();
        for _ in 0..20 {
            actions.push(Action::Write(4000));
            actions.extend([Action::Deliver(Mutation::None); 4]);
            actions.push(Action::DeliverAcks);
            actions.push(Action::Read(5000));
        }
        actions.push(Action::Tick(50));
        let n = same_both_ways(config(sack, ts, false), &actions);
        assert!(
            n >= 40,
            "sack {sack} ts {ts}: only {n} segments took the fast path"
        );
    }
}

#[test]
fn ipv6_takes_the_connections_own_prediction_and_matches_the_general_path() {
    // The stack's fast path reads IPv4 only; over IPv6 the general
    // parse runs and `on_segment`'s prediction (the same `rx_predicts`
    // and commit) takes the in-order segments.
    let mut actions = Vec::new();
    for m in [
        Mutation::None,
        Mutation::Swap,
        Mutation::Ce,
        Mutation::OldTimestamp,
    ] {
        actions.push(Action::Write(5000));
        actions.extend([Action::Deliver(Mutation::None), Action::Deliver(m)]);
        actions.extend([Action::Deliver(Mutation::None); 3]);
        actions.extend([Action::DeliverAcks, Action::Read(6000), Action::Tick(50)]);
    }
    for ecn in [false, true] {
        let n = same_both_ways_on(config(true, true, ecn), true, &actions);
        assert_eq!(n, 0, "the IPv4 fast path took an IPv6 segment");
    }
}

/// Every way a test mutates a delivered segment but dropping it.
const MUTATIONS: [Mutation; 10] = [
    Mutation::Duplicate,
    Mutation::Swap,
    Mutation::BadChecksum,
    Mutation::OldTimestamp,
    Mutation::Urgent,
    Mutation::Fin,
    Mutation::Window,
    Mutation::Sack,
    Mutation::Ce,
    Mutation::Ahead,
];

#[test]
fn every_fallback_matches_the_general_path() {
    for m in std::iter::once(Mutation::Drop).chain(MUTATIONS) {
        for ecn in [false, true] {
            let mut actions = vec![Action::Write(6000), Action::Deliver(Mutation::None)];
            actions.push(Action::Deliver(m));
            actions.extend([Action::Deliver(Mutation::None); 3]);
            actions.extend([Action::DeliverAcks, Action::Tick(250), Action::DeliverAcks]);
            actions.extend([Action::Deliver(Mutation::None); 4]);
            actions.push(Action::Read(10000));
            same_both_ways(config(true, true, ecn), &actions);
        }
    }
}

#[test]
fn a_full_window_and_a_closed_reader_fall_back() {
    // Nothing read: the 16 KiB window fills, the rest is trimmed.
    let mut actions = vec![Action::Write(40000)];
    actions.extend([Action::Deliver(Mutation::None); 30]);
    actions.extend([Action::DeliverAcks, Action::Read(100), Action::ClientFin]);
    actions.extend([Action::Deliver(Mutation::None); 4]);
    same_both_ways(config(true, true, false), &actions);
}

/// A request/response lifecycle (the benchmark's, and with more data
/// and either end closing first): its ACKs, 1-byte segments, FINs and
/// final ACKs at the server take the light path and do exactly what
/// the general path does.
#[test]
fn lifecycles_take_the_light_path_and_match_the_general_one() {
    let exchange = |n: usize, m: usize| {
        vec![
            Action::Write(n),
            Action::Deliver(Mutation::None),
            Action::Read(100),
            Action::ServerWrite(m),
            Action::DeliverAcks,
            Action::Tick(50),
            Action::Deliver(Mutation::None),
        ]
    };
    let client_first = [
        Action::ClientFin,
        Action::Deliver(Mutation::None),
        Action::Read(100),
        Action::DeliverAcks,
        Action::ServerClose,
        Action::DeliverAcks,
        Action::Deliver(Mutation::None),
        Action::Tick(300),
    ];
    let server_first = [
        Action::ServerFin,
        Action::DeliverAcks,
        Action::Deliver(Mutation::None),
        Action::ClientFin,
        Action::Deliver(Mutation::None),
        Action::DeliverAcks,
        Action::Read(100),
        Action::ServerClose,
        Action::Deliver(Mutation::None),
        Action::Tick(300),
    ];
    // The server's close orphans it in FIN-WAIT-1: the ACK of its FIN
    // ends its send side (`on_orphans_last_ack`), FIN-WAIT-2's timers
    // and the peer's FIN follow.
    let server_closes_first = [
        Action::Read(10000),
        Action::ServerClose,
        Action::DeliverAcks,
        Action::Deliver(Mutation::None),
        Action::Tick(250),
        Action::ClientFin,
        Action::Deliver(Mutation::None),
        Action::Tick(300),
        Action::DeliverAcks,
    ];
    for (sack, ts, ecn) in [
        (true, true, false),
        (false, false, false),
        (true, false, true),
        (false, true, true),
    ] {
        for (n, m) in [(1, 1), (3000, 2000)] {
            for close in [
                &client_first[..],
                &server_first[..],
                &server_closes_first[..],
            ] {
                let mut actions = exchange(n, m);
                actions.extend(exchange(n, m));
                actions.extend_from_slice(close);
                let before = light();
                same_both_ways(config(sack, ts, ecn), &actions);
                let n = light() - before;
                assert!(n >= 3, "sack {sack} ts {ts}: only {n} light segments");
            }
        }
    }
}

/// The light path's segments mutated: each falls back or is taken
/// exactly as the general path takes it.
#[test]
fn the_light_paths_fallbacks_match_the_general_path() {
    for m in MUTATIONS {
        for ecn in [false, true] {
            let actions = [
                Action::Write(1),
                Action::Deliver(m),
                Action::ServerWrite(1),
                Action::DeliverAcks,
                Action::ClientFin,
                Action::Deliver(m),
                Action::Deliver(Mutation::None),
                Action::Read(10),
                Action::ServerClose,
                Action::DeliverAcks,
                Action::Deliver(m),
                Action::Deliver(Mutation::None),
                Action::Tick(250),
                Action::DeliverAcks,
                Action::Deliver(Mutation::None),
            ];
            same_both_ways(config(true, true, ecn), &actions);
        }
    }
}

#[test]
fn a_bad_checksum_on_the_fast_path_changes_nothing() {
    let mut w = World::new(true, config(true, true, false), false);
    w.step(&Action::Write(3000));
    w.step(&Action::Deliver(Mutation::None));
    let queued = w.server.recv_queue_len(w.sh).unwrap();
    assert!(queued > 0);
    let stats = w.server.stats();
    let good = w.c2s.pop_front().unwrap();
    let before = taken();
    w.deliver_to_server(&mutate(&good, Mutation::BadChecksum));
    w.pump();
    assert_eq!(taken(), before, "a bad segment was taken");
    assert_eq!(w.server.recv_queue_len(w.sh).unwrap(), queued);
    assert_eq!(w.server.stats().malformed, stats.malformed + 1);
    assert!(w.s2c.is_empty(), "a bad segment was answered");
    // The good copy is then taken as if nothing had happened.
    w.deliver_to_server(&good);
    assert_eq!(taken(), before + 1);
    assert!(w.server.recv_queue_len(w.sh).unwrap() > queued);
    let mut buf = vec![0u8; 8192];
    let n = w.server.recv(w.now, w.sh, &mut buf).unwrap();
    let sent: Vec<u8> = (0..3000).map(|i| (i * 7 + 3) as u8).collect();
    assert_eq!(&buf[..n], &sent[..n]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_traffic_is_the_same_with_and_without_the_fast_path(
        actions in proptest::collection::vec(action(), 1..80),
        sack in any::<bool>(),
        ts in any::<bool>(),
        ecn in any::<bool>(),
        v6 in proptest::bool::weighted(0.25),
    ) {
        same_both_ways_on(config(sack, ts, ecn), v6, &actions);
    }
}
