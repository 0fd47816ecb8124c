//! Shared scaffolding for scenario tests: two stacks on a simulated link.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use synfin::links::{HostId, LinkModel, Network};
use synfin::stack::{Error, SocketHandle, Stack, StackConfig};
use synfin::tcp::{LossStats, State};
use synfin::time::Instant;

pub const CLIENT_IP: &str = "198.18.0.1";
pub const SERVER_IP: &str = "198.18.0.2";
pub const PORT: u16 = 8080;

pub struct Pair {
    pub net: Network<Stack>,
    pub client: HostId,
    pub server: HostId,
}

impl Pair {
    pub fn new(seed: u64, model: LinkModel) -> Pair {
        Pair::with_config(seed, model, StackConfig::default())
    }

    pub fn with_config(seed: u64, model: LinkModel, cfg: StackConfig) -> Pair {
        let mut net = Network::new(seed);
        let c_ip: IpAddr = CLIENT_IP.parse().unwrap();
        let s_ip: IpAddr = SERVER_IP.parse().unwrap();
        let mut c = Stack::new(cfg.clone(), seed ^ 0x1111);
        c.add_address(c_ip);
        c.record_transitions(true);
        let mut s = Stack::new(cfg, seed ^ 0x2222);
        s.add_address(s_ip);
        s.record_transitions(true);
        let client = net.add_host(&[c_ip], c);
        let server = net.add_host(&[s_ip], s);
        net.link(client, server, model);
        Pair {
            net,
            client,
            server,
        }
    }

    pub fn server_addr() -> SocketAddr {
        SocketAddr::new(SERVER_IP.parse().unwrap(), PORT)
    }

    pub fn now(&self) -> Instant {
        self.net.now()
    }

    pub fn c(&mut self) -> &mut Stack {
        self.net.host_mut(self.client)
    }

    pub fn s(&mut self) -> &mut Stack {
        self.net.host_mut(self.server)
    }

    pub fn run_for(&mut self, d: Duration) {
        self.net.run_for(d);
    }

    /// Runs until `cond` holds, or fails the test after `limit` of virtual time.
    pub fn run_until(&mut self, limit: Duration, mut cond: impl FnMut(&mut Pair) -> bool) {
        let deadline = self.now() + limit;
        loop {
            if cond(self) {
                return;
            }
            if self.now() >= deadline {
                panic!("condition not reached within {limit:?}");
            }
            let step_to = (self.now() + Duration::from_millis(1)).min(deadline);
            self.net.run_until(step_to);
        }
    }

    /// Listener on the server, connect from the client, run the handshake,
    /// accept. Returns (client socket, server socket, listener).
    pub fn establish(&mut self) -> (SocketHandle, SocketHandle, SocketHandle) {
        let l = self.s().listen(Pair::server_addr(), 16).unwrap();
        let (c, s) = self.connect_accept(l, Duration::from_secs(120));
        (c, s, l)
    }

    /// Connects from the client to the server's listener `l` and runs until
    /// the handshake is done on both ends and `l` accepts (within `limit`).
    /// Returns (client socket, server socket).
    pub fn connect_accept(
        &mut self,
        l: SocketHandle,
        limit: Duration,
    ) -> (SocketHandle, SocketHandle) {
        let now = self.now();
        let c = self.c().connect(now, Pair::server_addr()).unwrap();
        self.run_until(limit, |p| p.c().state(c) == Ok(State::Established));
        let mut accepted = None;
        self.run_until(limit, |p| {
            accepted = p.s().accept(l).ok();
            accepted.is_some()
        });
        (c, accepted.expect("the listener accepts the connection").0)
    }

    /// Reads everything available on `h` of `host` into `out`; returns
    /// Ok(true) at end-of-stream.
    pub fn drain(
        &mut self,
        server_side: bool,
        h: SocketHandle,
        out: &mut Vec<u8>,
    ) -> Result<bool, Error> {
        let now = self.now();
        let st = if server_side { self.s() } else { self.c() };
        let mut buf = [0u8; 4096];
        loop {
            match st.recv(now, h, &mut buf) {
                Ok(0) => return Ok(true),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(Error::WouldBlock) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends `data` from client `c` to server `s`, reading as it arrives,
    /// until everything is delivered and acknowledged (within `limit`);
    /// returns the client's loss-recovery counters.
    pub fn transfer(
        &mut self,
        c: SocketHandle,
        s: SocketHandle,
        data: &[u8],
        limit: Duration,
    ) -> LossStats {
        let mut sent = 0;
        let mut got = Vec::new();
        self.run_until(limit, |p| {
            let now = p.now();
            if sent < data.len() {
                sent += p.c().send(now, c, &data[sent..]).unwrap_or(0);
            }
            p.drain(true, s, &mut got).unwrap();
            got.len() == data.len() && p.c().send_queue_len(c) == Ok(0)
        });
        assert!(got == data, "the bytes arrive intact and in order");
        let st = self.c().connection(c).unwrap().loss_stats();
        eprintln!("{st:?} {:?}", self.net.stats());
        st
    }
}

pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// One TCP segment seen on the wire, decoded from the network trace.
#[derive(Clone, Debug)]
pub struct WireSeg {
    /// Sent by the client (true) or the server (false).
    pub from_client: bool,
    pub sent_at: Instant,
    pub delivered: bool,
    pub src: std::net::SocketAddr,
    pub dst: std::net::SocketAddr,
    pub flags: synfin::wire::TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub len: usize,
    pub window: u16,
    pub options: synfin::wire::TcpOptions,
    /// The ECN field of its IP header, as it arrived (after any CE mark).
    pub ecn: synfin::wire::Ecn,
}

impl WireSeg {
    /// Exactly these control bits (PSH ignored).
    pub fn is(&self, f: synfin::wire::TcpFlags) -> bool {
        synfin::wire::TcpFlags(self.flags.0 & !synfin::wire::TcpFlags::PSH.0) == f
    }
    pub fn has(&self, f: synfin::wire::TcpFlags) -> bool {
        self.flags.contains(f)
    }
}

impl Pair {
    /// The server listens on [`Pair::server_addr`] with `backlog`, and the
    /// client connects to it (nothing is run yet). Returns (listener, client).
    pub fn listen_connect(&mut self, backlog: usize) -> (SocketHandle, SocketHandle) {
        let l = self.s().listen(Pair::server_addr(), backlog).unwrap();
        let now = self.now();
        let c = self.c().connect(now, Pair::server_addr()).unwrap();
        (l, c)
    }

    /// Starts recording every packet on the link (call before the traffic).
    pub fn trace(&mut self) {
        self.net.enable_trace(true);
    }

    /// Decodes the packets recorded since the last call. Packets that do not
    /// parse (a corrupted one) are skipped.
    pub fn segments(&mut self) -> Vec<WireSeg> {
        let client = self.client;
        self.net
            .take_trace()
            .into_iter()
            .filter_map(|r| {
                let p = synfin::wire::parse_tcp_packet(&r.bytes).ok()?;
                Some(WireSeg {
                    from_client: r.from == client,
                    sent_at: r.sent_at,
                    delivered: r.arrives_at.is_some(),
                    src: std::net::SocketAddr::new(p.ip.src, p.tcp.src_port),
                    dst: std::net::SocketAddr::new(p.ip.dst, p.tcp.dst_port),
                    flags: p.tcp.flags,
                    seq: p.tcp.seq.0,
                    ack: p.tcp.ack.0,
                    len: p.tcp.payload.len(),
                    window: p.tcp.window,
                    options: p.tcp.options,
                    ecn: p.ip.ecn,
                })
            })
            .collect()
    }
}
