//! Message mode through the blocking API (docs/message-mode.md): a
//! message-mode listener and connect, whole messages, and disconnect data.
//! The semantics are the stack's ([`crate::stack::Stack::send_message`] and
//! friends); this adds the blocking (and timeouts) of the other calls.
//!
//! ```
//! use synfin::api::{Runtime, TcpListener, TcpStream};
//! use synfin::links::LinkModel;
//! use synfin::stack::Error;
//!
//! let ips = ["198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap()];
//! let (_rt, nodes) = Runtime::simulated(1, LinkModel::default(), &ips);
//! let listener = TcpListener::bind_message(&nodes[1], "198.18.0.2:7").unwrap();
//! let client = TcpStream::connect_message(&nodes[0], "198.18.0.2:7").unwrap();
//! let (server, _) = listener.accept().unwrap();
//!
//! client.send_message(b"one message").unwrap();
//! client.send_disconnect(b"bye").unwrap(); // never blocks
//! let mut buf = [0u8; 64];
//! let n = server.recv_message(&mut buf).unwrap();
//! assert_eq!(&buf[..n], b"one message");
//! let end = server.recv_message(&mut buf).unwrap_err();
//! assert_eq!(synfin::api::stack_error(&end), Some(Error::Disconnected));
//! assert_eq!(server.recv_disconnect().unwrap(), b"bye");
//! ```

use std::io;
use std::net::ToSocketAddrs;

use super::{call, Node, TcpListener, TcpSocket, TcpStream, DEFAULT_BACKLOG};
use crate::stack::Error;

/// The typed stack error behind an `io::Error` from this API, if any
/// (`Disconnected`, `MessageTooLarge { len }`, …).
pub fn stack_error(e: &io::Error) -> Option<Error> {
    e.get_ref()?.downcast_ref::<Error>().copied()
}

impl TcpListener {
    /// Listens on `addr` in message mode with [`DEFAULT_BACKLOG`]: SYNs
    /// that do not offer message mode are reset, accepted streams are in
    /// message mode.
    pub fn bind_message(node: &Node, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let mut last = Error::InvalidInput;
        for a in call::addrs(addr)? {
            match node.with(|s, _| s.listen_message(a, DEFAULT_BACKLOG)) {
                Ok(h) => return Ok(TcpListener::from_handle(node, h)),
                Err(e) => last = e,
            }
        }
        Err(last.into())
    }
}

impl TcpSocket {
    /// Listen or connect in message mode (before `listen` / `connect`).
    pub fn set_message_mode(&self, on: bool) -> io::Result<()> {
        Ok(self.sock.with(|s, _, h| s.set_message_mode(h, on))?)
    }
}

impl TcpStream {
    /// Connects in message mode and blocks until the handshake completes:
    /// `MessageModeRefused` (kind `ConnectionRefused`) if the peer's
    /// SYN-ACK does not echo message mode — the connection is reset.
    pub fn connect_message(node: &Node, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for a in call::addrs(addr)? {
            match super::stream::connect_with(node, a, None, |s, now, a| s.connect_message(now, a))
            {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::InvalidInput.into()))
    }

    /// Whether the connection is in message mode.
    pub fn is_message_mode(&self) -> io::Result<bool> {
        Ok(self.sock.with(|s, _, h| s.is_message_mode(h))?)
    }

    /// Sends one whole message, blocking (up to the write timeout) until
    /// the send queue has room for it.
    pub fn send_message(&self, data: &[u8]) -> io::Result<()> {
        self.sock
            .call(true, |s, now, h| s.send_message(now, h, data))
    }

    /// Receives one whole message into `buf`, blocking (up to the read
    /// timeout) until one has arrived. `MessageTooLarge { len }` (kind
    /// `InvalidInput`) if `buf` is shorter — the message stays readable;
    /// `Disconnected` (kind `UnexpectedEof`) after the last message.
    pub fn recv_message(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock
            .call(false, |s, now, h| s.recv_message(now, h, buf))
    }

    /// Shuts down the sending side with disconnect data; never blocks,
    /// whatever the linger. On a byte stream, data is `Unsupported` and no
    /// data is `shutdown(Write)`.
    pub fn send_disconnect(&self, data: &[u8]) -> io::Result<()> {
        Ok(self
            .sock
            .with(|s, now, h| s.send_disconnect(now, h, data))?)
    }

    /// The peer's disconnect data, blocking (up to the read timeout) until
    /// the teardown is indicated — every message read and the peer's
    /// DISCONNECT reached (the CLOSE network event).
    pub fn recv_disconnect(&self) -> io::Result<Vec<u8>> {
        self.sock.call(false, |s, _, h| s.recv_disconnect(h))
    }
}
