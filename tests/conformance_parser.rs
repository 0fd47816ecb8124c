//! The script parser and runner never panic: random bytes and mutated
//! scripts get an error (with a position) or a verdict, never a crash.

use proptest::prelude::*;
use synfin::conformance::{defines, parser::parse, run_source, Mode};

const SCRIPT: &str = "--ip_version=ipv4
--tolerance_usecs=75000
 0.00 `sysctl -w net.inet.tcp.recvspace=65536`
+0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.00 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0.00 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0.00 bind(3, ..., ...) = 0
+0.00 listen(3, 1) = 0
+0.00 < S  0:0(0) win 32767 <mss 1460,sackOK,eol,eol>
+0.00 > S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,eol,eol>
+0.10 < . 1:1(0) ack 1 win 32767
+0.00 accept(3, ..., ...) = 4
#ifdef STANDARD
+0.00 %{ assert tcpi_state == TCPI_ESTABLISHED }%
#endif
+0.00 < P. 1:101(100) ack 1 win 32767
+0.00 recv(4, ..., 1000, 0) = 100
+0.00 getsockopt(4, SOL_SOCKET, SO_ERROR, [0], [4]) = 0
+0.00 close(4) = 0
+0.00 > F. 1:1(0) ack 101 <...>
+0.00 close(3) = 0
";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let s = String::from_utf8_lossy(&bytes);
        if let Err(e) = parse(&s, &defines()) {
            prop_assert!(e.pos.line >= 1 && e.pos.col >= 1);
        }
        let _ = run_source(&s, Mode::Semantic);
    }

    #[test]
    fn mutated_scripts_never_panic(
        edits in proptest::collection::vec((0usize..2000, any::<u8>(), 0u8..3), 1..8)
    ) {
        let mut b = SCRIPT.as_bytes().to_vec();
        for (at, byte, op) in edits {
            let i = at % (b.len() + 1);
            match op {
                0 => b.insert(i, byte),
                1 if i < b.len() => { b.remove(i); }
                _ if i < b.len() => b[i] = byte,
                _ => {}
            }
        }
        let s = String::from_utf8_lossy(&b);
        let _ = parse(&s, &defines());
        for mode in Mode::ALL {
            let r = run_source(&s, mode);
            prop_assert!(!r.reason.contains("panic"), "{}", r.reason);
        }
    }
}

#[test]
fn the_unmutated_script_runs() {
    let r = run_source(SCRIPT, Mode::Semantic);
    // The outcome depends on the stack (SACK-permitted in the SYN-ACK); the
    // script must at least parse and reach the stack.
    assert!(!r.reason.starts_with("parse error"), "{}", r.reason);
}
