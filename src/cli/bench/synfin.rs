//! The workloads on synfin: two `Stack`s in one thread, joined by a direct
//! hand-off — one stack writes a packet into a buffer with `poll_transmit`,
//! the other reads it from the same buffer with `handle_packet`. No queue,
//! no copy, no simulator: what a synfin user driving a device would pay.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use synfin::stack::{Error, SocketHandle, Stack, StackConfig};
use synfin::tcp::{State, TcpConfig};
use synfin::time::Instant;

use super::clock::{Clock, Mode};
use super::driver::{self, BulkEnds, Counts, Pumped, Run};
use super::report::Memory;

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// Two stacks and the buffer a packet crosses in.
pub struct Pair {
    pub client: Stack,
    pub server: Stack,
    pub clock: Clock,
    /// The time of the last pump (or jump), which the application's calls
    /// between pumps are given, as an event loop passes the time it read
    /// once per turn; smoltcp's socket calls take no time at all, so reading
    /// the clock for each of synfin's would charge it for the harness.
    at: Instant,
    pkt: Vec<u8>,
    /// Packets client → server.
    pub c2s: u64,
    /// Packets server → client.
    pub s2c: u64,
}

impl Pair {
    /// A client at 198.18.0.1 and a server at 198.18.0.2 with `cfg`.
    pub fn new(cfg: StackConfig, mtu: usize, mode: Mode) -> Pair {
        let mut client = Stack::new(cfg.clone(), 1);
        client.add_address(IpAddr::V4(CLIENT));
        let mut server = Stack::new(cfg, 2);
        server.add_address(IpAddr::V4(SERVER));
        let clock = Clock::new(mode);
        Pair {
            client,
            server,
            at: Instant::from_micros(clock.now()),
            clock,
            pkt: vec![0; mtu],
            c2s: 0,
            s2c: 0,
        }
    }

    /// Now, as the application sees it: the time of the last pump.
    #[inline]
    pub fn now(&self) -> Instant {
        self.at
    }

    /// Reads the clock: the time of this pump.
    #[inline]
    fn tick(&mut self) -> Instant {
        self.at = Instant::from_micros(self.clock.now());
        self.at
    }

    /// Pumps until `done` holds, jumping to timers when idle.
    pub fn until(&mut self, what: &str, done: impl FnMut(&mut Pair) -> bool) -> Result<(), String> {
        driver::until(self, what, done)
    }
}

impl Pumped for Pair {
    /// Moves every packet both stacks have to send, runs due timers, and
    /// returns whether anything moved.
    fn pump(&mut self) -> bool {
        let now = self.tick();
        let mut moved = false;
        loop {
            let mut any = false;
            while let Some(n) = self.client.poll_transmit(now, &mut self.pkt) {
                self.server.handle_packet(now, &self.pkt[..n]);
                self.c2s += 1;
                any = true;
            }
            while let Some(n) = self.server.poll_transmit(now, &mut self.pkt) {
                self.client.handle_packet(now, &self.pkt[..n]);
                self.s2c += 1;
                any = true;
            }
            if !any {
                break;
            }
            moved = true;
        }
        for st in [&mut self.client, &mut self.server] {
            if st.poll_timeout().is_some_and(|t| t <= now) {
                st.handle_timeout(now);
            }
            // An application drains its events; so does the benchmark.
            while st.poll_event().is_some() {}
        }
        moved
    }

    /// Both stacks are idle: jump to the earlier timer.
    fn wait(&mut self) -> Result<(), String> {
        let t = Instant::earliest([self.client.poll_timeout(), self.server.poll_timeout()])
            .ok_or("both stacks idle with no timer pending")?;
        self.clock.jump_to(t.total_micros());
        self.tick();
        Ok(())
    }

    fn counts(&self) -> Counts {
        Counts {
            c2s: self.c2s,
            s2c: self.s2c,
            jumps: self.clock.jumps,
        }
    }
}

fn server_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(SERVER), 80)
}

fn stuck(what: &str, e: Error) -> String {
    format!("{what}: {e}")
}

/// One connection, established: (pair, client handle, server handle).
fn establish(
    cfg: StackConfig,
    mtu: usize,
    mode: Mode,
) -> Result<(Pair, SocketHandle, SocketHandle), String> {
    let mut p = Pair::new(cfg, mtu, mode);
    let l = p
        .server
        .listen(server_addr(), 16)
        .map_err(|e| stuck("listen", e))?;
    let now = p.now();
    let c = p
        .client
        .connect(now, server_addr())
        .map_err(|e| stuck("connect", e))?;
    let mut s = None;
    p.until("handshake", |p| {
        if s.is_none() {
            s = p.server.accept(l).ok().map(|(h, _)| h);
        }
        s.is_some() && p.client.state(c) == Ok(State::Established)
    })?;
    let s = s.ok_or("no connection accepted")?;
    Ok((p, c, s))
}

