//! Message mode through the async API (docs/message-mode.md): the same
//! calls as the blocking [`crate::api::TcpStream`]'s, as futures. Each is
//! one atomic step on the stack, so dropping a future loses no message: a
//! message is taken only when the future completes with it.

use std::future::poll_fn;
use std::io;
use std::net::ToSocketAddrs;

use super::{TcpListener, TcpStream};
use crate::api::{call, Node, DEFAULT_BACKLOG};
use crate::stack::{Error, SocketHandle, Stack};
use crate::time::Instant;

impl TcpStream {
    /// Connects in message mode and waits for the handshake;
    /// `MessageModeRefused` if the peer does not echo message mode.
    pub async fn connect_message(node: &Node, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        TcpStream::connect_with(node, addr, |s, now, a| s.connect_message(now, a)).await
    }

    /// Waits until `f` stops saying `WouldBlock`.
    async fn message_op<R>(
        &self,
        mut f: impl FnMut(&mut Stack, Instant, SocketHandle) -> Result<R, Error>,
    ) -> io::Result<R> {
        let (node, h) = (self.node(), self.socket_handle());
        poll_fn(|cx| {
            node.poll_with(cx, |s, now| match f(s, now, h) {
                Err(Error::WouldBlock) => None,
                r => Some(r),
            })
        })
        .await
        .map_err(io::Error::from)
    }

    /// Whether the connection is in message mode.
    pub fn is_message_mode(&self) -> io::Result<bool> {
        let h = self.socket_handle();
        Ok(self.node().with(|s, _| s.is_message_mode(h))?)
    }

    /// Sends one whole message, waiting for room in the send queue.
    pub async fn send_message(&self, data: &[u8]) -> io::Result<()> {
        self.message_op(|s, now, h| s.send_message(now, h, data))
            .await
    }

    /// Receives one whole message into `buf` (`MessageTooLarge { len }`
    /// if it is shorter, the message staying readable; `Disconnected`
    /// after the last one).
    pub async fn recv_message(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.message_op(|s, now, h| s.recv_message(now, h, buf))
            .await
    }

    /// Shuts down the sending side with disconnect data; never waits.
    pub fn send_disconnect(&self, data: &[u8]) -> io::Result<()> {
        let h = self.socket_handle();
        Ok(self.node().with(|s, now| s.send_disconnect(now, h, data))?)
    }

    /// The peer's disconnect data, once every message was read and its
    /// DISCONNECT reached.
    pub async fn recv_disconnect(&self) -> io::Result<Vec<u8>> {
        self.message_op(|s, _, h| s.recv_disconnect(h)).await
    }
}

impl TcpListener {
    /// Listens on `addr` in message mode with the default backlog.
    pub async fn bind_message(node: &Node, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let mut last = Error::InvalidInput;
        for a in call::addrs(addr)? {
            match node.with(|s, _| s.listen_message(a, DEFAULT_BACKLOG)) {
                Ok(handle) => return Ok(TcpListener::from_parts(node, handle)),
                Err(e) => last = e,
            }
        }
        Err(last.into())
    }
}
