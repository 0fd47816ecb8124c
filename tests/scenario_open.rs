//! Connection establishment in the simulated network (RFC 9293 §3.5, §3.10.7):
//! the three-way handshake, simultaneous open, losses during the handshake,
//! half-open timeouts, refused and unanswered connects, the listener's queues
//! and what happens to unaccepted connections.
//!
//! Every test checks both the segments on the wire and what the application
//! sees (states, events, errors, accept results).

mod common;
#[path = "common/open.rs"]
mod open;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use open::*;
use synfin::links::{Fault, LinkModel};
use synfin::stack::{Error, Event, Shutdown, SocketHandle};
use synfin::tcp::State;
use synfin::wire::TcpFlags;

const SYN: TcpFlags = TcpFlags::SYN;
const SYN_ACK: TcpFlags = TcpFlags(TcpFlags::SYN.0 | TcpFlags::ACK.0);
const ACK: TcpFlags = TcpFlags::ACK;
const RST_ACK: TcpFlags = TcpFlags(TcpFlags::RST.0 | TcpFlags::ACK.0);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn client_addr(port: u16) -> SocketAddr {
    SocketAddr::new(CLIENT_IP.parse().unwrap(), port)
}

/// (from, to) pairs of the recorded transitions.
fn transitions(st: &mut synfin::stack::Stack) -> Vec<(State, State)> {
    st.take_transitions()
        .into_iter()
        .map(|t| (t.from, t.to))
        .collect()
}

// ---- 1. the normal three-way handshake ----

#[test]
fn three_way_handshake_negotiates_options() {
    let mut p = Pair::new(1, LinkModel::default());
    p.trace();
    let (l, c) = p.listen_connect(16);
    assert_eq!(p.c().state(c), Ok(State::SynSent));
    assert_eq!(p.s().accept(l), Err(Error::WouldBlock));
    p.run_for(ms(20));

    let segs = take_segs(&mut p);
    let lad = ladder(&segs);
    assert_eq!(segs.len(), 3, "exactly SYN, SYN-ACK, ACK:\n{lad}");
    let (syn, syn_ack, ack) = (&segs[0], &segs[1], &segs[2]);
    // RFC 9293 §3.5, Figure 6.
    assert!(syn.from_client && syn.is(SYN) && syn.len == 0, "{lad}");
    assert!(!syn_ack.from_client && syn_ack.is(SYN_ACK), "{lad}");
    assert_eq!(syn_ack.ack, syn.seq.wrapping_add(1), "{lad}");
    assert!(ack.from_client && ack.is(ACK) && ack.len == 0, "{lad}");
    assert_eq!(ack.seq, syn.seq.wrapping_add(1), "{lad}");
    assert_eq!(ack.ack, syn_ack.seq.wrapping_add(1), "{lad}");
    assert_eq!((syn.src, syn.dst), (syn_ack.dst, syn_ack.src));

    // Options (RFC 9293 §3.7.1, RFC 7323): MSS from the 1500-byte MTU; the
    // receive buffer may auto-tune up to 2 MiB, which needs a window-scale
    // shift of 6 (FreeBSD's too); TSecr is 0 on the SYN
    // and echoes the SYN's TSval on the SYN-ACK, and the ACK echoes the
    // SYN-ACK's.
    for s in [syn, syn_ack] {
        assert_eq!(s.options.mss, Some(1460), "{lad}");
        assert_eq!(s.options.window_scale, Some(6), "{lad}");
        assert!(s.options.sack_permitted, "{lad}");
        // RFC 7323 §2.2: the window of a SYN segment is never scaled.
        assert_eq!(s.window, 65535, "{lad}");
    }
    let (c_tsval, c_tsecr) = syn.options.timestamps.expect("SYN offers timestamps");
    assert_eq!(c_tsecr, 0, "RFC 7323 §3.2: TSecr is zero without ACK");
    let (s_tsval, s_tsecr) = syn_ack.options.timestamps.expect("SYN-ACK has TS");
    assert_eq!(s_tsecr, c_tsval);
    let (_, a_tsecr) = ack.options.timestamps.expect("ACK has TS");
    assert_eq!(a_tsecr, s_tsval);
    // After the handshake windows are scaled: 128 KiB >> 6.
    assert_eq!(ack.window, 2048, "{lad}");

    // What the applications see.
    assert_eq!(p.c().state(c), Ok(State::Established));
    let c_events = events(p.c());
    assert!(events_of(&c_events, c).contains(&Event::Connected));
    assert_eq!(events(p.s()), vec![(l, Event::Acceptable)]);
    let (s, remote) = p.s().accept(l).unwrap();
    assert_eq!(remote, syn.src);
    assert_eq!(p.s().state(s), Ok(State::Established));
    assert_eq!(p.s().local_addr(s), Ok(Pair::server_addr()));
    assert_eq!(p.c().peer_addr(c), Ok(Pair::server_addr()));
    assert_eq!(p.s().accept(l), Err(Error::WouldBlock));
    assert_eq!(p.s().state(l), Ok(State::Listen));

    for n in [
        p.c().connection(c).unwrap().negotiated(),
        p.s().connection(s).unwrap().negotiated(),
    ] {
        // 1460 less the 12 bytes the timestamp option takes in every segment.
        assert_eq!(n.snd_mss, 1448);
        assert_eq!((n.snd_wscale, n.rcv_wscale), (6, 6));
        assert!(n.timestamps && n.window_scaling && n.sack_permitted);
    }
    assert_eq!(
        transitions(p.c()),
        [
            (State::Closed, State::SynSent),
            (State::SynSent, State::Established)
        ]
    );
    assert_eq!(
        transitions(p.s()),
        [
            (State::Listen, State::SynReceived),
            (State::SynReceived, State::Established)
        ]
    );
}

