//! LISTEN and the passive SYN-RECEIVED: a listener's SYN queue of half-open
//! connections and its accept queue of established ones (RFC 9293 §3.10.7.2,
//! DESIGN.md "Listener").
//!
//! A SYN makes a [`HalfOpen`] entry — a few dozen bytes, no buffers — and a
//! SYN-ACK. Only the final ACK creates a full [`Connection`], which goes to
//! the accept queue already able to receive data and even a FIN. The
//! listener's own state never changes.

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::socket::{ConnSocket, Socket, SocketHandle, SocketKind, SocketOptions};
use super::{Control, FourTuple, Stack};
use crate::tcp::conn::{local_mss, negotiate, wscale_for, Negotiated};
use crate::tcp::{Connection, State};
use crate::time::Instant;
use crate::wire::{SeqNum, TcpFlags, TcpOptions, TcpRepr};

/// A listening socket.
pub(crate) struct Listener {
    pub local: SocketAddr,
    /// Bounds both queues (Linux bounds the SYN queue by the same value).
    pub backlog: usize,
    pub syn_queue: Vec<HalfOpen>,
    pub accept_queue: VecDeque<SocketHandle>,
}

/// A passive SYN-RECEIVED entry.
#[derive(Clone, Debug)]
pub(crate) struct HalfOpen {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub iss: SeqNum,
    pub irs: SeqNum,
    pub opts: Negotiated,
    pub ts_recent: u32,
    pub ts_offset: u32,
    pub retries: u8,
    pub deadline: Instant,
}

impl Listener {
    pub fn new(local: SocketAddr, backlog: usize) -> Self {
        Listener {
            local,
            backlog: backlog.max(1),
            syn_queue: Vec::new(),
            accept_queue: VecDeque::new(),
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.syn_queue.iter().map(|h| h.deadline).min()
    }
}

impl Stack {
    /// A segment for a listener: either for one of its half-open entries, or
    /// a new SYN.
    pub(crate) fn listener_segment(
        &mut self,
        now: Instant,
        lh: SocketHandle,
        key: FourTuple,
        seg: &TcpRepr<'_>,
    ) {
        let Some(Socket {
            kind: SocketKind::Listener(l),
            ..
        }) = self.sockets.get_mut(lh)
        else {
            return;
        };
        if let Some(i) = l
            .syn_queue
            .iter()
            .position(|h| h.remote == key.remote() && h.local == key.local())
        {
            self.half_open_segment(now, lh, i, seg);
            return;
        }
        let f = seg.flags;
        // RFC 9293 §3.10.7.2, LISTEN: first RST, then ACK, then SYN.
        if f.contains(TcpFlags::RST) {
            return;
        }
        if f.contains(TcpFlags::ACK) {
            self.reply_rst(key, seg);
            return;
        }
        if !f.contains(TcpFlags::SYN) {
            return;
        }
        let backlog = l.backlog;
        if l.accept_queue.len() >= backlog || l.syn_queue.len() >= backlog {
            // DESIGN.md: accept queue full — drop the SYN, the client retries.
            // (SYN-queue overflow gets SYN cookies in the hardening work.)
            self.stats.listen_overflows += 1;
            tracing::debug!(listener = %l.local, "listen queue full, SYN dropped");
            return;
        }
        let cfg = &self.config.tcp;
        let local = key.local();
        // The window scale is fixed by the SYN-ACK, so it must already fit
        // the receive buffer the listener's options ask for.
        let recv_buffer = self
            .sockets
            .get(lh)
            .and_then(|s| s.options.recv_buffer.get())
            .map_or(cfg.recv_buffer, |b| b as usize);
        let our_ws = if cfg.window_scaling {
            wscale_for(recv_buffer)
        } else {
            0
        };
        let opts = negotiate(cfg, &local, &seg.options, our_ws);
        let entry = HalfOpen {
            local,
            remote: key.remote(),
            iss: self.secret.isn(&key, now),
            irs: seg.seq,
            opts,
            ts_recent: seg.options.timestamps.map_or(0, |t| t.0),
            ts_offset: self.secret.ts_offset(&key),
            retries: 0,
            deadline: now + cfg.initial_rto,
        };
        self.record(
            now,
            local,
            Some(entry.remote),
            State::Listen,
            State::SynReceived,
        );
        self.send_syn_ack(now, &entry);
        if let Some(Socket {
            kind: SocketKind::Listener(l),
            ..
        }) = self.sockets.get_mut(lh)
        {
            l.syn_queue.push(entry);
        }
        self.schedule(lh, now + self.config.tcp.initial_rto);
    }

