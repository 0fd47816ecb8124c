//! Two synfin processes over the UDP link (IP packets in UDP datagrams on
//! loopback; no privileges needed): an echo exchange with SHA-256 compared,
//! clean and through the link model, and a refused connect.

use std::net::UdpSocket;
use std::process::{Command, Stdio};

use serde_json::Value;

const SYNFIN: &str = env!("CARGO_BIN_EXE_synfin");

/// Two free loopback UDP ports (bound and released; the race with other
/// processes is harmless on a test machine).
fn two_ports() -> (u16, u16) {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn echo(faults: &[&str]) {
    let (ps, pc) = two_ports();
    let (s_udp, c_udp) = (format!("127.0.0.1:{ps}"), format!("127.0.0.1:{pc}"));
    let mut server = Command::new(SYNFIN)
        .args(["serve", "--udp", &s_udp, "--udp-peer", &c_udp])
        .args(["--addr", "198.18.1.2/24", "--port", "7", "--mode", "echo"])
        .args(["--count", "1", "--json", "--seed", "1"])
        .args(faults)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The client's SYN is retransmitted if the server is not up yet.
    let mut client = Command::new(SYNFIN)
        .args(["connect", "--udp", &c_udp, "--udp-peer", &s_udp])
        .args(["--addr", "198.18.1.1/24", "--to", "198.18.1.2:7"])
        .args(["--send", "300K", "--shutdown-write", "--read-all", "--json"])
        .args(["--seed", "2"])
        .args(faults)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // A stalled transfer fails the test in a minute, not in retries' time.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while client.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > until {
            let _ = client.kill();
            let _ = server.kill();
            panic!("the UDP echo did not finish in 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let client = client.wait_with_output().unwrap();
    let c = json_lines(&client.stdout);
    let s_out = server.wait_with_output().unwrap();
    let s = json_lines(&s_out.stdout);
    assert!(client.status.success(), "{c:?}");
    assert_eq!(c.len(), 1);
    assert_eq!(s.len(), 1);
    let (c, s) = (&c[0], &s[0]);
    assert_eq!(c["error"], Value::Null, "{c}");
    assert_eq!(s["error"], Value::Null, "{s}");
    assert_eq!(c["bytes_out"], 300 * 1024);
    assert_eq!(c["bytes_in"], 300 * 1024);
    assert_eq!(c["sha256_in"], c["sha256_out"]);
    assert_eq!(s["sha256_in"], c["sha256_out"]);
    assert_eq!(c["peer_close"], "fin");
    assert_eq!(s["peer_close"], "fin");
}

#[test]
fn echo_over_udp() {
    echo(&[]);
}

#[test]
fn echo_over_udp_with_loss_delay_and_reordering() {
    echo(&["--loss", "0.02", "--delay", "2", "--reorder", "0.02"]);
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    let (ps, pc) = two_ports();
    let (s_udp, c_udp) = (format!("127.0.0.1:{ps}"), format!("127.0.0.1:{pc}"));
    let mut server = Command::new(SYNFIN)
        .args(["serve", "--udp", &s_udp, "--udp-peer", &c_udp])
        .args(["--addr", "198.18.1.2/24", "--port", "7", "--count", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it listens.
    let mut err = std::io::BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut err, &mut line).unwrap();
    assert!(line.contains("listening"), "{line}");
    let client = Command::new(SYNFIN)
        .args(["connect", "--udp", &c_udp, "--udp-peer", &s_udp])
        .args(["--addr", "198.18.1.1/24", "--to", "198.18.1.2:8", "--json"])
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(!client.status.success());
    let c = json_lines(&client.stdout);
    assert_eq!(c[0]["error"], "ConnectionRefused", "{c:?}");
}
