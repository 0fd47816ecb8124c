//! `synfin soak`: many random scenarios in the simulator, each checked
//! against the invariants of docs/RELIABILITY.md — no byte lost, duplicated
//! or altered; each side observes the close it should; both socket tables
//! empty at the end; memory within bounds. A failing seed is printed with
//! the command that replays it exactly. `--flood` runs the SYN-flood
//! scenario instead.

mod flood;
mod scenario;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use clap::Args;
use serde::Serialize;

use scenario::{Outcome, Scenario};

/// Options of `synfin soak`.
#[derive(Args, Debug, Clone)]
pub struct SoakArgs {
    /// How many seeds to run.
    #[arg(long, default_value_t = 200)]
    pub seeds: u64,
    /// The first seed; seeds run from here upwards.
    #[arg(long, default_value_t = 1)]
    pub first_seed: u64,
    /// Run exactly this seed and print its scenario (to replay a failure).
    #[arg(long, conflicts_with_all = ["seeds", "first_seed"])]
    pub seed: Option<u64>,
    /// With --seed: write the run's packets to this pcap file.
    #[arg(long, value_name = "FILE", requires = "seed")]
    pub pcap: Option<std::path::PathBuf>,
    /// Print a machine-readable JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: the available cores). Results do not
    /// depend on it: each seed runs alone in its own simulator.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run the SYN-flood scenario: spoofed SYNs against a listener while
    /// 100 legitimate clients connect.
    #[arg(long)]
    pub flood: bool,
    /// Flood: spoofed SYNs per second.
    #[arg(long, default_value_t = 100_000, requires = "flood")]
    pub flood_rate: u64,
    /// Flood: how long the flood lasts, in (virtual) seconds.
    #[arg(long, default_value_t = 10, requires = "flood")]
    pub flood_seconds: u64,
}

/// A failed seed in the summary.
#[derive(Debug, Serialize)]
struct Failure {
    seed: u64,
    failure: String,
    scenario: Scenario,
    replay: String,
}

/// What `--json` prints.
#[derive(Debug, Serialize)]
struct Summary {
    ok: bool,
    seeds: u64,
    first_seed: u64,
    passed: u64,
    failures: Vec<Failure>,
    by_close_mode: BTreeMap<String, u64>,
    by_data_mode: BTreeMap<String, u64>,
    with_partition: u64,
    linger_succeeded: u64,
    linger_failed: u64,
    virtual_seconds: f64,
    packets: u64,
    peak_memory: usize,
}

pub fn run(args: &SoakArgs) -> ExitCode {
    if args.flood {
        return flood::run(args);
    }
    let (first, count) = match args.seed {
        Some(s) => {
            eprintln!("{:#?}", Scenario::from_seed(s));
            (s, 1)
        }
        None => (args.first_seed, args.seeds),
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 64);
    let results: Mutex<Vec<(Scenario, Outcome)>> = Mutex::new(Vec::new());
    let next = AtomicU64::new(0);
    let done = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let step = (count / 20).max(1) as usize;
    std::thread::scope(|s| {
        for _ in 0..jobs.min(count as usize).max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return;
                }
                let sc = Scenario::from_seed(first.wrapping_add(i));
                let out = scenario::run(&sc, args.pcap.as_deref());
                if !out.ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                    eprintln!(
                        "soak: seed {} FAILED ({:?}, {:?}, {:?} closes): {}",
                        sc.seed,
                        sc.mode,
                        sc.close,
                        sc.who,
                        out.failure.as_deref().unwrap_or("")
                    );
                }
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n % step == 0 || n as u64 == count {
                    eprintln!(
                        "soak: {n}/{count} seeds, {} failed",
                        failed.load(Ordering::Relaxed)
                    );
                }
                if let Ok(mut r) = results.lock() {
                    r.push((sc, out));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(sc, _)| sc.seed);
    let summary = summarize(first, count, results);
    if args.json {
        match serde_json::to_string_pretty(&summary) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("soak: cannot encode the summary: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print_text(&summary);
    }
    let _ = std::io::stdout().flush();
    if summary.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn summarize(first: u64, count: u64, results: Vec<(Scenario, Outcome)>) -> Summary {
    let mut s = Summary {
        ok: true,
        seeds: count,
        first_seed: first,
        passed: 0,
        failures: Vec::new(),
        by_close_mode: BTreeMap::new(),
        by_data_mode: BTreeMap::new(),
        with_partition: 0,
        linger_succeeded: 0,
        linger_failed: 0,
        virtual_seconds: 0.0,
        packets: 0,
        peak_memory: 0,
    };
    for (sc, out) in results {
        *s.by_close_mode
            .entry(format!("{:?}", sc.close))
            .or_default() += 1;
        *s.by_data_mode.entry(format!("{:?}", sc.mode)).or_default() += 1;
        s.with_partition += u64::from(sc.faults.partition_ms.is_some());
        match out.linger_ok {
            Some(true) => s.linger_succeeded += 1,
            Some(false) => s.linger_failed += 1,
            None => {}
        }
        s.virtual_seconds += out.virtual_seconds;
        s.packets += out.packets;
        s.peak_memory = s.peak_memory.max(out.peak_memory);
        if out.ok {
            s.passed += 1;
        } else {
            s.ok = false;
            s.failures.push(Failure {
                seed: sc.seed,
                failure: out.failure.unwrap_or_default(),
                replay: format!("synfin soak --seed {}", sc.seed),
                scenario: sc,
            });
        }
    }
    s
}

fn print_text(s: &Summary) {
    println!(
        "soak: {} seeds from {}: {} passed, {} failed",
        s.seeds,
        s.first_seed,
        s.passed,
        s.failures.len()
    );
    let modes: Vec<String> = s
        .by_close_mode
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("  close modes: {}", modes.join(", "));
    let data: Vec<String> = s
        .by_data_mode
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("  data modes: {}", data.join(", "));
    println!(
        "  with a partition: {}; lingering closes confirmed {} / reset at expiry {}",
        s.with_partition, s.linger_succeeded, s.linger_failed
    );
    println!(
        "  {:.0} s of virtual time, {} packets, peak memory of one stack {} B",
        s.virtual_seconds, s.packets, s.peak_memory
    );
    for f in &s.failures {
        println!("FAILED seed {}: {}", f.seed, f.failure);
        println!("  replay: {}", f.replay);
    }
}
