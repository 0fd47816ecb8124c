//! `synfin conformance`: runs packetdrill scripts against the stack in
//! virtual time and prints a table per directory (or JSON lines).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use synfin::conformance::{by_directory, collect, directory_of, run_file, Mode, Verdict};

/// Comparison mode, as the command line spells it.
#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum ModeArg {
    /// Window values and option order and padding are checked too.
    Strict,
    /// Flags, numbers, payload length and the set of options.
    Semantic,
}

/// Options of `synfin conformance`.
#[derive(Args, Debug, Clone)]
pub struct ConformanceArgs {
    /// How outbound segments are compared.
    #[arg(long, value_enum, default_value = "semantic")]
    pub mode: ModeArg,
    /// One JSON object per script (path, result, reason) instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Script files or directories (searched for `*.pkt`).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

pub fn run(args: &ConformanceArgs) -> ExitCode {
    let mode = match args.mode {
        ModeArg::Strict => Mode::Strict,
        ModeArg::Semantic => Mode::Semantic,
    };
    let files = match collect(&args.paths) {
        Ok(f) if f.is_empty() => {
            eprintln!("synfin conformance: no .pkt scripts found");
            return ExitCode::from(2);
        }
        Ok(f) => f,
        Err(e) => {
            eprintln!("synfin conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let mut results = Vec::with_capacity(files.len());
    for f in &files {
        match run_file(f, mode) {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("synfin conformance: {}: {e}", f.display());
                return ExitCode::from(2);
            }
        }
    }
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        results.iter().try_for_each(|r| {
            let line = serde_json::json!({
                "path": r.path,
                "result": r.result.verdict,
                "reason": r.result.reason,
            });
            writeln!(out, "{line}")
        })
    } else {
        table(&mut out, &results, mode)
    };
    if written.is_err() {
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}

fn table(
    out: &mut impl Write,
    results: &[synfin::conformance::FileResult],
    mode: Mode,
) -> std::io::Result<()> {
    let dirs = by_directory(results, None);
    let width = dirs.keys().map(|d| d.len()).max().unwrap_or(9).max(9);
    writeln!(out, "mode: {}", mode.name())?;
    writeln!(
        out,
        "{:width$}  {:>6}  {:>6}  {:>11}",
        "directory", "passed", "failed", "unsupported"
    )?;
    let mut total = synfin::conformance::Counts::default();
    for (d, c) in &dirs {
        writeln!(
            out,
            "{d:width$}  {:>6}  {:>6}  {:>11}",
            c.passed, c.failed, c.unsupported
        )?;
        total.passed += c.passed;
        total.failed += c.failed;
        total.unsupported += c.unsupported;
    }
    let pct = if total.applicable() == 0 {
        0.0
    } else {
        100.0 * total.passed as f64 / total.applicable() as f64
    };
    writeln!(
        out,
        "{:width$}  {:>6}  {:>6}  {:>11}   ({pct:.1} % of applicable scripts pass)",
        "total", total.passed, total.failed, total.unsupported
    )?;
    let mut current = String::new();
    for r in results.iter().filter(|r| r.result.verdict != Verdict::Pass) {
        let d = directory_of(&r.path, None);
        if d != current {
            writeln!(out, "\n{d}:")?;
            current = d;
        }
        let name = std::path::Path::new(&r.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tag = match r.result.verdict {
            Verdict::Fail => "FAIL",
            _ => "unsupported",
        };
        writeln!(out, "  {tag} {name}: {}", r.result.reason)?;
    }
    Ok(())
}
