//! `TcpStream`: a connection, with `std::net::TcpStream`'s vocabulary and
//! synfin's shutdown, linger and close semantics (docs/SEMANTICS.md).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use super::call::{self, Sock};
use super::events::AsSocket;
use super::Node;
use crate::stack::{Error, NetEvents, NetworkEvents, SocketHandle, Stack};
use crate::tcp::State;

/// A TCP connection on a synfin stack, used like `std::net::TcpStream`.
///
/// Reads return end-of-stream (`Ok(0)`) at the peer's FIN, repeatably;
/// after a reset they return the data received before it, then
/// `ConnectionReset`. Every error is an `io::Error` whose `get_ref()`
/// downcasts to [`synfin::stack::Error`](crate::stack::Error).
///
/// Dropping a stream closes it without waiting: a default close (graceful
/// in the background), or an abort when linger is `Some(Duration::ZERO)`.
/// [`TcpStream::close`] is the close that reports the linger outcome.
///
/// ```
/// use std::io::{Read, Write};
/// use std::net::Shutdown;
/// use synfin::api::{Runtime, TcpListener, TcpStream};
/// use synfin::links::LinkModel;
///
/// let ips = ["198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap()];
/// let (_rt, nodes) = Runtime::simulated(1, LinkModel::default(), &ips);
/// let listener = TcpListener::bind(&nodes[1], "198.18.0.2:7").unwrap();
/// let mut client = TcpStream::connect(&nodes[0], "198.18.0.2:7").unwrap();
/// let (mut server, _peer) = listener.accept().unwrap();
///
/// client.write_all(b"request").unwrap();
/// client.shutdown(Shutdown::Write).unwrap(); // FIN after the request
/// let mut req = Vec::new();
/// server.read_to_end(&mut req).unwrap(); // up to the FIN
/// server.write_all(b"reply").unwrap();
/// server.close().unwrap();
/// let mut reply = String::new();
/// client.read_to_string(&mut reply).unwrap();
/// assert_eq!((req.as_slice(), reply.as_str()), (&b"request"[..], "reply"));
/// ```
#[derive(Debug)]
pub struct TcpStream {
    /// Shared by [`TcpStream::try_clone`]'s clones; the socket is released
    /// when the last one goes.
    pub(crate) sock: Arc<Sock>,
}

