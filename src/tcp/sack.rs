//! The sender's SACK scoreboard (RFC 6675 §3): one record per transmitted
//! segment from SND.UNA to SND.MAX, with what the peer's SACK blocks said
//! about it, whether it is deemed lost and whether it was retransmitted, and
//! when it was last sent (RACK's per-segment transmit time, RFC 8985 §6.1).
//!
//! From the records come RFC 6675's `pipe` (kept incrementally, so reading
//! it is O(1)) and `NextSeg` (the first segment deemed lost and not yet
//! retransmitted). Loss is decided by RACK ([`crate::tcp::rack`]) and, after
//! a retransmission timeout, by marking everything not SACKed.
//!
//! Memory: the first record of a burst is kept inline (`solo`): a
//! request/response exchange, a FIN, any sender with one segment in flight
//! never needs more, and allocating, filling and freeing a ring for it cost
//! some 150 instructions a segment. The ring is allocated when a second
//! record is needed, or when a record must be marked (SACKed, lost,
//! retransmitted: the solo record moves into the ring first, so the code
//! that marks records sees one layout), and released whenever everything
//! is acknowledged, so an idle connection holds none. The ring never grows past its capacity (one record
//! per full segment of the send buffer, plus slack); when it is full, a new
//! segment is merged into the last record, which costs timing precision for
//! that stretch but never memory or correctness.

use std::collections::VecDeque;

use crate::time::Instant;
use crate::wire::SeqNum;

const SACKED: u8 = 0x01;
const LOST: u8 = 0x02;
/// Retransmitted, and that retransmission is still presumed in flight.
const RETRANS: u8 = 0x04;
/// Retransmitted at some point (RACK ignores RTT samples from these).
const EVER_RETRANS: u8 = 0x08;

/// Records in a freshly allocated ring (`push`), 192 bytes.
const FIRST_RECORDS: usize = 8;

/// One transmitted segment.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SegRecord {
    /// First sequence number.
    pub start: SeqNum,
    /// One past the last (a FIN counts as one).
    pub end: SeqNum,
    /// When it was last (re)transmitted.
    pub sent: Instant,
    /// Transmission order (a wrapping counter): breaks ties between
    /// segments sent at the same instant, which sequence numbers cannot do
    /// once a retransmission is involved.
    pub order: u32,
    flags: u8,
}

/// Whether a transmission at `(t1, o1)` came after one at `(t2, o2)`
/// (RFC 8985 §6.2, RACK_sent_after, with the order counter as tie-break).
pub fn sent_after(t1: Instant, o1: u32, t2: Instant, o2: u32) -> bool {
    t1 > t2 || (t1 == t2 && (o1.wrapping_sub(o2) as i32) > 0)
}

impl SegRecord {
    fn len(&self) -> usize {
        self.end.diff(self.start).max(0) as usize
    }
    /// The peer SACKed it.
    pub fn sacked(&self) -> bool {
        self.flags & SACKED != 0
    }
    /// Deemed lost.
    pub fn lost(&self) -> bool {
        self.flags & LOST != 0
    }
    /// Retransmitted and the copy presumed in flight.
    pub fn retransmitted(&self) -> bool {
        self.flags & RETRANS != 0
    }
    /// Ever retransmitted.
    pub fn ever_retransmitted(&self) -> bool {
        self.flags & EVER_RETRANS != 0
    }
    /// Its share of `pipe` (RFC 6675 §4 SetPipe; Linux's
    /// packets_out - sacked - lost + retrans): nothing once SACKed or lost
    /// and not resent, one copy when only the original or only the
    /// retransmission is in flight, two when both are.
    /// RFC 6675 NextSeg rule (1) candidate: lost, not SACKed, not resent.
    fn lost_unsent(&self) -> bool {
        self.flags & (SACKED | LOST | RETRANS) == LOST
    }
    fn in_flight(&self) -> usize {
        let f = self.flags;
        if f & SACKED != 0 {
            return 0;
        }
        let copies = usize::from(f & LOST == 0) + usize::from(f & RETRANS != 0);
        copies * self.len()
    }
}

