//! Interop with the Linux kernel: synfin behind a TUN device in a network
//! namespace made by the test, kernel sockets (`tests/interop/peer.py`) on
//! the other side, synfin in both roles.
//!
//! Every scenario runs twice: on a clean link, and with faults — synfin's
//! link model (5 % loss, 5 % reordering, 10 ms delay each way) plus an
//! nftables rule in the namespace dropping 5 % of the packets arriving from
//! the TUN device at random, so not all faults are synfin's own.
//!
//! Needs root (network namespaces, TUN); skips with a message otherwise,
//! and fails instead under `CI=true`. A debug build runs it only with
//! `CI=true` or `SYNFIN_INTEROP=1` (it takes a couple of minutes), and then
//! only the clean runs (the faulty ones with `SYNFIN_INTEROP_FAULTY=1`); a release
//! build (`cargo test --release --test interop`) always does. Addresses are 198.18.0.0/24 inside
//! the namespace only; nothing leaves it. In a debug build the bulk
//! transfers are 8 MiB; `cargo test --release --test interop` (what
//! `.ci/run` does) moves 100 MiB each way.

#[path = "common/netns.rs"]
mod netns;
#[path = "common/root.rs"]
mod root;

use netns::{run, Netns, HOST_IP, PEER, PORT, SYNFIN, SYNFIN_ADDR, SYNFIN_IP};
use root::{have, is_root};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Bulk transfer size on a clean link.
const BIG: u64 = if cfg!(debug_assertions) {
    8 << 20
} else {
    100 << 20
};
/// Bulk transfer size under faults (loss recovery at 10 % loss and 20 ms RTT
/// moves a few MiB per second at best).
const BIG_FAULTY: u64 = 2 << 20;
/// Longest any one process of a scenario may run.
const LIMIT: Duration = Duration::from_secs(90);

/// Whether the interop tests can run here; `false` (with a message) means
/// skip, and under `CI=true` a missing prerequisite is a failure.
fn prerequisites(faulty: bool) -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    // The suite takes a couple of minutes; a developer's debug `cargo test`
    // (everyone is root here) runs it only when asked.
    if cfg!(debug_assertions) && !ci && std::env::var_os("SYNFIN_INTEROP").is_none() {
        eprintln!(
            "skipping: set SYNFIN_INTEROP=1 (or CI=true) to run the kernel interop suite in a debug build"
        );
        return false;
    }
    // The faulty runs depend on retransmission timing, which a debug build
    // on a loaded machine stretches; they run in the release build
    // (`.ci/run`'s interop step, `cargo test --release --test interop`),
    // the clean runs in both.
    if faulty && cfg!(debug_assertions) && std::env::var_os("SYNFIN_INTEROP_FAULTY").is_none() {
        eprintln!(
            "not run here: the faulty interop scenarios run in the release build (`cargo test --release --test interop`), or set SYNFIN_INTEROP_FAULTY=1"
        );
        return false;
    }
    let mut missing = Vec::new();
    if !is_root() {
        missing.push("root".to_string());
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        missing.push("/dev/net/tun".to_string());
    }
    for t in ["ip", "python3"] {
        if !have(t) {
            missing.push(t.to_string());
        }
    }
    if faulty && !have("nft") {
        missing.push("nft (Debian package nftables)".to_string());
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!("interop test needs {}", missing.join(", "));
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg} (CI=true: this is a failure, not a skip)");
    }
    eprintln!("skipping: {msg}");
    false
}

impl Netns {
    fn command(&self, prog: &str, args: &[String]) -> Command {
        let mut c = self.exec(prog);
        c.args(args);
        c
    }

    /// nftables in the namespace drops `percent` % of the packets arriving
    /// from the TUN device, at random.
    fn drop_from_tun(&self, percent: u32) {
        let rules = format!(
            "add table inet sfi; \
             add chain inet sfi input {{ type filter hook input priority 0; }}; \
             add rule inet sfi input iifname \"sf0\" numgen random mod 100 < {percent} drop"
        );
        run("ip", &["netns", "exec", &self.name, "nft", &rules]);
    }
}

