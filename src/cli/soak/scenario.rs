//! One soak scenario: drawn from a seed, run in the simulator, checked.
//!
//! A scenario is a lifecycle (how much data each way), faults on the link
//! (loss, duplication, reordering, corruption, delay and jitter, and
//! sometimes a partition that heals), a close mode, and which side performs
//! it. Everything random comes from the seed, so `synfin soak --seed N`
//! replays a failure exactly.

use std::time::Duration;

use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use synfin::links::{HostId, LinkModel, Network};
use synfin::stack::{Error, Shutdown, SocketHandle, Stack, StackConfig};
use synfin::tcp::State;
use synfin::time::Instant;

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

/// What the two ends exchange.
///
/// Extension point: message mode (DESIGN.md "Message mode") adds a variant
/// here. Its ends would open the connection in message mode, send whole
/// messages of random sizes, check on receipt that every message arrives
/// whole, once and in order, and end with a DISCONNECT record whose data the
/// peer must read with `recv_disconnect` (a receive then reports
/// `Disconnected` instead of `Ok(0)`). Only [`End`]'s `pump` and the final
/// delivery check depend on the mode.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
pub enum DataMode {
    /// A byte stream; the bytes are a seeded pattern.
    Bytes,
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
        let close = match r.next_u32() % 5 {
            0 => CloseMode::Graceful,
            1 => CloseMode::HalfClose,
            2 => CloseMode::Abort,
            3 => CloseMode::Linger,
            _ => CloseMode::UnreadClose,
        };
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
        Scenario {
            seed,
            mode: DataMode::Bytes,
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

/// One end as the application sees it.
struct End {
    h: Option<SocketHandle>,
    out: Vec<u8>,
    sent: usize,
    got: Vec<u8>,
    eof: bool,
    /// The first error a send or receive reported.
    err: Option<Error>,
    shut: bool,
    /// The handle was closed (or released by an abort).
    closed: bool,
    close_result: Option<Result<(), Error>>,
    /// The role: the special closer or its peer.
    closer: bool,
}

fn pattern(len: usize, salt: u64) -> Vec<u8> {
    let mut r = ChaCha8Rng::seed_from_u64(salt);
    let mut v = vec![0u8; len];
    r.fill_bytes(&mut v);
    v
}

impl End {
    fn new(out: Vec<u8>, closer: bool) -> End {
        End {
            h: None,
            out,
            sent: 0,
            got: Vec::new(),
            eof: false,
            err: None,
            shut: false,
            closed: false,
            close_result: None,
            closer,
        }
    }

    /// Sends what fits (if `send`) and reads what is there (if `read`).
    fn pump(&mut self, st: &mut Stack, now: Instant, send: bool, read: bool) {
        let Some(h) = self.h else { return };
        if self.err.is_some() || self.closed {
            return;
        }
        if send && !self.shut {
            while self.sent < self.out.len() {
                match st.send(now, h, &self.out[self.sent..]) {
                    Ok(n) => self.sent += n,
                    Err(Error::WouldBlock) => break,
                    Err(e) => {
                        self.err = Some(e);
                        return;
                    }
                }
            }
        }
        let mut buf = [0u8; 16 * 1024];
        while read && !self.eof {
            match st.recv(now, h, &mut buf) {
                Ok(0) => self.eof = true,
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
                Err(Error::WouldBlock) => break,
                Err(e) => {
                    self.err = Some(e);
                    return;
                }
            }
        }
    }

    fn all_queued(&self) -> bool {
        self.sent == self.out.len()
    }

    fn shutdown(&mut self, st: &mut Stack, now: Instant) {
        if let (Some(h), false) = (self.h, self.shut) {
            if let Err(e) = st.shutdown(now, h, Shutdown::Write) {
                self.err.get_or_insert(e);
            }
            self.shut = true;
        }
    }

    fn close(&mut self, st: &mut Stack, now: Instant) {
        if let (Some(h), false) = (self.h, self.closed) {
            match st.close(now, h) {
                Err(Error::WouldBlock) => {}
                r => {
                    self.closed = true;
                    self.close_result = Some(r);
                }
            }
        }
    }
}

/// A failed invariant.
macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

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

const CLIENT_IP: &str = "198.18.0.1";
const SERVER: &str = "198.18.0.2:80";

fn drive(sc: &Scenario, net: &mut Network<Stack>, outcome: &mut Outcome) -> Result<(), String> {
    let cfg = config();
    let server_addr: std::net::SocketAddr = SERVER.parse().expect("constant address");
    let mut c = Stack::new(cfg.clone(), sc.seed ^ 0xc1);
    c.add_address(CLIENT_IP.parse().expect("constant address"));
    let mut s = Stack::new(cfg.clone(), sc.seed ^ 0x5e);
    s.add_address(server_addr.ip());
    let ch = net.add_host(&[CLIENT_IP.parse().expect("constant address")], c);
    let sh = net.add_host(&[server_addr.ip()], s);
    net.link(ch, sh, sc.link());
    let listener = net
        .host_mut(sh)
        .listen(server_addr, 16)
        .map_err(|e| format!("listen: {e}"))?;
    let c2s = pattern(sc.client_to_server, sc.seed ^ 1);
    let s2c = pattern(sc.server_to_client, sc.seed ^ 2);
    let mut cl = End::new(c2s.clone(), sc.who == Who::Client);
    let mut sv = End::new(s2c.clone(), sc.who == Who::Server);
    let now = net.now();
    let h = net
        .host_mut(ch)
        .connect(now, server_addr)
        .map_err(|e| format!("connect: {e}"))?;
    cl.h = Some(h);
    if sc.close == CloseMode::Linger && sc.who == Who::Client {
        set_linger(net.host_mut(ch), h, sc.linger_s)?;
    }
    let mut partition = sc.faults.partition_ms.map(|(at, len)| {
        (
            Instant::from_millis(at),
            Instant::from_millis(at + len),
            false,
        )
    });
    let limit = Instant::from_secs(4 * 3600);
    let bound = memory_bound(&cfg);
    let mut steps: u64 = 0;
    let mut listener_open = true;
    loop {
        let now = net.now();
        if sv.h.is_none() {
            if let Ok((h, _)) = net.host_mut(sh).accept(listener) {
                sv.h = Some(h);
                if sc.close == CloseMode::Linger && sc.who == Who::Server {
                    set_linger(net.host_mut(sh), h, sc.linger_s)?;
                }
            }
        }
        if sv.h.is_some() && listener_open {
            // The listener is done once its one connection is accepted.
            net.host_mut(sh)
                .close(now, listener)
                .map_err(|e| format!("close listener: {e}"))?;
            listener_open = false;
        }
        // The applications know when both ends exist (a protocol would
        // have told them): an abort before the server accepted would leave
        // it nothing to observe.
        let both = cl.h.is_some() && sv.h.is_some();
        act(sc, &mut cl, net.host_mut(ch), now, both);
        act(sc, &mut sv, net.host_mut(sh), now, both);
        // No byte altered, duplicated or invented, at every step.
        check!(
            s2c.starts_with(&cl.got),
            "client received bytes the server never sent (at {} of {})",
            first_diff(&cl.got, &s2c),
            cl.got.len()
        );
        check!(
            c2s.starts_with(&sv.got),
            "server received bytes the client never sent (at {} of {})",
            first_diff(&sv.got, &c2s),
            sv.got.len()
        );
        check!(
            !cl.eof || cl.got.len() == s2c.len(),
            "client end-of-stream before all data"
        );
        check!(
            !sv.eof || sv.got.len() == c2s.len(),
            "server end-of-stream before all data"
        );
        steps += 1;
        if steps % 64 == 0 {
            for (name, id) in [("client", ch), ("server", sh)] {
                let m = net.host(id).memory_usage().total();
                outcome.peak_memory = outcome.peak_memory.max(m);
                check!(
                    m <= bound,
                    "{name} holds {m} B, over the bound of {bound} B"
                );
            }
        }
        if cl.closed && sv.closed {
            break;
        }
        check!(
            net.now() < limit,
            "not finished after {limit}: client {}, server {}",
            describe(&cl, net.host(ch)),
            describe(&sv, net.host(sh))
        );
        if let Some((down_at, up_at, down)) = partition.as_mut() {
            let next = net.next_event_time();
            let change = if *down { *up_at } else { *down_at };
            if next.is_none_or(|t| t >= change) {
                net.run_until(change);
                set_up(net, ch, sh, *down);
                if *down {
                    partition = None;
                } else {
                    *down = true;
                }
                continue;
            }
        }
        if !net.step() {
            return Err(format!(
                "stalled at {}: no events left; client {}, server {}",
                net.now(),
                describe(&cl, net.host(ch)),
                describe(&sv, net.host(sh))
            ));
        }
    }
    if let Some((_, up_at, down)) = partition {
        // Heal a partition the connection outlived.
        if down {
            net.run_until(up_at);
        }
        set_up(net, ch, sh, true);
    }
    verify(sc, &cl, &sv, &c2s, &s2c, outcome)?;
    // Everything winds down: TIME-WAIT, orphans, retransmitted FINs.
    let end = net.now() + Duration::from_secs(3600);
    net.run_until_cond(end, |n| {
        [ch, sh].iter().all(|&id| {
            let st = n.host(id);
            st.socket_count() == 0 && st.time_wait_count() == 0
        })
    });
    for (name, id) in [("client", ch), ("server", sh)] {
        let st = net.host(id);
        let m = st.memory_usage();
        check!(
            st.socket_count() == 0
                && st.connection_count() == 0
                && st.time_wait_count() == 0
                && m.connections == 0
                && m.buffers == 0,
            "{name}'s tables not empty an hour after both closed: {} sockets, {} connections, {} TIME-WAIT, {m:?}",
            st.socket_count(),
            st.connection_count(),
            st.time_wait_count()
        );
    }
    Ok(())
}

fn set_linger(st: &mut Stack, h: SocketHandle, secs: u64) -> Result<(), String> {
    st.set_linger(h, Some(Duration::from_secs(secs)))
        .map_err(|e| format!("set_linger: {e}"))
}

fn set_up(net: &mut Network<Stack>, a: HostId, b: HostId, up: bool) {
    for (x, y) in [(a, b), (b, a)] {
        if let Some(m) = net.model_mut(x, y) {
            *m = m.clone().up(up);
        }
    }
}

fn first_diff(got: &[u8], want: &[u8]) -> usize {
    got.iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()))
}