/// What an ACK newly delivered, for RACK (RFC 8985 §6.2 step 1–3).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Bytes newly SACKed (not counting cumulatively acknowledged ones).
    pub sacked_bytes: usize,
    /// Bytes the cumulative ACK newly covered (set by the connection).
    pub acked_bytes: usize,
    /// The most recently sent of the newly delivered records:
    /// (transmit time, transmission order, ever retransmitted).
    pub newest: Option<(Instant, u32, bool)>,
    /// A never-retransmitted segment below the highest SACKed one was
    /// delivered: the path reorders (RFC 8985 §6.2 step 3).
    pub reordered: bool,
    /// The ACK carried a D-SACK block (RFC 2883 §4).
    pub dsack: bool,
}

impl Delivered {
    fn note(&mut self, r: &SegRecord) {
        let newer = match self.newest {
            None => true,
            Some((t, o, _)) => sent_after(r.sent, r.order, t, o),
        };
        if newer {
            self.newest = Some((r.sent, r.order, r.ever_retransmitted()));
        }
    }
}

/// The scoreboard.
#[derive(Debug, Default, Clone)]
pub struct Scoreboard {
    recs: VecDeque<SegRecord>,
    /// Maximum number of records (see the module docs).
    cap: usize,
    /// RFC 6675 `pipe`, bytes.
    pipe: usize,
    /// Bytes SACKed above SND.UNA.
    sacked: usize,
    /// Highest SACKed sequence number (RACK.fack), once anything was SACKed.
    fack: Option<SeqNum>,
    /// The next transmission's order number.
    next_order: u32,
    /// Records for which [`SegRecord::lost_unsent`] holds, so that
    /// [`next_lost`](Self::next_lost) — asked after every packet — costs
    /// nothing while no segment is deemed lost (the bulk case), instead of
    /// a walk over every record in flight.
    lost_unsent: usize,
    /// The only record while the ring is unallocated (see the module
    /// docs): `Some` only with `recs` empty and of no capacity, and never
    /// with a flag set (marking one moves it into the ring, `spill`).
    solo: Option<SegRecord>,
}

impl Scoreboard {
    /// An empty scoreboard holding at most `cap` records (at least 4); it
    /// allocates on the first [`on_send`](Self::on_send).
    pub fn new(cap: usize) -> Self {
        Scoreboard {
            cap: cap.max(4),
            ..Scoreboard::default()
        }
    }

    /// Raise or lower the record limit (the send buffer changed). Takes
    /// effect as records come and go; existing records are kept.
    pub fn set_capacity(&mut self, cap: usize) {
        self.cap = cap.max(4);
    }

    /// RFC 6675 `pipe`: bytes presumed in the network.
    #[inline]
    pub fn pipe(&self) -> usize {
        self.pipe
    }

    /// Bytes SACKed above SND.UNA.
    #[inline]
    pub fn sacked_bytes(&self) -> usize {
        self.sacked
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.recs.len() + usize::from(self.solo.is_some())
    }

    /// Whether no segment is outstanding.
    pub fn is_empty(&self) -> bool {
        self.recs.is_empty() && self.solo.is_none()
    }

    /// The records, oldest (lowest sequence) first.
    pub fn records(&self) -> impl Iterator<Item = &SegRecord> {
        let (a, b) = self.slices();
        a.iter().chain(b)
    }

    /// The records as two slices, oldest first: the solo record alone, or
    /// the ring's two halves.
    #[inline]
    fn slices(&self) -> (&[SegRecord], &[SegRecord]) {
        match &self.solo {
            Some(r) => (core::slice::from_ref(r), &[]),
            None => self.recs.as_slices(),
        }
    }

    /// The newest (highest) record. The ring first, the solo record in
    /// the arm a bulk sender (whose ring is never empty when asked) does
    /// not run: its segments and ACKs pay nothing for it.
    #[inline]
    fn newest(&self) -> Option<&SegRecord> {
        match self.recs.back() {
            Some(r) => Some(r),
            None => self.solo.as_ref(),
        }
    }

    /// Moves the solo record, if any, into the ring: before anything that
    /// marks records or adds a second one, all of which index the ring.
    #[inline]
    fn spill(&mut self) {
        if self.solo.is_some() {
            self.spill_solo();
        }
    }

    #[cold]
    #[inline(never)]
    fn spill_solo(&mut self) {
        if let Some(r) = self.solo.take() {
            self.make_room();
            self.recs.push_back(r);
        }
    }

    /// Heap bytes held by the records.
    pub fn heap_bytes(&self) -> usize {
        self.recs.capacity() * core::mem::size_of::<SegRecord>()
    }

