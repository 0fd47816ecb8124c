//! A network namespace for one root-only test (interop.rs, interop_api.rs,
//! interop_ecn.rs): made with its loopback up, and deleted on drop — with
//! whatever still runs in it — even when the test fails. Each test file adds
//! the methods only it needs in its own `impl Netns` block.
#![allow(dead_code)]

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The synfin binary under test.
pub const SYNFIN: &str = env!("CARGO_BIN_EXE_synfin");
/// The kernel-side peer (Python's socket module).
pub const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/peer.py");
/// synfin's address behind the TUN device inside a test namespace, with
/// its prefix, and alone; the kernel's side of the device; the port the
/// tests listen on. Nothing with these addresses leaves the namespace.
pub const SYNFIN_ADDR: &str = "198.18.0.2/24";
pub const SYNFIN_IP: &str = "198.18.0.2";
pub const HOST_IP: &str = "198.18.0.1";
pub const PORT: &str = "5000";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A namespace named `<tag><pid>x<n>`, unique on the machine while this
/// process lives.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!(
            "{tag}{}x{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        run("ip", &["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    /// `prog` to run inside the namespace (`ip netns exec NAME prog`).
    pub fn exec(&self, prog: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, prog]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Only processes inside this test's own namespace, by pid.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Runs `prog args` and panics with its stderr if it fails.
pub fn run(prog: &str, args: &[&str]) {
    let out = Command::new(prog)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {prog}: {e}"));
    assert!(
        out.status.success(),
        "{prog} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
