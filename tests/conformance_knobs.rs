//! The stack knobs the FreeBSD suite's `sysctl` lines map to, each checked
//! with a small packetdrill script (so the runner and the knob are tested
//! together): RFC 793 vs RFC 5961 RST and SYN handling, the window scale
//! sized for `kern.ipc.maxsockbuf`, and buffers rounded to whole segments.

use synfin::conformance::{run_source, Mode, Verdict};

/// An established active connection: MSS 1460, no options but MSS from the
/// peer, so the window is unscaled and no SACK or timestamps are involved.
const OPEN: &str = "--tolerance_usecs=10000
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) <...>
+0.1 < S. 0:0(0) ack 1 win 32767 <mss 1460>
+0 > . 1:1(0) ack 1
";

fn run(body: &str) -> (Verdict, String) {
    let r = run_source(&format!("{OPEN}{body}"), Mode::Semantic);
    (r.verdict, r.reason)
}

fn pass(body: &str) {
    let (v, why) = run(body);
    assert_eq!(v, Verdict::Pass, "{why}");
}

#[test]
fn buffers_are_rounded_to_whole_segments() {
    // FreeBSD profile: 65536 rounded up to 45 segments of 1460.
    pass("+0 getsockopt(3, SOL_SOCKET, SO_RCVBUF, [65700], [4]) = 0\n");
}

#[test]
fn rfc5961_rst_in_window_draws_a_challenge_ack() {
    pass(
        "+0 `sysctl -w net.inet.tcp.insecure_rst=0`
+0.1 < R 65700:65700(0) win 0
+0 > . 1:1(0) ack 1
+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0
",
    );
}

#[test]
fn rfc793_rst_in_window_resets() {
    pass(
        "+0 `sysctl -w net.inet.tcp.insecure_rst=1`
+0.1 < R 65700:65700(0) win 0
+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNRESET], [4]) = 0
",
    );
    // RCV.NXT + RCV.WND, just outside the (rounded) window: ignored.
    pass(
        "+0 `sysctl -w net.inet.tcp.insecure_rst=1`
+0.1 < R 65701:65701(0) win 0
+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0
",
    );
}

#[test]
fn rfc793_syn_in_window_resets() {
    pass(
        "+0 `sysctl -w net.inet.tcp.insecure_syn=1`
+0.1 < S 1:1(0) win 32767 <mss 1460>
+0 > R. 1:1(0) ack 1
+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNRESET], [4]) = 0
",
    );
    pass(
        "+0 `sysctl -w net.inet.tcp.insecure_syn=0`
+0.1 < S 1:1(0) win 32767 <mss 1460>
+0 > . 1:1(0) ack 1
+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0
",
    );
}

#[test]
fn window_scale_follows_wscale_buffer() {
    use synfin::stack::Stack;
    use synfin::time::Instant;
    for (buf, ws) in [
        (Some(2_097_152), 6),
        (Some(73_728), 1),
        // Without it the shift covers auto-tuning's bound, recv_buffer_max
        // (2 MiB by default).
        (None, 6),
        (Some(usize::MAX), 14),
    ] {
        let mut cfg = synfin::conformance::freebsd_profile();
        cfg.tcp.wscale_buffer = buf;
        let mut s = Stack::new(cfg, 1);
        s.add_address("192.168.0.1".parse().unwrap());
        s.connect(Instant::ZERO, "192.0.2.1:80".parse().unwrap())
            .unwrap();
        let mut b = [0u8; 1500];
        let n = s.poll_transmit(Instant::ZERO, &mut b).unwrap();
        let p = synfin::wire::parse_tcp_packet(&b[..n]).unwrap();
        assert_eq!(
            p.tcp.options.window_scale,
            Some(ws),
            "wscale_buffer {buf:?}"
        );
    }
}

#[test]
fn the_ack_entering_closing_repeats_our_fin() {
    // Simultaneous close: our FIN, then the peer's FIN that does not ack it.
    pass(
        "+0.1 shutdown(3, SHUT_WR) = 0
+0 > F. 1:1(0) ack 1
+0.1 < F. 1:1(0) ack 1 win 32767
+0 > F. 1:1(0) ack 2
+0.1 < . 2:2(0) ack 2 win 32767
",
    );
}