#[test]
fn handshake_without_scaling_or_timestamps_offered() {
    let mut p = Pair::new(11, LinkModel::default());
    p.trace();
    {
        let cfg = &mut p.c().config_mut().tcp;
        cfg.window_scaling = false;
        cfg.timestamps = false;
        cfg.mss = Some(1000);
    }
    let (c, s, _l) = p.establish();
    let segs = take_segs(&mut p);
    let lad = ladder(&segs);
    let syn = &segs[0];
    let syn_ack = &segs[1];
    assert!(syn.is(SYN) && syn_ack.is(SYN_ACK), "{lad}");
    assert_eq!(syn.options.mss, Some(1000));
    assert_eq!(syn.options.window_scale, None);
    assert_eq!(syn.options.timestamps, None);
    // RFC 7323 §1.3/§2.2: a SYN-ACK carries these options only if the SYN
    // did.
    assert_eq!(syn_ack.options.window_scale, None, "{lad}");
    assert_eq!(syn_ack.options.timestamps, None, "{lad}");
    assert_eq!(syn_ack.options.mss, Some(1460));

    let cn = p.c().connection(c).unwrap().negotiated();
    let sn = p.s().connection(s).unwrap().negotiated();
    assert_eq!(cn.snd_mss, 1000, "our own MSS caps what we send");
    assert_eq!(
        sn.snd_mss, 1000,
        "the peer's MSS caps what the server sends"
    );
    for n in [cn, sn] {
        assert_eq!((n.snd_wscale, n.rcv_wscale), (0, 0));
        assert!(!n.timestamps && !n.window_scaling);
    }
    // Unscaled windows never exceed 16 bits of real window and no segment
    // carries timestamps.
    let now = p.now();
    p.s().send(now, s, &pattern(3000, 1)).unwrap();
    p.run_for(ms(100));
    let mut got = Vec::new();
    p.drain(false, c, &mut got).unwrap();
    assert_eq!(got, pattern(3000, 1));
    let segs = take_segs(&mut p);
    assert!(segs.iter().all(|s| s.options.timestamps.is_none()));
    assert!(
        segs.iter()
            .filter(|s| !s.from_client && s.len > 0)
            .all(|s| s.len <= 1000),
        "{}",
        ladder(&segs)
    );
}

// ---- 2. simultaneous open ----

#[test]
fn simultaneous_open() {
    let mut p = Pair::new(2, LinkModel::default());
    p.trace();
    let ca = client_addr(5000);
    let sa: SocketAddr = format!("{SERVER_IP}:6000").parse().unwrap();
    let hc = p.c().socket();
    p.c().bind(hc, ca).unwrap();
    let hs = p.s().socket();
    p.s().bind(hs, sa).unwrap();
    let now = p.now();
    p.c().connect_from(now, hc, sa).unwrap();
    p.s().connect_from(now, hs, ca).unwrap();
    p.run_for(ms(50));

    let segs = take_segs(&mut p);
    let lad = ladder(&segs);
    // RFC 9293 §3.5, Figure 8: the SYNs cross, each side answers with a
    // SYN-ACK repeating its own SYN, and each SYN-ACK completes the other.
    let syns: Vec<_> = segs.iter().filter(|s| s.is(SYN)).collect();
    let syn_acks: Vec<_> = segs.iter().filter(|s| s.is(SYN_ACK)).collect();
    assert_eq!(syns.len(), 2, "{lad}");
    assert_eq!(syn_acks.len(), 2, "{lad}");
    assert!(syns[0].from_client != syns[1].from_client);
    for sa_seg in &syn_acks {
        let own = syns
            .iter()
            .find(|s| s.from_client == sa_seg.from_client)
            .unwrap();
        let peer = syns
            .iter()
            .find(|s| s.from_client != sa_seg.from_client)
            .unwrap();
        assert_eq!(sa_seg.seq, own.seq, "SYN-ACK repeats the SYN: {lad}");
        assert_eq!(sa_seg.ack, peer.seq.wrapping_add(1), "{lad}");
        // Both offered scaling and timestamps, so the SYN-ACKs keep them.
        assert!(sa_seg.options.window_scale.is_some());
        assert!(sa_seg.options.timestamps.is_some());
        assert!(sa_seg.sent_at > syns[0].sent_at, "SYN-ACK after the SYNs");
    }
    assert!(
        segs.iter()
            .all(|s| s.is(SYN) || s.is(SYN_ACK) || (s.is(ACK) && s.len == 0)),
        "nothing but the handshake, and no RST: {lad}"
    );

    let want = [
        (State::Closed, State::SynSent),
        (State::SynSent, State::SynReceived),
        (State::SynReceived, State::Established),
    ];
    assert_eq!(transitions(p.c()), want);
    assert_eq!(transitions(p.s()), want);
    assert_eq!(p.c().state(hc), Ok(State::Established));
    assert_eq!(p.s().state(hs), Ok(State::Established));
    assert!(events_of(&events(p.c()), hc).contains(&Event::Connected));
    assert!(events_of(&events(p.s()), hs).contains(&Event::Connected));
    assert_eq!(p.c().socket_error(hc), Ok(None));
    assert_eq!(p.s().socket_error(hs), Ok(None));
    let n = p.c().connection(hc).unwrap().negotiated();
    assert!(n.timestamps && n.window_scaling && n.snd_mss == 1448);

    // The sequence numbers line up both ways.
    let now = p.now();
    p.c().send(now, hc, b"ping").unwrap();
    p.s().send(now, hs, b"pong").unwrap();
    p.run_for(ms(50));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    p.drain(false, hc, &mut a).unwrap();
    p.drain(true, hs, &mut b).unwrap();
    assert_eq!((a.as_slice(), b.as_slice()), (&b"pong"[..], &b"ping"[..]));
}

// ---- 3. losses during the handshake ----

#[test]
fn lost_syn_is_retransmitted() {
    let mut p = Pair::new(3, LinkModel::default());
    p.trace();
    let (client, server) = (p.client, p.server);
    p.net.script(client, server, [Fault::Drop]);
    let (l, c) = p.listen_connect(16);
    p.run_for(ms(900));
    assert_eq!(p.c().state(c), Ok(State::SynSent));
    assert_eq!(p.s().accept(l), Err(Error::WouldBlock));
    p.run_until(secs(5), |p| p.c().state(c) == Ok(State::Established));
    p.run_for(ms(10));

    let segs = take_segs(&mut p);
    let lad = ladder(&segs);
    assert_eq!(segs.len(), 4, "{lad}");
    assert!(segs[0].is(SYN) && !segs[0].delivered, "{lad}");
    assert!(segs[1].is(SYN) && segs[1].delivered, "{lad}");
    assert_eq!(segs[1].seq, segs[0].seq, "same ISS on the retransmission");
    assert_eq!(segs[1].options.mss, segs[0].options.mss);
    assert_eq!(segs[1].options.window_scale, segs[0].options.window_scale);
    // RFC 6298 §2.1: the first retransmission after the initial RTO of 1 s.
    assert_eq!(segs[1].sent_at - segs[0].sent_at, secs(1));
    assert!(segs[2].is(SYN_ACK) && segs[2].ack == segs[0].seq.wrapping_add(1));
    assert!(segs[3].is(ACK) && segs[3].ack == segs[2].seq.wrapping_add(1));

    let (s, _) = p.s().accept(l).unwrap();
    assert_eq!(p.s().state(s), Ok(State::Established));
    assert!(events_of(&events(p.c()), c).contains(&Event::Connected));
}

