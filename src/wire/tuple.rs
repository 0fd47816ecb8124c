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

fn ip_from(bytes: [u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(bytes);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
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
    /// Local address and port.
    pub fn local(&self) -> SocketAddr {
        SocketAddr::new(ip_from(self.local_ip), self.local_port)
    }
    /// Remote address and port.
    pub fn remote(&self) -> SocketAddr {
        SocketAddr::new(ip_from(self.remote_ip), self.remote_port)
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
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) struct V4Key {
    local: [u8; 4],
    remote: [u8; 4],
    local_port: u16,
    remote_port: u16,
}

impl V4Key {
    /// The compact key, or `None` for an IPv6 tuple.
    pub(crate) fn from_tuple(t: &FourTuple) -> Option<V4Key> {
        match (t.local(), t.remote()) {
            (SocketAddr::V4(l), SocketAddr::V4(r)) => Some(V4Key {
                local: l.ip().octets(),
                remote: r.ip().octets(),
                local_port: l.port(),
                remote_port: r.port(),
            }),
            _ => None,
        }
    }

    pub(crate) fn to_tuple(self) -> FourTuple {
        let l = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(self.local)), self.local_port);
        let r = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(self.remote)), self.remote_port);
        FourTuple::new(l, r)
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
        assert_eq!(core::mem::size_of::<FourTuple>(), 36);
    }
}
