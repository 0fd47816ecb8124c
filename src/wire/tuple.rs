//! The connection key: local and remote address and port, stored compactly
//! (IPv4 as IPv4-mapped IPv6) so that a TIME-WAIT record stays small.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A connection's 4-tuple. 36 bytes whatever the address family.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct FourTuple {
    local_ip: [u8; 16],
    remote_ip: [u8; 16],
    /// Local port.
    pub local_port: u16,
    /// Remote port.
    pub remote_port: u16,
}

fn ip_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The address back from [`ip_bytes`]: IPv4-mapped bytes are IPv4. The
/// prefix is tested as two words (`Ipv6Addr::to_ipv4_mapped` costs some
/// 50 instructions, and a 4-tuple's addresses are rebuilt several times per
/// connection set-up).
#[inline]
fn ip_from(bytes: [u8; 16]) -> IpAddr {
    let hi = u64::from_be_bytes([
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
    ]);
    let mid = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if hi == 0 && mid == 0xffff {
        IpAddr::V4(Ipv4Addr::new(bytes[12], bytes[13], bytes[14], bytes[15]))
    } else {
        IpAddr::V6(Ipv6Addr::from(bytes))
    }
}

impl FourTuple {
    /// The key of a connection from `local` to `remote`.
    pub fn new(local: SocketAddr, remote: SocketAddr) -> Self {
        FourTuple {
            local_ip: ip_bytes(local.ip()),
            remote_ip: ip_bytes(remote.ip()),
            local_port: local.port(),
            remote_port: remote.port(),
        }
    }
    /// The key of an IPv4 connection from raw address bytes (as a packet's
    /// header holds them): the mapped bytes written straight, without the
    /// `SocketAddr`s [`FourTuple::new`] takes apart (a passive open builds
    /// one per segment it receives, issue 6).
    #[inline]
    pub(crate) fn from_v4(
        local: [u8; 4],
        remote: [u8; 4],
        local_port: u16,
        remote_port: u16,
    ) -> Self {
        let mapped = |[a, b, c, d]: [u8; 4]| [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d];
        FourTuple {
            local_ip: mapped(local),
            remote_ip: mapped(remote),
            local_port,
            remote_port,
        }
    }
    /// Both addresses of an IPv4 tuple (local, remote), read from the
    /// mapped bytes without building `SocketAddr`s; `None` for IPv6.
    #[inline]
    pub(crate) fn v4_ips(&self) -> Option<(Ipv4Addr, Ipv4Addr)> {
        V4Key::from_tuple(self).map(|k| (Ipv4Addr::from(k.local), Ipv4Addr::from(k.remote)))
    }
    /// Local address and port.
    #[inline]
    pub fn local(&self) -> SocketAddr {
        SocketAddr::new(ip_from(self.local_ip), self.local_port)
    }
    /// Remote address and port.
    #[inline]
    pub fn remote(&self) -> SocketAddr {
        SocketAddr::new(ip_from(self.remote_ip), self.remote_port)
    }
    /// The tuple as bytes, 12 of them for IPv4 (addresses and ports), 36
    /// otherwise: what keyed hashes of a tuple read (fewer bytes, fewer
    /// SipHash rounds per connection).
    pub(crate) fn compact_bytes(&self) -> ([u8; 36], usize) {
        match V4Key::from_tuple(self) {
            Some(k) => {
                let mut b = [0u8; 36];
                b[..4].copy_from_slice(&k.local);
                b[4..8].copy_from_slice(&k.remote);
                b[8..10].copy_from_slice(&k.local_port.to_be_bytes());
                b[10..12].copy_from_slice(&k.remote_port.to_be_bytes());
                (b, 12)
            }
            None => (self.to_bytes(), 36),
        }
    }
    /// The key as raw bytes, for keyed hashing (ISNs, ports, cookies).
    pub fn to_bytes(&self) -> [u8; 36] {
        let mut b = [0u8; 36];
        b[..16].copy_from_slice(&self.local_ip);
        b[16..32].copy_from_slice(&self.remote_ip);
        b[32..34].copy_from_slice(&self.local_port.to_be_bytes());
        b[34..36].copy_from_slice(&self.remote_port.to_be_bytes());
        b
    }
}