    /// The highest sequence number recorded as sent.
    pub fn high(&self) -> Option<SeqNum> {
        self.newest().map(|r| r.end)
    }

    fn update(&mut self, i: usize, set: u8, clear: u8, sent: Option<Instant>) {
        debug_assert!(self.solo.is_none(), "marking spills the solo record first");
        let order = self.next_order;
        let r = &mut self.recs[i];
        let before = r.in_flight();
        let was_sacked = r.sacked();
        let was_lost_unsent = r.lost_unsent();
        r.flags = (r.flags | set) & !clear;
        self.lost_unsent =
            self.lost_unsent + usize::from(r.lost_unsent()) - usize::from(was_lost_unsent);
        if let Some(t) = sent {
            r.sent = t;
            r.order = order;
            self.next_order = order.wrapping_add(1);
        }
        let after = r.in_flight();
        if !was_sacked && r.sacked() {
            self.sacked += r.len();
        }
        self.pipe = self.pipe + after - before;
    }

    /// `[start, end)` was transmitted at `now`. New data (at the high edge)
    /// gets a record; a retransmission marks the records it covers.
    #[inline]
    pub fn on_send(&mut self, start: SeqNum, end: SeqNum, now: Instant) {
        if end.diff(start) <= 0 {
            return;
        }
        // The ring's high edge: with a solo record the ring is empty and
        // `push` looks at it (the bulk path's code stays as it was).
        match self.recs.back().map(|r| r.end) {
            Some(high) if start.diff(high) < 0 => self.on_send_below_high(start, end, high, now),
            // New data with room for its record in the ring (every segment
            // of a bulk transfer): inline.
            _ if self.recs.len() < self.cap && self.recs.len() < self.recs.capacity() => {
                self.append(start, end, now)
            }
            _ => self.push(start, end, now),
        }
    }

    /// [`on_send`](Self::on_send) for a connection's sends outside bulk
    /// transfers (`loss_on_plain_send`): the first record of a burst —
    /// every send of a request/response exchange, with nothing else in
    /// flight and no ring — written inline (`push`'s first case), without
    /// the call. The bulk path keeps `on_send` as it was.
    #[inline]
    pub fn on_send_plain(&mut self, start: SeqNum, end: SeqNum, now: Instant) {
        if self.solo.is_none() && self.recs.capacity() == 0 && end.diff(start) > 0 {
            self.solo = Some(self.new_record(start, end, now));
            return;
        }
        self.on_send(start, end, now);
    }

    #[inline(never)]
    fn on_send_below_high(&mut self, start: SeqNum, end: SeqNum, high: SeqNum, now: Instant) {
        self.spill();
        self.on_retransmit(start, end, now);
        // Anything beyond the old high edge is new.
        if end.diff(high) > 0 {
            self.push(high, end, now);
        }
    }

    #[inline(never)]
    fn push(&mut self, start: SeqNum, end: SeqNum, now: Instant) {
        match self.solo {
            None if self.recs.capacity() == 0 => {
                // The first record of a burst: inline, no ring (see the
                // module docs).
                self.solo = Some(self.new_record(start, end, now));
                return;
            }
            // Below the solo record's end: `on_send`'s first case.
            Some(r) if start.diff(r.end) < 0 => {
                return self.on_send_below_high(start, end, r.end, now);
            }
            _ => self.spill(),
        }
        if self.recs.len() >= self.cap {
            if let Some(last) = self.recs.back_mut() {
                // Full: widen the last record (see the module docs).
                let before = last.in_flight();
                last.end = end;
                last.sent = now;
                last.order = self.next_order;
                self.next_order = self.next_order.wrapping_add(1);
                let after = last.in_flight();
                self.pipe = self.pipe + after - before;
                return;
            }
        }
        self.make_room();
        self.append(start, end, now);
    }

    /// Room in the ring for one more record (which is under the cap).
    fn make_room(&mut self) {
        if self.recs.capacity() == 0 && self.cap >= FIRST_RECORDS {
            // A spare ring of a finished burst first (spare.rs), of the
            // size allocated below: this runs again whenever a connection
            // sends after everything was acknowledged.
            if let Some(r) = crate::tcp::spare::take_records() {
                self.recs = r;
            }
        }
        if self.recs.len() == self.recs.capacity() {
            // Grow by doubling up to the cap, from a first block of
            // FIRST_RECORDS: the ring is allocated again whenever a
            // connection sends after everything was acknowledged (several
            // times per request/response), and a block that small comes
            // from the allocator's per-thread cache, where one of `cap`
            // records (2.5 KiB with the default buffers) does not.
            let have = self.recs.capacity();
            let want = if have == 0 {
                FIRST_RECORDS.min(self.cap)
            } else {
                have.min(self.cap.saturating_sub(have))
            };
            self.recs.reserve_exact(want.max(1));
        }
    }

