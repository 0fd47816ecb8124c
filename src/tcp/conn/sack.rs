//! Generating SACK blocks (RFC 2018) and D-SACK blocks (RFC 2883) for the
//! ACKs this connection sends.
//!
//! The order matches what FreeBSD's `rcv-data-segments` packetdrill scripts
//! expect: a D-SACK block first when the segment that triggered the ACK
//! carried data we already had (the lowest duplicate part: below RCV.NXT,
//! else the first overlap with a block held out of order); then the
//! out-of-order blocks, most recently changed first (RFC 2018 §4: the first
//! block holds the most recent segment). Options space decides how many go
//! out (four without timestamps, three with).

use super::Connection;
use crate::wire::{SackBlocks, SeqNum};

impl Connection {
    /// Notes the duplicate part of a segment `[seq, seq + len)` that arrived
    /// when RCV.NXT was `rcv_nxt` (before it was processed), for the D-SACK
    /// block of the next ACK (RFC 2883 §4, "the first SACK block ... MUST
    /// specify the contiguous sequence space of the duplicate segment").
    pub(super) fn note_duplicate(&mut self, seq: SeqNum, len: usize, rcv_nxt: SeqNum) {
        if !self.opts.sack_permitted || len == 0 {
            return;
        }
        let end = seq + len;
        let dup = if seq.diff(rcv_nxt) < 0 {
            let top = if end.diff(rcv_nxt) < 0 { end } else { rcv_nxt };
            Some((seq, top))
        } else {
            let off = seq.diff(rcv_nxt) as usize;
            self.recv_q
                .duplicate_part(off, len)
                .map(|(s, e)| (rcv_nxt + s, rcv_nxt + e))
        };
        // A newer duplicate replaces a pending one; a segment that is not a
        // duplicate leaves it for the ACK still to come.
        if dup.is_some() {
            self.dsack = dup;
        }
    }

    /// Whether [`sack_blocks`](Self::sack_blocks) has a block to report
    /// (SACK on, and a D-SACK block or out-of-order data): without one, an
    /// ACK's only option is the timestamps (the transmit template's case).
    #[inline]
    pub(super) fn has_sack_blocks(&self) -> bool {
        self.opts.sack_permitted && (self.dsack.is_some() || self.recv_q.has_out_of_order())
    }

    /// The SACK blocks for an ACK sent now: the pending D-SACK, then the
    /// out-of-order blocks most recent first.
    #[inline]
    pub(super) fn sack_blocks(&self) -> SackBlocks {
        // Nothing to report (every ACK of an in-order transfer): no block
        // list to build, and no call.
        if !self.has_sack_blocks() {
            return SackBlocks::new();
        }
        self.sack_blocks_to_report()
    }

    #[inline(never)]
    fn sack_blocks_to_report(&self) -> SackBlocks {
        let mut b = SackBlocks::new();
        if let Some((l, r)) = self.dsack {
            b.push(l, r);
        }
        let (recent, n) = self.recv_q.recent_blocks::<{ SackBlocks::CAPACITY }>();
        for &(s, e) in &recent[..n] {
            if !b.push(self.rcv_nxt + s, self.rcv_nxt + e) {
                break;
            }
        }
        b
    }
}
