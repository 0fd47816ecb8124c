//! Initial sequence numbers (RFC 6528) and ephemeral ports (RFC 6056), both
//! from a keyed hash of the 4-tuple so they are unpredictable off-path yet
//! reproducible from the stack's seed.

use std::hash::Hasher;

use super::FourTuple;
use crate::time::Instant;
use crate::wire::{SeqNum, V4Key};

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
    /// the bytes go straight into SipHash.
    fn hash_parts(&self, domain: u8, parts: &[&[u8]]) -> u64 {
        // Every input here is a 4-tuple or part of one (at most 37 bytes
        // with the domain byte): gathered into one block and hashed by
        // `sip24`, a fraction of what the streaming `Hasher` costs on such
        // short input (it ran several times per connection set-up).
        let mut buf = [0u8; 64];
        buf[0] = domain;
        let mut n = 1;
        for p in parts {
            let Some(dst) = buf.get_mut(n..n + p.len()) else {
                return self.hash_streaming(domain, parts);
            };
            dst.copy_from_slice(p);
            n += p.len();
        }
        sip24(self.key, &buf[..n])
    }

    /// The same function through the standard library's streaming SipHash
    /// (the fallback for long input, and the reference the tests check
    /// [`sip24`] against).
    fn hash_streaming(&self, domain: u8, parts: &[&[u8]]) -> u64 {
        #[allow(deprecated)]
        let mut h = std::hash::SipHasher::new_with_keys(self.key[0], self.key[1]);
        h.write_u8(domain);
        for p in parts {
            h.write(p);
        }
        h.finish()
    }

    /// A per-connection offset for the timestamp clock (RFC 7323 §5.4
    /// recommends randomizing it per connection): the high 32 bits of the
    /// same F as the ISN (see [`Secret::isn_and_ts_offset`]), so a
    /// connection set-up needs one keyed hash for both (the halves of a
    /// PRF's output are independent).
    pub fn ts_offset(&self, tuple: &FourTuple) -> u32 {
        (self.tuple_hash(tuple) >> 32) as u32
    }

    /// RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport,
    /// secretkey), M a 4-microsecond clock, with F's low 32 bits; and the
    /// connection's [`Secret::ts_offset`], from the same hash.
    pub fn isn_and_ts_offset(&self, tuple: &FourTuple, now: Instant) -> (SeqNum, u32) {
        let m = (now.total_micros() / 4) as u32;
        let f = self.tuple_hash(tuple);
        (SeqNum(m.wrapping_add(f as u32)), (f >> 32) as u32)
    }

    /// [`Secret::isn_and_ts_offset`] of an IPv4 tuple given as its
    /// compact key (a connect has it at hand): the same values.
    pub fn isn_and_ts_offset_v4(&self, key: &V4Key, now: Instant) -> (SeqNum, u32) {
        let m = (now.total_micros() / 4) as u32;
        let f = sip24_13(self.key, 1, &key.to_bytes());
        (SeqNum(m.wrapping_add(f as u32)), (f >> 32) as u32)
    }

    fn tuple_hash(&self, tuple: &FourTuple) -> u64 {
        // IPv4 (every passive open's SYN): the two SipHash blocks straight
        // from the compact key's 12 bytes, no 36-byte gathering.
        if let Some(k) = V4Key::from_tuple(tuple) {
            return sip24_13(self.key, 1, &k.to_bytes());
        }
        let (b, n) = tuple.compact_bytes();
        self.hash(1, &b[..n])
    }

    /// RFC 6056 §3.3.3 (Algorithm 3): the starting offset of the ephemeral
    /// port search for this destination.
    pub fn port_offset(&self, local_ip: &[u8], remote: &[u8]) -> u32 {
        self.hash_parts(3, &[local_ip, remote]) as u32
    }
}

/// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
/// 2012) of `data` under `key`: the function `std::hash::SipHasher`
/// computes, over one slice.
fn sip24(key: [u64; 2], data: &[u8]) -> u64 {
    let mut v = sip_init(key);
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        sip_compress(&mut v, u64::from_le_bytes(w.try_into().unwrap_or_default()));
    }
    // The last block: the remaining bytes, and the length's low byte on top.
    let mut tail = [0u8; 8];
    let rest = words.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    sip_compress(
        &mut v,
        u64::from_le_bytes(tail) | ((data.len() as u64) << 56),
    );
    sip_finish(v)
}

