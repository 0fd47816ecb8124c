//! TIME-WAIT records: what is left of a connection for its last 2×MSL.
//!
//! A full connection is hundreds of bytes plus its buffers; TIME-WAIT needs
//! only enough to re-acknowledge a retransmitted FIN (RFC 9293 §3.10.7.4)
//! and to judge whether a new SYN may reopen the 4-tuple (RFC 6191). Busy
//! servers hold tens of thousands of these, so each is a small record
//! (DESIGN.md: "TIME-WAIT entries kept as compact records").
//!
//! Layout. Every record lives for the same 2×MSL, so insertion order is
//! expiry order: the records sit in a ring (a `VecDeque`) that is both the
//! storage and the expiry queue, and a `hashbrown::HashTable<u32>` maps a
//! 4-tuple to the record's position. There is no per-record timer and no
//! pointer. IPv4 4-tuples are kept in their own ring with a 12-byte key, so
//! an IPv4 record is 32 bytes; an IPv6 record, with its 36-byte key, is 56.
//!
//! Removal before expiry (a reopening SYN, or a restart that moves a record
//! to the back of the ring) leaves a dead slot that is reclaimed when the
//! ring's head passes it — at the latest 2×MSL later.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;

use super::FourTuple;
use crate::time::Instant;
use crate::wire::SeqNum;
use crate::wire::V4Key;

/// What TIME-WAIT remembers of a connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TimeWaitEntry {
    /// Our SND.NXT: the sequence number of the re-sent ACK.
    pub snd_nxt: SeqNum,
    /// Our RCV.NXT: just past the peer's FIN.
    pub rcv_nxt: SeqNum,
    /// The peer's last timestamp (TS.Recent), if timestamps were in use.
    pub ts_recent: Option<u32>,
    /// The window field of the re-sent ACK, already scaled.
    pub window: u16,
    /// Our receive window shift (RFC 7323 §2.3; 0 without scaling):
    /// `window << rcv_wscale` is RCV.WND, which the RFC 793 in-window test
    /// for a SYN needs (`insecure_syn`). At most 14.
    pub rcv_wscale: u8,
}

/// The key of a record in one ring.
trait Key: Copy + Eq + Hash {
    fn to_tuple(self) -> FourTuple;
}

impl Key for V4Key {
    fn to_tuple(self) -> FourTuple {
        V4Key::to_tuple(self)
    }
}

impl Key for FourTuple {
    fn to_tuple(self) -> FourTuple {
        self
    }
}

const LIVE: u8 = 1;
const HAS_TS: u8 = 2;
/// The receive window shift (0..=14) lives in the flags' high nibble, so
/// the record does not grow.
const WSCALE_SHIFT: u8 = 4;

/// One record. Field order keeps it packed: 12 + 20 = 32 bytes for IPv4.
#[derive(Copy, Clone)]
struct Record<K> {
    key: K,
    snd_nxt: u32,
    rcv_nxt: u32,
    ts_recent: u32,
    /// Expiry in milliseconds of [`Instant`], truncated to 32 bits and
    /// compared with serial arithmetic (valid for lifetimes under 24 days).
    expires: u32,
    window: u16,
    flags: u8,
}

impl<K> Record<K> {
    /// A live record of `e` for `key`, expiring at `expires` (ms).
    #[inline]
    fn new(key: K, e: &TimeWaitEntry, expires: u32) -> Self {
        Record {
            key,
            snd_nxt: e.snd_nxt.0,
            rcv_nxt: e.rcv_nxt.0,
            ts_recent: e.ts_recent.unwrap_or(0),
            expires,
            window: e.window,
            flags: LIVE
                | if e.ts_recent.is_some() { HAS_TS } else { 0 }
                | e.rcv_wscale.min(14) << WSCALE_SHIFT,
        }
    }
    fn entry(&self) -> TimeWaitEntry {
        TimeWaitEntry {
            snd_nxt: SeqNum(self.snd_nxt),
            rcv_nxt: SeqNum(self.rcv_nxt),
            ts_recent: (self.flags & HAS_TS != 0).then_some(self.ts_recent),
            window: self.window,
            rcv_wscale: self.flags >> WSCALE_SHIFT,
        }
    }
    fn live(&self) -> bool {
        self.flags & LIVE != 0
    }
}