#[test]
fn lost_syn_ack_is_recovered() {
    let mut p = Pair::new(4, LinkModel::default());
    p.trace();
    let (client, server) = (p.client, p.server);
    p.net.script(server, client, [Fault::Drop]);
    let (l, c) = p.listen_connect(16);
    p.run_for(ms(900));
    assert_eq!(p.c().state(c), Ok(State::SynSent));
    p.run_until(secs(5), |p| p.c().state(c) == Ok(State::Established));
    p.run_for(ms(50));

    let segs = take_segs(&mut p);
    let lad = ladder(&segs);
    let syn = &segs[0];
    let syn_acks: Vec<_> = segs.iter().filter(|s| s.is(SYN_ACK)).collect();
    assert!(!syn_acks[0].delivered, "{lad}");
    assert!(syn_acks.len() >= 2, "{lad}");
    for sa in &syn_acks {
        // Every retransmission is the same SYN-ACK (the half-open entry keeps
        // its ISS).
        assert_eq!((sa.seq, sa.ack), (syn_acks[0].seq, syn.seq.wrapping_add(1)));
    }
    assert!(syn_acks[1].delivered);
    assert!(segs.iter().all(|s| !s.has(TcpFlags::RST)), "no RST: {lad}");
    let final_ack = segs
        .iter()
        .find(|s| s.from_client && s.is(ACK))
        .expect("client ACKs the SYN-ACK");
    assert_eq!(final_ack.ack, syn_acks[0].seq.wrapping_add(1));

    let (s, remote) = p.s().accept(l).unwrap();
    assert_eq!(remote, syn.src);
    assert_eq!(p.s().state(s), Ok(State::Established));
    assert_eq!(
        p.s().accept(l),
        Err(Error::WouldBlock),
        "only one connection"
    );
}

#[test]
fn lost_final_ack_is_recovered_by_syn_ack_retransmission() {
    let mut p = Pair::new(5, LinkModel::default());
    p.trace();
    let (client, server) = (p.client, p.server);
    // SYN passes, the handshake's ACK is lost.
    p.net.script(client, server, [Fault::Pass, Fault::Drop]);
    let (l, c) = p.listen_connect(16);
    p.run_for(ms(20));
    assert_eq!(p.c().state(c), Ok(State::Established), "client is done");
    assert_eq!(p.s().accept(l), Err(Error::WouldBlock), "server is not");
    assert!(events(p.s()).is_empty());
    p.run_until(secs(3), |p| p.s().accept(l).is_ok());

    let segs = take_segs(&mut p);
    let lad = ladder(&segs);
    assert!(segs[2].is(ACK) && !segs[2].delivered, "{lad}");
    let syn_acks: Vec<_> = segs.iter().filter(|s| s.is(SYN_ACK)).collect();
    assert_eq!(syn_acks.len(), 2, "{lad}");
    assert_eq!(syn_acks[1].sent_at - syn_acks[0].sent_at, secs(1));
    assert_eq!(syn_acks[1].seq, syn_acks[0].seq);
    // The established client answers the repeated SYN-ACK with an ACK
    // (RFC 9293 §3.10.7.4; RFC 5961 §4 challenge ACK), which completes the
    // server's handshake.
    let re_ack = segs.last().unwrap();
    assert!(
        re_ack.from_client && re_ack.is(ACK) && re_ack.delivered,
        "{lad}"
    );
    assert_eq!(re_ack.seq, segs[0].seq.wrapping_add(1));
    assert_eq!(re_ack.ack, syn_acks[0].seq.wrapping_add(1));
}

#[test]
fn lost_final_ack_then_client_data_completes_handshake() {
    let mut p = Pair::new(6, LinkModel::default());
    p.trace();
    let (client, server) = (p.client, p.server);
    p.net.script(client, server, [Fault::Pass, Fault::Drop]);
    let (l, c) = p.listen_connect(16);
    p.run_until(secs(1), |p| p.c().state(c) == Ok(State::Established));
    // The client speaks first, before the server's SYN-ACK timer fires.
    let now = p.now();
    assert_eq!(p.c().send(now, c, b"hello, server"), Ok(13));
    p.run_for(ms(100));

    let (s, _) = p
        .s()
        .accept(l)
        .expect("the data segment's ACK completed it");
    let mut got = Vec::new();
    p.drain(true, s, &mut got).unwrap();
    assert_eq!(got, b"hello, server");
    let now = p.now();
    p.s().shutdown(now, s, Shutdown::Write).unwrap();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    p.run_for(secs(5));

    let segs = take_segs(&mut p);
    let lad = ladder(&segs);
    let syn_ack = segs.iter().find(|s| s.is(SYN_ACK)).unwrap();
    let data = segs
        .iter()
        .find(|s| s.from_client && s.len > 0)
        .expect("data segment");
    assert!(data.delivered && data.has(ACK), "{lad}");
    assert_eq!(data.ack, syn_ack.seq.wrapping_add(1));
    assert_eq!(data.seq, segs[0].seq.wrapping_add(1));
    assert_eq!(
        segs.iter().filter(|s| s.is(SYN_ACK)).count(),
        1,
        "no SYN-ACK retransmission once the data completed the handshake: {lad}"
    );
    assert!(segs
        .iter()
        .any(|s| !s.from_client && s.has(ACK) && s.ack == data.seq.wrapping_add(13)));
    assert_eq!(
        segs.iter().filter(|s| s.from_client && s.len > 0).count(),
        1,
        "the data is not retransmitted: {lad}"
    );
}

// ---- 4. SYN-RECEIVED timeout ----

