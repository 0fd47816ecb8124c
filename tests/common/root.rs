//! What the root-only tests (network namespaces, TUN devices) check before
//! they run: whether this process is root and which tools the machine has.
#![allow(dead_code)]

use std::process::{Command, Stdio};

/// Whether this process runs as root (the effective uid in
/// `/proc/self/status` is 0).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Whether `tool` is on the PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
