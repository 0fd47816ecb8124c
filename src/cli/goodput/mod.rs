//! `synfin goodput`: one bulk connection across a simulated path with a
//! bottleneck rate, a round-trip time and random loss (the link model of
//! `synfin::links`), in virtual time. Reports the goodput the receiving
//! application saw and the sender's loss-recovery counters, per seed and as
//! the median over seeds, for each pairing of stacks asked for: synfin to
//! synfin, and with the `bench-smoltcp` feature smoltcp to smoltcp (its
//! congestion control as shipped, and its optional Cubic and Reno) and the
//! mixed pairs (`endpoint.rs`, `smol.rs`).
//!
//! The default path is issue 9's: 100 Mbit/s, 20 ms RTT, 1 % random loss
//! on the data direction, a drop-tail queue of one bandwidth-delay product.
mod endpoint;
#[cfg(feature = "bench-smoltcp")]
mod smol;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};

use synfin::links::{LinkModel, Network};
use synfin::stack::StackConfig;
use synfin::tcp::{CongestionAlgorithm, LossStats};

use endpoint::Endpoint;
pub use endpoint::{Kind, WireStats};

/// The congestion controller, as named on the command line.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Cc {
    /// CUBIC (RFC 9438), the default.
    Cubic,
    /// NewReno (RFC 5681 / RFC 6582).
    Newreno,
}

/// A sender and a receiver, `SENDER:RECEIVER` on the command line.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    /// The end that sends (the client).
    pub sender: Kind,
    /// The end that receives (the server).
    pub receiver: Kind,
}

impl Pair {
    /// `sender→receiver`.
    pub fn label(&self) -> String {
        format!("{}→{}", self.sender.name(), self.receiver.name())
    }
}

fn parse_pair(s: &str) -> Result<Pair, String> {
    let (a, b) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not SENDER:RECEIVER (e.g. synfin:smoltcp)"))?;
    Ok(Pair {
        sender: Kind::parse(a)?,
        receiver: Kind::parse(b)?,
    })
}

/// The pairs measured without `--pairs`: synfin both ends, and with smoltcp
/// built in, smoltcp both ends (as shipped, with Cubic, with Reno) and the
/// two mixed pairs.
pub fn default_pairs() -> Vec<Pair> {
    let p = |sender, receiver| Pair { sender, receiver };
    let mut v = vec![p(Kind::Synfin, Kind::Synfin)];
    if cfg!(feature = "bench-smoltcp") {
        v.extend([
            p(Kind::Smoltcp, Kind::Smoltcp),
            p(Kind::SmoltcpCubic, Kind::SmoltcpCubic),
            p(Kind::SmoltcpReno, Kind::SmoltcpReno),
            p(Kind::Synfin, Kind::Smoltcp),
            p(Kind::SmoltcpCubic, Kind::Synfin),
        ]);
    }
    v
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
    /// Number of runs per pair, with seeds 1..=N.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub runs: u64,
    /// Congestion controller of a synfin sender.
    #[arg(long, value_enum, default_value_t = Cc::Cubic)]
    pub congestion: Cc,
    /// Turn SACK off on synfin (both ends), leaving NewReno-style recovery.
    #[arg(long)]
    pub no_sack: bool,
    /// Pace synfin's data segments (`TcpConfig::pacing`).
    #[arg(long)]
    pub pacing: bool,
    /// Which stacks, as SENDER:RECEIVER pairs (synfin, smoltcp,
    /// smoltcp-cubic, smoltcp-reno; the smoltcp ones need the
    /// `bench-smoltcp` feature). Default: synfin:synfin, and with smoltcp
    /// built in also smoltcp:smoltcp, smoltcp-cubic:smoltcp-cubic,
    /// smoltcp-reno:smoltcp-reno, synfin:smoltcp, smoltcp-cubic:synfin.
    #[arg(long, value_delimiter = ',', value_parser = parse_pair)]
    pub pairs: Vec<Pair>,
    /// Send and receive buffer of a smoltcp socket, bytes (default 2 MiB:
    /// the receive buffer synfin's auto-tuning may grow to).
    #[arg(long, default_value_t = 2 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(4096..=(1 << 30)))]
    pub smoltcp_buffer: u64,
    /// Print one JSON object per run and one summary per pair instead of a
    /// table.
    #[arg(long)]
    pub json: bool,
}