    /// A new record at the back, which has room for it.
    #[inline]
    fn append(&mut self, start: SeqNum, end: SeqNum, now: Instant) {
        let r = self.new_record(start, end, now);
        self.recs.push_back(r);
    }

    /// The record of new data `[start, end)` sent at `now`, counted in
    /// `pipe` and given the next order number.
    #[inline]
    fn new_record(&mut self, start: SeqNum, end: SeqNum, now: Instant) -> SegRecord {
        let r = SegRecord {
            start,
            end,
            sent: now,
            order: self.next_order,
            flags: 0,
        };
        self.next_order = self.next_order.wrapping_add(1);
        self.pipe += r.len();
        r
    }

    /// Marks every record overlapping `[start, end)` as retransmitted now.
    fn on_retransmit(&mut self, start: SeqNum, end: SeqNum, now: Instant) {
        let first = self.recs.partition_point(|r| r.end.diff(start) <= 0);
        let mut i = first;
        while i < self.recs.len() && self.recs[i].start.diff(end) < 0 {
            if !self.recs[i].sacked() {
                self.update(i, RETRANS | EVER_RETRANS, 0, Some(now));
            }
            i += 1;
        }
    }

    /// The cumulative ACK moved SND.UNA to `ack`: drop what it covers and
    /// note for RACK what it newly delivered.
    // Inline, the walk out of line: nearly every ACK takes the first
    // branch, and the walk's frame costs more than the branch itself.
    #[inline]
    pub fn on_cumulative_ack(&mut self, ack: SeqNum, out: &mut Delivered) {
        // The ring's newest record as before the solo record existed (the
        // bulk path's code unchanged); the solo one is looked at below,
        // where the ring is empty.
        if self.fack.is_none() && self.recs.back().is_none_or(|r| r.end.diff(ack) <= 0) {
            // Everything acknowledged (every ACK of a request/response
            // exchange, most of a bulk sender's): what the general walk
            // below ends with, without its per-record counter updates and
            // the ring's drain. Plain records only (see below): the last
            // is the newest delivery, and nothing else needs noting.
            // The ring's records only: the solo record has no flags, and
            // is there only when the ring is empty.
            let (a, b) = self.recs.as_slices();
            if a.iter().chain(b).fold(0, |f, r| f | r.flags) == 0 {
                match b.last().or(a.last()) {
                    Some(last) => out.note(last),
                    None => match self.solo {
                        // Partly acknowledged: the general path trims it.
                        Some(r) if r.end.diff(ack) > 0 => {
                            return self.on_cumulative_ack_covered(ack, out);
                        }
                        Some(r) => {
                            self.solo = None;
                            out.note(&r);
                        }
                        None => {}
                    },
                }
                self.recs.clear();
                self.pipe = 0;
                self.sacked = 0;
                self.lost_unsent = 0;
                return;
            }
        }
        self.on_cumulative_ack_covered(ack, out);
    }

    /// [`on_cumulative_ack`](Self::on_cumulative_ack) when something stays
    /// outstanding or some record is not plain.
    #[inline(never)]
    fn on_cumulative_ack_covered(&mut self, ack: SeqNum, out: &mut Delivered) {
        self.spill();
        // The records wholly covered. Plain ones — never SACKed, deemed
        // lost or retransmitted, with nothing SACKed above them (a bulk
        // transfer without loss) — were each sent once, in sequence
        // order, and are each in flight once: the last of them is the
        // newest delivery and their bytes are what leaves `pipe`, so a
        // pass that only counts them and gathers their flags does.
        let (k, flags, bytes) = self.covered(ack);
        if flags == 0 && self.fack.is_none() {
            if let Some(last) = k.checked_sub(1).and_then(|i| self.recs.get(i)) {
                out.note(last);
            }
            self.pipe -= bytes;
            self.recs.drain(..k);
        } else {
            self.drop_covered(ack, out);
        }
        self.after_covered(ack, out);
    }

