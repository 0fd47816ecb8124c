//! SYNs that reach a 4-tuple in TIME-WAIT (DESIGN.md "SYN received in
//! TIME-WAIT", docs/SEMANTICS.md): RFC 6191 decides whether the SYN may
//! reopen the 4-tuple; any other SYN is answered as in every synchronized
//! state (RFC 9293 §3.10.7.4) — a rate-limited challenge ACK (RFC 5961 §4,
//! §7), or under RFC 793's rule (`rfc5961_syn` off) a RST for a SYN in the
//! window.
//!
//! The server closes first, so it holds the TIME-WAIT record while its
//! listener stays open; segments claiming to come from the client's 4-tuple
//! are crafted and handed to the server stack, and what it answers shows in
//! the trace.

mod common;
#[path = "common/open.rs"]
mod open;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use open::*;
use synfin::links::LinkModel;
use synfin::stack::{Shutdown, SocketHandle, StackConfig};
use synfin::tcp::State;
use synfin::wire::{TcpFlags, TcpOptions};

const SYN: TcpFlags = TcpFlags::SYN;
const SYN_ACK: TcpFlags = TcpFlags(TcpFlags::SYN.0 | TcpFlags::ACK.0);
const SYN_FIN: TcpFlags = TcpFlags(TcpFlags::SYN.0 | TcpFlags::FIN.0);
const ACK: TcpFlags = TcpFlags::ACK;
const RST_ACK: TcpFlags = TcpFlags(TcpFlags::RST.0 | TcpFlags::ACK.0);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The server in TIME-WAIT for the client's 4-tuple, its listener open.
struct TimeWait {
    p: Pair,
    /// The server's socket, whose state shows the record.
    s: SocketHandle,
    listener: SocketHandle,
    /// The client's address (the 4-tuple's remote end at the server).
    client: SocketAddr,
    /// The record's SND.NXT and RCV.NXT, read off the ACK it re-sends.
    snd_nxt: u32,
    rcv_nxt: u32,
}

fn time_wait(seed: u64, cfg: StackConfig) -> TimeWait {
    let mut p = Pair::with_config(seed, LinkModel::default(), cfg);
    let (c, s, listener) = p.establish();
    let client = p.c().local_addr(c).unwrap();
    let now = p.now();
    p.s().shutdown(now, s, Shutdown::Write).unwrap();
    p.run_until(Duration::from_secs(2), |p| {
        p.c().state(c) == Ok(State::CloseWait)
    });
    let now = p.now();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    p.run_until(Duration::from_secs(2), |p| {
        p.s().time_wait_count() == 1 && p.c().state(c) == Ok(State::Closed)
    });
    assert_eq!(p.s().state(s), Ok(State::TimeWait));
    p.trace();
    // An old data segment is not acceptable: TIME-WAIT re-sends its ACK
    // (not a challenge ACK, so it spends no budget), which tells us
    // SND.NXT and RCV.NXT.
    to_server(&mut p, client, 1, 0, ACK, b"?", None);
    p.run_for(ms(10));
    let ack = server_segs(&mut p);
    assert_eq!(ack.len(), 1, "{}", ladder(&ack));
    let (snd_nxt, rcv_nxt) = (ack[0].seq, ack[0].ack);
    TimeWait {
        p,
        s,
        listener,
        client,
        snd_nxt,
        rcv_nxt,
    }
}

/// Hands the server a segment from `from`, with a timestamp option when
/// `ts` is given.
fn to_server(
    p: &mut Pair,
    from: SocketAddr,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    data: &[u8],
    ts: Option<u32>,
) {
    let options = TcpOptions {
        mss: ts.map(|_| 1460),
        timestamps: ts.map(|val| (val, 0)),
        ..TcpOptions::default()
    };
    let pkt = packet_with_options(from, Pair::server_addr(), seq, ack, flags, options, data);
    let now = p.now();
    p.s().handle_packet(now, &pkt);
}

/// What the server sent since the last call (the client stack's answers,
/// RSTs for a connection it no longer has, are left out).
fn server_segs(p: &mut Pair) -> Vec<Seg> {
    take_segs(p)
        .into_iter()
        .filter(|s| !s.from_client)
        .collect()
}