/// `t` in whole milliseconds, rounded up so a record never expires early.
fn millis_ceil(t: Instant) -> u32 {
    t.total_micros().div_ceil(1000) as u32
}

/// `a` is at or before `b` in 32-bit serial order.
fn not_after(a: u32, b: u32) -> bool {
    b.wrapping_sub(a) as i32 >= 0
}

/// One address family's ring and index.
struct Ring<K> {
    records: VecDeque<Record<K>>,
    /// Position of the ring's head since the ring was created; the index
    /// stores absolute positions, so popping the head needs no rewrite.
    head: u32,
    index: HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
    live: usize,
}

impl<K: Key> Ring<K> {
    fn new() -> Self {
        Self::with_hasher(hashbrown::DefaultHashBuilder::default())
    }

    fn with_hasher(hasher: hashbrown::DefaultHashBuilder) -> Self {
        Ring {
            records: VecDeque::new(),
            head: 0,
            index: HashTable::new(),
            hasher,
            live: 0,
        }
    }

    fn slot(&self, pos: u32) -> usize {
        pos.wrapping_sub(self.head) as usize
    }

    fn find(&self, key: &K) -> Option<u32> {
        self.find_hashed(self.hasher.hash_one(key), key)
    }

    /// [`Ring::find`] given the key's hash (`hasher`'s).
    fn find_hashed(&self, h: u64, key: &K) -> Option<u32> {
        debug_assert_eq!(h, self.hasher.hash_one(key));
        self.index
            .find(h, |&p| self.records[self.slot(p)].key == *key)
            .copied()
    }

    fn get(&self, key: &K) -> Option<TimeWaitEntry> {
        self.find(key).map(|p| self.records[self.slot(p)].entry())
    }

    fn push(&mut self, key: K, e: &TimeWaitEntry, expires: u32) {
        let h = self.hasher.hash_one(key);
        self.push_hashed(h, key, e, expires);
    }

    /// [`Ring::push`] given the key's hash.
    fn push_hashed(&mut self, h: u64, key: K, e: &TimeWaitEntry, expires: u32) {
        let pos = self.head.wrapping_add(self.records.len() as u32);
        self.records.push_back(Record::new(key, e, expires));
        let (records, head, hasher) = (&self.records, self.head, &self.hasher);
        self.index.insert_unique(h, pos, |&p| {
            hasher.hash_one(records[p.wrapping_sub(head) as usize].key)
        });
        self.live += 1;
    }

    /// Unlinks the record for `key` and marks its slot dead.
    fn take(&mut self, key: &K) -> Option<TimeWaitEntry> {
        let h = self.hasher.hash_one(key);
        let (records, head) = (&self.records, self.head);
        let found = self
            .index
            .find_entry(h, |&p| records[p.wrapping_sub(head) as usize].key == *key);
        let pos = found.ok()?.remove().0;
        let slot = self.slot(pos);
        let r = &mut self.records[slot];
        r.flags &= !LIVE;
        self.live -= 1;
        Some(r.entry())
    }

    fn insert(&mut self, key: K, e: &TimeWaitEntry, expires: u32) {
        self.take(&key);
        self.push(key, e, expires);
    }

    /// Adds a record for `key` unless it has one: one hash of the key and
    /// one probe of the index, which both finds a record there and, if
    /// there is none, the slot the new one takes (a `find` and then an
    /// `insert_unique` probed twice: some 40 instructions per connection
    /// entering TIME-WAIT, callgrind, issue 6).
    fn insert_absent(&mut self, key: K, e: &TimeWaitEntry, expires: u32) -> bool {
        self.insert_absent_hashed(self.hasher.hash_one(key), key, e, expires)
    }

