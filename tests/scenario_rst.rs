//! RST handling in every state (RFC 9293 §3.10.7, RFC 5961, RFC 1337) and the
//! RST a stack sends for a segment that matches no connection
//! (RFC 9293 §3.10.7.1).
//!
//! RSTs come either from the peer stack (`abort`, or a stack answering a
//! segment it has no connection for) or are crafted and handed to
//! `Stack::handle_packet` as if they came from the peer; whatever the stack
//! answers goes over the simulated link and shows in the trace.

mod common;
#[path = "common/open.rs"]
mod open;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use open::*;
use synfin::links::{Fault, LinkModel};
use synfin::stack::{Error, Event, Shutdown, SocketHandle, Stack, StackConfig};
use synfin::tcp::State;
use synfin::time::Instant;
use synfin::wire::TcpFlags;

const SYN: TcpFlags = TcpFlags::SYN;
const SYN_ACK: TcpFlags = TcpFlags(TcpFlags::SYN.0 | TcpFlags::ACK.0);
const ACK: TcpFlags = TcpFlags::ACK;
const RST: TcpFlags = TcpFlags::RST;
const RST_ACK: TcpFlags = TcpFlags(TcpFlags::RST.0 | TcpFlags::ACK.0);
const FIN_ACK: TcpFlags = TcpFlags(TcpFlags::FIN.0 | TcpFlags::ACK.0);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Hands the client a segment that claims to come from the server side of
/// connection `c`.
fn to_client(p: &mut Pair, c: SocketHandle, seq: u32, ack: u32, flags: TcpFlags, data: &[u8]) {
    let local = p.c().local_addr(c).unwrap();
    let remote = p.c().peer_addr(c).unwrap();
    let pkt = packet(remote, local, seq, ack, flags, data);
    let now = p.now();
    p.c().handle_packet(now, &pkt);
}

/// Hands the server a segment that claims to come from `from`.
fn to_server(p: &mut Pair, from: SocketAddr, seq: u32, ack: u32, flags: TcpFlags) {
    let pkt = packet(from, Pair::server_addr(), seq, ack, flags, &[]);
    let now = p.now();
    p.s().handle_packet(now, &pkt);
}

/// RCV.NXT and SND.NXT of the client's connection, read off the last
/// segment the server sent it and the last one the client sent (both in
/// `segs`).
fn last_from(segs: &[Seg], from_client: bool) -> &Seg {
    segs.iter()
        .rev()
        .find(|s| s.from_client == from_client)
        .expect("a segment from that side")
}

fn read_all(p: &mut Pair, server_side: bool, h: SocketHandle) -> (Vec<u8>, Result<bool, Error>) {
    let mut got = Vec::new();
    let r = p.drain(server_side, h, &mut got);
    (got, r)
}

// ---- SYN-SENT (RFC 9293 §3.10.7.3) ----

#[test]
fn rst_in_syn_sent() {
    let mut p = Pair::new(21, LinkModel::default());
    p.trace();
    let (client, server) = (p.client, p.server);
    // The SYN is lost, so only crafted segments reach the client.
    p.net.script(client, server, [Fault::Drop]);
    let (_l, c) = p.listen_connect(4);
    p.run_for(ms(10));
    let syn = take_segs(&mut p).remove(0);
    assert!(syn.is(SYN));
    let iss = syn.seq;
    events(p.c());

    // A RST without ACK cannot be validated: ignored (§3.10.7.3 "second").
    to_client(&mut p, c, 0, 0, RST, &[]);
    // A RST whose ACK does not cover our SYN: dropped, never answered.
    to_client(&mut p, c, 0, iss, RST_ACK, &[]);
    to_client(&mut p, c, 0, iss.wrapping_add(2), RST_ACK, &[]);
    p.run_for(ms(10));
    assert_eq!(p.c().state(c), Ok(State::SynSent));
    assert!(take_segs(&mut p).is_empty(), "a RST is never answered");
    assert_eq!(p.c().socket_error(c), Ok(None));

    // A bad ACK without RST gets <SEQ=SEG.ACK><CTL=RST> and changes nothing.
    to_client(&mut p, c, 777, iss.wrapping_sub(5), ACK, &[]);
    p.run_for(ms(10));
    let segs = take_segs(&mut p);
    assert_eq!(segs.len(), 1, "{}", ladder(&segs));
    assert!(segs[0].is(RST) && segs[0].seq == iss.wrapping_sub(5));
    assert_eq!(p.c().state(c), Ok(State::SynSent));

    // RST|ACK acknowledging the SYN: refused.
    to_client(&mut p, c, 0, iss.wrapping_add(1), RST_ACK, &[]);
    p.run_for(ms(10));
    assert_eq!(p.c().state(c), Ok(State::Closed));
    assert_eq!(p.c().socket_error(c), Ok(Some(Error::ConnectionRefused)));
    let now = p.now();
    assert_eq!(
        p.c().recv(now, c, &mut [0u8; 4]),
        Err(Error::ConnectionRefused)
    );
    let ev = events_of(&events(p.c()), c);
    assert!(ev.contains(&Event::Closed) && !ev.contains(&Event::Connected));
    // No more SYNs.
    p.run_for(secs(5));
    assert!(take_segs(&mut p).is_empty());
    assert_eq!(p.c().connection_count(), 0);
}

