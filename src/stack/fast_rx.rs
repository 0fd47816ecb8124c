//! The receive fast path: header prediction at the stack (Van Jacobson's
//! fast path; RFC 9293 §3.10.7.4's checks in their order, those whose
//! outcome the prediction fixes skipped).
//!
//! A bulk receiver's packets are, nearly all, the next in-order data
//! segment of one established connection. For those,
//! [`Stack::receive_predicted`]
//!
//! 1. reads the IPv4 and TCP headers straight from the packet
//!    ([`FastSegment`], no `IpRepr`/`TcpRepr` built and moved);
//! 2. finds the connection through the demultiplexing table's one-entry
//!    cache of the last hit (`Demux::get_v4_cached`) and the handle's
//!    generation;
//! 3. asks the connection whether the segment is the predicted one
//!    ([`Connection::rx_predicts`](crate::tcp::Connection), which changes
//!    nothing);
//! 4. copies the text into the receive queue's window and verifies the TCP
//!    checksum over it in the same place (RFC 9293 §3.1, MUST-2/MUST-3) —
//!    a segment that fails is dropped and counted as malformed with
//!    nothing committed: its bytes sit beyond RCV.NXT, where nothing reads
//!    them;
//! 5. commits the segment (the RFC steps whose outcome is not known, the
//!    general path's own code) and does `touch`'s bookkeeping for what a
//!    predicted segment can change — a READABLE event, an ACK owed, the
//!    delayed-ACK or keep-alive timer — on the socket it already holds.
//!
//! A segment of a known connection that is not the predicted one goes to
//! the *light path* (`receive_light`): the ACKs, FINs and short segments
//! of a request/response exchange and of the close, and a bulk sender's
//! ACKs. If the connection takes it
//! ([`Connection::rx_light_accepts`](crate::tcp::Connection): at RCV.NXT,
//! past SYN-RECEIVED, ACK within SND.UNA..=SND.MAX, no RST/SYN/URG/ECE/CWR,
//! no SACK blocks, PAWS passed, no CE on an ECN connection), its checksum
//! is verified in place and the connection runs the general path's own
//! steps on the header fields already read (`Connection::rx_light`, no
//! `TcpRepr` built, the packet parsed once), then the stack's challenge-ACK
//! check and `touch` as the general path does.
//!
//! A segment read as a [`FastSegment`], for one of our addresses, that no
//! connection holds (the handshake's final ACK, a segment for TIME-WAIT or
//! a closed port) is not parsed again: `receive_unmatched` verifies its
//! checksum in place and hands the general view built from the fields
//! already read (`FastSegment::packet`, which the wire tests check against
//! the general parser) to TIME-WAIT, the listeners or a RST, as the
//! general path would after its own parse and the same table miss.
//!
//! Anything else at any step — IPv6, IP options, other TCP options or
//! flags, out of order, PAWS — returns `false` before anything changed,
//! and the packet takes the general path ([`Stack::receive_packet`]) from
//! the start, exactly as without the fast path. The unit tests below
//! compare the paths packet for packet.

use super::socket::{Socket, SocketKind};
use super::{
    note_state_change, queue_for_transmit, raise, reschedule, settle_after_light, Event,
    SocketHandle, Stack,
};
use crate::tcp::{Events, State};
use crate::time::Instant;
use crate::wire::fast::FastSegment;
use crate::wire::{TcpFlags, V4Key, WireError};

#[cfg(test)]
thread_local! {
    /// Segments the fast path took on this thread (so a test can tell it
    /// ran).
    static TAKEN: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
    /// Segments the light path took on this thread.
    static LIGHT: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
}

