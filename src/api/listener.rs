//! `TcpListener`: a listening socket with a SYN queue and an accept queue
//! bounded by the backlog, used like `std::net::TcpListener`.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use super::call::{self, Sock};
use super::events::AsSocket;
use super::{Node, TcpStream};
use crate::stack::{Error, NetEvents, NetworkEvents, SocketHandle};

/// The backlog [`TcpListener::bind`] uses (Linux's historical `SOMAXCONN`);
/// [`super::TcpSocket::listen`] takes another.
pub const DEFAULT_BACKLOG: usize = 128;

/// A listening socket on a synfin stack.
///
/// Connections complete the handshake without the application: they wait
/// in the accept queue (at most the backlog; more SYNs are dropped and the
/// clients retry), with whatever data and FIN they brought, until
/// [`TcpListener::accept`]. Dropping or closing the listener resets every
/// connection it has not handed out.
///
/// ```
/// use synfin::api::{Runtime, TcpListener, TcpStream};
/// use synfin::links::LinkModel;
///
/// let ips = ["198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap()];
/// let (_rt, nodes) = Runtime::simulated(1, LinkModel::default(), &ips);
/// let listener = TcpListener::bind(&nodes[1], "198.18.0.2:80").unwrap();
/// let client = TcpStream::connect(&nodes[0], "198.18.0.2:80").unwrap();
/// let (server, peer) = listener.accept().unwrap();
/// assert_eq!(peer, client.local_addr().unwrap());
/// # drop(server);
/// ```
#[derive(Debug)]
pub struct TcpListener {
    pub(crate) sock: Sock,
}

impl TcpListener {
    /// Listens on `addr` of `node`'s stack with [`DEFAULT_BACKLOG`].
    pub fn bind(node: &Node, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let mut last = None;
        for a in call::addrs(addr)? {
            match node.with(|s, _| s.listen(a, DEFAULT_BACKLOG)) {
                Ok(h) => return Ok(TcpListener::from_handle(node, h)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(Error::InvalidInput).into())
    }

    /// A listener for a listening handle of `node`'s stack; it owns the
    /// handle from now on.
    pub fn from_handle(node: &Node, handle: SocketHandle) -> TcpListener {
        TcpListener {
            sock: Sock::new(node.clone(), handle),
        }
    }

    /// Takes the oldest connection from the accept queue, waiting for one
    /// unless the listener is non-blocking (`WouldBlock` then).
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (h, peer) = self.sock.call(false, |s, _, l| s.accept(l))?;
        Ok((TcpStream::from_handle(&self.sock.node, h), peer))
    }

    /// An iterator of accepted connections (`accept` in a loop).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address listened on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.sock.with(|s, _, h| s.local_addr(h))?)
    }

    /// Makes `accept` return `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.sock.update(|st| st.nonblocking = nonblocking);
        Ok(())
    }

    /// Bounds how long `accept` waits (`None`: forever); an expired accept
    /// returns `WouldBlock`.
    pub fn set_accept_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        call::check_timeout(timeout)?;
        self.sock.update(|st| st.read_timeout = timeout);
        Ok(())
    }

    /// Closes the listener now; connections not yet accepted are reset.
    pub fn close(&mut self) -> io::Result<()> {
        self.sock.close()
    }

    /// `WSAEventSelect` for the listener (ACCEPT); accepted connections
    /// inherit the selection.
    pub fn select_events(&self, mask: NetEvents) -> io::Result<()> {
        self.sock.select_events(mask)
    }

    /// What was recorded since the last call.
    pub fn take_network_events(&self) -> io::Result<NetworkEvents> {
        self.sock.take_network_events()
    }

    /// Waits until a selected event is recorded (or `timeout` passes: an
    /// empty set) and takes what was recorded.
    pub fn wait_network_events(&self, timeout: Option<Duration>) -> io::Result<NetworkEvents> {
        self.sock.wait_network_events(timeout)
    }
}

impl AsSocket for TcpListener {
    fn node(&self) -> &Node {
        &self.sock.node
    }
    fn socket_handle(&self) -> SocketHandle {
        self.sock.handle
    }
}

/// Accepted connections, one per `next`; see [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<Self::Item> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}