/// An old SYN (not above RCV.NXT, no timestamp) and a SYN-ACK do not
/// reopen: each draws a challenge ACK from the stack-wide budget, at most
/// `challenge_ack_limit` a second, and the record stays as it was.
#[test]
fn older_syn_gets_a_rate_limited_challenge_ack() {
    let cfg = StackConfig {
        challenge_ack_limit: 10,
        ..StackConfig::default()
    };
    let mut t = time_wait(71, cfg);
    let (client, rcv_nxt, snd_nxt) = (t.client, t.rcv_nxt, t.snd_nxt);
    let before = t.p.s().stats();
    // A replayed burst: SYNs at and below RCV.NXT, SYN-FINs and SYN-ACKs.
    for i in 0..100u32 {
        let (seq, flags) = match i % 3 {
            0 => (rcv_nxt.wrapping_sub(i), SYN),
            1 => (rcv_nxt, SYN_FIN),
            _ => (rcv_nxt.wrapping_add(i), SYN_ACK),
        };
        to_server(&mut t.p, client, seq, 0, flags, &[], None);
        t.p.run_for(ms(1));
    }
    let segs = server_segs(&mut t.p);
    assert!(
        segs.iter()
            .all(|s| s.is(ACK) && s.seq == snd_nxt && s.ack == rcv_nxt),
        "only challenge ACKs: {}",
        ladder(&segs)
    );
    // RFC 5961 §7: between half and all of the limit in one second.
    assert!((5..=10).contains(&segs.len()), "{}", ladder(&segs));
    let stats = t.p.s().stats();
    assert_eq!(
        (stats.challenge_acks - before.challenge_acks) as usize,
        segs.len()
    );
    assert_eq!(
        (stats.challenge_acks_limited - before.challenge_acks_limited) as usize,
        100 - segs.len()
    );
    // Still TIME-WAIT; the listener made no half-open connection.
    assert_eq!(t.p.s().time_wait_count(), 1);
    assert_eq!(t.p.s().state(t.s), Ok(State::TimeWait));
    assert_eq!(t.p.s().syn_queue_len(t.listener), Ok(0));
    // A new second, a new budget.
    t.p.run_for(Duration::from_secs(1));
    to_server(&mut t.p, client, rcv_nxt, 0, SYN, &[], None);
    t.p.run_for(ms(1));
    let segs = server_segs(&mut t.p);
    assert_eq!(segs.len(), 1, "{}", ladder(&segs));
    assert!(segs[0].is(ACK));
}

/// RFC 6191: a SYN above RCV.NXT reopens the 4-tuple — the record goes and
/// the listener answers with a SYN-ACK.
#[test]
fn newer_syn_reopens() {
    let mut t = time_wait(72, StackConfig::default());
    let seq = t.rcv_nxt.wrapping_add(100_000);
    let client = t.client;
    to_server(&mut t.p, client, seq, 0, SYN, &[], None);
    t.p.run_for(ms(1));
    let segs = server_segs(&mut t.p);
    assert!(!segs.is_empty(), "a SYN-ACK");
    assert!(segs[0].is(SYN_ACK), "{}", ladder(&segs));
    assert_eq!(segs[0].ack, seq.wrapping_add(1));
    assert_eq!(t.p.s().time_wait_count(), 0);
    assert_eq!(t.p.s().state(t.s), Ok(State::Closed));
}

/// RFC 6191 §2 with timestamps: the timestamp decides, not the sequence
/// number — an older sequence number with a newer timestamp reopens, a
/// newer sequence number with an older timestamp is challenged.
#[test]
fn timestamps_decide_whether_a_syn_is_newer() {
    let mut t = time_wait(73, StackConfig::default());
    let client = t.client;
    let recent =
        t.p.s()
            .time_wait_table()
            .iter()
            .next()
            .unwrap()
            .1
            .ts_recent
            .expect("the connection used timestamps");
    let ahead = t.rcv_nxt.wrapping_add(100_000);
    to_server(&mut t.p, client, ahead, 0, SYN, &[], Some(recent));
    t.p.run_for(ms(1));
    let segs = server_segs(&mut t.p);
    assert_eq!(segs.len(), 1, "{}", ladder(&segs));
    assert!(segs[0].is(ACK) && segs[0].ack == t.rcv_nxt);
    assert_eq!(t.p.s().time_wait_count(), 1);

    let behind = t.rcv_nxt.wrapping_sub(100_000);
    to_server(
        &mut t.p,
        client,
        behind,
        0,
        SYN,
        &[],
        Some(recent.wrapping_add(1)),
    );
    t.p.run_for(ms(1));
    let segs = server_segs(&mut t.p);
    assert!(!segs.is_empty() && segs[0].is(SYN_ACK), "{}", ladder(&segs));
    assert_eq!(segs[0].ack, behind.wrapping_add(1));
    assert_eq!(t.p.s().time_wait_count(), 0);
}

