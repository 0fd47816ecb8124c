//! The active opener's receipt of the usual SYN-ACK (RFC 9293 §3.10.7.3,
//! SYN-SENT): every `connect` takes one, and the general path would parse
//! it in full (`IpRepr` and all), test the address and the SYN-FIN rule,
//! run the connection's segment processing between the two ECN-mark
//! updates of `on_packet`, and then `touch`'s general bookkeeping.
//!
//! [`Stack::receive_syn_ack`] takes a SYN-ACK of the usual shape
//! ([`SynSegment`]: IPv4, no payload, `MSS; SACK-permitted, TS; NOP,
//! WS`; the parse the server's SYN shares) for a connection in SYN-SENT that the last `touch` saw there, with
//! no lingering close and no message framing, and does what the general
//! path does with it, in its order — the checksum, the connection's own
//! `on_segment` (the one SYN-SENT step, which decides everything: an
//! unacceptable ACK, a message-mode refusal, ESTABLISHED), the
//! challenge-ACK check — then `touch`'s bookkeeping for what a SYN-ACK
//! that completed the handshake changes: the transition, CONNECTED and
//! WRITABLE, the ACK owed, the timer. Whatever else the step left (another
//! event, a failed or message-mode connection) goes to the general
//! `touch`. Anything else returns `false` having changed nothing, and the
//! packet takes the general path: a simultaneous open's SYN, a RST, other
//! options, data on the SYN-ACK, IPv6.
//!
//! What the general path does and this skips, and why that is the same:
//! the address test (a connection's local address is one of ours, see
//! `receive_predicted`), the SYN-FIN test (the flags are SYN|ACK, maybe
//! ECE), and the CE mark of the IP header (the SYN-SENT step reads it only
//! for text, and this segment has none).

use super::socket::{Socket, SocketKind};
use super::{raise, settle_after_light, Event, Stack};
use crate::tcp::{Events, State};
use crate::time::Instant;
use crate::wire::syn::SynSegment;
use crate::wire::{V4Key, WireError};