#[test]
fn half_open_entry_times_out_with_backoff() {
    let mut p = Pair::new(7, LinkModel::default());
    p.trace();
    let (client, server) = (p.client, p.server);
    let cfg = p.s().config().tcp.clone();
    let l = p.s().listen(Pair::server_addr(), 16).unwrap();
    // Nothing reaches the client, and after its SYN nothing leaves it.
    p.net.model_mut(server, client).unwrap().up = false;
    let now = p.now();
    let _c = p.c().connect(now, Pair::server_addr()).unwrap();
    p.run_for(Duration::from_micros(1500));
    p.net.model_mut(client, server).unwrap().up = false;
    p.run_for(secs(200));

    let segs = take_segs(&mut p);
    let lad = ladder(&segs);
    let syn_acks: Vec<_> = segs.iter().filter(|s| !s.from_client).collect();
    assert!(syn_acks.iter().all(|s| s.is(SYN_ACK)), "{lad}");
    assert!(syn_acks.iter().all(|s| s.seq == syn_acks[0].seq));
    assert_eq!(
        syn_acks.len(),
        1 + usize::from(cfg.synack_retries),
        "the SYN-ACK and its retransmissions: {lad}"
    );
    // Exponential backoff from the initial RTO (RFC 6298 §5.5).
    for (i, w) in syn_acks.windows(2).enumerate() {
        assert_eq!(
            w[1].sent_at - w[0].sent_at,
            cfg.initial_rto * (1 << i),
            "{lad}"
        );
    }
    let last = syn_acks.last().unwrap().sent_at;
    let dropped_at = cfg.initial_rto * (1 << cfg.synack_retries);
    let tr = p.s().take_transitions();
    let gone = tr
        .iter()
        .find(|t| (t.from, t.to) == (State::SynReceived, State::Closed))
        .expect("the half-open entry is deleted");
    assert_eq!(gone.at, last + dropped_at);

    // The listener goes on, with nothing to accept and nothing left over.
    assert_eq!(p.s().state(l), Ok(State::Listen));
    assert_eq!(p.s().accept(l), Err(Error::WouldBlock));
    assert!(events(p.s()).is_empty(), "no Acceptable event");
    assert_eq!(p.s().socket_count(), 1);
    assert_eq!(p.s().connection_count(), 0);
    assert_eq!(p.s().poll_timeout(), None, "no timer left behind");
    assert_eq!(p.s().stats().listen_overflows, 0);

    // And it still serves a new client.
    p.net.model_mut(server, client).unwrap().up = true;
    p.net.model_mut(client, server).unwrap().up = true;
    let now = p.now();
    let c2 = p.c().connect(now, Pair::server_addr()).unwrap();
    p.run_until(secs(2), |p| p.c().state(c2) == Ok(State::Established));
    p.run_for(ms(10));
    assert!(p.s().accept(l).is_ok());
}

// ---- 5. connect to a closed port ----

#[test]
fn connect_to_closed_port_is_refused() {
    let mut p = Pair::new(8, LinkModel::default());
    p.trace();
    let now = p.now();
    let c = p.c().connect(now, Pair::server_addr()).unwrap();
    p.run_for(ms(20));

    let segs = p.segments();
    assert_eq!(segs.len(), 2, "{segs:?}");
    let (syn, rst) = (&segs[0], &segs[1]);
    assert!(syn.from_client && syn.flags == SYN);
    // RFC 9293 §3.10.7.1: the SYN has no ACK, so <SEQ=0><ACK=SEG.SEQ+SEG.LEN>
    // <CTL=RST,ACK>.
    assert!(!rst.from_client && rst.flags == RST_ACK, "{segs:?}");
    assert_eq!(rst.seq, 0);
    assert_eq!(rst.ack, syn.seq.wrapping_add(1));
    assert_eq!(p.s().stats().resets_sent, 1);

    assert_eq!(p.c().state(c), Ok(State::Closed));
    assert_eq!(p.c().socket_error(c), Ok(Some(Error::ConnectionRefused)));
    let now = p.now();
    let mut buf = [0u8; 8];
    assert_eq!(p.c().recv(now, c, &mut buf), Err(Error::ConnectionRefused));
    assert_eq!(p.c().send(now, c, b"x"), Err(Error::ConnectionRefused));
    let ev = events_of(&events(p.c()), c);
    assert!(ev.contains(&Event::Closed), "{ev:?}");
    assert!(!ev.contains(&Event::Connected), "{ev:?}");
    assert_eq!(p.c().connection_count(), 0);

    // No SYN retransmission after the refusal.
    p.run_for(secs(10));
    assert!(p.segments().is_empty());
    assert_eq!(p.c().poll_timeout(), None);
}

// ---- 6. connect to a silent host ----

#[test]
fn connect_to_silent_host_times_out() {
    let mut p = Pair::new(9, LinkModel::default());
    p.trace();
    let (client, server) = (p.client, p.server);
    let cfg = p.c().config().tcp.clone();
    p.net.model_mut(client, server).unwrap().up = false;
    let now = p.now();
    let c = p.c().connect(now, Pair::server_addr()).unwrap();
    p.run_until(secs(300), |p| p.c().state(c) != Ok(State::SynSent));

    let segs = p.segments();
    assert_eq!(segs.len(), 1 + usize::from(cfg.syn_retries), "{segs:?}");
    assert!(segs
        .iter()
        .all(|s| s.from_client && s.flags == SYN && s.seq == segs[0].seq));
    // RFC 6298 §5.5: the RTO doubles each time, up to the maximum (§2.5).
    let rto = |k: u32| (cfg.initial_rto * (1 << k)).min(cfg.max_rto);
    for (i, w) in segs.windows(2).enumerate() {
        assert_eq!(w[1].sent_at - w[0].sent_at, rto(i as u32), "{segs:?}");
    }
    let tr = p.c().take_transitions();
    let failed = tr.last().unwrap();
    assert_eq!((failed.from, failed.to), (State::SynSent, State::Closed));
    assert_eq!(
        failed.at,
        segs.last().unwrap().sent_at + rto(u32::from(cfg.syn_retries))
    );

    assert_eq!(p.c().state(c), Ok(State::Closed));
    assert_eq!(p.c().socket_error(c), Ok(Some(Error::TimedOut)));
    let now = p.now();
    assert_eq!(p.c().recv(now, c, &mut [0u8; 4]), Err(Error::TimedOut));
    let ev = events_of(&events(p.c()), c);
    assert!(ev.contains(&Event::Closed) && !ev.contains(&Event::Connected));
    assert_eq!(p.c().connection_count(), 0);
    assert_eq!(p.c().poll_timeout(), None);
}