    /// [`Ring::insert_absent`] given the key's hash (`hasher`'s).
    fn insert_absent_hashed(&mut self, h: u64, key: K, e: &TimeWaitEntry, expires: u32) -> bool {
        debug_assert_eq!(h, self.hasher.hash_one(key));
        let pos = self.head.wrapping_add(self.records.len() as u32);
        let (records, head, hasher) = (&self.records, self.head, &self.hasher);
        match self.index.entry(
            h,
            |&p| records[p.wrapping_sub(head) as usize].key == key,
            |&p| hasher.hash_one(records[p.wrapping_sub(head) as usize].key),
        ) {
            hashbrown::hash_table::Entry::Occupied(_) => return false,
            hashbrown::hash_table::Entry::Vacant(v) => {
                // `pos` is the record pushed next: nothing reads the index
                // in between.
                v.insert(pos);
            }
        }
        self.records.push_back(Record::new(key, e, expires));
        self.live += 1;
        true
    }

    /// Moves the record to the back of the ring with a new expiry.
    fn restart(&mut self, key: &K, expires: u32) -> bool {
        match self.take(key) {
            Some(e) => {
                self.push(*key, &e, expires);
                true
            }
            None => false,
        }
    }

    fn expire(&mut self, now: u32, f: &mut impl FnMut(FourTuple)) -> usize {
        let mut n = 0;
        while let Some(r) = self.records.front() {
            if r.live() {
                if !not_after(r.expires, now) {
                    break;
                }
                let key = r.key;
                self.take(&key);
                f(key.to_tuple());
                n += 1;
            }
            self.records.pop_front();
            self.head = self.head.wrapping_add(1);
        }
        n
    }

    /// Pops the dead slots at the front (records taken out of the index);
    /// positions stay absolute, so the index needs no rewrite.
    fn pop_dead_front(&mut self) {
        while self.records.front().is_some_and(|r| !r.live()) {
            self.records.pop_front();
            self.head = self.head.wrapping_add(1);
        }
    }

    /// The head's expiry. A dead head gives an early, harmless wake-up.
    fn next_expiry(&self) -> Option<u32> {
        self.records.front().map(|r| r.expires)
    }

    fn heap_bytes(&self) -> usize {
        self.records.capacity() * std::mem::size_of::<Record<K>>()
            + super::memory::hash_table_bytes(self.index.capacity(), std::mem::size_of::<u32>())
    }

    fn iter(&self) -> impl Iterator<Item = (FourTuple, TimeWaitEntry)> + '_ {
        self.records
            .iter()
            .filter(|r| r.live())
            .map(|r| (r.key.to_tuple(), r.entry()))
    }
}

/// All TIME-WAIT records of a stack.
pub struct TimeWaitTable {
    v4: Ring<V4Key>,
    v6: Ring<FourTuple>,
    max: usize,
    /// Records dropped early because the table was full.
    evicted: u64,
    /// Real expiry instants are millisecond-truncated; keep the stack's
    /// clock's high bits to rebuild an [`Instant`] for `next_expiry`.
    last_now: Instant,
    /// [`TimeWaitTable::next_expiry`], worked out after every change: the
    /// stack's `poll_timeout` asks for it after every step of an event
    /// loop, the table changes about once per connection.
    next: Option<Instant>,
}

impl TimeWaitTable {
    /// An empty table that holds at most `max` records; past that the
    /// oldest record is dropped early (Linux's `tcp_max_tw_buckets` does
    /// the same, and logs it).
    pub fn new(max: usize) -> Self {
        Self::with_v4_hasher(max, hashbrown::DefaultHashBuilder::default())
    }

