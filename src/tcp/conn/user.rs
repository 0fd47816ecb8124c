//! User calls on a connection (RFC 9293 §3.10.2–§3.10.5): SEND, RECEIVE,
//! CLOSE (our `shutdown_write`), the socket `close`, and ABORT.

use super::{Connection, Events, TxFlags};
use crate::tcp::{ConnError, State, TcpConfig};
use crate::time::Instant;

/// Why a send or receive could not proceed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum IoError {
    /// Nothing to read yet, or no room to write.
    WouldBlock,
    /// Writing after our own FIN was queued (`EPIPE`).
    WriteShutdown,
    /// The connection is not (or no longer) open and no error explains why.
    NotConnected,
    /// The connection ended abnormally.
    Failed(ConnError),
}

impl Connection {
    /// SEND (RFC 9293 §3.10.2): queue as much of `data` as fits. Data
    /// written in SYN-SENT waits for the handshake. Inline: the stack's
    /// `send` is a few compares and the queue's copy around it.
    #[inline]
    pub fn send(&mut self, data: &[u8]) -> Result<usize, IoError> {
        match self.state {
            State::SynSent | State::SynReceived | State::Established | State::CloseWait
                if !self.fin_queued => {}
            State::Closed => return Err(self.error.map_or(IoError::NotConnected, IoError::Failed)),
            _ => return Err(IoError::WriteShutdown),
        }
        if data.is_empty() {
            return Ok(0);
        }
        let n = self.send_q.write(data);
        if n == 0 {
            return Err(IoError::WouldBlock);
        }
        Ok(n)
    }

    /// RECEIVE (RFC 9293 §3.10.3) into `buf`: queued data first, then `0`
    /// at the FIN, or the error that ended the connection.
    // Inline: a poll loop's receive that finds nothing (half the receives
    // of a request/response exchange) is a few compares in the caller, not
    // a call of the data path's frame (issue 6).
    #[inline]
    pub fn recv(&mut self, buf: &mut [u8], peek: bool) -> Result<usize, IoError> {
        if self.recv_queue_len() > 0 {
            return Ok(self.recv_queued(buf, peek));
        }
        if self.state.peer_fin_received() || self.rd_closed {
            return Ok(0);
        }
        if self.state == State::Closed {
            return self.recv_after_close();
        }
        Err(IoError::WouldBlock)
    }

    /// Whether [`Connection::recv`] would answer `WouldBlock` (nothing
    /// queued, the stream not ended, the connection not closed).
    #[inline]
    pub(crate) fn recv_would_block(&self) -> bool {
        self.recv_queue_len() == 0
            && !self.state.peer_fin_received()
            && !self.rd_closed
            && self.state != State::Closed
    }

    /// [`Connection::recv`] with data queued. Inline: its callers are the
    /// stack's receive past the would-block answer (`recv_general`, itself
    /// out of line) and `peek`.
    #[inline]
    fn recv_queued(&mut self, buf: &mut [u8], peek: bool) -> usize {
        if buf.is_empty() {
            return 0;
        }
        if peek {
            return self.recv_q.peek(buf);
        }
        let before = self.advertised_window_field();
        // Storage handed back once drained: idle connections hold none.
        let n = self.recv_q.read_and_release(buf);
        self.window_update_after_read(before);
        n
    }

    /// [`Connection::recv`] in CLOSED with nothing queued.
    #[cold]
    #[inline(never)]
    fn recv_after_close(&self) -> Result<usize, IoError> {
        // The connection ended after the peer's FIN: normally (LAST-ACK or
        // CLOSING → CLOSED), by a reset (in CLOSE-WAIT, LAST-ACK or
        // CLOSING), or by giving up on our own FIN. The stream had already
        // ended, and end-of-stream takes precedence over any error
        // (SEMANTICS.md §2 rows 5 and 6; Linux's SOCK_DONE); writes and
        // SO_ERROR still report it.
        if self.peer_fin.is_some_and(|f| self.rcv_nxt.diff(f) > 0) {
            return Ok(0);
        }
        Err(self.error.map_or(IoError::NotConnected, IoError::Failed))
    }

