//! A SYN flood in the simulator: 100 000 spoofed SYNs per second against a
//! listener while 100 legitimate clients (10 hosts × 10 connections)
//! connect and each send a request. All 100 must be accepted with their
//! bytes intact, and the server's memory must stay bounded: the SYN queue
//! never grows past the backlog, every SYN beyond it is answered with a
//! cookie and costs nothing afterwards.
//!
//! The flood lasts 0.3 s of virtual time here (30 000 SYNs) so the test is
//! quick in a debug build; `synfin soak --flood` runs the same scenario
//! (`synfin::links::flood::run`) for longer (docs/RELIABILITY.md has its
//! figures).

use std::time::Duration;

use synfin::links::flood::{self, HOSTS, PER_HOST};

const RATE: u64 = 100_000;
const FLOOD: Duration = Duration::from_millis(300);

#[test]
fn legitimate_clients_all_connect_through_a_syn_flood_and_memory_stays_bounded() {
    let r = flood::run(RATE, FLOOD);
    eprintln!("{r:#?}");
    assert!(r.spoofed_syns >= RATE * FLOOD.as_millis() as u64 / 1000 - 1);
    assert_eq!(r.legitimate, HOSTS * PER_HOST);
    assert_eq!(
        r.legitimate_accepted, r.legitimate,
        "every legitimate client got in"
    );
    assert_eq!(r.legitimate_intact, r.legitimate, "requests intact");
    assert_eq!(r.extra_accepted, 0, "no spoofed connection was accepted");
    assert!(
        r.server.syn_cookies_accepted >= 1,
        "the flood forced cookies"
    );
    assert!(
        r.server.syn_cookies_sent >= r.spoofed_syns - 2 * flood::BACKLOG as u64,
        "all but the queue's worth were answered statelessly"
    );
    // Bounded memory: the SYN queue never exceeds the backlog (~100 B an
    // entry); the cookies cost nothing; the control queue is drained.
    let peak = r.peak_breakdown;
    assert!(
        peak.listeners <= 64 * 1024,
        "listener queues at most the backlog: {peak:?}"
    );
    assert!(peak.control <= 64 * 1024, "{peak:?}");
    assert!(
        r.peak_tables <= flood::TABLES_BOUND,
        "tables stay small: {peak:?}"
    );
    assert!(r.ok());
}

#[test]
fn the_report_fails_when_a_client_is_missing() {
    // `ok` is not a constant: a report short of one client fails.
    let mut r = flood::run(10_000, Duration::from_millis(60));
    assert!(r.ok(), "{r:?}");
    r.legitimate_accepted -= 1;
    assert!(!r.ok());
}