// ---- 7. data and FIN before accept ----

/// Listener plus a client whose handshake completed, not yet accepted.
fn connected_unaccepted(p: &mut Pair, backlog: usize) -> (SocketHandle, SocketHandle) {
    let l = p.s().listen(Pair::server_addr(), backlog).unwrap();
    let now = p.now();
    let c = p.c().connect(now, Pair::server_addr()).unwrap();
    p.run_until(secs(2), |p| p.c().state(c) == Ok(State::Established));
    p.run_for(ms(5));
    (l, c)
}

#[test]
fn data_sent_before_accept_is_readable_after() {
    let mut p = Pair::new(10, LinkModel::default());
    let (l, c) = connected_unaccepted(&mut p, 4);
    p.trace();
    let data = pattern(5000, 7);
    let now = p.now();
    assert_eq!(p.c().send(now, c, &data), Ok(5000));
    p.run_for(ms(200));

    // The server acknowledged everything although nobody accepted yet.
    let segs = p.segments();
    let sent: usize = segs.iter().filter(|s| s.from_client).map(|s| s.len).sum();
    assert_eq!(sent, 5000, "sent once, no retransmission: {segs:?}");
    let first = segs.iter().find(|s| s.from_client && s.len > 0).unwrap();
    assert!(segs
        .iter()
        .any(|s| !s.from_client && s.ack == first.seq.wrapping_add(5000)));
    assert_eq!(p.c().send_queue_len(c), Ok(0));

    let (s, _) = p.s().accept(l).unwrap();
    assert_eq!(p.s().recv_queue_len(s), Ok(5000));
    let mut got = Vec::new();
    assert_eq!(p.drain(true, s, &mut got), Ok(false), "no end-of-stream");
    assert_eq!(got, data);
    assert_eq!(p.s().state(s), Ok(State::Established));
}

#[test]
fn fin_received_before_accept() {
    let mut p = Pair::new(12, LinkModel::default());
    let (l, c) = connected_unaccepted(&mut p, 4);
    p.trace();
    let now = p.now();
    p.c().send(now, c, b"request").unwrap();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    p.run_until(secs(1), |p| p.c().state(c) == Ok(State::FinWait2));

    let segs = p.segments();
    let fin = segs
        .iter()
        .find(|s| s.from_client && s.has(TcpFlags::FIN))
        .expect("FIN sent");
    assert!(segs
        .iter()
        .any(|s| !s.from_client && s.ack == fin.seq.wrapping_add(fin.len as u32 + 1)));

    // accept still returns the connection, in CLOSE-WAIT.
    let (s, remote) = p.s().accept(l).unwrap();
    assert_eq!(remote.ip(), CLIENT_IP.parse::<std::net::IpAddr>().unwrap());
    assert_eq!(p.s().state(s), Ok(State::CloseWait));
    let mut got = Vec::new();
    assert_eq!(
        p.drain(true, s, &mut got),
        Ok(true),
        "end-of-stream after data"
    );
    assert_eq!(got, b"request");
    let now = p.now();
    assert_eq!(p.s().recv(now, s, &mut [0u8; 4]), Ok(0), "EOF again");
    // The server can still answer, then close.
    p.s().send(now, s, b"response").unwrap();
    p.s().close(now, s).unwrap();
    p.run_until(secs(1), |p| p.c().state(c) == Ok(State::TimeWait));
    let mut resp = Vec::new();
    assert_eq!(p.drain(false, c, &mut resp), Ok(true));
    assert_eq!(resp, b"response");
    p.run_for(ms(10));
    assert_eq!(p.s().socket_count(), 1, "only the listener remains");
}

#[test]
fn lost_final_ack_then_data_and_fin_before_accept() {
    let mut p = Pair::new(13, LinkModel::default());
    let (client, server) = (p.client, p.server);
    p.net.script(client, server, [Fault::Pass, Fault::Drop]);
    let (l, c) = p.listen_connect(4);
    p.run_until(secs(1), |p| p.c().state(c) == Ok(State::Established));
    let now = p.now();
    p.c().send(now, c, b"all at once").unwrap();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    p.run_for(ms(100));
    // The first segment the server sees after its SYN-ACK carries the ACK,
    // the data and the FIN: one segment opens and half-closes.
    let (s, _) = p.s().accept(l).unwrap();
    assert_eq!(p.s().state(s), Ok(State::CloseWait));
    let mut got = Vec::new();
    assert_eq!(p.drain(true, s, &mut got), Ok(true));
    assert_eq!(got, b"all at once");
    assert_eq!(p.c().state(c), Ok(State::FinWait2));
}

// ---- 8. accept-queue overflow ----

