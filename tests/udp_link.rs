//! Two synfin processes over the UDP link (IP packets in UDP datagrams on
//! loopback; no privileges needed): an echo exchange with SHA-256 compared,
//! clean and through the link model, and a refused connect.

use std::process::{Command, Stdio};

use serde_json::Value;

#[path = "common/ports.rs"]
mod ports;

const SYNFIN: &str = env!("CARGO_BIN_EXE_synfin");

/// Two free loopback UDP ports, never handed to another test of this file.
fn two_ports() -> (u16, u16) {
    let [a, b] = ports::free_udp_ports();
    (a, b)
}

fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A file for a child's stderr, read back when the test fails (a pipe
/// could fill while the test waits for the child).
fn stderr_file(name: &str, port: u16) -> (std::path::PathBuf, Stdio) {
    let path = std::env::temp_dir().join(format!(
        "synfin-udp-{name}-{port}-{}.log",
        std::process::id()
    ));
    let f = std::fs::File::create(&path).unwrap();
    (path, Stdio::from(f))
}

/// What a child wrote to `path` (then removed), for a failure message.
fn read_log(path: &std::path::Path) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let _ = std::fs::remove_file(path);
    s
}

/// Another process can take a port between [`two_ports`] and the child's
/// bind (`common/ports.rs`); a child that cannot bind says so on stderr,
/// and the exchange is tried again on fresh ports. Any other failure fails
/// the test.
fn on_fresh_ports(what: &str, mut run: impl FnMut() -> Result<(), String>) {
    for attempt in 1..=3 {
        match run() {
            Ok(()) => return,
            Err(e) if e.contains("Address already in use") && attempt < 3 => {
                eprintln!("{what}: a port was taken, trying fresh ones: {e}");
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

fn echo(faults: &[&str]) {
    on_fresh_ports("echo", || echo_once(faults));
}

fn echo_once(faults: &[&str]) -> Result<(), String> {
    let (ps, pc) = two_ports();
    let (s_udp, c_udp) = (format!("127.0.0.1:{ps}"), format!("127.0.0.1:{pc}"));
    let (s_log, s_err) = stderr_file("server", ps);
    let (c_log, c_err) = stderr_file("client", pc);
    let mut server = Command::new(SYNFIN)
        .args(["serve", "--udp", &s_udp, "--udp-peer", &c_udp])
        .args(["--addr", "198.18.1.2/24", "--port", "7", "--mode", "echo"])
        .args(["--count", "1", "--json", "--seed", "1"])
        .args(faults)
        .stdout(Stdio::piped())
        .stderr(s_err)
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
        .stderr(c_err)
        .spawn()
        .unwrap();
    // A stalled transfer fails the test in a minute, not in retries' time.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while client.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > until {
            let _ = client.kill();
            let _ = server.kill();
            let _ = (client.wait(), server.wait());
            return Err(format!(
                "the UDP echo did not finish in 60 s\nclient stderr:\n{}\nserver stderr:\n{}",
                read_log(&c_log),
                read_log(&s_log)
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let client = client.wait_with_output().unwrap();
    let c = json_lines(&client.stdout);
    // The server exits after its one connection; one whose client never
    // connected (it could not bind) would wait forever.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.try_wait().unwrap().is_none() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = server.kill();
    let s_out = server.wait_with_output().unwrap();
    let s = json_lines(&s_out.stdout);
    let (c_stderr, s_stderr) = (read_log(&c_log), read_log(&s_log));
    if !(client.status.success() && c.len() == 1 && s.len() == 1) {
        return Err(format!(
            "client {} {c:?}\nclient stderr:\n{c_stderr}\nserver {} {s:?}\nserver stderr:\n{s_stderr}",
            client.status, s_out.status
        ));
    }
    let (c, s) = (&c[0], &s[0]);
    assert_eq!(c["error"], Value::Null, "{c}");
    assert_eq!(s["error"], Value::Null, "{s}");
    assert_eq!(c["bytes_out"], 300 * 1024);
    assert_eq!(c["bytes_in"], 300 * 1024);
    assert_eq!(c["sha256_in"], c["sha256_out"]);
    assert_eq!(s["sha256_in"], c["sha256_out"]);
    assert_eq!(c["peer_close"], "fin");
    assert_eq!(s["peer_close"], "fin");
    Ok(())
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
    on_fresh_ports("refused connect", refused_once);
}

fn refused_once() -> Result<(), String> {
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
    if !line.contains("listening") {
        let _ = server.kill();
        let _ = server.wait();
        return Err(format!("the server did not listen: {line}"));
    }
    let client = Command::new(SYNFIN)
        .args(["connect", "--udp", &c_udp, "--udp-peer", &s_udp])
        .args(["--addr", "198.18.1.1/24", "--to", "198.18.1.2:8", "--json"])
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let c = json_lines(&client.stdout);
    if c.is_empty() {
        return Err(format!(
            "client {}, no JSON; stderr: {}",
            client.status,
            String::from_utf8_lossy(&client.stderr)
        ));
    }
    assert!(!client.status.success());
    assert_eq!(c[0]["error"], "ConnectionRefused", "{c:?}");
    Ok(())
}
