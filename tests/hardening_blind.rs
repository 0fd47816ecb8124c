//! Blind (off-path) attacks on an established connection: an attacker who
//! knows the 4-tuple but not the sequence numbers injects RSTs, SYNs and
//! data segments with random sequence and acknowledgment numbers, in both
//! directions, while 200 kB flow each way.
//!
//! What RFC 5961 allows, per forged segment (RCV.WND ≤ 128 KiB here, so
//! the advertised window is at most 2¹⁷ bytes; MAX.SND.WND likewise):
//!
//! * RST: resets only at SEG.SEQ = RCV.NXT exactly (§3.2) — probability
//!   2⁻³² ≈ 2.3·10⁻¹⁰; in-window ones cost a rate-limited challenge ACK.
//! * SYN: never resets; in any synchronized state it gets a challenge ACK
//!   (§4.2).
//! * data: taken only if its sequence number overlaps the window
//!   (≈ 2¹⁷/2³²) *and* its ACK lies in [SND.UNA − MAX.SND.WND, SND.NXT]
//!   (§5.2, ≈ 2¹⁸/2³² with what is in flight) — about 2·10⁻⁹.
//!
//! With 20 000 forgeries of each kind the expected number of broken
//! connections is below 5·10⁻⁵, so the test requires none: both transfers
//! complete intact, without error, and the connection is never reset.

mod common;
use common::*;

use std::net::SocketAddr;
use std::time::Duration;

use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};
use synfin::links::LinkModel;
use synfin::wire::{self, SeqNum, TcpFlags, TcpOptions, TcpRepr};

const PER_KIND: usize = 20_000;
const TRANSFER: usize = 200_000;

fn forged(r: &mut ChaCha8Rng, from: SocketAddr, to: SocketAddr, kind: usize) -> Vec<u8> {
    let payload = [0xA5u8; 100];
    let (flags, payload): (TcpFlags, &[u8]) = match kind {
        0 => (TcpFlags::RST, &[]),
        1 => (TcpFlags::SYN, &[]),
        _ => (TcpFlags::ACK | TcpFlags::PSH, &payload),
    };
    let repr = TcpRepr {
        src_port: from.port(),
        dst_port: to.port(),
        seq: SeqNum(r.next_u32()),
        ack: SeqNum(r.next_u32()),
        flags,
        window: 65535,
        urgent: 0,
        options: TcpOptions::default(),
        payload,
    };
    let mut buf = vec![0u8; 256];
    let n = wire::emit_tcp_packet(from.ip(), to.ip(), 64, &repr, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn blind_rst_syn_and_data_injection_break_no_connection() {
    let mut p = Pair::new(77, LinkModel::new().delay(Duration::from_millis(10)));
    let (c, s, _l) = p.establish();
    let (ca, sa) = (p.c().local_addr(c).unwrap(), Pair::server_addr());
    let (up, down) = (pattern(TRANSFER, 5), pattern(TRANSFER, 6));
    let (mut sent_up, mut sent_down) = (0, 0);
    let (mut got_up, mut got_down) = (Vec::new(), Vec::new());
    let mut r = ChaCha8Rng::seed_from_u64(1);
    let mut injected = [0usize; 3];
    let mut steps = 0usize;
    p.run_until(Duration::from_secs(600), |p| {
        let now = p.now();
        // Forgeries, both directions, a few each millisecond throughout.
        if injected.iter().sum::<usize>() < 3 * PER_KIND {
            for _ in 0..40 {
                let kind = steps % 3;
                steps += 1;
                if injected[kind] >= PER_KIND {
                    continue;
                }
                injected[kind] += 1;
                if r.next_u32() % 2 == 0 {
                    let pkt = forged(&mut r, ca, sa, kind);
                    p.s().handle_packet(now, &pkt);
                } else {
                    let pkt = forged(&mut r, sa, ca, kind);
                    p.c().handle_packet(now, &pkt);
                }
            }
        }
        if let Ok(n) = p.c().send(now, c, &up[sent_up..]) {
            sent_up += n;
        }
        if let Ok(n) = p.s().send(now, s, &down[sent_down..]) {
            sent_down += n;
        }
        p.drain(true, s, &mut got_up)
            .expect("server side never fails");
        p.drain(false, c, &mut got_down)
            .expect("client side never fails");
        got_up.len() >= TRANSFER
            && got_down.len() >= TRANSFER
            && injected.iter().all(|&n| n == PER_KIND)
    });
    assert_eq!(injected, [PER_KIND; 3]);
    assert!(got_up == up, "client→server bytes intact");
    assert!(got_down == down, "server→client bytes intact");
    assert_eq!(p.c().socket_error(c), Ok(None));
    assert_eq!(p.s().socket_error(s), Ok(None));
    let (cs, ss) = (p.c().stats(), p.s().stats());
    eprintln!(
        "blind injection: {} forgeries ({PER_KIND} RST, {PER_KIND} SYN, {PER_KIND} data); \
         challenge ACKs sent {} / limited {}; connections broken: 0",
        3 * PER_KIND,
        cs.challenge_acks + ss.challenge_acks,
        cs.challenge_acks_limited + ss.challenge_acks_limited
    );
    // Every SYN drew a challenge (sent or held back by the rate limit).
    assert!(
        cs.challenge_acks
            + ss.challenge_acks
            + cs.challenge_acks_limited
            + ss.challenge_acks_limited
            >= PER_KIND as u64 / 2,
        "{cs:?} {ss:?}"
    );
}
