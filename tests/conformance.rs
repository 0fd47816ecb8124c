//! The FreeBSD TCP test suite from `../shared/conformance` run in virtual
//! time, in both comparison modes, against the checked-in baseline of pass
//! counts per directory (`tests/conformance-baseline.json`). A count below
//! its baseline fails; a count above it is printed so the baseline can be
//! raised (`UPDATE_CONFORMANCE_BASELINE=1 cargo test --test conformance`
//! rewrites it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use synfin::conformance::{by_directory, collect, run_file, Counts, Mode};

type Baseline = BTreeMap<String, BTreeMap<String, usize>>;

/// `../shared/conformance/freebsd-tcp-testsuite` beside the repository, or
/// the directory `SYNFIN_CONFORMANCE_DIR` names (for worktrees that live
/// elsewhere).
fn corpus() -> Option<PathBuf> {
    let p = match std::env::var_os("SYNFIN_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/conformance/freebsd-tcp-testsuite"),
    };
    p.is_dir().then_some(p)
}

fn baseline_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance-baseline.json")
}

fn run_mode(root: &Path, mode: Mode) -> BTreeMap<String, Counts> {
    let files = collect(&[root.to_path_buf()]).expect("corpus readable");
    assert!(
        files.len() >= 700,
        "expected the 714-script corpus, found {}",
        files.len()
    );
    let results: Vec<_> = files
        .iter()
        .map(|f| run_file(f, mode).expect("script readable"))
        .collect();
    by_directory(&results, Some(root))
}

#[test]
fn freebsd_suite_does_not_regress() {
    let Some(root) = corpus() else {
        let msg = "../shared/conformance/freebsd-tcp-testsuite is missing \
                   (set SYNFIN_CONFORMANCE_DIR to run it from elsewhere)";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}: the conformance corpus must be present in CI");
        }
        eprintln!("SKIPPED: {msg}; conformance not checked");
        return;
    };
    let mut now: Baseline = BTreeMap::new();
    for mode in Mode::ALL {
        let counts = run_mode(&root, mode);
        now.insert(
            mode.name().to_string(),
            counts.into_iter().map(|(d, c)| (d, c.passed)).collect(),
        );
    }
    if std::env::var("UPDATE_CONFORMANCE_BASELINE").is_ok() {
        let text = serde_json::to_string_pretty(&now).unwrap() + "\n";
        std::fs::write(baseline_path(), text).unwrap();
        eprintln!("baseline rewritten");
        return;
    }
    let text = std::fs::read_to_string(baseline_path()).expect("baseline file");
    let base: Baseline = serde_json::from_str(&text).expect("baseline is JSON");
    let mut drops = Vec::new();
    for (mode, dirs) in &base {
        for (dir, &want) in dirs {
            let got = now.get(mode).and_then(|m| m.get(dir)).copied().unwrap_or(0);
            if got < want {
                drops.push(format!("{mode} {dir}: {got} passed, baseline {want}"));
            } else if got > want {
                eprintln!("improved: {mode} {dir}: {got} passed (baseline {want})");
            }
        }
    }
    assert!(
        drops.is_empty(),
        "conformance regressed:\n{}",
        drops.join("\n")
    );
}
