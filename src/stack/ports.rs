//! Ephemeral ports (RFC 6056): the port of an active open, picked by
//! Algorithm 3 (a keyed offset per destination plus a counter that moves
//! by a random step), skipping 4-tuples in use or in TIME-WAIT and ports a
//! listener holds; for IPv4 the search keys each candidate as the
//! demultiplexing table does and hands the hash on to the insert.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use rand::Rng;

use super::{unspecified, Error, Stack};
use crate::wire::{FourTuple, V4Key};

impl Stack {
    /// The key of an IPv4 connection from `local` to `remote` and its
    /// hash (the demultiplexing and TIME-WAIT tables share the hasher, so
    /// the insert that follows needs no hash of its own): on the `bound`
    /// port if given (`AddrInUse` if that 4-tuple is taken by a
    /// connection or a TIME-WAIT record), else on an ephemeral port picked
    /// by the search [`Stack::ephemeral_port`] uses. Each candidate is
    /// keyed from the IPv4 addresses and ports as they are, never widened
    /// to a [`FourTuple`]: a connect's port search ran on 36-byte enums
    /// (issue 6).
    pub(crate) fn port_v4(
        &mut self,
        local: Ipv4Addr,
        remote: SocketAddrV4,
        bound: Option<u16>,
    ) -> Result<(V4Key, u16, u64), Error> {
        let (l, r, rport) = (local.octets(), remote.ip().octets(), remote.port());
        let free = |s: &Self, port: u16| {
            let k = V4Key::new(l, r, port, rport);
            let hash = s.conns.hash_v4(&k);
            let taken =
                s.conns.contains_v4_hashed(hash, &k) || s.time_wait.contains_v4_hashed(hash, &k);
            (!taken).then_some((k, port, hash))
        };
        if let Some(port) = bound {
            return free(self, port).ok_or(Error::AddrInUse);
        }
        self.search_ports(IpAddr::V4(local), SocketAddr::V4(remote), free)
            .ok_or(Error::AddrNotAvailable)
    }

    /// Picks an ephemeral port for a connection from `local_ip` to `remote`
    /// (RFC 6056 §3.3.3, Algorithm 3), skipping 4-tuples in use or in
    /// TIME-WAIT and ports with a listener. For IPv6 (IPv4 pairs go
    /// through [`Stack::port_v4`], which picks the same way).
    pub(crate) fn ephemeral_port(&mut self, local_ip: IpAddr, remote: SocketAddr) -> Option<u16> {
        self.search_ports(local_ip, remote, |s, port| {
            let key = FourTuple::new(SocketAddr::new(local_ip, port), remote);
            (!s.conns.contains_key(&key) && !s.time_wait.contains(&key)).then_some(port)
        })
    }

    /// The RFC 6056 search both families share: candidates from the keyed
    /// offset for the destination and the counter, the first that `free`
    /// accepts (`Some`: the 4-tuple is neither a connection nor in
    /// TIME-WAIT) on a port no listener holds.
    #[inline]
    fn search_ports<T>(
        &mut self,
        local_ip: IpAddr,
        remote: SocketAddr,
        free: impl Fn(&Self, u16) -> Option<T>,
    ) -> Option<T> {
        let (lo, n) = self.port_range();
        // The memo is keyed by the addresses themselves: the hash input's
        // 36 bytes are built only when it misses.
        let offset = match self.port_memo {
            Some((ip, r, offset)) if ip == local_ip && r == remote => offset,
            _ => self.port_offset_miss(local_ip, remote),
        };
        for _ in 0..n {
            let port = self.next_port(lo, n, offset);
            if let Some(found) = free(self, port) {
                if !self.port_listened(local_ip, port) {
                    return Some(found);
                }
            }
        }
        None
    }

    /// The ephemeral range's first port and its length.
    #[inline]
    fn port_range(&self) -> (u16, u32) {
        let (lo, hi) = self.config.ephemeral_ports;
        (lo, u32::from(hi.saturating_sub(lo)) + 1)
    }

    /// RFC 6056 Algorithm 3's next candidate: `offset` plus the counter,
    /// in the range; the counter moves on by 1 to 4 (randomly, so the
    /// sequence of ports is harder to guess).
    #[inline]
    fn next_port(&mut self, lo: u16, n: u32, offset: u32) -> u16 {
        let port = lo + ((offset.wrapping_add(self.port_counter)) % n) as u16;
        self.port_counter = self
            .port_counter
            .wrapping_add(1 + (self.rng.next_u32() % 4));
        port
    }

    /// The keyed port offset for a destination the memo does not hold
    /// (out of line: a client connecting to one server again and again
    /// computes it once).
    #[cold]
    #[inline(never)]
    fn port_offset_miss(&mut self, local_ip: IpAddr, remote: SocketAddr) -> u32 {
        let lip = FourTuple::new(SocketAddr::new(local_ip, 0), remote).to_bytes();
        let offset = self.secret.port_offset(&lip[..16], &lip[16..]);
        self.port_memo = Some((local_ip, remote, offset));
        offset
    }

    /// Whether a listener holds `port` on `ip` or on the wildcard address.
    #[inline]
    fn port_listened(&self, ip: IpAddr, port: u16) -> bool {
        !self.listeners.is_empty()
            && (self.listeners.contains_key(&(ip, port))
                || self.listeners.contains_key(&(unspecified(ip), port)))
    }
}