// ---- SYN-RECEIVED ----

#[test]
fn rst_in_passive_syn_received_returns_to_listen_silently() {
    let mut p = Pair::new(22, LinkModel::default());
    p.trace();
    let (l, c) = p.listen_connect(4);
    // The SYN reaches the server at 1 ms; the client gives up before the
    // SYN-ACK arrives (abort in SYN-SENT sends nothing), so its stack
    // answers the SYN-ACK with a RST.
    p.run_for(Duration::from_micros(1500));
    let now = p.now();
    p.c().abort(now, c).unwrap();
    p.run_for(secs(70));

    let segs = take_segs(&mut p);
    let lad = ladder(&segs);
    assert_eq!(segs.len(), 3, "SYN, SYN-ACK, RST and nothing else: {lad}");
    let (syn, syn_ack, rst) = (&segs[0], &segs[1], &segs[2]);
    assert!(syn.is(SYN) && syn_ack.is(SYN_ACK));
    // §3.10.7.1: the SYN-ACK has an ACK, so <SEQ=SEG.ACK><CTL=RST>.
    assert!(rst.from_client && rst.is(RST) && rst.delivered, "{lad}");
    assert_eq!(rst.seq, syn_ack.ack);

    // §3.10.7.4 SYN-RECEIVED, passive: back to LISTEN, nobody told.
    let tr: Vec<_> = p
        .s()
        .take_transitions()
        .into_iter()
        .map(|t| (t.from, t.to))
        .collect();
    assert_eq!(
        tr,
        [
            (State::Listen, State::SynReceived),
            (State::SynReceived, State::Closed)
        ]
    );
    assert_eq!(p.s().state(l), Ok(State::Listen));
    assert_eq!(p.s().accept(l), Err(Error::WouldBlock));
    assert!(events(p.s()).is_empty());
    assert_eq!(p.s().socket_count(), 1);
    assert_eq!(p.s().poll_timeout(), None, "no SYN-ACK timer left");
    assert_eq!(p.c().state(c), Ok(State::Closed));
    assert_eq!(p.c().socket_error(c), Ok(None), "abort is not an error");

    // The listener goes on.
    let now = p.now();
    let c2 = p.c().connect(now, Pair::server_addr()).unwrap();
    p.run_for(ms(20));
    assert_eq!(p.c().state(c2), Ok(State::Established));
    assert!(p.s().accept(l).is_ok());
}

#[test]
fn inexact_rst_leaves_half_open_entry() {
    let mut p = Pair::new(23, LinkModel::default());
    p.trace();
    let (client, server) = (p.client, p.server);
    // The first SYN-ACK is lost; the client's SYN is retransmitted at 1 s.
    p.net.script(server, client, [Fault::Drop]);
    let (l, c) = p.listen_connect(4);
    p.run_for(ms(10));
    let segs = take_segs(&mut p);
    let syn = &segs[0];
    let from = syn.src;
    // RFC 5961 §3.2: only SEG.SEQ == RCV.NXT resets; an in-window RST
    // draws a challenge ACK, one left of the window is ignored.
    to_server(&mut p, from, syn.seq.wrapping_add(2), 0, RST);
    to_server(&mut p, from, syn.seq, 0, RST);
    // An ACK that does not acknowledge our SYN-ACK gets <SEQ=SEG.ACK>
    // <CTL=RST> (RFC 9293 §3.10.7.4, SYN-RECEIVED) and the entry stays.
    to_server(&mut p, from, syn.seq.wrapping_add(1), 12345, ACK);
    p.run_for(ms(10));
    let segs = take_segs(&mut p);
    assert_eq!(segs.len(), 2, "{}", ladder(&segs));
    assert!(!segs[0].from_client && segs[0].is(ACK) && segs[0].ack == syn.seq.wrapping_add(1));
    assert!(!segs[1].from_client && segs[1].is(RST) && segs[1].seq == 12345);
    assert!(p.c().connection_count() == 1, "the client ignores that RST");
    p.run_until(secs(5), |p| p.c().state(c) == Ok(State::Established));
    p.run_for(ms(10));
    assert!(p.s().accept(l).is_ok(), "the entry survived");
    let tr = p.s().take_transitions();
    assert!(tr
        .iter()
        .all(|t| (t.from, t.to) != (State::SynReceived, State::Closed)));
}

