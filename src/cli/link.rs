//! The link options `synfin serve` and `synfin connect` share: which real
//! link (a TUN device or a UDP tunnel), synfin's address on it, capture, and
//! the link model put on it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use synfin::links::device::PacketDevice;
use synfin::links::host::DeviceHost;
use synfin::links::tun::{TunConfig, TunDevice};
use synfin::links::udp::UdpLink;
use synfin::links::LinkModel;
use synfin::stack::{Stack, StackConfig};

/// Options for the real link under the stack.
#[derive(Args, Debug, Clone)]
pub struct LinkArgs {
    /// Create (or open) this TUN device; synfin lives behind it.
    #[arg(
        long,
        value_name = "NAME",
        required_unless_present = "udp",
        conflicts_with = "udp"
    )]
    pub tun: Option<String>,
    /// Carry IP packets in UDP datagrams from this local address…
    #[arg(long, value_name = "LOCAL:PORT", requires = "udp_peer")]
    pub udp: Option<SocketAddr>,
    /// …to this remote synfin.
    #[arg(long, value_name = "REMOTE:PORT", requires = "udp")]
    pub udp_peer: Option<SocketAddr>,
    /// synfin's own address and the prefix of the link's subnet.
    #[arg(long, value_name = "ADDR/PREFIX", value_parser = parse_prefix)]
    pub addr: (IpAddr, u8),
    /// The kernel side's address on the TUN device (default: the first
    /// address of the prefix).
    #[arg(long, value_name = "ADDR", requires = "tun")]
    pub host_addr: Option<IpAddr>,
    /// Link MTU.
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u16).range(576..))]
    pub mtu: u16,
    /// Open the TUN device with virtio-net headers: checksum offload, and
    /// TSO/GSO and GRO of large segments (fewer system calls per byte).
    /// synfin's segments then leave their TCP checksums for the kernel to
    /// complete (off with --pcap or a link model).
    #[arg(long, requires = "tun")]
    pub offload: bool,
    /// With --offload, compute every TCP checksum in synfin anyway (the
    /// kernel still gets super-packets): to measure what the transmit
    /// checksum offload saves.
    #[arg(long, requires = "offload")]
    pub no_tx_checksum_offload: bool,
    /// Write every packet crossing the link to this pcap file.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Link model: probability of losing a packet, each direction.
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
    pub loss: f64,
    /// Link model: one-way delay in milliseconds added in each direction.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub delay: u64,
    /// Link model: probability that a packet is held back 5 ms (so later
    /// ones overtake it), each direction.
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
    pub reorder: f64,
    /// Link model: rate limit in Mbit/s, each direction (drop-tail queue of
    /// 1 MiB).
    #[arg(long, value_name = "MBIT", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Seed for the stack's and the link model's random choices (default:
    /// from the clock).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Send and receive buffer of each connection, bytes.
    #[arg(long, default_value_t = 256 * 1024, value_parser = clap::value_parser!(u64).range(4096..=(1 << 30)))]
    pub buffer: u64,
    /// ECN (RFC 3168, docs/ECN.md): `off`, `passive` (agree when the peer
    /// asks, the default) or `on` (also ask on connect).
    #[arg(long, default_value = "passive", value_parser = parse_ecn)]
    pub ecn: synfin::tcp::EcnMode,
    /// Link model: probability of an AQM congestion signal, each direction
    /// — an ECN-capable packet is marked CE, any other dropped.
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
    pub mark: f64,
    /// Link model: step AQM — with `--rate`, every packet arriving while
    /// the queue holds more than this many bytes signals congestion as for
    /// `--mark`.
    #[arg(long, value_name = "BYTES", requires = "rate")]
    pub mark_above: Option<usize>,
}

fn parse_ecn(s: &str) -> Result<synfin::tcp::EcnMode, String> {
    use synfin::tcp::EcnMode;
    match s {
        "off" => Ok(EcnMode::Off),
        "passive" => Ok(EcnMode::Passive),
        "on" => Ok(EcnMode::On),
        _ => Err(format!("`{s}`: expected off, passive or on")),
    }
}