#[test]
fn listen_queue_overflow_drops_syns_until_accept() {
    // SYN cookies off: with them, the SYNs that find the SYN queue full are
    // answered statelessly instead (tests/hardening_syn_cookies.rs).
    let cfg = synfin::stack::StackConfig {
        syn_cookies: false,
        ..Default::default()
    };
    let mut p = Pair::with_config(14, LinkModel::default(), cfg);
    p.trace();
    let l = p.s().listen(Pair::server_addr(), 2).unwrap();
    let now = p.now();
    let cs: Vec<_> = (0..4)
        .map(|_| p.c().connect(now, Pair::server_addr()).unwrap())
        .collect();
    p.run_for(ms(500));
    let state = |p: &mut Pair, i: usize| p.c().state(cs[i]).unwrap();
    assert_eq!(
        (0..4).map(|i| state(&mut p, i)).collect::<Vec<_>>(),
        [
            State::Established,
            State::Established,
            State::SynSent,
            State::SynSent
        ]
    );
    // DESIGN.md: a full queue drops the SYN, which the client retries.
    assert_eq!(p.s().stats().listen_overflows, 2);
    // Retransmitted at 1 s: still full (nobody accepted).
    p.run_for(ms(1000));
    assert_eq!(p.s().stats().listen_overflows, 4);
    assert_eq!(state(&mut p, 2), State::SynSent);

    let mut accepted = vec![p.s().accept(l).unwrap().1, p.s().accept(l).unwrap().1];
    assert_eq!(p.s().accept(l), Err(Error::WouldBlock));
    // Next retransmissions (at 3 s) get in.
    p.run_until(secs(5), |p| {
        (0..4).all(|i| p.c().state(cs[i]) == Ok(State::Established))
    });
    p.run_for(ms(10));
    accepted.push(p.s().accept(l).unwrap().1);
    accepted.push(p.s().accept(l).unwrap().1);
    assert_eq!(p.s().accept(l), Err(Error::WouldBlock));
    let mut want: Vec<_> = cs.iter().map(|&c| p.c().local_addr(c).unwrap()).collect();
    want.sort();
    accepted.sort();
    assert_eq!(accepted, want, "every client got in exactly once");
    assert_eq!(p.s().stats().listen_overflows, 4);

    let segs = take_segs(&mut p);
    let lad = ladder(&segs);
    assert!(segs.iter().all(|s| !s.has(TcpFlags::RST)), "{lad}");
    for (i, &c) in cs.iter().enumerate() {
        let port = p.c().local_addr(c).unwrap();
        let syns = segs.iter().filter(|s| s.is(SYN) && s.src == port).count();
        let syn_acks: Vec<_> = segs
            .iter()
            .filter(|s| s.is(SYN_ACK) && s.dst == port)
            .collect();
        assert_eq!(syn_acks.len(), 1, "one SYN-ACK per client: {lad}");
        if i < 2 {
            assert_eq!(syns, 1, "{lad}");
        } else {
            // SYNs at 0 s, 1 s dropped; the one at 3 s answered.
            assert_eq!(syns, 3, "{lad}");
            assert_eq!(syn_acks[0].sent_at.total_millis(), 3001, "{lad}");
        }
    }
}

#[test]
fn final_ack_into_full_accept_queue_is_ignored_until_accept() {
    let mut p = Pair::new(15, LinkModel::default());
    let (l, a) = connected_unaccepted(&mut p, 2);
    p.trace();
    let now = p.now();
    let b = p.c().connect(now, Pair::server_addr()).unwrap();
    let c = p.c().connect(now, Pair::server_addr()).unwrap();
    p.run_for(ms(10));
    // Both SYNs fit the SYN queue; only B's ACK fits the accept queue. C's
    // ACK is ignored and its entry kept (as Linux does by default), so C's
    // client believes it is connected.
    assert_eq!(p.c().state(b), Ok(State::Established));
    assert_eq!(p.c().state(c), Ok(State::Established));
    assert_eq!(p.s().stats().listen_overflows, 1);
    let now = p.now();
    p.c().send(now, c, b"from C").unwrap();
    p.run_for(ms(1500));
    assert!(p.s().stats().listen_overflows >= 2, "the data's ACK too");

    let mut got = vec![p.s().accept(l).unwrap(), p.s().accept(l).unwrap()];
    assert_eq!(p.s().accept(l), Err(Error::WouldBlock));
    p.run_until(secs(10), |p| p.s().accept(l).map(|x| got.push(x)).is_ok());
    let c_addr = p.c().local_addr(c).unwrap();
    assert_eq!(got[2].1, c_addr, "C is accepted once there is room");
    let mut want = vec![
        p.c().local_addr(a).unwrap(),
        p.c().local_addr(b).unwrap(),
        c_addr,
    ];
    want.sort();
    let mut addrs: Vec<_> = got.iter().map(|x| x.1).collect();
    addrs.sort();
    assert_eq!(addrs, want);

    // C's data, ignored while its handshake could not complete, is
    // retransmitted and arrives once the connection exists.
    let sc = got[2].0;
    let mut data = Vec::new();
    p.run_until(secs(10), |p| {
        p.drain(true, sc, &mut data).unwrap();
        data.len() == 6
    });
    assert_eq!(data, b"from C");

    let segs = take_segs(&mut p);
    let lad = ladder(&segs);
    assert!(segs.iter().all(|s| !s.has(TcpFlags::RST)), "{lad}");
    assert!(
        segs.iter()
            .filter(|s| s.is(SYN_ACK) && s.dst == c_addr)
            .count()
            >= 2,
        "C's half-open entry retransmits its SYN-ACK: {lad}"
    );
    assert!(
        segs.iter().filter(|s| s.src == c_addr && s.len > 0).count() >= 2,
        "C's data was retransmitted: {lad}"
    );
}

// ---- 9. closing a listener ----

#[test]
fn closing_listener_resets_unaccepted_connections() {
    let mut p = Pair::new(16, LinkModel::default());
    let (ca, sa, l) = p.establish();
    let now = p.now();
    let cb = p.c().connect(now, Pair::server_addr()).unwrap();
    let cc = p.c().connect(now, Pair::server_addr()).unwrap();
    p.run_until(secs(1), |p| {
        p.c().state(cb) == Ok(State::Established) && p.c().state(cc) == Ok(State::Established)
    });
    let now = p.now();
    p.c().send(now, cb, b"never read").unwrap();
    p.run_for(ms(100));
    let b_addr = p.c().local_addr(cb).unwrap();
    let c_addr = p.c().local_addr(cc).unwrap();
    events(p.c());
    assert_eq!(
        p.s().socket_count(),
        4,
        "listener, one accepted, two queued"
    );

    p.trace();
    let now = p.now();
    p.s().close(now, l).unwrap();
    p.run_for(ms(50));

    let segs = take_segs(&mut p);
    let lad = ladder(&segs);
    for (h, addr) in [(cb, b_addr), (cc, c_addr)] {
        let rst: Vec<_> = segs.iter().filter(|s| s.dst == addr).collect();
        assert_eq!(rst.len(), 1, "{lad}");
        let rst = rst[0];
        assert!(rst.is(RST_ACK) && rst.delivered, "{lad}");
        // RFC 9293 §3.10.5 ABORT: <SEQ=SND.NXT>; it is exactly what the
        // client expects next, so it is accepted (RFC 5961 §3.2).
        let conn = p.c().connection(h).unwrap();
        assert_eq!(conn.state(), State::Closed);
        assert_eq!(p.c().state(h), Ok(State::Closed));
        assert_eq!(p.c().socket_error(h), Ok(Some(Error::ConnectionReset)));
        let now = p.now();
        assert_eq!(
            p.c().recv(now, h, &mut [0u8; 8]),
            Err(Error::ConnectionReset)
        );
        assert_eq!(p.c().send(now, h, b"x"), Err(Error::ConnectionReset));
    }
    let ev = events(p.c());
    assert!(events_of(&ev, cb).contains(&Event::Closed));
    assert!(events_of(&ev, cc).contains(&Event::Closed));

    // The accepted connection is untouched.
    assert_eq!(p.s().state(sa), Ok(State::Established));
    assert_eq!(p.s().socket_count(), 1);
    assert_eq!(p.s().connection_count(), 1);
    let now = p.now();
    p.c().send(now, ca, b"still here").unwrap();
    p.run_for(ms(100));
    let mut got = Vec::new();
    p.drain(true, sa, &mut got).unwrap();
    assert_eq!(got, b"still here");

    // The port no longer listens: a new connect is refused.
    let now = p.now();
    let cd = p.c().connect(now, Pair::server_addr()).unwrap();
    p.run_for(ms(20));
    assert_eq!(p.c().socket_error(cd), Ok(Some(Error::ConnectionRefused)));
}