#[test]
fn rst_in_simultaneous_open_syn_received_is_refusal() {
    let mut p = Pair::new(24, LinkModel::default());
    p.trace();
    let (client, server) = (p.client, p.server);
    let ca: SocketAddr = format!("{CLIENT_IP}:5000").parse().unwrap();
    let sa: SocketAddr = format!("{SERVER_IP}:6000").parse().unwrap();
    let hc = p.c().socket();
    p.c().bind(hc, ca).unwrap();
    let hs = p.s().socket();
    p.s().bind(hs, sa).unwrap();
    // SYNs cross; both SYN-ACKs are lost, so both stay in SYN-RECEIVED.
    p.net.script(client, server, [Fault::Pass, Fault::Drop]);
    p.net.script(server, client, [Fault::Pass, Fault::Drop]);
    let now = p.now();
    p.c().connect_from(now, hc, sa).unwrap();
    p.s().connect_from(now, hs, ca).unwrap();
    p.run_for(ms(10));
    assert_eq!(p.c().state(hc), Ok(State::SynReceived));
    assert_eq!(p.s().state(hs), Ok(State::SynReceived));
    let segs = take_segs(&mut p);
    let c_iss = segs
        .iter()
        .find(|s| s.from_client && s.is(SYN))
        .unwrap()
        .seq;
    let s_iss = segs
        .iter()
        .find(|s| !s.from_client && s.is(SYN))
        .unwrap()
        .seq;

    // In the window but not RCV.NXT: challenge ACK (RFC 5961 §3.2). It
    // acknowledges the server's SYN, so it would complete the server's
    // handshake: lose it to keep the server in SYN-RECEIVED.
    p.net.script(client, server, [Fault::Drop]);
    let pkt = packet(sa, ca, s_iss.wrapping_add(100), 0, RST, &[]);
    let now = p.now();
    p.c().handle_packet(now, &pkt);
    p.run_for(ms(10));
    let segs = take_segs(&mut p);
    assert_eq!(segs.len(), 1, "{}", ladder(&segs));
    let ch = &segs[0];
    assert!(ch.from_client && ch.is(ACK));
    assert_eq!(
        (ch.seq, ch.ack),
        (c_iss.wrapping_add(1), s_iss.wrapping_add(1))
    );
    assert_eq!(p.c().state(hc), Ok(State::SynReceived));

    // Exact: an actively opened SYN-RECEIVED reports the refusal
    // (RFC 9293 §3.10.7.4 "second", SYN-RECEIVED).
    let pkt = packet(ca, sa, c_iss.wrapping_add(1), 0, RST, &[]);
    let now = p.now();
    p.s().handle_packet(now, &pkt);
    assert_eq!(p.s().state(hs), Ok(State::Closed));
    assert_eq!(p.s().socket_error(hs), Ok(Some(Error::ConnectionRefused)));
    let ev = events_of(&events(p.s()), hs);
    assert!(ev.contains(&Event::Closed) && !ev.contains(&Event::Connected));

    // The client's SYN-ACK retransmission now meets no connection; the
    // server stack's RST refuses the client too.
    p.run_until(secs(3), |p| p.c().state(hc) == Ok(State::Closed));
    let segs = take_segs(&mut p);
    let lad = ladder(&segs);
    let rst = segs.iter().find(|s| s.has(TcpFlags::RST)).expect(&lad);
    assert!(!rst.from_client && rst.is(RST) && rst.seq == s_iss.wrapping_add(1));
    assert_eq!(p.c().socket_error(hc), Ok(Some(Error::ConnectionRefused)));
}

// ---- synchronized states with the application to tell ----