/// An IPv4 4-tuple in 12 bytes, for tables that hold many of them (the
/// demultiplexing map, TIME-WAIT records): a [`FourTuple`] spends 36.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) struct V4Key {
    local: [u8; 4],
    remote: [u8; 4],
    local_port: u16,
    remote_port: u16,
}

/// One 64-bit and one 32-bit word, instead of the derived per-field
/// (length-prefixed array) writes: a hash per packet.
impl core::hash::Hash for V4Key {
    #[inline]
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(
            u64::from(u32::from_ne_bytes(self.local)) << 32
                | u64::from(u32::from_ne_bytes(self.remote)),
        );
        state.write_u32(u32::from(self.local_port) << 16 | u32::from(self.remote_port));
    }
}

impl V4Key {
    /// The key of local `local:local_port`, remote `remote:remote_port`,
    /// from raw address bytes (the receive fast path reads them straight
    /// from the IPv4 header).
    #[inline]
    pub(crate) fn new(local: [u8; 4], remote: [u8; 4], local_port: u16, remote_port: u16) -> V4Key {
        V4Key {
            local,
            remote,
            local_port,
            remote_port,
        }
    }

    /// The local address's bytes.
    #[inline]
    pub(crate) fn local_ip(&self) -> [u8; 4] {
        self.local
    }

    /// The compact key, or `None` for an IPv6 tuple.
    /// The key of an IPv4 tuple (both addresses IPv4-mapped), read straight
    /// from the mapped bytes: this runs for every packet.
    #[inline]
    pub(crate) fn from_tuple(t: &FourTuple) -> Option<V4Key> {
        const MAPPED: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
        let (l, r) = (&t.local_ip, &t.remote_ip);
        if l[..12] != MAPPED || r[..12] != MAPPED {
            return None;
        }
        Some(V4Key {
            local: [l[12], l[13], l[14], l[15]],
            remote: [r[12], r[13], r[14], r[15]],
            local_port: t.local_port,
            remote_port: t.remote_port,
        })
    }

    /// The 12 bytes [`FourTuple::compact_bytes`] gives for this tuple
    /// (addresses, then the ports big-endian): the keyed hashes' input.
    #[inline]
    pub(crate) fn to_bytes(self) -> [u8; 12] {
        let [a, b, c, d] = self.local;
        let [e, f, g, h] = self.remote;
        let [i, j] = self.local_port.to_be_bytes();
        let [k, l] = self.remote_port.to_be_bytes();
        [a, b, c, d, e, f, g, h, i, j, k, l]
    }

    pub(crate) fn to_tuple(self) -> FourTuple {
        FourTuple::from_v4(self.local, self.remote, self.local_port, self.remote_port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn round_trips_both_families() {
        let a: SocketAddr = "198.18.0.1:80".parse().unwrap();
        let b: SocketAddr = "[2001:db8::2]:4000".parse().unwrap();
        let t = FourTuple::new(a, b);
        assert_eq!(t.local(), a);
        assert_eq!(t.remote(), b);
        // IPv4-mapped IPv6 comes back as IPv4; other IPv6 stays IPv6.
        let m: SocketAddr = "[::ffff:198.18.0.9]:1".parse().unwrap();
        let c: SocketAddr = "[::fffe:198.18.0.9]:1".parse().unwrap();
        // The IPv4 constructor from raw bytes equals the general one.
        assert_eq!(
            FourTuple::from_v4([198, 18, 0, 1], [198, 18, 0, 2], 80, 4000),
            FourTuple::new(a, "198.18.0.2:4000".parse().unwrap())
        );
        let t = FourTuple::new(m, c);
        assert_eq!(t.local(), "198.18.0.9:1".parse::<SocketAddr>().unwrap());
        assert_eq!(t.remote(), c);
        assert_eq!(core::mem::size_of::<FourTuple>(), 36);
    }
}
