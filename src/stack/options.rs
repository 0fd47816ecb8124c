//! Socket options: `SO_REUSEADDR`, `TCP_NODELAY`, `SO_SNDBUF`/`SO_RCVBUF`,
//! `SO_KEEPALIVE`, `SO_LINGER`, `IP_TOS`/`IPV6_TCLASS`,
//! `IP_TTL`/`IPV6_UNICAST_HOPS`, `TCP_NOOPT`, `TCP_KEEPINIT`,
//! `TCP_USER_TIMEOUT`, and the one-shot pending error (`SO_ERROR`).
//!
//! Options set on a listener are inherited by the connections it accepts;
//! options set before `connect` shape the SYN.

use std::net::SocketAddr;
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

    /// `TCP_USER_TIMEOUT` (RFC 5482 §3 for the local timeout; RFC 9293
    /// §3.10.8 USER TIMEOUT): how long sent data — or a SYN, or window
    /// probes nobody answers — may stay unacknowledged before the connection
    /// is aborted with [`Error::TimedOut`] and a RST, however many
    /// retransmissions that is. `None` turns it off for this socket (the
    /// retry limits alone bound it); without a call the socket uses
    /// [`crate::tcp::TcpConfig::user_timeout`]. Set on a listener, accepted
    /// connections inherit it; on a connection it applies from the next
    /// retransmission timeout. Kept in milliseconds (the unit of Linux's
    /// option), at most about 49 days; the UTO option (RFC 5482 §3.1) is
    /// not sent.
    ///
    /// ```
    /// use std::time::Duration;
    /// use synfin::stack::{Stack, StackConfig};
    /// use synfin::time::Instant;
    ///
    /// let mut stack = Stack::new(StackConfig::default(), 1);
    /// stack.add_address("198.18.0.1".parse().unwrap());
    /// let c = stack.connect(Instant::ZERO, "198.18.0.2:80".parse().unwrap()).unwrap();
    /// stack.set_user_timeout(c, Some(Duration::from_secs(30))).unwrap();
    /// assert_eq!(stack.user_timeout(c), Ok(Some(Duration::from_secs(30))));
    /// ```
    pub fn set_user_timeout(
        &mut self,
        h: SocketHandle,
        timeout: Option<Duration>,
    ) -> Result<(), Error> {
        if timeout.is_some_and(|d| d.is_zero()) {
            return Err(Error::InvalidInput);
        }
        // Whole milliseconds, as the connection keeps it.
        let t = timeout
            .map(|d| Duration::from_millis(u64::from(crate::tcp::conn::user_timeout_ms(Some(d)))));
        match &mut self.sockets.app_mut(h).ok_or(Error::InvalidHandle)?.kind {
            SocketKind::Unbound(u) => u.header.user_timeout = Some(t),
            SocketKind::Listener(l) => l.header.user_timeout = Some(t),
            SocketKind::Conn(c) => c.conn.set_user_timeout(t),
        }
        Ok(())
    }

    /// The user timeout in effect (`TCP_USER_TIMEOUT`): the socket's own, or
    /// the stack's default.
    pub fn user_timeout(&self, h: SocketHandle) -> Result<Option<Duration>, Error> {
        Ok(self.header_options(h)?.user_timeout)
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

    /// `IP_TOS` / `IPV6_TCLASS`: the type-of-service (traffic-class) byte
    /// of this socket's packets. Only the DSCP, its upper six bits (RFC 2474
    /// §3), is used; the two ECN bits are RFC 3168's and ignored here. Set
    /// before `connect` or `listen` it applies from the SYN (a listener's
    /// SYN-ACKs and accepted connections inherit it); on a connection, from
    /// the next segment.
    ///
    /// ```
    /// use synfin::stack::{Stack, StackConfig};
    ///
    /// let mut stack = Stack::new(StackConfig::default(), 1);
    /// let s = stack.socket();
    /// stack.set_tos(s, 0x20).unwrap(); // CS1
    /// assert_eq!(stack.tos(s), Ok(0x20));
    /// ```
    pub fn set_tos(&mut self, h: SocketHandle, tos: u8) -> Result<(), Error> {
        let tos = tos & !0b11;
        match &mut self.sockets.app_mut(h).ok_or(Error::InvalidHandle)?.kind {
            SocketKind::Unbound(u) => u.header.tos = Some(tos),
            SocketKind::Listener(l) => l.header.tos = Some(tos),
            SocketKind::Conn(c) => {
                let mut ip = c.conn.ip_fields();
                ip.dscp = tos >> 2;
                c.conn.set_ip_fields(ip);
            }
        }
        self.note_bound_ip(h);
        Ok(())
    }

    /// The TOS / traffic-class byte in use (ECN bits zero).
    pub fn tos(&self, h: SocketHandle) -> Result<u8, Error> {
        Ok(self.header_options(h)?.ip_fields().dscp << 2)
    }

    /// `IP_TTL` / `IPV6_UNICAST_HOPS`: the TTL or hop limit of this
    /// socket's packets (1..=255), inherited and applied as
    /// [`set_tos`](Self::set_tos); `None` goes back to the stack's
    /// [`TcpConfig::hop_limit`](crate::tcp::TcpConfig::hop_limit).
    pub fn set_hop_limit(&mut self, h: SocketHandle, hops: Option<u8>) -> Result<(), Error> {
        if hops == Some(0) {
            return Err(Error::InvalidInput);
        }
        let default = self.config.tcp.hop_limit;
        match &mut self.sockets.app_mut(h).ok_or(Error::InvalidHandle)?.kind {
            SocketKind::Unbound(u) => u.header.hop_limit = hops,
            SocketKind::Listener(l) => l.header.hop_limit = hops,
            SocketKind::Conn(c) => {
                let mut ip = c.conn.ip_fields();
                ip.hop_limit = hops.unwrap_or(default);
                c.conn.set_ip_fields(ip);
            }
        }
        self.note_bound_ip(h);
        Ok(())
    }

    /// The TTL / hop limit in use.
    pub fn hop_limit(&self, h: SocketHandle) -> Result<u8, Error> {
        Ok(self.header_options(h)?.ip_fields().hop_limit)
    }

    /// `TCP_NOOPT`: the SYN (or a listener's SYN-ACK) carries no TCP option
    /// at all, not even the MSS, so no window scaling, timestamps or SACK
    /// are negotiated and the peer assumes the default MSS (536 for IPv4,
    /// 1220 for IPv6; RFC 9293 §3.7.1). Set before `connect` or `listen`;
    /// once the SYN is out it changes nothing (as in FreeBSD).
    pub fn set_no_options(&mut self, h: SocketHandle, on: bool) -> Result<(), Error> {
        match &mut self.sockets.app_mut(h).ok_or(Error::InvalidHandle)?.kind {
            SocketKind::Unbound(u) => u.header.no_options = Some(on),
            SocketKind::Listener(l) => l.header.no_options = Some(on),
            SocketKind::Conn(_) => {}
        }
        Ok(())
    }

    /// Whether the socket sends (or sent) its SYN without options.
    pub fn no_options(&self, h: SocketHandle) -> Result<bool, Error> {
        Ok(self.header_options(h)?.no_options)
    }

    /// `TCP_KEEPINIT`: how long an active open may take to reach
    /// ESTABLISHED before it fails with [`Error::TimedOut`], however many
    /// SYN retransmissions [`TcpConfig::syn_retries`](crate::tcp::TcpConfig::syn_retries)
    /// would still allow; `None` leaves only the retry count. Without a call
    /// the socket uses [`TcpConfig::keepinit`](crate::tcp::TcpConfig::keepinit).
    /// Set it before `connect`; a connecting or connected socket reports
    /// [`Error::AlreadyConnected`].
    pub fn set_keepinit(&mut self, h: SocketHandle, t: Option<Duration>) -> Result<(), Error> {
        if t.is_some_and(|d| d.is_zero()) {
            return Err(Error::InvalidInput);
        }
        match &mut self.sockets.app_mut(h).ok_or(Error::InvalidHandle)?.kind {
            SocketKind::Unbound(u) => u.header.keepinit = Some(t),
            SocketKind::Listener(l) => l.header.keepinit = Some(t),
            SocketKind::Conn(_) => return Err(Error::AlreadyConnected),
        }
        Ok(())
    }

    /// The bound on connection establishment (`TCP_KEEPINIT`).
    pub fn keepinit(&self, h: SocketHandle) -> Result<Option<Duration>, Error> {
        Ok(self.header_options(h)?.keepinit)
    }

    /// Records `h` in the bound-socket IP-field index if it is a bound,
    /// unconnected socket with its own TOS or hop limit (BSD: a segment for
    /// a port bound but not listening is answered by that socket's
    /// `inpcb`, whose IP options the RST carries).
    pub(crate) fn note_bound_ip(&mut self, h: SocketHandle) {
        let local = match self.sockets.get(h).map(|s| &s.kind) {
            Some(SocketKind::Unbound(u))
                if u.header.tos.is_some() || u.header.hop_limit.is_some() =>
            {
                u.local
            }
            _ => None,
        };
        let Some(local) = local else { return };
        if self.bound_ip.len() >= 64 {
            let sockets = &self.sockets;
            self.bound_ip
                .retain(|a, h| matches!(sockets.get(*h).map(|s| &s.kind), Some(SocketKind::Unbound(u)) if u.local == Some(*a)));
        }
        self.bound_ip.insert(local, h);
    }

    /// The IP header fields of a RST for a segment to `local` that no
    /// connection or listener took: those of a socket bound there, if it
    /// set any, else the stack's.
    pub(crate) fn bound_ip_fields(&mut self, local: SocketAddr) -> crate::tcp::IpFields {
        let mut ip = self.config.tcp.ip_fields();
        if self.bound_ip.is_empty() {
            return ip;
        }
        let wildcard = SocketAddr::new(super::unspecified(local.ip()), local.port());
        for a in [local, wildcard] {
            let Some(&h) = self.bound_ip.get(&a) else {
                continue;
            };
            match self.sockets.app(h).map(|s| &s.kind) {
                Some(SocketKind::Unbound(u)) if u.local == Some(a) => {
                    if let Some(t) = u.header.tos {
                        ip.dscp = t >> 2;
                    }
                    if let Some(hl) = u.header.hop_limit {
                        ip.hop_limit = hl;
                    }
                    return ip;
                }
                _ => {
                    self.bound_ip.remove(&a);
                }
            }
        }
        ip
    }

    /// The IP header and SYN settings in effect: a connection's own, else
    /// the socket's overrides on the stack's defaults.
    fn header_options(&self, h: SocketHandle) -> Result<crate::tcp::TcpConfig, Error> {
        let s = self.sockets.app(h).ok_or(Error::InvalidHandle)?;
        let mut cfg = self.config.tcp.clone();
        match &s.kind {
            SocketKind::Unbound(u) => u.header.apply(&mut cfg),
            SocketKind::Listener(l) => l.header.apply(&mut cfg),
            SocketKind::Conn(c) => {
                let ip = c.conn.ip_fields();
                cfg.tos = ip.dscp << 2;
                cfg.hop_limit = ip.hop_limit;
                cfg.no_options = c.conn.no_options();
                cfg.keepinit = c.conn.keepinit();
                cfg.user_timeout = c.conn.user_timeout();
            }
        }
        Ok(cfg)
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
