//! `TcpSocket`: a socket not yet connected or listening, for the options
//! that must be set first (buffer sizes shape the window scale in the SYN,
//! reuse-address decides whether `bind` succeeds) — tokio's `TcpSocket`.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use super::call::Sock;
use super::{Node, TcpListener, TcpStream};
use crate::stack::Error;

/// An unconnected socket of one node.
///
/// ```
/// use synfin::api::{Runtime, TcpSocket};
/// use synfin::links::LinkModel;
///
/// let ips = ["198.18.0.1".parse().unwrap()];
/// let (_rt, nodes) = Runtime::simulated(1, LinkModel::default(), &ips);
/// let socket = TcpSocket::new(&nodes[0]).unwrap();
/// socket.set_reuseaddr(true).unwrap();
/// socket.set_recv_buffer_size(1 << 20).unwrap();
/// socket.bind("198.18.0.1:8080".parse().unwrap()).unwrap();
/// let listener = socket.listen(4).unwrap(); // a backlog of 4
/// # drop(listener);
/// ```
#[derive(Debug)]
pub struct TcpSocket {
    pub(crate) sock: Sock,
}

impl TcpSocket {
    /// A new socket on `node`'s stack.
    pub fn new(node: &Node) -> io::Result<TcpSocket> {
        let h = node.with(|s, _| s.socket());
        Ok(TcpSocket {
            sock: Sock::new(node.clone(), h),
        })
    }

    /// `SO_REUSEADDR`.
    pub fn set_reuseaddr(&self, on: bool) -> io::Result<()> {
        Ok(self.sock.with(|s, _, h| s.set_reuse_address(h, on))?)
    }

    /// `SO_SNDBUF`.
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        self.sock.set_buffer_sizes(Some(size), None)
    }

    /// `SO_RCVBUF` (before connect or listen, so the window scale follows).
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        self.sock.set_buffer_sizes(None, Some(size))
    }

    /// `TCP_NODELAY`, inherited by the connection (and by connections a
    /// listener accepts).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.sock.set_nodelay(on)
    }

    /// `SO_KEEPALIVE`.
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        self.sock.set_keepalive(on)
    }

    /// ECN (RFC 3168) for this socket's handshake, over the stack's
    /// `TcpConfig::ecn`: [`EcnMode::On`](crate::tcp::EcnMode::On) before
    /// `connect` asks for it ([`Stack::set_ecn`](crate::stack::Stack::set_ecn)).
    pub fn set_ecn(&self, mode: crate::tcp::EcnMode) -> io::Result<()> {
        Ok(self.sock.with(|s, _, h| s.set_ecn(h, mode))?)
    }

    /// `TCP_USER_TIMEOUT` (RFC 5482): how long sent data may stay
    /// unacknowledged before the connection is aborted with `TimedOut`;
    /// `None` turns it off. Inherited by the connection (and by connections
    /// a listener accepts); see [`crate::stack::Stack::set_user_timeout`].
    pub fn set_user_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_user_timeout(timeout)
    }

    /// The user timeout in effect.
    pub fn user_timeout(&self) -> io::Result<Option<Duration>> {
        self.sock.user_timeout()
    }

    /// `SO_LINGER`, for the stream this socket becomes.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.sock.set_linger(linger)
    }

    /// Binds a local address (port 0: an ephemeral port at connect).
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        Ok(self.sock.with(|s, _, h| s.bind(h, addr))?)
    }

    /// Connects and blocks until the handshake completes or fails.
    pub fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = self.connect_nonblocking(addr)?;
        stream.set_nonblocking(false)?;
        match super::stream::wait_established(stream.node(), stream.sock.handle, None) {
            Some(Err(e)) => Err(e.into()),
            _ => Ok(stream),
        }
    }

    /// Starts the handshake and returns at once with a non-blocking stream
    /// in SYN-SENT: Winsock's non-blocking `connect`, completed by the
    /// CONNECT network event (with its error code) or seen in
    /// [`TcpStream::state`].
    pub fn connect_nonblocking(self, addr: SocketAddr) -> io::Result<TcpStream> {
        self.sock.with(|s, now, h| s.connect_from(now, h, addr))?;
        let stream = TcpStream {
            sock: std::sync::Arc::new(self.sock),
        };
        stream.set_nonblocking(true)?;
        Ok(stream)
    }

    /// Listens with a backlog: at most `backlog` established connections
    /// wait for `accept`.
    pub fn listen(self, backlog: usize) -> io::Result<TcpListener> {
        if backlog == 0 {
            return Err(Error::InvalidInput.into());
        }
        self.sock.with(|s, _, h| s.listen_on(h, backlog))?;
        Ok(TcpListener { sock: self.sock })
    }
}
