//! `synfin bench`: the same workloads, in one process and one run, on
//! synfin, on smoltcp (behind the `bench-smoltcp` cargo feature) and on the
//! kernel through `std::net` on loopback. Each figure is repeated, the stacks
//! taking turns round by round (`turns`), and the median reported; see
//! `docs/PERFORMANCE.md` for what is measured and how.
//!
//! This is a benchmark, not a test: nothing here asserts a speed.

mod clock;
mod driver;
mod kernel;
mod report;
mod rss;
#[cfg(feature = "bench-smoltcp")]
mod smol;
mod synfin;
mod turns;

use std::process::ExitCode;

use clap::Args;
use turns::{interleaved, Turn};

pub use report::Metric;

/// Largest `--lifecycle-bytes`: what every stack's default send and receive
/// buffer holds at once, so the request is queued by one call.
pub const MAX_LIFECYCLE_BYTES: u32 = 16 * 1024;

/// Largest `--lifecycle-batch`: the kernel run connects a whole batch before
/// it accepts any, so the batch must fit the listen backlog `std::net`
/// asks for (128).
pub const MAX_LIFECYCLE_BATCH: u32 = 128;

/// The pause after each of the kernel's turns (`turns::Turn::settle_after`).
/// Without it the turn after the kernel's (synfin's, next round) ran 3.3 %
/// slower in the median of six alternating pairs of lifecycle runs (and
/// smoltcp's, one turn further on, 1.1 %); with it synfin's figure is what
/// it is with no kernel turn at all (stop 30, docs/PERFORMANCE.md). What
/// the kernel's run leaves behind (20 000 sockets in TIME-WAIT, its code
/// and data in the caches) is not CPU time: none shows in `/proc/stat`
/// after a kernel run of its own.
const KERNEL_SETTLE: std::time::Duration = std::time::Duration::from_millis(200);

/// Options of `synfin bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Bytes moved over one connection in each bulk run (suffixes K, M, G
    /// are powers of 1024).
    #[arg(long, default_value = "1G", value_parser = parse_size)]
    pub bytes: u64,
    /// Connection lifecycles (connect, one byte each way, close) per run.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub lifecycles: u64,
    /// Bytes each way in a lifecycle (the request, then the response); 1 by
    /// default (the headline workload). Larger values show how the figures
    /// depend on the payload (the metric is then named `lifecycles_<N>b`).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=MAX_LIFECYCLE_BYTES as i64))]
    pub lifecycle_bytes: u32,
    /// Lifecycles run this many at a time, in lockstep (all connect, then
    /// all send the request, …, then all close), on every stack; 1 by
    /// default (one connection at a time). With more, each step's code runs
    /// for several connections back to back, which shows what fetching the
    /// code of a one-at-a-time lifecycle costs (the metric is then named
    /// `lifecycles_x<K>`).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=MAX_LIFECYCLE_BATCH as i64))]
    pub lifecycle_batch: u32,
    /// How many times each figure is measured; the median is reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=101))]
    pub repeat: u32,
    /// Idle connection counts whose resident memory is measured, each in a
    /// fresh child process (comma-separated; `--only` without `rss` skips
    /// them).
    #[arg(long, default_value = "100000,1000000", value_delimiter = ',')]
    pub rss_conns: Vec<u64>,
    /// Connections held open for the bytes-per-connection figures.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub idle_conns: u64,
    /// Workloads to run (bulk, lifecycles, memory, rss); all by default.
    #[arg(long, value_delimiter = ',', value_parser = ["bulk", "lifecycles", "memory", "rss"])]
    pub only: Vec<String>,
    /// Stacks to run (synfin, smoltcp, kernel); all by default.
    #[arg(long, value_delimiter = ',', value_parser = ["synfin", "smoltcp", "kernel"])]
    pub stack: Vec<String>,
    /// IP MTUs of the bulk runs.
    #[arg(long, default_values_t = [1500, 65535], value_delimiter = ',',
          value_parser = clap::value_parser!(u32).range(576..=65535))]
    pub mtu: Vec<u32>,
    /// Send and receive buffer of each bulk connection (both stacks).
    #[arg(long, default_value = "1M", value_parser = parse_size)]
    pub bulk_buffer: u64,
    /// Time stands still while the stacks work and jumps only to the next
    /// timer when both are idle, so runs are exactly repeatable (for
    /// callgrind). By default the stacks see the real monotonic clock.
    #[arg(long)]
    pub virtual_clock: bool,
    /// Print one JSON object per metric (an array) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Internal: measure resident memory with this many idle connections of
    /// the given stack and print it as JSON (run in a child process).
    #[arg(long, hide = true, value_name = "N")]
    pub rss_child: Option<u64>,
}