#[cfg(test)]
thread_local! {
    /// SYN-ACKs this path took on this thread (so a test can tell it ran).
    static TAKEN: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
    /// The path off on this thread: every SYN-ACK takes the general one.
    static DISABLED: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

impl Stack {
    /// Takes `seg`, a usual SYN-ACK, if it is for a connection in SYN-SENT
    /// (module docs), verifying its TCP checksum if `verify_checksum`;
    /// `false`, having changed nothing, if it is not.
    #[inline(never)]
    pub(super) fn receive_syn_ack(
        &mut self,
        now: Instant,
        seg: &SynSegment<'_>,
        verify_checksum: bool,
    ) -> bool {
        #[cfg(test)]
        if DISABLED.get() {
            return false;
        }
        let tcp = &seg.packet.tcp;
        let key = V4Key::new(seg.dst, seg.src, tcp.dst_port, tcp.src_port);
        let Some(h) = self.conns.get_v4_cached(&key) else {
            return false;
        };
        debug_assert!(super::is_local_v4(&self.addrs, seg.dst));
        // A lingering close is `touch`'s business.
        if self.sockets.linger_until(h).is_some() {
            return false;
        }
        let Some(Socket {
            kind: SocketKind::Conn(c),
            timer_at,
            orphaned,
            net,
            queued,
            ..
        }) = self.sockets.get_mut(h)
        else {
            return false;
        };
        if c.last_state != State::SynSent || c.conn.state() != State::SynSent || c.message.is_some()
        {
            return false;
        }
        if verify_checksum && !seg.verify() {
            self.stats.malformed += 1;
            tracing::trace!(error = %WireError::BadChecksum, "dropped packet");
            return true;
        }
        #[cfg(test)]
        TAKEN.set(TAKEN.get() + 1);
        c.conn.on_segment(now, &self.config.tcp, tcp);
        self.challenges.answer(
            &mut c.conn,
            now,
            self.config.challenge_ack_limit,
            &mut self.rng,
            &mut self.stats,
        );
        // `touch`, on the socket in hand, for a handshake that completed:
        // not done, no message framing (so `message::pump` has nothing to
        // do), no lingering close (asked above), CONNECTED and WRITABLE
        // pending. Anything else and the general `touch` runs.
        let pending = c.conn.pending_events();
        if c.conn.is_done()
            || c.conn.negotiated().message_mode
            || !(Events::CONNECTED | Events::WRITABLE).contains(pending)
        {
            self.touch(now, h);
            return true;
        }
        settle_after_light(
            &mut self.transitions,
            &mut self.tx_ready,
            &mut self.timers,
            now,
            h,
            c,
            timer_at,
        );
        if !*orphaned {
            // In `touch`'s order; CONNECTED is never raised for a socket in
            // the accept queue (an active open's never is).
            if pending.contains(Events::CONNECTED) && !c.in_accept_queue {
                raise(&mut self.events, queued, h, Event::Connected);
            }
            if pending.contains(Events::WRITABLE) {
                raise(&mut self.events, queued, h, Event::Writable);
            }
            net.update_conn(c);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::StackConfig;
    use crate::wire::checksum;
    use crate::wire::ip::IPV4_HEADER_LEN;
    use std::net::SocketAddr;

    /// A handshake whose SYN-ACK `tweak` may rewrite (the TCP checksum
    /// fixed up after unless `keep_checksum`), delivered to the client with
    /// this path on or off: what the client did with it, as a log of its
    /// state, events, packets, deadline and counters.
    fn handshake(
        path: bool,
        cfg: &StackConfig,
        message_mode: bool,
        tweak: &dyn Fn(&mut Vec<u8>),
        keep_checksum: bool,
    ) -> (Vec<String>, u64) {
        let server_addr: SocketAddr = "198.18.0.2:80".parse().unwrap();
        let mut client = Stack::new(cfg.clone(), 1);
        client.add_address("198.18.0.1".parse().unwrap());
        let mut server = Stack::new(cfg.clone(), 2);
        server.add_address(server_addr.ip());
        let l = server.listen(server_addr, 8).unwrap();
        let now = Instant::from_millis(1000);
        let ch = if message_mode {
            let ch = client.socket();
            client.set_message_mode(ch, true).unwrap();
            client.connect_from(now, ch, server_addr).unwrap();
            ch
        } else {
            client.connect(now, server_addr).unwrap()
        };
        let mut buf = vec![0u8; 2048];
        while let Some(n) = client.poll_transmit(now, &mut buf) {
            server.handle_packet(now, &buf[..n]);
        }
        let _ = l;
        let mut log = Vec::new();
        let before = TAKEN.get();
        while let Some(n) = server.poll_transmit(now, &mut buf) {
            let mut p = buf[..n].to_vec();
            tweak(&mut p);
            if !keep_checksum {
                // Recompute the TCP checksum over the rewritten segment.
                let at = IPV4_HEADER_LEN + 16;
                p[at..at + 2].fill(0);
                let len = p.len() - IPV4_HEADER_LEN;
                let pseudo = u64::from(u32::from_be_bytes([p[12], p[13], p[14], p[15]]))
                    + u64::from(u32::from_be_bytes([p[16], p[17], p[18], p[19]]))
                    + 6
                    + len as u64;
                let c = !checksum::fold(checksum::sum(&p[IPV4_HEADER_LEN..], pseudo));
                p[at..at + 2].copy_from_slice(&c.to_be_bytes());
            }
            let later = now + core::time::Duration::from_millis(3);
            DISABLED.set(!path);
            client.handle_packet(later, &p);
            DISABLED.set(false);
            log.push(format!("state {:?}", client.state(ch)));
            while let Some(e) = client.poll_event() {
                log.push(format!("event {e:?}"));
            }
            log.push(format!("timeout {:?}", client.poll_timeout()));
            while let Some(n) = client.poll_transmit(later, &mut buf) {
                log.push(format!("c->s {:?}", &buf[..n]));
            }
            log.push(format!("{:?}", client.stats()));
        }
        (log, TAKEN.get() - before)
    }

    fn compare(
        cfg: &StackConfig,
        message_mode: bool,
        tweak: &dyn Fn(&mut Vec<u8>),
        keep: bool,
    ) -> u64 {
        let (fast, taken) = handshake(true, cfg, message_mode, tweak, keep);
        let (slow, none) = handshake(false, cfg, message_mode, tweak, keep);
        assert_eq!(none, 0);
        assert_eq!(fast, slow);
        taken
    }

    #[test]
    fn the_usual_syn_ack_takes_this_path_and_does_what_the_general_one_does() {
        let mut cfg = StackConfig::default();
        assert_eq!(compare(&cfg, false, &|_| {}, false), 1);
        // An ECN-setup SYN-ACK.
        cfg.tcp.ecn = crate::tcp::EcnMode::On;
        assert_eq!(compare(&cfg, false, &|_| {}, false), 1);
    }

    #[test]
    fn odd_syn_acks_end_as_on_the_general_path() {
        let cfg = StackConfig::default();
        // An ACK that does not cover our SYN: a RST, the connection stays.
        let bad_ack = |p: &mut Vec<u8>| p[IPV4_HEADER_LEN + 11] ^= 0x40;
        assert_eq!(compare(&cfg, false, &bad_ack, false), 1);
        // A bad checksum: dropped and counted.
        let corrupt = |p: &mut Vec<u8>| p[IPV4_HEADER_LEN + 4] ^= 1;
        assert_eq!(compare(&cfg, false, &corrupt, true), 0);
        // A message-mode connect answered without the option: refused on
        // the general path (its framing exists from the connect's touch).
        assert_eq!(compare(&cfg, true, &|_| {}, false), 0);
        // Other options (the window scale's NOP an EOL): the general path.
        let other = |p: &mut Vec<u8>| p[IPV4_HEADER_LEN + 36] = 0;
        assert_eq!(compare(&cfg, false, &other, false), 0);
    }
}
