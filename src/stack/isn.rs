//! Initial sequence numbers (RFC 6528) and ephemeral ports (RFC 6056), both
//! from a keyed hash of the 4-tuple so they are unpredictable off-path yet
//! reproducible from the stack's seed.

use std::hash::{Hash, Hasher};

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
        #[allow(deprecated)]
        let mut h = std::hash::SipHasher::new_with_keys(self.key[0], self.key[1]);
        domain.hash(&mut h);
        data.hash(&mut h);
        h.finish()
    }

    /// RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport,
    /// secretkey), M a 4-microsecond clock.
    pub fn isn(&self, tuple: &FourTuple, now: Instant) -> SeqNum {
        let m = (now.total_micros() / 4) as u32;
        SeqNum(m.wrapping_add(self.hash(1, &tuple.to_bytes()) as u32))
    }

    /// A per-connection offset for the timestamp clock (RFC 7323 §5.4
    /// recommends randomizing it per connection).
    pub fn ts_offset(&self, tuple: &FourTuple) -> u32 {
        self.hash(2, &tuple.to_bytes()) as u32
    }

    /// RFC 6056 §3.3.3 (Algorithm 3): the starting offset of the ephemeral
    /// port search for this destination.
    pub fn port_offset(&self, local_ip: &[u8], remote: &[u8]) -> u32 {
        let mut buf = [0u8; 64];
        let n = local_ip.len().min(32);
        buf[..n].copy_from_slice(&local_ip[..n]);
        let m = remote.len().min(32);
        buf[32..32 + m].copy_from_slice(&remote[..m]);
        self.hash(3, &buf) as u32
    }
}
