//! Socket operations: the BSD calls on the sans-IO stack.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};

use super::demux::TableKey;
use super::events::{NetEvents, NetState};
use super::listener::Listener;
use super::socket::{ConnSocket, HeaderOptions, Socket, SocketHandle, SocketKind, SocketOptions};
use super::{queue_for_transmit, queue_owed, unspecified, Error, FourTuple, Stack};
use crate::tcp::conn::{ConnDefaults, IoError};
use crate::tcp::{Connection, State};
use crate::time::Instant;
use crate::wire::{TcpFlags, TcpOptions};

/// What a socket from [`Stack::socket`] brings to its connect: its
/// binding, ECN mode, IP header options and socket options.
type SocketSetup<'a> = (
    Option<SocketAddr>,
    Option<crate::tcp::EcnMode>,
    HeaderOptions,
    &'a SocketOptions,
);

/// `open_connection`'s connection for a socket from [`Stack::socket`]
/// (`setup`): options set before connect shape the SYN (window scale,
/// MSS). Out of line and cold: `Stack::connect`'s own socket (every
/// connect of the benchmark) takes the stack's defaults by reference
/// instead, and its code keeps its cache lines to itself.
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn open_configured(
    conn: &mut Connection,
    stack_defaults: &ConnDefaults,
    tcp: &crate::tcp::TcpConfig,
    (_, ecn, header, options): SocketSetup<'_>,
    local: SocketAddr,
    remote: SocketAddr,
    iss: crate::wire::SeqNum,
    now: Instant,
) {
    let cfg = options.connection_config(tcp, ecn, &header);
    let defaults = ConnDefaults::for_config(*stack_defaults, &cfg);
    conn.open_active(&defaults, &cfg, local, remote, iss, now);
    if options.message_mode {
        conn.request_message_mode();
    }
}

/// Which halves `shutdown` closes, as in `std::net::Shutdown`.
pub use std::net::Shutdown;

impl From<IoError> for Error {
    fn from(e: IoError) -> Error {
        match e {
            IoError::WouldBlock => Error::WouldBlock,
            IoError::WriteShutdown => Error::BrokenPipe,
            IoError::NotConnected => Error::NotConnected,
            IoError::Failed(c) => c.into(),
        }
    }
}

impl Stack {
    /// A new, unbound socket (`socket(AF_INET, SOCK_STREAM, 0)`).
    pub fn socket(&mut self) -> SocketHandle {
        self.sockets.insert(Socket {
            kind: SocketKind::Unbound(Box::default()),
            options: SocketOptions::default(),
            timer_at: None,
            orphaned: false,
            net: Default::default(),
            queued: 0,
        })
    }

    /// Binds an unbound socket to a local address; port 0 picks one later.
    pub fn bind(&mut self, h: SocketHandle, local: SocketAddr) -> Result<(), Error> {
        if !local.ip().is_unspecified() && !self.addrs.contains(&local.ip()) {
            return Err(Error::AddrNotAvailable);
        }
        let reuse = self
            .sockets
            .get(h)
            .ok_or(Error::InvalidHandle)?
            .options
            .reuse_address;
        if local.port() != 0 && self.port_in_use(local, reuse, h) {
            return Err(Error::AddrInUse);
        }
        match &mut self.sockets.app_mut(h).ok_or(Error::InvalidHandle)?.kind {
            SocketKind::Unbound(u) if u.local.is_none() => {
                u.local = Some(local);
                self.note_bound_ip(h);
                Ok(())
            }
            _ => Err(Error::InvalidInput),
        }
    }

