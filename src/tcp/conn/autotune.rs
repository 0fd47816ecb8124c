//! Buffer auto-tuning: the receive queue grows so the advertised window
//! keeps ahead of what the sender delivers per round trip, and the send
//! queue grows with the congestion window, so one connection fills a long
//! fat pipe without the application sizing buffers — bounded by
//! `TcpConfig::recv_buffer_max` / `send_buffer_max`, and off for a socket
//! whose buffer size was set explicitly (`SO_RCVBUF`, `SO_SNDBUF`), as in
//! Linux.
//!
//! Receive side (Linux's dynamic right-sizing, tcp_rcv_space_adjust): once
//! per receiver-side RTT, the bytes the application read during it are
//! compared with the largest such count so far (reads, not arrivals, so a
//! peer cannot inflate the buffer of an application that does not read); when they grew, the
//! capacity becomes four times that (room for the sender to double in slow
//! start plus a round trip of out-of-order data during loss recovery). The
//! receiver's RTT is the connection's SRTT if it sends too, else the time a
//! window's worth of data takes to arrive (an upper bound, tcp_rcv_rtt_measure).
//!
//! Growth is geometric, so a queue is reallocated O(log(max/initial)) times
//! over a connection's life, never per packet.

use core::time::Duration;

use super::Connection;
use crate::time::Instant;

impl Connection {
    /// `advanced` bytes just became readable in order at `now`.
    /// Inlined to its test: once the queue reached its bound (or for a
    /// socket with an explicit `SO_RCVBUF`), a segment pays no call.
    #[inline]
    pub(super) fn rcv_autotune(&mut self, now: Instant, advanced: usize) {
        if advanced > 0 && self.recv_q.capacity() < self.rcv_buf_max as usize {
            self.rcv_autotune_grow(now);
        }
    }

    /// The auto-tuning of in-order text at `now`: the connection's first
    /// text starts both measurements here, and nothing else needs doing
    /// then; every later text takes [`Connection::rcv_autotune_measure`].
    /// Split so the first text (for a connection that exchanges a few
    /// bytes, the only one) pays for a small frame, not the measurement's
    /// (issue 6).
    fn rcv_autotune_grow(&mut self, now: Instant) {
        let srtt_known = self.rtt.srtt_micros().is_some();
        let (rcv_nxt, window) = (self.rcv_nxt, self.recv_q.window());
        let read_pos = rcv_nxt - self.recv_q.len() as u32;
        let l = self.loss();
        if l.rcv_rtt_seq.is_some() || l.space_at.is_some() {
            return self.rcv_autotune_measure(now);
        }
        // What the measurement does when neither has started.
        l.rcv_rtt_seq = Some(rcv_nxt + window.max(1));
        l.rcv_rtt_at = now;
        if srtt_known || l.rcv_rtt.is_some() {
            l.space_at = Some(now);
            l.space_seq = read_pos;
        }
    }

    /// The measurement proper (Linux's tcp_rcv_space_adjust and
    /// tcp_rcv_rtt_measure), once either has started.
    #[inline(never)]
    fn rcv_autotune_measure(&mut self, now: Instant) {
        let cap = self.recv_q.capacity();
        let max = self.rcv_buf_max as usize;
        // In microseconds: the Duration is built only once it is compared.
        let srtt_us = self.rtt.srtt_micros();
        let (rcv_nxt, window) = (self.rcv_nxt, self.recv_q.window());
        // The next byte the application will read.
        let read_pos = rcv_nxt - self.recv_q.len() as u32;
        let l = self.loss();
        // Receiver-side RTT: the time a window's worth of data took.
        match l.rcv_rtt_seq {
            None => {
                l.rcv_rtt_seq = Some(rcv_nxt + window.max(1));
                l.rcv_rtt_at = now;
            }
            Some(seq) if rcv_nxt.diff(seq) >= 0 => {
                let sample = now - l.rcv_rtt_at;
                l.rcv_rtt = Some(l.rcv_rtt.map_or(sample, |r| r.min(sample)));
                l.rcv_rtt_seq = None;
            }
            Some(_) => {}
        }
        let Some(at) = l.space_at else {
            // The first measurement starts once an RTT is known (a
            // connection's first in-order text, nearly always).
            if srtt_us.is_some() || l.rcv_rtt.is_some() {
                l.space_at = Some(now);
                l.space_seq = read_pos;
            }
            return;
        };
        let Some(rtt) = srtt_us.map(Duration::from_micros).or(l.rcv_rtt) else {
            return;
        };
        let rtt = rtt.max(Duration::from_millis(1));
        if now - at < rtt {
            return;
        }
        let copied = read_pos.diff(l.space_seq).max(0) as usize;
        l.space_at = Some(now);
        l.space_seq = read_pos;
        if copied <= l.space {
            return;
        }
        l.space = copied;
        let want = copied.saturating_mul(4);
        if want > cap {
            let new = want.max(cap.saturating_mul(2)).min(max);
            tracing::trace!(local = %self.local(), cap, new, "receive buffer grows");
            self.recv_q.set_capacity(new);
        }
    }

    /// After an ACK: the send queue grows once the congestion window
    /// reaches half of it (Linux's tcp_sndbuf_expand keeps about two
    /// windows queued), doubling at least.
    pub(super) fn snd_autotune(&mut self) {
        let cap = self.send_q.capacity();
        let max = self.snd_buf_max as usize;
        if cap >= max {
            return;
        }
        let cwnd = self.cwnd_now();
        if cwnd.saturating_mul(2) <= cap {
            return;
        }
        let new = cwnd.saturating_mul(2).max(cap.saturating_mul(2)).min(max);
        tracing::trace!(local = %self.local(), cap, new, "send buffer grows");
        self.send_q.set_capacity(new);
        let records = self.record_capacity();
        if let Some(l) = self.loss.as_mut() {
            l.board.set_capacity(records);
        }
        self.events.insert(super::Events::WRITABLE);
    }
}
