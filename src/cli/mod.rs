//! Argument parsing and dispatch for the `synfin` binary.

mod bench;
#[cfg(target_os = "linux")]
mod bridge;
mod conformance;
#[cfg(target_os = "linux")]
mod connect;
mod demo;
#[cfg(target_os = "linux")]
mod drive;
mod goodput;
mod ladder;
mod lifecycle;
#[cfg(target_os = "linux")]
mod link;
#[cfg(target_os = "linux")]
mod serve;
#[cfg(target_os = "linux")]
mod session;
mod soak;
mod transactions;
mod twohost;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// synfin: a userspace TCP/IP stack, SYN to FIN.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Log level for the stack's tracing output (error, warn, info, debug,
    /// trace); logs go to stderr.
    #[arg(long, global = true, default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The transaction-total scenario in message mode (the default command):
    /// clients hang up with disconnect data carrying their totals, the
    /// server answers each with the grand total; drawn as a ladder diagram.
    Demo(DemoArgs),
    /// Two simulated hosts go through a whole connection lifecycle and the
    /// segments are drawn as a ladder diagram.
    Lifecycle(LifecycleArgs),
    /// Benchmarks synfin beside smoltcp (with `--features bench-smoltcp`)
    /// and the kernel: bulk throughput, connection lifecycles, memory.
    Bench(bench::BenchArgs),
    /// Runs packetdrill scripts (files or directories) against the stack in
    /// virtual time and reports pass / fail / unsupported per directory.
    Conformance(conformance::ConformanceArgs),
    /// Random scenarios in the simulator (lifecycles × faults × close
    /// modes), each checked for lost, duplicated or altered bytes, the
    /// closes each side observes, empty tables and bounded memory; or, with
    /// --flood, a SYN flood against a listener while legitimate clients
    /// connect.
    Soak(soak::SoakArgs),
    /// Listen on a real link (a TUN device, or IP in UDP) and serve each
    /// connection: echo, discard or source.
    #[cfg(target_os = "linux")]
    Serve(serve::ServeArgs),
    /// Connect from synfin on a real link to a peer, send and read.
    #[cfg(target_os = "linux")]
    Connect(connect::ConnectArgs),
    /// Join two TUN devices (each possibly in its own network namespace)
    /// through the link model: kernel↔kernel traffic, impaired.
    #[cfg(target_os = "linux")]
    Bridge(bridge::BridgeArgs),
    /// One bulk connection across a simulated lossy path (default 100
    /// Mbit/s, 20 ms RTT, 1 % loss) in virtual time: goodput and the
    /// sender's loss-recovery counters.
    Goodput(goodput::GoodputArgs),
}

/// Options of `synfin demo` (the transaction-total scenario).
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Number of clients.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=200))]
    pub clients: u16,
    /// Probability that the link loses a packet, in each direction (0 to 0.5).
    #[arg(long, default_value_t = 0.0, value_parser = parse_loss)]
    pub loss: f64,
    /// Probability that the link delivers a packet twice (0 to 0.5).
    #[arg(long, default_value_t = 0.0, value_parser = parse_loss)]
    pub duplicate: f64,
    /// Probability that the link holds a packet back 5 ms, reordering it
    /// (0 to 0.5).
    #[arg(long, default_value_t = 0.0, value_parser = parse_loss)]
    pub reorder: f64,
    /// Seed for everything random (ISNs, ports, amounts, link faults).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write every packet to this pcap file (readable by tshark/Wireshark).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Print a machine-readable JSON summary instead of the ladder.
    #[arg(long)]
    pub json: bool,
    /// One-way link delay in milliseconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub delay_ms: u64,
}

impl Default for DemoArgs {
    fn default() -> Self {
        DemoArgs {
            clients: 3,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            seed: 1,
            pcap: None,
            json: false,
            delay_ms: 10,
        }
    }
}

/// Options of `synfin lifecycle`.
#[derive(Args, Debug, Clone)]
pub struct LifecycleArgs {
    /// Probability that the link loses a packet, in each direction (0 to 0.5).
    #[arg(long, default_value_t = 0.0, value_parser = parse_loss)]
    pub loss: f64,
    /// Seed for everything random (ISNs, ports, link faults).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write every packet to this pcap file (readable by tshark/Wireshark).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Print a machine-readable JSON summary instead of the ladder.
    #[arg(long)]
    pub json: bool,
    /// One-way link delay in milliseconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub delay_ms: u64,
}

impl Default for LifecycleArgs {
    fn default() -> Self {
        LifecycleArgs {
            loss: 0.0,
            seed: 1,
            pcap: None,
            json: false,
            delay_ms: 10,
        }
    }
}

/// Loss above one half makes the demo a test of patience, not of TCP: with
/// the default retry limits a handshake would fail more often than not.
fn parse_loss(s: &str) -> Result<f64, String> {
    let p: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if !(0.0..=0.5).contains(&p) {
        return Err(format!("loss must be between 0 and 0.5, got {p}"));
    }
    Ok(p)
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let args = match cli.command {
        Some(Command::Demo(a)) => a,
        Some(Command::Lifecycle(a)) => return lifecycle::run(&a),
        Some(Command::Bench(a)) => return bench::run(&a),
        Some(Command::Conformance(a)) => return conformance::run(&a),
        Some(Command::Soak(a)) => return soak::run(&a),
        #[cfg(target_os = "linux")]
        Some(Command::Serve(a)) => return serve::run(&a),
        #[cfg(target_os = "linux")]
        Some(Command::Connect(a)) => return connect::run(&a),
        #[cfg(target_os = "linux")]
        Some(Command::Bridge(a)) => return bridge::run(&a),
        Some(Command::Goodput(a)) => return goodput::run(&a),
        None => DemoArgs::default(),
    };
    demo::run(&args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_is_validated() {
        assert!(parse_loss("0.1").is_ok());
        assert!(parse_loss("0.9").unwrap_err().contains("between 0 and 0.5"));
        assert!(parse_loss("x").unwrap_err().contains("not a number"));
        assert!(parse_loss("-0.1").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
