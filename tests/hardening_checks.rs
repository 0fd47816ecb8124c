//! The segment checks that keep old duplicates and blind forgeries out of an
//! established connection: PAWS (RFC 7323 §5) and the ACK acceptability
//! check of RFC 5961 §5. Each test injects a crafted segment at the server
//! with the 4-tuple, sequence and acknowledgment numbers a real one would
//! carry, changing only the field under test, and checks both that the data
//! was not taken and what went back on the wire.

mod common;
use common::*;

use std::net::SocketAddr;
use std::time::Duration;

use synfin::links::LinkModel;
use synfin::stack::SocketHandle;
use synfin::wire::{self, SeqNum, TcpFlags, TcpOptions, TcpRepr};

/// What a forged segment needs to look genuine: the client's next sequence
/// number, the server's (what the client acknowledges) and the client's
/// latest timestamp.
struct Genuine {
    from: SocketAddr,
    to: SocketAddr,
    seq: u32,
    ack: u32,
    tsval: u32,
    tsecr: u32,
}

/// An established pair that has moved 1000 bytes client→server, idle.
fn established() -> (Pair, SocketHandle, SocketHandle, Genuine) {
    let mut p = Pair::new(11, LinkModel::new().delay(Duration::from_millis(5)));
    p.trace();
    let (c, s, _l) = p.establish();
    let now = p.now();
    p.c().send(now, c, &pattern(1000, 3)).unwrap();
    p.run_for(Duration::from_secs(1));
    let mut got = Vec::new();
    p.drain(true, s, &mut got).unwrap();
    assert_eq!(got.len(), 1000);
    p.run_for(Duration::from_secs(1));
    let segs = p.segments();
    let last = segs.iter().rev().find(|s| s.from_client).unwrap();
    let (tsval, tsecr) = last.options.timestamps.expect("timestamps negotiated");
    let g = Genuine {
        from: last.src,
        to: last.dst,
        seq: last.seq.wrapping_add(last.len as u32),
        ack: last.ack,
        tsval,
        tsecr,
    };
    (p, c, s, g)
}

fn segment(g: &Genuine, seq: u32, ack: u32, ts: Option<(u32, u32)>, payload: &[u8]) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: g.from.port(),
        dst_port: g.to.port(),
        seq: SeqNum(seq),
        ack: SeqNum(ack),
        flags: TcpFlags::ACK | TcpFlags::PSH,
        window: 1000,
        urgent: 0,
        options: TcpOptions {
            timestamps: ts,
            ..TcpOptions::default()
        },
        payload,
    };
    let mut buf = vec![0u8; wire::tcp_packet_len(&g.from.ip(), &repr)];
    let n = wire::emit_tcp_packet(g.from.ip(), g.to.ip(), 64, &repr, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// Injects `pkt` at the server and returns what the server sent in reply.
fn inject(p: &mut Pair, pkt: &[u8]) -> Vec<WireSeg> {
    p.segments();
    let now = p.now();
    p.s().handle_packet(now, pkt);
    p.run_for(Duration::from_millis(1));
    p.segments()
        .into_iter()
        .filter(|s| !s.from_client)
        .collect()
}

#[test]
fn paws_drops_a_segment_with_an_old_timestamp_and_acks() {
    let (mut p, _c, s, g) = established();
    let old = Some((g.tsval.wrapping_sub(5000), g.tsecr));
    let replies = inject(&mut p, &segment(&g, g.seq, g.ack, old, b"forged!"));
    assert_eq!(p.s().recv_queue_len(s), Ok(0), "PAWS must drop the segment");
    assert!(
        replies
            .iter()
            .any(|r| r.is(TcpFlags::ACK) && r.ack == g.seq),
        "PAWS answers with an ACK of RCV.NXT: {replies:?}"
    );
    // The same segment with a current timestamp is taken.
    let fresh = Some((g.tsval.wrapping_add(10), g.tsecr));
    inject(&mut p, &segment(&g, g.seq, g.ack, fresh, b"genuine"));
    assert_eq!(p.s().recv_queue_len(s), Ok(7));
}

#[test]
fn paws_never_applies_to_rst() {
    let (mut p, _c, s, g) = established();
    let repr = TcpRepr {
        src_port: g.from.port(),
        dst_port: g.to.port(),
        seq: SeqNum(g.seq),
        ack: SeqNum(0),
        flags: TcpFlags::RST,
        window: 0,
        urgent: 0,
        options: TcpOptions {
            timestamps: Some((g.tsval.wrapping_sub(5000), 0)),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    let mut buf = vec![0u8; 128];
    let n = wire::emit_tcp_packet(g.from.ip(), g.to.ip(), 64, &repr, &mut buf).unwrap();
    inject(&mut p, &buf[..n]);
    assert_eq!(
        p.s().socket_error(s),
        Ok(Some(synfin::stack::Error::ConnectionReset)),
        "an exact RST resets whatever its timestamp (RFC 7323 §5.3 R1)"
    );
}

#[test]
fn paws_lets_a_segment_without_timestamps_through() {
    let (mut p, _c, s, g) = established();
    inject(&mut p, &segment(&g, g.seq, g.ack, None, b"no-ts"));
    assert_eq!(p.s().recv_queue_len(s), Ok(5));
}

#[test]
fn an_ack_below_the_acceptable_range_drops_the_segment_with_a_challenge() {
    let (mut p, _c, s, g) = established();
    let before = p.s().stats().challenge_acks;
    let ts = Some((g.tsval.wrapping_add(10), g.tsecr));
    // SND.UNA - MAX.SND.WND - 1: the window is at most 65535 << 14.
    let too_old = g.ack.wrapping_sub(1 << 31);
    let replies = inject(&mut p, &segment(&g, g.seq, too_old, ts, b"forged"));
    assert_eq!(p.s().recv_queue_len(s), Ok(0), "RFC 5961 §5.2: discarded");
    assert_eq!(p.s().stats().challenge_acks, before + 1);
    assert!(
        replies
            .iter()
            .any(|r| r.is(TcpFlags::ACK) && r.ack == g.seq),
        "a challenge ACK went out: {replies:?}"
    );
    // An old ACK inside the range (a duplicate) still lets its data in.
    let dup = g.ack.wrapping_sub(1);
    inject(&mut p, &segment(&g, g.seq, dup, ts, b"genuine"));
    assert_eq!(p.s().recv_queue_len(s), Ok(7));
}

#[test]
fn the_user_timeout_aborts_data_left_unacknowledged_that_long() {
    // RFC 5482 / TCP_USER_TIMEOUT: 5 s of unacknowledged data ends the
    // connection with TimedOut, long before 15 backed-off retransmissions.
    let mut cfg = synfin::stack::StackConfig::default();
    cfg.tcp.user_timeout = Some(Duration::from_secs(5));
    let mut p = Pair::with_config(4, LinkModel::new().delay(Duration::from_millis(5)), cfg);
    let (c, _s, _l) = p.establish();
    let (a, b) = (p.client, p.server);
    for (x, y) in [(a, b), (b, a)] {
        let m = p.net.model_mut(x, y).unwrap();
        *m = m.clone().up(false);
    }
    let start = p.now();
    p.c().send(start, c, b"into the void").unwrap();
    p.run_until(Duration::from_secs(60), |p| {
        p.c().state(c) == Ok(synfin::tcp::State::Closed)
    });
    let took = p.now().saturating_duration_since(start);
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert_eq!(
        p.c().socket_error(c),
        Ok(Some(synfin::stack::Error::TimedOut))
    );
}