/// A running process with its output collected line by line.
struct Proc {
    what: String,
    child: Child,
    out: Receiver<String>,
    err: Receiver<String>,
    err_seen: Vec<String>,
}

impl Proc {
    fn spawn(what: &str, mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {what}: {e}"));
        let (otx, out) = channel();
        let (etx, err) = channel();
        let so = child.stdout.take().expect("piped stdout");
        let se = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for l in BufReader::new(so).lines().map_while(Result::ok) {
                let _ = otx.send(l);
            }
        });
        std::thread::spawn(move || {
            for l in BufReader::new(se).lines().map_while(Result::ok) {
                let _ = etx.send(l);
            }
        });
        Proc {
            what: what.to_string(),
            child,
            out,
            err,
            err_seen: Vec::new(),
        }
    }

    /// Waits for a stderr line containing `pat`.
    fn wait_stderr(&mut self, pat: &str) {
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if let Ok(l) = self.err.recv_timeout(Duration::from_millis(100)) {
                let hit = l.contains(pat);
                self.err_seen.push(l);
                if hit {
                    return;
                }
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                let err = self.drain_stderr();
                panic!(
                    "{} exited ({st}) before printing `{pat}`: {err:?}",
                    self.what
                );
            }
        }
        panic!("{} never printed `{pat}`", self.what);
    }

    fn drain_stderr(&mut self) -> Vec<String> {
        self.err_seen.extend(self.err.try_iter());
        self.err_seen.clone()
    }

    /// Waits for exit (killing it after `LIMIT`) and returns the exit
    /// success and the JSON lines it printed.
    fn finish(mut self) -> (bool, Vec<Value>) {
        let until = Instant::now() + LIMIT;
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                break st;
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let err = self.drain_stderr();
                let out: Vec<_> = self.out.try_iter().collect();
                let tail = &out[out.len().saturating_sub(3)..];
                panic!(
                    "{} did not finish in {LIMIT:?}; stderr: {err:?}; {} stdout lines, the last: {tail:?}",
                    self.what,
                    out.len()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Give the reader threads a moment to hand over the last lines.
        std::thread::sleep(Duration::from_millis(20));
        let lines: Vec<String> = self.out.try_iter().collect();
        let json = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect();
        if !status.success() {
            let err = self.drain_stderr();
            eprintln!("{} exited with {status}; stderr: {err:?}", self.what);
        }
        (status.success(), json)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One scenario's namespace and fault settings.
struct Env {
    ns: Netns,
    faulty: bool,
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

impl Env {
    fn new(faulty: bool) -> Option<Env> {
        if !prerequisites(faulty) {
            return None;
        }
        let ns = Netns::new("sfi");
        if faulty {
            ns.drop_from_tun(5);
        }
        Some(Env { ns, faulty })
    }

    fn big(&self) -> u64 {
        if self.faulty {
            BIG_FAULTY
        } else {
            BIG
        }
    }

    fn synfin(&self, sub: &str, args: &[&str]) -> Command {
        let mut a = strings(&[sub, "--tun", "sf0", "--addr", SYNFIN_ADDR, "--json"]);
        if self.faulty {
            a.extend(strings(&[
                "--loss",
                "0.05",
                "--reorder",
                "0.05",
                "--delay",
                "10",
            ]));
        }
        a.extend(strings(args));
        self.ns.command(SYNFIN, &a)
    }

    /// `synfin serve` on port 5000, once it listens.
    fn serve(&self, args: &[&str]) -> Proc {
        let mut a = vec!["--port", PORT];
        a.extend_from_slice(args);
        let mut p = Proc::spawn("synfin serve", self.synfin("serve", &a));
        p.wait_stderr("listening on");
        p
    }

    /// `synfin connect` to the kernel's port 5000.
    fn connect(&self, args: &[&str]) -> Proc {
        let to = format!("{HOST_IP}:{PORT}");
        let mut a = vec!["--to", to.as_str()];
        a.extend_from_slice(args);
        Proc::spawn("synfin connect", self.synfin("connect", &a))
    }

    /// A kernel client connecting to synfin's port 5000.
    fn kernel_client(&self, args: &[&str]) -> Proc {
        let to = format!("{SYNFIN_IP}:{PORT}");
        let mut a = strings(&[PEER, "client", "--to", &to]);
        a.extend(strings(args));
        Proc::spawn("kernel client", self.ns.command("python3", &a))
    }

    /// A kernel server on port 5000 (all addresses: the TUN device appears
    /// only when synfin starts), once it listens.
    fn kernel_server(&self, args: &[&str]) -> Proc {
        let mut a = strings(&[PEER, "server", "--port", PORT]);
        a.extend(strings(args));
        let mut p = Proc::spawn("kernel server", self.ns.command("python3", &a));
        p.wait_stderr("ready");
        p
    }
}

/// The single JSON line of a one-connection process.
fn one(p: Proc) -> Value {
    let what = p.what.clone();
    let (_, mut v) = p.finish();
    assert_eq!(v.len(), 1, "{what} printed {v:?}");
    v.remove(0)
}

fn field<'a>(v: &'a Value, k: &str) -> &'a Value {
    v.get(k).unwrap_or(&Value::Null)
}

fn assert_clean(v: &Value, who: &str) {
    assert_eq!(field(v, "error"), &Value::Null, "{who}: {v}");
}

// ---- the scenarios, each run clean and with faults ----

/// Kernel → synfin bulk transfer, synfin serving.
fn bulk_kernel_to_synfin_server(faulty: bool) {
    let Some(env) = Env::new(faulty) else { return };
    let n = env.big().to_string();
    let s = env.serve(&["--mode", "discard", "--count", "1"]);
    let k = env.kernel_client(&["--send", &n, "--shutdown-write", "--read-all"]);
    let (k, s) = (one(k), one(s));
    assert_clean(&k, "kernel");
    assert_clean(&s, "synfin");
    assert_eq!(s["bytes_in"], env.big(), "{s}");
    assert_eq!(s["sha256_in"], k["sha256_out"]);
    assert_eq!(s["peer_close"], "fin");
    assert_eq!(k["peer_close"], "fin");
}

/// synfin → kernel bulk transfer, synfin serving.
fn bulk_synfin_server_to_kernel(faulty: bool) {
    let Some(env) = Env::new(faulty) else { return };
    let src = format!("source={}", env.big());
    let s = env.serve(&["--mode", &src, "--count", "1"]);
    let k = env.kernel_client(&["--read-all"]);
    let (k, s) = (one(k), one(s));
    assert_clean(&k, "kernel");
    assert_clean(&s, "synfin");
    assert_eq!(k["bytes_in"], env.big(), "{k}");
    assert_eq!(k["sha256_in"], s["sha256_out"]);
    assert_eq!(k["peer_close"], "fin");
}

/// synfin connects and sends in bulk; the kernel reads.
fn bulk_synfin_client_to_kernel(faulty: bool) {
    let Some(env) = Env::new(faulty) else { return };
    let n = env.big().to_string();
    let k = env.kernel_server(&["--read-all"]);
    let c = env.connect(&["--send", &n, "--shutdown-write", "--read-all"]);
    let (c, k) = (one(c), one(k));
    assert_clean(&c, "synfin");
    assert_clean(&k, "kernel");
    assert_eq!(k["bytes_in"], env.big(), "{k}");
    assert_eq!(k["sha256_in"], c["sha256_out"]);
    assert_eq!(c["peer_close"], "fin");
}

/// synfin connects and the kernel sends in bulk.
fn bulk_kernel_to_synfin_client(faulty: bool) {
    let Some(env) = Env::new(faulty) else { return };
    let n = env.big().to_string();
    let k = env.kernel_server(&["--send", &n, "--shutdown-write", "--read-all"]);
    let c = env.connect(&["--read-all"]);
    let (c, k) = (one(c), one(k));
    assert_clean(&c, "synfin");
    assert_clean(&k, "kernel");
    assert_eq!(c["bytes_in"], env.big(), "{c}");
    assert_eq!(c["sha256_in"], k["sha256_out"]);
    assert_eq!(c["peer_close"], "fin");
}

/// Both directions with the TUN device's virtio-net offloads on (TSO/GSO
/// super-packets from the kernel split by tun-rs, synfin's segments
/// coalesced into GRO writes), SHA-256 compared.
fn bulk_with_offloads(faulty: bool) {
    let Some(env) = Env::new(faulty) else { return };
    let n = env.big().to_string();
    let s = env.serve(&["--mode", "discard", "--count", "1", "--offload"]);
    let k = env.kernel_client(&["--send", &n, "--shutdown-write", "--read-all"]);
    let (k, s) = (one(k), one(s));
    assert_clean(&k, "kernel");
    assert_clean(&s, "synfin");
    assert_eq!(s["sha256_in"], k["sha256_out"]);
    assert_eq!(s["bytes_in"], env.big());
    let src = format!("source={}", env.big());
    let s = env.serve(&["--mode", &src, "--count", "1", "--offload"]);
    let k = env.kernel_client(&["--read-all"]);
    let (k, s) = (one(k), one(s));
    assert_clean(&k, "kernel");
    assert_clean(&s, "synfin");
    assert_eq!(k["sha256_in"], s["sha256_out"]);
    assert_eq!(k["bytes_in"], env.big());
}

/// Half-close: the kernel shuts down its write side first, synfin keeps
/// sending, the kernel reads it all.
fn half_close_kernel_first(faulty: bool) {
    let Some(env) = Env::new(faulty) else { return };
    let s = env.serve(&[
        "--mode",
        "source=300000",
        "--hold-ms",
        "200",
        "--count",
        "1",
    ]);
    let k = env.kernel_client(&["--send", "1000", "--shutdown-write", "--read-all"]);
    let (k, s) = (one(k), one(s));
    assert_clean(&k, "kernel");
    assert_clean(&s, "synfin");
    assert_eq!(s["bytes_in"], 1000);
    assert_eq!(s["peer_close"], "fin");
    assert_eq!(k["bytes_in"], 300000);
    assert_eq!(k["sha256_in"], s["sha256_out"]);
    assert_eq!(k["peer_close"], "fin");
}

/// Half-close the other way: synfin shuts down first; the kernel reads to
/// the end, then sends its answer and closes.
fn half_close_synfin_first(faulty: bool) {
    let Some(env) = Env::new(faulty) else { return };
    let k = env.kernel_server(&[
        "--read-all",
        "--order",
        "read-then-send",
        "--send",
        "300000",
    ]);
    let c = env.connect(&["--send", "1000", "--shutdown-write", "--read-all"]);
    let (c, k) = (one(c), one(k));
    assert_clean(&c, "synfin");
    assert_clean(&k, "kernel");
    assert_eq!(k["bytes_in"], 1000);
    assert_eq!(k["peer_close"], "fin");
    assert_eq!(c["bytes_in"], 300000);
    assert_eq!(c["sha256_in"], k["sha256_out"]);
    assert_eq!(c["peer_close"], "fin");
}

/// Graceful close, kernel first: it sends and closes without reading;
/// synfin reads to the end and closes after.
fn close_kernel_first(faulty: bool) {
    let Some(env) = Env::new(faulty) else { return };
    let s = env.serve(&["--mode", "discard", "--count", "1"]);
    let k = env.kernel_client(&["--send", "5000"]);
    let (k, s) = (one(k), one(s));
    assert_clean(&k, "kernel");
    assert_clean(&s, "synfin");
    assert_eq!(s["bytes_in"], 5000);
    assert_eq!(s["peer_close"], "fin");
}

/// Graceful close, synfin first: it sends and closes; the kernel reads to
/// the end and closes after.
fn close_synfin_first(faulty: bool) {
    let Some(env) = Env::new(faulty) else { return };
    let k = env.kernel_server(&["--read-all"]);
    let c = env.connect(&["--send", "5000"]);
    let (c, k) = (one(c), one(k));
    assert_clean(&c, "synfin");
    assert_clean(&k, "kernel");
    assert_eq!(k["bytes_in"], 5000);
    assert_eq!(k["peer_close"], "fin");
}

/// Both close at once: each sends, shuts down and reads to the end, so the
/// FINs cross.
fn close_both_at_once(faulty: bool) {
    let Some(env) = Env::new(faulty) else { return };
    let k = env.kernel_server(&["--send", "5000", "--shutdown-write", "--read-all"]);
    let c = env.connect(&["--send", "5000", "--shutdown-write", "--read-all"]);
    let (c, k) = (one(c), one(k));
    assert_clean(&c, "synfin");
    assert_clean(&k, "kernel");
    assert_eq!(k["bytes_in"], 5000);
    assert_eq!(c["bytes_in"], 5000);
    assert_eq!(k["peer_close"], "fin");
    assert_eq!(c["peer_close"], "fin");
}

/// synfin aborts while the kernel is still sending: the kernel sees
/// ECONNRESET.
fn abort_by_synfin(faulty: bool) {
    let Some(env) = Env::new(faulty) else { return };
    let s = env.serve(&["--mode", "source=1000", "--close", "abort", "--count", "1"]);
    let k = env.kernel_client(&["--send", "50000000", "--read-all"]);
    let (k, s) = (one(k), one(s));
    assert_clean(&s, "synfin");
    assert_eq!(k["error"], "ECONNRESET", "{k}");
    assert_eq!(k["peer_close"], "rst");
}

/// The kernel aborts (SO_LINGER 0) while synfin is still sending: synfin
/// sees ConnectionReset.
fn abort_by_kernel(faulty: bool) {
    let Some(env) = Env::new(faulty) else { return };
    let s = env.serve(&["--mode", "source=50000000", "--count", "1"]);
    let k = env.kernel_client(&["--abort-after-read", "10000"]);
    let (k, s) = (one(k), one(s));
    assert_clean(&k, "kernel");
    assert_eq!(s["error"], "ConnectionReset", "{s}");
    assert_eq!(s["peer_close"], "rst");
}

/// synfin closes with unread data: the kernel, which keeps sending, sees a
/// reset.
fn unread_data_synfin(faulty: bool) {
    let Some(env) = Env::new(faulty) else { return };
    let s = env.serve(&[
        "--mode",
        "source=0",
        "--no-read",
        "--hold-ms",
        "300",
        "--count",
        "1",
    ]);
    let k = env.kernel_client(&["--send", "50000000", "--read-all"]);
    let (k, s) = (one(k), one(s));
    assert_clean(&s, "synfin");
    if faulty {
        // synfin's RST may be lost. The kernel, facing the zero window of a
        // receiver that never read, then only sends window probes at
        // growing intervals; each draws a RST while `synfin serve` runs,
        // but serve exits after 1.5 s of quiet, and with those answers
        // lost too nothing is left to tell the kernel: its read times out.
        assert!(
            k["error"] == "ECONNRESET" || k["error"] == "TimeoutError",
            "{k}"
        );
    } else {
        assert_eq!(k["error"], "ECONNRESET", "{k}");
    }
}

/// The kernel closes with unread data: synfin, which keeps sending, sees
/// ConnectionReset.
fn unread_data_kernel(faulty: bool) {
    let Some(env) = Env::new(faulty) else { return };
    let k = env.kernel_server(&["--hold", "0.3"]);
    let c = env.connect(&["--send", "50000000"]);
    let (c, k) = (one(c), one(k));
    assert_clean(&k, "kernel");
    assert_eq!(c["error"], "ConnectionReset", "{c}");
}

/// synfin lingers 1 s with data the kernel does not read: the linger
/// expires, synfin resets and reports TimedOut; the kernel, reading at
/// last, sees ECONNRESET.
fn linger_expires(faulty: bool) {
    let Some(env) = Env::new(faulty) else { return };
    let k = env.kernel_server(&[
        "--rcvbuf",
        "4096",
        "--sleep-before-read",
        "1.5",
        "--read-all",
        "--timeout",
        "10",
    ]);
    let c = env.connect(&["--send", "200000", "--close", "linger=1"]);
    let (c, k) = (one(c), one(k));
    assert_eq!(c["error"], "TimedOut", "{c}");
    if faulty {
        // The RST may be lost, and so may the RST answering the kernel's
        // window update; a receiver with nothing to send then never hears
        // of the reset (TCP cannot recover a lost RST to an idle peer), so
        // its read times out instead.
        assert!(
            k["error"] == "ECONNRESET" || k["error"] == "TimeoutError",
            "{k}"
        );
    } else {
        assert_eq!(k["error"], "ECONNRESET", "{k}");
    }
    assert!(k["bytes_in"].as_u64().unwrap_or(0) < 200000, "{k}");
}

/// Connecting to a closed port, each way: refused.
fn refused_both_ways(faulty: bool) {
    let Some(env) = Env::new(faulty) else { return };
    // synfin → a kernel port nobody listens on.
    let c = env.connect(&[]);
    let (ok, v) = c.finish();
    assert!(!ok);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0]["error"], "ConnectionRefused", "{v:?}");
    // kernel → a synfin port nobody listens on (synfin serves 5000).
    let s = env.serve(&["--mode", "discard"]);
    let to = format!("{SYNFIN_IP}:5001");
    let k = Proc::spawn(
        "kernel client",
        env.ns
            .command("python3", &strings(&[PEER, "client", "--to", &to])),
    );
    let k = one(k);
    assert_eq!(k["error"], "ECONNREFUSED", "{k}");
    drop(s);
}

