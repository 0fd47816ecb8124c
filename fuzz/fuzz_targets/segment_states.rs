//! Segment processing against a connection in each state: the first input
//! byte picks the state (SYN-SENT, passive SYN-RECEIVED, ESTABLISHED,
//! CLOSE-WAIT, LAST-ACK, FIN-WAIT-1, FIN-WAIT-2, CLOSING, TIME-WAIT), the
//! rest is a series of forged segments with sequence and acknowledgment
//! numbers near the real ones, interleaved with time passing. Nothing may
//! panic, the stacks may only emit valid packets, and memory stays bounded.
#![no_main]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{forge, Duo, Input, B};
use libfuzzer_sys::fuzz_target;
use synfin::stack::{Shutdown, StackConfig};

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let Some(state) = input.u8() else { return };
    let mut cfg = StackConfig::default();
    cfg.tcp.send_buffer = 16 * 1024;
    cfg.tcp.recv_buffer = 16 * 1024;
    let mut d = Duo::new(cfg);
    let server: SocketAddr = B.parse().unwrap();
    let l = d.b.listen(server, 4).unwrap();
    let now = d.now;
    let c = d.a.connect(now, server).unwrap();
    // Which stack the forged segments go to (true: the server).
    let mut at_server = true;
    match state % 9 {
        0 => {
            // SYN-SENT: the client's SYN is lost.
            d.flow(true, false);
            at_server = false;
        }
        1 => {
            // Passive SYN-RECEIVED: the SYN-ACK is lost.
            d.flow(true, true);
            d.flow(false, false);
        }
        n => {
            d.settle();
            let Ok((s, _)) = d.b.accept(l) else { return };
            let now = d.now;
            let _ = d.a.send(now, c, &[1; 3000]);
            let _ = d.b.send(now, s, &[2; 3000]);
            d.settle();
            match n {
                2 => {}
                3 | 4 => {
                    // CLOSE-WAIT, then LAST-ACK.
                    let _ = d.a.shutdown(now, c, Shutdown::Write);
                    d.settle();
                    if n == 4 {
                        let _ = d.b.shutdown(now, s, Shutdown::Write);
                        d.flow(false, false);
                    }
                }
                5 | 6 => {
                    // FIN-WAIT-1, then FIN-WAIT-2.
                    let _ = d.b.shutdown(now, s, Shutdown::Write);
                    if n == 5 {
                        d.flow(false, false);
                    } else {
                        d.settle();
                    }
                }
                7 => {
                    // CLOSING: the FINs cross.
                    let _ = d.b.shutdown(now, s, Shutdown::Write);
                    let _ = d.a.shutdown(now, c, Shutdown::Write);
                    d.flow(true, true);
                    d.flow(false, false);
                }
                _ => {
                    // TIME-WAIT.
                    let _ = d.b.shutdown(now, s, Shutdown::Write);
                    d.settle();
                    let _ = d.a.shutdown(now, c, Shutdown::Write);
                    d.flow(true, true);
                    d.flow(false, false);
                }
            }
        }
    }
    let Some(client) = d.a_addr else { return };
    while !input.0.is_empty() {
        let Some(wait) = input.u8() else { break };
        let pkt = if at_server {
            forge(&mut input, client, server, d.a_to_b)
        } else {
            forge(&mut input, server, client, d.b_to_a)
        };
        let Some(pkt) = pkt else { break };
        let now = d.now;
        if at_server {
            d.b.handle_packet(now, &pkt);
        } else {
            d.a.handle_packet(now, &pkt);
        }
        // The real peer sees the answers (low bit of `wait`: or loses them).
        let _ = d.flow(!at_server, wait & 1 == 0);
        let _ = d.flow(at_server, true);
        d.advance(Duration::from_millis(u64::from(wait) * 20));
        for st in [&d.a, &d.b] {
            let m = st.memory_usage().total();
            assert!(m < 8 << 20, "memory bound: {m}");
        }
    }
    // Let every timer run out (timers back off, so a few big steps do).
    for secs in [1, 3, 10, 30, 100, 300, 1000, 3000] {
        d.advance(Duration::from_secs(secs));
        d.settle();
    }
});
