//! What every blocking call has in common: run a stack operation once (a
//! non-blocking socket) or until it stops saying `WouldBlock` (a blocking
//! one, bounded by the socket's timeout), and the per-socket settings that
//! live above the stack.

use std::io;
use std::sync::Mutex;
use std::time::Duration;

use super::Node;
use crate::stack::{Error, NetEvents, NetworkEvents, SocketHandle, Stack};
use crate::time::Instant;

/// Runs `f` on `node`'s stack: once if `nonblocking`, otherwise again on
/// every change until it returns something other than `WouldBlock`, or
/// until `timeout` passes (then `WouldBlock`, as Linux reports an expired
/// `SO_RCVTIMEO`/`SO_SNDTIMEO` with `EAGAIN`).
pub(crate) fn call<R>(
    node: &Node,
    nonblocking: bool,
    timeout: Option<Duration>,
    mut f: impl FnMut(&mut Stack, Instant) -> Result<R, Error>,
) -> Result<R, Error> {
    if nonblocking {
        return node.with(f);
    }
    node.wait(timeout, |s, now| match f(s, now) {
        Err(Error::WouldBlock) => None,
        r => Some(r),
    })
    .unwrap_or(Err(Error::WouldBlock))
}

/// Settings of a blocking socket object that the stack does not keep.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Settings {
    pub nonblocking: bool,
    pub read_timeout: Option<Duration>,
    pub write_timeout: Option<Duration>,
}

/// A socket of one node: its handle and the settings above the stack. The
/// handle is released (a non-blocking close) when this is dropped, unless
/// [`Sock::close`] already closed it.
#[derive(Debug)]
pub(crate) struct Sock {
    pub node: Node,
    pub handle: SocketHandle,
    settings: Mutex<Settings>,
    /// Closed through the API: nothing left to release.
    closed: std::sync::atomic::AtomicBool,
}

impl Sock {
    pub fn new(node: Node, handle: SocketHandle) -> Sock {
        Sock {
            node,
            handle,
            settings: Mutex::new(Settings::default()),
            closed: Default::default(),
        }
    }

    pub fn settings(&self) -> Settings {
        *self.settings.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn update(&self, f: impl FnOnce(&mut Settings)) {
        f(&mut self.settings.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// One call on this socket's stack at the current time.
    pub fn with<R>(&self, f: impl FnOnce(&mut Stack, Instant, SocketHandle) -> R) -> R {
        let h = self.handle;
        self.node.with(|s, now| f(s, now, h))
    }

    /// A call that blocks according to the settings; `write` picks the
    /// write timeout instead of the read timeout.
    pub fn call<R>(
        &self,
        write: bool,
        mut f: impl FnMut(&mut Stack, Instant, SocketHandle) -> Result<R, Error>,
    ) -> io::Result<R> {
        let st = self.settings();
        let timeout = if write {
            st.write_timeout
        } else {
            st.read_timeout
        };
        let h = self.handle;
        call(&self.node, st.nonblocking, timeout, |s, now| f(s, now, h)).map_err(io::Error::from)
    }

    /// `close`: the linger outcome. A blocking socket waits for it (a
    /// `{on, N}` linger at most N); a non-blocking one returns `WouldBlock`
    /// while it is not known yet, and the close goes on — call again.
    pub fn close(&self) -> io::Result<()> {
        if self.is_closed() {
            return Err(Error::InvalidHandle.into());
        }
        let st = self.settings();
        let h = self.handle;
        let r = call(&self.node, st.nonblocking, None, |s, now| s.close(now, h));
        if r != Err(Error::WouldBlock) {
            self.closed
                .store(true, std::sync::atomic::Ordering::Release);
        }
        r.map_err(io::Error::from)
    }

    /// `SO_SNDBUF` / `SO_RCVBUF` (each only if given).
    pub fn set_buffer_sizes(&self, send: Option<usize>, recv: Option<usize>) -> io::Result<()> {
        Ok(self.with(|s, _, h| s.set_buffer_sizes(h, send, recv))?)
    }

    /// `TCP_NODELAY`.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        Ok(self.with(|s, now, h| s.set_nodelay(now, h, on))?)
    }

    /// `SO_KEEPALIVE`.
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        Ok(self.with(|s, now, h| s.set_keepalive(now, h, on))?)
    }

    /// `TCP_USER_TIMEOUT`.
    pub fn set_user_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Ok(self.with(|s, _, h| s.set_user_timeout(h, timeout))?)
    }

    /// The user timeout in effect.
    pub fn user_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.with(|s, _, h| s.user_timeout(h))?)
    }

    /// `SO_LINGER`.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        Ok(self.with(|s, _, h| s.set_linger(h, linger))?)
    }

    /// `WSAEventSelect`.
    pub fn select_events(&self, mask: NetEvents) -> io::Result<()> {
        Ok(self.with(|s, _, h| s.select_events(h, mask))?)
    }

    /// `WSAEnumNetworkEvents`.
    pub fn take_network_events(&self) -> io::Result<NetworkEvents> {
        Ok(self.with(|s, _, h| s.take_network_events(h))?)
    }

    /// Waits until something selected is recorded, or the timeout (an
    /// empty set then), and takes what was recorded.
    pub fn wait_network_events(&self, timeout: Option<Duration>) -> io::Result<NetworkEvents> {
        let h = self.handle;
        let r = self
            .node
            .wait(timeout, |s, _| match s.take_network_events(h) {
                Ok(ev) if ev.is_empty() => None,
                r => Some(r),
            });
        Ok(r.transpose()?.unwrap_or_default())
    }

    /// Hands the handle over to another owner (the async API): this object
    /// no longer closes it.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub fn into_parts(self) -> (Node, SocketHandle) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        (self.node.clone(), self.handle)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Acquire)
    }
}

impl Drop for Sock {
    fn drop(&mut self) {
        if !self.is_closed() {
            let h = self.handle;
            // Never blocks: {on, 0} still aborts, anything else is a
            // default close (SEMANTICS.md §1f). The handle may already be
            // gone (a failed connect); nothing to report then.
            let _ = self.node.with(|s, now| s.release(now, h));
        }
    }
}

/// Rejects a zero timeout, as `std::net::TcpStream::set_read_timeout` does.
pub(crate) fn check_timeout(t: Option<Duration>) -> io::Result<()> {
    if t == Some(Duration::ZERO) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        ));
    }
    Ok(())
}

/// The first address `addr` names (std's `ToSocketAddrs`; an IP literal
/// needs no resolver), or `InvalidInput`.
pub(crate) fn addrs(addr: impl std::net::ToSocketAddrs) -> io::Result<Vec<std::net::SocketAddr>> {
    let v: Vec<_> = addr.to_socket_addrs()?.collect();
    if v.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        ));
    }
    Ok(v)
}
