//! `synfin bridge`: joins two TUN devices, each possibly in its own network
//! namespace, through the link model, so that kernel↔kernel traffic is
//! impaired exactly as kernel↔synfin traffic is (the baseline for
//! loss-recovery comparisons).
//!
//! ```sh
//! ip netns add a; ip netns add b
//! synfin bridge --a sfa@a --a-addr 198.18.2.1/24 --b sfb@b --b-addr 198.18.2.2/24 --loss 0.05 --delay 10
//! # now 198.18.2.1 (in a) and 198.18.2.2 (in b) reach each other through the bridge
//! ```

use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use nix::sched::{setns, CloneFlags};

use synfin::links::device::PacketDevice;
use synfin::links::host::wait_readable;
use synfin::links::impair::{Direction, Impairment};
use synfin::links::pcap::PcapCapture;
use synfin::links::tun::{TunConfig, TunDevice};
use synfin::links::LinkModel;
use synfin::time::Instant;

use super::link::parse_prefix;

/// Options of `synfin bridge`.
#[derive(Args, Debug, Clone)]
pub struct BridgeArgs {
    /// Side A: a TUN device, `NAME` or `NAME@NETNS` (a namespace from
    /// `ip netns add`).
    #[arg(long, value_name = "NAME[@NETNS]")]
    pub a: String,
    /// The kernel's address on side A's device, with the prefix routed to it.
    #[arg(long, value_name = "ADDR/PREFIX", value_parser = parse_prefix)]
    pub a_addr: (IpAddr, u8),
    /// Side B, like side A.
    #[arg(long, value_name = "NAME[@NETNS]")]
    pub b: String,
    /// The kernel's address on side B's device.
    #[arg(long, value_name = "ADDR/PREFIX", value_parser = parse_prefix)]
    pub b_addr: (IpAddr, u8),
    /// MTU of both devices.
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u16).range(576..))]
    pub mtu: u16,
    /// Probability of losing a packet, each direction.
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// One-way delay in milliseconds, each direction.
    #[arg(long, default_value_t = 0)]
    pub delay: u64,
    /// Probability that a packet is held back 5 ms, each direction.
    #[arg(long, default_value_t = 0.0)]
    pub reorder: f64,
    /// Rate limit in Mbit/s, each direction.
    #[arg(long, value_name = "MBIT")]
    pub rate: Option<f64>,
    /// Seed for the link model's random choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write every packet crossing the bridge to this pcap file.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Stop after this many seconds (default: run until killed).
    #[arg(long)]
    pub seconds: Option<f64>,
}

/// Opens a TUN device named by `spec` (`NAME` or `NAME@NETNS`), switching
/// this thread into the namespace for the creation only.
fn open_side(spec: &str, addr: (IpAddr, u8), mtu: u16) -> Result<TunDevice, String> {
    let (name, ns) = match spec.split_once('@') {
        Some((n, ns)) => (n, Some(ns)),
        None => (spec, None),
    };
    let mut cfg = TunConfig::new(name, addr.0, addr.1);
    cfg.mtu = mtu;
    let Some(ns) = ns else {
        return TunDevice::open(&cfg).map_err(|e| e.to_string());
    };
    let home = File::open("/proc/thread-self/ns/net")
        .map_err(|e| format!("opening this thread's network namespace: {e}"))?;
    let target = File::open(format!("/run/netns/{ns}"))
        .map_err(|e| format!("network namespace `{ns}` (made by `ip netns add`): {e}"))?;
    setns(target.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("entering network namespace `{ns}`: {e}"))?;
    // The device belongs to the namespace it was created in, whatever this
    // thread does next.
    let dev = TunDevice::open(&cfg).map_err(|e| e.to_string());
    setns(home.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("returning to the original network namespace: {e}"))?;
    dev
}

/// Runs `synfin bridge`.
pub fn run(args: &BridgeArgs) -> ExitCode {
    match bridge(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("synfin bridge: {e}");
            ExitCode::from(1)
        }
    }
}

fn bridge(args: &BridgeArgs) -> Result<(), String> {
    for p in [args.loss, args.reorder] {
        if !(0.0..=1.0).contains(&p) {
            return Err(format!("a probability must be between 0 and 1, got {p}"));
        }
    }
    let mut a = open_side(&args.a, args.a_addr, args.mtu)?;
    let mut b = open_side(&args.b, args.b_addr, args.mtu)?;
    let mut model = LinkModel::new()
        .delay(Duration::from_millis(args.delay))
        .loss(args.loss)
        .reorder(args.reorder, Duration::from_millis(5));
    if let Some(r) = args.rate {
        model = model.bandwidth((r * 1e6) as u64);
    }
    let mut imp = Impairment::new(model, args.seed);
    let mut pcap = match &args.pcap {
        Some(p) => Some(PcapCapture::create(p).map_err(|e| format!("{}: {e}", p.display()))?),
        None => None,
    };
    eprintln!(
        "synfin: bridging {} ({}/{}) and {} ({}/{})",
        args.a, args.a_addr.0, args.a_addr.1, args.b, args.b_addr.0, args.b_addr.1
    );
    let origin = std::time::Instant::now();
    let stop = args.seconds.map(Duration::from_secs_f64);
    let now = || Instant::from_micros(origin.elapsed().as_micros() as u64);
    let io = |e: std::io::Error| e.to_string();
    loop {
        if stop.is_some_and(|s| origin.elapsed() >= s) {
            return Ok(());
        }
        let t = now();
        // A → B is `Out`, B → A is `In`.
        a.recv_batch(&mut |p| {
            if let Some(c) = pcap.as_mut() {
                let _ = c.write_packet(t, p);
            }
            imp.offer(Direction::Out, t, p)
        })
        .map_err(io)?;
        b.recv_batch(&mut |p| {
            if let Some(c) = pcap.as_mut() {
                let _ = c.write_packet(t, p);
            }
            imp.offer(Direction::In, t, p)
        })
        .map_err(io)?;
        while let Some(p) = imp.pop_due(Direction::Out, t) {
            b.send(&p).map_err(io)?;
        }
        while let Some(p) = imp.pop_due(Direction::In, t) {
            a.send(&p).map_err(io)?;
        }
        a.flush().map_err(io)?;
        b.flush().map_err(io)?;
        let wait = imp.next_deadline().map_or(Duration::from_millis(200), |d| {
            d.saturating_duration_since(now())
                .min(Duration::from_millis(200))
        });
        wait_readable(&[a.as_fd(), b.as_fd()], Some(wait)).map_err(io)?;
    }
}