    /// [`TimeWaitTable::new`] whose IPv4 records are hashed with `hasher`:
    /// the stack's demultiplexing table's, so that one hash of a key serves
    /// both tables (demux.rs).
    pub(crate) fn with_v4_hasher(max: usize, hasher: hashbrown::DefaultHashBuilder) -> Self {
        TimeWaitTable {
            v4: Ring::with_hasher(hasher),
            v6: Ring::new(),
            max,
            evicted: 0,
            last_now: Instant::ZERO,
            next: None,
        }
    }

    /// Number of live records.
    pub fn len(&self) -> usize {
        self.v4.live + self.v6.live
    }

    /// No live records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records `key` in TIME-WAIT until `expires`, replacing any record it
    /// had. Expiry times are expected to grow with insertion order (all
    /// records last 2×MSL); an earlier one is honoured no sooner than the
    /// records inserted before it.
    pub fn insert(&mut self, key: FourTuple, entry: TimeWaitEntry, expires: Instant) {
        if self.max == 0 {
            return;
        }
        if self.len() >= self.max && !self.contains(&key) {
            self.evict_oldest();
        }
        let ms = millis_ceil(expires);
        match V4Key::from_tuple(&key) {
            Some(k) => self.v4.insert(k, &entry, ms),
            None => self.v6.insert(key, &entry, ms),
        }
        self.changed();
    }