    /// Whether binding `local` would conflict. A listener or bound socket on
    /// exactly the same address and port always conflicts; one on an
    /// overlapping address (wildcard vs. specific) conflicts unless
    /// reuse-address is set, as in BSD — which is what lets a specific
    /// listener coexist with a wildcard one (the specific wins the demux).
    /// Without reuse-address, any connection (TIME-WAIT included) using that
    /// local port conflicts too.
    fn port_in_use(&self, local: SocketAddr, reuse: bool, except: SocketHandle) -> bool {
        // IPv4 and IPv6 are separate port spaces (there is no dual-stack
        // mapping of IPv4 onto IPv6 sockets).
        let overlaps = |a: IpAddr| {
            a == local.ip()
                || (!reuse
                    && a.is_ipv4() == local.ip().is_ipv4()
                    && (a.is_unspecified() || local.ip().is_unspecified()))
        };
        for h in self.sockets.handles() {
            if h == except {
                continue;
            }
            let Some(s) = self.sockets.get(h) else {
                continue;
            };
            let bound = match &s.kind {
                SocketKind::Unbound(u) => u.local,
                SocketKind::Listener(l) => Some(l.local),
                SocketKind::Conn(c) if !reuse && !c.conn.is_done() => Some(c.conn.local()),
                SocketKind::Conn(_) => None,
            };
            if bound.is_some_and(|b| b.port() == local.port() && overlaps(b.ip())) {
                return true;
            }
        }
        !reuse
            && self
                .time_wait
                .iter()
                .any(|(k, _)| k.local_port == local.port() && overlaps(k.local().ip()))
    }

    /// `bind` + `listen` in one call.
    pub fn listen(&mut self, local: SocketAddr, backlog: usize) -> Result<SocketHandle, Error> {
        let h = self.socket();
        let r = self.bind(h, local).and_then(|_| self.listen_on(h, backlog));
        if let Err(e) = r {
            self.sockets.remove(h);
            return Err(e);
        }
        Ok(h)
    }

    /// `listen(backlog)` on a bound socket. Listening again only changes the
    /// backlog (as in Linux).
    pub fn listen_on(&mut self, h: SocketHandle, backlog: usize) -> Result<(), Error> {
        let backlog = backlog.clamp(1, self.config.max_backlog.max(1));
        let s = self.sockets.app_mut(h).ok_or(Error::InvalidHandle)?;
        let (local, ecn, header) = match &mut s.kind {
            SocketKind::Listener(l) => {
                l.backlog = backlog;
                return Ok(());
            }
            SocketKind::Unbound(u) => match u.local {
                Some(l) if l.port() != 0 => (l, u.ecn, u.header),
                _ => return Err(Error::InvalidInput),
            },
            SocketKind::Conn(_) => return Err(Error::AlreadyConnected),
        };
        let mut listener = Box::new(Listener::new(local, backlog));
        listener.ecn = ecn;
        listener.header = header;
        s.kind = SocketKind::Listener(listener);
        self.listeners.insert((local.ip(), local.port()), h);
        Ok(())
    }

    /// `connect` in one call: a new socket, an ephemeral port, and the SYN.
    pub fn connect(&mut self, now: Instant, remote: SocketAddr) -> Result<SocketHandle, Error> {
        // Straight to a connection socket: the unbound state `socket()`
        // would box only to be dropped again (an allocation and a free per
        // connect, issue 6).
        let (conn, key, hash) = self.open_connection(now, remote, None)?;
        // The socket is born in the state `touch` would leave it in (the
        // one look-up and the general bookkeeping of a touch saved,
        // callgrind, issue 6): a fresh SYN-SENT byte stream has no events,
        // nothing selected, no linger; its SYN is due and its timer is
        // TCP_KEEPINIT's, if set.
        debug_assert!(!conn.negotiated().message_mode);
        let state = conn.state();
        // Its SYN is to be sent (open_active): on the transmit list.
        debug_assert!(conn.wants_transmit());
        let deadline = conn.poll_timeout();
        if self.transitions.is_some() {
            self.record(now, conn.local(), Some(remote), State::Closed, state);
        }
        let mut cs = ConnSocket::new(conn);
        debug_assert!(cs.conn.pending_events().is_empty());
        cs.last_state = state;
        cs.tx_queued = true;
        let h = self.sockets.insert(Socket {
            kind: SocketKind::Conn(cs),
            options: SocketOptions::default(),
            timer_at: deadline,
            orphaned: false,
            net: NetState::connecting(),
            queued: 0,
        });
        self.conns.insert_new(key, hash, h);
        self.born(h, true, deadline);
        Ok(h)
    }

