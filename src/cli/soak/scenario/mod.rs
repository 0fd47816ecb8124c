//! One soak scenario: drawn from a seed, run in the simulator, checked.
//!
//! A scenario is a lifecycle (how much data each way), faults on the link
//! (loss, duplication, reordering, corruption, delay and jitter, and
//! sometimes a partition that heals), a close mode, which side performs
//! it, and whether the two ends exchange a byte stream or whole messages
//! (message mode, with disconnect data). Everything random comes from the seed, so `synfin soak --seed N`
//! replays a failure exactly.

use std::time::Duration;

use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use synfin::links::{LinkModel, Network};
use synfin::stack::{Stack, StackConfig};

/// How the connection ends.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
pub enum CloseMode {
    /// Both send, shut down writing, read to end-of-stream, close.
    Graceful,
    /// The closer shuts down writing first; the peer reads to end-of-stream
    /// and only then sends all its data to the half-closed closer.
    HalfClose,
    /// The closer aborts (RST) part-way through; the peer must see a reset.
    Abort,
    /// The closer closes with `SO_LINGER {on, N s}`: `Ok` only if the peer
    /// acknowledged everything, else a reset and an error.
    Linger,
    /// The closer closes with the peer's data unread: a RST, which the peer
    /// must see (RFC 9293 SHLD-3).
    UnreadClose,
}

impl CloseMode {
    /// Every close mode.
    pub const ALL: [CloseMode; 5] = [
        CloseMode::Graceful,
        CloseMode::HalfClose,
        CloseMode::Abort,
        CloseMode::Linger,
        CloseMode::UnreadClose,
    ];
}

/// What the two ends exchange.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
pub enum DataMode {
    /// A byte stream; the bytes are a seeded pattern.
    Bytes,
    /// Message mode (DESIGN.md "Message mode", docs/message-mode.md): the
    /// same pattern cut into whole messages of random sizes (empty ones
    /// and ones of the largest size included), each direction ended by a
    /// DISCONNECT record with random disconnect data. Every message must
    /// arrive whole, once and in order; a graceful end is seen as
    /// `Disconnected` and the peer's disconnect data; an abort or an
    /// unread close as `ConnectionReset`, never `Disconnected`.
    Messages,
}

/// Which end performs the close mode's special action.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Who {
    Client,
    Server,
}

/// Link faults of one scenario.
#[derive(Clone, Debug, Serialize)]
pub struct Faults {
    pub loss: f64,
    pub duplicate: f64,
    pub reorder: f64,
    pub corrupt: f64,
    pub delay_ms: u64,
    pub jitter_ms: u64,
    pub bandwidth_mbps: Option<u64>,
    /// Both directions down from `.0` ms for `.1` ms.
    pub partition_ms: Option<(u64, u64)>,
}

/// Everything a seed decides.
#[derive(Clone, Debug, Serialize)]
pub struct Scenario {
    pub seed: u64,
    pub mode: DataMode,
    /// Message mode: the disconnect data each side sends (client, server),
    /// in bytes.
    pub disconnect: (usize, usize),
    pub close: CloseMode,
    pub who: Who,
    pub client_to_server: usize,
    pub server_to_client: usize,
    /// Abort: the closer aborts once it has read this many bytes.
    pub abort_after: usize,
    /// Linger: the linger time, seconds.
    pub linger_s: u64,
    pub faults: Faults,
}

