//! ECN (RFC 3168) as packetdrill scripts run by synfin's conformance runner:
//! the passive side of the handshake, the receiver's echo of an inbound CE
//! mark and its end at CWR, and the runner's own `[ect0]` / `[ce]` /
//! `[noecn]` checks (which must be able to fail).

use synfin::conformance::{run_source, Mode, Verdict};

/// A listener in the default mode (accept when asked) answers an ECN-setup
/// SYN with an ECN-setup SYN-ACK; a CE-marked segment is acknowledged at
/// once with ECE, ECE stays on (here on a delayed ACK: FreeBSD's 100 ms)
/// until data with CWR arrives, whose ACK is immediate and plain; data the stack sends is ECT(0).
const PASSIVE: &str = "
--tolerance_usecs=10000
0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < SEW 0:0(0) win 32767 <mss 1460,sackOK,eol,eol>
+0 >[noecn] SE. 0:0(0) ack 1 <...>
+0.1 < . 1:1(0) ack 1 win 32767
+0 accept(3, ..., ...) = 4
+0 <[ce] P. 1:11(10) ack 1 win 32767
+0 >[noecn] E. 1:1(0) ack 11
+0.01 <[ect0] P. 11:21(10) ack 1 win 32767
+0.1 > E. 1:1(0) ack 21
+0.01 <[ect0] PW. 21:31(10) ack 1 win 32767
+0 > . 1:1(0) ack 31
+0 write(4, ..., 100) = 100
+0 >[ect0] P. 1:101(100) ack 31
";

#[test]
fn passive_open_echoes_ce_until_cwr() {
    let r = run_source(PASSIVE, Mode::Semantic);
    assert_eq!(r.verdict, Verdict::Pass, "{}", r.reason);
}

/// With `ecn.enable=0` the same SYN gets a plain SYN-ACK and nothing is
/// echoed.
#[test]
fn ecn_off_ignores_the_request_and_the_marks() {
    let script = "
--tolerance_usecs=10000
0.00 `sysctl -w net.inet.tcp.ecn.enable=0`
+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < SEW 0:0(0) win 32767 <mss 1460,sackOK,eol,eol>
+0 > S. 0:0(0) ack 1 <...>
+0.1 < . 1:1(0) ack 1 win 32767
+0 accept(3, ..., ...) = 4
+0 <[ce] P. 1:11(10) ack 1 win 32767
+0.1 > . 1:1(0) ack 11
+0 write(4, ..., 100) = 100
+0 >[noecn] P. 1:101(100) ack 11
";
    let r = run_source(script, Mode::Semantic);
    assert_eq!(r.verdict, Verdict::Pass, "{}", r.reason);
}

/// The runner's ECN checks fail on a wrong codepoint, and an annotation-free
/// line does not check it.
#[test]
fn wrong_codepoint_fails() {
    let wrong = PASSIVE.replace(">[ect0] P. 1:101(100)", ">[ce] P. 1:101(100)");
    let r = run_source(&wrong, Mode::Semantic);
    assert_eq!(r.verdict, Verdict::Fail, "{}", r.reason);
    assert!(r.reason.contains("ECN"), "{}", r.reason);
    let wrong = PASSIVE.replace(">[noecn] E. 1:1(0) ack 11", ">[ect0] E. 1:1(0) ack 11");
    assert_eq!(run_source(&wrong, Mode::Semantic).verdict, Verdict::Fail);
    let unchecked = PASSIVE.replace(">[ect0] P.", "> P.");
    assert_eq!(
        run_source(&unchecked, Mode::Semantic).verdict,
        Verdict::Pass
    );
}

/// Active open with `ecn.enable=1`: the SYN asks (ECE+CWR, not ECT); a
/// SYN-ACK with ECE and CWR both set is not ECN-setup (RFC 3168 §6.1.1), so
/// the data is not ECT.
#[test]
fn active_open_reflected_syn_ack_is_not_ecn_setup() {
    let script = "
--tolerance_usecs=10000
0.00 `sysctl -w net.inet.tcp.ecn.enable=1`
+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_GETFL) = 0x02 (flags O_RDWR)
+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 >[noecn] SEW 0:0(0) <...>
+0.05 < SEW. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,eol,eol>
+0 > . 1:1(0) ack 1
+0 write(3, ..., 10) = 10
+0 >[noecn] P. 1:11(10) ack 1
";
    let r = run_source(script, Mode::Semantic);
    assert_eq!(r.verdict, Verdict::Pass, "{}", r.reason);
    let setup = script
        .replace("< SEW.", "< SE.")
        .replace(">[noecn] P.", ">[ect0] P.");
    let r = run_source(&setup, Mode::Semantic);
    assert_eq!(r.verdict, Verdict::Pass, "{}", r.reason);
}