    /// A connection socket `h` just inserted in its touched state (see
    /// `connect`): joins the transmit list if `tx`, the timer heap at
    /// `deadline` (its `timer_at` already says so).
    #[inline]
    pub(super) fn born(&mut self, h: SocketHandle, tx: bool, deadline: Option<Instant>) {
        if tx {
            self.tx_ready.push_back(h);
        }
        if let Some(t) = deadline {
            self.timers.set(h, t);
        }
    }

    /// `connect` on a socket from [`Stack::socket`], bound or not. Returns at
    /// once; completion is reported by [`super::Event::Connected`] and the
    /// state.
    pub fn connect_from(
        &mut self,
        now: Instant,
        h: SocketHandle,
        remote: SocketAddr,
    ) -> Result<(), Error> {
        let s = self.sockets.app(h).ok_or(Error::InvalidHandle)?;
        let (bound, ecn, header) = match &s.kind {
            SocketKind::Unbound(u) => (u.local, u.ecn, u.header),
            SocketKind::Listener(_) => return Err(Error::InvalidInput),
            SocketKind::Conn(_) => return Err(Error::AlreadyConnected),
        };
        let options = s.options.clone();
        let (conn, key, hash) =
            self.open_connection(now, remote, Some((bound, ecn, header, &options)))?;
        let s = self.sockets.app_mut(h).ok_or(Error::InvalidHandle)?;
        s.kind = SocketKind::Conn(ConnSocket::new(conn));
        let mask_before = core::mem::replace(&mut s.net, NetState::connecting());
        s.net.inherit_mask(&mask_before);
        self.conns.insert_new(key, hash, h);
        self.touch(now, h);
        Ok(())
    }

    /// The connection an active open to `remote` starts (SYN-SENT, its SYN
    /// ready) and its 4-tuple, from the socket's binding and options: the
    /// local address (the bound one, else the stack's first of the
    /// family), the port (bound, else RFC 6056's ephemeral pick), the ISN;
    /// and, for an IPv4 key, its hash ([`super::demux::Demux::insert_new`]).
    /// `setup` is what a socket from [`Stack::socket`] brings (its binding,
    /// ECN mode, IP header options and socket options); `None` for
    /// [`Stack::connect`]'s new socket, which has none of them, so its
    /// connection is configured by the stack's configuration without
    /// asking whether anything overrides it.
    fn open_connection(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        setup: Option<SocketSetup<'_>>,
    ) -> Result<(Box<Connection>, TableKey, u64), Error> {
        let bound = setup.as_ref().and_then(|s| s.0);
        if remote.port() == 0 || remote.ip().is_unspecified() {
            return Err(Error::InvalidInput);
        }
        let local_ip = match bound.map(|b| b.ip()) {
            Some(ip) if !ip.is_unspecified() => ip,
            _ => *self
                .addrs
                .iter()
                .find(|a| a.is_ipv4() == remote.is_ipv4())
                .ok_or(Error::AddrNotAvailable)?,
        };
        if local_ip.is_ipv4() != remote.is_ipv4() {
            return Err(Error::InvalidInput);
        }
        let bound_port = bound.map(|b| b.port()).filter(|&p| p != 0);
        // An IPv4 pair is keyed compactly from here on (port search,
        // demultiplexing, TIME-WAIT, the ISN's hash input): no 36-byte
        // tuple is built, and the key's hash serves the demux insert.
        let (local, key, hash, (iss, ts_offset)) = match (local_ip, remote) {
            (IpAddr::V4(l), SocketAddr::V4(r)) => {
                let (k, port, hash) = self.port_v4(l, r, bound_port)?;
                let local = SocketAddr::V4(SocketAddrV4::new(l, port));
                let isn = self.secret.isn_and_ts_offset_v4(&k, now);
                (local, TableKey::V4(k), hash, isn)
            }
            _ => self.open_tuple_other(now, local_ip, remote, bound_port)?,
        };
        let mut conn = self.conn_box();
        let tcp = &self.config.tcp;
        let stack_defaults = ConnDefaults::cached(&mut self.conn_defaults, tcp);
        match setup {
            // The stack's defaults by reference (a copy of them, and of
            // them again through `ConnDefaults::for_config`, cost some
            // 20 instructions a connect; issue 6).
            None => conn.open_active(stack_defaults, tcp, local, remote, iss, now),
            Some(setup) => open_configured(
                &mut conn,
                stack_defaults,
                tcp,
                setup,
                local,
                remote,
                iss,
                now,
            ),
        }
        conn.set_ts_offset(ts_offset);
        Ok((conn, key, hash))
    }

