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

/// One end as the application sees it.
struct End {
    h: Option<SocketHandle>,
    mode: DataMode,
    out: Vec<u8>,
    sent: usize,
    got: Vec<u8>,
    /// Message mode: the sizes of the messages `out` is cut into, and how
    /// many of them were queued.
    msgs: Vec<usize>,
    msgs_sent: usize,
    /// Message mode: the sizes of the messages received, in order.
    got_msgs: Vec<usize>,
    /// Message mode: the disconnect data this end sends, and the peer's
    /// once a receive reported `Disconnected`.
    disconnect: Vec<u8>,
    peer_disconnect: Option<Result<Vec<u8>, Error>>,
    /// End-of-stream (byte stream) or `Disconnected` (message mode).
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

/// Cuts `len` bytes into message sizes: mostly small, some of several
/// kilobytes, a few of the largest size, and some empty.
fn message_sizes(len: usize, max: usize, salt: u64) -> Vec<usize> {
    let mut r = ChaCha8Rng::seed_from_u64(salt);
    let mut v = Vec::new();
    let mut left = len;
    while left > 0 {
        let n = match r.next_u32() % 20 {
            0 => 0,
            1 => max,
            2..=5 => 512 + (r.next_u32() % 8192) as usize,
            _ => (r.next_u32() % 512) as usize,
        }
        .min(left);
        v.push(n);
        left -= n;
    }
    if r.next_u32() % 8 == 0 {
        // An empty message may also come last.
        v.push(0);
    }
    v
}

impl End {
    fn new(out: Vec<u8>, closer: bool) -> End {
        End {
            h: None,
            mode: DataMode::Bytes,
            out,
            sent: 0,
            got: Vec::new(),
            msgs: Vec::new(),
            msgs_sent: 0,
            got_msgs: Vec::new(),
            disconnect: Vec::new(),
            peer_disconnect: None,
            eof: false,
            err: None,
            shut: false,
            closed: false,
            close_result: None,
            closer,
        }
    }

    /// The same end in message mode: `out` cut into messages, and
    /// `disconnect` as its disconnect data.
    fn messages(mut self, max: usize, salt: u64, disconnect: Vec<u8>) -> End {
        self.mode = DataMode::Messages;
        self.msgs = message_sizes(self.out.len(), max, salt);
        self.disconnect = disconnect;
        self
    }

