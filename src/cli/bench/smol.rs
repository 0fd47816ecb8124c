//! The same workloads on smoltcp 0.14 (feature `bench-smoltcp`), configured
//! as fairly as we know how: the same buffer sizes, checksums computed and
//! verified on both paths (`ChecksumCapabilities::default()`), Nagle and
//! the delayed ACK as shipped, and its congestion control as shipped (with
//! the crate's default features that is none: `AnyController::new()` picks
//! Cubic or Reno only when their cargo features are on).
//!
//! The link: each interface has a device whose transmit queue is moved,
//! buffer by buffer (no byte copied), into the other's receive queue after
//! it polls; packet buffers come from one shared pool, so the steady state
//! allocates nothing.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::{self, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

use super::clock::{Clock, Mode};
use super::driver::{self, BulkEnds, Counts, Pumped, Run};
use super::report::Memory;

const CLIENT: IpAddress = IpAddress::v4(198, 18, 0, 1);
const SERVER: IpAddress = IpAddress::v4(198, 18, 0, 2);

type Pool = Rc<RefCell<Vec<Vec<u8>>>>;

/// One end of the in-memory link.
struct Port {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
    pool: Pool,
    mtu: usize,
}

struct Rx<'a> {
    buf: Vec<u8>,
    pool: &'a Pool,
}

struct Tx<'a> {
    tx: &'a mut VecDeque<Vec<u8>>,
    pool: &'a Pool,
}

impl phy::RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.buf);
        self.pool.borrow_mut().push(self.buf);
        r
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = self.pool.borrow_mut().pop().unwrap_or_default();
        buf.resize(len, 0);
        let r = f(&mut buf);
        self.tx.push_back(buf);
        r
    }
}

impl Device for Port {
    type RxToken<'a> = Rx<'a>;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _: Instant) -> Option<(Rx<'_>, Tx<'_>)> {
        let buf = self.rx.pop_front()?;
        let Port { tx, pool, .. } = self;
        Some((Rx { buf, pool }, Tx { tx, pool }))
    }

    fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
        Some(Tx {
            tx: &mut self.tx,
            pool: &self.pool,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = self.mtu;
        c.checksum = ChecksumCapabilities::default();
        c
    }
}

/// One smoltcp host: interface, device, sockets.
struct Host {
    iface: Interface,
    dev: Port,
    sockets: SocketSet<'static>,
}

impl Host {
    fn new(addr: IpAddress, mtu: usize, pool: &Pool, seed: u64, now: Instant) -> Host {
        let mut dev = Port {
            rx: VecDeque::new(),
            tx: VecDeque::new(),
            pool: pool.clone(),
            mtu,
        };
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut dev, now);
        iface.update_ip_addrs(|a| {
            // Capacity is a compile-time constant well above one.
            let _ = a.push(IpCidr::new(addr, 24));
        });
        Host {
            iface,
            dev,
            sockets: SocketSet::new(Vec::new()),
        }
    }

    fn tcp(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }
}

fn socket(rx: usize, tx: usize) -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; rx]),
        tcp::SocketBuffer::new(vec![0; tx]),
    );
    // As shipped: the default features' `AnyController::new()` is no
    // congestion control. Cargo.toml compiles Cubic and Reno in for
    // `synfin goodput`, which would change that default, so say it.
    s.set_congestion_control(tcp::CongestionControl::None);
    s
}

struct Pair {
    client: Host,
    server: Host,
    clock: Clock,
    c2s: u64,
    /// Packets server → client.
    s2c: u64,
}

impl Pair {
    fn new(mtu: usize, mode: Mode) -> Pair {
        let clock = Clock::new(mode);
        let pool = Pool::default();
        let now = Instant::from_micros(clock.now() as i64);
        Pair {
            client: Host::new(CLIENT, mtu, &pool, 1, now),
            server: Host::new(SERVER, mtu, &pool, 2, now),
            clock,
            c2s: 0,
            s2c: 0,
        }
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.clock.now() as i64)
    }

    fn until(&mut self, what: &str, done: impl FnMut(&mut Pair) -> bool) -> Result<(), String> {
        driver::until(self, what, done).map_err(|e| format!("smoltcp {e}"))
    }
}

impl Pumped for Pair {
    /// Polls both interfaces, handing packets across, until nothing moves.
    fn pump(&mut self) -> bool {
        let now = self.now();
        let mut moved = false;
        loop {
            let c = &mut self.client;
            c.iface.poll(now, &mut c.dev, &mut c.sockets);
            let n = c.dev.tx.len();
            self.c2s += n as u64;
            self.server.dev.rx.extend(c.dev.tx.drain(..));
            let s = &mut self.server;
            s.iface.poll(now, &mut s.dev, &mut s.sockets);
            let m = s.dev.tx.len();
            self.s2c += m as u64;
            self.client.dev.rx.extend(s.dev.tx.drain(..));
            if n + m == 0 {
                break;
            }
            moved = true;
        }
        moved
    }

