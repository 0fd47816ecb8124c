//! `synfin bench` runs with a tiny workload and prints well-formed JSON.
//! A benchmark is not a test: nothing here looks at a speed.

use std::process::Command;

#[test]
fn bench_runs_and_prints_one_object_per_metric() {
    let out = Command::new(env!("CARGO_BIN_EXE_synfin"))
        .args([
            "bench",
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
        ])
        .output()
        .expect("run synfin bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let metrics = v.as_array().expect("an array of metrics");
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
    for m in metrics {
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