/// Either real link.
pub enum AnyDevice {
    /// A TUN device.
    Tun(Box<TunDevice>),
    /// A UDP tunnel.
    Udp(UdpLink),
}

impl PacketDevice for AnyDevice {
    fn recv_batch(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
        match self {
            AnyDevice::Tun(d) => d.recv_batch(f),
            AnyDevice::Udp(d) => d.recv_batch(f),
        }
    }
    fn recv_offloaded(&mut self, f: &mut dyn FnMut(&[u8], bool)) -> io::Result<usize> {
        match self {
            AnyDevice::Tun(d) => d.recv_offloaded(f),
            AnyDevice::Udp(d) => d.recv_offloaded(f),
        }
    }
    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        match self {
            AnyDevice::Tun(d) => d.send(packet),
            AnyDevice::Udp(d) => d.send(packet),
        }
    }
    fn send_built(
        &mut self,
        scratch: &mut [u8],
        write: &mut dyn FnMut(&mut [u8]) -> Option<usize>,
    ) -> io::Result<Option<usize>> {
        match self {
            AnyDevice::Tun(d) => d.send_built(scratch, write),
            AnyDevice::Udp(d) => d.send_built(scratch, write),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            AnyDevice::Tun(d) => d.flush(),
            AnyDevice::Udp(d) => d.flush(),
        }
    }
    fn set_tx_checksum_offload(&mut self, on: bool) -> bool {
        match self {
            AnyDevice::Tun(d) => d.set_tx_checksum_offload(on),
            AnyDevice::Udp(d) => d.set_tx_checksum_offload(on),
        }
    }
    fn mtu(&self) -> usize {
        match self {
            AnyDevice::Tun(d) => d.mtu(),
            AnyDevice::Udp(d) => d.mtu(),
        }
    }
}

impl AsFd for AnyDevice {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            AnyDevice::Tun(d) => d.as_fd(),
            AnyDevice::Udp(d) => d.as_fd(),
        }
    }
}

impl LinkArgs {
    /// synfin's address.
    pub fn ip(&self) -> IpAddr {
        self.addr.0
    }

    /// The link model the fault options describe, or `None` without faults.
    pub fn model(&self) -> Option<LinkModel> {
        let faulty = self.loss > 0.0
            || self.delay > 0
            || self.reorder > 0.0
            || self.rate.is_some()
            || self.mark > 0.0;
        faulty.then(|| {
            let mut m = LinkModel::new()
                .delay(Duration::from_millis(self.delay))
                .loss(self.loss)
                .reorder(self.reorder, Duration::from_millis(5));
            if let Some(r) = self.rate {
                m = m.bandwidth((r * 1e6) as u64);
            }
            m = m.mark(self.mark);
            if let Some(b) = self.mark_above {
                m = m.mark_above(b);
            }
            m
        })
    }

    /// Opens the link, builds the stack on it and applies capture and the
    /// link model. Returns the host and a one-line description of the link.
    pub fn open(&self) -> Result<(DeviceHost<AnyDevice>, String), String> {
        let (ip, prefix) = self.addr;
        let (device, desc) = match (&self.tun, self.udp, self.udp_peer) {
            (Some(name), _, _) => {
                let host = match self.host_addr {
                    Some(h) => h,
                    None => first_address(ip, prefix)?,
                };
                if host == ip {
                    return Err(format!(
                        "the host side would get synfin's own address {ip}; pass --host-addr"
                    ));
                }
                if host.is_ipv4() != ip.is_ipv4() {
                    return Err(format!(
                        "--host-addr {host} and --addr {ip} differ in family"
                    ));
                }
                let mut cfg = TunConfig::new(name, host, prefix);
                cfg.mtu = self.mtu;
                cfg.offload = self.offload;
                let dev = TunDevice::open(&cfg).map_err(|e| e.to_string())?;
                let desc = format!(
                    "tun {name} (host side {host}/{prefix}{})",
                    if self.offload { ", offloads on" } else { "" }
                );
                (AnyDevice::Tun(Box::new(dev)), desc)
            }
            (None, Some(local), Some(peer)) => {
                let dev =
                    UdpLink::open(local, peer, usize::from(self.mtu)).map_err(|e| e.to_string())?;
                (AnyDevice::Udp(dev), format!("udp {local} ⇄ {peer}"))
            }
            _ => return Err("give --tun NAME, or --udp LOCAL:PORT with --udp-peer".into()),
        };
        let seed = self.seed.unwrap_or_else(clock_seed);
        let mut config = StackConfig::default();
        config.tcp.mtu = usize::from(self.mtu);
        config.tcp.send_buffer = self.buffer as usize;
        config.tcp.recv_buffer = self.buffer as usize;
        config.tcp.ecn = self.ecn;
        let mut stack = Stack::new(config, seed);
        stack.add_address(ip);
        let mut host = DeviceHost::new(stack, device);
        if self.no_tx_checksum_offload {
            host.set_tx_checksum_offload(false);
        }
        if let Some(m) = self.model() {
            host.impair(m, seed ^ 0x5eed);
        }
        if let Some(p) = &self.pcap {
            host.capture(p)
                .map_err(|e| format!("creating {}: {e}", p.display()))?;
        }
        Ok((host, desc))
    }
}