    fn wait(&mut self) -> Result<(), String> {
        let now = self.now();
        let a = self.client.iface.poll_at(now, &self.client.sockets);
        let b = self.server.iface.poll_at(now, &self.server.sockets);
        let t = match (a, b) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).ok_or("both interfaces idle with nothing pending")?,
        };
        self.clock.jump_to(t.total_micros().max(0) as u64);
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

/// Server socket `s` listens on port 80 and client socket `c` connects to
/// it from `port` (the handshake is left to the next polls).
fn begin(p: &mut Pair, s: SocketHandle, c: SocketHandle, port: u16) -> Result<(), String> {
    p.server
        .tcp(s)
        .listen(80)
        .map_err(|e| format!("smoltcp listen: {e}"))?;
    let cx = p.client.iface.context();
    p.client
        .sockets
        .get_mut::<tcp::Socket>(c)
        .connect(cx, (SERVER, 80), port)
        .map_err(|e| format!("smoltcp connect: {e}"))
}

/// [`begin`], then pumps until both ends are established.
fn open(p: &mut Pair, s: SocketHandle, c: SocketHandle, port: u16) -> Result<(), String> {
    begin(p, s, c, port)?;
    p.until("handshake", |p| {
        p.client.tcp(c).state() == tcp::State::Established
            && p.server.tcp(s).state() == tcp::State::Established
    })
}

/// Bulk on smoltcp, as [`super::synfin::bulk`].
pub fn bulk(mtu: usize, bytes: u64, buffer: usize, mode: Mode) -> Result<Run, String> {
    let mut p = Pair::new(mtu, mode);
    let s = p.server.sockets.add(socket(buffer, buffer));
    let c = p.client.sockets.add(socket(buffer, buffer));
    open(&mut p, s, c, 49152)?;
    driver::bulk(&mut driver::Conn { p, c, s }, "smoltcp", mtu, bytes)
}

impl BulkEnds for driver::Conn<Pair, SocketHandle> {
    fn send(&mut self, data: &[u8]) -> Result<usize, String> {
        self.p
            .client
            .tcp(self.c)
            .send_slice(data)
            .map_err(|e| format!("smoltcp send: {e}"))
    }
    fn recv(&mut self, buf: &mut [u8]) -> Result<usize, String> {
        self.p
            .server
            .tcp(self.s)
            .recv_slice(buf)
            .map_err(|e| format!("smoltcp recv: {e}"))
    }
}

/// Queues all of `data` on `t` (it fits: see [`super::MAX_LIFECYCLE_BYTES`]).
fn send_all(t: &mut tcp::Socket, data: &[u8]) -> Result<(), String> {
    match t.send_slice(data) {
        Ok(k) if k == data.len() => Ok(()),
        Ok(k) => Err(format!("smoltcp send: {k} of {} bytes queued", data.len())),
        Err(e) => Err(format!("smoltcp send: {e}")),
    }
}

/// Reads what has come on `t` into `b[*got..]`; whether all of `b` has.
fn gathered(t: &mut tcp::Socket, b: &mut [u8], got: &mut usize) -> bool {
    if let Ok(k) = t.recv_slice(&mut b[*got..]) {
        *got += k;
    }
    *got == b.len()
}

/// Whether every client socket of `cs` is in `client` and every server
/// socket of `ss` in `server`.
fn all_in(
    p: &mut Pair,
    cs: &[SocketHandle],
    client: tcp::State,
    ss: &[SocketHandle],
    server: tcp::State,
) -> bool {
    cs.iter().all(|&c| p.client.tcp(c).state() == client)
        && ss.iter().all(|&s| p.server.tcp(s).state() == server)
}

