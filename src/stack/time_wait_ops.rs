//! TIME-WAIT as the stack runs it: a compact record per 4-tuple
//! ([`super::time_wait`]) that re-acknowledges a retransmitted FIN, ignores
//! RSTs (RFC 1337), lets a newer SYN reopen the 4-tuple (RFC 6191), and
//! answers any other SYN as a synchronized state does (RFC 5961 §4).

use super::time_wait::TimeWaitEntry;
use super::{Control, FourTuple, Stack};
use crate::tcp::State;
use crate::time::Instant;
use crate::wire::{TcpFlags, TcpOptions, TcpRepr};

impl Stack {
    /// A segment for a 4-tuple in TIME-WAIT. Returns true when the segment
    /// is a SYN that reopens the 4-tuple and should go on to the listener.
    pub(crate) fn time_wait_segment(
        &mut self,
        now: Instant,
        key: FourTuple,
        seg: &TcpRepr<'_>,
    ) -> bool {
        let Some(e) = self.time_wait.get(&key) else {
            return true;
        };
        let f = seg.flags;
        if f.contains(TcpFlags::RST) {
            // RFC 1337: a RST must not cut TIME-WAIT short (DESIGN.md).
            return false;
        }
        if f.contains(TcpFlags::SYN) {
            if self.time_wait_reopens(&key, &e, seg) {
                self.time_wait.reopen(&key);
                self.record(
                    now,
                    key.local(),
                    Some(key.remote()),
                    State::TimeWait,
                    State::Closed,
                );
                return true;
            }
            self.time_wait_syn(now, key, &e, seg);
            return false;
        }
        if !f.contains(TcpFlags::ACK) {
            // Every segment after the handshake carries ACK (RFC 9293
            // §3.10.7.4 "fifth": drop one without it); it is not the
            // peer's retransmitted FIN, so it neither draws an ACK nor
            // restarts the timer (as FreeBSD's tcp_twcheck).
            return false;
        }
        let seg_len = seg.segment_len();
        if f.contains(TcpFlags::FIN) {
            // The peer did not get our last ACK and repeats its FIN:
            // acknowledge again and restart the 2×MSL timer
            // (RFC 9293 §3.10.7.4, TIME-WAIT, "eighth").
            self.time_wait
                .restart(&key, now + self.config.tcp.time_wait());
            self.time_wait_ack(now, key, &e);
        } else if seg_len > 0 || seg.seq != e.rcv_nxt {
            // Not acceptable in TIME-WAIT: answer with an ACK.
            self.time_wait_ack(now, key, &e);
        }
        false
    }

    /// RFC 6191 §2: a connection request (SYN, no ACK) reopens the 4-tuple
    /// only when it is newer than the old incarnation — by timestamp when
    /// both used them, else by sequence number (RFC 1122 MAY-2) — and a
    /// listener will take it (Linux's TCP_TW_SYN without a listener is
    /// answered with an ACK, too). A SYN-FIN that the listener would drop
    /// (`drop_syn_fin`) does not reopen either: the record would be gone
    /// and nothing would answer.
    fn time_wait_reopens(&self, key: &FourTuple, e: &TimeWaitEntry, seg: &TcpRepr<'_>) -> bool {
        let f = seg.flags;
        if f.contains(TcpFlags::ACK)
            || (self.config.drop_syn_fin && f.contains(TcpFlags::FIN))
            || self.listener_for(key.local()).is_none()
        {
            return false;
        }
        match (e.ts_recent, seg.options.timestamps) {
            (Some(recent), Some((val, _))) => val.wrapping_sub(recent) as i32 > 0,
            _ => seg.seq.diff(e.rcv_nxt) > 0,
        }
    }

    /// A SYN that does not reopen the 4-tuple (an old or replayed SYN, a
    /// SYN-ACK, a SYN with no listener to take it). TIME-WAIT is a
    /// synchronized state (RFC 9293 §3.10.7.4), so it is answered as the
    /// others answer a SYN: by default (RFC 5961 §4.2) with a challenge
    /// ACK from the stack-wide budget (§7), the record left as it is — RFC
    /// 6191's "leaving the previous incarnation of the connection in the
    /// TIME-WAIT state"; the ACK tells a peer that really restarted where
    /// the old connection stood, and it answers with a RST that TIME-WAIT
    /// ignores (RFC 1337) until its next SYN is newer or the record
    /// expires. Configured for RFC 793's rule (`rfc5961_syn` off,
    /// FreeBSD's `insecure_syn=1`), a SYN in the window resets and ends
    /// TIME-WAIT, as it resets any other synchronized state, and one
    /// outside the window gets the plain ACK of an unacceptable segment.
    fn time_wait_syn(
        &mut self,
        now: Instant,
        key: FourTuple,
        e: &TimeWaitEntry,
        seg: &TcpRepr<'_>,
    ) {
        if self.config.tcp.rfc5961_syn {
            if self
                .challenges
                .allow(now, self.config.challenge_ack_limit, &mut self.rng)
            {
                self.stats.challenge_acks += 1;
                self.time_wait_ack(now, key, e);
            } else {
                self.stats.challenge_acks_limited += 1;
            }
            return;
        }
        let rcv_wnd = u32::from(e.window) << e.rcv_wscale;
        let offset = seg.seq.diff(e.rcv_nxt);
        if offset >= 0 && (offset as u32) < rcv_wnd {
            // RFC 793 §3.9 "If the SYN is in the window it is an error,
            // send a reset ... enter the CLOSED state, delete the TCB".
            self.time_wait.reopen(&key);
            self.record(
                now,
                key.local(),
                Some(key.remote()),
                State::TimeWait,
                State::Closed,
            );
            self.stats.resets_sent += 1;
            self.push_control(Control {
                local: key.local(),
                remote: key.remote(),
                seq: e.snd_nxt,
                ack: e.rcv_nxt,
                flags: TcpFlags::RST | TcpFlags::ACK,
                window: 0,
                options: TcpOptions::default(),
                ip: self.config.tcp.ip_fields(),
            });
        } else {
            self.time_wait_ack(now, key, e);
        }
    }

    fn time_wait_ack(&mut self, now: Instant, key: FourTuple, e: &TimeWaitEntry) {
        let mut options = TcpOptions::default();
        if let Some(recent) = e.ts_recent {
            let val = (now.total_millis() as u32).wrapping_add(self.secret.ts_offset(&key));
            options.timestamps = Some((val, recent));
        }
        self.push_control(Control {
            local: key.local(),
            remote: key.remote(),
            seq: e.snd_nxt,
            ack: e.rcv_nxt,
            flags: TcpFlags::ACK,
            window: e.window,
            options,
            ip: self.config.tcp.ip_fields(),
        });
    }

    pub(crate) fn expire_time_wait(&mut self, now: Instant) {
        if self.transitions.is_some() {
            let mut expired = Vec::new();
            self.time_wait.expire_with(now, |k| expired.push(k));
            for k in expired {
                self.record(
                    now,
                    k.local(),
                    Some(k.remote()),
                    State::TimeWait,
                    State::Closed,
                );
            }
        } else {
            self.time_wait.expire(now);
        }
    }
}
