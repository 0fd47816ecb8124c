//! Scenario tests for the closing half of a connection's life (RFC 9293
//! §3.6 "Closing a Connection" and the CLOSE/ABORT/SEGMENT ARRIVES/timeout
//! events of §3.10): active and passive close, simultaneous close,
//! half-close, lost FINs and ACKs, TIME-WAIT, abortive close, zero-window
//! probing and the orphaned FIN-WAIT-2 limit.
//!
//! Every test checks both what went over the wire (decoded segments) and what
//! the application sees (states, events, `recv` results, errors).

mod common;
use common::*;

use std::net::SocketAddr;
use std::time::Duration;

use synfin::links::{Fault, LinkModel};
use synfin::stack::{Error, Event, Shutdown, SocketHandle, Stack, StackConfig};
use synfin::tcp::{State, TcpConfig};
use synfin::time::Instant;
use synfin::wire::TcpFlags;

const FIN: TcpFlags = TcpFlags::FIN;
const SYN: TcpFlags = TcpFlags::SYN;
const RST: TcpFlags = TcpFlags::RST;
const ACK: TcpFlags = TcpFlags::ACK;

// ---- helpers ----

/// The chain of connection states recorded on `st` since the last call
/// (listener transitions left out): `[first.from, first.to, second.to, ...]`.
/// Also checks that the recorded transitions form one unbroken chain.
fn path(st: &mut Stack) -> Vec<State> {
    let ts: Vec<_> = st
        .take_transitions()
        .into_iter()
        .filter(|t| t.remote.is_some())
        .collect();
    let mut out = Vec::new();
    for t in &ts {
        if let Some(&last) = out.last() {
            assert_eq!(last, t.from, "broken transition chain: {ts:?}");
        } else {
            out.push(t.from);
        }
        out.push(t.to);
    }
    out
}

/// When `st` last entered `to` (from the recorded transitions, which this
/// consumes).
fn entered(st: &mut Stack, to: State) -> Option<Instant> {
    st.take_transitions()
        .into_iter()
        .rev()
        .find(|t| t.to == to)
        .map(|t| t.at)
}

/// Every pending event of `st`.
fn events(st: &mut Stack) -> Vec<(SocketHandle, Event)> {
    std::iter::from_fn(|| st.poll_event()).collect()
}

fn has_event(evs: &[(SocketHandle, Event)], h: SocketHandle, e: Event) -> bool {
    evs.iter().any(|&(eh, ee)| eh == h && ee == e)
}

/// A pair with `tcp` tweaked on both stacks.
fn pair_with(seed: u64, model: LinkModel, f: impl FnOnce(&mut StackConfig)) -> Pair {
    let mut cfg = StackConfig::default();
    f(&mut cfg);
    Pair::with_config(seed, model, cfg)
}

/// Establishes with the trace on; returns the sockets and both ISNs (taken
/// from the SYN and SYN-ACK on the wire).
fn establish_traced(p: &mut Pair) -> (SocketHandle, SocketHandle, SocketHandle, u32, u32) {
    p.trace();
    let (c, s, l) = p.establish();
    let segs = p.segments();
    let syn = segs
        .iter()
        .find(|w| w.from_client && w.has(SYN))
        .expect("SYN on the wire");
    let synack = segs
        .iter()
        .find(|w| !w.from_client && w.has(SYN) && w.has(ACK))
        .expect("SYN-ACK on the wire");
    let (ciss, siss) = (syn.seq, synack.seq);
    // Forget the handshake's transitions and events.
    path(p.c());
    path(p.s());
    events(p.c());
    events(p.s());
    (c, s, l, ciss, siss)
}