impl Scenario {
    /// The scenario of `seed`.
    pub fn from_seed(seed: u64) -> Scenario {
        let mut r = ChaCha8Rng::seed_from_u64(seed ^ 0x50a4_50a4);
        let close = CloseMode::ALL[r.next_u32() as usize % CloseMode::ALL.len()];
        let who = if r.next_u32() % 2 == 0 {
            Who::Client
        } else {
            Who::Server
        };
        // Mostly small transfers (fast), sometimes a few hundred kB.
        let size = |r: &mut ChaCha8Rng| match r.next_u32() % 8 {
            0 => 0,
            1..=5 => (r.next_u32() % 20_000) as usize,
            _ => (r.next_u32() % 300_000) as usize,
        };
        let mut c2s = size(&mut r);
        let mut s2c = size(&mut r);
        if close == CloseMode::Linger {
            // The lingering closer closes once its data is queued and the
            // peer's end-of-stream read; a peer that sends nothing makes
            // that early, so the linger time races the transfer (and a
            // partition) and both outcomes occur.
            match who {
                Who::Client => s2c = 0,
                Who::Server => c2s = 0,
            }
        }
        if close == CloseMode::UnreadClose {
            // The closer must have something unread.
            match who {
                Who::Client => s2c = s2c.max(1),
                Who::Server => c2s = c2s.max(1),
            }
        }
        let incoming = match who {
            Who::Client => s2c,
            Who::Server => c2s,
        };
        let abort_after = if incoming == 0 {
            0
        } else {
            (r.next_u64() % incoming as u64) as usize
        };
        let unit = |r: &mut ChaCha8Rng| f64::from(r.next_u32()) / f64::from(u32::MAX);
        let faults = Faults {
            loss: 0.15 * unit(&mut r),
            duplicate: 0.05 * unit(&mut r),
            reorder: 0.05 * unit(&mut r),
            corrupt: 0.03 * unit(&mut r),
            delay_ms: 1 + u64::from(r.next_u32() % 40),
            jitter_ms: u64::from(r.next_u32() % 5),
            bandwidth_mbps: (r.next_u32() % 3 == 0).then(|| 1 + u64::from(r.next_u32() % 50)),
            partition_ms: (r.next_u32() % 4 == 0).then(|| {
                (
                    u64::from(r.next_u32() % 3000),
                    500 + u64::from(r.next_u32() % 30_000),
                )
            }),
        };
        if c2s == 0 && s2c == 0 && r.next_u32() % 2 == 0 {
            c2s = 1;
        }
        // The data mode comes from a stream of its own, so a byte-stream
        // seed keeps the scenario it had before message mode was added.
        let mut m = ChaCha8Rng::seed_from_u64(seed ^ 0x3e55_a9e5);
        let mode = if m.next_u32() % 4 == 0 {
            DataMode::Messages
        } else {
            DataMode::Bytes
        };
        let mut disconnect_len = || match m.next_u32() % 4 {
            0 => 0,
            1 | 2 => (m.next_u32() % 200) as usize,
            _ => (m.next_u32() % 5000) as usize,
        };
        let disconnect = (disconnect_len(), disconnect_len());
        Scenario {
            seed,
            mode,
            disconnect,
            close,
            who,
            client_to_server: c2s,
            server_to_client: s2c,
            abort_after,
            linger_s: 1 + r.next_u64() % 40,
            faults,
        }
    }

    fn link(&self) -> LinkModel {
        let f = &self.faults;
        let mut m = LinkModel::new()
            .loss(f.loss)
            .duplicate(f.duplicate)
            .reorder(f.reorder, Duration::from_millis(f.delay_ms + 5))
            .corrupt(f.corrupt)
            .delay(Duration::from_millis(f.delay_ms))
            .jitter(Duration::from_millis(f.jitter_ms));
        if let Some(mbps) = f.bandwidth_mbps {
            m = m.bandwidth(mbps * 1_000_000);
        }
        m
    }
}

/// What one scenario did.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub seed: u64,
    pub ok: bool,
    /// The first invariant that failed.
    pub failure: Option<String>,
    pub virtual_seconds: f64,
    pub packets: u64,
    /// Linger: whether the close reported success.
    pub linger_ok: Option<bool>,
    /// Largest memory either stack held at once (buffers included).
    pub peak_memory: usize,
}

/// A failed invariant.
macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

mod drive;
use drive::drive;
mod end;
#[cfg(test)]
mod tests;
mod verify;

/// The soak's stack configuration: a short MSL so TIME-WAIT ends quickly,
/// more handshake retries than the default (up to 15 % loss and a 30 s
/// partition must not make a connect give up — that is not what is being
/// tested), and keep-alive so a peer whose only RST was lost still learns of
/// the reset.
fn config() -> StackConfig {
    let mut cfg = StackConfig::default();
    cfg.tcp.msl = Duration::from_secs(5);
    cfg.tcp.syn_retries = 10;
    cfg.tcp.synack_retries = 10;
    cfg.tcp.keepalive = true;
    cfg.tcp.keepalive_idle = Duration::from_secs(60);
    cfg.tcp.keepalive_interval = Duration::from_secs(10);
    cfg
}

/// Bytes one connection's stack may hold: both queues full at the most
/// auto-tuning may grow them to (rings round up to a power of two) plus the
/// tables of a two-socket stack.
fn memory_bound(cfg: &StackConfig) -> usize {
    let send = cfg.tcp.send_buffer.max(cfg.tcp.send_buffer_max);
    let recv = cfg.tcp.recv_buffer.max(cfg.tcp.recv_buffer_max);
    2 * (send + recv).next_power_of_two() + 64 * 1024
}

/// Runs `sc` and checks its invariants.
pub fn run(sc: &Scenario, pcap: Option<&std::path::Path>) -> Outcome {
    let mut outcome = Outcome {
        seed: sc.seed,
        ok: false,
        failure: None,
        virtual_seconds: 0.0,
        packets: 0,
        linger_ok: None,
        peak_memory: 0,
    };
    let mut net: Network<Stack> = Network::new(sc.seed);
    if let Some(path) = pcap {
        if let Err(e) = net.capture(path) {
            outcome.failure = Some(format!("cannot write {}: {e}", path.display()));
            return outcome;
        }
    }
    let r = drive(sc, &mut net, &mut outcome);
    if let Err(e) = net.flush_capture() {
        outcome.failure.get_or_insert(format!("pcap: {e}"));
    }
    outcome.virtual_seconds = net.now().total_micros() as f64 / 1e6;
    outcome.packets = net.stats().sent;
    match r {
        Ok(()) => outcome.ok = true,
        Err(e) => outcome.failure = Some(e),
    }
    outcome
}
