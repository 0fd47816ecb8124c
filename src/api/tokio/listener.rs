//! The async listener.

use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::task::{Context, Poll};

use super::TcpStream;
use crate::api::{call, Node, DEFAULT_BACKLOG};
use crate::stack::{Error, SocketHandle};

/// A listening socket whose `accept` is a future. Dropping it resets every
/// connection it has not handed out.
#[derive(Debug)]
pub struct TcpListener {
    node: Node,
    handle: SocketHandle,
}

impl TcpListener {
    /// Listens on `addr` of `node`'s stack with the default backlog.
    pub async fn bind(node: &Node, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        TcpListener::bind_with_backlog(node, addr, DEFAULT_BACKLOG)
    }

    /// Listens with a backlog: at most `backlog` established connections
    /// wait for `accept`.
    pub fn bind_with_backlog(
        node: &Node,
        addr: impl ToSocketAddrs,
        backlog: usize,
    ) -> io::Result<TcpListener> {
        if backlog == 0 {
            return Err(Error::InvalidInput.into());
        }
        let mut last = Error::InvalidInput;
        for a in call::addrs(addr)? {
            match node.with(|s, _| s.listen(a, backlog)) {
                Ok(handle) => {
                    return Ok(TcpListener {
                        node: node.clone(),
                        handle,
                    })
                }
                Err(e) => last = e,
            }
        }
        Err(last.into())
    }

    /// A listener owning `handle` of `node`'s stack.
    pub(super) fn from_parts(node: &Node, handle: SocketHandle) -> TcpListener {
        TcpListener {
            node: node.clone(),
            handle,
        }
    }

    /// Waits for a connection and takes it from the accept queue.
    /// Cancellation-safe: a connection is only taken when the future
    /// completes.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// The poll form of [`TcpListener::accept`].
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let l = self.handle;
        self.node
            .poll_with(cx, |s, _| match s.accept(l) {
                Err(Error::WouldBlock) => None,
                r => Some(r),
            })
            .map(|r| {
                r.map(|(h, peer)| (TcpStream::from_handle(&self.node, h), peer))
                    .map_err(io::Error::from)
            })
    }

    /// The address listened on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let h = self.handle;
        Ok(self.node.with(|s, _| s.local_addr(h))?)
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let h = self.handle;
        let _ = self.node.with(|s, now| s.close(now, h));
    }
}
