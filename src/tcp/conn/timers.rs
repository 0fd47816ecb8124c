//! Timeouts (RFC 9293 §3.10.8): retransmission (RFC 6298), delayed ACK,
//! persist (zero-window probing), the orphaned FIN-WAIT-2 limit and
//! keep-alive.

use super::{Connection, TxFlags};
use crate::tcp::{ConnError, State, TcpConfig};
use crate::time::Instant;

impl Connection {
    /// The earliest instant at which [`Connection::handle_timeout`] has work.
    // Inline: the stack asks after every step (a dozen times a
    // lifecycle); out of line it was a call for five loads and a minimum
    // (−17 a lifecycle inline, callgrind).
    #[inline]
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Asked after every packet in and out and every user call: one
        // branch-free maximum over the stored form (`Instant::earliest`).
        Instant::earliest([
            self.rto_at,
            self.dack_at,
            self.persist_at,
            self.idle_at,
            self.loss_timeout(),
        ])
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant, cfg: &TcpConfig) {
        if self.dack_at.is_some_and(|t| t <= now) {
            self.dack_at = None;
            self.txf.set(TxFlags::ACK_NOW);
        }
        if self.idle_at.is_some_and(|t| t <= now) {
            self.idle_at = None;
            if matches!(self.state, State::SynSent | State::SynReceived) {
                // TCP_KEEPINIT (`Connection::connect`): still not
                // established.
                tracing::debug!(local = %self.local(), remote = %self.remote(), "connection establishment timed out (keepinit)");
                if self.state == State::SynReceived {
                    self.txf.set(TxFlags::SEND_RST);
                }
                self.fail(ConnError::TimedOut);
                return;
            }
            if self.fin_wait2_bounded() {
                // Orphaned FIN-WAIT-2 bounded (DESIGN.md: default close).
                self.send_q.clear();
                self.set_state(State::Closed);
                return;
            }
            self.on_keepalive(now, cfg);
        }
        if self.persist_at.is_some_and(|t| t <= now) {
            self.persist_at = None;
            // Zero window, or one too small to use (see `arm_persist`). The
            // timer runs only while nothing but earlier probes is in flight;
            // a probe still unacknowledged is sent again from SND.UNA (as
            // BSD does), so probing never stalls on its own byte
            // (RFC 9293 §3.8.6.1, MUST-36: probe until the window opens).
            if !self.send_q.is_empty() {
                // A peer that answers probes resets `retries` (input.rs);
                // one that stays silent is given up on like any unanswered
                // retransmission, as Linux does (tcp_probe_timer against
                // tcp_retries2) — else a vanished peer would hold the
                // connection forever.
                // The user timeout bounds unanswered probes too, counted
                // from the first one (Linux's tcp_probe_timer does the same
                // with TCP_USER_TIMEOUT); a peer that answers them with a
                // zero window resets `retries` and is probed for ever
                // (RFC 9293 MUST-36).
                let now_ms = now.total_millis() as u32;
                if self.retries == 0 {
                    self.rexmit_start_ms = now_ms;
                }
                let user_timeout_ms = self.user_timeout_ms();
                let user_timeout_hit = user_timeout_ms > 0
                    && now_ms.wrapping_sub(self.rexmit_start_ms) >= user_timeout_ms;
                if self.retries >= cfg.max_retries || user_timeout_hit {
                    tracing::debug!(local = %self.local(), remote = %self.remote(), "window probes unanswered");
                    self.txf.set(TxFlags::SEND_RST);
                    self.fail(if user_timeout_hit {
                        ConnError::TimedOut
                    } else {
                        ConnError::Aborted
                    });
                    return;
                }
                self.retries += 1;
                self.snd_nxt = self.snd_una;
                self.persist_backoff = self.persist_backoff.saturating_add(1);
                self.txf.set(TxFlags::PERSIST_PROBE);
            }
        }
        if self.rto_at.is_some_and(|t| t <= now) {
            self.rto_at = None;
            self.on_rto(now, cfg);
        }
        // RACK's reordering timer and the tail-loss probe (loss.rs).
        self.loss_handle_timeout(now);
    }

    /// Turns keep-alive on or off (`SO_KEEPALIVE`); the idle time starts now.
    pub fn set_keepalive(&mut self, now: Instant, cfg: &TcpConfig, on: bool) {
        self.settings.set(super::block::Settings::KEEPALIVE, on);
        self.keepalive_sent = 0;
        if !self.fin_wait2_bounded() {
            self.idle_at = None;
        }
        self.heard_from_peer(now, cfg);
    }

    /// An orphan in FIN-WAIT-2, whose stay the idle timer bounds.
    fn fin_wait2_bounded(&self) -> bool {
        self.orphaned && self.state == State::FinWait2
    }

    /// Any segment from the peer proves it alive: the idle time restarts.
    /// Inline: for a connection without keep-alive (the usual case) it is
    /// one flag test, cheaper than the call (issue 6); the restart itself
    /// is out of line.
    #[inline]
    pub(super) fn heard_from_peer(&mut self, now: Instant, cfg: &TcpConfig) {
        if self.settings.has(super::block::Settings::KEEPALIVE) {
            self.restart_keepalive_idle(now, cfg);
        }
    }

    #[inline(never)]
    fn restart_keepalive_idle(&mut self, now: Instant, cfg: &TcpConfig) {
        if self.state.is_synchronized()
            && !matches!(self.state, State::TimeWait)
            && !self.fin_wait2_bounded()
        {
            self.keepalive_sent = 0;
            self.idle_at = Some(now + cfg.keepalive_idle);
        }
    }

    /// RFC 9293 §3.8.4 / RFC 1122 §4.2.3.6: after the idle time, probe with
    /// `<SEQ=SND.NXT-1><CTL=ACK>`, which the peer must answer; give up with
    /// `TimedOut` after the configured number of unanswered probes.
    fn on_keepalive(&mut self, now: Instant, cfg: &TcpConfig) {
        if !self.settings.has(super::block::Settings::KEEPALIVE)
            || !self.state.is_synchronized()
            || self.state == State::TimeWait
        {
            return;
        }
        if self.snd_una != self.snd_max || self.unsent_len() > 0 {
            // Data in flight or queued: retransmission and the persist timer
            // already watch the peer. Check again after another idle period.
            self.idle_at = Some(now + cfg.keepalive_idle);
            return;
        }
        if self.keepalive_sent >= cfg.keepalive_probes {
            tracing::debug!(local = %self.local(), remote = %self.remote(), "keep-alive probes unanswered");
            self.txf.set(TxFlags::SEND_RST);
            self.fail(ConnError::TimedOut);
            return;
        }
        self.keepalive_sent += 1;
        self.txf.set(TxFlags::KEEPALIVE_PROBE);
        self.idle_at = Some(now + cfg.keepalive_interval);
    }

    /// RFC 6298 §5.4–5.7: retransmit the earliest unacknowledged segment,
    /// back off, and give up after the configured number of tries.
    fn on_rto(&mut self, now: Instant, cfg: &TcpConfig) {
        if self.snd_una == self.snd_max {
            return;
        }
        let limit = match self.state {
            State::SynSent | State::SynReceived => cfg.syn_retries,
            _ => cfg.max_retries,
        };
        let now_ms = now.total_millis() as u32;
        if self.retries == 0 {
            // The segment now timing out was sent one RTO ago.
            self.rexmit_start_ms = now_ms.wrapping_sub(self.rtt.rto().as_millis() as u32);
        }
        // RFC 5482 §3 / RFC 9293 §3.10.8 USER TIMEOUT: data unacknowledged
        // that long ends the connection, whatever the retry count.
        let elapsed_ms = now_ms.wrapping_sub(self.rexmit_start_ms);
        let user_timeout_ms = self.user_timeout_ms();
        let user_timeout_hit = user_timeout_ms > 0 && elapsed_ms >= user_timeout_ms;
        if self.retries >= limit || user_timeout_hit {
            let err = if self.state == State::SynSent || user_timeout_hit {
                ConnError::TimedOut
            } else {
                ConnError::Aborted
            };
            tracing::debug!(local = %self.local(), remote = %self.remote(), ?err, "retransmissions exhausted");
            // A connection that gives up tells the peer, as Linux does.
            if self.state.is_synchronized() {
                self.txf.set(TxFlags::SEND_RST);
            }
            self.fail(err);
            return;
        }
        self.retries += 1;
        if self.state == State::SynSent && self.retries == 3 && cfg.syn_rexmit_drop_options {
            // FreeBSD's rexmit_drop_options: from the third retransmission
            // the SYN offers the MSS alone (message mode keeps its option:
            // without it the connect fails anyway).
            use super::block::Settings;
            self.settings.set(
                Settings::OFFER_TS | Settings::OFFER_WSCALE | Settings::OFFER_SACK,
                false,
            );
        }
        if self.state == State::SynSent && self.retries > cfg.ecn_syn_retries {
            // RFC 3168 §6.1.1.1: the ECN-setup SYN may have been dropped by
            // a middlebox; retransmit it without ECE and CWR.
            self.opts.ecn = false;
        }
        self.rtt.backoff();
        // With SACK the scoreboard deems the unSACKed data lost and recovery
        // resends only that; otherwise go back to SND.UNA (loss.rs).
        if !self.state.is_synchronized() || self.loss_on_rto() {
            self.snd_nxt = self.snd_una;
        }
        self.rtt_probe = None;
        self.txf.clear(TxFlags::FAST_REXMIT);
        self.restart_rto(now);
        if user_timeout_ms > 0 {
            // Give up when the user timeout says, not at the first backed-off
            // timeout after it (Linux's tcp_clamp_rto_to_user_timeout).
            let left = user_timeout_ms.saturating_sub(elapsed_ms);
            let deadline = now + core::time::Duration::from_millis(u64::from(left.max(1)));
            self.rto_at = self.rto_at.map(|t| t.min(deadline));
        }
    }
}