/// A seed that differs from run to run.
fn clock_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (u64::from(std::process::id()) << 32)
}

/// `ADDR/PREFIX`, e.g. `198.18.0.2/24` or `2001:db8::2/64`.
pub fn parse_prefix(s: &str) -> Result<(IpAddr, u8), String> {
    let (a, p) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not ADDR/PREFIX (e.g. 198.18.0.2/24)"))?;
    let ip: IpAddr = a
        .parse()
        .map_err(|_| format!("`{a}` is not an IP address"))?;
    let prefix: u8 = p
        .parse()
        .map_err(|_| format!("`{p}` is not a prefix length"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if prefix > max || prefix == 0 {
        return Err(format!("prefix /{prefix} must be 1 to {max} for {ip}"));
    }
    Ok((ip, prefix))
}

/// The first host address of `ip`'s prefix (the network address plus one).
pub fn first_address(ip: IpAddr, prefix: u8) -> Result<IpAddr, String> {
    let too_small =
        || format!("the prefix /{prefix} has no room for a second address; pass --host-addr");
    match ip {
        IpAddr::V4(a) => {
            if prefix >= 31 {
                return Err(too_small());
            }
            let mask = u32::MAX << (32 - u32::from(prefix));
            Ok(IpAddr::V4(Ipv4Addr::from((u32::from(a) & mask) + 1)))
        }
        IpAddr::V6(a) => {
            if prefix >= 127 {
                return Err(too_small());
            }
            let mask = u128::MAX << (128 - u32::from(prefix));
            Ok(IpAddr::V6(Ipv6Addr::from((u128::from(a) & mask) + 1)))
        }
    }
}

fn parse_probability(s: &str) -> Result<f64, String> {
    let p: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if !(0.0..=1.0).contains(&p) {
        return Err(format!("a probability must be between 0 and 1, got {p}"));
    }
    Ok(p)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if !(r > 0.0 && r <= 1e6) {
        return Err(format!(
            "the rate must be above 0 and at most 1000000 Mbit/s, got {r}"
        ));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(
            parse_prefix("198.18.0.2/24").unwrap(),
            ("198.18.0.2".parse().unwrap(), 24)
        );
        assert!(parse_prefix("198.18.0.2").is_err());
        assert!(parse_prefix("198.18.0.2/33").is_err());
        assert!(parse_prefix("x/24").is_err());
        let (ip, p) = parse_prefix("198.18.7.9/16").unwrap();
        assert_eq!(
            first_address(ip, p).unwrap(),
            "198.18.0.1".parse::<IpAddr>().unwrap()
        );
        let (ip, p) = parse_prefix("2001:db8::5/64").unwrap();
        assert_eq!(
            first_address(ip, p).unwrap(),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        assert!(first_address("198.18.0.2".parse().unwrap(), 31).is_err());
        assert!(parse_probability("1.5").is_err());
        assert!(parse_rate("0").is_err());
    }
}