impl GoodputArgs {
    /// The pairs to measure.
    pub fn pairs(&self) -> Vec<Pair> {
        if self.pairs.is_empty() {
            default_pairs()
        } else {
            self.pairs.clone()
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunResult {
    /// `sender→receiver`.
    pub pair: String,
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
    /// What the sender put on the wire.
    pub sender_wire: WireStats,
    /// A synfin sender's own counters.
    pub sender: Option<LossStats>,
}

/// Runs one transfer of `pair` with `seed`.
pub fn run_once(a: &GoodputArgs, pair: Pair, seed: u64) -> Result<RunResult, String> {
    let c_ip: IpAddr = "198.18.0.1".parse().expect("valid address");
    let s_ip: IpAddr = "198.18.0.2".parse().expect("valid address");
    let mut cfg = StackConfig::default();
    cfg.tcp.sack = !a.no_sack;
    cfg.tcp.pacing = a.pacing;
    cfg.tcp.congestion = match a.congestion {
        Cc::Cubic => CongestionAlgorithm::Cubic,
        Cc::Newreno => CongestionAlgorithm::NewReno,
    };
    let buffer = a.smoltcp_buffer as usize;
    let mut net = Network::new(seed);
    let client = Endpoint::new(pair.sender, c_ip, &cfg, buffer, seed ^ 0x5eed)?;
    let server = Endpoint::new(pair.receiver, s_ip, &cfg, buffer, seed ^ 0xfeed)?;
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

    let addr = SocketAddr::new(s_ip, 5001);
    net.host_mut(s).listen(addr)?;
    let now = net.now();
    net.host_mut(c).connect(now, addr)?;
    let done = net.run_until_cond(net.now() + Duration::from_secs(3), |n| {
        n.host_mut(c).established() && n.host_mut(s).established()
    });
    if !done {
        return Err(format!(
            "{} seed {seed}: the handshake did not complete in 3 s",
            pair.label()
        ));
    }

    let chunk = vec![0x5a_u8; 64 * 1024];
    let mut buf = vec![0u8; 64 * 1024];
    let start = net.now();
    let end = start + Duration::from_secs(a.seconds);
    let mut bytes = 0u64;
    let step = Duration::from_millis(1);
    let fail = |e: String| format!("{} seed {seed}: {e}", pair.label());
    while net.now() < end {
        let now = net.now();
        // Keep the send queue full: the sender is never application-limited.
        net.host_mut(c).fill(now, &chunk).map_err(fail)?;
        bytes += net.host_mut(s).drain(now, &mut buf).map_err(fail)?;
        net.run_until((now + step).min(end));
    }
    let seconds = (net.now() - start).as_secs_f64();
    let st = net.stats();
    Ok(RunResult {
        pair: pair.label(),
        seed,
        bytes,
        seconds,
        goodput_mbit: bytes as f64 * 8.0 / seconds / 1e6,
        packets_lost: st.lost,
        queue_drops: st.dropped_queue,
        sender_wire: net.host(c).wire(),
        sender: net.host(c).loss_stats(),
    })
}

/// The middle value (the mean of the two middle ones for an even count).
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One pair's runs, summarised.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// `sender→receiver`.
    pub pair: String,
    /// Median goodput over the runs.
    pub median_mbit: f64,
    /// Lowest and highest.
    pub min_mbit: f64,
    /// Highest.
    pub max_mbit: f64,
    /// Median packets lost on the data direction.
    pub median_lost: f64,
    /// Median packets the bottleneck queue dropped.
    pub median_queue_drops: f64,
    /// Median retransmissions seen on the wire.
    pub median_retransmits: f64,
    /// Retransmission timeouts over all runs (synfin senders only).
    pub timeouts: Option<u64>,
    /// Runs.
    pub runs: usize,
}

fn summarise(pair: &str, rs: &[RunResult]) -> Summary {
    let g: Vec<f64> = rs.iter().map(|r| r.goodput_mbit).collect();
    let f = |h: fn(&RunResult) -> u64| median(&rs.iter().map(|r| h(r) as f64).collect::<Vec<_>>());
    Summary {
        pair: pair.to_string(),
        median_mbit: median(&g),
        min_mbit: g.iter().copied().fold(f64::INFINITY, f64::min),
        max_mbit: g.iter().copied().fold(0.0, f64::max),
        median_lost: f(|r| r.packets_lost),
        median_queue_drops: f(|r| r.queue_drops),
        median_retransmits: f(|r| r.sender_wire.retransmits),
        timeouts: rs
            .iter()
            .map(|r| r.sender.map(|s| s.timeouts))
            .sum::<Option<u64>>(),
        runs: rs.len(),
    }
}

pub fn run(a: &GoodputArgs) -> ExitCode {
    let path = format!(
        "{} Mbit/s, {} ms RTT, {} % loss ({} % ACK loss), queue {} BDP, {} s per run; synfin: {:?}{}{}; smoltcp buffers {} B",
        a.mbit,
        a.rtt_ms,
        a.loss * 100.0,
        a.ack_loss * 100.0,
        a.queue_bdp,
        a.seconds,
        a.congestion,
        if a.no_sack { ", no SACK" } else { ", SACK" },
        if a.pacing { ", paced" } else { "" },
        a.smoltcp_buffer,
    );
    if !a.json {
        println!("synfin goodput, simulated path: {path}");
        println!(
            "{:<30} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7} {:>5}  runs (Mbit/s)",
            "sender→receiver", "median", "min", "max", "lost", "q-drops", "rexmit", "RTOs"
        );
    }
    for pair in a.pairs() {
        let mut results = Vec::new();
        for seed in 1..=a.runs {
            match run_once(a, pair, seed) {
                Ok(r) => {
                    if a.json {
                        println!("{}", serde_json::to_string(&r).unwrap_or_default());
                    }
                    results.push(r)
                }
                Err(e) => {
                    eprintln!("goodput: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        let s = summarise(&pair.label(), &results);
        if a.json {
            let mut v = serde_json::to_value(&s).unwrap_or_default();
            v["path"] = serde_json::Value::String(path.clone());
            println!("{v}");
            continue;
        }
        let runs: Vec<String> = results
            .iter()
            .map(|r| format!("{:.2}", r.goodput_mbit))
            .collect();
        println!(
            "{:<30} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>7} {:>7} {:>5}  {}",
            s.pair,
            s.median_mbit,
            s.min_mbit,
            s.max_mbit,
            s.median_lost,
            s.median_queue_drops,
            s.median_retransmits,
            s.timeouts.map_or("—".to_string(), |t| t.to_string()),
            runs.join(" ")
        );
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> GoodputArgs {
        GoodputArgs {
            mbit: 10.0,
            rtt_ms: 20,
            loss: 0.0,
            ack_loss: 0.0,
            queue_bdp: 1.0,
            seconds: 3,
            runs: 1,
            congestion: Cc::Cubic,
            no_sack: false,
            pacing: false,
            pairs: Vec::new(),
            smoltcp_buffer: 256 * 1024,
            json: false,
        }
    }

    const SYNFIN: Pair = Pair {
        sender: Kind::Synfin,
        receiver: Kind::Synfin,
    };

    /// A short lossless run fills most of a small pipe; with loss the
    /// counters show recovery at work, and the wire count of
    /// retransmissions agrees with the sender's own. (Seconds of virtual
    /// time: fast.)
    #[test]
    fn short_runs() {
        let mut a = args();
        let r = run_once(&a, SYNFIN, 1).unwrap();
        assert!(r.goodput_mbit > 8.0, "{r:?}");
        assert!(r.goodput_mbit <= 10.0, "{r:?}");
        a.loss = 0.01;
        let r = run_once(&a, SYNFIN, 2).unwrap();
        let s = r.sender.unwrap();
        assert!(s.retransmits > 0 && r.packets_lost > 0, "{r:?}");
        assert!(s.fast_retransmits > 0, "{r:?}");
        assert_eq!(r.sender_wire.retransmits, s.retransmits, "{r:?}");
    }

    #[test]
    fn pairs_and_median() {
        assert_eq!(parse_pair("synfin:synfin").unwrap(), SYNFIN);
        assert!(parse_pair("synfin").is_err());
        assert!(parse_pair("synfin:lwip").is_err());
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(default_pairs()[0], SYNFIN);
    }

    /// smoltcp crosses the same network, both ends and mixed with synfin:
    /// with a window below the bottleneck queue every pair fills most of
    /// what the window allows (20 000 B per 20 ms = 8 Mbit/s), and with
    /// loss the wire shows retransmissions.
    #[cfg(feature = "bench-smoltcp")]
    #[test]
    fn smoltcp_pairs() {
        let mut a = args();
        a.smoltcp_buffer = 20_000;
        for pair in default_pairs().into_iter().skip(1) {
            let r = run_once(&a, pair, 1).unwrap();
            assert!(r.goodput_mbit > 4.0, "{r:?}");
        }
        a.loss = 0.02;
        let pair = Pair {
            sender: Kind::SmoltcpCubic,
            receiver: Kind::Synfin,
        };
        let r = run_once(&a, pair, 3).unwrap();
        assert!(r.sender_wire.retransmits > 0 && r.packets_lost > 0, "{r:?}");
    }
}
