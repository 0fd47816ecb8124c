use super::end::message_sizes;
use super::*;

#[test]
fn a_few_seeds_pass_and_replay_exactly() {
    for seed in 1..=12 {
        let sc = Scenario::from_seed(seed);
        let a = run(&sc, None);
        assert!(a.ok, "seed {seed}: {:?}", a.failure);
        let b = run(&Scenario::from_seed(seed), None);
        assert_eq!(
            (a.packets, a.virtual_seconds, a.peak_memory),
            (b.packets, b.virtual_seconds, b.peak_memory),
            "seed {seed} replays exactly"
        );
    }
}

#[test]
fn seeds_cover_every_close_mode_and_both_closers() {
    let scs: Vec<_> = (0..200).map(Scenario::from_seed).collect();
    for mode in CloseMode::ALL {
        for who in [Who::Client, Who::Server] {
            assert!(
                scs.iter().any(|s| s.close == mode && s.who == who),
                "{mode:?} {who:?}"
            );
        }
    }
    assert!(scs.iter().any(|s| s.faults.partition_ms.is_some()));
    for mode in CloseMode::ALL {
        assert!(
            scs.iter()
                .any(|s| s.close == mode && s.mode == DataMode::Messages),
            "{mode:?} in message mode"
        );
    }
}

#[test]
fn message_sizes_cover_the_input_and_the_edge_sizes() {
    let mut seen_empty = false;
    let mut seen_max = false;
    for salt in 0..200 {
        let v = message_sizes(100_000, 65_536, salt);
        assert_eq!(v.iter().sum::<usize>(), 100_000);
        assert!(v.iter().all(|&n| n <= 65_536));
        seen_empty |= v.contains(&0);
        seen_max |= v.contains(&65_536);
    }
    assert!(seen_empty && seen_max);
    assert!(message_sizes(0, 10, 1).iter().all(|&n| n == 0));
}

#[test]
fn message_mode_seeds_pass() {
    let seeds: Vec<u64> = (1..400)
        .filter(|&s| Scenario::from_seed(s).mode == DataMode::Messages)
        .take(12)
        .collect();
    for seed in seeds {
        let sc = Scenario::from_seed(seed);
        let out = run(&sc, None);
        assert!(out.ok, "seed {seed} ({:?}): {:?}", sc.close, out.failure);
    }
}