    /// RFC 9293 §3.10.7.4 for a passive SYN-RECEIVED entry.
    fn half_open_segment(&mut self, now: Instant, lh: SocketHandle, i: usize, seg: &TcpRepr<'_>) {
        let Some(Socket {
            kind: SocketKind::Listener(l),
            ..
        }) = self.sockets.get_mut(lh)
        else {
            return;
        };
        let h = l.syn_queue[i].clone();
        let f = seg.flags;
        let rcv_nxt = h.irs + 1u32;
        if f.contains(TcpFlags::RST) {
            // A passive SYN-RECEIVED returns to LISTEN silently; the RST must
            // hit RCV.NXT exactly (RFC 5961 §3.2).
            if seg.seq == rcv_nxt {
                l.syn_queue.swap_remove(i);
                self.record(
                    now,
                    h.local,
                    Some(h.remote),
                    State::SynReceived,
                    State::Closed,
                );
            }
            return;
        }
        if f.contains(TcpFlags::SYN) {
            if seg.seq == h.irs {
                // The SYN again: our SYN-ACK was lost.
                self.send_syn_ack(now, &h);
            }
            return;
        }
        if !f.contains(TcpFlags::ACK) {
            return;
        }
        if seg.ack != h.iss + 1u32 {
            let key = FourTuple::new(h.local, h.remote);
            self.reply_rst(key, seg);
            return;
        }
        if seg.seq.diff(rcv_nxt) < 0 {
            return;
        }
        if l.accept_queue.len() >= l.backlog {
            // Linux's default: ignore the ACK, keep the entry, let the SYN-ACK
            // be retransmitted until the application accepts.
            self.stats.listen_overflows += 1;
            return;
        }
        l.syn_queue.swap_remove(i);
        let options = self.listener_options(lh);
        let cfg = options.effective(&self.config.tcp);
        let mut conn = Connection::accepted(
            &cfg,
            h.local,
            h.remote,
            h.iss,
            h.irs,
            h.opts,
            h.ts_recent,
            h.ts_offset,
            seg.window,
            now,
        );
        if h.retries > 0 {
            // RFC 6298 §5.7: the SYN-ACK timer expired at least once.
            conn.syn_was_retransmitted();
        }
        // WSAEventSelect: an accepted socket inherits the listener's selection.
        let net = self
            .sockets
            .get(lh)
            .map(|s| super::events::NetState::inherit(&s.net))
            .unwrap_or_default();
        let handle = self.sockets.insert(Socket {
            kind: SocketKind::Conn(ConnSocket {
                conn: Box::new(conn),
                listener: Some(lh),
                last_state: State::Established,
                tx_queued: false,
            }),
            options,
            timer_at: None,
            orphaned: false,
            linger_until: None,
            net,
        });
        let key = FourTuple::new(h.local, h.remote);
        self.conns.insert(key, handle);
        if let Some(Socket {
            kind: SocketKind::Listener(l),
            ..
        }) = self.sockets.get_mut(lh)
        {
            l.accept_queue.push_back(handle);
        }
        self.record(
            now,
            h.local,
            Some(h.remote),
            State::SynReceived,
            State::Established,
        );
        self.raise(lh, super::Event::Acceptable);
        if let Some(s) = self.sockets.get_mut(lh) {
            super::events::update(s);
        }
        // The final ACK may carry data or a FIN: the new connection takes it.
        if !seg.payload.is_empty() || f.contains(TcpFlags::FIN) {
            if let Some(Socket {
                kind: SocketKind::Conn(c),
                ..
            }) = self.sockets.get_mut(handle)
            {
                c.conn.on_segment(now, &self.config.tcp, seg);
            }
        }
        self.touch(now, handle);
    }

    fn listener_options(&self, lh: SocketHandle) -> SocketOptions {
        self.sockets
            .get(lh)
            .map(|s| s.options.clone())
            .unwrap_or_default()
    }

    fn send_syn_ack(&mut self, now: Instant, h: &HalfOpen) {
        let cfg = &self.config.tcp;
        let mut options = TcpOptions {
            mss: Some(local_mss(cfg, &h.local)),
            ..TcpOptions::default()
        };
        if h.opts.window_scaling {
            options.window_scale = Some(h.opts.rcv_wscale);
        }
        if h.opts.timestamps {
            options.timestamps = Some((
                (now.total_millis() as u32).wrapping_add(h.ts_offset),
                h.ts_recent,
            ));
        }
        let window = cfg.recv_buffer.min(65535) as u16;
        self.push_control(Control {
            local: h.local,
            remote: h.remote,
            seq: h.iss,
            ack: h.irs + 1u32,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window,
            options,
        });
    }

    /// Listener timers: retransmit SYN-ACKs with exponential backoff and drop
    /// entries whose retries ran out (RFC 9293 §3.8.1, R2 for SYN).
    pub(crate) fn listener_timeout(&mut self, now: Instant, lh: SocketHandle) {
        let Some(Socket {
            kind: SocketKind::Listener(l),
            ..
        }) = self.sockets.get_mut(lh)
        else {
            return;
        };
        let cfg = &self.config.tcp;
        let mut resend = Vec::new();
        let mut dropped = Vec::new();
        l.syn_queue.retain_mut(|h| {
            if h.deadline > now {
                return true;
            }
            if h.retries >= cfg.synack_retries {
                dropped.push((h.local, h.remote));
                return false;
            }
            h.retries += 1;
            let rto = (cfg.initial_rto * (1u32 << h.retries.min(16))).min(cfg.max_rto);
            h.deadline = now + rto;
            resend.push(h.clone());
            true
        });
        let next = l.next_deadline();
        for h in &resend {
            self.send_syn_ack(now, h);
        }
        for (local, remote) in dropped {
            tracing::debug!(%local, %remote, "half-open connection timed out");
            self.record(now, local, Some(remote), State::SynReceived, State::Closed);
        }
        if let Some(t) = next {
            self.schedule(lh, t);
        }
    }
}
