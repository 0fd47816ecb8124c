//! Sequence-number wrap: after 2^32 - 1 bytes SND.UNA equals the ISS again,
//! and the connection must still know its SYN was acknowledged long ago.

use super::*;
use crate::wire::{TcpFlags, TcpRepr};

fn established(iss: SeqNum, irs: SeqNum, cfg: &TcpConfig, now: Instant) -> Connection {
    let d = ConnDefaults::new(cfg);
    let opts = Negotiated {
        snd_mss: 1448,
        snd_wscale: 7,
        rcv_wscale: d.rcv_wscale(),
        timestamps: false,
        sack_permitted: true,
        window_scaling: true,
        message_mode: false,
        ecn: false,
    };
    let a: SocketAddr = "198.18.0.1:4000".parse().unwrap();
    let b: SocketAddr = "198.18.0.2:80".parse().unwrap();
    Connection::accepted(cfg, a, b, iss, irs, opts, 0, 0, 512, now)
}

/// The bytes of `seg`'s payload.
fn payload(c: &Connection, seg: &Segment) -> Vec<u8> {
    let (x, y) = c.payload(seg);
    [x, y].concat()
}

fn ack(c: &mut Connection, cfg: &TcpConfig, now: Instant, seq: SeqNum, ack: SeqNum) {
    let repr = TcpRepr {
        src_port: 80,
        dst_port: 4000,
        seq,
        ack,
        flags: TcpFlags::ACK,
        window: 512,
        urgent: 0,
        options: TcpOptions::default(),
        payload: &[],
    };
    c.on_segment(now, cfg, &repr);
}

/// The connection has sent and had acknowledged exactly 2^32 - 1 bytes:
/// SND.UNA = SND.NXT = ISS. Five bytes sent from there and acknowledged
/// leave the send queue empty, and the next write goes out whole at the
/// right sequence number. (Taking SND.UNA = ISS for "SYN unacknowledged"
/// kept one byte queued and sent `oworld` for `world`.)
#[test]
fn data_across_the_iss_after_a_wrap_keeps_its_place() {
    let cfg = TcpConfig::default();
    let now = Instant::from_micros(1_000_000);
    let (iss, irs) = (SeqNum(1000), SeqNum(5000));
    let mut c = established(iss, irs, &cfg, now);
    assert_eq!(c.snd_una, iss + 1u32);
    // 2^32 - 1 bytes later, all acknowledged.
    c.snd_una = iss;
    c.snd_nxt = iss;
    c.snd_max = iss;
    c.snd_sml = iss;
    c.snd_wl2 = iss;
    assert_eq!(c.send(b"hello"), Ok(5));
    let seg = c.poll_transmit(now).expect("the write goes out");
    assert_eq!((seg.seq, payload(&c, &seg)), (iss, b"hello".to_vec()));
    ack(&mut c, &cfg, now, irs + 1u32, iss + 5u32);
    assert_eq!(c.snd_una, iss + 5u32);
    assert_eq!(c.send_queue_len(), 0, "every byte acknowledged");
    assert_eq!(c.send(b"world"), Ok(5));
    let seg = c.poll_transmit(now).expect("the write goes out");
    assert_eq!(
        (seg.seq, payload(&c, &seg)),
        (iss + 5u32, b"world".to_vec())
    );
}