    /// How many records were dropped early because the table was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    fn evict_oldest(&mut self) {
        self.evicted += 1;
        // At the cap every new record evicts one: log the first eviction
        // and then at each power of two, so a busy server at its cap does
        // not log per connection; the count is in `StackStats`.
        if self.evicted.is_power_of_two() {
            tracing::warn!(
                max = self.max,
                evicted = self.evicted,
                "TIME-WAIT table full; dropping the oldest record early"
            );
        }
        let pick_v4 = match (
            self.v4.records.iter().find(|r| r.live()),
            self.v6.records.iter().find(|r| r.live()),
        ) {
            (Some(a), Some(b)) => not_after(a.expires, b.expires),
            (Some(_), None) => true,
            _ => false,
        };
        if pick_v4 {
            if let Some(k) = self.v4.records.iter().find(|r| r.live()).map(|r| r.key) {
                self.v4.take(&k);
            }
        } else if let Some(k) = self.v6.records.iter().find(|r| r.live()).map(|r| r.key) {
            self.v6.take(&k);
        }
        // The evicted record is now a dead slot at the front: drop the
        // dead slots there, or the next eviction (at the cap, every insert
        // evicts) walks past all of them again until the next expiry pops
        // them — quadratic in the evictions between two expiries.
        self.v4.pop_dead_front();
        self.v6.pop_dead_front();
    }

    /// The record for `key`.
    pub fn get(&self, key: &FourTuple) -> Option<TimeWaitEntry> {
        match V4Key::from_tuple(key) {
            Some(k) => self.v4.get(&k),
            None => self.v6.get(key),
        }
    }

    /// [`TimeWaitTable::insert`] for a 4-tuple not in TIME-WAIT yet: a
    /// record already there is left as it is. Returns whether it inserted.
    /// (A connection entering TIME-WAIT: one lookup instead of three.)
    pub fn insert_absent(
        &mut self,
        key: FourTuple,
        entry: TimeWaitEntry,
        expires: Instant,
    ) -> bool {
        if !self.make_room(|t| t.contains(&key)) {
            return false;
        }
        let ms = millis_ceil(expires);
        let inserted = match V4Key::from_tuple(&key) {
            Some(k) => self.v4.insert_absent(k, &entry, ms),
            None => self.v6.insert_absent(key, &entry, ms),
        };
        self.changed();
        inserted
    }

    /// [`TimeWaitTable::insert_absent`] for an IPv4 4-tuple given as its
    /// compact key and that key's hash (the hasher's this table was made
    /// with: a retiring IPv4 connection has both at hand).
    pub(crate) fn insert_absent_v4_hashed(
        &mut self,
        hash: u64,
        key: V4Key,
        entry: TimeWaitEntry,
        expires: Instant,
    ) -> bool {
        // The kept next expiry is the earlier of the rings' heads: a record
        // pushed at the back of a ring that already had one and evicted
        // none (every insert but a table's first, short of its cap) leaves
        // both heads, so it needs no working out again (issue 6).
        let evicts = self.len() >= self.max;
        if !self.make_room(|t| t.v4.find_hashed(hash, &key).is_some()) {
            return false;
        }
        let was_empty = self.v4.records.is_empty();
        let inserted = self
            .v4
            .insert_absent_hashed(hash, key, &entry, millis_ceil(expires));
        if evicts || was_empty {
            self.changed();
        }
        inserted
    }

    /// Before an insert of a record not in the table yet: false if the
    /// table holds none (a cap of 0) or if it is full and `present` says
    /// the record is there already (nothing to insert, nothing evicted);
    /// otherwise true, the oldest record evicted if the table was full.
    #[inline]
    fn make_room(&mut self, present: impl FnOnce(&Self) -> bool) -> bool {
        if self.max == 0 {
            return false;
        }
        if self.len() >= self.max {
            if present(self) {
                return false;
            }
            self.evict_oldest();
        }
        true
    }

    /// Whether an IPv4 4-tuple, given as its compact key and its hash (the hasher's
    /// this table was made with).
    #[inline]
    pub(crate) fn contains_v4_hashed(&self, hash: u64, key: &V4Key) -> bool {
        self.v4.live > 0 && self.v4.find_hashed(hash, key).is_some()
    }

    /// Whether `key` is in TIME-WAIT.
    pub fn contains(&self, key: &FourTuple) -> bool {
        match V4Key::from_tuple(key) {
            Some(k) => self.v4.find(&k).is_some(),
            None => self.v6.find(key).is_some(),
        }
    }

    /// Restarts the 2×MSL timer of `key` (a retransmitted FIN arrived).
    pub fn restart(&mut self, key: &FourTuple, expires: Instant) -> bool {
        let ms = millis_ceil(expires);
        let restarted = match V4Key::from_tuple(key) {
            Some(k) => self.v4.restart(&k, ms),
            None => self.v6.restart(key, ms),
        };
        self.changed();
        restarted
    }

    /// Ends TIME-WAIT for `key` early because a new SYN reopens it
    /// (RFC 6191) and returns the record it had.
    pub fn reopen(&mut self, key: &FourTuple) -> Option<TimeWaitEntry> {
        let e = match V4Key::from_tuple(key) {
            Some(k) => self.v4.take(&k),
            None => self.v6.take(key),
        };
        self.changed();
        e
    }

    /// Drops every record whose time is up; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        self.expire_with(now, |_| {})
    }

    /// Like [`expire`](Self::expire), calling `f` with each expired 4-tuple.
    pub fn expire_with(&mut self, now: Instant, mut f: impl FnMut(FourTuple)) -> usize {
        self.last_now = now;
        let ms = now.total_millis() as u32;
        let n = self.v4.expire(ms, &mut f) + self.v6.expire(ms, &mut f);
        self.changed();
        n
    }

    /// The earliest time at which a record may expire.
    #[inline]
    pub fn next_expiry(&self) -> Option<Instant> {
        // Every debug build's test checks the kept answer.
        debug_assert_eq!(self.next, self.work_out_next_expiry());
        self.next
    }

    /// After any change: [`TimeWaitTable::next_expiry`] again.
    fn changed(&mut self) {
        self.next = self.work_out_next_expiry();
    }

    fn work_out_next_expiry(&self) -> Option<Instant> {
        let a = self.v4.next_expiry();
        let b = self.v6.next_expiry();
        let ms = match (a, b) {
            (Some(a), Some(b)) => {
                if not_after(a, b) {
                    a
                } else {
                    b
                }
            }
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => return None,
        };
        // Rebuild the full instant from the 32-bit millisecond stamp, which
        // is within ±24 days of the clock last seen.
        let now_ms = self.last_now.total_millis();
        let delta = ms.wrapping_sub(now_ms as u32) as i32 as i64;
        let at = (now_ms as i64 + delta).max(0) as u64;
        Some(Instant::from_millis(at))
    }

    /// Every live record, oldest first within each address family.
    pub fn iter(&self) -> impl Iterator<Item = (FourTuple, TimeWaitEntry)> + '_ {
        self.v4.iter().chain(self.v6.iter())
    }

    /// Heap bytes held by the table, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes() + self.v6.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    fn tuple(i: u32, v6: bool) -> FourTuple {
        let l: SocketAddr = if v6 {
            "[2001:db8::1]:80".parse().unwrap()
        } else {
            "198.18.0.1:80".parse().unwrap()
        };
        let r = if v6 {
            SocketAddr::new(
                IpAddr::V6(std::net::Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    0,
                    0,
                    0,
                    0,
                    (i >> 16) as u16,
                    i as u16,
                )),
                5000,
            )
        } else {
            SocketAddr::new(
                IpAddr::V4(Ipv4Addr::from(0xC612_0000 | (i & 0xffff))),
                1024 + (i >> 16) as u16,
            )
        };
        FourTuple::new(l, r)
    }

    fn entry(i: u32) -> TimeWaitEntry {
        TimeWaitEntry {
            snd_nxt: SeqNum(i),
            rcv_nxt: SeqNum(i + 1),
            ts_recent: Some(i * 3),
            window: 100,
            rcv_wscale: (i % 15) as u8,
        }
    }

    #[test]
    fn records_are_small() {
        assert_eq!(std::mem::size_of::<Record<V4Key>>(), 32);
        assert_eq!(std::mem::size_of::<Record<FourTuple>>(), 56);
    }

    #[test]
    fn insert_get_expire_in_order() {
        for v6 in [false, true] {
            let mut t = TimeWaitTable::new(1000);
            for i in 0..10 {
                t.insert(
                    tuple(i, v6),
                    entry(i),
                    Instant::from_millis(1000 + i as u64),
                );
            }
            assert_eq!(t.len(), 10);
            assert_eq!(t.get(&tuple(3, v6)), Some(entry(3)));
            assert_eq!(t.next_expiry(), Some(Instant::from_millis(1000)));
            let mut seen = Vec::new();
            assert_eq!(
                t.expire_with(Instant::from_millis(1004), |k| seen.push(k)),
                5
            );
            assert_eq!(seen, (0..5).map(|i| tuple(i, v6)).collect::<Vec<_>>());
            assert!(!t.contains(&tuple(4, v6)));
            assert!(t.contains(&tuple(5, v6)));
            assert_eq!(t.expire(Instant::from_millis(5000)), 5);
            assert!(t.is_empty());
            assert_eq!(t.next_expiry(), None);
        }
    }

    #[test]
    fn restart_and_reopen() {
        let mut t = TimeWaitTable::new(1000);
        for i in 0..3 {
            t.insert(tuple(i, false), entry(i), Instant::from_millis(100));
        }
        assert!(t.restart(&tuple(0, false), Instant::from_millis(500)));
        assert_eq!(t.reopen(&tuple(1, false)), Some(entry(1)));
        assert_eq!(t.reopen(&tuple(1, false)), None);
        assert_eq!(t.len(), 2);
        assert_eq!(t.expire(Instant::from_millis(100)), 1); // only tuple 2
        assert!(t.contains(&tuple(0, false)));
        assert_eq!(t.next_expiry(), Some(Instant::from_millis(500)));
        assert_eq!(t.expire(Instant::from_millis(500)), 1);
        assert!(t.is_empty());
        assert!(t.v4.records.is_empty(), "dead slots are reclaimed");
    }

    #[test]
    fn full_table_drops_oldest() {
        let mut t = TimeWaitTable::new(2);
        for i in 0..3 {
            t.insert(
                tuple(i, false),
                entry(i),
                Instant::from_millis(10 + i as u64),
            );
        }
        assert_eq!(t.len(), 2);
        assert!(!t.contains(&tuple(0, false)));
        assert!(t.contains(&tuple(2, false)));
        assert_eq!(t.evicted(), 1);
        // Replacing a record that is there evicts nothing.
        t.insert(tuple(2, false), entry(9), Instant::from_millis(20));
        assert_eq!((t.len(), t.evicted()), (2, 1));
    }

    /// At the cap every insert evicts the oldest record; its dead slot
    /// goes at once, so the ring holds the cap and each eviction finds the
    /// oldest live record at the front (it used to walk past every record
    /// evicted since the last expiry).
    #[test]
    fn evictions_at_the_cap_leave_no_dead_slots() {
        let mut t = TimeWaitTable::new(4);
        for i in 0..1000 {
            t.insert_absent(
                tuple(i, i % 3 == 0),
                entry(i),
                Instant::from_millis(10 + i as u64),
            );
        }
        assert_eq!((t.len(), t.evicted()), (4, 996));
        assert_eq!(t.v4.records.len() + t.v6.records.len(), 4);
        for i in 996..1000 {
            assert_eq!(t.get(&tuple(i, i % 3 == 0)), Some(entry(i)), "{i}");
        }
        assert_eq!(t.expire(Instant::from_millis(2000)), 4);
        assert!(t.is_empty());
    }

    /// The hashed insert works the next expiry out again only when a
    /// ring's head can have moved: the first record of its ring, or an
    /// eviction. The kept answer must match a fresh one throughout.
    #[test]
    fn hashed_insert_keeps_the_next_expiry() {
        let mut t = TimeWaitTable::new(3);
        t.insert_absent(tuple(100, true), entry(100), Instant::from_millis(50));
        let insert = |t: &mut TimeWaitTable, i: u32, ms: u64| {
            let k = V4Key::from_tuple(&tuple(i, false)).unwrap();
            let hash = t.v4.hasher.hash_one(k);
            t.insert_absent_v4_hashed(hash, k, entry(i), Instant::from_millis(ms))
        };
        let expect = |t: &TimeWaitTable, ms: u64| {
            assert_eq!(t.next_expiry(), Some(Instant::from_millis(ms)));
            assert_eq!(t.next, t.work_out_next_expiry());
        };
        assert!(insert(&mut t, 0, 100));
        expect(&t, 50);
        assert!(insert(&mut t, 1, 200));
        expect(&t, 50);
        // Full: the oldest (the IPv6 record) goes.
        assert!(insert(&mut t, 2, 300));
        expect(&t, 100);
        assert!(!insert(&mut t, 2, 400), "there already");
        expect(&t, 100);
        assert!(insert(&mut t, 3, 400));
        expect(&t, 200);
        assert_eq!(t.expire(Instant::from_millis(1000)), 3);
        assert_eq!(t.next_expiry(), None);
        assert!(insert(&mut t, 4, 2000));
        expect(&t, 2000);
    }

    #[test]
    fn reinsert_replaces() {
        let mut t = TimeWaitTable::new(10);
        t.insert(tuple(1, true), entry(1), Instant::from_millis(10));
        t.insert(tuple(1, true), entry(7), Instant::from_millis(20));
        assert_eq!(t.len(), 1);
        assert_eq!(t.get(&tuple(1, true)), Some(entry(7)));
        assert_eq!(t.expire(Instant::from_millis(15)), 0);
        assert_eq!(t.expire(Instant::from_millis(20)), 1);
    }
}
