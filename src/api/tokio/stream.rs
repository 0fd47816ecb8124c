//! The async stream: tokio's `AsyncRead`/`AsyncWrite` over a synfin
//! connection.

use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::api::{call, stream::connect_outcome, Node};
use crate::stack::{Error, NetEvents, NetworkEvents, SocketHandle, Stack};
use crate::tcp::State;
use crate::time::Instant;

/// A connection whose reads and writes are futures (tokio's `AsyncRead` and
/// `AsyncWrite`). `poll_shutdown` sends the FIN; [`TcpStream::close`] is
/// the close that reports the linger outcome; dropping the stream is a
/// default close that never waits (an abort with linger zero).
#[derive(Debug)]
pub struct TcpStream {
    node: Node,
    handle: SocketHandle,
    closed: bool,
}

impl TcpStream {
    /// Opens a connection from `node` to `addr` and waits for the
    /// handshake. Dropping the future abandons the attempt.
    pub async fn connect(node: &Node, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        TcpStream::connect_with(node, addr, |s, now, a| s.connect(now, a)).await
    }

    /// Each address in turn: `start` opens the connection (byte-stream or
    /// message mode), then the handshake is awaited.
    pub(crate) async fn connect_with(
        node: &Node,
        addr: impl ToSocketAddrs,
        start: impl Fn(&mut Stack, Instant, SocketAddr) -> Result<SocketHandle, Error>,
    ) -> io::Result<TcpStream> {
        let mut last = Error::InvalidInput;
        for a in call::addrs(addr)? {
            let h = match node.with(|s, now| start(s, now, a)) {
                Ok(h) => h,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            // Owned from here on, so a dropped future releases the socket.
            let stream = TcpStream::from_handle(node, h);
            match poll_fn(|cx| node.poll_with(cx, |s, _| connect_outcome(s, h))).await {
                Ok(()) => return Ok(stream),
                Err(e) => last = e,
            }
        }
        Err(last.into())
    }

    /// A stream for a connection handle of `node`'s stack; it owns the
    /// handle from now on.
    pub fn from_handle(node: &Node, handle: SocketHandle) -> TcpStream {
        TcpStream {
            node: node.clone(),
            handle,
            closed: false,
        }
    }

    /// The async form of a blocking [`crate::api::TcpStream`]. Fails with
    /// `InvalidInput` while other clones of it (`try_clone`) are alive: they
    /// would share a socket the async stream now owns.
    pub fn from_std(stream: crate::api::TcpStream) -> io::Result<TcpStream> {
        let sock = std::sync::Arc::try_unwrap(stream.sock).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the stream has live clones (try_clone)",
            )
        })?;
        let (node, handle) = sock.into_parts();
        Ok(TcpStream::from_handle(&node, handle))
    }

    fn with<R>(&self, f: impl FnOnce(&mut Stack, Instant, SocketHandle) -> R) -> R {
        let h = self.handle;
        self.node.with(|s, now| f(s, now, h))
    }

    /// Polls `f` until it stops saying `WouldBlock`.
    fn poll_op<R>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut Stack, Instant, SocketHandle) -> Result<R, Error>,
    ) -> Poll<io::Result<R>> {
        let h = self.handle;
        self.node
            .poll_with(cx, |s, now| match f(s, now, h) {
                Err(Error::WouldBlock) => None,
                r => Some(r),
            })
            .map_err(io::Error::from)
    }

    /// Reads what is there without waiting (`WouldBlock` when nothing is),
    /// as tokio's `TcpStream::try_read`.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.with(|s, now, h| s.recv(now, h, buf))?)
    }

    /// Queues what fits without waiting (`WouldBlock` when nothing does),
    /// as tokio's `TcpStream::try_write`.
    pub fn try_write(&self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        Ok(self.with(|s, now, h| s.send(now, h, data))?)
    }

    /// The node this stream lives on.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Its handle in the node's stack (for sans-IO queries).
    pub fn socket_handle(&self) -> SocketHandle {
        self.handle
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.with(|s, _, h| s.peer_addr(h))?)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.with(|s, _, h| s.local_addr(h))?)
    }

    /// The connection's state.
    pub fn state(&self) -> io::Result<State> {
        Ok(self.with(|s, _, h| s.state(h))?)
    }

    /// Shuts down one or both halves, as [`crate::api::TcpStream::shutdown`]
    /// (`AsyncWriteExt::shutdown` is `Shutdown::Write`).
    pub fn shutdown_std(&self, how: Shutdown) -> io::Result<()> {
        Ok(self.with(|s, now, h| s.shutdown(now, h, how))?)
    }

    /// Sets the linger option used by [`TcpStream::close`].
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        Ok(self.with(|s, _, h| s.set_linger(h, linger))?)
    }

    /// The linger option.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        Ok(self.with(|s, _, h| s.linger(h))?)
    }

    /// `TCP_NODELAY`.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        Ok(self.with(|s, now, h| s.set_nodelay(now, h, on))?)
    }

    /// Whether Nagle's algorithm is off.
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(self.with(|s, _, h| s.nodelay(h))?)
    }

    /// `TCP_USER_TIMEOUT`, as [`crate::api::TcpStream::set_user_timeout`].
    pub fn set_user_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Ok(self.with(|s, _, h| s.set_user_timeout(h, timeout))?)
    }

    /// The user timeout in effect.
    pub fn user_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.with(|s, _, h| s.user_timeout(h))?)
    }

    /// The pending error, once (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        Ok(self.with(|s, _, h| s.take_error(h))?.map(io::Error::from))
    }

    /// Aborts: RST, queues discarded, no TIME-WAIT.
    pub fn abort(&self) -> io::Result<()> {
        Ok(self.with(|s, now, h| s.abort(now, h))?)
    }

    /// Reads without consuming; waits for data like a read.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_op(cx, |s, _, h| s.peek(h, buf))).await
    }

    /// Closes and reports the linger outcome, as
    /// [`crate::api::TcpStream::close`] does for a blocking stream: at once
    /// by default, a reset with linger zero, and with `Some(n)` once
    /// everything is acknowledged (`Ok`) or `n` passed (`TimedOut`, after a
    /// reset). Once it returned, every other call fails.
    pub async fn close(&mut self) -> io::Result<()> {
        if self.closed {
            return Err(Error::InvalidHandle.into());
        }
        let r = poll_fn(|cx| self.poll_op(cx, |s, now, h| s.close(now, h))).await;
        self.closed = true;
        r
    }

    /// Selects `mask`'s network events and returns them as a stream of
    /// what is recorded (`WSAEventSelect` + `WSAEnumNetworkEvents`); the
    /// stream ends when the socket is closed.
    pub fn network_events(&self, mask: NetEvents) -> io::Result<NetworkEventStream> {
        self.with(|s, _, h| s.select_events(h, mask))?;
        Ok(NetworkEventStream {
            node: self.node.clone(),
            handle: self.handle,
        })
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        if !self.closed {
            let h = self.handle;
            let _ = self.node.with(|s, now| s.release(now, h));
        }
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let dst = buf.initialize_unfilled();
        match self.poll_op(cx, |s, now, h| s.recv(now, h, dst)) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.poll_op(cx, |s, now, h| s.send(now, h, data))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Sends the FIN after everything queued (`shutdown(Write)`); never
    /// waits.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown_std(Shutdown::Write))
    }
}

/// Network events of one socket as a `futures_core::Stream`; see
/// [`TcpStream::network_events`].
#[derive(Debug)]
pub struct NetworkEventStream {
    node: Node,
    handle: SocketHandle,
}

impl NetworkEventStream {
    /// The next set of recorded events (`None` once the socket is closed).
    pub async fn next(&mut self) -> Option<NetworkEvents> {
        poll_fn(|cx| self.poll_events(cx)).await
    }

    fn poll_events(&self, cx: &mut Context<'_>) -> Poll<Option<NetworkEvents>> {
        let h = self.handle;
        self.node
            .poll_with(cx, |s, _| match s.take_network_events(h) {
                Ok(ev) if ev.is_empty() => None,
                Ok(ev) => Some(Some(ev)),
                Err(_) => Some(None),
            })
    }
}

impl futures_core::Stream for NetworkEventStream {
    type Item = NetworkEvents;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<NetworkEvents>> {
        self.poll_events(cx)
    }
}