/// Established pair with `data` from the server already at the client,
/// unread. Returns (client, server).
fn established_with_data(p: &mut Pair, data: &[u8]) -> (SocketHandle, SocketHandle) {
    let (c, s, _l) = p.establish();
    let now = p.now();
    p.s().send(now, s, data).unwrap();
    p.run_for(ms(100));
    assert_eq!(p.c().recv_queue_len(c), Ok(data.len()));
    (c, s)
}

/// The client got a RST from the server's abort while in `state`: the RST
/// is exact, the connection closes with ConnectionReset, and `unread` is
/// still readable before the error.
fn assert_reset_after_data(p: &mut Pair, c: SocketHandle, unread: &[u8]) {
    assert_reset_after_data_then(p, c, unread, Err(Error::ConnectionReset));
}

/// As [`assert_reset_after_data`], with reads ending in `end`.
fn assert_reset_after_data_then(
    p: &mut Pair,
    c: SocketHandle,
    unread: &[u8],
    read_end: Result<bool, Error>,
) {
    let segs = take_segs(p);
    let lad = ladder(&segs);
    let rst = segs
        .iter()
        .find(|s| s.has(TcpFlags::RST))
        .unwrap_or_else(|| panic!("no RST: {lad}"));
    assert!(
        !rst.from_client && rst.is(RST_ACK) && rst.delivered,
        "{lad}"
    );
    assert!(
        segs.iter()
            .all(|s| !s.from_client || s.sent_at < rst.sent_at),
        "the client does not answer a RST: {lad}"
    );
    assert_eq!(p.c().state(c), Ok(State::Closed));
    assert_eq!(p.c().socket_error(c), Ok(Some(Error::ConnectionReset)));
    let ev = events_of(&events(p.c()), c);
    assert!(ev.contains(&Event::Closed) && ev.contains(&Event::Readable));
    // DESIGN.md: data received before the RST stays readable, then the reset.
    let (got, end) = read_all(p, false, c);
    assert_eq!(got, unread);
    assert_eq!(end, read_end);
    let now = p.now();
    assert_eq!(p.c().send(now, c, b"x"), Err(Error::ConnectionReset));
    assert_eq!(p.c().connection_count(), 0);
}

#[test]
fn rst_in_established() {
    let mut p = Pair::new(25, LinkModel::default());
    let (c, s) = established_with_data(&mut p, b"hello");
    p.trace();
    let now = p.now();
    p.s().abort(now, s).unwrap();
    assert_eq!(p.s().state(s), Ok(State::Closed));
    p.run_for(ms(10));
    assert_reset_after_data(&mut p, c, b"hello");
}

#[test]
fn rst_in_fin_wait_1() {
    let mut p = Pair::new(26, LinkModel::default());
    let (c, s) = established_with_data(&mut p, b"partial");
    let (client, server) = (p.client, p.server);
    p.trace();
    p.net.script(client, server, [Fault::Drop]); // the FIN
    let now = p.now();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    p.run_for(ms(10));
    assert_eq!(p.c().state(c), Ok(State::FinWait1));
    let now = p.now();
    p.s().abort(now, s).unwrap();
    p.run_for(ms(10));
    assert_reset_after_data(&mut p, c, b"partial");
}

#[test]
fn rst_in_fin_wait_2() {
    let mut p = Pair::new(27, LinkModel::default());
    let (c, s, _l) = p.establish();
    let now = p.now();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    // Past the server's delayed ACK of the FIN (TcpConfig::delay_fin_ack).
    p.run_for(ms(100));
    assert_eq!(p.c().state(c), Ok(State::FinWait2));
    assert_eq!(p.s().state(s), Ok(State::CloseWait));
    let now = p.now();
    p.s().send(now, s, b"half").unwrap();
    p.run_for(ms(100));
    p.trace();
    let now = p.now();
    p.s().abort(now, s).unwrap();
    p.run_for(ms(10));
    assert_reset_after_data(&mut p, c, b"half");
}

#[test]
fn rst_in_close_wait() {
    let mut p = Pair::new(28, LinkModel::default());
    let (c, s, _l) = p.establish();
    let now = p.now();
    p.s().send(now, s, b"last words").unwrap();
    p.s().shutdown(now, s, Shutdown::Write).unwrap();
    p.run_for(ms(100));
    assert_eq!(p.c().state(c), Ok(State::CloseWait));
    assert_eq!(p.s().state(s), Ok(State::FinWait2));
    p.trace();
    let now = p.now();
    p.s().abort(now, s).unwrap();
    p.run_for(ms(10));
    // SEMANTICS.md §2 row 5: the FIN came first, so reads end with 0, not
    // the reset; writes and SO_ERROR report it.
    assert_reset_after_data_then(&mut p, c, b"last words", Ok(true));
}

