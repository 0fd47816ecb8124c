//! smoltcp 0.14 as one end of a `synfin goodput` transfer (feature
//! `bench-smoltcp`): an IP-medium interface whose device queues are filled
//! and emptied by the simulator, one TCP socket.
//!
//! Configuration, as `synfin bench` does it: checksums computed and
//! verified, Nagle and the delayed ACK as shipped, no timestamps (smoltcp
//! sends them only with a generator set), the congestion controller chosen
//! by [`Kind`]: `None` is what the crate's default features give
//! (`AnyController::new()` without the `socket-tcp-cubic`/`-reno`
//! features), Cubic and Reno are its optional controllers.

use std::collections::VecDeque;
use std::net::IpAddr;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

use synfin::time::Instant;

use super::endpoint::Kind;

fn at(now: Instant) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(now.total_micros() as i64)
}

#[derive(Default)]
struct Queues {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        self.0.push_back(buf);
        r
    }
}

impl Device for Queues {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(Rx, Tx<'_>)> {
        let p = self.rx.pop_front()?;
        Some((Rx(p), Tx(&mut self.tx)))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = 1500;
        c.checksum = ChecksumCapabilities::default();
        c
    }
}

/// One smoltcp host with one TCP socket.
pub struct SmolHost {
    iface: Interface,
    dev: Queues,
    sockets: SocketSet<'static>,
    sock: SocketHandle,
    /// The interface's `poll_at` after the last poll.
    deadline: Option<Instant>,
    last: Instant,
}

impl SmolHost {
    /// A host at `ip` (IPv4) with a socket of `buffer` bytes each way.
    pub fn new(kind: Kind, ip: IpAddr, buffer: usize, seed: u64) -> Result<SmolHost, String> {
        let IpAddr::V4(v4) = ip else {
            return Err("the smoltcp end is IPv4 only".into());
        };
        let mut dev = Queues::default();
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut dev, at(Instant::ZERO));
        iface.update_ip_addrs(|a| {
            // Capacity is a compile-time constant well above one.
            let _ = a.push(IpCidr::new(IpAddress::Ipv4(v4), 24));
        });
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; buffer]),
            tcp::SocketBuffer::new(vec![0; buffer]),
        );
        s.set_congestion_control(match kind {
            Kind::SmoltcpCubic => tcp::CongestionControl::Cubic,
            Kind::SmoltcpReno => tcp::CongestionControl::Reno,
            _ => tcp::CongestionControl::None,
        });
        let mut sockets = SocketSet::new(Vec::new());
        let sock = sockets.add(s);
        Ok(SmolHost {
            iface,
            dev,
            sockets,
            sock,
            deadline: None,
            last: Instant::ZERO,
        })
    }

    fn socket(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(self.sock)
    }

    /// Listens on `port`.
    pub fn listen(&mut self, port: u16) -> Result<(), String> {
        self.socket()
            .listen(port)
            .map_err(|e| format!("smoltcp listen: {e}"))
    }

    /// Connects to `to` from port 49152.
    pub fn connect(&mut self, to: std::net::SocketAddr) -> Result<(), String> {
        let IpAddr::V4(v4) = to.ip() else {
            return Err("the smoltcp end is IPv4 only".into());
        };
        let cx = self.iface.context();
        self.sockets
            .get_mut::<tcp::Socket>(self.sock)
            .connect(cx, (IpAddress::Ipv4(v4), to.port()), 49152)
            .map_err(|e| format!("smoltcp connect: {e}"))
    }

    /// Whether the socket is established.
    pub fn established(&mut self) -> bool {
        self.socket().state() == tcp::State::Established
    }

    /// Queues as much of `chunk` (over and over) as the buffer takes.
    pub fn fill(&mut self, chunk: &[u8]) -> Result<(), String> {
        loop {
            match self.socket().send_slice(chunk) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(format!("smoltcp send: {e}")),
            }
        }
    }

    /// Reads everything that has arrived.
    pub fn drain(&mut self, buf: &mut [u8]) -> Result<u64, String> {
        let mut got = 0u64;
        loop {
            match self.socket().recv_slice(buf) {
                Ok(0) => return Ok(got),
                Ok(n) => got += n as u64,
                Err(e) => return Err(format!("smoltcp recv: {e}")),
            }
        }
    }

    fn poll(&mut self, now: Instant) {
        self.last = now;
        self.iface.poll(at(now), &mut self.dev, &mut self.sockets);
        self.deadline = self
            .iface
            .poll_at(at(now), &self.sockets)
            .map(|t| Instant::from_micros(t.total_micros().max(0) as u64));
    }

    /// [`Host::receive`](synfin::links::Host::receive): queued for the next
    /// poll.
    pub fn receive(&mut self, _now: Instant, packet: &[u8]) {
        self.dev.rx.push_back(packet.to_vec());
    }

    /// [`Host::transmit`](synfin::links::Host::transmit): polls when
    /// nothing is queued, then hands out one packet.
    pub fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if self.dev.tx.is_empty() {
            self.poll(now);
        }
        let p = self.dev.tx.pop_front()?;
        let n = p.len();
        // Too large for `buf`: the length alone makes the network count it
        // as dropped.
        if let Some(b) = buf.get_mut(..n) {
            b.copy_from_slice(&p);
        }
        Some(n)
    }

    /// [`Host::poll_timeout`](synfin::links::Host::poll_timeout): at once
    /// with packets waiting, else the interface's `poll_at`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.dev.rx.is_empty() || !self.dev.tx.is_empty() {
            return Some(self.last);
        }
        self.deadline
    }

    /// [`Host::handle_timeout`](synfin::links::Host::handle_timeout).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.poll(now);
    }
}
