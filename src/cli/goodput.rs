//! `synfin goodput`: one bulk connection across a simulated path with a
//! bottleneck rate, a round-trip time and random loss (the link model of
//! `synfin::links`), in virtual time. Reports the goodput the receiving
//! application saw and the sender's loss-recovery counters, per seed and on
//! average.
//!
//! The default path is issue 9's: 100 Mbit/s, 20 ms RTT, 1 % random loss
//! on the data direction, a drop-tail queue of one bandwidth-delay product.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};

use synfin::links::{LinkModel, Network};
use synfin::stack::{Error, Stack, StackConfig};
use synfin::tcp::{CongestionAlgorithm, LossStats, State};

/// The congestion controller, as named on the command line.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Cc {
    /// CUBIC (RFC 9438), the default.
    Cubic,
    /// NewReno (RFC 5681 / RFC 6582).
    Newreno,
}

/// Options of `synfin goodput`.
#[derive(Args, Debug, Clone)]
pub struct GoodputArgs {
    /// Bottleneck rate in Mbit/s (each direction).
    #[arg(long, default_value_t = 100.0)]
    pub mbit: f64,
    /// Round-trip propagation time in milliseconds (half each way).
    #[arg(long, default_value_t = 20)]
    pub rtt_ms: u64,
    /// Probability that a data packet is lost (0 to 0.5).
    #[arg(long, default_value_t = 0.01, value_parser = super::parse_loss)]
    pub loss: f64,
    /// Probability that an ACK (reverse direction) is lost (0 to 0.5).
    #[arg(long, default_value_t = 0.0, value_parser = super::parse_loss)]
    pub ack_loss: f64,
    /// Bottleneck queue in bandwidth-delay products (drop-tail).
    #[arg(long, default_value_t = 1.0)]
    pub queue_bdp: f64,
    /// Virtual seconds of transfer per run (after the handshake).
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Number of runs, with seeds 1..=N.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub runs: u64,
    /// Congestion controller of the sender.
    #[arg(long, value_enum, default_value_t = Cc::Cubic)]
    pub congestion: Cc,
    /// Turn SACK off (both ends), leaving NewReno-style recovery.
    #[arg(long)]
    pub no_sack: bool,
    /// Print one JSON object per run and a summary instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// What one run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunResult {
    /// The seed.
    pub seed: u64,
    /// Bytes the receiving application read.
    pub bytes: u64,
    /// Virtual seconds measured.
    pub seconds: f64,
    /// bytes × 8 / seconds / 10⁶.
    pub goodput_mbit: f64,
    /// Packets the data direction lost.
    pub packets_lost: u64,
    /// Packets the bottleneck queue dropped.
    pub queue_drops: u64,
    /// The sender's counters.
    pub sender: LossStats,
}

/// Runs one transfer with `seed`.
pub fn run_once(a: &GoodputArgs, seed: u64) -> Result<RunResult, String> {
    let c_ip: IpAddr = "198.18.0.1".parse().expect("valid address");
    let s_ip: IpAddr = "198.18.0.2".parse().expect("valid address");
    let mut cfg = StackConfig::default();
    cfg.tcp.sack = !a.no_sack;
    cfg.tcp.congestion = match a.congestion {
        Cc::Cubic => CongestionAlgorithm::Cubic,
        Cc::Newreno => CongestionAlgorithm::NewReno,
    };
    let mut net = Network::new(seed);
    let mut client = Stack::new(cfg.clone(), seed ^ 0x5eed);
    client.add_address(c_ip);
    let mut server = Stack::new(cfg, seed ^ 0xfeed);
    server.add_address(s_ip);
    let c = net.add_host(&[c_ip], client);
    let s = net.add_host(&[s_ip], server);
    let bps = (a.mbit * 1e6) as u64;
    let one_way = Duration::from_micros(a.rtt_ms * 500);
    let bdp = (a.mbit * 1e6 / 8.0 * a.rtt_ms as f64 / 1000.0) as usize;
    let queue = ((bdp as f64 * a.queue_bdp) as usize).max(3000);
    let fwd = LinkModel::new()
        .delay(one_way)
        .bandwidth(bps)
        .queue_limit(queue)
        .loss(a.loss);
    let rev = LinkModel::new()
        .delay(one_way)
        .bandwidth(bps)
        .queue_limit(queue)
        .loss(a.ack_loss);
    net.link_directed(c, s, fwd);
    net.link_directed(s, c, rev);

    let addr = "198.18.0.2:5001".parse().expect("valid address");
    let listener = net
        .host_mut(s)
        .listen(addr, 4)
        .map_err(|e| format!("listen: {e}"))?;
    let now = net.now();
    let conn = net
        .host_mut(c)
        .connect(now, addr)
        .map_err(|e| format!("connect: {e}"))?;
    net.run_for(Duration::from_secs(3));
    if net.host(c).state(conn) != Ok(State::Established) {
        return Err(format!(
            "seed {seed}: the handshake did not complete in 3 s"
        ));
    }
    let (accepted, _) = net
        .host_mut(s)
        .accept(listener)
        .map_err(|e| format!("accept: {e}"))?;

    let chunk = vec![0x5a_u8; 64 * 1024];
    let mut buf = vec![0u8; 64 * 1024];
    let start = net.now();
    let end = start + Duration::from_secs(a.seconds);
    let mut bytes = 0u64;
    let step = Duration::from_millis(1);
    while net.now() < end {
        let now = net.now();
        // Keep the send queue full: the sender is never application-limited.
        loop {
            match net.host_mut(c).send(now, conn, &chunk) {
                Ok(0) | Err(Error::WouldBlock) => break,
                Ok(_) => {}
                Err(e) => return Err(format!("seed {seed}: send: {e}")),
            }
        }
        loop {
            match net.host_mut(s).recv(now, accepted, &mut buf) {
                Ok(0) | Err(Error::WouldBlock) => break,
                Ok(n) => bytes += n as u64,
                Err(e) => return Err(format!("seed {seed}: recv: {e}")),
            }
        }
        net.run_until((now + step).min(end));
    }
    let seconds = (net.now() - start).as_secs_f64();
    let sender = net
        .host(c)
        .connection(conn)
        .map_err(|e| format!("connection: {e}"))?
        .loss_stats();
    let st = net.stats();
    Ok(RunResult {
        seed,
        bytes,
        seconds,
        goodput_mbit: bytes as f64 * 8.0 / seconds / 1e6,
        packets_lost: st.lost,
        queue_drops: st.dropped_queue,
        sender,
    })
}

