//! Shared set-up of the API tests: two simulated hosts driven in real time
//! by a `Runtime`, with timers short enough for real-time tests, and a
//! watchdog so a lost wake-up fails the test instead of hanging it.
#![allow(dead_code)]

use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use synfin::api::{Node, Runtime};
use synfin::links::{HostId, LinkModel};
use synfin::stack::{Error, StackConfig};
use synfin::tcp::TcpConfig;

pub const CLIENT_IP: &str = "198.18.0.1";
pub const SERVER_IP: &str = "198.18.0.2";

/// How long any one test may take before the watchdog fails it.
pub const WATCHDOG: Duration = Duration::from_secs(60);

pub struct Hosts {
    pub rt: Runtime,
    pub client: Node,
    pub server: Node,
}

/// Timers scaled for real time: a lost segment is retransmitted within
/// tens of milliseconds, and giving up takes well under a second.
pub fn quick_config() -> StackConfig {
    StackConfig {
        tcp: TcpConfig {
            initial_rto: Duration::from_millis(50),
            min_rto: Duration::from_millis(20),
            max_rto: Duration::from_millis(200),
            syn_retries: 3,
            synack_retries: 3,
            max_retries: 4,
            delayed_ack: Duration::from_millis(5),
            msl: Duration::from_millis(100),
            fin_wait2_timeout: Duration::from_secs(2),
            keepalive_idle: Duration::from_millis(100),
            keepalive_interval: Duration::from_millis(30),
            keepalive_probes: 3,
            ..TcpConfig::default()
        },
        ..StackConfig::default()
    }
}

/// Two hosts joined by a link with 1 ms of delay.
pub fn hosts(seed: u64) -> Hosts {
    hosts_with(
        seed,
        LinkModel::new().delay(Duration::from_millis(1)),
        quick_config(),
    )
}

pub fn hosts_with(seed: u64, model: LinkModel, cfg: StackConfig) -> Hosts {
    let ips = [CLIENT_IP.parse().unwrap(), SERVER_IP.parse().unwrap()];
    let (rt, nodes) = Runtime::simulated_with(seed, model, &ips, &cfg);
    let [client, server]: [Node; 2] = nodes.try_into().unwrap();
    Hosts { rt, client, server }
}

impl Hosts {
    /// Takes the link between the hosts down (or up again), both ways.
    pub fn link_up(&self, up: bool) {
        self.rt
            .with_network(|n| {
                for (a, b) in [(HostId(0), HostId(1)), (HostId(1), HostId(0))] {
                    n.model_mut(a, b).unwrap().up = up;
                }
            })
            .unwrap();
    }

    /// TIME-WAIT records on the client's stack.
    pub fn client_time_wait(&self) -> usize {
        self.client.with(|s, _| s.time_wait_count())
    }
}

pub fn server_addr(port: u16) -> SocketAddr {
    SocketAddr::new(SERVER_IP.parse().unwrap(), port)
}

/// The typed synfin error inside an `io::Error`.
pub fn synfin_error(e: &io::Error) -> Option<Error> {
    e.get_ref()?.downcast_ref::<Error>().copied()
}

/// Deterministic test data.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Reads until end-of-stream or an error; returns what was read and how it
/// ended.
pub fn read_all(mut r: impl Read) -> (Vec<u8>, io::Result<()>) {
    read_all_with(|buf| r.read(buf))
}

/// [`read_all`] with any read call.
pub fn read_all_with(
    mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
) -> (Vec<u8>, io::Result<()>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match read(&mut buf) {
            Ok(0) => return (got, Ok(())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, Err(e)),
        }
    }
}

/// Runs `f` on its own thread and fails if it takes longer than
/// [`WATCHDOG`]: a test that would hang on a lost wake-up fails instead.
pub fn with_watchdog<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(WATCHDOG) {
        Ok(r) => {
            t.join().unwrap();
            r
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The closure panicked: surface its panic.
            match t.join() {
                Err(p) => std::panic::resume_unwind(p),
                Ok(()) => unreachable!("sender dropped without sending"),
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("watchdog: the test did not finish within {WATCHDOG:?} (a lost wake-up?)")
        }
    }
}