/// Sizes like `1G`, `64M`, `1500`.
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mul) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let mul = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                _ => return Err(format!("unknown size suffix `{c}` (use K, M or G)")),
            };
            (&s[..i], mul)
        }
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 1G, 64M, 1500)"))?;
    match n.checked_mul(mul) {
        Some(0) => Err("size must be positive".into()),
        Some(v) => Ok(v),
        None => Err(format!("`{s}` is too large")),
    }
}

impl BenchArgs {
    fn wants(&self, workload: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|w| w == workload)
    }
    fn runs(&self, stack: &str) -> bool {
        self.stack.is_empty() || self.stack.iter().any(|s| s == stack)
    }
    /// (lifecycles, bytes each way, batch).
    fn lifecycle_shape(&self) -> (u64, usize, usize) {
        (
            self.lifecycles,
            self.lifecycle_bytes as usize,
            self.lifecycle_batch as usize,
        )
    }
}

/// The lifecycle metric's name: `lifecycles`, with `_<N>b` for another
/// payload and `_x<K>` for a batch.
fn lifecycle_metric(len: usize, batch: usize) -> String {
    let mut name = "lifecycles".to_string();
    if len != 1 {
        name += &format!("_{len}b");
    }
    if batch != 1 {
        name += &format!("_x{batch}");
    }
    name
}

/// The median of some samples (the mean of the middle two for an even count).
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Keeps a figure, or reports why it is missing (and leaves it null).
fn keep(r: Result<f64, String>, errors: &mut Vec<String>) -> Option<f64> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            eprintln!("bench: error: {e}");
            errors.push(e);
            None
        }
    }
}

#[cfg(feature = "bench-smoltcp")]
fn smol_bulk(args: &BenchArgs, mtu: usize, buf: usize, clock: clock::Mode) -> Option<Turn<'_>> {
    let gbit = |secs: f64| args.bytes as f64 * 8.0 / secs / 1e9;
    Some(Turn::new(
        format!("smoltcp bulk mtu {mtu} Gbit/s"),
        move || smol::bulk(mtu, args.bytes, buf, clock).map(|r| gbit(r.secs)),
    ))
}

#[cfg(not(feature = "bench-smoltcp"))]
fn smol_bulk(_: &BenchArgs, _: usize, _: usize, _: clock::Mode) -> Option<Turn<'static>> {
    None
}

#[cfg(feature = "bench-smoltcp")]
fn smol_lifecycles(args: &BenchArgs, clock: clock::Mode) -> Option<Turn<'_>> {
    let (n, len, k) = args.lifecycle_shape();
    Some(Turn::new("smoltcp lifecycles/s", move || {
        match k {
            1 => smol::lifecycles(n, len, clock),
            _ => smol::lifecycles_batched(n, len, k, clock),
        }
        .map(|r| n as f64 / r.secs)
    }))
}

#[cfg(not(feature = "bench-smoltcp"))]
fn smol_lifecycles(_: &BenchArgs, _: clock::Mode) -> Option<Turn<'static>> {
    None
}