    /// Whether an ACK is owed at once (after a read: the window update
    /// [`Connection::recv`] decided to announce). A read changes nothing
    /// else [`Connection::wants_transmit`] looks at, so this is all the
    /// stack asks after one (issue 6).
    #[inline]
    pub(crate) fn owes_ack_now(&self) -> bool {
        self.txf.has(TxFlags::ACK_NOW)
    }

    /// After a read: announce a window that opened by at least two segments
    /// or half the buffer (RFC 9293 §3.8.6.2.2, receiver SWS avoidance).
    /// Inline into its one caller, the read (a call's frame was a third
    /// of its cost, issue 6).
    #[inline]
    fn window_update_after_read(&mut self, before: u16) {
        let after = self.advertised_window_field();
        let ws = self.opts.rcv_wscale;
        let grown = (u32::from(after) << ws).saturating_sub(u32::from(before) << ws);
        let mss = u32::from(self.our_mss());
        let cap = self.recv_q.capacity() as u32;
        let adv = self.rcv_adv.diff(self.rcv_nxt).max(0) as u32;
        if self.state.is_synchronized()
            && !self.state.peer_fin_received()
            && (grown >= 2 * mss
                || grown >= cap / 2
                || adv < mss && (u32::from(after) << ws) >= mss)
        {
            self.txf.set(TxFlags::ACK_NOW);
        }
    }

    /// CLOSE (RFC 9293 §3.10.4) — `shutdown(Write)`: a FIN follows
    /// everything already queued. Never blocks. Returns false when there is
    /// no connection to shut down.
    pub fn shutdown_write(&mut self) -> bool {
        match self.state {
            State::SynSent | State::SynReceived => {
                // The FIN waits for the handshake (as in FreeBSD's
                // TF_NEEDFIN), then goes after the queued data.
                self.fin_queued = true;
                true
            }
            State::Established => {
                self.fin_queued = true;
                self.set_state(State::FinWait1);
                true
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.set_state(State::LastAck);
                true
            }
            State::Closed => false,
            _ => true,
        }
    }

    /// Stops the read side: nothing queued or arriving later will be read.
    /// Queued unread data is discarded and, like data that arrives later,
    /// answered with RST (DESIGN.md, `shutdown(Read)`). Returns whether a
    /// reset was sent.
    pub fn shutdown_read(&mut self) -> bool {
        self.rd_closed = true;
        if !self.recv_q.is_empty() && self.state.is_synchronized() {
            self.abort_with_rst();
            return true;
        }
        false
    }

    /// The socket `close` with default linger: graceful in the background,
    /// unless unread data would be lost, in which case the peer is reset
    /// (RFC 9293 SHLD-3, RFC 2525 §2.17). Returns whether it reset.
    pub fn close(&mut self, now: Instant, cfg: &TcpConfig) -> bool {
        self.orphaned = true;
        if self.state == State::SynSent {
            self.set_state(State::Closed);
            return false;
        }
        let unread = !self.recv_q.is_empty();
        self.rd_closed = true;
        if unread && !matches!(self.state, State::Closed | State::TimeWait) {
            self.abort_with_rst();
            return true;
        }
        self.shutdown_write();
        if self.state == State::FinWait2 {
            // Shut earlier with shutdown(Write): the orphan limit starts now.
            self.idle_at = Some(now + cfg.fin_wait2_timeout);
        }
        false
    }

    /// ABORT (RFC 9293 §3.10.5): RST where the RFC sends one, queues
    /// discarded, straight to CLOSED without TIME-WAIT.
    pub fn abort(&mut self) {
        match self.state {
            State::SynReceived
            | State::Established
            | State::FinWait1
            | State::FinWait2
            | State::CloseWait => self.abort_with_rst(),
            _ => {
                self.send_q.clear();
                self.recv_q.clear();
                self.set_state(State::Closed);
            }
        }
    }

    /// Copies received in-order bytes starting `offset` bytes after the
    /// first unread one into `buf`, without consuming them; returns the
    /// count. The message layer reads record headers with it.
    pub fn peek_received(&self, offset: usize, buf: &mut [u8]) -> usize {
        self.recv_q.peek_at(offset, buf)
    }