    /// Sends what fits (if `send`) and reads what is there (if `read`).
    fn pump(&mut self, st: &mut Stack, now: Instant, send: bool, read: bool) {
        let Some(h) = self.h else { return };
        if self.err.is_some() || self.closed {
            return;
        }
        if self.mode == DataMode::Messages {
            self.pump_messages(st, now, h, send, read);
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

    /// [`End::pump`] in message mode: whole messages out, whole messages
    /// in, and the peer's disconnect data once `Disconnected` is reported.
    fn pump_messages(
        &mut self,
        st: &mut Stack,
        now: Instant,
        h: SocketHandle,
        send: bool,
        read: bool,
    ) {
        if send && !self.shut {
            while self.msgs_sent < self.msgs.len() {
                let n = self.msgs[self.msgs_sent];
                match st.send_message(now, h, &self.out[self.sent..self.sent + n]) {
                    Ok(()) => {
                        self.sent += n;
                        self.msgs_sent += 1;
                    }
                    Err(Error::WouldBlock) => break,
                    Err(e) => {
                        self.err = Some(e);
                        return;
                    }
                }
            }
        }
        let mut buf = vec![0u8; st.max_message_size()];
        while read && !self.eof {
            match st.recv_message(now, h, &mut buf) {
                Ok(n) => {
                    self.got.extend_from_slice(&buf[..n]);
                    self.got_msgs.push(n);
                }
                Err(Error::Disconnected) => {
                    self.eof = true;
                    self.peer_disconnect = Some(st.recv_disconnect(h));
                }
                Err(Error::WouldBlock) => break,
                Err(e) => {
                    self.err = Some(e);
                    return;
                }
            }
        }
    }

    fn all_queued(&self) -> bool {
        match self.mode {
            DataMode::Bytes => self.sent == self.out.len(),
            DataMode::Messages => self.msgs_sent == self.msgs.len(),
        }
    }

    /// Ends the sending side: `shutdown(Write)`, or in message mode a
    /// DISCONNECT record with this end's disconnect data.
    fn shutdown(&mut self, st: &mut Stack, now: Instant) {
        if let (Some(h), false) = (self.h, self.shut) {
            let r = match self.mode {
                DataMode::Bytes => st.shutdown(now, h, Shutdown::Write),
                DataMode::Messages => st.send_disconnect(now, h, &self.disconnect),
            };
            if let Err(e) = r {
                self.err.get_or_insert(e);
            }
            self.shut = true;
        }
    }

    /// Everything the peer sent has been received: all its bytes and, in
    /// message mode, all its messages with their boundaries.
    fn got_all(&self, want: &[u8], want_msgs: &[usize]) -> bool {
        self.got == want && (self.mode == DataMode::Bytes || self.got_msgs == want_msgs)
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
    let messages = sc.mode == DataMode::Messages;
    let listener = if messages {
        net.host_mut(sh).listen_message(server_addr, 16)
    } else {
        net.host_mut(sh).listen(server_addr, 16)
    }
    .map_err(|e| format!("listen: {e}"))?;
    let c2s = pattern(sc.client_to_server, sc.seed ^ 1);
    let s2c = pattern(sc.server_to_client, sc.seed ^ 2);
    let mut cl = End::new(c2s.clone(), sc.who == Who::Client);
    let mut sv = End::new(s2c.clone(), sc.who == Who::Server);
    if messages {
        let max = cfg.max_message_size;
        cl = cl.messages(max, sc.seed ^ 3, pattern(sc.disconnect.0, sc.seed ^ 5));
        sv = sv.messages(max, sc.seed ^ 4, pattern(sc.disconnect.1, sc.seed ^ 6));
    }
    let (c2s_msgs, s2c_msgs) = (cl.msgs.clone(), sv.msgs.clone());
    let now = net.now();
    let h = if messages {
        net.host_mut(ch).connect_message(now, server_addr)
    } else {
        net.host_mut(ch).connect(now, server_addr)
    }
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
        // Message mode: whole messages, each once and in order — the sizes
        // received are a prefix of the sizes sent (the bytes, above).
        check!(
            s2c_msgs.starts_with(&cl.got_msgs),
            "client received messages of sizes {:?}…, not a prefix of {:?}…",
            &cl.got_msgs[..cl.got_msgs.len().min(8)],
            &s2c_msgs[..s2c_msgs.len().min(8)]
        );
        check!(
            c2s_msgs.starts_with(&sv.got_msgs),
            "server received messages of sizes {:?}…, not a prefix of {:?}…",
            &sv.got_msgs[..sv.got_msgs.len().min(8)],
            &c2s_msgs[..c2s_msgs.len().min(8)]
        );
        check!(
            !cl.eof || cl.got_all(&s2c, &s2c_msgs),
            "client end-of-stream before all data"
        );
        check!(
            !sv.eof || sv.got_all(&c2s, &c2s_msgs),
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
    verify(sc, &cl, &sv, (&c2s, &c2s_msgs), (&s2c, &s2c_msgs), outcome)?;
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
            if e.all_queued() && e.eof && e.mode == DataMode::Messages {
                // The disconnect data goes before the lingering close (a
                // close alone would send an empty DISCONNECT record).
                e.shutdown(st, now);
            }
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
    c2s: (&[u8], &[usize]),
    s2c: (&[u8], &[usize]),
    outcome: &mut Outcome,
) -> Result<(), String> {
    let (closer, peer) = match sc.who {
        Who::Client => (cl, sv),
        Who::Server => (sv, cl),
    };
    let (closer_out, peer_out) = if sc.who == Who::Client {
        (c2s, s2c)
    } else {
        (s2c, c2s)
    };
    let messages = sc.mode == DataMode::Messages;
    // Message mode: the disconnect data `e` read is what `from` sent.
    let disconnect_ok = |e: &End, from: &End| {
        !messages || e.peer_disconnect.as_ref() == Some(&Ok(from.disconnect.clone()))
    };
    match sc.close {
        CloseMode::Graceful | CloseMode::HalfClose => {
            for (name, e, other, want) in [("client", cl, sv, s2c), ("server", sv, cl, c2s)] {
                check!(
                    e.err.is_none(),
                    "{name} saw {:?} in a graceful close",
                    e.err
                );
                check!(
                    e.eof,
                    "{name} never read {}",
                    if messages {
                        "Disconnected"
                    } else {
                        "end-of-stream"
                    }
                );
                check!(
                    e.got_all(want.0, want.1),
                    "{name} got {} of {} bytes ({} of {} messages)",
                    e.got.len(),
                    want.0.len(),
                    e.got_msgs.len(),
                    want.1.len()
                );
                check!(
                    disconnect_ok(e, other),
                    "{name} read disconnect data {:?}, not the {} bytes sent",
                    e.peer_disconnect.as_ref().map(|r| r.as_ref().map(Vec::len)),
                    other.disconnect.len()
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
                "the peer read {}, but the closer reset",
                if messages {
                    "Disconnected"
                } else {
                    "end-of-stream"
                }
            );
            check!(
                closer.close_result == Some(Ok(())),
                "the closer's close returned {:?}",
                closer.close_result
            );
            if sc.close == CloseMode::Abort {
                check!(
                    closer.got.len() >= sc.abort_after.min(peer_out.0.len()),
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
                    peer.got_all(closer_out.0, closer_out.1) && peer.eof,
                    "lingering close succeeded but the peer got {} of {} bytes (eof={})",
                    peer.got.len(),
                    closer_out.0.len(),
                    peer.eof
                );
                check!(
                    disconnect_ok(peer, closer),
                    "lingering close succeeded but the peer read disconnect data {:?}, not the {} bytes sent",
                    peer.peer_disconnect.as_ref().map(|r| r.as_ref().map(Vec::len)),
                    closer.disconnect.len()
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
                closer.got_all(peer_out.0, peer_out.1) || closer.err.is_some() || !ok,
                "the lingering closer read {} of {} bytes",
                closer.got.len(),
                peer_out.0.len()
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
        for mode in CloseMode::ALL {
            for who in [Who::Client, Who::Server] {
                assert!(
                    scs.iter().any(|s| s.close == mode && s.who == who),
                    "{mode:?} {who:?}"
                );
            }
        }
        assert!(scs.iter().any(|s| s.faults.partition_ms.is_some()));
        for mode in CloseMode::ALL {
            assert!(
                scs.iter()
                    .any(|s| s.close == mode && s.mode == DataMode::Messages),
                "{mode:?} in message mode"
            );
        }
    }

    #[test]
    fn message_sizes_cover_the_input_and_the_edge_sizes() {
        let mut seen_empty = false;
        let mut seen_max = false;
        for salt in 0..200 {
            let v = message_sizes(100_000, 65_536, salt);
            assert_eq!(v.iter().sum::<usize>(), 100_000);
            assert!(v.iter().all(|&n| n <= 65_536));
            seen_empty |= v.contains(&0);
            seen_max |= v.contains(&65_536);
        }
        assert!(seen_empty && seen_max);
        assert!(message_sizes(0, 10, 1).iter().all(|&n| n == 0));
    }

    #[test]
    fn message_mode_seeds_pass() {
        let seeds: Vec<u64> = (1..400)
            .filter(|&s| Scenario::from_seed(s).mode == DataMode::Messages)
            .take(12)
            .collect();
        for seed in seeds {
            let sc = Scenario::from_seed(seed);
            let out = run(&sc, None);
            assert!(out.ok, "seed {seed} ({:?}): {:?}", sc.close, out.failure);
        }
    }
}