/// RFC 7323 §2.2: the window of a segment with SYN set is never scaled — in a
/// simultaneous open that includes the SYN-ACK that completes the handshake.
/// The sender must then stay within that (unscaled) window until the peer
/// advertises a scaled one (RFC 9293 §3.8.6).
#[test]
fn simultaneous_open_syn_ack_window_is_not_scaled() {
    let mut cfg = synfin::stack::StackConfig::default();
    // A huge MSS makes the initial congestion window (2 SMSS) larger than the
    // receive window, so only the peer's window limits the first flight.
    cfg.tcp.mtu = 65535;
    let mut p = Pair::with_config(17, LinkModel::default(), cfg);
    let ca = client_addr(5000);
    let sa: SocketAddr = format!("{SERVER_IP}:6000").parse().unwrap();
    let hc = p.c().socket();
    p.c().bind(hc, ca).unwrap();
    let hs = p.s().socket();
    // 100 000 bytes need a shift of 1; the SYN-ACK can say only 65 535.
    p.s().set_buffer_sizes(hs, None, Some(100_000)).unwrap();
    p.s().bind(hs, sa).unwrap();
    p.trace();
    let now = p.now();
    p.c().connect_from(now, hc, sa).unwrap();
    p.s().connect_from(now, hs, ca).unwrap();
    p.run_until(secs(1), |p| p.c().state(hc) == Ok(State::Established));
    assert_eq!(p.c().connection(hc).unwrap().negotiated().snd_wscale, 1);
    let data = pattern(200_000, 9);
    let now = p.now();
    let n = p.c().send(now, hc, &data).unwrap();
    p.run_for(ms(500));

    let segs = take_segs(&mut p);
    let lad = ladder(&segs);
    // Right edge of the server's window as advertised so far.
    let mut edge: Option<u32> = None;
    for s in &segs {
        if !s.from_client && s.has(ACK) {
            let wnd = if s.has(SYN) {
                u32::from(s.window)
            } else {
                u32::from(s.window) << 1
            };
            let e = s.ack.wrapping_add(wnd);
            edge = Some(edge.map_or(e, |x| if (e.wrapping_sub(x) as i32) > 0 { e } else { x }));
        }
        // A one-byte probe of a zero window goes past the edge by design
        // (RFC 9293 §3.8.6.1).
        let probe = s.len == 1 && s.seq == edge.unwrap_or(0);
        if s.from_client && s.len > 0 && !probe {
            let end = s.seq.wrapping_add(s.len as u32);
            let e = edge.expect("data only after the SYN-ACK");
            assert!(
                (end.wrapping_sub(e) as i32) <= 0,
                "client sent beyond the advertised window (edge {e}): {lad}"
            );
        }
    }
    let mut got = Vec::new();
    p.run_until(secs(5), |p| {
        p.drain(true, hs, &mut got).unwrap();
        got.len() == n
    });
    assert_eq!(got, data[..n]);
}

