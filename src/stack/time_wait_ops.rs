//! TIME-WAIT as the stack runs it: a compact record per 4-tuple
//! ([`super::time_wait`]) that re-acknowledges a retransmitted FIN, ignores
//! RSTs (RFC 1337), and lets a newer SYN reopen the 4-tuple (RFC 6191).

use super::time_wait::TimeWaitEntry;
use super::{Control, FourTuple, Stack};
use crate::tcp::State;
use crate::time::Instant;
use crate::wire::{SeqNum, TcpFlags, TcpOptions, TcpRepr};

impl Stack {
    pub(crate) fn enter_time_wait(
        &mut self,
        now: Instant,
        key: FourTuple,
        snd_nxt: SeqNum,
        rcv_nxt: SeqNum,
        ts_recent: Option<u32>,
        window: u16,
    ) {
        let entry = TimeWaitEntry {
            snd_nxt,
            rcv_nxt,
            ts_recent,
            window,
        };
        self.time_wait
            .insert(key, entry, now + self.config.tcp.time_wait());
    }

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
        if f.contains(TcpFlags::SYN) && !f.contains(TcpFlags::ACK) {
            // RFC 6191 §2: reopen only for a SYN that is newer — by timestamp
            // when both used them, else by sequence number (RFC 1122 MAY-2).
            let newer = match (e.ts_recent, seg.options.timestamps) {
                (Some(recent), Some((val, _))) => val.wrapping_sub(recent) as i32 > 0,
                _ => seg.seq.diff(e.rcv_nxt) > 0,
            };
            if newer {
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