/// Bulk: `bytes` from client to server over one connection at IP MTU `mtu`,
/// with `buffer`-byte send and receive queues; the receiver reads into an
/// application buffer.
pub fn bulk(mtu: usize, bytes: u64, buffer: usize, mode: Mode) -> Result<Run, String> {
    let cfg = StackConfig {
        tcp: TcpConfig {
            send_buffer: buffer,
            recv_buffer: buffer,
            // The same buffers as smoltcp's, fixed: auto-tuning would grow
            // them (to 4 MiB and 2 MiB by default) in a run without loss,
            // and the stack with the larger working set pays in cache.
            send_buffer_max: buffer,
            recv_buffer_max: buffer,
            mtu,
            ..TcpConfig::default()
        },
        ..StackConfig::default()
    };
    let (p, c, s) = establish(cfg, mtu, mode)?;
    driver::bulk(&mut driver::Conn { p, c, s }, "synfin", mtu, bytes)
}

impl BulkEnds for driver::Conn<Pair, SocketHandle> {
    fn send(&mut self, data: &[u8]) -> Result<usize, String> {
        let now = self.p.now();
        match self.p.client.send(now, self.c, data) {
            Ok(k) => Ok(k),
            Err(Error::WouldBlock) => Ok(0),
            Err(e) => Err(stuck("send", e)),
        }
    }
    fn recv(&mut self, buf: &mut [u8]) -> Result<usize, String> {
        let now = self.p.now();
        match self.p.server.recv(now, self.s, buf) {
            Ok(0) => Err("unexpected end of stream".into()),
            Ok(n) => Ok(n),
            Err(Error::WouldBlock) => Ok(0),
            Err(e) => Err(stuck("recv", e)),
        }
    }
}

/// The stack configuration of the lifecycle and memory runs: defaults,
/// with the whole unprivileged port range for ephemeral ports.
fn lifecycle_config() -> StackConfig {
    StackConfig {
        ephemeral_ports: (1024, 65535),
        ..StackConfig::default()
    }
}

/// Client addresses enough for `n` connections to one server port.
fn client_addrs(p: &mut Pair, n: u64) -> Vec<IpAddr> {
    let k = n.div_ceil(60_000).max(1);
    let mut v = vec![IpAddr::V4(CLIENT)];
    for i in 1..k {
        let ip = IpAddr::V4(Ipv4Addr::new(
            198,
            18,
            1 + (i / 250) as u8,
            (i % 250) as u8 + 1,
        ));
        p.client.add_address(ip);
        v.push(ip);
    }
    v
}

/// Opens a connection from `ip`, an ephemeral port.
fn connect_from(p: &mut Pair, ip: IpAddr) -> Result<SocketHandle, String> {
    let now = p.now();
    if ip == IpAddr::V4(CLIENT) {
        return p
            .client
            .connect(now, server_addr())
            .map_err(|e| stuck("connect", e));
    }
    let h = p.client.socket();
    p.client
        .bind(h, SocketAddr::new(ip, 0))
        .map_err(|e| stuck("bind", e))?;
    p.client
        .connect_from(now, h, server_addr())
        .map_err(|e| stuck("connect", e))?;
    Ok(h)
}

/// Lifecycles: `n` × (connect, `len` bytes each way, client closes, server
/// closes), each counted when the client enters TIME-WAIT.
pub fn lifecycles(n: u64, len: usize, mode: Mode) -> Result<Run, String> {
    let mut p = Pair::new(lifecycle_config(), 1500, mode);
    let c2s_before = p.c2s;
    let secs = lifecycles_on(&mut p, n, len)?;
    let segments = p.c2s - c2s_before;
    eprintln!(
        "bench-detail: stack=synfin workload=lifecycles n={n} segments={segments} timer_jumps={}",
        p.clock.jumps
    );
    Ok(Run { secs })
}

/// Queues all of `data` on `h` (it fits: `len` is at most
/// [`super::MAX_LIFECYCLE_BYTES`]).
fn send_all(st: &mut Stack, now: Instant, h: SocketHandle, data: &[u8]) -> Result<(), String> {
    match st.send(now, h, data) {
        Ok(k) if k == data.len() => Ok(()),
        Ok(k) => Err(format!("send: {k} of {} bytes queued", data.len())),
        Err(e) => Err(stuck("send", e)),
    }
}

/// Reads what has come on `h` into `buf[*got..]`; whether all of `buf` has.
fn gathered(
    st: &mut Stack,
    now: Instant,
    h: SocketHandle,
    buf: &mut [u8],
    got: &mut usize,
) -> bool {
    if let Ok(k) = st.recv(now, h, &mut buf[*got..]) {
        *got += k;
    }
    *got == buf.len()
}

