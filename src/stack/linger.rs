//! `close` with `SO_LINGER` set (DESIGN.md, "Semantics decisions"): `{on, 0}`
//! aborts; `{on, N}` closes gracefully and keeps the handle until everything
//! sent is acknowledged or N elapses, when the stack resets the connection
//! and close reports that delivery was not confirmed.

use super::socket::{OptU32, SocketKind};
use super::{Error, SocketHandle, Stack};
use crate::tcp::{ConnError, State};
use crate::time::Instant;

impl Stack {
    /// `close` on a connection whose linger option is set to `ms`
    /// milliseconds. Returns `WouldBlock` while a `{on, N}` close waits; the
    /// application calls close again (on [`super::Event::Closed`]) to learn
    /// the outcome, which also releases the handle.
    pub(super) fn close_lingering(
        &mut self,
        now: Instant,
        h: SocketHandle,
        ms: u32,
    ) -> Result<(), Error> {
        let lingering = self.sockets.linger_until(h).is_some();
        let s = self.sockets.app_mut(h).ok_or(Error::InvalidHandle)?;
        let SocketKind::Conn(c) = &mut s.kind else {
            return Err(Error::InvalidInput);
        };
        if ms == 0 {
            // RFC 9293 §3.10.5 ABORT: RST with SEQ=SND.NXT, queues dropped,
            // no TIME-WAIT.
            c.conn.abort();
            self.sockets.set_linger_until(h, None);
            self.sockets.orphan(h);
            self.touch(now, h);
            return Ok(());
        }
        if !lingering {
            // First call: the FIN goes after the queued data (or a RST, if
            // unread data would be lost), and the clock starts.
            let reset = c.conn.close(now, &self.config.tcp);
            if reset {
                self.sockets.orphan(h);
                self.touch(now, h);
                return Err(Error::ConnectionAborted);
            }
            let until = now + core::time::Duration::from_millis(u64::from(ms));
            self.sockets.set_linger_until(h, Some(until));
        }
        let Some(SocketKind::Conn(c)) = self.sockets.get(h).map(|s| &s.kind) else {
            return Err(Error::InvalidInput);
        };
        let conn = &c.conn;
        let outcome = match conn.state() {
            State::Closed => match conn.error() {
                Some(e) => Some(Err(Error::from(e))),
                None if conn.all_acked() => Some(Ok(())),
                // Closed before our FIN was acknowledged (a reset in
                // LAST-ACK or CLOSING): delivery is not confirmed.
                None => Some(Err(Error::ConnectionAborted)),
            },
            _ if conn.all_acked() => Some(Ok(())),
            _ => None,
        };
        match outcome {
            Some(r) => {
                self.sockets.set_linger_until(h, None);
                self.sockets.orphan(h);
                // Everything was acknowledged (or the connection is over):
                // what is left, FIN-WAIT-2 or LAST-ACK, is an ordinary orphan.
                self.enforce_orphan_cap(h);
                self.touch(now, h);
                r
            }
            None => {
                self.touch(now, h);
                Err(Error::WouldBlock)
            }
        }
    }

    /// Closes `h` without ever waiting — what dropping a socket object of
    /// the blocking and async APIs does: linger `{on, 0}` still aborts
    /// (RST), as BSD's `close` does; any other setting, including a
    /// `{on, N}` close already in progress, becomes a default close, graceful
    /// in the background. The handle is gone afterwards.
    ///
    /// ```
    /// use std::time::Duration;
    /// use synfin::stack::{Stack, StackConfig};
    /// use synfin::time::Instant;
    ///
    /// let mut stack = Stack::new(StackConfig::default(), 1);
    /// stack.add_address("198.18.0.1".parse().unwrap());
    /// let now = Instant::ZERO;
    /// let c = stack.connect(now, "198.18.0.2:80".parse().unwrap()).unwrap();
    /// stack.set_linger(c, Some(Duration::from_secs(5))).unwrap();
    /// assert_eq!(stack.release(now, c), Ok(()));
    /// assert_eq!(stack.state(c), Err(synfin::stack::Error::InvalidHandle));
    /// ```
    pub fn release(&mut self, now: Instant, h: SocketHandle) -> Result<(), Error> {
        let s = self.sockets.app_mut(h).ok_or(Error::InvalidHandle)?;
        if matches!(s.kind, SocketKind::Conn(_))
            && s.options.linger_ms.get().is_some_and(|ms| ms > 0)
        {
            s.options.linger_ms = OptU32::default();
            self.sockets.set_linger_until(h, None);
        }
        self.close(now, h)
    }

    /// The linger time ran out with data or our FIN unacknowledged: reset,
    /// and let the next close report `TimedOut`.
    pub(super) fn linger_expired(&mut self, h: SocketHandle) {
        if let Some(s) = self.sockets.get_mut(h) {
            if let SocketKind::Conn(c) = &mut s.kind {
                if !c.conn.all_acked() && c.conn.state() != State::Closed {
                    tracing::debug!(local = %c.conn.local(), remote = %c.conn.remote(), "linger expired; resetting");
                    c.conn.abort_with(ConnError::TimedOut);
                }
            }
        }
    }
}