#[test]
fn rst_on_connection_waiting_in_accept_queue() {
    let mut p = Pair::new(29, LinkModel::default());
    let (l, c) = p.listen_connect(4);
    p.run_for(ms(10));
    let now = p.now();
    p.c().send(now, c, b"early").unwrap();
    p.run_for(ms(10));
    let now = p.now();
    p.c().abort(now, c).unwrap();
    p.run_for(ms(10));
    // The queued connection was reset: accept hands it out (as Linux does),
    // its data first, then the reset.
    let (s, _) = p.s().accept(l).unwrap();
    assert_eq!(p.s().state(s), Ok(State::Closed));
    let (got, end) = read_all(&mut p, true, s);
    assert_eq!(got, b"early");
    assert_eq!(end, Err(Error::ConnectionReset));
    assert_eq!(p.s().socket_error(s), Ok(Some(Error::ConnectionReset)));
    assert_eq!(p.s().connection_count(), 0);
}

// ---- CLOSING and LAST-ACK: to CLOSED, no error ----

#[test]
fn rst_in_closing_closes_without_error() {
    let mut p = Pair::new(30, LinkModel::default());
    let (c, s, _l) = p.establish();
    let (client, server) = (p.client, p.server);
    p.trace();
    // Both FINs pass; both ACKs of them are lost: both sides in CLOSING.
    p.net.script(client, server, [Fault::Pass, Fault::Drop]);
    p.net.script(server, client, [Fault::Pass, Fault::Drop]);
    let now = p.now();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    p.s().shutdown(now, s, Shutdown::Write).unwrap();
    p.run_for(ms(10));
    assert_eq!(p.c().state(c), Ok(State::Closing));
    assert_eq!(p.s().state(s), Ok(State::Closing));
    let segs = take_segs(&mut p);
    let s_fin = segs
        .iter()
        .find(|x| !x.from_client && x.is(FIN_ACK))
        .unwrap();
    let c_fin = segs
        .iter()
        .find(|x| x.from_client && x.is(FIN_ACK))
        .unwrap();
    events(p.c());

    // Exact RST (RCV.NXT is past the server's FIN).
    to_client(
        &mut p,
        c,
        s_fin.seq.wrapping_add(1),
        c_fin.seq.wrapping_add(1),
        RST_ACK,
        &[],
    );
    p.run_for(ms(10));
    assert!(take_segs(&mut p).is_empty(), "a RST is never answered");
    // RFC 9293 §3.10.7.4 "second", CLOSING: enter CLOSED; no error.
    assert_eq!(p.c().state(c), Ok(State::Closed));
    assert_eq!(p.c().socket_error(c), Ok(None));
    assert!(events_of(&events(p.c()), c).contains(&Event::Closed));
    assert_eq!(p.c().time_wait_count(), 0, "no TIME-WAIT after a RST");

    // The server's FIN retransmission meets no connection; the RST it gets
    // back closes the server's CLOSING the same way.
    p.run_until(secs(5), |p| p.s().state(s) == Ok(State::Closed));
    assert_eq!(p.s().socket_error(s), Ok(None));
    let segs = take_segs(&mut p);
    let lad = ladder(&segs);
    let rst = segs.iter().find(|x| x.has(TcpFlags::RST)).expect(&lad);
    assert!(rst.from_client && rst.is(RST) && rst.seq == c_fin.seq.wrapping_add(1));
}