/// The lifecycle loop on a fresh pair (`len` bytes each way); returns the
/// seconds it took.
fn lifecycles_on(p: &mut Pair, n: u64, len: usize) -> Result<f64, String> {
    let ips = client_addrs(p, n);
    let l = p
        .server
        .listen(server_addr(), 128)
        .map_err(|e| stuck("listen", e))?;
    let cap = p.client.config().max_time_wait;
    let (request, response) = (vec![b'q'; len], vec![b'r'; len]);
    let mut b = vec![0u8; len];
    let start = std::time::Instant::now();
    for i in 0..n {
        let c = connect_from(p, ips[(i / 60_000) as usize])?;
        let mut s = None;
        p.until("accept", |p| {
            s = p.server.accept(l).ok().map(|(h, _)| h);
            s.is_some()
        })?;
        let s = s.ok_or("no connection")?;
        let now = p.now();
        send_all(&mut p.client, now, c, &request)?;
        let mut got = 0;
        p.until("request", |p| {
            let now = p.now();
            gathered(&mut p.server, now, s, &mut b, &mut got)
        })?;
        let now = p.now();
        send_all(&mut p.server, now, s, &response)?;
        let mut got = 0;
        p.until("response", |p| {
            let now = p.now();
            gathered(&mut p.client, now, c, &mut b, &mut got)
        })?;
        let now = p.now();
        p.client.close(now, c).map_err(|e| stuck("close", e))?;
        p.until("end of stream", |p| {
            let now = p.now();
            p.server.recv(now, s, &mut b) == Ok(0)
        })?;
        let now = p.now();
        p.server.close(now, s).map_err(|e| stuck("close", e))?;
        let tw = p.client.time_wait_count();
        // At the table's cap the oldest record makes room, so the count
        // stops growing.
        p.until("TIME-WAIT", |p| {
            let k = p.client.time_wait_count();
            k > tw || (k == cap && p.client.socket_count() == 0)
        })?;
    }
    let secs = start.elapsed().as_secs_f64();
    // Let the server's last connection finish.
    p.until("last close", |p| p.server.socket_count() == 1)?;
    if p.client.socket_count() != 0 {
        return Err(format!(
            "{} client sockets left after {n} lifecycles",
            p.client.socket_count()
        ));
    }
    Ok(secs)
}

