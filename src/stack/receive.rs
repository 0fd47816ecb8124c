//! Packets in: the entry points, the general parse and the demultiplexing
//! of what header prediction (fast_rx.rs) did not take.

use std::net::{IpAddr, SocketAddr};

use super::socket::{self, SocketHandle, SocketKind};
use super::{emit_control, Control, ControlPacket, Stack, CONTROL_MAX};
use crate::time::Instant;
use crate::wire::{self, FourTuple, SeqNum, TcpFlags, TcpOptions, TcpRepr, V4Key};

impl Stack {
    // ---- packets in ----

    /// Processes one IP packet from the link.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.receive_packet(now, packet, true);
    }

    /// [`Stack::handle_packet`] for a packet whose TCP checksum the link
    /// vouches for and which may be larger than the MTU: a TUN device's
    /// receive offload hands over the kernel's TSO segments (up to 64 KiB,
    /// checksum partial because they never crossed a wire) whole.
    pub fn handle_packet_trusted(&mut self, now: Instant, packet: &[u8]) {
        self.receive_packet(now, packet, false);
    }

    /// The two entry points' body. A segment with SYN set
    /// ([`wire::syn::may_carry_syn`]) is never one header prediction or the
    /// light path takes (`FastSegment::parse` refuses it), so it goes to
    /// the general path from here, a jump: the handshake's SYN and SYN-ACK (two of a short
    /// connection's eight segments) skip the fast parse's checks and its
    /// frame (the saved registers and stack space that the predicted
    /// segment's copy, commit and inline `touch` need).
    #[inline(always)]
    pub(super) fn receive_packet(&mut self, now: Instant, packet: &[u8], verify_checksum: bool) {
        if wire::syn::may_carry_syn(packet) {
            return self.receive_general(now, packet, verify_checksum);
        }
        self.receive_without_syn(now, packet, verify_checksum);
    }

    /// [`receive_packet`](Self::receive_packet) for a packet without SYN:
    /// header prediction first (fast_rx.rs), which changes nothing unless
    /// it takes the packet, else the general path.
    #[inline(never)]
    fn receive_without_syn(&mut self, now: Instant, packet: &[u8], verify_checksum: bool) {
        if self.receive_predicted(now, packet, verify_checksum) {
            return;
        }
        self.receive_general(now, packet, verify_checksum);
    }

    /// [`receive_packet`](Self::receive_packet) for a packet header
    /// prediction did not take: a SYN or SYN-ACK of the usual shape read
    /// at fixed offsets (wire/syn.rs; the SYN-ACK of a connection in
    /// SYN-SENT taken by `receive_syn_ack`, syn_ack_rx.rs), else the general
    /// parse; then the demultiplexing. Out of line, so the predicted
    /// packets' frame does not carry this one's.
    #[inline(never)]
    pub(super) fn receive_general(&mut self, now: Instant, packet: &[u8], verify_checksum: bool) {
        let usual = if wire::syn::looks_like_syn(packet) {
            wire::syn::SynSegment::parse(packet)
        } else {
            None
        };
        // The parsed packet by reference: the usual SYN's stays in its
        // `SynSegment` rather than being moved out (a copy of some 150
        // bytes per handshake segment, callgrind).
        let general;
        let pkt = match &usual {
            Some(s) => {
                if s.packet.tcp.flags.contains(TcpFlags::ACK)
                    && self.receive_syn_ack(now, s, verify_checksum)
                {
                    return;
                }
                if verify_checksum && !s.verify() {
                    self.stats.malformed += 1;
                    tracing::trace!(error = %wire::WireError::BadChecksum, "dropped packet");
                    return;
                }
                &s.packet
            }
            // `parse_tcp_packet_with`, its one-pass IPv4 parse inlined here
            // so the parsed headers are built in place rather than moved out
            // (calling it, even `#[inline(always)]`, costs 560 instructions
            // a lifecycle: callgrind, stop 17).
            None => {
                general = match wire::fast::parse_v4(packet, verify_checksum) {
                    Some(p) => p,
                    None => match wire::parse_tcp_packet_layered(packet, verify_checksum) {
                        Ok(p) => p,
                        Err(e) => {
                            self.stats.malformed += 1;
                            tracing::trace!(error = %e, "dropped packet");
                            return;
                        }
                    },
                };
                &general
            }
        };
        let ours = match pkt.ip.dst {
            IpAddr::V4(d) => is_local_v4(&self.addrs, d.octets()),
            d => self.addrs.contains(&d),
        };
        if !ours {
            self.stats.not_for_us += 1;
            return;
        }
        let seg = &pkt.tcp;
        // A TIME-WAIT record answers a SYN-FIN as it answers a SYN (it
        // never reopens with one, see `time_wait_segment`): FreeBSD's
        // tcp_twcheck runs before its drop_synfin test too.
        if self.config.drop_syn_fin
            && seg.flags.contains(TcpFlags::SYN | TcpFlags::FIN)
            && !self.time_wait.contains(&packet_key(pkt))
        {
            self.stats.malformed += 1;
            return;
        }
        // The connection: for IPv4 through the demultiplexing table's cache
        // keyed straight by the addresses (most packets find theirs), with
        // the 4-tuple built only for what follows when there is none.
        let found = match (pkt.ip.dst, pkt.ip.src) {
            (IpAddr::V4(d), IpAddr::V4(s)) => self.conns.get_v4_cached(&V4Key::new(
                d.octets(),
                s.octets(),
                seg.dst_port,
                seg.src_port,
            )),
            _ => self.conns.get_cached(&packet_key(pkt)),
        };
        if let Some(h) = found {
            if let Some(socket::Socket {
                kind: SocketKind::Conn(c),
                ..
            }) = self.sockets.get_mut(h)
            {
                c.conn.on_packet(now, &self.config.tcp, pkt.ip.ecn, seg);
                self.challenges.answer(
                    &mut c.conn,
                    now,
                    self.config.challenge_ack_limit,
                    &mut self.rng,
                    &mut self.stats,
                );
                self.touch(now, h);
                return;
            }
        }
        self.receive_unconnected(now, pkt);
    }

    /// The rest of [`receive_packet`](Self::receive_packet) for a segment
    /// no connection took: TIME-WAIT, then a listener, else a RST.
    #[inline(never)]
    pub(super) fn receive_unconnected(&mut self, now: Instant, pkt: &wire::TcpPacket<'_>) {
        let seg = &pkt.tcp;
        // An IPv4 tuple straight from the header's bytes (no `SocketAddr`s
        // built and taken apart): a passive open's SYN and final ACK.
        let key = match (pkt.ip.dst, pkt.ip.src) {
            (IpAddr::V4(d), IpAddr::V4(s)) => {
                FourTuple::from_v4(d.octets(), s.octets(), seg.dst_port, seg.src_port)
            }
            _ => packet_key(pkt),
        };
        // An empty TIME-WAIT table (a server whose clients close first) is
        // not searched: the search hashes the 4-tuple.
        if !self.time_wait.is_empty()
            && self.time_wait.contains(&key)
            && !self.time_wait_segment(now, key, seg)
        {
            return;
        }
        // The listener straight from the packet's address and port (no
        // `SocketAddr` built and taken apart again).
        let listener = match pkt.ip.dst {
            IpAddr::V4(ip) => self.listeners.find_v4(ip, seg.dst_port),
            ip => self.listeners.find(ip, seg.dst_port),
        };
        match listener {
            Some(lh) => self.listener_segment(now, lh, key, seg),
            None => self.reply_rst(key, seg),
        }
    }

    /// The listener a connection request to `local` goes to: the one bound
    /// to that address, else the wildcard one on its port.
    pub(crate) fn listener_for(&self, local: SocketAddr) -> Option<SocketHandle> {
        self.listeners.find(local.ip(), local.port())
    }

    /// RFC 9293 §3.10.7.1: a segment for no connection gets a RST, unless it
    /// is one.
    pub(crate) fn reply_rst(&mut self, key: FourTuple, seg: &TcpRepr<'_>) {
        if seg.flags.contains(TcpFlags::RST) {
            return;
        }
        let (seq, ack, flags) = if seg.flags.contains(TcpFlags::ACK) {
            (seg.ack, SeqNum(0), TcpFlags::RST)
        } else {
            (
                SeqNum(0),
                seg.seq + seg.segment_len(),
                TcpFlags::RST | TcpFlags::ACK,
            )
        };
        self.stats.resets_sent += 1;
        let ip = self.bound_ip_fields(key.local());
        self.push_control(Control {
            local: key.local(),
            remote: key.remote(),
            seq,
            ack,
            flags,
            window: 0,
            options: TcpOptions::default(),
            ip,
        });
    }

    pub(crate) fn push_control(&mut self, c: Control) {
        let repr = TcpRepr {
            src_port: c.local.port(),
            dst_port: c.remote.port(),
            seq: c.seq,
            ack: c.ack,
            flags: c.flags,
            window: c.window,
            urgent: 0,
            options: c.options,
            payload: &[],
        };
        let (src, dst) = (c.local.ip(), c.remote.ip());
        self.write_control(c.ip, |hop, dscp, buf| {
            emit_control(src, dst, hop, dscp, &repr, buf)
        });
    }

    /// Queues the control segment `emit` writes into the buffer it is
    /// given (returning its length, `None` if it could not), with the IP
    /// header fields `ip` (hop limit 0: the stack's) — unless the queue is
    /// full (`StackConfig::max_control_queue`).
    #[inline]
    pub(crate) fn write_control(
        &mut self,
        ip: crate::tcp::IpFields,
        emit: impl FnOnce(u8, u8, &mut [u8]) -> Option<usize>,
    ) {
        if self.control.len() >= self.config.max_control_queue {
            self.stats.control_dropped += 1;
            return;
        }
        let hop = match ip.hop_limit {
            0 => self.config.tcp.hop_limit,
            h => h,
        };
        self.control.push_back(ControlPacket {
            len: 0,
            bytes: [0; CONTROL_MAX],
        });
        let Some(slot) = self.control.back_mut() else {
            return;
        };
        match emit(hop, ip.dscp, &mut slot.bytes) {
            Some(n) => slot.len = n as u8,
            None => {
                self.control.pop_back();
            }
        }
    }
}

/// Whether `addr` is one of `addrs` (the stack's addresses), compared as
/// four bytes: every packet asks, and `<[IpAddr]>::contains` is a call
/// comparing whole `IpAddr`s (about 20 instructions a packet for one
/// address, callgrind, issue 6).
#[inline(always)]
pub(super) fn is_local_v4(addrs: &[IpAddr], addr: [u8; 4]) -> bool {
    addrs
        .iter()
        .any(|a| matches!(a, IpAddr::V4(v) if v.octets() == addr))
}

/// A received packet's 4-tuple, from our side.
pub(super) fn packet_key(pkt: &wire::TcpPacket<'_>) -> FourTuple {
    FourTuple::new(
        SocketAddr::new(pkt.ip.dst, pkt.tcp.dst_port),
        SocketAddr::new(pkt.ip.src, pkt.tcp.src_port),
    )
}
