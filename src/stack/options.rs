//! Socket options: `SO_REUSEADDR`, `TCP_NODELAY`, `SO_SNDBUF`/`SO_RCVBUF`,
//! `SO_KEEPALIVE`, `SO_LINGER`, and the one-shot pending error (`SO_ERROR`).
//!
//! Options set on a listener are inherited by the connections it accepts;
//! options set before `connect` shape the SYN.

use std::time::Duration;

use super::socket::{OptU32, SocketKind};
use super::{Error, SocketHandle, Stack};
use crate::time::Instant;

impl Stack {
    /// `SO_REUSEADDR`: allow binding a port that connections (TIME-WAIT
    /// included) still use locally.
    pub fn set_reuse_address(&mut self, h: SocketHandle, on: bool) -> Result<(), Error> {
        self.sockets
            .get_mut(h)
            .ok_or(Error::InvalidHandle)?
            .options
            .reuse_address = on;
        Ok(())
    }

    /// `TCP_NODELAY`: disable Nagle's algorithm.
    pub fn set_nodelay(&mut self, now: Instant, h: SocketHandle, on: bool) -> Result<(), Error> {
        let s = self.sockets.app_mut(h).ok_or(Error::InvalidHandle)?;
        s.options.nodelay = Some(on);
        if let SocketKind::Conn(c) = &mut s.kind {
            c.conn.set_nodelay(on);
        }
        self.touch(now, h);
        Ok(())
    }

    /// `SO_SNDBUF` / `SO_RCVBUF`: queue sizes; set them before connecting or
    /// listening for the window scale to follow.
    pub fn set_buffer_sizes(
        &mut self,
        h: SocketHandle,
        send: Option<usize>,
        recv: Option<usize>,
    ) -> Result<(), Error> {
        let narrow = |v: Option<usize>| {
            let v = v
                .map(u32::try_from)
                .transpose()
                .map_err(|_| Error::InvalidInput)?;
            OptU32::new(v).ok_or(Error::InvalidInput)
        };
        let (send32, recv32) = (narrow(send)?, narrow(recv)?);
        let s = self.sockets.app_mut(h).ok_or(Error::InvalidHandle)?;
        if send32.is_some() {
            s.options.send_buffer = send32;
        }
        if recv32.is_some() {
            s.options.recv_buffer = recv32;
        }
        if let SocketKind::Conn(c) = &mut s.kind {
            c.conn.set_buffer_sizes(send, recv);
        }
        Ok(())
    }

    /// Half-open (SYN-RECEIVED) entries waiting in a listener's SYN queue.
    pub fn syn_queue_len(&self, listener: SocketHandle) -> Result<usize, Error> {
        match &self.sockets.app(listener).ok_or(Error::InvalidHandle)?.kind {
            SocketKind::Listener(l) => Ok(l.syn_queue.len()),
            _ => Err(Error::InvalidInput),
        }
    }

    /// `SO_KEEPALIVE`: probe the peer after `TcpConfig::keepalive_idle` of
    /// silence and drop the connection with `TimedOut` when
    /// `keepalive_probes` probes go unanswered (RFC 9293 §3.8.4).
    pub fn set_keepalive(&mut self, now: Instant, h: SocketHandle, on: bool) -> Result<(), Error> {
        let s = self.sockets.app_mut(h).ok_or(Error::InvalidHandle)?;
        s.options.keepalive = Some(on);
        if let SocketKind::Conn(c) = &mut s.kind {
            c.conn.set_keepalive(now, &self.config.tcp, on);
        }
        self.touch(now, h);
        Ok(())
    }

    /// `SO_LINGER`, deciding what [`Stack::close`] does (DESIGN.md):
    ///
    /// * `None` (the default): close returns at once and the connection
    ///   closes gracefully in the background.
    /// * `Some(Duration::ZERO)`: close aborts — RST, queued data discarded,
    ///   no TIME-WAIT.
    /// * `Some(n)`: close sends the FIN after the queued data and the handle
    ///   stays until the peer has acknowledged everything (close then
    ///   returns `Ok`) or `n` elapses (the stack resets the connection and
    ///   close returns `TimedOut`: delivery was not confirmed). Until then
    ///   close returns `WouldBlock`, as Winsock's non-blocking `closesocket`
    ///   does; call it again on [`super::Event::Closed`].
    ///
    /// The time is kept in milliseconds, at most about 49 days.
    pub fn set_linger(&mut self, h: SocketHandle, linger: Option<Duration>) -> Result<(), Error> {
        let ms = match linger {
            None => None,
            Some(d) => Some(u32::try_from(d.as_millis()).map_err(|_| Error::InvalidInput)?),
        };
        let ms = OptU32::new(ms).ok_or(Error::InvalidInput)?;
        self.sockets
            .app_mut(h)
            .ok_or(Error::InvalidHandle)?
            .options
            .linger_ms = ms;
        Ok(())
    }

