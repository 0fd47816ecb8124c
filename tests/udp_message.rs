//! Message mode and `--mode transactions` between two synfin processes over
//! the UDP link (IP in UDP on loopback; no privileges needed): message echo
//! with boundaries kept, the transaction-total protocol in message mode and
//! on a byte stream, and the refusals when only one side asks for message
//! mode.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "common/ports.rs"]
mod ports;

const SYNFIN: &str = env!("CARGO_BIN_EXE_synfin");

/// Two free loopback UDP ports as addresses, never handed to another test
/// of this file (the tests run in parallel).
fn two_ports() -> (String, String) {
    let [a, b] = ports::free_udp_ports();
    (format!("127.0.0.1:{a}"), format!("127.0.0.1:{b}"))
}

fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A `synfin serve` on one end of a fresh UDP link, and the other end's
/// address pair for clients.
struct Link {
    server: Option<Child>,
    s_udp: String,
    c_udp: String,
}

impl Link {
    fn serve(args: &[&str]) -> Link {
        let (s_udp, c_udp) = two_ports();
        let server = Command::new(SYNFIN)
            .args(["serve", "--udp", &s_udp, "--udp-peer", &c_udp])
            .args(["--addr", "198.18.1.2/24", "--port", "7", "--json"])
            .args(["--seed", "1"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Link {
            server: Some(server),
            s_udp,
            c_udp,
        }
    }

    /// One `synfin connect` (its SYN is retransmitted if the server is not
    /// up yet), killed after a minute.
    fn connect(&self, args: &[&str]) -> (bool, Value) {
        let mut c = Command::new(SYNFIN)
            .args(["connect", "--udp", &self.c_udp, "--udp-peer", &self.s_udp])
            .args(["--addr", "198.18.1.1/24", "--to", "198.18.1.2:7", "--json"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let until = Instant::now() + Duration::from_secs(60);
        while c.try_wait().unwrap().is_none() {
            if Instant::now() > until {
                let _ = c.kill();
                panic!("synfin connect {args:?} did not finish in 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = c.wait_with_output().unwrap();
        let v = json_lines(&out.stdout);
        assert_eq!(v.len(), 1, "{v:?}");
        (out.status.success(), v[0].clone())
    }

    /// The server's JSON lines, once it exits (`--count` reached).
    fn finish(mut self) -> Vec<Value> {
        let mut s = self.server.take().unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        while s.try_wait().unwrap().is_none() {
            if Instant::now() > until {
                let _ = s.kill();
                panic!("synfin serve did not exit in 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out: Output = s.wait_with_output().unwrap();
        assert!(out.status.success());
        json_lines(&out.stdout)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(mut s) = self.server.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
}

fn message_echo(faults: &[&str]) {
    let mut sargs = vec!["--mode", "echo", "--message", "--count", "1"];
    sargs.extend(faults);
    let link = Link::serve(&sargs);
    let mut cargs = vec![
        "--message",
        "--send",
        "300K",
        "--shutdown-write",
        "--read-all",
        "--seed",
        "2",
    ];
    cargs.extend(faults);
    let (ok, c) = link.connect(&cargs);
    let s = link.finish();
    assert!(ok, "{c}");
    let s = &s[0];
    for v in [&c, s] {
        assert_eq!(v["error"], Value::Null, "{v}");
        assert_eq!(v["message_mode"], true, "{v}");
        assert_eq!(v["peer_close"], "fin", "{v}");
    }
    // 300 KiB in 16 KiB messages: 19 of them, echoed one for one.
    assert_eq!(c["messages_out"], 19, "{c}");
    assert_eq!(s["messages_in"], 19, "{s}");
    assert_eq!(s["messages_out"], 19, "{s}");
    assert_eq!(c["messages_in"], 19, "{c}");
    assert_eq!(c["bytes_in"], 300 * 1024);
    assert_eq!(c["sha256_in"], c["sha256_out"]);
    assert_eq!(s["sha256_in"], c["sha256_out"]);
}

#[test]
fn message_echo_over_udp() {
    message_echo(&[]);
}

#[test]
fn message_echo_over_udp_with_loss_and_reordering() {
    message_echo(&["--loss", "0.02", "--delay", "2", "--reorder", "0.02"]);
}

/// Two clients one after the other; each gets a grand total that includes
/// its own total and the earlier client's.
fn transactions(message: bool) {
    let m: &[&str] = if message { &["--message"] } else { &[] };
    let mut sargs = vec!["--mode", "transactions", "--count", "2"];
    sargs.extend(m);
    let link = Link::serve(&sargs);
    let mut totals = Vec::new();
    for (n, seed) in [("7", "3"), ("4", "4")] {
        let mut cargs = vec![
            "--mode",
            "transactions",
            "--transactions",
            n,
            "--seed",
            seed,
        ];
        cargs.extend(m);
        let (ok, c) = link.connect(&cargs);
        assert!(ok, "{c}");
        assert_eq!(c["error"], Value::Null, "{c}");
        assert_eq!(c["transactions"], n.parse::<u64>().unwrap(), "{c}");
        assert_eq!(c.get("message_mode").is_some(), message, "{c}");
        totals.push((c["total"].as_u64().unwrap(), c["grand_total"].as_u64()));
    }
    let s = link.finish();
    assert_eq!(s.len(), 2, "{s:?}");
    let (t1, t2) = (totals[0].0, totals[1].0);
    assert_eq!(totals[0].1, Some(t1));
    assert_eq!(totals[1].1, Some(t1 + t2));
    for (v, (t, g)) in s.iter().zip(&totals) {
        assert_eq!(v["error"], Value::Null, "{v}");
        assert_eq!(v["total"].as_u64(), Some(*t), "{v}");
        assert_eq!(v["grand_total"].as_u64(), *g, "{v}");
        assert_eq!(v["peer_close"], "fin", "{v}");
    }
}

#[test]
fn transactions_in_message_mode_over_udp() {
    transactions(true);
}

#[test]
fn transactions_on_a_byte_stream_over_udp() {
    transactions(false);
}

#[test]
fn message_mode_on_one_side_only_is_refused() {
    // A message-mode client and a byte-stream listener: the SYN-ACK lacks
    // option 253, the client resets and reports MessageModeRefused.
    let link = Link::serve(&["--mode", "discard", "--count", "1"]);
    let (ok, c) = link.connect(&["--message"]);
    assert!(!ok);
    assert_eq!(c["error"], "MessageModeRefused", "{c}");
    drop(link);
    // A byte-stream client and a message-mode listener: the SYN is reset.
    let link = Link::serve(&["--mode", "discard", "--message", "--count", "1"]);
    let (ok, c) = link.connect(&[]);
    assert!(!ok);
    assert_eq!(c["error"], "ConnectionRefused", "{c}");
}