/// 1000 concurrent connections to a synfin echo listener with backlog 8:
/// the kernel opens them 1 ms apart (the kernel retries any SYN a full queue
/// dropped) and only once all 1000 are established does each send, so all
/// 1000 are open at once; every one is served, nothing hangs.
fn thousand_connections(faulty: bool) {
    let Some(env) = Env::new(faulty) else { return };
    // Under faults the SYN queue must never fill: each lost SYN-ACK or
    // final ACK keeps its half-open entry for a 1 s (then 2 s) SYN-ACK
    // retransmission, so at 200 connects a second about 15 % of them pile
    // up, and past the backlog SYN cookies take over. A cookie connection
    // whose final ACK is lost and whose first data segment is lost too
    // (the TUN queue overflows when all 1000 clients send at once) is next
    // heard of by its FIN, whose sequence number no longer validates the
    // cookie, and is reset — Linux's cookies do the same. With backlog 64
    // that happened in about one run in three (captures: SYN, SYN-ACK, ACK
    // lost to the link model, no SYN-ACK retransmission, FIN, RST), so the
    // faulty run uses a backlog above the connection count; the cookie
    // path is tested in the simulator (hardening_syn_cookies.rs). The clean
    // run keeps backlog 8, where both queues overflow: SYN cookies (which
    // validate, nothing being lost) and the kernel's SYN retries after a
    // full accept queue dropped its SYN.
    let (backlog, pace) = if faulty { ("1024", "5") } else { ("8", "1") };
    let s = env.serve(&["--mode", "echo", "--backlog", backlog, "--count", "1000"]);
    let to = format!("{SYNFIN_IP}:{PORT}");
    let k = Proc::spawn(
        "kernel clients",
        env.ns.command(
            "python3",
            &strings(&[
                PEER,
                "many",
                "--to",
                &to,
                "--n",
                "1000",
                "--bytes",
                "1000",
                "--timeout",
                "80",
                "--pace-ms",
                pace,
            ]),
        ),
    );
    let k = one(k);
    let (_, lines) = s.finish();
    assert_eq!(k["ok"], 1000, "{k}");
    assert_eq!(k["concurrent"], 1000, "{k}");
    assert_eq!(lines.len(), 1000);
    let errors: Vec<_> = lines.iter().filter(|l| !l["error"].is_null()).collect();
    assert!(errors.is_empty(), "{errors:?}");
}