#[test]
fn rst_in_last_ack_closes_without_error() {
    let mut p = Pair::new(31, LinkModel::default());
    let (c, s, _l) = p.establish();
    let (client, server) = (p.client, p.server);
    let now = p.now();
    p.s().shutdown(now, s, Shutdown::Write).unwrap();
    p.run_for(ms(100));
    assert_eq!(p.c().state(c), Ok(State::CloseWait));
    p.trace();
    // The server's ACK of the client's FIN is lost: the client stays in
    // LAST-ACK (and the server goes to TIME-WAIT).
    p.net.script(server, client, [Fault::Drop]);
    let now = p.now();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    p.run_for(ms(10));
    assert_eq!(p.c().state(c), Ok(State::LastAck));
    let segs = take_segs(&mut p);
    let c_fin = segs
        .iter()
        .find(|x| x.from_client && x.is(FIN_ACK))
        .unwrap();
    let rcv_nxt = c_fin.ack;
    events(p.c());

    // Not exact: challenge ACK, still LAST-ACK.
    to_client(&mut p, c, rcv_nxt.wrapping_add(10), 0, RST, &[]);
    p.run_for(ms(10));
    let segs = take_segs(&mut p);
    assert_eq!(segs.len(), 1, "{}", ladder(&segs));
    assert!(segs[0].from_client && segs[0].is(ACK));
    assert_eq!(segs[0].ack, rcv_nxt);
    assert_eq!(p.c().state(c), Ok(State::LastAck));

    to_client(&mut p, c, rcv_nxt, 0, RST, &[]);
    p.run_for(ms(10));
    assert!(take_segs(&mut p).is_empty());
    assert_eq!(p.c().state(c), Ok(State::Closed));
    assert_eq!(p.c().socket_error(c), Ok(None));
    assert!(events_of(&events(p.c()), c).contains(&Event::Closed));
    assert_eq!(p.c().connection_count(), 0);
    // The peer's FIN had ended the stream: reads stay at end-of-stream.
    let now = p.now();
    assert_eq!(p.c().recv(now, c, &mut [0u8; 8]), Ok(0));
}

// ---- TIME-WAIT: RFC 1337 ----

#[test]
fn rst_in_time_wait_is_ignored() {
    let mut p = Pair::new(32, LinkModel::default());
    let (c, s, _l) = p.establish();
    let now = p.now();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    p.s().close(now, s).unwrap();
    p.run_for(ms(100));
    assert_eq!(p.c().state(c), Ok(State::TimeWait));
    assert_eq!(p.c().time_wait_count(), 1);
    p.trace();
    let entered = p.now();

    // Find RCV.NXT: a segment out of the window makes TIME-WAIT re-ACK.
    to_client(&mut p, c, 1, 0, ACK, b"?");
    p.run_for(ms(10));
    let segs = take_segs(&mut p);
    assert_eq!(segs.len(), 1, "{}", ladder(&segs));
    let rcv_nxt = segs[0].ack;
    let snd_nxt = segs[0].seq;

    // DESIGN.md, RFC 1337: RSTs do not end TIME-WAIT, exact or not.
    to_client(&mut p, c, rcv_nxt, snd_nxt, RST_ACK, &[]);
    to_client(&mut p, c, rcv_nxt, 0, RST, &[]);
    to_client(&mut p, c, rcv_nxt.wrapping_add(5), 0, RST, &[]);
    p.run_for(ms(10));
    assert!(take_segs(&mut p).is_empty(), "a RST is never answered");
    assert_eq!(p.c().time_wait_count(), 1);
    assert_eq!(p.c().state(c), Ok(State::TimeWait));
    assert_eq!(p.c().socket_error(c), Ok(None));

    // The record still lasts its full 2×MSL.
    let tw = p.c().config().tcp.time_wait();
    p.run_until(tw, |p| p.c().time_wait_count() == 0);
    assert!(p.now() - entered >= tw - ms(100));
    assert_eq!(p.c().state(c), Ok(State::Closed));
}

// ---- RFC 5961 challenge ACKs in ESTABLISHED ----