impl TcpStream {
    /// Opens a connection from `node` to `addr` (each address in turn, as
    /// std does) and blocks until the handshake completes or fails:
    /// `ConnectionRefused` for a reset, `TimedOut` when the SYN
    /// retransmissions run out.
    pub fn connect(node: &Node, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for a in call::addrs(addr)? {
            match connect_to(node, a, None) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::InvalidInput.into()))
    }

    /// Like [`TcpStream::connect`], giving up (`TimedOut`) after `timeout`.
    pub fn connect_timeout(node: &Node, addr: &SocketAddr, timeout: Duration) -> io::Result<Self> {
        call::check_timeout(Some(timeout))?;
        connect_to(node, *addr, Some(timeout))
    }

    /// A stream for a connection handle of `node`'s stack (accepted or
    /// connected through the sans-IO API); the stream owns it from now on.
    pub fn from_handle(node: &Node, handle: SocketHandle) -> TcpStream {
        TcpStream {
            sock: Arc::new(Sock::new(node.clone(), handle)),
        }
    }

    /// Another handle on the same connection, as std's `try_clone`: the
    /// clones share the socket and its settings (non-blocking mode,
    /// timeouts), so one thread can read while another writes. The
    /// connection is released when the last clone is dropped; `close` on
    /// any clone closes it for all of them.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        if self.sock.is_closed() {
            return Err(Error::InvalidHandle.into());
        }
        Ok(TcpStream {
            sock: Arc::clone(&self.sock),
        })
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.sock.with(|s, _, h| s.peer_addr(h))?)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.sock.with(|s, _, h| s.local_addr(h))?)
    }

    /// The connection's state (RFC 9293's eleven; CLOSED once it ended).
    pub fn state(&self) -> io::Result<State> {
        Ok(self.sock.with(|s, _, h| s.state(h))?)
    }

    /// Shuts down one or both halves. `Write`: a FIN after everything
    /// queued; never blocks, whatever the linger. `Read`: reads return
    /// end-of-stream, and data queued or arriving later is answered with a
    /// reset (nothing is dropped silently). `Both`: both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        Ok(self.sock.with(|s, now, h| s.shutdown(now, h, how))?)
    }

    /// Closes the connection and reports how it went, according to the
    /// linger option (docs/SEMANTICS.md §1d–1f):
    ///
    /// * linger `None` (default): `Ok(())` at once; the FIN follows the
    ///   queued data in the background (a reset if unread data would be
    ///   lost).
    /// * `Some(Duration::ZERO)`: abortive — RST, queued data discarded.
    /// * `Some(n)`: waits until everything sent, FIN included, is
    ///   acknowledged (`Ok(())`), or `n` passes: the connection is reset and
    ///   the result is `TimedOut` — delivery was not confirmed.
    ///
    /// A non-blocking stream with `Some(n)` returns `WouldBlock` until the
    /// outcome is known; the close is under way from the first call, so call
    /// it again (on the CLOSE network event, say). Once it returned anything
    /// else, the stream is closed and every other call fails.
    pub fn close(&mut self) -> io::Result<()> {
        self.sock.close()
    }

    /// Aborts the connection (RFC 9293 ABORT): RST, queues discarded, no
    /// TIME-WAIT. The stream stays usable for queries until dropped.
    pub fn abort(&self) -> io::Result<()> {
        Ok(self.sock.with(|s, now, h| s.abort(now, h))?)
    }

    /// Reads without removing the data from the queue; blocks like `read`.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.call(false, |s, _, h| s.peek(h, buf))
    }

    /// Sets the linger option used by [`TcpStream::close`].
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.sock.set_linger(linger)
    }

    /// The linger option.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        Ok(self.sock.with(|s, _, h| s.linger(h))?)
    }

    /// `TCP_NODELAY`: send small segments without waiting (Nagle off).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.sock.set_nodelay(nodelay)
    }

    /// Whether Nagle's algorithm is off.
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(self.sock.with(|s, _, h| s.nodelay(h))?)
    }

    /// `SO_KEEPALIVE`: probe an idle peer and end the connection
    /// (`TimedOut`) if it has gone.
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        self.sock.set_keepalive(on)
    }

    /// `TCP_USER_TIMEOUT` (RFC 5482): how long sent data may stay
    /// unacknowledged before the connection is aborted — reads and writes
    /// then fail with `TimedOut` — however many retransmissions that is;
    /// `None` turns it off. See [`crate::stack::Stack::set_user_timeout`].
    pub fn set_user_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_user_timeout(timeout)
    }

    /// The user timeout in effect.
    pub fn user_timeout(&self) -> io::Result<Option<Duration>> {
        self.sock.user_timeout()
    }

    /// `SO_SNDBUF`: the send queue's size in bytes.
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        self.sock.set_buffer_sizes(Some(size), None)
    }

    /// `SO_RCVBUF`: the receive queue's size in bytes.
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        self.sock.set_buffer_sizes(None, Some(size))
    }

    /// Makes reads, writes, accepts and a lingering close return
    /// `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.sock.update(|st| st.nonblocking = nonblocking);
        Ok(())
    }

    /// Bounds how long a read waits (`None`: forever); an expired read
    /// returns `WouldBlock`, as Linux's `SO_RCVTIMEO` does. Zero is an
    /// error, as in std.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        call::check_timeout(timeout)?;
        self.sock.update(|st| st.read_timeout = timeout);
        Ok(())
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.sock.settings().read_timeout)
    }

    /// Bounds how long a write waits for room in the send queue.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        call::check_timeout(timeout)?;
        self.sock.update(|st| st.write_timeout = timeout);
        Ok(())
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.sock.settings().write_timeout)
    }

    /// The pending error, once (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        Ok(self
            .sock
            .with(|s, _, h| s.take_error(h))?
            .map(io::Error::from))
    }

    /// Bytes received and not yet read.
    pub fn recv_queue_len(&self) -> io::Result<usize> {
        Ok(self.sock.with(|s, _, h| s.recv_queue_len(h))?)
    }

    /// Bytes queued and not yet acknowledged by the peer.
    pub fn send_queue_len(&self) -> io::Result<usize> {
        Ok(self.sock.with(|s, _, h| s.send_queue_len(h))?)
    }

    /// `WSAEventSelect`: record `mask`'s network events from now on; see
    /// [`TcpStream::wait_network_events`] and [`super::Poller`].
    pub fn select_events(&self, mask: NetEvents) -> io::Result<()> {
        self.sock.select_events(mask)
    }

    /// `WSAEnumNetworkEvents`: what was recorded since the last call.
    pub fn take_network_events(&self) -> io::Result<NetworkEvents> {
        self.sock.take_network_events()
    }

    /// Waits until a selected network event is recorded (or `timeout`
    /// passes: an empty set) and takes what was recorded.
    pub fn wait_network_events(&self, timeout: Option<Duration>) -> io::Result<NetworkEvents> {
        self.sock.wait_network_events(timeout)
    }

    /// The node this stream lives on.
    pub fn node(&self) -> &Node {
        &self.sock.node
    }
}