/// tshark on a capture of a run (handshake, data, half-close, close)
/// reports no malformed packets and no bad checksums.
fn capture_is_clean(faulty: bool) {
    let Some(env) = Env::new(faulty) else { return };
    if !have("tshark") {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "tshark missing under CI=true"
        );
        eprintln!("skipping the tshark check: tshark is not installed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("{}-pcap", env.ns.name));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("run.pcap");
    let p = pcap.to_string_lossy().to_string();
    let s = env.serve(&["--mode", "echo", "--count", "1", "--pcap", &p]);
    let k = env.kernel_client(&["--send", "1000000", "--shutdown-write", "--read-all"]);
    let (k, s) = (one(k), one(s));
    assert_clean(&k, "kernel");
    assert_clean(&s, "synfin");
    let out = Command::new("tshark")
        .args(["-r", &p, "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"])
        // The payload is random bytes: decode it as data, not as whatever
        // protocol a heuristic guesses from port 5000.
        .args(["-d", "tcp.port==5000,data"])
        .args(["-Y", "_ws.malformed || _ws.expert.severity >= error || tcp.checksum.status == 2 || ip.checksum.status == 2"])
        .output()
        .expect("running tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = String::from_utf8_lossy(&out.stdout);
    assert!(bad.trim().is_empty(), "tshark found bad packets:\n{bad}");
    let all = Command::new("tshark").args(["-r", &p]).output().unwrap();
    let n = String::from_utf8_lossy(&all.stdout).lines().count();
    assert!(n > 700, "only {n} packets captured");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `synfin bridge` joins two namespaces' TUN devices through the link
/// model: a kernel↔kernel transfer crosses it intact (with faults too).
fn bridge_kernel_to_kernel(faulty: bool) {
    if !prerequisites(false) {
        return;
    }
    let (na, nb) = (Netns::new("sfi"), Netns::new("sfi"));
    let mut args = strings(&[
        "bridge",
        "--a",
        &format!("sfa@{}", na.name),
        "--a-addr",
        "198.18.2.1/24",
        "--b",
        &format!("sfb@{}", nb.name),
        "--b-addr",
        "198.18.2.2/24",
    ]);
    if faulty {
        args.extend(strings(&[
            "--loss",
            "0.05",
            "--reorder",
            "0.05",
            "--delay",
            "10",
        ]));
    }
    let mut cmd = Command::new(SYNFIN);
    cmd.args(&args);
    let mut bridge = Proc::spawn("synfin bridge", cmd);
    bridge.wait_stderr("bridging");
    let mut server = Proc::spawn(
        "kernel server",
        nb.command(
            "python3",
            &strings(&[PEER, "server", "--port", PORT, "--read-all"]),
        ),
    );
    server.wait_stderr("ready");
    let n = if faulty { BIG_FAULTY } else { 4 << 20 }.to_string();
    let client = Proc::spawn(
        "kernel client",
        na.command(
            "python3",
            &strings(&[
                PEER,
                "client",
                "--to",
                "198.18.2.2:5000",
                "--send",
                &n,
                "--shutdown-write",
                "--read-all",
            ]),
        ),
    );
    let (c, s) = (one(client), one(server));
    assert_clean(&c, "client");
    assert_clean(&s, "server");
    assert_eq!(s["sha256_in"], c["sha256_out"]);
    assert_eq!(s["bytes_in"].to_string(), n);
    drop(bridge);
}

/// `--mode transactions` against the kernel, on a byte stream (message
/// mode is synfin's own): synfin serving a kernel client, then synfin as
/// the client of a kernel server; the totals are checked on both sides.
fn transactions_with_kernel(faulty: bool) {
    let Some(env) = Env::new(faulty) else { return };
    let s = env.serve(&["--mode", "transactions", "--count", "2"]);
    let mut totals = 0;
    for seed in ["1", "2"] {
        let to = format!("{SYNFIN_IP}:{PORT}");
        let a = strings(&[PEER, "txn-client", "--to", &to, "--n", "25", "--seed", seed]);
        let k = one(Proc::spawn(
            "kernel txn client",
            env.ns.command("python3", &a),
        ));
        assert_clean(&k, "kernel client");
        assert_eq!(k["transactions"], 25, "{k}");
        totals += k["total"].as_u64().unwrap();
        assert_eq!(k["grand_total"].as_u64(), Some(totals), "{k}");
    }
    let (_, v) = s.finish();
    assert_eq!(v.len(), 2, "{v:?}");
    assert_eq!(v[1]["grand_total"].as_u64(), Some(totals), "{v:?}");
    drop(env);

    let Some(env) = Env::new(faulty) else { return };
    let a = strings(&[PEER, "txn-server", "--port", PORT]);
    let mut k = Proc::spawn("kernel txn server", env.ns.command("python3", &a));
    k.wait_stderr("ready");
    let c = one(env.connect(&[
        "--mode",
        "transactions",
        "--transactions",
        "25",
        "--seed",
        "3",
    ]));
    let k = one(k);
    assert_clean(&c, "synfin client");
    assert_clean(&k, "kernel server");
    assert_eq!(c["transactions"], 25, "{c}");
    assert_eq!(k["total"], c["total"]);
    assert_eq!(c["grand_total"], c["total"]);
}

/// Message mode between two synfin processes, each behind its own TUN
/// device, with the kernel forwarding between the devices: option 253 and
/// the records cross a real IP router intact (echo and transactions).
fn message_mode_through_kernel_router(faulty: bool) {
    let Some(env) = Env::new(faulty) else { return };
    run(
        "ip",
        &[
            "netns",
            "exec",
            &env.ns.name,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ],
    );
    let s = env.serve(&["--mode", "echo", "--message", "--count", "1"]);
    let client = |args: &[&str]| {
        let to = format!("{SYNFIN_IP}:{PORT}");
        let mut a = strings(&[
            "connect",
            "--tun",
            "sf1",
            "--addr",
            "198.18.3.2/24",
            "--json",
        ]);
        a.extend(strings(&["--to", &to, "--message"]));
        if env.faulty {
            a.extend(strings(&[
                "--loss",
                "0.05",
                "--reorder",
                "0.05",
                "--delay",
                "10",
            ]));
        }
        a.extend(strings(args));
        one(Proc::spawn("synfin connect", env.ns.command(SYNFIN, &a)))
    };
    let n = (env.big() / 4).to_string();
    let c = client(&["--send", &n, "--shutdown-write", "--read-all"]);
    let s = one(s);
    assert_clean(&c, "client");
    assert_clean(&s, "server");
    assert_eq!(c["message_mode"], true, "{c}");
    assert_eq!(s["messages_in"], c["messages_out"], "{s} {c}");
    assert_eq!(c["messages_in"], c["messages_out"], "{c}");
    assert_eq!(c["sha256_in"], c["sha256_out"]);
    assert_eq!(s["sha256_in"], c["sha256_out"]);

    let s = env.serve(&["--mode", "transactions", "--message", "--count", "1"]);
    let c = client(&[
        "--mode",
        "transactions",
        "--transactions",
        "20",
        "--seed",
        "5",
    ]);
    let s = one(s);
    assert_clean(&c, "client");
    assert_clean(&s, "server");
    assert_eq!(s["transactions"], 20, "{s}");
    assert_eq!(c["grand_total"], c["total"], "{c}");
    assert_eq!(s["total"], c["total"], "{s}");
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod clean {
            $( #[test] fn $name() { super::$name(false) } )*
        }
        mod faulty {
            $( #[test] fn $name() { super::$name(true) } )*
        }
    };
}

both!(
    bulk_kernel_to_synfin_server,
    bulk_synfin_server_to_kernel,
    bulk_synfin_client_to_kernel,
    bulk_kernel_to_synfin_client,
    bulk_with_offloads,
    half_close_kernel_first,
    half_close_synfin_first,
    close_kernel_first,
    close_synfin_first,
    close_both_at_once,
    abort_by_synfin,
    abort_by_kernel,
    unread_data_synfin,
    unread_data_kernel,
    linger_expires,
    refused_both_ways,
    thousand_connections,
    capture_is_clean,
    bridge_kernel_to_kernel,
    transactions_with_kernel,
    message_mode_through_kernel_router,
);