fn describe(e: &End, st: &Stack) -> String {
    let state = e.h.map(|h| st.state(h));
    format!(
        "{state:?} sent {}/{} got {} eof={} shut={} closed={} err={:?}",
        e.sent,
        e.out.len(),
        e.got.len(),
        e.eof,
        e.shut,
        e.closed,
        e.err
    )
}

/// One application step of an end, by close mode and role.
fn act(sc: &Scenario, e: &mut End, st: &mut Stack, now: Instant, both: bool) {
    let Some(h) = e.h else { return };
    if e.closed {
        return;
    }
    match (sc.close, e.closer) {
        (CloseMode::Graceful, _) | (CloseMode::HalfClose, true) => {
            e.pump(st, now, true, true);
            if e.all_queued() {
                e.shutdown(st, now);
            }
            if (e.eof && e.shut) || e.err.is_some() {
                e.close(st, now);
            }
        }
        (CloseMode::HalfClose, false) => {
            // Read to end-of-stream first, then send to the half-closed peer.
            e.pump(st, now, e.eof, true);
            if e.eof && e.all_queued() {
                e.shutdown(st, now);
                e.close(st, now);
            }
            if e.err.is_some() {
                e.close(st, now);
            }
        }
        (CloseMode::Abort, true) => {
            e.pump(st, now, true, true);
            let established = !matches!(st.state(h), Ok(State::SynSent | State::SynReceived));
            if e.got.len() >= sc.abort_after && established && both || e.err.is_some() {
                let _ = st.abort(now, h);
                e.close(st, now);
            }
        }
        (CloseMode::Linger, true) => {
            e.pump(st, now, true, true);
            if e.all_queued() && e.eof || e.err.is_some() {
                e.close(st, now);
            }
        }
        (CloseMode::UnreadClose, true) => {
            e.pump(st, now, true, false);
            if e.all_queued() && st.recv_queue_len(h).unwrap_or(0) > 0 || e.err.is_some() {
                e.close(st, now);
            }
        }
        (CloseMode::Linger, false) => {
            e.pump(st, now, true, true);
            if e.all_queued() {
                e.shutdown(st, now);
            }
            if (e.eof && e.shut) || e.err.is_some() {
                e.close(st, now);
            }
        }
        (CloseMode::Abort | CloseMode::UnreadClose, false) => {
            // Sends everything and reads until the reset arrives; never
            // closes on its own.
            e.pump(st, now, true, true);
            if e.err.is_some() {
                e.close(st, now);
            }
        }
    }
}