impl AsSocket for TcpStream {
    fn node(&self) -> &Node {
        &self.sock.node
    }
    fn socket_handle(&self) -> SocketHandle {
        self.sock.handle
    }
}

fn connect_to(node: &Node, addr: SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
    connect_with(node, addr, timeout, |s, now, a| s.connect(now, a))
}

/// Opens a connection with `start` (byte-stream or message mode) and waits
/// for the handshake, at most `timeout`.
pub(crate) fn connect_with(
    node: &Node,
    addr: SocketAddr,
    timeout: Option<Duration>,
    start: impl FnOnce(&mut Stack, crate::time::Instant, SocketAddr) -> Result<SocketHandle, Error>,
) -> io::Result<TcpStream> {
    let h = node.with(|s, now| start(s, now, addr))?;
    let stream = TcpStream::from_handle(node, h);
    match wait_established(node, h, timeout) {
        Some(r) => r.map(|()| stream).map_err(io::Error::from),
        // Dropping the stream abandons the attempt.
        None => Err(Error::TimedOut.into()),
    }
}

/// Blocks until a connect finished: `Some(Ok)` once synchronized, the
/// failure otherwise, `None` at the timeout.
pub(crate) fn wait_established(
    node: &Node,
    h: SocketHandle,
    timeout: Option<Duration>,
) -> Option<Result<(), Error>> {
    node.wait(timeout, |s, _| connect_outcome(s, h))
}

/// Where a connect stands: `None` while the handshake is under way.
pub(crate) fn connect_outcome(s: &mut Stack, h: SocketHandle) -> Option<Result<(), Error>> {
    match s.state(h) {
        Ok(State::SynSent | State::SynReceived) => None,
        Ok(State::Closed) => match s.socket_error(h) {
            Ok(Some(e)) => Some(Err(e)),
            Ok(None) => Some(Ok(())),
            Err(e) => Some(Err(e)),
        },
        Ok(_) => Some(Ok(())),
        Err(e) => Some(Err(e)),
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.call(false, |s, now, h| s.recv(now, h, buf))
    }
}

impl Write for &TcpStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        self.sock.call(true, |s, now, h| s.send(now, h, data))
    }
    /// Data goes out as the window allows; there is nothing to flush.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for TcpStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        (&*self).write(data)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
