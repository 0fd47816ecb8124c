//! The connection demultiplexing map: 4-tuple → socket handle.
//!
//! IPv4 tuples are keyed by a 12-byte [`V4Key`] instead of a 36-byte
//! [`FourTuple`]; with the handle that makes a 20-byte entry instead of 44,
//! about 45 bytes less per connection at typical load (issue 2's 512-byte
//! per-connection target).
//!
//! The remote half of every key is chosen by the network, so the hash is
//! seeded at random per stack (hashbrown's foldhash): an attacker who cannot
//! see the seed cannot aim collisions. It costs about a tenth of SipHash,
//! which was a tenth of a connection lifecycle's instructions (issue 6,
//! docs/PERFORMANCE.md). The IPv4 table and the TIME-WAIT table's IPv4 ring
//! hash with the same seeded hasher, so a key's hash is worked out once for
//! both: a connection entering TIME-WAIT leaves one and enters the other,
//! and an ephemeral port is checked against both (the `_hashed` methods).

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use std::hash::BuildHasher;

use super::memory::hash_table_bytes;
use super::{FourTuple, SocketHandle};
use crate::wire::V4Key;

/// A 4-tuple as the stack's tables key it: the compact IPv4 key, or the
/// full tuple.
#[derive(Clone, Copy)]
pub(crate) enum TableKey {
    V4(V4Key),
    Other(FourTuple),
}

#[derive(Default)]
pub(crate) struct Demux {
    /// IPv4 entries, hashed by `hasher` (a `HashTable`, so that a hash
    /// worked out once serves a look-up here and one in TIME-WAIT).
    v4: HashTable<(V4Key, SocketHandle)>,
    hasher: DefaultHashBuilder,
    v6: HashMap<FourTuple, SocketHandle>,
    /// The last IPv4 entry [`Demux::get_v4_cached`] found: a bulk transfer
    /// sends segment after segment to one connection, and a key compare is
    /// cheaper than hashing. Always a copy of an entry of `v4` (insert and
    /// remove of that key drop it), so it never names a retired connection;
    /// a slot reused since is told apart by the handle's generation anyway.
    last_v4: Option<(V4Key, SocketHandle)>,
}

impl Demux {
    /// An empty map hashing IPv4 keys with `hasher` (the stack gives the
    /// TIME-WAIT table the same one: [`Demux::hash_v4`]).
    pub fn with_hasher(hasher: DefaultHashBuilder) -> Demux {
        Demux {
            hasher,
            ..Demux::default()
        }
    }

    /// The hash of an IPv4 key, as this map and the TIME-WAIT table that
    /// shares its hasher compute it.
    #[inline]
    pub fn hash_v4(&self, key: &V4Key) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The IPv4 entry for `key`, whose hash is `hash`.
    #[inline]
    fn find_v4(&self, hash: u64, key: &V4Key) -> Option<SocketHandle> {
        self.v4.find(hash, |e| e.0 == *key).map(|e| e.1)
    }

    /// [`Demux::find_v4`] hashing `key` only if the table holds anything
    /// (as `HashMap::get` does): a server's SYNs look up a table that
    /// holds no connection most of the time.
    #[inline]
    fn get_v4(&self, key: &V4Key) -> Option<SocketHandle> {
        if self.v4.is_empty() {
            return None;
        }
        self.find_v4(self.hash_v4(key), key)
    }