    /// `open_connection`'s port, key and ISN for a pair other than IPv4
    /// to IPv4 (IPv6): out of line and cold, so the IPv4 connect's code
    /// does not share its cache lines with it.
    #[cold]
    #[inline(never)]
    fn open_tuple_other(
        &mut self,
        now: Instant,
        local_ip: IpAddr,
        remote: SocketAddr,
        bound_port: Option<u16>,
    ) -> Result<(SocketAddr, TableKey, u64, (crate::wire::SeqNum, u32)), Error> {
        // An ephemeral port is picked free of connections and
        // TIME-WAIT records already; a bound one is checked here.
        let port = match bound_port {
            Some(p) => p,
            None => self
                .ephemeral_port(local_ip, remote)
                .ok_or(Error::AddrNotAvailable)?,
        };
        let t = FourTuple::new(SocketAddr::new(local_ip, port), remote);
        if bound_port.is_some() && (self.conns.contains_key(&t) || self.time_wait.contains(&t)) {
            return Err(Error::AddrInUse);
        }
        let isn = self.secret.isn_and_ts_offset(&t, now);
        Ok((t.local(), TableKey::Other(t), 0, isn))
    }

    /// Takes the oldest established connection from a listener's accept
    /// queue (`WouldBlock` when empty).
    pub fn accept(&mut self, listener: SocketHandle) -> Result<(SocketHandle, SocketAddr), Error> {
        let s = self.sockets.app_mut(listener).ok_or(Error::InvalidHandle)?;
        let SocketKind::Listener(l) = &mut s.kind else {
            return Err(Error::InvalidInput);
        };
        // Winsock re-enables ACCEPT on every accept call, even a failed one.
        s.net.reenable(NetEvents::ACCEPT);
        let h = l.accept_queue.pop_front().ok_or(Error::WouldBlock)?;
        let more = !l.accept_queue.is_empty();
        l.shrink_if_idle();
        // The listener's bookkeeping while it is in hand (one look-up
        // fewer, issue 6): ACCEPTABLE while more wait, and its network
        // events (ACCEPT re-enabled above).
        if more {
            super::raise(
                &mut self.events,
                &mut s.queued,
                listener,
                super::Event::Acceptable,
            );
        }
        s.net.update(&s.kind);
        let Some(s) = self.sockets.get_mut(h) else {
            return Err(Error::ConnectionAborted);
        };
        let SocketKind::Conn(c) = &mut s.kind else {
            return Err(Error::ConnectionAborted);
        };
        c.in_accept_queue = false;
        let remote = c.conn.remote();
        // The new socket may already hold data or a FIN, or be writable.
        super::events::update(s);
        Ok((h, remote))
    }