#[test]
fn in_window_rst_and_syn_get_challenge_ack() {
    let mut p = Pair::new(33, LinkModel::default());
    let (c, s) = established_with_data(&mut p, b"0123456789");
    let mut buf = [0u8; 10];
    let now = p.now();
    assert_eq!(p.c().recv(now, c, &mut buf), Ok(10));
    p.run_for(ms(100));
    p.trace();
    // Learn SND.NXT/RCV.NXT from a duplicate ACK the client sends for an
    // old segment.
    to_client(&mut p, c, 1, 0, ACK, b"old");
    p.run_for(ms(10));
    let probe = last_from(&take_segs(&mut p), true).clone();
    let (snd_nxt, rcv_nxt) = (probe.seq, probe.ack);

    let cases: [(u32, TcpFlags, bool); 5] = [
        // In the window, not exact: challenge ACK (RFC 5961 §3.2).
        (rcv_nxt.wrapping_add(1000), RST, true),
        (rcv_nxt.wrapping_add(1), RST_ACK, true),
        // Outside the window: dropped silently (§3.2 first bullet).
        (rcv_nxt.wrapping_sub(1), RST, false),
        (rcv_nxt.wrapping_add(50_000_000), RST, false),
        // Any SYN in a synchronized state: challenge ACK (RFC 5961 §4.2).
        (rcv_nxt.wrapping_add(7), SYN, true),
    ];
    for (seq, flags, challenged) in cases {
        to_client(&mut p, c, seq, snd_nxt, flags, &[]);
        p.run_for(ms(10));
        let segs = take_segs(&mut p);
        let lad = ladder(&segs);
        if challenged {
            assert_eq!(segs.len(), 1, "{flags:?} seq={seq}: {lad}");
            let a = &segs[0];
            assert!(a.from_client && a.is(ACK) && a.len == 0, "{lad}");
            assert_eq!((a.seq, a.ack), (snd_nxt, rcv_nxt), "{lad}");
        } else {
            assert!(segs.is_empty(), "{flags:?} seq={seq}: {lad}");
        }
        assert_eq!(p.c().state(c), Ok(State::Established));
        assert_eq!(p.c().socket_error(c), Ok(None));
    }
    // The connection still works.
    let now = p.now();
    p.s().send(now, s, b"more").unwrap();
    p.run_for(ms(100));
    let (got, _) = read_all(&mut p, false, c);
    assert_eq!(got, b"more");
    // An exact RST still resets.
    take_segs(&mut p);
    to_client(&mut p, c, rcv_nxt.wrapping_add(4), 0, RST, &[]);
    assert_eq!(p.c().socket_error(c), Ok(Some(Error::ConnectionReset)));
}

// ---- a segment for no connection (RFC 9293 §3.10.7.1) ----

#[test]
fn segment_for_no_connection_gets_rst() {
    let mut st = Stack::new(StackConfig::default(), 5);
    st.add_address(SERVER_IP.parse().unwrap());
    let from: SocketAddr = format!("{CLIENT_IP}:40000").parse().unwrap();
    let closed: SocketAddr = format!("{SERVER_IP}:9").parse().unwrap();
    let now = Instant::ZERO;
    let psh_ack = TcpFlags(TcpFlags::PSH.0 | TcpFlags::ACK.0);
    let fin = TcpFlags::FIN;
    // (flags, seq, ack, payload len) -> (flags, seq, ack) of the reply.
    type Reply = Option<(TcpFlags, u32, u32)>;
    let cases: [(TcpFlags, u32, u32, usize, Reply); 9] = [
        // With ACK: <SEQ=SEG.ACK><CTL=RST>.
        (ACK, 1000, 5000, 0, Some((RST, 5000, 0))),
        (psh_ack, 1000, 5000, 10, Some((RST, 5000, 0))),
        (SYN_ACK, 1000, 7, 0, Some((RST, 7, 0))),
        (FIN_ACK, 1000, 9, 0, Some((RST, 9, 0))),
        // Without: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, where SYN and
        // FIN count in SEG.LEN.
        (SYN, 1000, 0, 0, Some((RST_ACK, 0, 1001))),
        (fin, 1000, 0, 5, Some((RST_ACK, 0, 1006))),
        (TcpFlags::empty(), u32::MAX - 2, 0, 7, Some((RST_ACK, 0, 4))),
        // A RST is never answered.
        (RST, 1000, 0, 0, None),
        (RST_ACK, 1000, 5000, 0, None),
    ];
    let mut sent = 0;
    for (flags, seq, ack, len, want) in cases {
        let pkt = packet(from, closed, seq, ack, flags, &vec![b'x'; len]);
        st.handle_packet(now, &pkt);
        let out = transmit_all(&mut st, now);
        match want {
            None => assert!(out.is_empty(), "{flags:?}: {out:?}"),
            Some((f, s, a)) => {
                sent += 1;
                assert_eq!(out.len(), 1, "{flags:?}");
                let (src, dst, r) = &out[0];
                assert_eq!((*src, *dst), (closed, from));
                assert_eq!(r.flags, f, "{flags:?}");
                assert_eq!(r.seq.0, s, "{flags:?}");
                if f.contains(ACK) {
                    assert_eq!(r.ack.0, a, "{flags:?}");
                }
                assert!(r.payload.is_empty());
            }
        }
    }
    assert_eq!(st.stats().resets_sent, sent);

    // A listener's port: an ACK for no half-open entry gets the same RST
    // (§3.10.7.2 LISTEN, "second"), a RST is ignored, a SYN is answered.
    let l = st.listen(Pair::server_addr(), 4).unwrap();
    let pkt = packet(from, Pair::server_addr(), 1000, 4242, ACK, &[]);
    st.handle_packet(now, &pkt);
    let out = transmit_all(&mut st, now);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].2.flags, out[0].2.seq.0), (RST, 4242));
    st.handle_packet(now, &packet(from, Pair::server_addr(), 1000, 0, RST, &[]));
    assert!(transmit_all(&mut st, now).is_empty());
    assert_eq!(st.state(l), Ok(State::Listen));
    st.handle_packet(now, &packet(from, Pair::server_addr(), 1000, 0, SYN, &[]));
    let out = transmit_all(&mut st, now);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].2.flags, out[0].2.ack.0), (SYN_ACK, 1001));
}