/// Sends all of `data` on `h` (client or server), as much as fits now;
/// returns how much was queued in total.
fn push(p: &mut Pair, client: bool, h: SocketHandle, data: &[u8], sent: &mut usize) {
    let now = p.now();
    let st = if client { p.c() } else { p.s() };
    while *sent < data.len() {
        match st.send(now, h, &data[*sent..]) {
            Ok(n) => *sent += n,
            Err(Error::WouldBlock) => break,
            Err(e) => panic!("send failed: {e}"),
        }
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

// ---- 1. active close by the client ----

/// RFC 9293 §3.6 case 1: the client closes first. FIN-WAIT-1 → FIN-WAIT-2 →
/// TIME-WAIT on the client, CLOSE-WAIT → LAST-ACK → CLOSED on the server;
/// the FIN follows every queued byte (§3.10.4: "queue this until all
/// preceding SENDs have been segmentized").
/// The states an active closer passes through (RFC 9293 Figure 5, left).
const ACTIVE_CLOSE: [State; 4] = [
    State::Established,
    State::FinWait1,
    State::FinWait2,
    State::TimeWait,
];

/// The states a passive closer passes through.
const PASSIVE_CLOSE: [State; 4] = [
    State::Established,
    State::CloseWait,
    State::LastAck,
    State::Closed,
];

#[test]
fn active_close_drains_send_queue_then_fin() {
    let mut p = Pair::new(11, LinkModel::default());
    let (c, s, _l, ciss, siss) = establish_traced(&mut p);
    const N: usize = 100_000;
    let data = pattern(N, 7);
    let now = p.now();
    assert_eq!(p.c().send(now, c, &data), Ok(N), "fits the send buffer");
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    // CLOSE returns at once; the data is still queued behind the FIN.
    assert_eq!(p.c().state(c), Ok(State::FinWait1));
    assert!(p.c().send_queue_len(c).unwrap() > 0);
    assert_eq!(p.c().send(now, c, b"late"), Err(Error::BrokenPipe));

    let mut got = Vec::new();
    p.run_until(secs(30), |p| {
        p.drain(true, s, &mut got).unwrap() && p.c().state(c) == Ok(State::FinWait2)
    });
    assert!(got == data, "all bytes, in order, before end-of-stream");
    assert_eq!(p.s().state(s), Ok(State::CloseWait));
    // End-of-stream is sticky.
    let now = p.now();
    assert_eq!(p.s().recv(now, s, &mut [0u8; 16]), Ok(0));
    assert!(has_event(&events(p.s()), s, Event::Readable));
    // Our FIN is acknowledged, so nothing is left to send.
    assert_eq!(p.c().send_queue_len(c), Ok(0));

    // The server may still send in CLOSE-WAIT, then closes.
    p.s().send(now, s, b"bye").unwrap();
    p.s().shutdown(now, s, Shutdown::Write).unwrap();
    assert_eq!(p.s().state(s), Ok(State::LastAck));
    let mut cgot = Vec::new();
    p.run_until(secs(10), |p| {
        p.drain(false, c, &mut cgot).unwrap()
            && p.s().state(s) == Ok(State::Closed)
            && p.c().state(c) == Ok(State::TimeWait)
    });
    assert_eq!(cgot, b"bye");
    assert_eq!(p.c().time_wait_count(), 1);
    assert_eq!(p.s().time_wait_count(), 0, "only the active closer waits");
    assert_eq!(p.s().socket_error(s), Ok(None), "a graceful close");
    assert!(has_event(&events(p.c()), c, Event::Closed));
    assert!(has_event(&events(p.s()), s, Event::Closed));

    assert_eq!(path(p.c()), ACTIVE_CLOSE);
    assert_eq!(path(p.s()), PASSIVE_CLOSE);

    // The wire: one client FIN, right after the last data byte, and no
    // client data after it.
    let segs = p.segments();
    let end = ciss.wrapping_add(1 + N as u32);
    let fins: Vec<_> = segs
        .iter()
        .enumerate()
        .filter(|(_, w)| w.from_client && w.has(FIN))
        .collect();
    assert_eq!(fins.len(), 1, "no loss, so exactly one FIN: {fins:?}");
    let (fi, fin) = fins[0];
    assert_eq!(
        fin.seq.wrapping_add(fin.len as u32),
        end,
        "FIN follows byte N"
    );
    let data_bytes: usize = segs
        .iter()
        .filter(|w| w.from_client && w.len > 0)
        .map(|w| w.len)
        .sum();
    assert_eq!(data_bytes, N, "no retransmission on a clean link");
    assert!(
        segs[fi + 1..].iter().all(|w| !w.from_client || w.len == 0),
        "no client data after the FIN"
    );
    // The server acknowledges the FIN (ACK = FIN's seq + 1)...
    assert!(segs[fi + 1..]
        .iter()
        .any(|w| !w.from_client && w.has(ACK) && w.ack == end.wrapping_add(1)));
    // ...and sends its own FIN after its 3 bytes, which the client ACKs last.
    let sfin = segs
        .iter()
        .find(|w| !w.from_client && w.has(FIN))
        .expect("server FIN");
    assert_eq!(sfin.seq.wrapping_add(sfin.len as u32), siss.wrapping_add(4));
    let last = segs.last().unwrap();
    assert!(last.from_client && last.has(ACK) && !last.has(FIN));
    assert_eq!(last.ack, siss.wrapping_add(5));
    assert!(segs.iter().all(|w| !w.has(RST)));

    // TIME-WAIT ends after 2×MSL (default 60 s); the client keeps the handle.
    p.run_for(secs(61));
    assert_eq!(p.c().time_wait_count(), 0);
    assert_eq!(p.c().state(c), Ok(State::Closed));
    let now = p.now();
    p.c().close(now, c).unwrap();
    p.s().close(now, s).unwrap();
    assert_eq!(p.c().socket_count(), 0);
    assert_eq!(p.s().socket_count(), 1, "only the listener");
    assert_eq!(p.c().connection_count() + p.s().connection_count(), 0);
}

/// The default `close()` (handle released at once) drains a send queue
/// larger than one window before its FIN, and finishes in the background:
/// the orphan goes through FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT and its slot
/// is freed.
#[test]
fn orphaned_close_still_delivers_everything() {
    let mut p = Pair::new(12, LinkModel::default().bandwidth(10_000_000));
    let (c, s, _l, ciss, _) = establish_traced(&mut p);
    let data = pattern(120_000, 1);
    let now = p.now();
    assert_eq!(p.c().send(now, c, &data), Ok(data.len()));
    p.c().close(now, c).unwrap();
    assert_eq!(p.c().socket_count(), 1, "but the connection lives on");
    let mut got = Vec::new();
    p.run_until(secs(30), |p| p.drain(true, s, &mut got).unwrap());
    assert!(got == data);
    // The server closes only after its delayed ACK of the FIN went out on
    // its own (TcpConfig::delay_fin_ack), so the orphan sees FIN-WAIT-2.
    p.run_for(ms(100));
    assert_eq!(p.c().connection_count(), 1);
    let now = p.now();
    p.s().close(now, s).unwrap();
    p.run_until(secs(10), |p| p.c().time_wait_count() == 1);
    assert_eq!(p.c().socket_count(), 0, "TIME-WAIT is a compact record");
    assert_eq!(p.c().connection_count(), 0);
    assert_eq!(path(p.c()), ACTIVE_CLOSE);
    assert!(
        events(p.c()).iter().all(|&(h, _)| h != c),
        "no events for a released handle"
    );
    let segs = p.segments();
    let fin = segs.iter().find(|w| w.from_client && w.has(FIN)).unwrap();
    assert_eq!(
        fin.seq.wrapping_add(fin.len as u32),
        ciss.wrapping_add(1 + data.len() as u32)
    );
    assert!(segs.iter().all(|w| !w.has(RST)));
}

// ---- 2. simultaneous close ----

// ---- the ACK of a FIN (TcpConfig::delay_fin_ack) ----

/// A server that closes as soon as it reads end-of-stream sends its FIN
/// with the ACK of the client's — a three-segment close, as Linux's — and
/// the client goes straight from FIN-WAIT-1 to TIME-WAIT (RFC 9293
/// §3.10.7.4, "eighth": the FIN arrives with the ACK of ours).
#[test]
fn prompt_close_sends_the_fin_with_the_ack() {
    let mut p = Pair::new(13, LinkModel::default());
    let (c, s, _l, ciss, siss) = establish_traced(&mut p);
    let now = p.now();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    p.run_until(secs(1), |p| p.drain(true, s, &mut Vec::new()).unwrap());
    let now = p.now();
    p.s().close(now, s).unwrap();
    p.run_until(secs(1), |p| p.c().state(c) == Ok(State::TimeWait));
    // Past the delayed-ACK time: the FIN carried the ACK, nothing follows.
    p.run_for(ms(100));
    let segs = p.segments();
    assert_eq!(segs.len(), 3, "FIN, FIN+ACK, ACK: {segs:?}");
    assert!(segs[0].from_client && segs[0].is(FIN | ACK));
    assert_eq!(segs[0].seq, ciss.wrapping_add(1));
    assert!(!segs[1].from_client && segs[1].is(FIN | ACK));
    assert_eq!(
        segs[1].ack,
        ciss.wrapping_add(2),
        "the FIN acknowledges ours"
    );
    assert!(segs[2].from_client && segs[2].is(ACK));
    assert_eq!(segs[2].ack, siss.wrapping_add(2));
    assert_eq!(
        path(p.c()),
        [State::Established, State::FinWait1, State::TimeWait]
    );
    assert_eq!(path(p.s()), PASSIVE_CLOSE);
}

/// A server that does not close acknowledges the FIN on its own after the
/// delayed-ACK time (40 ms by default); with `delay_fin_ack` off, at once
/// (the BSD stacks' `TF_ACKNOW`). Either way the client reaches FIN-WAIT-2.
#[test]
fn fin_is_acknowledged_after_the_delayed_ack_time_or_at_once() {
    for delay in [true, false] {
        let mut p = pair_with(14, LinkModel::default(), |c| c.tcp.delay_fin_ack = delay);
        let (c, s, _l, ciss, _) = establish_traced(&mut p);
        let now = p.now();
        p.c().shutdown(now, c, Shutdown::Write).unwrap();
        p.run_until(secs(1), |p| p.c().state(c) == Ok(State::FinWait2));
        assert_eq!(p.s().state(s), Ok(State::CloseWait));
        let segs = p.segments();
        assert_eq!(segs.len(), 2, "FIN, ACK: {segs:?}");
        let (fin, ack) = (&segs[0], &segs[1]);
        assert!(fin.from_client && fin.has(FIN));
        assert!(!ack.from_client && ack.is(ACK));
        assert_eq!(ack.ack, ciss.wrapping_add(2));
        // The link delays the FIN by 1 ms.
        let held = ack.sent_at - fin.sent_at - ms(1);
        if delay {
            assert_eq!(held, TcpConfig::default().delayed_ack, "delay {delay}");
        } else {
            assert_eq!(held, Duration::ZERO, "delay {delay}");
        }
    }
}

/// RFC 9293 §3.6 case 2 (Figure 13): both sides CLOSE at the same instant;
/// each FIN crosses the other, both go FIN-WAIT-1 → CLOSING → TIME-WAIT.
#[test]
fn simultaneous_close() {
    let mut p = Pair::new(21, LinkModel::default().delay(ms(10)));
    let (c, s, _l, ciss, siss) = establish_traced(&mut p);
    let now = p.now();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    p.s().shutdown(now, s, Shutdown::Write).unwrap();
    p.run_until(secs(10), |p| {
        p.c().state(c) == Ok(State::TimeWait) && p.s().state(s) == Ok(State::TimeWait)
    });
    let now = p.now();
    for client in [true, false] {
        let (st, h) = if client { (p.c(), c) } else { (p.s(), s) };
        assert_eq!(
            path(st),
            [
                State::Established,
                State::FinWait1,
                State::Closing,
                State::TimeWait
            ],
            "client={client}"
        );
        assert_eq!(st.time_wait_count(), 1);
        assert!(has_event(&events(st), h, Event::Closed));
        assert_eq!(st.recv(now, h, &mut [0u8; 8]), Ok(0), "end-of-stream");
        assert_eq!(st.socket_error(h), Ok(None));
    }
    let segs = p.segments();
    let cfin = segs.iter().find(|w| w.from_client && w.has(FIN)).unwrap();
    let sfin = segs.iter().find(|w| !w.from_client && w.has(FIN)).unwrap();
    // Each FIN was sent before the other arrived, so neither acknowledges
    // the other's FIN.
    assert_eq!(cfin.seq, ciss.wrapping_add(1));
    assert_eq!(sfin.seq, siss.wrapping_add(1));
    assert_eq!(cfin.ack, siss.wrapping_add(1));
    assert_eq!(sfin.ack, ciss.wrapping_add(1));
    // Each side then acknowledges the other's FIN.
    assert!(segs
        .iter()
        .any(|w| w.from_client && !w.has(FIN) && w.ack == siss.wrapping_add(2)));
    assert!(segs
        .iter()
        .any(|w| !w.from_client && !w.has(FIN) && w.ack == ciss.wrapping_add(2)));
    assert_eq!(segs.iter().filter(|w| w.has(FIN)).count(), 2);
    assert!(segs.iter().all(|w| !w.has(RST)));
    p.run_for(secs(61));
    assert_eq!(p.c().time_wait_count() + p.s().time_wait_count(), 0);
}

// ---- 3. half-close ----

/// Runs a long server→client transfer in bursts over `span` of virtual
/// time; returns what the client read.
fn trickle(
    p: &mut Pair,
    from_client: bool,
    tx: SocketHandle,
    rx: SocketHandle,
    data: &[u8],
    span: Duration,
) -> Vec<u8> {
    let mut got = Vec::new();
    let chunk = data.len() / 10;
    for i in 0..10 {
        let now = p.now();
        let st = if from_client { p.c() } else { p.s() };
        assert_eq!(
            st.send(now, tx, &data[i * chunk..(i + 1) * chunk]),
            Ok(chunk)
        );
        p.run_for(span / 10);
        // The receiver is on the other stack.
        assert_eq!(p.drain(from_client, rx, &mut got), Ok(false));
    }
    got
}

/// Client `shutdown(Write)`, then the server keeps sending for several
/// minutes — longer than the orphan FIN-WAIT-2 limit, which must not apply
/// to a connection whose application still holds it (RFC 9293 §3.6: a
/// half-closed connection may receive indefinitely).
#[test]
fn half_close_client_writes_first() {
    let mut p = Pair::new(31, LinkModel::default());
    let (c, s, _l, _, _) = establish_traced(&mut p);
    let now = p.now();
    p.c().send(now, c, b"request").unwrap();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    let mut req = Vec::new();
    p.run_until(secs(5), |p| p.drain(true, s, &mut req).unwrap());
    assert_eq!(req, b"request");
    assert_eq!(p.s().state(s), Ok(State::CloseWait));
    p.run_until(secs(5), |p| p.c().state(c) == Ok(State::FinWait2));

    let data = pattern(500_000, 9);
    let got = trickle(&mut p, false, s, c, &data, secs(300));
    assert!(got == data);
    assert_eq!(p.c().state(c), Ok(State::FinWait2), "5 minutes later");
    assert_eq!(p.s().state(s), Ok(State::CloseWait));

    let now = p.now();
    p.s().shutdown(now, s, Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    p.run_until(secs(5), |p| p.drain(false, c, &mut rest).unwrap());
    assert!(rest.is_empty());
    p.run_until(secs(5), |p| {
        p.c().state(c) == Ok(State::TimeWait) && p.s().state(s) == Ok(State::Closed)
    });
    assert_eq!(path(p.c()), ACTIVE_CLOSE);
    assert_eq!(path(p.s()), PASSIVE_CLOSE);
    // Wire: the client sent nothing but ACKs after its FIN, and the server's
    // data went out while the client sat in FIN-WAIT-2.
    let segs = p.segments();
    let cfin = segs
        .iter()
        .position(|w| w.from_client && w.has(FIN))
        .unwrap();
    let server_bytes: usize = segs[cfin..]
        .iter()
        .filter(|w| !w.from_client)
        .map(|w| w.len)
        .sum();
    assert!(server_bytes >= data.len());
    assert!(segs[cfin + 1..]
        .iter()
        .filter(|w| w.from_client)
        .all(|w| w.len == 0 && !w.has(FIN) && !w.has(RST)));
}

/// The reverse: the server shuts its sending side first and keeps
/// receiving; the client, in CLOSE-WAIT, keeps sending, then closes.
#[test]
fn half_close_server_writes_first() {
    let mut p = Pair::new(32, LinkModel::default());
    let (c, s, _l, _, _) = establish_traced(&mut p);
    let now = p.now();
    p.s().send(now, s, b"banner").unwrap();
    p.s().shutdown(now, s, Shutdown::Write).unwrap();
    assert_eq!(p.s().state(s), Ok(State::FinWait1));
    let mut banner = Vec::new();
    p.run_until(secs(5), |p| p.drain(false, c, &mut banner).unwrap());
    assert_eq!(banner, b"banner");
    assert_eq!(p.c().state(c), Ok(State::CloseWait));
    assert!(has_event(&events(p.c()), c, Event::Readable));
    let now = p.now();
    assert_eq!(p.s().send(now, s, b"x"), Err(Error::BrokenPipe));

    let data = pattern(300_000, 4);
    let got = trickle(&mut p, true, c, s, &data, secs(200));
    assert!(got == data);
    assert_eq!(p.s().state(s), Ok(State::FinWait2));
    assert_eq!(p.c().state(c), Ok(State::CloseWait));

    let now = p.now();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    assert_eq!(p.c().state(c), Ok(State::LastAck));
    let mut rest = Vec::new();
    p.run_until(secs(5), |p| {
        p.drain(true, s, &mut rest).unwrap()
            && p.s().state(s) == Ok(State::TimeWait)
            && p.c().state(c) == Ok(State::Closed)
    });
    assert!(rest.is_empty());
    assert_eq!(
        path(p.s()),
        [
            State::Established,
            State::FinWait1,
            State::FinWait2,
            State::TimeWait
        ]
    );
    assert_eq!(
        path(p.c()),
        [
            State::Established,
            State::CloseWait,
            State::LastAck,
            State::Closed
        ]
    );
    assert_eq!(p.s().time_wait_count(), 1);
    assert_eq!(p.c().time_wait_count(), 0);
    let segs = p.segments();
    assert_eq!(segs.iter().filter(|w| w.has(FIN)).count(), 2);
    assert!(segs.iter().all(|w| !w.has(RST)));
}

/// `shutdown(Read)` (DESIGN.md): reads return end-of-stream at once; data
/// that arrives afterwards is answered with RST (RFC 9293 SHLD-3 spirit,
/// RFC 2525 §2.17), and the sender learns of it as `ConnectionReset`.
#[test]
fn shutdown_read_then_data_is_reset() {
    let mut p = Pair::new(33, LinkModel::default());
    let (c, s, _l, ciss, _) = establish_traced(&mut p);
    let now = p.now();
    p.c().shutdown(now, c, Shutdown::Read).unwrap();
    assert_eq!(p.c().recv(now, c, &mut [0u8; 8]), Ok(0), "EOF at once");
    // Nothing went on the wire for shutdown(Read) alone.
    p.run_for(secs(1));
    assert!(p.segments().is_empty());
    assert_eq!(p.c().state(c), Ok(State::Established));
    // The client can still send.
    let now = p.now();
    p.c().send(now, c, b"still talking").unwrap();
    let mut got = Vec::new();
    p.run_until(secs(2), |p| {
        p.drain(true, s, &mut got).unwrap();
        got.len() == 13
    });
    // Now the server sends: the client discards it and resets.
    let now = p.now();
    p.s().send(now, s, b"unwanted").unwrap();
    p.run_until(secs(5), |p| p.s().state(s) == Ok(State::Closed));
    let now = p.now();
    assert_eq!(
        p.s().recv(now, s, &mut [0u8; 8]),
        Err(Error::ConnectionReset)
    );
    assert_eq!(
        p.s().send(now, s, b"more"),
        Err(Error::ConnectionReset),
        "writes fail too"
    );
    assert!(has_event(&events(p.s()), s, Event::Closed));
    assert_eq!(p.c().state(c), Ok(State::Closed));
    assert_eq!(p.c().recv(now, c, &mut [0u8; 8]), Ok(0));
    let segs = p.segments();
    let rst = segs
        .iter()
        .find(|w| w.from_client && w.has(RST))
        .expect("client resets");
    assert_eq!(rst.seq, ciss.wrapping_add(1 + 13), "RST at SND.NXT");
    assert!(segs.iter().all(|w| !w.has(FIN)));
    assert_eq!(p.c().time_wait_count() + p.s().time_wait_count(), 0);
    assert_eq!(p.c().connection_count() + p.s().connection_count(), 0);
}

/// `shutdown(Read)` with data already queued discards it and resets at once.
#[test]
fn shutdown_read_with_queued_data_resets() {
    let mut p = Pair::new(34, LinkModel::default());
    let (c, s, _l, _, _) = establish_traced(&mut p);
    let now = p.now();
    p.s().send(now, s, b"queued").unwrap();
    p.run_until(secs(2), |p| p.c().recv_queue_len(c) == Ok(6));
    let now = p.now();
    p.c().shutdown(now, c, Shutdown::Read).unwrap();
    assert_eq!(p.c().recv(now, c, &mut [0u8; 8]), Ok(0));
    p.run_until(secs(2), |p| p.s().state(s) == Ok(State::Closed));
    let now = p.now();
    assert_eq!(
        p.s().recv(now, s, &mut [0u8; 8]),
        Err(Error::ConnectionReset)
    );
    let segs = p.segments();
    assert_eq!(
        segs.iter().filter(|w| w.from_client && w.has(RST)).count(),
        1
    );
}

// ---- 4. lost FIN, lost last ACK ----

/// The client's FIN is lost once: it stays in FIN-WAIT-1 until the
/// retransmission timer resends it (RFC 9293 §3.8.1, RFC 6298 §5), then the
/// close completes normally.
#[test]
fn lost_fin_is_retransmitted() {
    let mut p = Pair::new(41, LinkModel::default().delay(ms(5)));
    let (c, s, _l, ciss, _) = establish_traced(&mut p);
    let (client, server) = (p.client, p.server);
    p.net.script(client, server, [Fault::Drop]);
    let now = p.now();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    p.run_for(ms(100));
    assert_eq!(p.c().state(c), Ok(State::FinWait1), "FIN lost, no ACK");
    assert_eq!(p.s().state(s), Ok(State::Established));
    let mut got = Vec::new();
    p.run_until(secs(10), |p| {
        p.drain(true, s, &mut got).unwrap() && p.c().state(c) == Ok(State::FinWait2)
    });
    assert!(got.is_empty());
    let segs = p.segments();
    let fins: Vec<_> = segs
        .iter()
        .filter(|w| w.from_client && w.has(FIN))
        .collect();
    assert_eq!(fins.len(), 2, "{fins:?}");
    assert!(!fins[0].delivered && fins[1].delivered);
    assert_eq!(fins[0].seq, ciss.wrapping_add(1));
    assert_eq!(fins[1].seq, fins[0].seq, "same FIN again");
    let gap = fins[1].sent_at - fins[0].sent_at;
    assert!(gap >= ms(200), "waits at least min RTO, got {gap:?}");
    let now = p.now();
    p.s().shutdown(now, s, Shutdown::Write).unwrap();
    p.run_until(secs(5), |p| {
        p.c().state(c) == Ok(State::TimeWait) && p.s().state(s) == Ok(State::Closed)
    });
}

/// The client's final ACK is lost: the server in LAST-ACK retransmits its
/// FIN; the client's TIME-WAIT record acknowledges it again and restarts
/// its 2×MSL timer (RFC 9293 §3.10.7.4, TIME-WAIT, eighth check).
#[test]
fn lost_last_ack_fin_reacked_from_time_wait() {
    // 2×MSL must outlast the server's first RTO (1 s before any RTT
    // sample, RFC 6298 §2.1).
    let msl = secs(2);
    let mut p = pair_with(42, LinkModel::default().delay(ms(5)), |c| c.tcp.msl = msl);
    let (c, s, _l, _, siss) = establish_traced(&mut p);
    let now = p.now();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    let mut got = Vec::new();
    p.run_until(secs(5), |p| {
        p.drain(true, s, &mut got).unwrap() && p.c().state(c) == Ok(State::FinWait2)
    });
    p.segments();
    // The next client packet is the ACK of the server's FIN: drop it.
    let (client, server) = (p.client, p.server);
    p.net.script(client, server, [Fault::Drop]);
    let now = p.now();
    p.s().shutdown(now, s, Shutdown::Write).unwrap();
    p.run_until(secs(1), |p| p.c().state(c) == Ok(State::TimeWait));
    let tw_start = entered(p.c(), State::TimeWait).unwrap();
    p.run_for(ms(50));
    assert_eq!(p.s().state(s), Ok(State::LastAck), "its FIN unacknowledged");
    p.run_until(secs(5), |p| p.s().state(s) == Ok(State::Closed));
    assert_eq!(p.c().state(c), Ok(State::TimeWait));
    assert_eq!(p.s().socket_error(s), Ok(None));

    let segs = p.segments();
    let sfins: Vec<_> = segs
        .iter()
        .filter(|w| !w.from_client && w.has(FIN))
        .collect();
    assert_eq!(sfins.len(), 2, "{sfins:?}");
    assert_eq!(sfins[0].seq, sfins[1].seq);
    assert_eq!(sfins[0].seq, siss.wrapping_add(1));
    let acks: Vec<_> = segs
        .iter()
        .filter(|w| w.from_client && w.ack == siss.wrapping_add(2))
        .collect();
    assert_eq!(acks.len(), 2, "first ACK (lost) and the re-ACK: {acks:?}");
    assert!(!acks[0].delivered && acks[1].delivered);
    assert!(acks[1].sent_at >= sfins[1].sent_at);
    let refin_at = sfins[1].sent_at + ms(5);
    assert!(
        refin_at > tw_start + ms(500),
        "the FIN came back well later"
    );

    // The timer restarted at the second FIN: TIME-WAIT lasts 2×MSL from
    // there, not from the first entry.
    p.net.run_until(tw_start + msl * 2 + ms(1));
    assert_eq!(p.c().time_wait_count(), 1, "still waiting: timer restarted");
    assert_eq!(p.c().state(c), Ok(State::TimeWait));
    p.net.run_until(refin_at + msl * 2 + ms(1));
    assert_eq!(p.c().time_wait_count(), 0);
    assert_eq!(p.c().state(c), Ok(State::Closed));
}

// ---- 5. TIME-WAIT duration and reuse ----

/// Brings the pair to: client in TIME-WAIT (active closer), server closed.
/// Returns the client's local address.
fn client_into_time_wait(p: &mut Pair, c: SocketHandle, s: SocketHandle) -> SocketAddr {
    let local = p.c().local_addr(c).unwrap();
    let now = p.now();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    p.run_until(secs(5), |p| p.s().state(s) == Ok(State::CloseWait));
    let now = p.now();
    p.s().shutdown(now, s, Shutdown::Write).unwrap();
    p.run_until(secs(5), |p| {
        p.c().state(c) == Ok(State::TimeWait) && p.s().state(s) == Ok(State::Closed)
    });
    local
}

/// TIME-WAIT lasts exactly 2×MSL (RFC 9293 §3.4.2, MUST-13 keeps the
/// 4-tuple quiet for that long); afterwards the record is gone.
#[test]
fn time_wait_lasts_two_msl() {
    let msl = ms(750);
    let mut p = pair_with(51, LinkModel::default(), |c| c.tcp.msl = msl);
    let (c, s, _l, _, _) = establish_traced(&mut p);
    let now = p.now();
    p.s().shutdown(now, s, Shutdown::Write).unwrap();
    p.run_until(secs(2), |p| p.c().state(c) == Ok(State::CloseWait));
    let now = p.now();
    // Here the *server* closed first, so the server holds TIME-WAIT.
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    p.run_until(secs(2), |p| p.s().time_wait_count() == 1);
    let start = entered(p.s(), State::TimeWait).unwrap();
    assert_eq!(p.s().state(s), Ok(State::TimeWait));
    assert_eq!(p.s().connection_count(), 0, "moved to the compact table");
    p.net.run_until(start + msl * 2 - ms(2));
    assert_eq!(p.s().time_wait_count(), 1);
    p.net.run_until(start + msl * 2 + ms(1));
    assert_eq!(p.s().time_wait_count(), 0);
    assert_eq!(p.s().state(s), Ok(State::Closed));
    // The recorded transition says when.
    let gone = p
        .s()
        .take_transitions()
        .into_iter()
        .find(|t| t.from == State::TimeWait)
        .unwrap();
    assert_eq!(gone.to, State::Closed);
    assert!(gone.at - start >= msl * 2 && gone.at - start <= msl * 2 + ms(1));
    // Nothing on the wire during TIME-WAIT.
    let segs = p.segments();
    let last = segs.last().unwrap();
    assert!(last.sent_at < start + ms(5));
}

/// The default MSL is 30 s, so TIME-WAIT lasts 60 s.
#[test]
fn time_wait_default_is_sixty_seconds() {
    let mut p = Pair::new(52, LinkModel::default());
    let (c, s, _l, _, _) = establish_traced(&mut p);
    client_into_time_wait(&mut p, c, s);
    let start = entered(p.c(), State::TimeWait).unwrap();
    p.net.run_until(start + secs(59));
    assert_eq!(p.c().time_wait_count(), 1);
    p.net.run_until(start + secs(60) + ms(1));
    assert_eq!(p.c().time_wait_count(), 0);
}

/// While the client's 4-tuple is in TIME-WAIT it cannot be reused: binding
/// the port without reuse-address fails, and with it a connect to the same
/// peer fails with `AddrInUse` (ops.rs `connect_from`); ephemeral port
/// selection skips it (RFC 6056 §3.3.3 with the TIME-WAIT check). Once
/// TIME-WAIT ends, the same 4-tuple opens a new connection.
#[test]
fn time_wait_blocks_then_frees_the_four_tuple() {
    let msl = ms(500);
    let mut p = pair_with(53, LinkModel::default(), |c| {
        c.tcp.msl = msl;
        c.ephemeral_ports = (50000, 50001);
    });
    let (c, s, l, _, _) = establish_traced(&mut p);
    let local = client_into_time_wait(&mut p, c, s);
    assert!((50000..=50001).contains(&local.port()));
    assert_eq!(p.c().time_wait_count(), 1);

    // Bind without reuse-address: the port is still in use.
    let b = p.c().socket();
    assert_eq!(p.c().bind(b, local), Err(Error::AddrInUse));
    // With reuse-address the bind works, but the 4-tuple is taken.
    p.c().set_reuse_address(b, true).unwrap();
    p.c().bind(b, local).unwrap();
    let now = p.now();
    assert_eq!(
        p.c().connect_from(now, b, Pair::server_addr()),
        Err(Error::AddrInUse)
    );
    // An ephemeral connect picks the other port of the two.
    let other = p.c().connect(now, Pair::server_addr()).unwrap();
    let other_port = p.c().local_addr(other).unwrap().port();
    assert_ne!(other_port, local.port());
    assert!((50000..=50001).contains(&other_port));
    // With that one in use too, no port is left.
    assert_eq!(
        p.c().connect(now, Pair::server_addr()),
        Err(Error::AddrNotAvailable)
    );
    let mut acc = None;
    p.run_until(secs(2), |p| {
        acc = p.s().accept(l).ok();
        acc.is_some()
    });
    assert_eq!(p.c().state(other), Ok(State::Established));
    p.segments();

    // After 2×MSL the same 4-tuple opens again.
    p.run_until(secs(2), |p| p.c().time_wait_count() == 0);
    let now = p.now();
    p.c().connect_from(now, b, Pair::server_addr()).unwrap();
    let mut acc = None;
    p.run_until(secs(2), |p| {
        acc = p.s().accept(l).ok();
        acc.is_some()
    });
    assert_eq!(p.c().state(b), Ok(State::Established));
    let (s3, peer) = acc.unwrap();
    assert_eq!(peer, local, "same 4-tuple as the first connection");
    let now = p.now();
    p.c().send(now, b, b"again").unwrap();
    let mut got = Vec::new();
    p.run_until(secs(2), |p| {
        p.drain(true, s3, &mut got).unwrap();
        got == b"again"
    });
    let segs = p.segments();
    assert!(segs.iter().any(|w| w.from_client && w.has(SYN)));
    assert!(segs.iter().all(|w| !w.has(RST)));
}

// ---- 6. abortive close ----

/// `close()` with unread data: RST instead of FIN (RFC 9293 SHLD-3,
/// RFC 2525 §2.17), no TIME-WAIT, and the peer learns `ConnectionReset`.
#[test]
fn close_with_unread_data_sends_rst() {
    let mut p = Pair::new(61, LinkModel::default());
    let (c, s, _l, ciss, _) = establish_traced(&mut p);
    let now = p.now();
    p.c().send(now, c, b"hello").unwrap();
    p.s().send(now, s, &pattern(1000, 2)).unwrap();
    p.run_until(secs(2), |p| {
        p.c().recv_queue_len(c) == Ok(1000) && p.s().recv_queue_len(s) == Ok(5)
    });
    // The client never reads, and closes.
    let now = p.now();
    p.c().close(now, c).unwrap();
    p.run_until(secs(2), |p| p.s().state(s) == Ok(State::Closed));
    // The server still reads what arrived before the reset, then the error.
    let mut got = Vec::new();
    assert_eq!(p.drain(true, s, &mut got), Err(Error::ConnectionReset));
    assert_eq!(got, b"hello");
    assert_eq!(p.s().socket_error(s), Ok(Some(Error::ConnectionReset)));
    let evs = events(p.s());
    assert!(has_event(&evs, s, Event::Closed));
    assert!(has_event(&evs, s, Event::Readable));
    assert_eq!(p.c().time_wait_count(), 0, "no TIME-WAIT after a reset");
    assert_eq!(p.c().socket_count(), 0);
    assert_eq!(p.c().connection_count(), 0);
    let segs = p.segments();
    assert!(segs.iter().all(|w| !w.has(FIN)), "RST instead of FIN");
    let rsts: Vec<_> = segs.iter().filter(|w| w.has(RST)).collect();
    assert_eq!(rsts.len(), 1, "{rsts:?}");
    assert!(rsts[0].from_client);
    assert_eq!(rsts[0].seq, ciss.wrapping_add(1 + 5), "SEQ=SND.NXT");
    assert_eq!(path(p.c()), [State::Established, State::Closed]);
    assert_eq!(path(p.s()), [State::Established, State::Closed]);
}

/// ABORT (RFC 9293 §3.10.5): `<SEQ=SND.NXT><CTL=RST>`, queued data
/// discarded, no TIME-WAIT; data already delivered stays readable at the
/// peer, then `ConnectionReset`.
#[test]
fn abort_sends_rst_at_snd_nxt() {
    let mut p = Pair::new(62, LinkModel::default().bandwidth(1_000_000));
    let (c, s, _l, ciss, _) = establish_traced(&mut p);
    let now = p.now();
    let data = pattern(100_000, 5);
    assert_eq!(p.c().send(now, c, &data), Ok(data.len()));
    // Let part of it go out, then abort with most still queued.
    p.run_for(ms(150));
    let now = p.now();
    let sent_before = p.segments();
    let snd_nxt = sent_before
        .iter()
        .filter(|w| w.from_client)
        .map(|w| w.seq.wrapping_add(w.len as u32))
        .max_by_key(|&e| e.wrapping_sub(ciss))
        .unwrap();
    assert!(
        snd_nxt.wrapping_sub(ciss) < data.len() as u32,
        "not all sent"
    );
    p.c().abort(now, c).unwrap();
    assert_eq!(p.c().state(c), Ok(State::Closed));
    assert_eq!(p.c().send_queue_len(c), Ok(0), "queue discarded");
    assert_eq!(p.c().send(now, c, b"x"), Err(Error::NotConnected));
    let mut got = Vec::new();
    let mut res = Ok(false);
    p.run_until(secs(5), |p| {
        res = p.drain(true, s, &mut got);
        res.is_err()
    });
    assert_eq!(res, Err(Error::ConnectionReset));
    assert_eq!(got.len() as u32, snd_nxt.wrapping_sub(ciss).wrapping_sub(1));
    assert!(got[..] == data[..got.len()], "what arrived is intact");
    assert!(has_event(&events(p.s()), s, Event::Closed));
    assert_eq!(p.c().time_wait_count() + p.s().time_wait_count(), 0);
    assert_eq!(p.c().connection_count() + p.s().connection_count(), 0);
    let segs = p.segments();
    let rst = segs.iter().find(|w| w.has(RST)).expect("RST");
    assert!(rst.from_client);
    assert_eq!(rst.seq, snd_nxt, "SEQ=SND.NXT");
    assert!(segs.iter().all(|w| !w.has(FIN)));
    assert!(
        segs.iter().all(|w| !w.from_client || w.len == 0),
        "nothing queued went out after the abort"
    );
    let now = p.now();
    p.c().close(now, c).unwrap();
    assert_eq!(p.c().socket_count(), 0);
}

// ---- 7. zero window ----

/// The receiver stops reading: the sender fills the window, then probes
/// with the persist timer (RFC 9293 §3.8.6.1, MUST-35/36) without giving up;
/// when the reader drains, the transfer resumes and every byte arrives
/// exactly once.
#[test]
fn zero_window_probe_and_resume() {
    let mut p = pair_with(71, LinkModel::default().delay(ms(5)), |c| {
        c.tcp.recv_buffer = 16 * 1024;
        // A fixed window: no auto-tuning.
        c.tcp.recv_buffer_max = 16 * 1024;
        // Fewer retries than the probes we expect: a probe that is answered
        // must not count as a failed retransmission.
        c.tcp.max_retries = 3;
    });
    let (c, s, _l, _, _) = establish_traced(&mut p);
    let data = pattern(200_000, 8);
    let mut sent = 0;
    push(&mut p, true, c, &data, &mut sent);
    p.run_for(secs(60));
    assert_eq!(p.s().recv_queue_len(s), Ok(16 * 1024), "receiver full");
    assert_eq!(p.c().state(c), Ok(State::Established));
    assert_eq!(p.s().state(s), Ok(State::Established));
    let segs = p.segments();
    let zero = segs
        .iter()
        .position(|w| !w.from_client && w.window == 0)
        .expect("server advertises a zero window");
    let probes: Vec<_> = segs[zero..]
        .iter()
        .filter(|w| w.from_client && w.len > 0)
        .collect();
    assert!(probes.len() >= 4, "persist probes: {}", probes.len());
    assert!(probes.iter().all(|w| w.len == 1), "one-byte probes");
    // Backoff: later probes are further apart.
    let gaps: Vec<_> = probes
        .windows(2)
        .map(|w| w[1].sent_at - w[0].sent_at)
        .collect();
    assert!(gaps.last().unwrap() > gaps.first().unwrap(), "{gaps:?}");
    // Every probe is answered (the window stays zero).
    assert!(segs[zero..]
        .iter()
        .filter(|w| !w.from_client)
        .all(|w| w.window == 0));

    // The reader wakes up; the transfer completes.
    let mut got = Vec::new();
    p.run_until(secs(120), |p| {
        push(p, true, c, &data, &mut sent);
        p.drain(true, s, &mut got).unwrap();
        got.len() == data.len()
    });
    assert!(got == data, "exactly once, in order");
    assert!(has_event(&events(p.c()), c, Event::Writable));
    assert_eq!(p.c().socket_error(c), Ok(None));
}

/// A short write into a window that is already zero, on a connection with
/// nothing in flight: the persist timer probes it one byte at a time
/// (RFC 9293 §3.8.6.1, MUST-35), and when the reader drains, the write goes
/// through. The probe byte the peer dropped was covered by the persist
/// timer only; once the window opens it must be sent again, or Nagle holds
/// the rest of the write behind it and the connection waits forever
/// (found while testing the stack's timer scheduling: every synfin before
/// this fix stalled here).
#[test]
fn short_write_into_a_closed_window_goes_through_when_it_opens() {
    let mut p = pair_with(73, LinkModel::default().delay(ms(5)), |c| {
        c.tcp.recv_buffer = 16 * 1024;
        c.tcp.recv_buffer_max = 16 * 1024;
    });
    let (c, s, _l, _, _) = establish_traced(&mut p);
    // Exactly the receiver's buffer: it fills, and every byte is acked
    // with a zero window.
    let data = pattern(16 * 1024, 9);
    let mut sent = 0;
    p.run_until(secs(10), |p| {
        push(p, true, c, &data, &mut sent);
        sent == data.len() && p.c().send_queue_len(c) == Ok(0)
    });
    p.run_for(secs(1));
    assert_eq!(p.s().recv_queue_len(s), Ok(16 * 1024), "receiver full");
    assert_eq!(p.c().send_queue_len(c), Ok(0), "all acked");
    p.segments();
    // The write the window cannot take.
    let now = p.now();
    assert_eq!(p.c().send(now, c, b"more"), Ok(4));
    p.run_for(secs(10));
    let probes = p
        .segments()
        .iter()
        .filter(|w| w.from_client && w.len > 0)
        .count();
    assert!(probes >= 2, "persist probes after the write: {probes}");
    // The reader drains: the four bytes follow, at once (no timer needed).
    let mut got = Vec::new();
    p.drain(true, s, &mut got).unwrap();
    assert_eq!(got.len(), data.len());
    p.run_until(ms(100), |p| {
        p.drain(true, s, &mut got).unwrap();
        got.len() == data.len() + 4
    });
    assert_eq!(&got[data.len()..], b"more");
    p.run_until(secs(1), |p| p.c().send_queue_len(c) == Ok(0));
}

// ---- 8. orphaned FIN-WAIT-2 ----

/// `close()` while the peer never closes: the orphan sits in FIN-WAIT-2 for
/// `fin_wait2_timeout`, then is dropped (DESIGN.md "default close"; Linux's
/// tcp_fin_timeout). A later FIN from the peer meets no connection and is
/// reset (RFC 9293 §3.10.7.1).
#[test]
fn orphaned_fin_wait2_times_out() {
    let mut p = pair_with(81, LinkModel::default(), |c| {
        c.tcp.fin_wait2_timeout = secs(5)
    });
    let (c, s, _l, _, _) = establish_traced(&mut p);
    let now = p.now();
    p.c().close(now, c).unwrap();
    let mut got = Vec::new();
    p.run_until(secs(2), |p| p.drain(true, s, &mut got).unwrap());
    assert_eq!(p.s().state(s), Ok(State::CloseWait));
    p.run_until(secs(2), |p| {
        p.c()
            .take_transitions()
            .iter()
            .any(|t| t.to == State::FinWait2)
    });
    let fw2 = p.now();
    assert_eq!(p.c().socket_count(), 1);
    p.net.run_until(fw2 + secs(5) - ms(10));
    assert_eq!(p.c().socket_count(), 1, "not yet");
    p.net.run_until(fw2 + secs(5) + ms(10));
    assert_eq!(p.c().socket_count(), 0, "dropped after fin_wait2_timeout");
    assert_eq!(p.c().connection_count(), 0);
    assert_eq!(p.c().time_wait_count(), 0, "no TIME-WAIT for a timeout");
    assert_eq!(
        path(p.c()),
        [State::FinWait2, State::Closed],
        "straight to CLOSED"
    );
    // Nothing went on the wire for the timeout itself.
    let segs = p.segments();
    assert!(segs.iter().all(|w| !w.has(RST)));
    // The server closes much later: its FIN is answered with RST.
    let now = p.now();
    p.s().shutdown(now, s, Shutdown::Write).unwrap();
    p.run_until(secs(2), |p| p.s().state(s) == Ok(State::Closed));
    let segs = p.segments();
    assert!(segs.iter().any(|w| !w.from_client && w.has(FIN)));
    assert!(segs.iter().any(|w| w.from_client && w.has(RST)));
    // LAST-ACK + RST: closed, and the server is not told of an error
    // (RFC 9293 §3.10.7.4, second check, CLOSING/LAST-ACK/TIME-WAIT).
    assert_eq!(p.s().socket_error(s), Ok(None));
}

/// The window update that reopens a zero window is lost: the sender must
/// find out by probing (RFC 9293 §3.8.6.1), not wait forever.
#[test]
fn zero_window_lost_window_update() {
    let mut p = pair_with(72, LinkModel::default().delay(ms(5)), |c| {
        c.tcp.recv_buffer = 16 * 1024;
        // A fixed window: no auto-tuning.
        c.tcp.recv_buffer_max = 16 * 1024;
    });
    let (c, s, _l, _, _) = establish_traced(&mut p);
    let data = pattern(64 * 1024, 3);
    let mut sent = 0;
    push(&mut p, true, c, &data, &mut sent);
    p.run_until(secs(30), |p| p.s().recv_queue_len(s) == Ok(16 * 1024));
    p.run_for(secs(1));
    p.segments();
    // Read everything; drop the window update that follows.
    let (client, server) = (p.client, p.server);
    p.net.script(server, client, [Fault::Drop]);
    let mut got = Vec::new();
    p.drain(true, s, &mut got).unwrap();
    p.run_for(ms(50));
    let segs = p.segments();
    assert_eq!(segs.len(), 1, "{segs:?}");
    assert!(!segs[0].from_client && !segs[0].delivered && segs[0].window > 0);
    p.run_until(secs(120), |p| {
        push(p, true, c, &data, &mut sent);
        p.drain(true, s, &mut got).unwrap();
        got.len() == data.len()
    });
    assert!(got == data);
    // The first client segment after the loss was a probe.
    let segs = p.segments();
    let first = segs.iter().find(|w| w.from_client).unwrap();
    assert!(first.len >= 1);
}

// ---- regressions found by tests/prop_lifecycle.rs ----

/// After a retransmission timeout pulls the send pointer back (go-back-N),
/// an ACK must still carry the highest sequence number sent: a peer drops a
/// zero-length segment below its RCV.NXT as old (RFC 9293 §3.10.7.4, first
/// check). Found as a two-sided deadlock: both ends time out at once, each
/// retransmits data the other already has and answers the other's
/// retransmission with an ACK from its pulled-back pointer, which the other
/// drops — until the retries run out.
#[test]
fn ack_after_timeout_carries_highest_seq() {
    let mut p = pair_with(91, LinkModel::default().delay(ms(50)), |c| {
        c.tcp.nodelay = true;
        // Both sides time out at the same moment: the RTO is the 1 s floor
        // whatever RTT samples each has.
        c.tcp.min_rto = secs(1);
        // Go-back-N after a timeout is the recovery of a peer without SACK
        // (with SACK a tail-loss probe comes first and only unSACKed data is
        // resent; tests/recovery.rs covers that).
        c.tcp.sack = false;
        // Fixed buffers: a window update after a read (auto-tuning grows
        // the queue) would carry the ACK the script drops.
        c.tcp.recv_buffer_max = c.tcp.recv_buffer;
        c.tcp.send_buffer_max = c.tcp.send_buffer;
    });
    let (c, s, _l, ciss, siss) = establish_traced(&mut p);
    let (client, server) = (p.client, p.server);
    // Both send two segments at once; both ACKs of them are lost, so both
    // sides time out and go back to SND.UNA.
    p.net
        .script(server, client, [Fault::Pass, Fault::Pass, Fault::Drop]);
    p.net
        .script(client, server, [Fault::Pass, Fault::Pass, Fault::Drop]);
    let now = p.now();
    p.c().send(now, c, &pattern(2 * 1448, 1)).unwrap();
    p.s().send(now, s, &pattern(2 * 1448, 2)).unwrap();
    let (mut cgot, mut sgot) = (Vec::new(), Vec::new());
    p.run_until(secs(30), |p| {
        p.drain(false, c, &mut cgot).unwrap();
        p.drain(true, s, &mut sgot).unwrap();
        p.c().send_queue_len(c) == Ok(0) && p.s().send_queue_len(s) == Ok(0)
    });
    assert_eq!(cgot, pattern(2 * 1448, 2));
    assert_eq!(sgot, pattern(2 * 1448, 1));
    let segs = p.segments();
    for (from_client, iss) in [(true, ciss), (false, siss)] {
        let end = iss.wrapping_add(1 + 2 * 1448);
        let data: Vec<_> = segs
            .iter()
            .filter(|w| w.from_client == from_client && w.len > 0)
            .collect();
        assert_eq!(data.len(), 3, "two segments and one retransmission");
        assert_eq!(data[2].seq, data[0].seq, "go-back-N from SND.UNA");
        let acks: Vec<_> = segs
            .iter()
            .filter(|w| w.from_client == from_client && w.len == 0 && w.sent_at > now)
            .collect();
        assert!(!acks.is_empty());
        assert!(
            acks.iter().all(|w| w.seq == end),
            "ACKs must carry SND.NXT={end}: {acks:?}"
        );
    }
}

#[test]
fn zero_window_probing_gives_up_when_the_peer_vanishes() {
    let tcp = TcpConfig {
        recv_buffer: 4096,
        recv_buffer_max: 4096,
        max_retries: 6,
        ..TcpConfig::default()
    };
    let cfg = StackConfig {
        tcp,
        ..StackConfig::default()
    };
    let mut p = Pair::with_config(51, LinkModel::default(), cfg);
    let (c, _s, _l) = p.establish();
    let now = p.now();
    // The server never reads: its window closes and the client probes.
    p.c().send(now, c, &pattern(20_000, 5)).unwrap();
    p.run_for(secs(5));
    assert!(p.c().send_queue_len(c).unwrap() > 0);
    // A peer that keeps answering probes is probed for as long as it likes
    // (RFC 9293 §3.8.6.1, MUST-36)…
    p.run_for(secs(600));
    assert_eq!(p.c().state(c), Ok(State::Established));
    // …but one that vanishes is given up on like any unanswered
    // retransmission (Linux: tcp_retries2 applies to probes too).
    let (client, server) = (p.client, p.server);
    p.net.model_mut(server, client).unwrap().up = false;
    p.run_until(secs(3600), |p| p.c().state(c) == Ok(State::Closed));
    assert_eq!(p.c().state(c), Ok(State::Closed));
    let mut buf = [0u8; 4];
    let now = p.now();
    assert_eq!(p.c().recv(now, c, &mut buf), Err(Error::ConnectionAborted));
}

/// A simultaneous close whose two ACKs are both lost: each side's
/// retransmitted FIN now also acknowledges the other's FIN. To the receiver
/// that FIN is an old duplicate, but the ACK it carries is current and is
/// taken (as BSD and Linux do), so the retransmission itself moves CLOSING
/// to TIME-WAIT — no extra round trip for an answer to it.
#[test]
fn closing_takes_the_ack_a_retransmitted_fin_carries() {
    let mut p = Pair::new(23, LinkModel::default().delay(ms(10)));
    let (c, s, _l, ciss, siss) = establish_traced(&mut p);
    let (client, server) = (p.client, p.server);
    let now = p.now();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    p.s().shutdown(now, s, Shutdown::Write).unwrap();
    // The FINs cross and pass; the ACK each side sends for the other's FIN
    // is lost.
    p.net.script(client, server, [Fault::Pass, Fault::Drop]);
    p.net.script(server, client, [Fault::Pass, Fault::Drop]);
    p.run_until(secs(1), |p| {
        p.c().state(c) == Ok(State::Closing) && p.s().state(s) == Ok(State::Closing)
    });
    p.segments();
    p.c().take_transitions();
    p.s().take_transitions();
    p.run_until(secs(10), |p| {
        p.c().state(c) == Ok(State::TimeWait) && p.s().state(s) == Ok(State::TimeWait)
    });
    let segs = p.segments();
    // Whichever side's RTO fires first retransmits its FIN, which now also
    // acknowledges the other's FIN...
    let rfin = segs
        .iter()
        .find(|w| w.has(FIN) && w.delivered)
        .unwrap_or_else(|| panic!("no retransmitted FIN: {segs:#?}"));
    let acked_fin = if rfin.from_client { siss } else { ciss };
    assert_eq!(rfin.ack, acked_fin.wrapping_add(2), "{segs:#?}");
    // ...and the other side enters TIME-WAIT the moment it arrives.
    let receiver = if rfin.from_client { p.s() } else { p.c() };
    let tw_at = receiver
        .take_transitions()
        .into_iter()
        .find(|t| t.to == State::TimeWait)
        .unwrap()
        .at;
    assert_eq!(tw_at, rfin.sent_at + ms(10), "{segs:#?}");
}
