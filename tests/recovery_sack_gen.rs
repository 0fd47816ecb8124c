//! SACK generation on out-of-order data (RFC 2018) with D-SACK (RFC 2883),
//! replaying cases of FreeBSD's `rcv-data-segments` packetdrill scripts
//! (Michael Tüxen's tcp-testsuite) against one stack: the peer offers
//! `mss 1460,sackOK` without timestamps, so four blocks fit, and every
//! out-of-order or duplicate segment is answered at once with the blocks in
//! the scripts' order (D-SACK first, then the most recently changed block).

mod common;
#[path = "common/open.rs"]
mod open;

use std::net::SocketAddr;

use synfin::stack::{Stack, StackConfig};
use synfin::time::Instant;
use synfin::wire::{TcpFlags, TcpOptions};

const ACK: TcpFlags = TcpFlags::ACK;

struct Peer {
    stack: Stack,
    me: SocketAddr,
    server: SocketAddr,
    /// The server's ISS + 1, which every segment acknowledges.
    ack: u32,
    now: Instant,
}

impl Peer {
    /// `< S 0:0(0) win 65535 <mss 1460,sackOK>`, the SYN-ACK, the ACK,
    /// accept: the packetdrill scripts' preamble (IRS = 0).
    fn connect() -> Peer {
        let server: SocketAddr = "198.18.0.2:8080".parse().unwrap();
        let me: SocketAddr = "198.18.0.1:40000".parse().unwrap();
        let mut stack = Stack::new(StackConfig::default(), 9);
        stack.add_address(server.ip());
        let l = stack.listen(server, 1).unwrap();
        let now = Instant::ZERO;
        let syn_opts = TcpOptions {
            mss: Some(1460),
            sack_permitted: true,
            ..TcpOptions::default()
        };
        stack.handle_packet(
            now,
            &open::packet_with_options(me, server, 0, 0, TcpFlags::SYN, syn_opts, &[]),
        );
        let out = open::transmit_all(&mut stack, now);
        let syn_ack = &out[0].2;
        assert!(syn_ack.options.sack_permitted, "SYN-ACK echoes sackOK");
        let ack = syn_ack.seq.0.wrapping_add(1);
        stack.handle_packet(
            now,
            &open::packet_with_options(me, server, 1, ack, ACK, TcpOptions::default(), &[]),
        );
        stack.accept(l).unwrap();
        Peer {
            stack,
            me,
            server,
            ack,
            now,
        }
    }

    /// Sends `start:end(len)` (FIN if `fin`) and returns the ACK the stack
    /// answers with at once, as (ack, blocks) relative to IRS = 0.
    fn send(&mut self, start: u32, end: u32, fin: bool) -> Option<(u32, Vec<(u32, u32)>)> {
        let payload: Vec<u8> = (start..end).map(|i| i as u8).collect();
        let mut flags = ACK;
        if fin {
            flags |= TcpFlags::FIN;
        }
        let pkt = open::packet_with_options(
            self.me,
            self.server,
            start,
            self.ack,
            flags,
            TcpOptions::default(),
            &payload,
        );
        self.stack.handle_packet(self.now, &pkt);
        let out = open::transmit_all(&mut self.stack, self.now);
        out.last().map(|(_, _, r)| {
            let blocks = r
                .options
                .sack_blocks
                .as_slice()
                .iter()
                .map(|&(l, r)| (l.0, r.0))
                .collect();
            (r.ack.0, blocks)
        })
    }
}