    /// Inserts or replaces the IPv4 entry for `key`; the one it replaced.
    fn insert_v4(&mut self, key: V4Key, h: SocketHandle) -> Option<SocketHandle> {
        let hash = self.hash_v4(&key);
        let hasher = &self.hasher;
        match self
            .v4
            .entry(hash, |e| e.0 == key, |e| hasher.hash_one(e.0))
        {
            hashbrown::hash_table::Entry::Occupied(mut e) => {
                Some(core::mem::replace(&mut e.get_mut().1, h))
            }
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert((key, h));
                None
            }
        }
    }

    /// Removes the IPv4 entry for `key`; what it held.
    fn remove_v4(&mut self, key: &V4Key) -> Option<SocketHandle> {
        let hash = self.hash_v4(key);
        match self.v4.find_entry(hash, |e| e.0 == *key) {
            Ok(e) => Some(e.remove().0 .1),
            Err(_) => None,
        }
    }

    /// [`Demux::get`] for an IPv4 key, through the one-entry cache of the
    /// last hit.
    #[inline(always)]
    pub fn get_v4_cached(&mut self, key: &V4Key) -> Option<SocketHandle> {
        match self.last_v4 {
            Some((k, h)) if k == *key => Some(h),
            _ => self.get_v4_and_cache(key),
        }
    }

    /// The hash lookup behind [`Demux::get_v4_cached`]'s miss, kept out of
    /// line so the hit stays a compare.
    #[inline(never)]
    fn get_v4_and_cache(&mut self, key: &V4Key) -> Option<SocketHandle> {
        let h = self.get_v4(key)?;
        self.last_v4 = Some((*key, h));
        Some(h)
    }

    /// [`Demux::get`] through the IPv4 cache ([`Demux::get_v4_cached`]):
    /// the stack's per-packet lookup, so a packet the fast path looked up
    /// and left to the general path, and the next packet of the same
    /// connection, find it without hashing.
    #[inline]
    pub fn get_cached(&mut self, key: &FourTuple) -> Option<SocketHandle> {
        match V4Key::from_tuple(key) {
            Some(k) => self.get_v4_cached(&k),
            None => self.v6.get(key).copied(),
        }
    }

    /// Drops the cached entry if it is `key`'s.
    fn forget(&mut self, key: &V4Key) {
        if self.last_v4.is_some_and(|(k, _)| k == *key) {
            self.last_v4 = None;
        }
    }

    pub fn get(&self, key: &FourTuple) -> Option<SocketHandle> {
        match V4Key::from_tuple(key) {
            Some(k) => self.get_v4(&k),
            None => self.v6.get(key).copied(),
        }
    }

    pub fn contains_key(&self, key: &FourTuple) -> bool {
        self.get(key).is_some()
    }

    /// Whether an IPv4 key, whose [`Demux::hash_v4`] is `hash`, is in the
    /// map.
    #[inline]
    pub fn contains_v4_hashed(&self, hash: u64, key: &V4Key) -> bool {
        debug_assert_eq!(hash, self.hash_v4(key));
        self.find_v4(hash, key).is_some()
    }

    /// Inserts a 4-tuple known to be absent (a connect checked it while
    /// picking or checking its port), given as either key; `hash` is an
    /// IPv4 key's [`Demux::hash_v4`] (unused for the other): the entry goes
    /// in without hashing again or probing for one to replace. An IPv4
    /// entry is then cached for [`Demux::get_v4_cached`]: an active open's
    /// next segment is its SYN-ACK, which then finds the connection
    /// without a hash (a hashed look-up of some 75 instructions per
    /// connect, callgrind).
    pub fn insert_new(&mut self, key: TableKey, hash: u64, h: SocketHandle) {
        match key {
            TableKey::V4(k) => {
                debug_assert_eq!(hash, self.hash_v4(&k));
                self.insert_v4_absent(hash, k, h);
            }
            TableKey::Other(t) => {
                let old = self.insert(t, h);
                debug_assert!(old.is_none(), "the key is new");
            }
        }
    }

    pub fn insert(&mut self, key: FourTuple, h: SocketHandle) -> Option<SocketHandle> {
        match V4Key::from_tuple(&key) {
            Some(k) => {
                self.forget(&k);
                self.insert_v4(k, h)
            }
            None => self.v6.insert(key, h),
        }
    }

    /// Inserts a 4-tuple that a look-up just missed (a passive open's
    /// final ACK: the segment found no connection, and none was added
    /// since), the entry then cached for [`Demux::get_v4_cached`]: the
    /// connection's next segment is the next one expected, which then finds
    /// it without a hash. The key is absent, so it goes in without probing
    /// for an entry to replace (debug builds check).
    pub fn insert_absent_cached(&mut self, key: FourTuple, h: SocketHandle) {
        match V4Key::from_tuple(&key) {
            Some(k) => self.insert_v4_absent(self.hash_v4(&k), k, h),
            None => {
                let old = self.v6.insert(key, h);
                debug_assert!(old.is_none(), "the key is new");
            }
        }
    }

    /// The IPv4 insert of an absent key whose hash is `hash`, cached.
    #[inline]
    fn insert_v4_absent(&mut self, hash: u64, k: V4Key, h: SocketHandle) {
        debug_assert!(self.find_v4(hash, &k).is_none(), "the key is new");
        // Absent, so not cached either (the cache is a copy of an entry).
        debug_assert!(self.last_v4.is_none_or(|(c, _)| c != k));
        let hasher = &self.hasher;
        self.v4
            .insert_unique(hash, (k, h), |e| hasher.hash_one(e.0));
        self.last_v4 = Some((k, h));
    }

    /// Removes `key` if it maps to `h` (a retiring connection whose tuple
    /// another socket may have taken since). One hash in the usual case;
    /// through [`Demux::remove`] and [`Demux::insert`], so anything they
    /// keep in step stays so.
    pub fn remove_if(&mut self, key: &FourTuple, h: SocketHandle) {
        if let Some(other) = self.remove(key) {
            if other != h {
                self.insert(*key, other);
            }
        }
    }

    /// [`Demux::remove_if`] for an IPv4 key given its [`Demux::hash_v4`]:
    /// one probe, and the entry is left untouched (not removed and put
    /// back) when it is another socket's. Always inline: its one caller
    /// outside the tests is `Stack::retire_orphan`'s unlink, which has the
    /// key and its hash in registers.
    #[inline(always)]
    pub fn remove_v4_if_hashed(&mut self, hash: u64, key: &V4Key, h: SocketHandle) {
        debug_assert_eq!(hash, self.hash_v4(key));
        if let Ok(e) = self.v4.find_entry(hash, |e| e.0 == *key) {
            if e.get().1 == h {
                e.remove();
                // The cache is a copy of an entry, and a connection has
                // one: it holds this one if it holds `h` (a handle compare
                // instead of a key compare). Left in place, another
                // socket's entry may stay cached.
                if self.last_v4.is_some_and(|(_, c)| c == h) {
                    self.last_v4 = None;
                }
            }
        }
    }

    pub fn remove(&mut self, key: &FourTuple) -> Option<SocketHandle> {
        match V4Key::from_tuple(key) {
            Some(k) => {
                self.forget(&k);
                self.remove_v4(&k)
            }
            None => self.v6.remove(key),
        }
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Heap bytes of both maps.
    pub fn heap_bytes(&self) -> usize {
        hash_table_bytes(self.v4.capacity(), size_of::<(V4Key, SocketHandle)>())
            + hash_table_bytes(self.v6.capacity(), size_of::<(FourTuple, SocketHandle)>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(index: u32) -> SocketHandle {
        SocketHandle {
            index,
            generation: 0,
        }
    }

    #[test]
    fn both_families_round_trip() {
        let mut d = Demux::default();
        let a = FourTuple::new(
            "198.18.0.1:1000".parse().unwrap(),
            "198.18.0.2:80".parse().unwrap(),
        );
        let b = FourTuple::new(
            "[2001:db8::1]:1000".parse().unwrap(),
            "[2001:db8::2]:80".parse().unwrap(),
        );
        let a2 = FourTuple::new(
            "198.18.0.1:1000".parse().unwrap(),
            "198.18.0.2:81".parse().unwrap(),
        );
        assert_eq!(d.insert(a, h(1)), None);
        assert_eq!(d.insert(b, h(2)), None);
        assert_eq!(d.get(&a), Some(h(1)));
        assert_eq!(d.get(&b), Some(h(2)));
        assert!(!d.contains_key(&a2));
        assert_eq!(d.len(), 2);
        let k = V4Key::from_tuple(&a).unwrap();
        assert_eq!(d.get_v4_cached(&k), Some(h(1)));
        assert_eq!(d.get_v4_cached(&k), Some(h(1)), "from the cache");
        // An entry inserted cached is found from the cache.
        d.insert_absent_cached(a2, h(5));
        assert_eq!(d.last_v4, Some((V4Key::from_tuple(&a2).unwrap(), h(5))));
        assert_eq!(
            d.get_v4_cached(&V4Key::from_tuple(&a2).unwrap()),
            Some(h(5))
        );
        assert_eq!(d.remove(&a2), Some(h(5)));
        assert_eq!(d.last_v4, None);
        assert_eq!(d.get_v4_cached(&k), Some(h(1)));
        // Replacing or removing the entry drops the cached copy.
        assert_eq!(d.insert(a, h(3)), Some(h(1)));
        assert_eq!(d.get_v4_cached(&k), Some(h(3)));
        assert_eq!(d.remove(&a), Some(h(3)));
        assert_eq!(d.get_v4_cached(&k), None);
        assert_eq!(d.get_cached(&a), None);
        assert_eq!(d.get_cached(&b), Some(h(2)));
        d.remove_if(&b, h(9));
        assert_eq!(d.get(&b), Some(h(2)), "another socket's entry stays");
        d.remove_if(&b, h(2));
        assert_eq!(d.get(&b), None);
        assert_eq!(d.insert(a, h(4)), None);
        assert_eq!(d.get_v4_cached(&k), Some(h(4)));
        d.remove_v4_if_hashed(d.hash_v4(&k), &k, h(9));
        assert_eq!(d.get(&a), Some(h(4)), "another socket's entry stays");
        assert_eq!(d.last_v4, Some((k, h(4))), "cached, too");
        assert!(d.contains_v4_hashed(d.hash_v4(&k), &k));
        d.remove_v4_if_hashed(d.hash_v4(&k), &k, h(4));
        assert!(!d.contains_v4_hashed(d.hash_v4(&k), &k));
        // A new key inserted with its hash is found like any other.
        d.insert_new(TableKey::V4(k), d.hash_v4(&k), h(5));
        assert_eq!(d.get(&a), Some(h(5)));
        assert_eq!(d.get_v4_cached(&k), Some(h(5)));
        d.remove_v4_if_hashed(d.hash_v4(&k), &k, h(5));
        assert_eq!(d.get(&a), None);
        assert_eq!(d.get_v4_cached(&k), None, "and leaves the cache");
        d.insert_new(TableKey::Other(b), 0, h(2));
        assert_eq!(d.get(&b), Some(h(2)));
        assert_eq!(d.get(&a), None);
        assert_eq!(V4Key::from_tuple(&a).unwrap().to_tuple(), a);
        assert!(V4Key::from_tuple(&b).is_none());
        assert!(d.heap_bytes() > 0);
    }
}
