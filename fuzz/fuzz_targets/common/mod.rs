//! Two stacks joined by hand (no simulator): the fuzz targets decide which
//! packets are delivered, so they can stop a connection in any state, then
//! forge segments that look like the peer's.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use synfin::stack::{Stack, StackConfig};
use synfin::time::Instant;
use synfin::wire::{self, SeqNum, TcpFlags, TcpOptions, TcpRepr};

pub const A: &str = "198.18.0.1";
pub const B: &str = "198.18.0.2:80";

/// What the last packet from one side told the other: the next sequence
/// number and its ACK, and its timestamp.
#[derive(Copy, Clone, Default, Debug)]
pub struct Last {
    pub next_seq: u32,
    pub ack: u32,
    pub tsval: u32,
}

pub struct Duo {
    pub a: Stack,
    pub b: Stack,
    pub now: Instant,
    pub a_to_b: Last,
    pub b_to_a: Last,
    pub a_addr: Option<SocketAddr>,
    buf: Vec<u8>,
}

impl Duo {
    pub fn new(cfg: StackConfig) -> Duo {
        let mut a = Stack::new(cfg.clone(), 1);
        a.add_address(A.parse().unwrap());
        let mut b = Stack::new(cfg, 2);
        b.add_address(B.parse::<SocketAddr>().unwrap().ip());
        Duo {
            a,
            b,
            now: Instant::from_secs(1),
            a_to_b: Last::default(),
            b_to_a: Last::default(),
            a_addr: None,
            buf: vec![0u8; 65535],
        }
    }

    /// Moves every packet `a` (or `b`) has ready to the other side, or
    /// drops them all; returns whether there was any.
    pub fn flow(&mut self, from_a: bool, deliver: bool) -> bool {
        let mut buf = core::mem::take(&mut self.buf);
        let mut moved = false;
        for _ in 0..10_000 {
            let (src, dst, last) = if from_a {
                (&mut self.a, &mut self.b, &mut self.a_to_b)
            } else {
                (&mut self.b, &mut self.a, &mut self.b_to_a)
            };
            let Some(n) = src.poll_transmit(self.now, &mut buf) else {
                break;
            };
            moved = true;
            let p = wire::parse_tcp_packet(&buf[..n]).expect("stacks emit valid packets");
            let t = p.tcp;
            if !t.flags.contains(TcpFlags::RST) {
                let len = t.payload.len() as u32
                    + u32::from(t.flags.contains(TcpFlags::SYN))
                    + u32::from(t.flags.contains(TcpFlags::FIN));
                *last = Last {
                    next_seq: t.seq.0.wrapping_add(len),
                    ack: t.ack.0,
                    tsval: t.options.timestamps.map_or(last.tsval, |v| v.0),
                };
            }
            if from_a {
                self.a_addr = Some(SocketAddr::new(p.ip.src, t.src_port));
            }
            if deliver {
                dst.handle_packet(self.now, &buf[..n]);
            }
        }
        self.buf = buf;
        moved
    }

    /// Both directions until nothing moves.
    pub fn settle(&mut self) {
        for _ in 0..50 {
            let a = self.flow(true, true);
            let b = self.flow(false, true);
            if !a && !b {
                return;
            }
        }
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
    }
}

/// Reads bytes off the fuzz input.
pub struct Input<'a>(pub &'a [u8]);

impl Input<'_> {
    pub fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    pub fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    pub fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

/// A segment from `from` to `to` built from the input, with sequence and
/// acknowledgment numbers near what the peer would really send.
pub fn forge(
    input: &mut Input<'_>,
    from: SocketAddr,
    to: SocketAddr,
    base: Last,
) -> Option<Vec<u8>> {
    let flags = TcpFlags(input.u8()?);
    let seq = base
        .next_seq
        .wrapping_add((input.u16()? as i16) as i32 as u32);
    let ack = base.ack.wrapping_add((input.u16()? as i16) as i32 as u32);
    let window = input.u16()?;
    let opt = input.u8()?;
    let ts_delta = (input.u16()? as i16) as i32 as u32;
    let len = usize::from(input.u8()?) * 8;
    let payload = vec![0x5a; len];
    let options = TcpOptions {
        mss: (opt & 1 != 0).then_some(536 + u16::from(opt)),
        window_scale: (opt & 2 != 0).then_some(opt >> 4),
        sack_permitted: opt & 4 != 0,
        timestamps: (opt & 8 != 0).then_some((base.tsval.wrapping_add(ts_delta), 0)),
        ..TcpOptions::default()
    };
    let repr = TcpRepr {
        src_port: from.port(),
        dst_port: to.port(),
        seq: SeqNum(seq),
        ack: SeqNum(ack),
        flags,
        window,
        urgent: 0,
        options,
        payload: &payload,
    };
    let mut buf = vec![0u8; wire::tcp_packet_len(&from.ip(), &repr)];
    let n = wire::emit_tcp_packet(from.ip(), to.ip(), 64, &repr, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}