pub fn run(a: &GoodputArgs) -> ExitCode {
    let mut results = Vec::new();
    for seed in 1..=a.runs {
        match run_once(a, seed) {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("goodput: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let mean = results.iter().map(|r| r.goodput_mbit).sum::<f64>() / results.len() as f64;
    let min = results
        .iter()
        .map(|r| r.goodput_mbit)
        .fold(f64::INFINITY, f64::min);
    let max = results.iter().map(|r| r.goodput_mbit).fold(0.0, f64::max);
    let path = format!(
        "{} Mbit/s, {} ms RTT, {} % loss ({} % ACK loss), queue {} BDP, {} s per run, {:?}{}",
        a.mbit,
        a.rtt_ms,
        a.loss * 100.0,
        a.ack_loss * 100.0,
        a.queue_bdp,
        a.seconds,
        a.congestion,
        if a.no_sack { ", no SACK" } else { ", SACK" }
    );
    if a.json {
        for r in &results {
            println!("{}", serde_json::to_string(r).unwrap_or_default());
        }
        println!(
            "{}",
            serde_json::json!({ "path": path, "mean_mbit": mean, "min_mbit": min, "max_mbit": max })
        );
        return ExitCode::SUCCESS;
    }
    println!("synfin goodput, simulated path: {path}");
    println!(
        "{:>5} {:>10} {:>8} {:>8} {:>8} {:>6} {:>6} {:>9}",
        "seed", "Mbit/s", "lost", "q-drops", "rexmit", "RTOs", "TLPs", "recovery"
    );
    for r in &results {
        println!(
            "{:>5} {:>10.2} {:>8} {:>8} {:>8} {:>6} {:>6} {:>9}",
            r.seed,
            r.goodput_mbit,
            r.packets_lost,
            r.queue_drops,
            r.sender.retransmits,
            r.sender.timeouts,
            r.sender.tlp_probes,
            r.sender.recoveries
        );
    }
    println!(
        "mean {mean:.2} Mbit/s (min {min:.2}, max {max:.2}) over {} runs",
        results.len()
    );
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A short lossless run fills most of a small pipe; with loss the
    /// counters show recovery at work. (Seconds of virtual time: fast.)
    #[test]
    fn short_runs() {
        let mut a = GoodputArgs {
            mbit: 10.0,
            rtt_ms: 20,
            loss: 0.0,
            ack_loss: 0.0,
            queue_bdp: 1.0,
            seconds: 3,
            runs: 1,
            congestion: Cc::Cubic,
            no_sack: false,
            json: false,
        };
        let r = run_once(&a, 1).unwrap();
        assert!(r.goodput_mbit > 8.0, "{r:?}");
        assert!(r.goodput_mbit <= 10.0, "{r:?}");
        a.loss = 0.01;
        let r = run_once(&a, 2).unwrap();
        assert!(r.sender.retransmits > 0 && r.packets_lost > 0, "{r:?}");
        assert!(r.sender.fast_retransmits > 0, "{r:?}");
    }
}