#[test]
fn peer_without_state_resets_a_stale_connection() {
    let mut p = Pair::new(34, LinkModel::default());
    let (c, s, _l) = p.establish();
    let (client, server) = (p.client, p.server);
    // The server forgets the connection and its RST is lost: the client
    // holds a half-open connection (RFC 9293 §3.5.1).
    p.net.script(server, client, [Fault::Drop]);
    let now = p.now();
    p.s().abort(now, s).unwrap();
    p.run_for(ms(10));
    assert_eq!(p.c().state(c), Ok(State::Established));
    p.trace();
    let now = p.now();
    p.c().send(now, c, b"anyone there?").unwrap();
    p.run_for(ms(10));
    let segs = take_segs(&mut p);
    let lad = ladder(&segs);
    assert_eq!(segs.len(), 2, "{lad}");
    let (data, rst) = (&segs[0], &segs[1]);
    assert!(data.from_client && data.len == 13);
    // The listener on that port answers with <SEQ=SEG.ACK><CTL=RST>, which is
    // exactly the client's RCV.NXT.
    assert!(
        !rst.from_client && rst.is(RST) && rst.seq == data.ack,
        "{lad}"
    );
    assert_eq!(p.c().state(c), Ok(State::Closed));
    assert_eq!(p.c().socket_error(c), Ok(Some(Error::ConnectionReset)));
}

#[test]
fn challenge_acks_are_rate_limited_per_stack() {
    let cfg = StackConfig {
        challenge_ack_limit: 10,
        ..StackConfig::default()
    };
    let mut p = Pair::with_config(34, LinkModel::default(), cfg);
    let (c, _s) = established_with_data(&mut p, b"x");
    let mut buf = [0u8; 1];
    let now = p.now();
    assert_eq!(p.c().recv(now, c, &mut buf), Ok(1));
    p.run_for(ms(100));
    p.trace();
    to_client(&mut p, c, 1, 0, ACK, b"old");
    p.run_for(ms(10));
    let probe = last_from(&take_segs(&mut p), true).clone();
    let (snd_nxt, rcv_nxt) = (probe.seq, probe.ack);
    // A blind attacker's burst: 100 in-window RSTs within a second.
    let burst = |p: &mut Pair| {
        for i in 0..100u32 {
            to_client(p, c, rcv_nxt.wrapping_add(1 + i), snd_nxt, RST, &[]);
            p.run_for(ms(1));
        }
        take_segs(p)
            .iter()
            .filter(|s| s.from_client && s.is(ACK))
            .count()
    };
    // RFC 5961 §7: at most the limit per second, drawn between half and
    // all of it.
    // (Counted from here: the probe above may itself have drawn a
    // challenge ACK, depending on the windows negotiated.)
    let before = p.c().stats();
    let first = burst(&mut p);
    assert!((5..=10).contains(&first), "{first} challenge ACKs");
    let stats = p.c().stats();
    assert_eq!(
        (stats.challenge_acks - before.challenge_acks) as usize,
        first
    );
    assert_eq!(
        (stats.challenge_acks_limited - before.challenge_acks_limited) as usize,
        100 - first
    );
    // The next second has a new budget; the connection never broke.
    p.run_for(Duration::from_secs(1));
    let second = burst(&mut p);
    assert!((5..=10).contains(&second), "{second} challenge ACKs");
    assert_eq!(p.c().state(c), Ok(State::Established));
    assert_eq!(p.c().socket_error(c), Ok(None));
}
