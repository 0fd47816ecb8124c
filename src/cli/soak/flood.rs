//! `synfin soak --flood`: prints what `synfin::links::flood::run` measured
//! (spoofed SYNs at a listener while 100 legitimate clients connect; the
//! scenario lives in the library so `tests/hardening_flood.rs` runs the same
//! code).

use std::process::ExitCode;
use std::time::Duration;

use synfin::links::flood;

use super::SoakArgs;

pub fn run(args: &SoakArgs) -> ExitCode {
    let s = flood::run(
        args.flood_rate,
        Duration::from_secs(args.flood_seconds.max(1)),
    );
    let ok = s.ok();
    if args.json {
        #[derive(serde::Serialize)]
        struct Json<'a> {
            ok: bool,
            #[serde(flatten)]
            report: &'a flood::FloodReport,
        }
        match serde_json::to_string_pretty(&Json { ok, report: &s }) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("soak --flood: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        println!(
            "flood: {} spoofed SYNs over {} s ({}/s); legitimate clients accepted {}/{} (requests intact {}), all served {} after the first connect",
            s.spoofed_syns,
            s.flood_seconds,
            s.rate_per_second,
            s.legitimate_accepted,
            s.legitimate,
            s.legitimate_intact,
            s.seconds_to_serve_all
                .map_or("never".to_string(), |t| format!("{t:.3} s"))
        );
        println!(
            "  server: {} SYN cookies sent, {} accepted, {} rejected; peak memory {} B (tables {} B); spoofed connections accepted {}",
            s.server.syn_cookies_sent,
            s.server.syn_cookies_accepted,
            s.server.syn_cookies_rejected,
            s.peak_memory,
            s.peak_tables,
            s.extra_accepted
        );
        println!("  {}", if ok { "ok" } else { "FAILED" });
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