    /// The linger setting.
    pub fn linger(&self, h: SocketHandle) -> Result<Option<Duration>, Error> {
        let s = self.sockets.app(h).ok_or(Error::InvalidHandle)?;
        Ok(s.options
            .linger_ms
            .get()
            .map(|ms| Duration::from_millis(u64::from(ms))))
    }

    /// The pending error, once (`SO_ERROR`): the first call after a
    /// connection failed returns why; later calls return `None`. Reads and
    /// writes keep reporting the failure.
    pub fn take_error(&mut self, h: SocketHandle) -> Result<Option<Error>, Error> {
        Ok(self.conn_mut(h)?.take_error().map(Error::from))
    }

    /// Whether Nagle's algorithm is off (`TCP_NODELAY`), as set on this
    /// socket, inherited from its listener, or the stack's default.
    pub fn nodelay(&self, h: SocketHandle) -> Result<bool, Error> {
        Ok(self.effective_options(h)?.nodelay)
    }

    /// Whether keep-alive probing is on (`SO_KEEPALIVE`).
    pub fn keepalive(&self, h: SocketHandle) -> Result<bool, Error> {
        Ok(self.effective_options(h)?.keepalive)
    }

    /// Whether reuse-address is set (`SO_REUSEADDR`).
    pub fn reuse_address(&self, h: SocketHandle) -> Result<bool, Error> {
        let s = self.sockets.app(h).ok_or(Error::InvalidHandle)?;
        Ok(s.options.reuse_address)
    }

    /// The send and receive buffer sizes (`SO_SNDBUF`, `SO_RCVBUF`) in
    /// bytes: a connection's queue capacities, else this socket's setting or
    /// the stack's defaults.
    pub fn buffer_sizes(&self, h: SocketHandle) -> Result<(usize, usize), Error> {
        if let Some(SocketKind::Conn(c)) = self.sockets.app(h).map(|s| &s.kind) {
            return Ok(c.conn.buffer_sizes());
        }
        let cfg = self.effective_options(h)?;
        Ok((cfg.send_buffer, cfg.recv_buffer))
    }

    fn effective_options(&self, h: SocketHandle) -> Result<crate::tcp::TcpConfig, Error> {
        let s = self.sockets.app(h).ok_or(Error::InvalidHandle)?;
        Ok(s.options.effective(&self.config.tcp))
    }

    /// ECN (RFC 3168) for this socket, over [`TcpConfig::ecn`]: set before
    /// `connect` (whether the SYN asks) or `listen` (whether the SYN-ACKs
    /// its connections send agree). There is no such option in the BSD API —
    /// Linux and FreeBSD only have the host-wide sysctl — so this is
    /// synfin's own; on an established connection it changes nothing
    /// ([`Error::InvalidInput`]: ECN is agreed in the handshake).
    ///
    /// [`TcpConfig::ecn`]: crate::tcp::TcpConfig::ecn
    pub fn set_ecn(&mut self, h: SocketHandle, mode: crate::tcp::EcnMode) -> Result<(), Error> {
        let s = self.sockets.app_mut(h).ok_or(Error::InvalidHandle)?;
        match &mut s.kind {
            SocketKind::Unbound(u) => u.ecn = Some(mode),
            SocketKind::Listener(l) => l.ecn = Some(mode),
            SocketKind::Conn(_) => return Err(Error::InvalidInput),
        }
        Ok(())
    }

    /// The ECN mode the next handshake of this unconnected socket or
    /// listener uses ([`Stack::set_ecn`] or the stack's default). A
    /// connection has agreed already: [`Error::InvalidInput`]; see
    /// [`Connection::ecn_enabled`](crate::tcp::Connection::ecn_enabled).
    pub fn ecn(&self, h: SocketHandle) -> Result<crate::tcp::EcnMode, Error> {
        let s = self.sockets.app(h).ok_or(Error::InvalidHandle)?;
        let own = match &s.kind {
            SocketKind::Unbound(u) => u.ecn,
            SocketKind::Listener(l) => l.ecn,
            SocketKind::Conn(_) => return Err(Error::InvalidInput),
        };
        Ok(own.unwrap_or(self.config.tcp.ecn))
    }
}