#[test]
fn syn_fin_segments_are_dropped_when_configured() {
    let listen = |drop: u8| {
        format!(
            "0 `sysctl -w net.inet.tcp.drop_synfin={drop}`
+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < SF 0:0(0) win 32767 <mss 1460>
"
        )
    };
    // Dropped: nothing answers, and a plain SYN afterwards still works.
    let r = run_source(
        &(listen(1)
            + "+0 < S 0:0(0) win 32767 <mss 1460>
+0 > S. 0:0(0) ack 1 <...>
"),
        Mode::Semantic,
    );
    assert_eq!(r.verdict, Verdict::Pass, "{}", r.reason);
    // Processed as a SYN (its FIN trimmed): answered with a SYN-ACK.
    let r = run_source(
        &(listen(0)
            + "+0 > S. 0:0(0) ack 1 <...>
"),
        Mode::Semantic,
    );
    assert_eq!(r.verdict, Verdict::Pass, "{}", r.reason);
}

/// A passive SYN-RECEIVED entry (the listener's half-open queue).
const HALF_OPEN: &str = "--tolerance_usecs=10000
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 32767 <mss 1460>
+0 > S. 0:0(0) ack 1 <...>
+0 `sockstat -4 -P tcp -s -p 8080 | grep -c SYN_RCVD | grep 1`
";

#[test]
fn half_open_in_window_rst_draws_a_challenge_ack() {
    // RFC 5961 §3.2 in SYN-RECEIVED: the entry stays, a challenge ACK goes.
    let r = run_source(
        &format!(
            "{HALF_OPEN}+0.1 < R 65535:65535(0) win 0
+0 > . 1:1(0) ack 1
+0 `sockstat -4 -P tcp -s -p 8080 | grep -c SYN_RCVD | grep 1`
+0.1 < . 1:1(0) ack 1 win 32767
+0 accept(3, ..., ...) = 4
"
        ),
        Mode::Semantic,
    );
    assert_eq!(r.verdict, Verdict::Pass, "{}", r.reason);
    // RFC 793: the same RST removes the entry, silently.
    let r = run_source(
        &format!(
            "{HALF_OPEN}+0 `sysctl -w net.inet.tcp.insecure_rst=1`
+0.1 < R 65535:65535(0) win 0
+0 `sockstat -4 -P tcp -s -p 8080 | grep -c SYN_RCVD | grep 0`
"
        ),
        Mode::Semantic,
    );
    assert_eq!(r.verdict, Verdict::Pass, "{}", r.reason);
}

#[test]
fn rfc793_syn_resets_closing_too() {
    pass(
        "+0 `sysctl -w net.inet.tcp.insecure_syn=1`
+0.1 shutdown(3, SHUT_WR) = 0
+0 > F. 1:1(0) ack 1
+0.1 < F. 1:1(0) ack 1 win 32767
+0 > F. 1:1(0) ack 2
+0.1 < S 2:2(0) win 32767 <mss 1460>
+0 > R. 2:2(0) ack 2
+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNRESET], [4]) = 0
",
    );
}

#[test]
fn time_wait_drops_a_segment_without_ack() {
    // RFC 9293 §3.10.7.4 "fifth": no ACK bit, dropped — no ACK in reply and
    // no restart; the next old duplicate is still answered.
    pass(
        "+0.1 shutdown(3, SHUT_WR) = 0
+0 > F. 1:1(0) ack 1
+0.1 < F. 1:1(0) ack 2 win 32767
+0 > . 2:2(0) ack 2
+0.1 < F 3:3(0) win 32767
+0.1 < . 1:1(0) ack 2 win 32767
+0 > . 2:2(0) ack 2
+0 `sockstat -4 -P tcp -s | grep packetdril | grep -c TIME_WAIT | grep 1`
",
    );
}

#[test]
fn ip_tos_and_ttl_are_checked_on_outbound_packets() {
    let script = |tos: &str, ttl: &str| {
        format!(
            "--tolerance_usecs=10000
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 setsockopt(3, IPPROTO_IP, IP_TOS, [IPTOS_DSCP_CS1], 4) = 0
+0 setsockopt(3, IPPROTO_IP, IP_TTL, [9], 4) = 0
+0 getsockopt(3, IPPROTO_IP, IP_TOS, [32], [4]) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > (tos {tos}) (ttl {ttl}) S 0:0(0) <...>
"
        )
    };
    let r = run_source(&script("0x20", "9"), Mode::Semantic);
    assert_eq!(r.verdict, Verdict::Pass, "{}", r.reason);
    for (tos, ttl) in [("0x40", "9"), ("0x20", "64")] {
        let r = run_source(&script(tos, ttl), Mode::Semantic);
        assert_eq!(r.verdict, Verdict::Fail, "{tos} {ttl}: {}", r.reason);
    }
}

#[test]
fn tcp_noopt_and_keepinit_map_to_the_socket() {
    // FreeBSD: TCP_KEEPINIT in seconds, the sysctl in milliseconds.
    let r = run_source(
        "0 `sysctl -w net.inet.tcp.keepinit=15000`
+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 getsockopt(3, IPPROTO_TCP, TCP_KEEPINIT, [15], [4]) = 0
+0 setsockopt(3, IPPROTO_TCP, TCP_KEEPINIT, [3], 4) = 0
+0 getsockopt(3, IPPROTO_TCP, TCP_KEEPINIT, [3], [4]) = 0
+0 setsockopt(3, IPPROTO_TCP, TCP_NOOPT, [1], 4) = 0
+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0)
+1 > S 0:0(0)
+2 getsockopt(3, SOL_SOCKET, SO_ERROR, [ETIMEDOUT], [4]) = 0
",
        Mode::Semantic,
    );
    assert_eq!(r.verdict, Verdict::Pass, "{}", r.reason);
}