/// Lifecycles `k` at a time, in lockstep: `k` connects, then the `k`
/// requests, the `k` responses, the `k` client closes, the `k` server
/// closes, each batch counted once its clients are all in TIME-WAIT. Every
/// step runs the same code for `k` connections back to back, where the
/// one-at-a-time loop ([`lifecycles`]) runs each step's code once before
/// moving on: the difference is what fetching that code costs
/// (docs/PERFORMANCE.md, stop 30).
pub fn lifecycles_batched(n: u64, len: usize, k: usize, mode: Mode) -> Result<Run, String> {
    let mut p = Pair::new(lifecycle_config(), 1500, mode);
    let ips = client_addrs(&mut p, n);
    let l = p
        .server
        .listen(server_addr(), k.max(128))
        .map_err(|e| stuck("listen", e))?;
    // From then on a TIME-WAIT record may expire mid-batch.
    let expiry_from = p.clock.now() + p.client.config().tcp.time_wait().as_micros() as u64;
    let (request, response) = (vec![b'q'; len], vec![b'r'; len]);
    let mut b = vec![0u8; len];
    // Reused from batch to batch, so the loop allocates nothing.
    let (mut cs, mut ss) = (Vec::with_capacity(k), Vec::with_capacity(k));
    let mut got = vec![0usize; k];
    let c2s_before = p.c2s;
    let start = std::time::Instant::now();
    for (done, m) in driver::batches(n, k) {
        cs.clear();
        ss.clear();
        for j in 0..m as u64 {
            cs.push(connect_from(&mut p, ips[((done + j) / 60_000) as usize])?);
        }
        p.until("accept", |p| {
            while let Ok((h, _)) = p.server.accept(l) {
                ss.push(h);
            }
            ss.len() >= m
        })?;
        if ss.len() != m {
            return Err(format!("accepted {} connections of {m}", ss.len()));
        }
        let now = p.now();
        for &c in &cs {
            send_all(&mut p.client, now, c, &request)?;
        }
        all_gathered(&mut p, "request", Side::Server, &ss, &mut b, &mut got[..m])?;
        let now = p.now();
        for &s in &ss {
            send_all(&mut p.server, now, s, &response)?;
        }
        all_gathered(&mut p, "response", Side::Client, &cs, &mut b, &mut got[..m])?;
        let now = p.now();
        for &c in &cs {
            p.client.close(now, c).map_err(|e| stuck("close", e))?;
        }
        // `got[j]` now counts the ends of stream seen: 0 or 1.
        got[..m].fill(0);
        p.until("end of stream", |p| {
            let now = p.now();
            let mut all = true;
            for (g, &s) in got.iter_mut().zip(&ss) {
                if *g == 0 && p.server.recv(now, s, &mut b) == Ok(0) {
                    *g = 1;
                }
                all &= *g == 1;
            }
            all
        })?;
        let now = p.now();
        for &s in &ss {
            p.server.close(now, s).map_err(|e| stuck("close", e))?;
        }
        let (tw, evicted) = (
            p.client.time_wait_count(),
            p.client.stats().time_wait_evicted,
        );
        p.until("TIME-WAIT", |p| p.client.socket_count() == 0)?;
        // Every client must have left through TIME-WAIT (not by a reset):
        // the table's count, plus what its cap evicted to make room, grew
        // by the batch. Records expire only 2×MSL after they went in, so
        // until then the count is exact.
        let evicted = (p.client.stats().time_wait_evicted - evicted) as usize;
        let entered = (p.client.time_wait_count() + evicted).saturating_sub(tw);
        if entered < m && p.clock.now() < expiry_from {
            return Err(format!("{entered} of {m} clients entered TIME-WAIT"));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    p.until("last close", |p| p.server.socket_count() == 1)?;
    eprintln!(
        "bench-detail: stack=synfin workload=lifecycles n={n} batch={k} segments={} timer_jumps={}",
        p.c2s - c2s_before,
        p.clock.jumps
    );
    Ok(Run { secs })
}

/// Which stack of the pair an application end lives on.
#[derive(Clone, Copy)]
enum Side {
    Client,
    Server,
}

/// Pumps until each of `hs` (on `side`) has read `buf.len()` bytes, counted
/// in `got` (zeroed here).
fn all_gathered(
    p: &mut Pair,
    what: &str,
    side: Side,
    hs: &[SocketHandle],
    buf: &mut [u8],
    got: &mut [usize],
) -> Result<(), String> {
    got.fill(0);
    p.until(what, |p| {
        let now = p.now();
        let st = match side {
            Side::Client => &mut p.client,
            Side::Server => &mut p.server,
        };
        let mut all = true;
        for (g, &h) in got.iter_mut().zip(hs) {
            all &= *g == buf.len() || gathered(st, now, h, buf, g);
        }
        all
    })
}

/// Establishes `n` idle connections on `p` (listener backlog `n`, in
/// batches) and returns the server's handles.
pub fn open_idle(p: &mut Pair, n: u64) -> Result<Vec<SocketHandle>, String> {
    let ips = client_addrs(p, n);
    let l = p
        .server
        .listen(server_addr(), n as usize)
        .map_err(|e| stuck("listen", e))?;
    let mut accepted = Vec::with_capacity(n as usize);
    let mut opened = 0u64;
    while opened < n {
        let batch = (n - opened).min(1024);
        for _ in 0..batch {
            connect_from(p, ips[(opened / 60_000) as usize])?;
            opened += 1;
        }
        p.until("handshakes", |p| {
            while let Ok((h, _)) = p.server.accept(l) {
                accepted.push(h);
            }
            accepted.len() as u64 == opened
        })?;
        if opened % (64 * 1024) < 1024 && n >= 100_000 {
            eprintln!("bench: {opened}/{n} connections open");
        }
    }
    // Let delayed ACKs and the like fire: the connections are idle.
    let t = p.clock.now() + 2_000_000;
    p.clock.jump_to(t);
    p.pump();
    Ok(accepted)
}

/// Bytes per idle established connection (server side, from the stack's
/// accounting of allocated capacity), and per TIME-WAIT record (client side
/// after `lifecycles` lifecycles).
pub fn memory(idle: u64, lifecycles: u64) -> Result<Memory, String> {
    let mut p = Pair::new(lifecycle_config(), 1500, Mode::Virtual);
    let base = p.server.memory_usage();
    let handles = open_idle(&mut p, idle)?;
    for &h in &handles {
        if p.server.state(h) != Ok(State::Established) {
            return Err("an idle connection is not established".into());
        }
    }
    let m = p.server.memory_usage();
    let per = |a: usize, b: usize| (a - b) as f64 / idle as f64;
    let total = |m: &synfin::stack::MemoryUsage| m.without_buffers() + m.buffers;
    let idle_without_buffers = per(m.without_buffers(), base.without_buffers());
    let idle_with_buffers = per(total(&m), total(&base));

    let mut q = Pair::new(lifecycle_config(), 1500, Mode::Virtual);
    lifecycles_on(&mut q, lifecycles, 1)?;
    let tw = q.client.time_wait_table();
    let time_wait_record = tw.heap_bytes() as f64 / tw.len().max(1) as f64;
    Ok(Memory {
        idle_without_buffers,
        idle_with_buffers,
        time_wait_record,
    })
}