/// [`sip24`] of the 13 bytes `domain, d[0..12]` (a domain byte and an
/// IPv4 4-tuple): one full block and the tail, built as words.
#[inline]
fn sip24_13(key: [u64; 2], domain: u8, d: &[u8; 12]) -> u64 {
    let mut v = sip_init(key);
    sip_compress(
        &mut v,
        u64::from_le_bytes([domain, d[0], d[1], d[2], d[3], d[4], d[5], d[6]]),
    );
    // The tail: five bytes, and the length (13) in the top byte.
    sip_compress(
        &mut v,
        u64::from_le_bytes([d[7], d[8], d[9], d[10], d[11], 0, 0, 13]),
    );
    sip_finish(v)
}

/// SipHash's initial state: the key XORed with "somepseudorandomlygeneratedbytes".
#[inline(always)]
fn sip_init(key: [u64; 2]) -> [u64; 4] {
    [
        key[0] ^ 0x736f_6d65_7073_6575,
        key[1] ^ 0x646f_7261_6e64_6f6d,
        key[0] ^ 0x6c79_6765_6e65_7261,
        key[1] ^ 0x7465_6462_7974_6573,
    ]
}

/// One 8-byte message block: two compression rounds (the "2" of 2-4).
#[inline(always)]
fn sip_compress(v: &mut [u64; 4], m: u64) {
    v[3] ^= m;
    sip_round(v);
    sip_round(v);
    v[0] ^= m;
}

/// Finalization: four rounds (the "4"), folded to 64 bits.
#[inline(always)]
fn sip_finish(mut v: [u64; 4]) -> u64 {
    v[2] ^= 0xff;
    for _ in 0..4 {
        sip_round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[inline(always)]
fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-block SipHash is the standard library's, for every length
    /// the gathering takes (and past it, through the fallback).
    #[test]
    fn sip24_matches_the_streaming_siphash() {
        let s = Secret::new([0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908]);
        let data: Vec<u8> = (0u8..100).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        for len in 0..data.len() {
            for split in [0, len / 3, len] {
                let parts = [&data[..split], &data[split..len]];
                assert_eq!(
                    s.hash_parts(9, &parts),
                    s.hash_streaming(9, &parts),
                    "len {len} split {split}"
                );
            }
        }
    }

    /// The IPv4 shortcut is the general function, and the ISN of an IPv4
    /// tuple is what the gathered hash gives.
    #[test]
    fn sip24_13_matches_sip24() {
        let s = Secret::new([0x1234_5678_9abc_def0, 0x0fed_cba9_8765_4321]);
        for seed in 0u8..50 {
            let d: [u8; 12] = core::array::from_fn(|i| (i as u8).wrapping_mul(seed) ^ seed);
            let mut all = vec![7u8];
            all.extend_from_slice(&d);
            assert_eq!(sip24_13(s.key, 7, &d), sip24(s.key, &all));
        }
        let t = FourTuple::new(
            "198.18.0.1:4000".parse().unwrap(),
            "198.18.0.2:80".parse().unwrap(),
        );
        let (b, n) = t.compact_bytes();
        assert_eq!(n, 12);
        assert_eq!(s.tuple_hash(&t), s.hash(1, &b[..12]));
        // The compact key's bytes are the tuple's, and so its ISN.
        let k = V4Key::from_tuple(&t).unwrap();
        assert_eq!(k.to_bytes(), b[..12]);
        let now = Instant::from_micros(123_456);
        assert_eq!(
            s.isn_and_ts_offset_v4(&k, now),
            s.isn_and_ts_offset(&t, now)
        );
    }

    /// The reference vector of the SipHash paper (appendix A): key
    /// 00..0f, input 00..0e, output a129ca6149be45e5.
    #[test]
    fn sip24_reference_vector() {
        let key = [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908];
        let input: Vec<u8> = (0u8..15).collect();
        assert_eq!(sip24(key, &input), 0xa129_ca61_49be_45e5);
    }
}