/// With no listener to take it, even a newer SYN cannot reopen: it is
/// challenged and the record stays (as Linux's TCP_TW_SYN falls back to an
/// ACK).
#[test]
fn newer_syn_without_listener_is_challenged() {
    let mut t = time_wait(74, StackConfig::default());
    let now = t.p.now();
    let l = t.listener;
    t.p.s().close(now, l).unwrap();
    let client = t.client;
    to_server(
        &mut t.p,
        client,
        t.rcv_nxt.wrapping_add(10),
        0,
        SYN,
        &[],
        None,
    );
    t.p.run_for(ms(1));
    let segs = server_segs(&mut t.p);
    assert_eq!(segs.len(), 1, "{}", ladder(&segs));
    assert!(segs[0].is(ACK) && segs[0].ack == t.rcv_nxt);
    assert_eq!(t.p.s().time_wait_count(), 1);
}

/// RFC 793's rule (`rfc5961_syn` off, FreeBSD's `insecure_syn=1`): a SYN
/// outside the window gets the plain (not rate-limited) ACK of an
/// unacceptable segment; one in the window is an error — RST, and
/// TIME-WAIT ends.
#[test]
fn insecure_syn_in_window_resets() {
    let mut cfg = StackConfig {
        challenge_ack_limit: 2,
        ..StackConfig::default()
    };
    cfg.tcp.rfc5961_syn = false;
    let mut t = time_wait(75, cfg);
    let (client, rcv_nxt, snd_nxt) = (t.client, t.rcv_nxt, t.snd_nxt);
    for i in 1..=5u32 {
        to_server(&mut t.p, client, rcv_nxt.wrapping_sub(i), 0, SYN, &[], None);
    }
    to_server(&mut t.p, client, rcv_nxt, 0, SYN_ACK, &[], None);
    t.p.run_for(ms(1));
    let segs = server_segs(&mut t.p);
    assert_eq!(segs.len(), 6, "{}", ladder(&segs));
    assert!(segs[..5].iter().all(|s| s.is(ACK) && s.ack == rcv_nxt));
    assert!(segs[5].is(RST_ACK), "{}", ladder(&segs));
    assert_eq!((segs[5].seq, segs[5].ack), (snd_nxt, rcv_nxt));
    assert_eq!(t.p.s().time_wait_count(), 0);
    assert_eq!(t.p.s().state(t.s), Ok(State::Closed));
}

/// At `max_time_wait` records, each new TIME-WAIT drops the oldest record
/// early (as Linux's `tcp_max_tw_buckets`), and `StackStats` counts it.
#[test]
fn full_time_wait_table_evicts_the_oldest_and_counts_it() {
    let cfg = StackConfig {
        max_time_wait: 2,
        ..StackConfig::default()
    };
    let mut p = Pair::with_config(75, LinkModel::default(), cfg);
    let l = p.s().listen(Pair::server_addr(), 16).unwrap();
    for _ in 0..4 {
        let now = p.now();
        let c = p.c().connect(now, Pair::server_addr()).unwrap();
        let mut accepted = None;
        p.run_until(Duration::from_secs(5), |p| {
            accepted = accepted.or_else(|| p.s().accept(l).ok());
            accepted.is_some() && p.c().state(c) == Ok(State::Established)
        });
        let s = accepted.unwrap().0;
        // The client closes first, so the client holds the TIME-WAIT.
        let now = p.now();
        p.c().close(now, c).unwrap();
        p.run_until(Duration::from_secs(5), |p| {
            p.s().state(s) == Ok(State::CloseWait)
        });
        let now = p.now();
        p.s().close(now, s).unwrap();
        // Done when the client holds no connection: this one is a
        // TIME-WAIT record now.
        p.run_until(Duration::from_secs(5), |p| p.c().connection_count() == 0);
        p.run_for(ms(100));
    }
    assert_eq!(p.c().time_wait_count(), 2);
    assert_eq!(p.c().stats().time_wait_evicted, 2);
    assert_eq!(p.s().stats().time_wait_evicted, 0);
}