/// One script: the segments and the expected immediate answers (`None`:
/// no ACK at once, the delayed-ACK timer runs).
type Step = ((u32, u32), Option<(u32, &'static [(u32, u32)])>);

fn run(name: &str, steps: &[Step]) {
    let mut p = Peer::connect();
    for (i, &((s, e), want)) in steps.iter().enumerate() {
        let got = p.send(s, e, false);
        let want = want.map(|(a, b)| (a, b.to_vec()));
        assert_eq!(got, want, "{name}: step {i}, segment {s}:{e}");
    }
}

/// The scripts' common preparation: 1:100 in order, then 200:300, 400:500,
/// 600:700 out of order.
const PREP: [Step; 4] = [
    ((1, 100), None),
    ((200, 300), Some((100, &[(200, 300)]))),
    ((400, 500), Some((100, &[(400, 500), (200, 300)]))),
    (
        (600, 700),
        Some((100, &[(600, 700), (400, 500), (200, 300)])),
    ),
];

fn overlapping(
    name: &str,
    seg: (u32, u32),
    answer: (u32, &'static [(u32, u32)]),
    finish: (u32, &'static [(u32, u32)]),
) {
    let mut steps = PREP.to_vec();
    steps.push((seg, Some(answer)));
    steps.push(((1, 800), Some(finish)));
    run(name, &steps);
}

#[test]
fn overlapping_scripts() {
    // overlapping-050-075: a duplicate below RCV.NXT is the D-SACK block.
    overlapping(
        "050-075",
        (50, 75),
        (100, &[(50, 75), (600, 700), (400, 500), (200, 300)]),
        (800, &[(1, 100)]),
    );
    // overlapping-050-150: duplicate part below RCV.NXT, new part in order.
    overlapping(
        "050-150",
        (50, 150),
        (150, &[(50, 100), (600, 700), (400, 500), (200, 300)]),
        (800, &[(1, 150)]),
    );
    // overlapping-050-350: fills the first hole and joins 200:300.
    overlapping(
        "050-350",
        (50, 350),
        (350, &[(50, 100), (600, 700), (400, 500)]),
        (800, &[(1, 350)]),
    );
    // overlapping-050-600: only the lowest duplicate part is reported.
    overlapping(
        "050-600",
        (50, 600),
        (700, &[(50, 100)]),
        (800, &[(1, 700)]),
    );
    // overlapping-100-275: the D-SACK block may lie below the new ACK.
    overlapping(
        "100-275",
        (100, 275),
        (300, &[(200, 275), (600, 700), (400, 500)]),
        (800, &[(1, 300)]),
    );
    // overlapping-150-275: D-SACK, then the block it grew.
    overlapping(
        "150-275",
        (150, 275),
        (100, &[(200, 275), (150, 300), (600, 700), (400, 500)]),
        (800, &[(1, 100)]),
    );
    // overlapping-150-600: two duplicates, the first is reported.
    overlapping(
        "150-600",
        (150, 600),
        (100, &[(200, 300), (150, 700)]),
        (800, &[(1, 100)]),
    );
    // overlapping-250-275: inside a block; that block becomes the newest.
    overlapping(
        "250-275",
        (250, 275),
        (100, &[(250, 275), (200, 300), (600, 700), (400, 500)]),
        (800, &[(1, 100)]),
    );
    // overlapping-300-350: adjacent, no duplicate.
    overlapping(
        "300-350",
        (300, 350),
        (100, &[(200, 350), (600, 700), (400, 500)]),
        (800, &[(1, 100)]),
    );
    // overlapping-350-475: the merged block first, then by recency.
    overlapping(
        "350-475",
        (350, 475),
        (100, &[(400, 475), (350, 500), (600, 700), (200, 300)]),
        (800, &[(1, 100)]),
    );
    // overlapping-500-600: bridges two blocks.
    overlapping(
        "500-600",
        (500, 600),
        (100, &[(400, 700), (200, 300)]),
        (800, &[(1, 100)]),
    );
    // overlapping-600-700: an exact duplicate of a block.
    overlapping(
        "600-700",
        (600, 700),
        (100, &[(600, 700), (600, 700), (400, 500), (200, 300)]),
        (800, &[(1, 100)]),
    );
}

#[test]
fn reordering_scripts() {
    // reordering-35241: segments 1:2 2:4 4:8 8:16 16:32 arrive 3,5,2,4,1.
    run(
        "35241",
        &[
            ((4, 8), Some((1, &[(4, 8)]))),
            ((16, 32), Some((1, &[(16, 32), (4, 8)]))),
            ((2, 4), Some((1, &[(2, 8), (16, 32)]))),
            ((8, 16), Some((1, &[(2, 32)]))),
            ((1, 2), Some((32, &[]))),
        ],
    );
    // reordering-54321.
    run(
        "54321",
        &[
            ((16, 32), Some((1, &[(16, 32)]))),
            ((8, 16), Some((1, &[(8, 32)]))),
            ((4, 8), Some((1, &[(4, 32)]))),
            ((2, 4), Some((1, &[(2, 32)]))),
            ((1, 2), Some((32, &[]))),
        ],
    );
}

/// reordering-5F4321: a FIN out of order is not SACKed (it occupies no
/// data byte); when the gap closes the ACK covers data and FIN.
#[test]
fn out_of_order_fin_script() {
    let mut p = Peer::connect();
    assert_eq!(p.send(16, 32, false), Some((1, vec![(16, 32)])));
    assert_eq!(p.send(32, 32, true), Some((1, vec![(16, 32)])));
    assert_eq!(p.send(8, 16, false), Some((1, vec![(8, 32)])));
    assert_eq!(p.send(4, 8, false), Some((1, vec![(4, 32)])));
    assert_eq!(p.send(2, 4, false), Some((1, vec![(2, 32)])));
    assert_eq!(p.send(1, 2, false), Some((33, vec![])));
}

/// Without SACK-permitted from the peer, no blocks are ever sent.
#[test]
fn no_blocks_without_negotiation() {
    let server: SocketAddr = "198.18.0.2:8080".parse().unwrap();
    let me: SocketAddr = "198.18.0.1:40000".parse().unwrap();
    let mut stack = Stack::new(StackConfig::default(), 9);
    stack.add_address(server.ip());
    let l = stack.listen(server, 1).unwrap();
    let now = Instant::ZERO;
    let syn_opts = TcpOptions {
        mss: Some(1460),
        ..TcpOptions::default()
    };
    stack.handle_packet(
        now,
        &open::packet_with_options(me, server, 0, 0, TcpFlags::SYN, syn_opts, &[]),
    );
    let out = open::transmit_all(&mut stack, now);
    assert!(!out[0].2.options.sack_permitted);
    let ack = out[0].2.seq.0.wrapping_add(1);
    stack.handle_packet(
        now,
        &open::packet_with_options(me, server, 1, ack, ACK, TcpOptions::default(), &[]),
    );
    stack.accept(l).unwrap();
    stack.handle_packet(
        now,
        &open::packet_with_options(me, server, 200, ack, ACK, TcpOptions::default(), &[7; 100]),
    );
    let out = open::transmit_all(&mut stack, now);
    assert_eq!(out.last().unwrap().2.ack.0, 1);
    assert!(out.last().unwrap().2.options.sack_blocks.is_empty());
}