    /// Queues data; returns how much fit (`WouldBlock` if none did).
    pub fn send(&mut self, now: Instant, h: SocketHandle, data: &[u8]) -> Result<usize, Error> {
        let lingering = self.sockets.linger_until(h).is_some();
        // One look-up for the call and its bookkeeping.
        let Some(Socket { kind, net, .. }) = self.sockets.app_mut(h) else {
            return Err(Error::InvalidHandle);
        };
        let SocketKind::Conn(c) = kind else {
            return Err(Error::NotConnected);
        };
        if c.conn.negotiated().message_mode {
            // Message mode: each send is one whole message.
            return self.send_message(now, h, data).map(|()| data.len());
        }
        #[cfg(debug_assertions)]
        let deadline = c.conn.poll_timeout();
        let r = c.conn.send(data).map_err(Error::from);
        match r {
            // A byte stream's queue grew: `queues_touched`.
            Ok(n) if !lingering && c.unchanged_since_touch() => {
                #[cfg(debug_assertions)]
                debug_assert_eq!(c.conn.poll_timeout(), deadline, "a send moves no timer");
                // Bytes queued in a synchronized state (ESTABLISHED or
                // CLOSE-WAIT, the only ones a send queues into once the
                // handshake is done) are unsent bytes: a segment is owed.
                let owed = n > 0 && c.conn.state().is_synchronized();
                queues_touched(&mut self.tx_ready, c, net, h, owed);
            }
            Ok(_) => self.touch(now, h),
            Err(e) => {
                if e == Error::WouldBlock {
                    // WRITE is recorded again once space opens.
                    net.reenable(NetEvents::WRITE);
                    net.update_conn(c);
                }
                self.touch(now, h);
            }
        }
        r
    }

    /// Reads queued data; `Ok(0)` is end-of-stream (the peer's FIN), and an
    /// abnormal end is reported after the data received before it.
    // Inline down to the answer of a poll loop's receive that finds
    // nothing (`WouldBlock`: half the receives of a request/response
    // exchange), which then needs no frame of its own; the rest out of
    // line (issue 6).
    #[inline]
    pub fn recv(&mut self, now: Instant, h: SocketHandle, buf: &mut [u8]) -> Result<usize, Error> {
        if let Some(Socket {
            kind: SocketKind::Conn(c),
            net,
            ..
        }) = self.sockets.app_mut(h)
        {
            if c.conn.recv_would_block() && !c.conn.negotiated().message_mode {
                // What `recv_general` does for `WouldBlock` (which moves no
                // timer and changes nothing else).
                net.reenable(NetEvents::READ);
                net.update_conn(c);
                return Err(Error::WouldBlock);
            }
        }
        self.recv_general(now, h, buf)
    }

    /// [`Stack::recv`] past the nothing-to-read answer.
    #[inline(never)]
    fn recv_general(
        &mut self,
        now: Instant,
        h: SocketHandle,
        buf: &mut [u8],
    ) -> Result<usize, Error> {
        let lingering = self.sockets.linger_until(h).is_some();
        // One look-up for the call and its bookkeeping.
        let Some(Socket { kind, net, .. }) = self.sockets.app_mut(h) else {
            return Err(Error::InvalidHandle);
        };
        let SocketKind::Conn(c) = kind else {
            return Err(Error::NotConnected);
        };
        if c.conn.negotiated().message_mode {
            // Message mode: each receive is one whole message.
            return self.recv_message(now, h, buf);
        }
        #[cfg(debug_assertions)]
        let deadline = c.conn.poll_timeout();
        let r = c.conn.recv(buf, false).map_err(Error::from);
        // Even a failed receive re-enables READ (Winsock).
        net.reenable(NetEvents::READ);
        #[cfg(debug_assertions)]
        debug_assert_eq!(c.conn.poll_timeout(), deadline, "a receive moves no timer");
        // A receive that found nothing, or the end of the stream (a poll
        // loop makes many), changed nothing but the READ re-enabling; a
        // read changed the queue only (a window update may be owed); an
        // error gets the full bookkeeping.
        match r {
            Err(Error::WouldBlock) => net.update_conn(c),
            Ok(0) if !lingering && c.unchanged_since_touch() => net.update_conn(c),
            Ok(_) if !lingering && c.unchanged_since_touch() => {
                // The last touch queued the connection, or found it had
                // nothing to send (or nothing it could send: Nagle, the
                // peer's window — a read changes neither): a window update
                // is all a read can add.
                if !c.tx_queued && c.conn.owes_ack_now() {
                    c.tx_queued = true;
                    self.tx_ready.push_back(h);
                }
                net.update_conn(c);
            }
            _ => {
                net.update_conn(c);
                self.touch(now, h);
            }
        }
        r
    }

