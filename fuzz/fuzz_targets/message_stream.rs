//! Message-mode framing on arbitrary stream contents: a message-mode
//! connection is set up, then the fuzz input arrives in order as the
//! client's byte stream (cut into segments by its first bytes), and the
//! server's application reads messages and disconnect data. A broken format
//! must end in a reset and `ProtocolViolation`; nothing may panic.
#![no_main]

mod common;

use std::net::SocketAddr;

use common::{Duo, Input, B};
use libfuzzer_sys::fuzz_target;
use synfin::stack::{Error, StackConfig};
use synfin::wire::{self, SeqNum, TcpFlags, TcpOptions, TcpRepr};

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mut cfg = StackConfig::default();
    cfg.tcp.timestamps = false;
    let mut d = Duo::new(cfg);
    let server: SocketAddr = B.parse().unwrap();
    let l = d.b.listen_message(server, 4).unwrap();
    let now = d.now;
    let _c = d.a.connect_message(now, server).unwrap();
    d.settle();
    let Ok((s, _)) = d.b.accept(l) else { return };
    let client = d.a_addr.unwrap();
    let mut seq = d.a_to_b.next_seq;
    let ack = d.a_to_b.ack;
    let mut buf = vec![0u8; 70_000];
    while !input.0.is_empty() {
        let cut = usize::from(input.u8().unwrap_or(0)) * 4 + 1;
        let fin = cut % 7 == 0;
        let chunk = input.take(cut).to_vec();
        let mut flags = TcpFlags::ACK;
        if fin && input.0.is_empty() {
            flags |= TcpFlags::FIN;
        }
        let repr = TcpRepr {
            src_port: client.port(),
            dst_port: server.port(),
            seq: SeqNum(seq),
            ack: SeqNum(ack),
            flags,
            window: 65535,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &chunk,
        };
        seq = seq.wrapping_add(chunk.len() as u32);
        let mut pkt = vec![0u8; wire::tcp_packet_len(&client.ip(), &repr)];
        let Ok(n) = wire::emit_tcp_packet(client.ip(), server.ip(), 64, &repr, &mut pkt) else {
            return;
        };
        let now = d.now;
        d.b.handle_packet(now, &pkt[..n]);
        let _ = d.flow(false, false);
        loop {
            match d.b.recv_message(now, s, &mut buf) {
                Ok(_) => continue,
                Err(Error::WouldBlock) => break,
                Err(_) => {
                    let _ = d.b.recv_disconnect(s);
                    break;
                }
            }
        }
    }
});