impl Stack {
    /// Takes `packet` by the receive fast path (module docs) if it is the
    /// predicted segment of a connection, verifying its TCP checksum if
    /// `verify_checksum`. Returns `false`, having changed nothing, if it is
    /// not; `true` once it was handled (taken, or dropped for its
    /// checksum), and for a segment of its shape that no connection holds,
    /// which goes on from here ([`Stack::receive_unmatched`]).
    #[inline]
    pub(super) fn receive_predicted(
        &mut self,
        now: Instant,
        packet: &[u8],
        verify_checksum: bool,
    ) -> bool {
        let Some((key, seg)) = FastSegment::parse(packet) else {
            return false;
        };
        let Some(h) = self.conns.get_v4_cached(&key) else {
            // The general path counts a packet for another address.
            if !super::is_local_v4(&self.addrs, key.local_ip()) {
                return false;
            }
            // The general path would parse the packet again and miss the
            // same table: the segment goes on from here.
            self.receive_unmatched(now, packet, &key, &seg, verify_checksum);
            return true;
        };
        // A connection's local address is one of ours (`bind` and
        // `connect` take only those, a passive open only a packet for one,
        // and addresses are never removed), so a packet for it is for us:
        // the general path's address test is passed without asking.
        debug_assert!(super::is_local_v4(&self.addrs, key.local_ip()));
        // No text, or a FIN: never the predicted segment (`rx_predicts`),
        // so the light path, without looking at the socket here first.
        // A lingering close too (`touch`'s business).
        if seg.payload.is_empty()
            || seg.hdr.flags.contains(TcpFlags::FIN)
            || self.sockets.linger_until(h).is_some()
        {
            return self.receive_light(now, h, &seg, verify_checksum);
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
        // The bookkeeping below assumes a byte stream whose state the last
        // touch saw (message framing and transitions are `touch`'s).
        if c.last_state != State::Established || c.message.is_some() {
            return self.receive_light(now, h, &seg, verify_checksum);
        }
        let hdr = &seg.hdr;
        let len = seg.payload.len();
        if c.conn.negotiated().message_mode || !c.conn.rx_predicts(now, hdr, len) {
            return self.receive_light(now, h, &seg, verify_checksum);
        }
        let (a, b) = c.conn.rx_stage(len);
        if !seg.verify_payload(a, b, verify_checksum) {
            self.stats.malformed += 1;
            tracing::trace!(error = %WireError::BadChecksum, "dropped packet");
            return true;
        }
        c.conn.rx_commit(now, &self.config.tcp, hdr, len);
        #[cfg(test)]
        TAKEN.set(TAKEN.get() + 1);
        // `touch`, doing only what a predicted segment can have changed:
        // still ESTABLISHED (no transition to record, not done), no message
        // framing, no lingering close (all checked above), so what is left
        // is the READABLE event, an ACK owed and the timers. With any other
        // event pending, the general `touch` runs.
        if c.conn.pending_events() != Events::READABLE || c.conn.state() != State::Established {
            self.touch(now, h);
            return true;
        }
        c.conn.take_events();
        queue_for_transmit(&mut self.tx_ready, c, h);
        if let Some(t) = c.conn.poll_timeout() {
            reschedule(&mut self.timers, timer_at, h, t);
        }
        if !*orphaned {
            // A bit test when one is already waiting (Socket::queued).
            raise(&mut self.events, queued, h, Event::Readable);
            net.update_conn(c);
        }
        true
    }

    /// The light path (module docs) for `seg`, which connection `h` did not
    /// predict: returns `false`, having changed
    /// nothing, unless the connection takes it
    /// ([`Connection::rx_light_accepts`](crate::tcp::Connection)); then
    /// what the general path does with it, in its order: the checksum, the
    /// segment, a challenge ACK owed, `touch`.
    // Out of line: the bulk receiver's predicted segments do not carry its
    // frame.
    #[inline(never)]
    fn receive_light(
        &mut self,
        now: Instant,
        h: SocketHandle,
        seg: &FastSegment<'_>,
        verify_checksum: bool,
    ) -> bool {
        // A lingering close is `touch`'s business (a test of an empty table
        // for nearly every socket).
        let lingering = self.sockets.linger_until(h).is_some();
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
        let hdr = &seg.hdr;
        if !c.conn.rx_light_accepts(now, hdr) {
            return false;
        }
        if verify_checksum && !seg.verify() {
            self.stats.malformed += 1;
            tracing::trace!(error = %WireError::BadChecksum, "dropped packet");
            return true;
        }
        #[cfg(test)]
        LIGHT.set(LIGHT.get() + 1);
        c.conn.rx_light(now, &self.config.tcp, hdr, seg.payload);
        // Then what the general path does after a segment.
        self.challenges.answer(
            &mut c.conn,
            now,
            self.config.challenge_ack_limit,
            &mut self.rng,
            &mut self.stats,
        );
        // A lingering close and message framing are the general `touch`'s,
        // as after the general path.
        if lingering || c.conn.negotiated().message_mode {
            self.touch(now, h);
            return true;
        }
        // A finished orphan (the last ACK in either direction of a closed
        // connection, one of each per lifecycle): what `touch` does for
        // it, which has no application to tell and no network events to
        // keep — the state change recorded, the events dropped, and then
        // retired at once or, if it still owes a segment (TIME-WAIT's ACK
        // of the FIN), queued with its timer as `touch` leaves it, for the
        // transmit path to retire once that has gone.
        if *orphaned && c.conn.is_done() {
            note_state_change(&mut self.transitions, now, c);
            c.conn.take_events();
            if !c.conn.wants_transmit() {
                self.retire_orphan(now, h);
                return true;
            }
            if !c.tx_queued {
                c.tx_queued = true;
                self.tx_ready.push_back(h);
            }
            if let Some(t) = c.conn.poll_timeout() {
                reschedule(&mut self.timers, timer_at, h, t);
            }
            return true;
        }
        // `touch`, on the socket in hand and doing only what a segment the
        // light path took can have changed when the connection is not done
        // (not CLOSED, not TIME-WAIT: nothing to retire): a state change to
        // record, READABLE and WRITABLE, an ACK owed, the timers. Anything
        // else (a done connection the application holds, another event)
        // and the general `touch` runs.
        let pending = c.conn.pending_events();
        if c.conn.is_done() || !(Events::READABLE | Events::WRITABLE).contains(pending) {
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
            // In `touch`'s order.
            if pending.contains(Events::READABLE) {
                raise(&mut self.events, queued, h, Event::Readable);
            }
            if pending.contains(Events::WRITABLE) {
                raise(&mut self.events, queued, h, Event::Writable);
            }
            net.update_conn(c);
        }
        true
    }
}

impl Stack {
    /// The general path for `seg`, which [`Stack::receive_predicted`] read
    /// from `packet` and no connection holds, from where it stands: the TCP checksum
    /// (with `verify_checksum`), then TIME-WAIT, a listener or a RST —
    /// what `receive_packet` does after its own parse, which would accept
    /// the packet with the same fields (`FastSegment::packet`), find it is
    /// for us and not a SYN-FIN, and miss the same table.
    #[inline(never)]
    fn receive_unmatched(
        &mut self,
        now: Instant,
        packet: &[u8],
        key: &V4Key,
        seg: &FastSegment<'_>,
        verify_checksum: bool,
    ) {
        if verify_checksum && !seg.verify() {
            self.stats.malformed += 1;
            tracing::trace!(error = %WireError::BadChecksum, "dropped packet");
            return;
        }
        // The usual final ACK of a passive open on its own path
        // (listener.rs); anything else as the general path would go on.
        if self.receive_final_ack(now, key, seg) {
            return;
        }
        self.receive_unconnected(now, &seg.packet(packet));
    }
}

#[cfg(test)]
mod tests;