    /// [`on_cumulative_ack`](Self::on_cumulative_ack) by the general walk
    /// alone (its fast paths' reference in the tests).
    #[cfg(test)]
    fn on_cumulative_ack_walk(&mut self, ack: SeqNum, out: &mut Delivered) {
        self.spill();
        self.drop_covered(ack, out);
        self.after_covered(ack, out);
    }

    /// The end of a cumulative ACK, once the records it wholly covers are
    /// gone: the record it falls inside is trimmed, and the counters start
    /// over if nothing is left.
    fn after_covered(&mut self, ack: SeqNum, out: &mut Delivered) {
        // Then the record the ACK falls inside, if any.
        if let Some(front) = self.recs.front() {
            if front.start.diff(ack) < 0 {
                // Partly acknowledged: trim.
                let r = *front;
                if !r.sacked() {
                    self.note_delivery(&r, out);
                }
                let before = r.in_flight();
                let was = r.len();
                let f = self.recs.front_mut().expect("front exists");
                f.start = ack;
                let after = f.in_flight();
                if f.sacked() {
                    self.sacked -= was - f.len();
                }
                self.pipe = self.pipe + after - before;
            }
        }
        if self.recs.is_empty() {
            // Everything acknowledged: the counters start over, but the
            // ring stays for the segments that follow — a bulk sender's
            // every ACK covers all in flight, and freeing it each time
            // meant allocating and regrowing it each time. The connection
            // hands it back with `release_if_empty` once nothing is queued.
            self.recs.clear();
            self.pipe = 0;
            self.sacked = 0;
            self.fack = None;
            self.lost_unsent = 0;
        }
        if self.fack.is_some_and(|f| f.diff(ack) <= 0) {
            self.fack = None;
        }
    }

    /// How many records from the front `ack` wholly covers, the union of
    /// their flags and their bytes.
    #[inline]
    fn covered(&self, ack: SeqNum) -> (usize, u8, usize) {
        let (mut k, mut flags, mut bytes) = (0, 0u8, 0);
        let (a, b) = self.recs.as_slices();
        for r in a.iter().chain(b) {
            if r.end.diff(ack) > 0 {
                break;
            }
            flags |= r.flags;
            bytes += r.len();
            k += 1;
        }
        (k, flags, bytes)
    }

    /// Drops the records `ack` wholly covers, noting for RACK what each
    /// delivered and taking each one's share out of the counters.
    fn drop_covered(&mut self, ack: SeqNum, out: &mut Delivered) {
        // The records wholly covered, in one pass over the ring's two
        // slices with the counters summed on the way and the records
        // dropped at once (an ACK of a bulk transfer covers a hundred).
        let (mut k, mut sacked, mut pipe, mut lost) = (0, 0, 0, 0);
        let (a, b) = self.recs.as_slices();
        for r in a.iter().chain(b) {
            if r.end.diff(ack) > 0 {
                break;
            }
            if !r.sacked() {
                self.note_delivery(r, out);
            } else {
                sacked += r.len();
            }
            pipe += r.in_flight();
            lost += usize::from(r.lost_unsent());
            k += 1;
        }
        self.sacked -= sacked;
        self.pipe -= pipe;
        self.lost_unsent -= lost;
        self.recs.drain(..k);
    }

    fn note_delivery(&self, r: &SegRecord, out: &mut Delivered) {
        if !r.ever_retransmitted() && self.fack.is_some_and(|f| r.end.diff(f) < 0) {
            out.reordered = true;
        }
        out.note(r);
    }