    /// Like [`Stack::recv`] but leaves the data queued.
    pub fn peek(&mut self, h: SocketHandle, buf: &mut [u8]) -> Result<usize, Error> {
        if self.conn(h)?.negotiated().message_mode {
            // Peeking would expose record headers.
            return Err(Error::Unsupported);
        }
        self.conn_mut(h)?.recv(buf, true).map_err(Error::from)
    }

    /// `shutdown`: `Write` sends a FIN after the queued data; `Read` makes
    /// reads return end-of-stream and resets the peer if data is discarded
    /// now or later (DESIGN.md); `Both` does both.
    pub fn shutdown(&mut self, now: Instant, h: SocketHandle, how: Shutdown) -> Result<(), Error> {
        let conn = self.conn_mut(h)?;
        if conn.state() == State::Closed {
            return Err(Error::NotConnected);
        }
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            conn.shutdown_read();
        }
        let message_mode = conn.negotiated().message_mode;
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            if message_mode {
                // Message mode: the write side ends with an (empty)
                // DISCONNECT record; a second shutdown changes nothing.
                match self.send_disconnect(now, h, &[]) {
                    Ok(()) | Err(Error::BrokenPipe) => {}
                    Err(e) => return Err(e),
                }
            } else {
                conn.shutdown_write();
            }
        }
        self.touch(now, h);
        Ok(())
    }

    /// `close` with default linger: returns at once; the connection closes
    /// gracefully in the background (FIN after queued data), or is reset if
    /// unread data would be lost. A listener resets every connection it has
    /// not handed out. The handle is dead afterwards.
    pub fn close(&mut self, now: Instant, h: SocketHandle) -> Result<(), Error> {
        // A byte stream's connection closed without SO_LINGER (every close
        // of a request/response exchange) is closed, orphaned and
        // bookkept on one look-up of its socket (issue 6).
        let calm = self.transitions.is_none() && self.sockets.none_lingering();
        let (s, orphans) = self
            .sockets
            .app_mut_and_orphans(h)
            .ok_or(Error::InvalidHandle)?;
        if let SocketKind::Conn(c) = &mut s.kind {
            if !s.options.linger_ms.is_some() {
                super::message::before_close(c);
                let before = c.conn.state();
                #[cfg(debug_assertions)]
                let deadline = c.conn.poll_timeout();
                c.conn.close(now, &self.config.tcp);
                s.orphaned = true;
                *orphans += 1;
                if calm && *orphans <= self.config.max_orphans && closed_quietly(c, before) {
                    #[cfg(debug_assertions)]
                    debug_assert_eq!(c.conn.poll_timeout(), deadline, "a close moves no timer");
                    c.last_state = c.conn.state();
                    // The FIN just queued is owed (FIN-WAIT-1 or LAST-ACK
                    // entered now, so it is not sent yet): no need to ask
                    // `wants_transmit` (a call a close, issue 6).
                    queue_owed(&mut self.tx_ready, c, h);
                } else {
                    self.enforce_orphan_cap(h);
                    self.touch(now, h);
                }
                return Ok(());
            }
        }
        // What is left: a lingering connection, a listener, an unbound
        // socket.
        let s = self.sockets.app_mut(h).ok_or(Error::InvalidHandle)?;
        match &mut s.kind {
            SocketKind::Unbound(_) => {
                self.sockets.remove(h);
            }
            SocketKind::Listener(l) => {
                let key = (l.local.ip(), l.local.port());
                let pending: Vec<_> = l.accept_queue.drain(..).collect();
                let half_open = l.syn_queue.take_all();
                let local = l.local;
                self.listeners.remove(&key);
                self.sockets.remove(h);
                self.record(now, local, None, State::Listen, State::Closed);
                for e in half_open {
                    // Half-open entries are reset too, or a client whose
                    // final ACK was lost would sit in ESTABLISHED unowned.
                    // <SEQ=ISS+1><ACK=IRS+1><CTL=RST,ACK> is exact for a
                    // client in ESTABLISHED (RFC 5961 §3.2) and acceptable
                    // to one still in SYN-SENT (RFC 9293 §3.10.7.3).
                    self.record(
                        now,
                        e.key.local(),
                        Some(e.key.remote()),
                        State::SynReceived,
                        State::Closed,
                    );
                    self.push_control(super::Control {
                        local: e.key.local(),
                        remote: e.key.remote(),
                        seq: e.iss + 1u32,
                        ack: e.irs + 1u32,
                        flags: TcpFlags::RST | TcpFlags::ACK,
                        window: 0,
                        options: TcpOptions::default(),
                        ip: e.ip,
                    });
                }
                for c in pending {
                    // DESIGN.md: closing a listener resets every unaccepted
                    // connection.
                    self.sockets.orphan(c);
                    if let Some(s) = self.sockets.get_mut(c) {
                        if let SocketKind::Conn(cs) = &mut s.kind {
                            cs.conn.abort();
                        }
                    }
                    self.touch(now, c);
                }
            }
            SocketKind::Conn(c) => {
                // SO_LINGER is set: a connection without it was closed above.
                super::message::before_close(c);
                let ms = s.options.linger_ms.get().unwrap_or(0);
                return self.close_lingering(now, h, ms);
            }
        }
        Ok(())
    }

    /// ABORT: RST where the RFC sends one, queues discarded, no TIME-WAIT.
    /// The handle stays valid (state CLOSED) until closed.
    pub fn abort(&mut self, now: Instant, h: SocketHandle) -> Result<(), Error> {
        self.conn_mut(h)?.abort();
        self.touch(now, h);
        Ok(())
    }

    /// State of a socket: LISTEN, a connection state, or CLOSED.
    pub fn state(&self, h: SocketHandle) -> Result<State, Error> {
        let s = self.sockets.app(h).ok_or(Error::InvalidHandle)?;
        Ok(match &s.kind {
            SocketKind::Unbound(_) => State::Closed,
            SocketKind::Listener(_) => State::Listen,
            SocketKind::Conn(c) => {
                let st = c.conn.state();
                if st == State::TimeWait
                    && !self
                        .time_wait
                        .contains(&FourTuple::new(c.conn.local(), c.conn.remote()))
                {
                    State::Closed
                } else {
                    st
                }
            }
        })
    }

    /// The error that ended a connection, if it ended abnormally.
    pub fn socket_error(&self, h: SocketHandle) -> Result<Option<Error>, Error> {
        Ok(self.conn(h)?.error().map(Error::from))
    }

    /// Local address.
    pub fn local_addr(&self, h: SocketHandle) -> Result<SocketAddr, Error> {
        let s = self.sockets.app(h).ok_or(Error::InvalidHandle)?;
        match &s.kind {
            SocketKind::Unbound(u) => u.local.ok_or(Error::InvalidInput),
            SocketKind::Listener(l) => Ok(l.local),
            SocketKind::Conn(c) => Ok(c.conn.local()),
        }
    }

    /// Peer address.
    pub fn peer_addr(&self, h: SocketHandle) -> Result<SocketAddr, Error> {
        Ok(self.conn(h)?.remote())
    }

    /// Bytes waiting to be read.
    pub fn recv_queue_len(&self, h: SocketHandle) -> Result<usize, Error> {
        Ok(self.conn(h)?.recv_queue_len())
    }

    /// Bytes queued and not yet acknowledged.
    pub fn send_queue_len(&self, h: SocketHandle) -> Result<usize, Error> {
        Ok(self.conn(h)?.send_queue_len())
    }

    /// The connection behind a handle, for inspection.
    pub fn connection(&self, h: SocketHandle) -> Result<&Connection, Error> {
        self.conn(h)
    }

    /// The [`ConnDefaults`] of the stack's connection configuration,
    /// worked out once after each [`Stack::config_mut`].
    #[inline]
    pub(crate) fn conn_defaults(&mut self) -> ConnDefaults {
        *ConnDefaults::cached(&mut self.conn_defaults, &self.config.tcp)
    }

    pub(crate) fn conn(&self, h: SocketHandle) -> Result<&Connection, Error> {
        match &self.sockets.app(h).ok_or(Error::InvalidHandle)?.kind {
            SocketKind::Conn(c) => Ok(&c.conn),
            _ => Err(Error::NotConnected),
        }
    }

    pub(crate) fn conn_mut(&mut self, h: SocketHandle) -> Result<&mut Connection, Error> {
        match &mut self.sockets.app_mut(h).ok_or(Error::InvalidHandle)?.kind {
            SocketKind::Conn(c) => Ok(&mut c.conn),
            _ => Err(Error::NotConnected),
        }
    }
}