/// RFC 6298 §5.7: when the SYN had to be retransmitted, Karn's algorithm
/// leaves the handshake without an RTT sample, and the RTO MUST be
/// re-initialized to 3 s when data transmission begins.
#[test]
fn rto_falls_back_to_three_seconds_after_syn_retransmission() {
    // Without SACK, so no tail-loss probe (RFC 8985 §7, 1 s before any
    // RTT sample) comes before the retransmission timeout measured here.
    let cfg = synfin::stack::StackConfig {
        tcp: synfin::tcp::TcpConfig {
            sack: false,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut p = Pair::with_config(18, LinkModel::default(), cfg);
    let (client, server) = (p.client, p.server);
    // The SYN and, later, the first data segment are lost.
    p.net.script(client, server, [Fault::Drop]);
    let (l, c) = p.listen_connect(4);
    p.run_until(secs(5), |p| p.c().state(c) == Ok(State::Established));
    assert_eq!(p.c().connection(c).unwrap().rto(), secs(3));
    p.trace();
    p.net.script(client, server, [Fault::Drop]);
    let now = p.now();
    p.c().send(now, c, b"first").unwrap();
    p.run_for(secs(4));
    let segs = p.segments();
    let data: Vec<_> = segs.iter().filter(|s| s.from_client && s.len > 0).collect();
    assert_eq!(data.len(), 2, "{segs:?}");
    assert_eq!(data[1].sent_at - data[0].sent_at, secs(3));
    assert!(p.s().accept(l).is_ok());
}

/// The same on the passive side: a SYN-ACK retransmitted by the timer.
#[test]
fn rto_falls_back_to_three_seconds_after_syn_ack_retransmission() {
    let mut p = Pair::new(19, LinkModel::default());
    let (client, server) = (p.client, p.server);
    // The client's SYN reaches the server, its retransmission does not, so
    // only the server's timer resends the SYN-ACK.
    p.net.script(server, client, [Fault::Drop]);
    p.net.script(client, server, [Fault::Pass, Fault::Drop]);
    let (l, c) = p.listen_connect(4);
    let mut s = None;
    p.run_until(secs(5), |p| {
        s = p.s().accept(l).ok().map(|x| x.0);
        s.is_some()
    });
    let s = s.unwrap();
    assert_eq!(p.c().state(c), Ok(State::Established));
    assert_eq!(p.s().connection(s).unwrap().rto(), secs(3));
}

/// Simultaneous open where one SYN is lost: the other side's SYN turns the
/// first into SYN-RECEIVED, and its SYN-ACK completes an ordinary handshake
/// for the side still in SYN-SENT.
#[test]
fn simultaneous_open_with_one_syn_lost() {
    let mut p = Pair::new(20, LinkModel::default());
    p.trace();
    let (client, server) = (p.client, p.server);
    p.net.script(client, server, [Fault::Drop]);
    let ca = client_addr(5001);
    let sa: SocketAddr = format!("{SERVER_IP}:6001").parse().unwrap();
    let hc = p.c().socket();
    p.c().bind(hc, ca).unwrap();
    let hs = p.s().socket();
    p.s().bind(hs, sa).unwrap();
    let now = p.now();
    p.c().connect_from(now, hc, sa).unwrap();
    p.s().connect_from(now, hs, ca).unwrap();
    p.run_for(ms(50));
    assert_eq!(p.c().state(hc), Ok(State::Established));
    assert_eq!(p.s().state(hs), Ok(State::Established));
    assert_eq!(
        transitions(p.c()),
        [
            (State::Closed, State::SynSent),
            (State::SynSent, State::SynReceived),
            (State::SynReceived, State::Established)
        ]
    );
    assert_eq!(
        transitions(p.s()),
        [
            (State::Closed, State::SynSent),
            (State::SynSent, State::Established)
        ]
    );
    let segs = take_segs(&mut p);
    let lad = ladder(&segs);
    let c_syn = &segs[0];
    assert!(
        c_syn.from_client && c_syn.is(SYN) && !c_syn.delivered,
        "{lad}"
    );
    let c_syn_ack = segs
        .iter()
        .find(|s| s.from_client && s.is(SYN_ACK))
        .unwrap();
    assert_eq!(c_syn_ack.seq, c_syn.seq, "the SYN-ACK repeats the lost SYN");
    let s_ack = segs.iter().find(|s| !s.from_client && s.is(ACK)).unwrap();
    assert_eq!(s_ack.ack, c_syn.seq.wrapping_add(1));
    assert!(segs.iter().all(|s| !s.has(TcpFlags::RST)), "{lad}");
}

/// DESIGN.md: closing a listener resets every connection it has not handed
/// out — including half-open ones whose final ACK was lost, whose client
/// believes it is connected and might otherwise wait forever.
#[test]
fn closing_listener_resets_half_open_connections() {
    let mut p = Pair::new(21, LinkModel::default());
    p.trace();
    let (client, server) = (p.client, p.server);
    p.net.script(client, server, [Fault::Pass, Fault::Drop]);
    let (l, c) = p.listen_connect(4);
    p.run_for(ms(10));
    assert_eq!(p.c().state(c), Ok(State::Established));
    assert_eq!(p.s().accept(l), Err(Error::WouldBlock));
    let now = p.now();
    p.s().close(now, l).unwrap();
    p.run_for(secs(5));

    let segs = take_segs(&mut p);
    let lad = ladder(&segs);
    let (syn, syn_ack) = (&segs[0], &segs[1]);
    let rst = segs.iter().find(|s| s.has(TcpFlags::RST)).expect(&lad);
    assert!(
        !rst.from_client && rst.is(RST_ACK) && rst.delivered,
        "{lad}"
    );
    assert_eq!(rst.seq, syn_ack.seq.wrapping_add(1));
    assert_eq!(rst.ack, syn.seq.wrapping_add(1));
    assert_eq!(
        segs.iter().filter(|s| s.is(SYN_ACK)).count(),
        1,
        "no SYN-ACK after the close: {lad}"
    );
    assert_eq!(p.c().state(c), Ok(State::Closed));
    assert_eq!(p.c().socket_error(c), Ok(Some(Error::ConnectionReset)));
    assert_eq!(p.s().socket_count(), 0);
    assert_eq!(p.s().poll_timeout(), None);
}

/// RFC 9293 §3.10.7.3: in a simultaneous open, text on the peer's SYN is
/// queued "for processing after the ESTABLISHED state has been reached" —
/// the SYN-ACK acknowledges the SYN alone, nothing is readable in
/// SYN-RECEIVED, and once the peer's ACK completes the handshake the text is
/// readable and acknowledged. (It used to be discarded.)
#[test]
fn simultaneous_open_keeps_the_text_on_the_peers_syn() {
    use synfin::stack::{Stack, StackConfig};
    use synfin::time::Instant;
    let mut st = Stack::new(StackConfig::default(), 21);
    let ca = client_addr(5002);
    let peer: SocketAddr = format!("{SERVER_IP}:6002").parse().unwrap();
    st.add_address(ca.ip());
    let h = st.socket();
    st.bind(h, ca).unwrap();
    let mut now = Instant::ZERO;
    st.connect_from(now, h, peer).unwrap();
    let out = transmit_all(&mut st, now);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].2.flags, SYN);
    let iss = out[0].2.seq.0;

    // The peer's SYN crosses ours and carries three bytes.
    now += ms(10);
    st.handle_packet(now, &packet(peer, ca, 1000, 0, SYN, b"abc"));
    let out = transmit_all(&mut st, now);
    assert_eq!(out.len(), 1);
    let syn_ack = &out[0].2;
    assert_eq!(syn_ack.flags, SYN_ACK);
    assert_eq!((syn_ack.seq.0, syn_ack.ack.0), (iss, 1001), "the SYN only");
    assert_eq!(st.state(h), Ok(State::SynReceived));
    let mut buf = [0u8; 16];
    assert_eq!(st.recv(now, h, &mut buf), Err(Error::WouldBlock));

    // The peer's ACK, sent after its three bytes, completes the handshake.
    now += ms(10);
    st.handle_packet(now, &packet(peer, ca, 1004, iss.wrapping_add(1), ACK, b""));
    assert_eq!(st.state(h), Ok(State::Established));
    let evs = events_of(&events(&mut st), h);
    assert!(evs.contains(&Event::Readable), "{evs:?}");
    assert_eq!(st.recv(now, h, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"abc");
    // Acknowledged like in-order data: by the delayed ACK at the latest.
    now += secs(1);
    st.handle_timeout(now);
    let out = transmit_all(&mut st, now);
    assert!(
        out.iter()
            .any(|(_, _, s)| s.flags == ACK && s.ack.0 == 1004),
        "{out:?}"
    );
}
