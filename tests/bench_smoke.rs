//! `synfin bench` runs with a tiny workload and prints well-formed JSON.
//! A benchmark is not a test: nothing here looks at a speed.

use std::process::Command;

/// Runs `synfin bench ARGS`, which must succeed and print a JSON array:
/// (its metrics, stderr).
fn bench_json(args: &[&str]) -> (Vec<serde_json::Value>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_synfin"))
        .arg("bench")
        .args(args)
        .output()
        .expect("run synfin bench");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "bench failed: {stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let metrics = v.as_array().expect("an array of metrics").clone();
    (metrics, stderr)
}

#[test]
fn bench_runs_and_prints_one_object_per_metric() {
    let (metrics, stderr) = bench_json(&[
        "--bytes",
        "256K",
        "--lifecycles",
        "20",
        "--repeat",
        "1",
        "--idle-conns",
        "50",
        "--rss-conns",
        "100",
        "--stack",
        "synfin,kernel",
        "--virtual-clock",
        "--json",
    ]);
    let names: Vec<&str> = metrics
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    for want in [
        "bulk_mtu1500",
        "bulk_mtu65535",
        "lifecycles",
        "idle_conn_bytes_without_buffers",
        "idle_conn_bytes_default_buffers",
        "time_wait_record_bytes",
        "rss_100_idle_conns",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for m in &metrics {
        assert!(m["unit"].is_string(), "{m}");
        let s = m["synfin"]
            .as_f64()
            .unwrap_or_else(|| panic!("synfin figure: {m}"));
        assert!(s.is_finite() && s > 0.0, "{m}");
        // smoltcp is not built in (feature `bench-smoltcp` is off).
        assert!(m["smoltcp"].is_null(), "{m}");
        assert!(
            m["kernel"].is_null() || m["kernel"].as_f64().is_some(),
            "{m}"
        );
    }
    let lc = metrics.iter().find(|m| m["name"] == "lifecycles").unwrap();
    assert!(
        lc["kernel"].as_f64().is_some(),
        "kernel lifecycles measured: {lc}"
    );
    assert!(
        stderr.contains("bench-detail: stack=synfin workload=bulk mtu=1500"),
        "{stderr}"
    );
}

/// The client segments synfin sent in a lifecycle run of `args` (its
/// `bench-detail:` line), and the metrics.
fn synfin_lifecycle_segments(args: &[&str]) -> (u64, Vec<serde_json::Value>) {
    let (metrics, stderr) = bench_json(args);
    let detail = stderr
        .lines()
        .find(|l| l.starts_with("bench-detail: stack=synfin workload=lifecycles n=10"))
        .unwrap_or_else(|| panic!("no synfin detail line: {stderr}"));
    let segments = detail
        .split_whitespace()
        .find_map(|w| w.strip_prefix("segments="))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no segment count: {detail}"));
    (segments, metrics)
}

/// `--lifecycle-batch`: the lockstep loop on synfin and the kernel, with a
/// count that leaves a partial last batch (10 = 4 + 4 + 2), names its metric
/// `lifecycles_100b_x4`, measures both, and takes every connection through
/// the same segments as ten lifecycles one at a time (on the virtual clock
/// both runs are exact): none lost to the batching, none added.
#[test]
fn lifecycles_in_batches_finish_every_connection() {
    let args = |batch| {
        [
            "--only",
            "lifecycles",
            "--lifecycles",
            "10",
            "--lifecycle-batch",
            batch,
            "--lifecycle-bytes",
            "100",
            "--repeat",
            "1",
            "--stack",
            "synfin,kernel",
            "--virtual-clock",
            "--json",
        ]
    };
    let (batched, metrics) = synfin_lifecycle_segments(&args("4"));
    assert_eq!(metrics.len(), 1, "{metrics:?}");
    let m = &metrics[0];
    assert_eq!(m["name"], "lifecycles_100b_x4", "{m}");
    assert!(m["synfin"].as_f64().is_some_and(|s| s > 0.0), "{m}");
    assert!(m["kernel"].as_f64().is_some_and(|k| k > 0.0), "{m}");
    let (one_at_a_time, _) = synfin_lifecycle_segments(&args("1"));
    // SYN, ACK, the request, FIN and the last ACK from each client.
    assert_eq!(one_at_a_time, 50);
    assert_eq!(batched, one_at_a_time);
}

/// A batch larger than the kernel's listen backlog is refused with a clear
/// error rather than hanging in `connect`.
#[test]
fn lifecycle_batch_beyond_the_backlog_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_synfin"))
        .args(["bench", "--only", "lifecycles", "--lifecycle-batch", "129"])
        .output()
        .expect("run synfin bench");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("lifecycle-batch"), "{stderr}");
}