    /// Whether the peer's FIN has been taken in order (RCV.NXT is past it),
    /// whatever happened to the connection afterwards.
    pub fn fin_received(&self) -> bool {
        self.peer_fin.is_some_and(|f| self.rcv_nxt.diff(f) > 0)
    }

    /// Capacities of the send and receive queues.
    pub fn buffer_capacities(&self) -> (usize, usize) {
        (self.send_q.capacity(), self.recv_q.capacity())
    }

    /// Resets the connection on the application's behalf with `err` as the
    /// reason (a protocol violation above TCP): RST with SEQ=SND.NXT in every
    /// state that has a peer, queues discarded, no TIME-WAIT.
    pub fn reset_with(&mut self, err: ConnError) {
        if self.state == State::Closed {
            return;
        }
        if self.error.is_none() {
            self.error = Some(err);
        }
        self.abort_with_rst();
    }

    /// ABORT on the stack's behalf, recording why (an expired linger, for
    /// example), so the application is told.
    pub fn abort_with(&mut self, err: ConnError) {
        self.abort();
        if self.error.is_none() {
            self.error = Some(err);
        }
    }

    pub(super) fn abort_with_rst(&mut self) {
        self.send_q.clear();
        self.recv_q.clear();
        self.txf.set(TxFlags::SEND_RST);
        self.set_state(State::Closed);
        self.events.insert(Events::READABLE | Events::WRITABLE);
    }

    /// Sets the user timeout (RFC 5482 §3, Linux's `TCP_USER_TIMEOUT`): how
    /// long sent data, a SYN, or unanswered window probes may stay
    /// unacknowledged before the connection is aborted with `TimedOut`,
    /// whatever the retry count; `None` turns it off (only `max_retries` and
    /// `syn_retries` bound retransmission then). Kept in milliseconds, at
    /// most about 49 days. It applies from the next retransmission timeout.
    pub fn set_user_timeout(&mut self, timeout: Option<core::time::Duration>) {
        let ms = super::user_timeout_ms(timeout);
        if ms != self.user_timeout_ms() {
            self.cold_mut().user_timeout_ms = ms;
        }
    }

    /// The user timeout (see [`Connection::set_user_timeout`]).
    pub fn user_timeout(&self) -> Option<core::time::Duration> {
        let ms = self.user_timeout_ms();
        (ms > 0).then(|| core::time::Duration::from_millis(u64::from(ms)))
    }

    /// Sets or clears Nagle's algorithm (`TCP_NODELAY`).
    pub fn set_nodelay(&mut self, on: bool) {
        self.settings.set(super::block::Settings::NODELAY, on);
    }

    /// The IP header fields of this connection's segments.
    #[inline]
    pub fn ip_fields(&self) -> crate::tcp::IpFields {
        self.cold
            .as_ref()
            .map_or(super::block::DEFAULT_IP, |c| c.ip)
    }

    /// Changes the IP header fields (`IP_TOS`, `IP_TTL`, ...) of the
    /// segments sent from now on.
    pub fn set_ip_fields(&mut self, ip: crate::tcp::IpFields) {
        if ip != self.ip_fields() {
            self.cold_mut().ip = ip;
        }
    }

    /// Whether the SYN went without options (`TCP_NOOPT`).
    pub fn no_options(&self) -> bool {
        self.settings.has(super::block::Settings::NO_OPTIONS)
    }

    /// The bound on connection establishment (`TCP_KEEPINIT`).
    pub fn keepinit(&self) -> Option<core::time::Duration> {
        let ms = self.cold.as_ref().map_or(0, |c| c.keepinit_ms);
        (ms > 0).then(|| core::time::Duration::from_millis(u64::from(ms)))
    }

    /// Resizes the queues (`SO_SNDBUF`/`SO_RCVBUF`); data already queued is
    /// never dropped.
    pub fn set_buffer_sizes(&mut self, send: Option<usize>, recv: Option<usize>) {
        // An explicit size turns auto-tuning off (autotune.rs), as in Linux.
        if let Some(s) = send {
            self.send_q.set_capacity(s);
            self.snd_buf_max = u32::try_from(s).unwrap_or(u32::MAX);
        }
        if let Some(r) = recv {
            self.recv_q.set_capacity(r);
            self.rcv_buf_max = u32::try_from(r).unwrap_or(u32::MAX);
        }
    }
}
