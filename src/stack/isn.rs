//! Initial sequence numbers (RFC 6528) and ephemeral ports (RFC 6056), both
//! from a keyed hash of the 4-tuple so they are unpredictable off-path yet
//! reproducible from the stack's seed.

use std::hash::Hasher;

use super::FourTuple;
use crate::time::Instant;
use crate::wire::SeqNum;

/// The stack's secret and the keyed function built on it.
#[derive(Clone, Debug)]
pub(crate) struct Secret {
    key: [u64; 2],
}

impl Secret {
    pub fn new(key: [u64; 2]) -> Self {
        Secret { key }
    }

    /// F(key, data): SipHash-2-4 keyed with the stack's 128-bit secret over
    /// a domain byte and the data. SipHash is a keyed PRF designed for short
    /// inputs, which is what RFC 6528 §3 asks of F; the domain byte keeps the
    /// uses (ISNs, timestamps, ports, SYN cookies) independent.
    pub(crate) fn hash(&self, domain: u8, data: &[u8]) -> u64 {
        self.hash_parts(domain, &[data])
    }

    /// F over the concatenation of `parts`. Within a domain every input has
    /// a fixed layout, so no length prefix is needed: the domain byte and
    /// the bytes go straight into SipHash (which buffers across writes).
    fn hash_parts(&self, domain: u8, parts: &[&[u8]]) -> u64 {
        #[allow(deprecated)]
        let mut h = std::hash::SipHasher::new_with_keys(self.key[0], self.key[1]);
        h.write_u8(domain);
        for p in parts {
            h.write(p);
        }
        h.finish()
    }

    /// RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport,
    /// secretkey), M a 4-microsecond clock.
    pub fn isn(&self, tuple: &FourTuple, now: Instant) -> SeqNum {
        let m = (now.total_micros() / 4) as u32;
        let (b, n) = tuple.compact_bytes();
        SeqNum(m.wrapping_add(self.hash(1, &b[..n]) as u32))
    }

    /// A per-connection offset for the timestamp clock (RFC 7323 §5.4
    /// recommends randomizing it per connection).
    pub fn ts_offset(&self, tuple: &FourTuple) -> u32 {
        let (b, n) = tuple.compact_bytes();
        self.hash(2, &b[..n]) as u32
    }

    /// RFC 6056 §3.3.3 (Algorithm 3): the starting offset of the ephemeral
    /// port search for this destination.
    pub fn port_offset(&self, local_ip: &[u8], remote: &[u8]) -> u32 {
        self.hash_parts(3, &[local_ip, remote]) as u32
    }
}
