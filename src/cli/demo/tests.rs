//! The scenario across seeds, faults and client counts.

use super::*;

fn run_ok(args: &DemoArgs) -> Summary {
    let (summary, text) = scenario(args).unwrap();
    assert!(summary.ok, "{args:?}\n{text}");
    summary
}

#[test]
fn the_default_run_passes_its_checks() {
    let (summary, text) = scenario(&DemoArgs::default()).unwrap();
    assert!(summary.ok, "{text}");
    assert_eq!(summary.clients.len(), 3);
    assert_eq!(summary.retransmissions, 0, "{text}");
    for step in [
        "(1)", "(2)", "(3)", "(4)", "(5)", "(5')", "(6)", "(7)", "(8)",
    ] {
        assert!(text.contains(step), "{step} missing:\n{text}");
    }
    let sum: u64 = summary.clients.iter().map(|c| c.sent_total).sum();
    assert_eq!(summary.server_grand_total, sum);
    // c1 and c2 run the same number of transactions: their disconnects
    // are concurrent, and the later one's grand total includes both.
    let g: Vec<_> = summary
        .clients
        .iter()
        .map(|c| c.received_grand_total.unwrap())
        .collect();
    assert!(g.contains(&sum), "{g:?}");
    assert!(text.contains("msg>"), "the SYNs show the option:\n{text}");
}

#[test]
fn json_has_the_promised_fields() {
    let (summary, _) = scenario(&DemoArgs::default()).unwrap();
    let v = serde_json::to_value(&summary).unwrap();
    assert_eq!(v["ok"], true);
    assert!(v["server_grand_total"].as_u64().unwrap() > 0);
    let c = &v["clients"][0];
    assert!(c["sent_total"].as_u64().is_some());
    assert!(c["received_grand_total"].as_u64().is_some());
}

/// The property: many seeds, loss up to 20 %, reordering and
/// duplication; totals right, (5) before (5'), every socket closed.
#[test]
fn totals_survive_loss_reordering_and_duplication() {
    for seed in 1..=48 {
        let args = DemoArgs {
            seed,
            clients: 1 + (seed % 4) as u16,
            loss: [0.0, 0.05, 0.1, 0.2][(seed % 4) as usize],
            duplicate: if seed % 3 == 0 { 0.1 } else { 0.0 },
            reorder: if seed % 2 == 0 { 0.1 } else { 0.0 },
            delay_ms: 5,
            ..DemoArgs::default()
        };
        let s = run_ok(&args);
        let sum: u64 = s.clients.iter().map(|c| c.sent_total).sum();
        assert_eq!(s.server_grand_total, sum);
    }
}

#[test]
fn many_clients_disconnecting_at_once() {
    let s = run_ok(&DemoArgs {
        clients: 12,
        seed: 5,
        ..DemoArgs::default()
    });
    assert_eq!(s.clients.len(), 12);
}

#[test]
fn the_demo_is_deterministic() {
    let args = DemoArgs {
        loss: 0.1,
        seed: 7,
        ..DemoArgs::default()
    };
    let (_, a) = scenario(&args).unwrap();
    let (_, b) = scenario(&args).unwrap();
    assert_eq!(a, b);
}