    /// Processes the SACK blocks of an ACK whose cumulative part is
    /// `snd_una` (already applied). Blocks outside `(snd_una, snd_max]` or
    /// empty are ignored (RFC 2018 §8 sanity), except that a first block at
    /// or below SND.UNA, or inside the second, is a D-SACK (RFC 2883 §4).
    pub fn on_sack(
        &mut self,
        blocks: &[(SeqNum, SeqNum)],
        snd_una: SeqNum,
        snd_max: SeqNum,
        out: &mut Delivered,
    ) {
        self.spill();
        if let Some(&(l, r)) = blocks.first() {
            let inside_second = blocks
                .get(1)
                .is_some_and(|&(l2, r2)| l.diff(l2) >= 0 && r.diff(r2) <= 0);
            if r.diff(l) > 0 && (r.diff(snd_una) <= 0 || inside_second) {
                out.dsack = true;
            }
        }
        for (k, &(l, r)) in blocks.iter().enumerate() {
            if r.diff(l) <= 0 || l.diff(snd_una) < 0 || r.diff(snd_max) > 0 {
                continue;
            }
            if k == 0 && out.dsack {
                continue;
            }
            // Records fully inside [l, r) become SACKed.
            let mut i = self.recs.partition_point(|x| x.start.diff(l) < 0);
            while i < self.recs.len() && self.recs[i].end.diff(r) <= 0 {
                if !self.recs[i].sacked() {
                    let rec = self.recs[i];
                    self.note_delivery(&rec, out);
                    out.sacked_bytes += rec.len();
                    self.update(i, SACKED, 0, None);
                }
                i += 1;
            }
            if i > 0 {
                let top = self.recs[i - 1];
                if top.sacked() && self.fack.is_none_or(|f| top.end.diff(f) > 0) {
                    self.fack = Some(top.end);
                }
            }
        }
    }

    /// Whether any record is deemed lost and not yet retransmitted
    /// ([`next_lost`](Self::next_lost) would find one).
    #[inline]
    pub fn has_lost_unsent(&self) -> bool {
        self.lost_unsent > 0
    }

    /// RFC 6675 NextSeg rule (1): the first segment deemed lost, not SACKed
    /// and not yet retransmitted, as `(start, end)`.
    #[inline]
    pub fn next_lost(&self) -> Option<(SeqNum, SeqNum)> {
        debug_assert_eq!(
            self.lost_unsent,
            self.records().filter(|r| r.lost_unsent()).count()
        );
        // Asked after every packet: the answer while nothing is deemed
        // lost inline, the walk out of line.
        if self.lost_unsent == 0 {
            return None;
        }
        self.find_lost()
    }

    #[inline(never)]
    fn find_lost(&self) -> Option<(SeqNum, SeqNum)> {
        self.records()
            .find(|r| r.lost_unsent())
            .map(|r| (r.start, r.end))
    }

    /// The last record (what a tail-loss probe retransmits when there is no
    /// new data, RFC 8985 §7.3).
    pub fn last(&self) -> Option<(SeqNum, SeqNum)> {
        self.newest().map(|r| (r.start, r.end))
    }

    /// Marks record `i` lost (its retransmission, if any, is presumed lost
    /// too). Returns the bytes newly marked.
    pub fn mark_lost(&mut self, i: usize) -> usize {
        self.spill();
        let r = self.recs[i];
        if r.sacked() || (r.lost() && !r.retransmitted()) {
            return 0;
        }
        self.update(i, LOST, RETRANS, None);
        r.len()
    }

    /// After a retransmission timeout everything not SACKed is deemed lost
    /// (RFC 6675 §5.1, as Linux's tcp_timeout_mark_lost).
    pub fn mark_all_lost(&mut self) {
        self.spill();
        for i in 0..self.recs.len() {
            self.mark_lost(i);
        }
    }

    /// The record at `i`.
    pub fn get(&self, i: usize) -> Option<&SegRecord> {
        match &self.solo {
            Some(r) => (i == 0).then_some(r),
            None => self.recs.get(i),
        }
    }

    /// Gives the ring's memory back if no record is left (the sender has
    /// nothing queued: an idle connection holds no records).
    #[inline]
    pub fn release_if_empty(&mut self) {
        // No ring (the solo record was all there was): nothing to give
        // back, and the counters started over when the last record went.
        if self.recs.capacity() != 0 && self.recs.is_empty() {
            self.release();
        }
    }

    /// Forget everything (the connection ended or SACK processing stopped)
    /// and give the memory back.
    ///
    /// Inline, the ring's hand-back out of line: a connection's end asks
    /// this several times (the last ACK, the state change, the block's
    /// release), and a connection whose records all fit in the solo slot
    /// (any request/response exchange) has no ring, so each ask is a test
    /// and five stores, not a call.
    #[inline]
    pub fn release(&mut self) {
        self.release_ring();
        self.solo = None;
        self.pipe = 0;
        self.sacked = 0;
        self.fack = None;
        self.lost_unsent = 0;
    }

    /// Gives back only the record ring, if one is allocated (none, or the
    /// solo record alone: nothing to give back), and leaves the rest as it
    /// is: for a scoreboard about to be overwritten whole (a
    /// finished connection's loss state going to the spare pool, rebuilt
    /// before its next use), where [`release`](Self::release)'s resets
    /// would be stores nothing reads.
    #[inline]
    pub fn release_ring(&mut self) {
        if self.recs.capacity() != 0 {
            self.give_ring();
        }
    }