/// Each side observed the close it should, and got the data it should.
fn verify(
    sc: &Scenario,
    cl: &End,
    sv: &End,
    c2s: &[u8],
    s2c: &[u8],
    outcome: &mut Outcome,
) -> Result<(), String> {
    let (closer, peer, closer_out) = match sc.who {
        Who::Client => (cl, sv, c2s),
        Who::Server => (sv, cl, s2c),
    };
    let peer_out = if sc.who == Who::Client { s2c } else { c2s };
    match sc.close {
        CloseMode::Graceful | CloseMode::HalfClose => {
            for (name, e, want) in [("client", cl, s2c), ("server", sv, c2s)] {
                check!(
                    e.err.is_none(),
                    "{name} saw {:?} in a graceful close",
                    e.err
                );
                check!(e.eof, "{name} never read end-of-stream");
                check!(
                    e.got == want,
                    "{name} got {} of {} bytes",
                    e.got.len(),
                    want.len()
                );
                check!(
                    e.close_result == Some(Ok(())),
                    "{name}'s close returned {:?}",
                    e.close_result
                );
            }
        }
        CloseMode::Abort | CloseMode::UnreadClose => {
            check!(
                peer.err == Some(Error::ConnectionReset),
                "the peer of the {:?} saw {:?}, not ConnectionReset",
                sc.close,
                peer.err
            );
            check!(
                !peer.eof,
                "the peer read end-of-stream, but no FIN was sent"
            );
            check!(
                closer.close_result == Some(Ok(())),
                "the closer's close returned {:?}",
                closer.close_result
            );
            if sc.close == CloseMode::Abort {
                check!(
                    closer.got.len() >= sc.abort_after.min(peer_out.len()),
                    "aborted before reading {} bytes",
                    sc.abort_after
                );
            }
        }
        CloseMode::Linger => {
            let ok = closer.close_result == Some(Ok(()));
            outcome.linger_ok = Some(ok);
            if ok {
                // Success means the peer acknowledged every byte and the FIN.
                check!(
                    peer.got == closer_out && peer.eof,
                    "lingering close succeeded but the peer got {} of {} bytes (eof={})",
                    peer.got.len(),
                    closer_out.len(),
                    peer.eof
                );
            } else {
                check!(
                    matches!(
                        closer.close_result,
                        Some(Err(Error::TimedOut
                            | Error::ConnectionReset
                            | Error::ConnectionAborted))
                    ) || closer.err.is_some(),
                    "lingering close returned {:?}",
                    closer.close_result
                );
            }
            check!(
                closer.got == peer_out || closer.err.is_some() || !ok,
                "the lingering closer read {} of {} bytes",
                closer.got.len(),
                peer_out.len()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_seeds_pass_and_replay_exactly() {
        for seed in 1..=12 {
            let sc = Scenario::from_seed(seed);
            let a = run(&sc, None);
            assert!(a.ok, "seed {seed}: {:?}", a.failure);
            let b = run(&Scenario::from_seed(seed), None);
            assert_eq!(
                (a.packets, a.virtual_seconds, a.peak_memory),
                (b.packets, b.virtual_seconds, b.peak_memory),
                "seed {seed} replays exactly"
            );
        }
    }

    #[test]
    fn seeds_cover_every_close_mode_and_both_closers() {
        let scs: Vec<_> = (0..200).map(Scenario::from_seed).collect();
        for mode in [
            CloseMode::Graceful,
            CloseMode::HalfClose,
            CloseMode::Abort,
            CloseMode::Linger,
            CloseMode::UnreadClose,
        ] {
            for who in [Who::Client, Who::Server] {
                assert!(
                    scs.iter().any(|s| s.close == mode && s.who == who),
                    "{mode:?} {who:?}"
                );
            }
        }
        assert!(scs.iter().any(|s| s.faults.partition_ms.is_some()));
    }
}
