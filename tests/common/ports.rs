//! Free loopback UDP ports for tests that hand them to child processes
//! (`synfin serve --udp`, `synfin connect --udp`).
//!
//! A port is found by binding port 0 and letting it go, so the same port can
//! be handed out twice: to another test of the same binary running in
//! parallel, or to another process, before the child binds it. Ports this
//! process has handed out are remembered and never handed out again, which
//! rules out the first; a child that loses the second race says "Address
//! already in use" on stderr.

use std::net::UdpSocket;
use std::sync::Mutex;

/// Every port handed out by this test process.
static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// `N` distinct loopback UDP ports that no other caller in this process has
/// been given.
pub fn free_udp_ports<const N: usize>() -> [u16; N] {
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    // Held until the search ends, so one search never sees a port twice.
    let mut held = Vec::new();
    let mut out = [0u16; N];
    let mut k = 0;
    while k < N {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind a loopback UDP port");
        let p = s.local_addr().expect("a bound socket's address").port();
        if !given.contains(&p) {
            given.push(p);
            out[k] = p;
            k += 1;
        }
        held.push(s);
    }
    out
}