/// Lifecycles on smoltcp, as [`super::synfin::lifecycles`]. smoltcp has no
/// listen backlog and keeps TIME-WAIT inside the socket, so the idiomatic
/// loop reuses one listening socket and one client socket: the server
/// listens again once its side is closed, and the client's `connect` from
/// TIME-WAIT starts the next connection (from the next local port).
pub fn lifecycles(n: u64, len: usize, mode: Mode) -> Result<Run, String> {
    let buf = synfin::tcp::TcpConfig::default().send_buffer;
    let mut p = Pair::new(1500, mode);
    let s = p.server.sockets.add(socket(buf, buf));
    let c = p.client.sockets.add(socket(buf, buf));
    let (request, response) = (vec![b'q'; len], vec![b'r'; len]);
    let mut b = vec![0u8; len];
    let c2s_before = p.c2s;
    let start = std::time::Instant::now();
    for i in 0..n {
        open(&mut p, s, c, 1024 + (i % 64_000) as u16)?;
        send_all(p.client.tcp(c), &request)?;
        let mut got = 0;
        p.until("request", |p| gathered(p.server.tcp(s), &mut b, &mut got))?;
        send_all(p.server.tcp(s), &response)?;
        let mut got = 0;
        p.until("response", |p| gathered(p.client.tcp(c), &mut b, &mut got))?;
        p.client.tcp(c).close();
        p.until("end of stream", |p| {
            p.server.tcp(s).recv_slice(&mut b) == Err(tcp::RecvError::Finished)
        })?;
        p.server.tcp(s).close();
        p.until("TIME-WAIT", |p| {
            p.client.tcp(c).state() == tcp::State::TimeWait
                && p.server.tcp(s).state() == tcp::State::Closed
        })?;
    }
    let secs = start.elapsed().as_secs_f64();
    let segments = p.c2s - c2s_before;
    eprintln!(
        "bench-detail: stack=smoltcp workload=lifecycles n={n} segments={segments} timer_jumps={}",
        p.clock.jumps
    );
    Ok(Run { secs })
}

/// Lifecycles `k` at a time on smoltcp, as
/// [`super::synfin::lifecycles_batched`]. smoltcp takes `k` connections on
/// one port with `k` listening sockets (it has no backlog), so the loop
/// keeps `k` server and `k` client sockets and reuses them batch after
/// batch, as [`lifecycles`] reuses its two.
pub fn lifecycles_batched(n: u64, len: usize, k: usize, mode: Mode) -> Result<Run, String> {
    let buf = synfin::tcp::TcpConfig::default().send_buffer;
    let mut p = Pair::new(1500, mode);
    let ss: Vec<_> = (0..k)
        .map(|_| p.server.sockets.add(socket(buf, buf)))
        .collect();
    let cs: Vec<_> = (0..k)
        .map(|_| p.client.sockets.add(socket(buf, buf)))
        .collect();
    let (request, response) = (vec![b'q'; len], vec![b'r'; len]);
    let mut b = vec![0u8; len];
    let mut got = vec![0usize; k];
    let c2s_before = p.c2s;
    let start = std::time::Instant::now();
    for (done, m) in driver::batches(n, k) {
        let (ss, cs) = (&ss[..m], &cs[..m]);
        for (j, (&s, &c)) in ss.iter().zip(cs).enumerate() {
            begin(&mut p, s, c, 1024 + ((done + j as u64) % 64_000) as u16)?;
        }
        p.until("handshake", |p| {
            all_in(p, cs, tcp::State::Established, ss, tcp::State::Established)
        })?;
        for &c in cs {
            send_all(p.client.tcp(c), &request)?;
        }
        all_gathered(&mut p, "request", ss, true, &mut b, &mut got[..m])?;
        for &s in ss {
            send_all(p.server.tcp(s), &response)?;
        }
        all_gathered(&mut p, "response", cs, false, &mut b, &mut got[..m])?;
        for &c in cs {
            p.client.tcp(c).close();
        }
        p.until("end of stream", |p| {
            ss.iter()
                .all(|&s| p.server.tcp(s).recv_slice(&mut b) == Err(tcp::RecvError::Finished))
        })?;
        for &s in ss {
            p.server.tcp(s).close();
        }
        p.until("TIME-WAIT", |p| {
            all_in(p, cs, tcp::State::TimeWait, ss, tcp::State::Closed)
        })?;
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "bench-detail: stack=smoltcp workload=lifecycles n={n} batch={k} segments={} timer_jumps={}",
        p.c2s - c2s_before,
        p.clock.jumps
    );
    Ok(Run { secs })
}

/// Pumps until each of `hs` (server sockets if `server`, else client ones)
/// has read `buf.len()` bytes, counted in `got` (zeroed here).
fn all_gathered(
    p: &mut Pair,
    what: &str,
    hs: &[SocketHandle],
    server: bool,
    buf: &mut [u8],
    got: &mut [usize],
) -> Result<(), String> {
    got.fill(0);
    p.until(what, |p| {
        let host = if server { &mut p.server } else { &mut p.client };
        let mut all = true;
        for (g, &h) in got.iter_mut().zip(hs) {
            all &= *g == buf.len() || gathered(host.tcp(h), buf, g);
        }
        all
    })
}

/// smoltcp's memory: a socket is a `SocketStorage` slot plus the buffers the
/// application hands it, allocated up front; TIME-WAIT is the whole socket.
pub fn memory() -> Memory {
    let slot = std::mem::size_of::<SocketStorage<'static>>() as f64;
    let cfg = synfin::tcp::TcpConfig::default();
    Memory {
        idle_without_buffers: slot,
        idle_with_buffers: slot + (cfg.send_buffer + cfg.recv_buffer) as f64,
        time_wait_record: slot,
    }
}
