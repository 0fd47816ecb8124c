//! Optional pacing (`TcpConfig::pacing`) in the simulator: data segments
//! leave spread over the round trip instead of in ACK-clocked bursts, the
//! pacing delays are timer deadlines (a paced transfer never stalls), the
//! throughput of a bottleneck is still filled, and recovery is unchanged:
//! every segment the bottleneck queue drops is retransmitted once, with no
//! timeout.

mod common;

use std::time::Duration;

use common::*;
use synfin::links::LinkModel;
use synfin::stack::StackConfig;
use synfin::tcp::{LossStats, TcpConfig};
use synfin::time::Instant;

/// 10 Mbit/s, 20 ms RTT, a drop-tail queue of one BDP (25 kB).
fn bottleneck() -> LinkModel {
    LinkModel::default()
        .delay(Duration::from_millis(10))
        .bandwidth(10_000_000)
        .queue_limit(25_000)
}

struct Run {
    stats: LossStats,
    /// The client's data segments the network did not deliver.
    queue_drops: u64,
    /// Send times of the client's data segments, in order.
    data_at: Vec<Instant>,
    /// Virtual time from the first byte queued to the last acknowledged.
    took: Duration,
}

/// Sends `len` bytes client → server with `pacing` over the bottleneck,
/// reading as they arrive.
fn run(pacing: bool, len: usize) -> Run {
    run_on(pacing, len, bottleneck(), 7)
}

/// [`run`] on `model` (both directions) with `seed`; `queue_drops` counts
/// every data packet the network did not deliver (queue drops and random
/// losses).
fn run_on(pacing: bool, len: usize, model: LinkModel, seed: u64) -> Run {
    let tcp = TcpConfig {
        pacing,
        ..TcpConfig::default()
    };
    let cfg = StackConfig {
        tcp,
        ..StackConfig::default()
    };
    let mut p = Pair::with_config(seed, model, cfg);
    let (c, s, _) = p.establish();
    p.trace();
    let data = pattern(len, 9);
    let start = p.now();
    let stats = p.transfer(c, s, &data, Duration::from_secs(30));
    let took = p.now() - start;
    let segs: Vec<WireSeg> = p
        .segments()
        .into_iter()
        .filter(|w| w.from_client && w.len > 0)
        .collect();
    let queue_drops = segs.iter().filter(|w| !w.delivered).count() as u64;
    let data_at = segs.iter().map(|w| w.sent_at).collect();
    Run {
        stats,
        queue_drops,
        data_at,
        took,
    }
}

/// How many data segments left at the same instant as the one before.
fn back_to_back(at: &[Instant]) -> usize {
    at.windows(2).filter(|w| w[0] == w[1]).count()
}

#[test]
fn paced_segments_leave_spread_out() {
    let unpaced = run(false, 1_000_000);
    let paced = run(true, 1_000_000);
    eprintln!(
        "unpaced: {:?} drops {} back-to-back {} took {:?}",
        unpaced.stats,
        unpaced.queue_drops,
        back_to_back(&unpaced.data_at),
        unpaced.took
    );
    eprintln!(
        "paced: {:?} drops {} back-to-back {} took {:?}",
        paced.stats,
        paced.queue_drops,
        back_to_back(&paced.data_at),
        paced.took
    );
    // Without pacing an ACK of two segments releases two or three at once.
    assert!(
        back_to_back(&unpaced.data_at) > unpaced.data_at.len() / 3,
        "unpaced bursts: {}",
        back_to_back(&unpaced.data_at)
    );
    // Paced (the handshake measured the RTT, so from the first data
    // segment on), none.
    assert_eq!(back_to_back(&paced.data_at), 0);
    // The bottleneck is still filled: 1 MB at 10 Mbit/s is 0.8 s of line
    // rate; slow start and recovery cost a little more, and pacing not
    // much more than that.
    assert!(paced.took < unpaced.took.mul_f64(1.15), "{:?}", paced.took);
    assert!(paced.took < Duration::from_millis(1400), "{:?}", paced.took);
    // Recovery is unchanged: each drop repaired by one retransmission.
    for r in [&unpaced, &paced] {
        assert_eq!(r.stats.timeouts, 0, "{:?}", r.stats);
        assert_eq!(
            r.stats.retransmits, r.queue_drops,
            "one retransmission per dropped segment: {:?}",
            r.stats
        );
    }
}

/// With random loss as well, pacing changes nothing in recovery: every
/// lost or dropped segment is resent once, without a timeout.
#[test]
fn paced_recovery_on_a_lossy_path() {
    let r = run_on(true, 600_000, bottleneck().loss(0.01), 11);
    eprintln!(
        "paced, 1 % loss: {:?} lost+dropped {}",
        r.stats, r.queue_drops
    );
    assert!(r.stats.fast_retransmits > 0, "{:?}", r.stats);
    assert_eq!(r.stats.timeouts, 0, "{:?}", r.stats);
    assert_eq!(r.stats.retransmits, r.queue_drops, "{:?}", r.stats);
    assert_eq!(back_to_back(&r.data_at), 0);
}
