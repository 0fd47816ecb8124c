//! The wire parser on arbitrary bytes: never panics, and whatever parses
//! re-emits to bytes that parse back to the same segment. The same bytes are
//! then handed to a stack, which must not panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synfin::stack::{Stack, StackConfig};
use synfin::time::Instant;
use synfin::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = wire::parse_tcp_packet(data) {
        let mut buf = vec![0u8; wire::tcp_packet_len(&p.ip.src, &p.tcp)];
        if let Ok(n) = wire::emit_tcp_packet(p.ip.src, p.ip.dst, p.ip.hop_limit, &p.tcp, &mut buf) {
            let q = wire::parse_tcp_packet(&buf[..n]).expect("an emitted packet parses");
            assert_eq!(q.ip.src, p.ip.src);
            assert_eq!(q.ip.dst, p.ip.dst);
            assert_eq!(q.tcp.src_port, p.tcp.src_port);
            assert_eq!(q.tcp.dst_port, p.tcp.dst_port);
            assert_eq!(q.tcp.seq, p.tcp.seq);
            assert_eq!(q.tcp.ack, p.tcp.ack);
            assert_eq!(q.tcp.flags, p.tcp.flags);
            assert_eq!(q.tcp.window, p.tcp.window);
            assert_eq!(q.tcp.options, p.tcp.options);
            assert_eq!(q.tcp.payload, p.tcp.payload);
        }
    }
    let mut st = Stack::new(StackConfig::default(), 1);
    for a in ["198.18.0.2", "2001:db8::2"] {
        st.add_address(a.parse().unwrap());
    }
    let _ = st.listen("0.0.0.0:80".parse().unwrap(), 4);
    let _ = st.listen("[::]:80".parse().unwrap(), 4);
    st.handle_packet(Instant::from_secs(1), data);
    let mut out = [0u8; 2048];
    while let Some(n) = st.poll_transmit(Instant::from_secs(1), &mut out) {
        wire::parse_tcp_packet(&out[..n]).expect("the stack emits valid packets");
    }
});
