//! Resident memory with many idle connections, measured honestly: a fresh
//! child process (this binary, `bench --rss-child N`) opens the connections
//! and reads its own `VmRSS` from `/proc/self/status`, so nothing the parent
//! allocated before counts and the allocator's real footprint does.
//!
//! Both ends of every connection live in that one process (the client stack
//! and the server stack), so the figure is for 2 × N endpoints.

use std::process::{Command, ExitCode};

use super::clock::Mode;
use super::synfin::{open_idle, Pair};

/// Reads a `kB` field of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> Result<u64, String> {
    let s = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| format!("no {field} in /proc/self/status"))
}

/// In the child: open `n` idle connections, print
/// `{"n":…,"rss":…,"baseline":…}` (bytes) on stdout.
pub fn child(n: u64) -> ExitCode {
    let run = || -> Result<String, String> {
        let baseline = status_bytes("VmRSS")?;
        let mut p = Pair::new(
            synfin::stack::StackConfig {
                ephemeral_ports: (1024, 65535),
                ..Default::default()
            },
            1500,
            Mode::Virtual,
        );
        let handles = open_idle(&mut p, n)?;
        let rss = status_bytes("VmRSS")?;
        let accounted =
            p.server.memory_usage().without_buffers() + p.client.memory_usage().without_buffers();
        if handles.len() as u64 != n || p.server.connection_count() as u64 != n {
            return Err(format!(
                "{} of {n} connections open",
                p.server.connection_count()
            ));
        }
        Ok(serde_json::json!({
            "n": n,
            "rss": rss,
            "baseline": baseline,
            "accounted": accounted,
        })
        .to_string())
    };
    match run() {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: rss child: {e}");
            ExitCode::FAILURE
        }
    }
}

/// In the parent: the child's RSS with `n` idle connections, in bytes.
pub fn measure(n: u64) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
    let out = Command::new(exe)
        .args(["bench", "--rss-child", &n.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run child: {e}"))?;
    if !out.status.success() {
        return Err(format!("child failed ({})", out.status));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("child printed no JSON: {e}"))?;
    let rss = v["rss"].as_u64().ok_or("child JSON has no rss")?;
    eprintln!(
        "bench-detail: stack=synfin workload=rss n={n} rss={rss} baseline={} accounted={}",
        v["baseline"], v["accounted"]
    );
    Ok(rss)
}