/// Entry point of `synfin bench`.
pub fn run(args: &BenchArgs) -> ExitCode {
    if let Some(n) = args.rss_child {
        return rss::child(n);
    }
    let mut metrics = Vec::new();
    let mut errors = Vec::new();
    let smol = args.runs("smoltcp") && cfg!(feature = "bench-smoltcp");
    if args.runs("smoltcp") && !smol && args.stack.iter().any(|s| s == "smoltcp") {
        eprintln!("bench: smoltcp was asked for but this build lacks it; rebuild with `--features bench-smoltcp`");
    }
    let clock = if args.virtual_clock {
        clock::Mode::Virtual
    } else {
        clock::Mode::Real
    };

    if args.wants("bulk") {
        for &mtu in &args.mtu {
            let mtu = mtu as usize;
            let buf = args.bulk_buffer as usize;
            let gbit = |secs: f64| args.bytes as f64 * 8.0 / secs / 1e9;
            let s = args.runs("synfin").then(|| {
                Turn::new(format!("synfin bulk mtu {mtu} Gbit/s"), move || {
                    synfin::bulk(mtu, args.bytes, buf, clock).map(|r| gbit(r.secs))
                })
            });
            let m = smol.then(|| smol_bulk(args, mtu, buf, clock)).flatten();
            // Loopback's MTU is 64 KiB and is shared with every other user
            // of this machine, so the kernel runs only in the large-MTU row.
            let k = (args.runs("kernel") && mtu >= 65535).then(|| {
                Turn::new("kernel bulk loopback Gbit/s", move || {
                    kernel::bulk(args.bytes, buf).map(gbit)
                })
                .settle_after(KERNEL_SETTLE)
            });
            let [s, m, k] = interleaved(args.repeat, [s, m, k]);
            metrics.push(Metric::new(
                format!("bulk_mtu{mtu}"),
                "Gbit/s",
                s.and_then(|r| keep(r, &mut errors)),
                m.and_then(|r| keep(r, &mut errors)),
                k.and_then(|r| keep(r, &mut errors)),
                true,
            ));
        }
    }

    if args.wants("lifecycles") {
        let (n, len, batch) = args.lifecycle_shape();
        let rate = |secs: f64| n as f64 / secs;
        let s = args.runs("synfin").then(|| {
            Turn::new("synfin lifecycles/s", move || {
                match batch {
                    1 => synfin::lifecycles(n, len, clock),
                    _ => synfin::lifecycles_batched(n, len, batch, clock),
                }
                .map(|r| rate(r.secs))
            })
        });
        let m = smol.then(|| smol_lifecycles(args, clock)).flatten();
        let k = args.runs("kernel").then(|| {
            Turn::new("kernel lifecycles/s", move || {
                kernel::lifecycles(n, len, batch).map(rate)
            })
            .settle_after(KERNEL_SETTLE)
        });
        let [s, m, k] = interleaved(args.repeat, [s, m, k]);
        let name = lifecycle_metric(len, batch);
        metrics.push(Metric::new(
            name,
            "1/s",
            s.and_then(|r| keep(r, &mut errors)),
            m.and_then(|r| keep(r, &mut errors)),
            k.and_then(|r| keep(r, &mut errors)),
            true,
        ));
    }

    if args.wants("memory") {
        let s = args
            .runs("synfin")
            .then(|| synfin::memory(args.idle_conns, args.lifecycles.min(100_000)));
        let s = s.and_then(|r| match r {
            Ok(m) => Some(m),
            Err(e) => {
                keep(Err(format!("synfin memory: {e}")), &mut errors);
                None
            }
        });
        #[cfg(feature = "bench-smoltcp")]
        let m = smol.then(smol::memory);
        #[cfg(not(feature = "bench-smoltcp"))]
        let m: Option<report::Memory> = None;
        for (name, pick) in [
            (
                "idle_conn_bytes_without_buffers",
                (|m: &report::Memory| m.idle_without_buffers) as fn(&report::Memory) -> f64,
            ),
            ("idle_conn_bytes_default_buffers", |m| m.idle_with_buffers),
            ("time_wait_record_bytes", |m| m.time_wait_record),
        ] {
            metrics.push(Metric::new(
                name.into(),
                "B",
                s.as_ref().map(pick),
                m.as_ref().map(pick),
                None,
                false,
            ));
        }
    }

    if args.wants("rss") && args.runs("synfin") {
        for &n in &args.rss_conns {
            let turn = Turn::new(format!("synfin RSS MiB, {n} idle"), || {
                rss::measure(n).map(|b| b as f64 / (1 << 20) as f64)
            });
            let [r] = interleaved(args.repeat.min(3), [Some(turn)]);
            metrics.push(Metric::new(
                format!("rss_{}_idle_conns", report::count_label(n)),
                "MiB",
                r.and_then(|r| keep(r, &mut errors)),
                None,
                None,
                false,
            ));
        }
    }

    if args.json {
        match serde_json::to_string_pretty(&metrics) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("bench: cannot encode JSON: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", report::table(&metrics));
    }
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("1500"), Ok(1500));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1X").unwrap_err().contains("suffix"));
        assert!(parse_size("abc").is_err());
        assert!(parse_size("99999999999G").is_err());
    }

    #[test]
    fn lifecycle_metric_names() {
        assert_eq!(lifecycle_metric(1, 1), "lifecycles");
        assert_eq!(lifecycle_metric(100, 1), "lifecycles_100b");
        assert_eq!(lifecycle_metric(1, 16), "lifecycles_x16");
        assert_eq!(lifecycle_metric(100, 4), "lifecycles_100b_x4");
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