/// Whether a graceful `close` of byte-stream connection `c` (`before` its
/// state before the call) changed only the state and the FIN owed: the
/// usual close, ESTABLISHED → FIN-WAIT-1 or CLOSE-WAIT → LAST-ACK from
/// the state the last touch reported, with no event pending. An orphan
/// raises no application or network event, neither state is done, and no
/// deadline moves (CLOSE only queues the FIN, as SEND queues bytes: the
/// timers are armed when it goes out — debug builds check it). So of
/// [`Stack::touch`] the state to note and the transmit list remain.
/// Anything else (another state, a reset, message mode) takes the full
/// touch, as do a lingering close anywhere, transitions being recorded
/// and the orphan cap (the caller asks).
#[inline]
fn closed_quietly(c: &ConnSocket, before: State) -> bool {
    c.last_state == before
        && matches!(
            (before, c.conn.state()),
            (State::Established, State::FinWait1) | (State::CloseWait, State::LastAck)
        )
        && !c.conn.has_events()
        && !c.conn.negotiated().message_mode
}

/// The bookkeeping after a send of a byte stream, on the socket
/// the call looked up (not lingering, `unchanged_since_touch`). A send
/// changes the queue only: no state, event or retirement can follow, and
/// no deadline moves (SEND only queues bytes; the timers are armed when
/// segments go out and come in — debug builds check it in `send`, and
/// in `recv`, whose read needs even less), so of [`Stack::touch`] the
/// transmit list and the selected network events remain.
/// Anything else the connection shows (a state not yet reported, events,
/// done, message mode, a lingering close) takes the full touch.
/// Always inline: its one caller is `send`, and left to itself LLVM
/// outlined it (a call and a frame per send, issue 6).
/// `owed`: the send left a segment to send for sure (see
/// [`queue_owed`]), so `wants_transmit` need not be asked.
#[inline(always)]
fn queues_touched(
    tx_ready: &mut super::events::Fifo<SocketHandle>,
    c: &mut ConnSocket,
    net: &mut NetState,
    h: SocketHandle,
    owed: bool,
) {
    if owed {
        queue_owed(tx_ready, c, h);
    } else {
        queue_for_transmit(tx_ready, c, h);
    }
    net.update_conn(c);
}

#[allow(dead_code)]
fn is_wildcard(ip: IpAddr) -> bool {
    ip == unspecified(ip)
}