    /// [`release`](Self::release)'s hand-back of an allocated ring.
    #[cold]
    #[inline(never)]
    fn give_ring(&mut self) {
        crate::tcp::spare::give_records(core::mem::take(&mut self.recs), FIRST_RECORDS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u32 = 1000;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }
    fn seq(n: u32) -> SeqNum {
        SeqNum(S.wrapping_add(n))
    }

    /// Ten 100-byte segments sent 1 ms apart.
    fn ten() -> Scoreboard {
        let mut b = Scoreboard::new(64);
        for k in 0..10u32 {
            b.on_send(seq(k * 100), seq(k * 100 + 100), t(u64::from(k)));
        }
        b
    }

    #[test]
    fn pipe_follows_sack_loss_and_retransmission() {
        let mut b = ten();
        assert_eq!(b.pipe(), 1000);
        assert_eq!(b.len(), 10);
        let mut d = Delivered::default();
        // Segments 2..4 SACKed.
        b.on_sack(&[(seq(200), seq(500))], seq(0), seq(1000), &mut d);
        assert_eq!(b.pipe(), 700);
        assert_eq!(b.sacked_bytes(), 300);
        assert_eq!(d.sacked_bytes, 300);
        assert_eq!(d.newest, Some((t(4), 4, false)));
        assert!(!d.dsack && !d.reordered);
        assert_eq!(b.next_lost(), None);
        assert_eq!(b.mark_lost(0), 100);
        assert_eq!(b.mark_lost(0), 0, "already lost");
        assert_eq!(b.pipe(), 600);
        assert_eq!(b.next_lost(), Some((seq(0), seq(100))));
        b.on_send(seq(0), seq(100), t(20));
        assert_eq!(b.pipe(), 700, "the retransmission is in flight");
        assert_eq!(b.next_lost(), None);
        // The retransmission is lost too: back to lost-not-resent.
        b.mark_lost(0);
        assert_eq!(b.pipe(), 600);
        assert_eq!(b.next_lost(), Some((seq(0), seq(100))));
        // Cumulative ACK past the SACKed block.
        let mut d = Delivered::default();
        b.on_cumulative_ack(seq(500), &mut d);
        assert_eq!(b.len(), 5);
        assert_eq!(b.pipe(), 500);
        assert_eq!(b.sacked_bytes(), 0);
        // The newest delivery is segment 0's retransmission (sent at 20 ms).
        assert_eq!(d.newest, Some((t(20), 10, true)));
        // Segment 1 was delivered below the highest SACKed one: reordering.
        assert!(d.reordered);
        b.on_cumulative_ack(seq(1000), &mut d);
        assert!(b.is_empty());
        assert!(b.heap_bytes() > 0, "kept for the next segments");
        assert_eq!(b.pipe(), 0);
        b.release_if_empty();
        assert_eq!(b.heap_bytes(), 0, "released once the sender is idle");
    }

    #[test]
    fn dsack_and_bogus_blocks() {
        let mut b = ten();
        let mut d = Delivered::default();
        b.on_cumulative_ack(seq(300), &mut d);
        let mut d = Delivered::default();
        b.on_sack(&[(seq(100), seq(200))], seq(300), seq(1000), &mut d);
        assert!(d.dsack, "below SND.UNA");
        assert_eq!(d.sacked_bytes, 0);
        let mut d = Delivered::default();
        b.on_sack(
            &[(seq(500), seq(600)), (seq(400), seq(700))],
            seq(300),
            seq(1000),
            &mut d,
        );
        assert!(d.dsack, "inside the second block");
        assert_eq!(d.sacked_bytes, 300, "the second block still counts");
        let mut d = Delivered::default();
        b.on_sack(
            &[
                (seq(900), seq(2000)),
                (seq(800), seq(700)),
                (seq(0), seq(50)),
            ],
            seq(300),
            seq(1000),
            &mut d,
        );
        assert_eq!(d, Delivered::default(), "beyond SND.MAX, inverted, below");
    }

    proptest::proptest! {
        /// The cumulative ACK's fast paths (everything covered; only plain
        /// records covered) leave the scoreboard and report the deliveries
        /// exactly as the general walk does, whatever was SACKed, deemed
        /// lost or retransmitted before.
        #[test]
        fn cumulative_ack_fast_paths_match_the_walk(
            n in 1u32..24,
            ops in proptest::collection::vec((0u8..4, 0u32..24, 1u32..6), 0..8),
            acks in proptest::collection::vec(0u32..2500, 1..4),
        ) {
            let mut b = Scoreboard::new(64);
            for k in 0..n {
                b.on_send(seq(k * 100), seq(k * 100 + 100), t(u64::from(k)));
            }
            let (mut una, max) = (seq(0), seq(n * 100));
            let mut now = u64::from(n);
            for (op, at, len) in ops {
                let l = seq((at % n) * 100);
                let r = seq(((at % n) + len).min(n) * 100);
                match op {
                    0 => b.on_sack(&[(l, r)], una, max, &mut Delivered::default()),
                    1 => {
                        if !b.is_empty() {
                            b.mark_lost(at as usize % b.len());
                        }
                    }
                    2 => {
                        now += 1;
                        if l.diff(una) >= 0 {
                            b.on_send(l, r, t(now));
                        }
                    }
                    _ => b.mark_all_lost(),
                }
            }
            for a in acks {
                let ack = seq(a.min(n * 100));
                if ack.diff(una) < 0 {
                    continue;
                }
                una = ack;
                let (mut fast, mut walk) = (b.clone(), b.clone());
                let (mut df, mut dw) = (Delivered::default(), Delivered::default());
                fast.on_cumulative_ack(ack, &mut df);
                walk.on_cumulative_ack_walk(ack, &mut dw);
                proptest::prop_assert_eq!(df, dw);
                proptest::prop_assert_eq!(
                    fast.records().copied().collect::<Vec<_>>(),
                    walk.records().copied().collect::<Vec<_>>()
                );
                proptest::prop_assert_eq!(
                    (fast.pipe, fast.sacked, fast.fack, fast.lost_unsent),
                    (walk.pipe, walk.sacked, walk.fack, walk.lost_unsent)
                );
                b = fast;
            }
        }
    }

    #[test]
    fn partial_cumulative_ack_and_timeout() {
        let mut b = ten();
        let mut d = Delivered::default();
        b.on_cumulative_ack(seq(150), &mut d);
        assert_eq!(b.pipe(), 850);
        assert_eq!(b.records().next().unwrap().start, seq(150));
        b.on_sack(&[(seq(500), seq(700))], seq(150), seq(1000), &mut d);
        b.mark_all_lost();
        assert_eq!(b.pipe(), 0);
        assert_eq!(b.next_lost(), Some((seq(150), seq(200))));
        b.on_send(seq(150), seq(200), t(50));
        b.on_send(seq(200), seq(300), t(50));
        assert_eq!(b.pipe(), 150);
        assert_eq!(b.next_lost(), Some((seq(300), seq(400))));
    }

    #[test]
    fn the_ring_starts_small_and_grows_to_the_cap_only() {
        let mut b = Scoreboard::new(20);
        b.on_send(seq(0), seq(10), t(0));
        assert_eq!(b.heap_bytes(), 0, "one record in flight: inline");
        b.on_send(seq(10), seq(20), t(0));
        assert_eq!(
            b.heap_bytes(),
            FIRST_RECORDS * core::mem::size_of::<SegRecord>()
        );
        assert_eq!(b.records().map(|r| r.order).collect::<Vec<_>>(), [0, 1]);
        for k in 2..30u32 {
            b.on_send(seq(k * 10), seq(k * 10 + 10), t(u64::from(k)));
        }
        assert_eq!(b.len(), 20);
        assert_eq!(b.pipe(), 300);
        assert!(b.heap_bytes() <= 20 * core::mem::size_of::<SegRecord>());
    }

    #[test]
    fn bounded_records_merge_when_full() {
        let mut b = Scoreboard::new(4);
        for k in 0..10u32 {
            b.on_send(seq(k * 10), seq(k * 10 + 10), t(u64::from(k)));
        }
        assert_eq!(b.len(), 4);
        assert_eq!(b.pipe(), 100);
        assert_eq!(b.last(), Some((seq(30), seq(100))));
        assert!(b.heap_bytes() <= 8 * core::mem::size_of::<SegRecord>());
        let mut d = Delivered::default();
        b.on_cumulative_ack(seq(100), &mut d);
        assert!(b.is_empty());
    }
}
