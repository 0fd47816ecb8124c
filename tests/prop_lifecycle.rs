//! Property test of a whole connection life under random link faults
//! (DESIGN.md "Property and soak tests"): connect, transfer random amounts in
//! both directions, close in a random order (which makes one side
//! half-closed while the other still sends), and wait out TIME-WAIT.
//!
//! Asserted for every case: every byte arrives exactly once and in order in
//! both directions; each side reads end-of-stream (recv returns 0) only after
//! all of the peer's data; both connections end CLOSED or TIME-WAIT without
//! an error and raise a Closed event; nothing panics; and once the handles
//! are closed and TIME-WAIT is over, both stacks hold no socket, no
//! connection and no TIME-WAIT record.
//!
//! The loop advances the simulator one event at a time, so a case whose
//! stacks stop producing events before they are done is reported as a
//! deadlock rather than running into the time limit.

mod common;
use common::*;

use std::time::Duration;

use proptest::prelude::*;
use synfin::links::LinkModel;
use synfin::stack::{Error, Event, Shutdown, SocketHandle, Stack, StackConfig};
use synfin::tcp::State;
use synfin::time::Instant;

/// Who calls `shutdown(Write)` when.
#[derive(Copy, Clone, Debug)]
enum Order {
    /// The client closes once its data is queued; the server closes only
    /// after it has read the client's end-of-stream (RFC 9293 §3.6 case 1,
    /// with the server's data flowing to a half-closed client).
    ClientFirst,
    /// The mirror image.
    ServerFirst,
    /// Each side closes as soon as its own data is queued (often a
    /// simultaneous close, §3.6 case 2).
    Independent,
}

#[derive(Clone, Debug)]
struct Case {
    seed: u64,
    model: LinkModel,
    c2s: usize,
    s2c: usize,
    order: Order,
}

fn arb_case() -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        (
            0.0..0.2f64,                // loss
            0.0..0.1f64,                // duplication
            0.0..0.1f64,                // reordering
            0.0..0.05f64,               // corruption
            1u64..30,                   // delay, ms
            0u64..5,                    // jitter, ms
            prop::option::of(1u64..50), // bandwidth, Mbit/s
        ),
        0usize..150_000,
        0usize..150_000,
        prop_oneof![
            Just(Order::ClientFirst),
            Just(Order::ServerFirst),
            Just(Order::Independent)
        ],
    )
        .prop_map(
            |(seed, (loss, dup, reorder, corrupt, delay, jitter, bw), c2s, s2c, order)| {
                let mut model = LinkModel::new()
                    .loss(loss)
                    .duplicate(dup)
                    .reorder(reorder, Duration::from_millis(delay + 5))
                    .corrupt(corrupt)
                    .delay(Duration::from_millis(delay))
                    .jitter(Duration::from_millis(jitter));
                if let Some(mbps) = bw {
                    model = model.bandwidth(mbps * 1_000_000);
                }
                Case {
                    seed,
                    model,
                    c2s,
                    s2c,
                    order,
                }
            },
        )
}

/// One side of the connection as the test's application sees it.
struct Side {
    h: Option<SocketHandle>,
    out: Vec<u8>,
    sent: usize,
    got: Vec<u8>,
    eof: bool,
    shut: bool,
    closed_event: bool,
}

impl Side {
    fn new(out: Vec<u8>) -> Side {
        Side {
            h: None,
            out,
            sent: 0,
            got: Vec::new(),
            eof: false,
            shut: false,
            closed_event: false,
        }
    }

    /// Sends what fits, reads what is there, and shuts down writing when
    /// `may_close` says so and everything is queued.
    fn drive(&mut self, st: &mut Stack, now: Instant, may_close: bool) -> Result<(), String> {
        let Some(h) = self.h else { return Ok(()) };
        while self.sent < self.out.len() {
            match st.send(now, h, &self.out[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(Error::WouldBlock) => break,
                Err(e) => return Err(format!("send: {e}")),
            }
        }
        let mut buf = [0u8; 8192];
        while !self.eof {
            match st.recv(now, h, &mut buf) {
                Ok(0) => self.eof = true,
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
                Err(Error::WouldBlock) => break,
                Err(e) => return Err(format!("recv: {e}")),
            }
        }
        if !self.shut && may_close && self.sent == self.out.len() {
            st.shutdown(now, h, Shutdown::Write)
                .map_err(|e| format!("shutdown: {e}"))?;
            self.shut = true;
        }
        Ok(())
    }

    /// Consumes the stack's events (only this side's handle lives there).
    fn take_events(&mut self, st: &mut Stack) {
        while let Some((h, ev)) = st.poll_event() {
            if Some(h) == self.h && ev == Event::Closed {
                self.closed_event = true;
            }
        }
    }

    fn finished(&self, st: &Stack) -> bool {
        self.eof
            && self.shut
            && self
                .h
                .is_some_and(|h| matches!(st.state(h), Ok(State::Closed | State::TimeWait)))
    }
}

fn run_case(case: Case) -> Result<(), TestCaseError> {
    let mut cfg = StackConfig::default();
    // A short MSL keeps TIME-WAIT brief in virtual time, but 2×MSL stays well
    // above a backed-off RTO so the lost-last-ACK path is exercised as the
    // RFC intends rather than ending in a RST.
    cfg.tcp.msl = Duration::from_secs(5);
    // Up to 20 % loss in each direction: a handshake attempt fails with
    // probability ~0.36, so the default 6 SYN retries (5 SYN-ACK retries)
    // would give up in roughly one case in a thousand. Connection
    // establishment giving up is not what this test is about, so allow more
    // tries instead of weakening the delivery assertions.
    cfg.tcp.syn_retries = 15;
    cfg.tcp.synack_retries = 15;
    cfg.tcp.max_retries = 20;
    let mut p = Pair::with_config(case.seed, case.model.clone(), cfg);
    let listener = p.s().listen(Pair::server_addr(), 16).unwrap();
    let mut cl = Side::new(pattern(case.c2s, 1));
    let mut sv = Side::new(pattern(case.s2c, 2));
    let now = p.now();
    cl.h = Some(p.c().connect(now, Pair::server_addr()).unwrap());

    let limit = Instant::from_secs(3 * 3600);
    loop {
        let now = p.now();
        if sv.h.is_none() {
            if let Ok((h, _)) = p.s().accept(listener) {
                sv.h = Some(h);
            }
        }
        let (c_close, s_close) = match case.order {
            Order::ClientFirst => (true, sv.eof),
            Order::ServerFirst => (cl.eof, true),
            Order::Independent => (true, true),
        };
        cl.drive(p.c(), now, c_close)
            .map_err(|e| TestCaseError::fail(format!("client {e} at {now}")))?;
        sv.drive(p.s(), now, s_close)
            .map_err(|e| TestCaseError::fail(format!("server {e} at {now}")))?;
        cl.take_events(p.c());
        sv.take_events(p.s());
        // No end-of-stream before all of the peer's data (checked on every
        // step, not only at the end).
        prop_assert!(!cl.eof || cl.got.len() == case.s2c, "client EOF early");
        prop_assert!(!sv.eof || sv.got.len() == case.c2s, "server EOF early");
        if cl.finished(p.c()) && sv.finished(p.s()) {
            break;
        }
        prop_assert!(p.now() < limit, "not finished by {limit}");
        if !p.net.step() {
            return Err(TestCaseError::fail(format!(
                "deadlock at {}: no events left; client {:?} eof={} shut={} got={}/{}, server {:?} eof={} shut={} got={}/{}",
                p.now(),
                cl.h.map(|h| p.c().state(h)),
                cl.eof,
                cl.shut,
                cl.got.len(),
                case.s2c,
                sv.h.map(|h| p.s().state(h)),
                sv.eof,
                sv.shut,
                sv.got.len(),
                case.c2s,
            )));
        }
    }

    prop_assert!(cl.got == pattern(case.s2c, 2), "server→client bytes differ");
    prop_assert!(sv.got == pattern(case.c2s, 1), "client→server bytes differ");
    let (ch, sh) = (cl.h.unwrap(), sv.h.unwrap());
    prop_assert_eq!(p.c().socket_error(ch), Ok(None));
    prop_assert_eq!(p.s().socket_error(sh), Ok(None));
    // Closed fires on reaching CLOSED or TIME-WAIT; drain once more in case
    // the final transition happened in the last step.
    cl.take_events(p.c());
    sv.take_events(p.s());
    prop_assert!(cl.closed_event && sv.closed_event, "Closed events");
    // Only a side that sent its FIN before the peer's arrived waits in
    // TIME-WAIT (RFC 9293 §3.6): a passive closer never does. (The active
    // closer's record may in rare cases already be gone: if the passive
    // side's FIN retransmissions were lost for 2×MSL, it got a RST in
    // LAST-ACK, which is a silent close.)
    match case.order {
        Order::ClientFirst => prop_assert_eq!(p.s().time_wait_count(), 0),
        Order::ServerFirst => prop_assert_eq!(p.c().time_wait_count(), 0),
        Order::Independent => {}
    }

    // Let go of everything and wait out TIME-WAIT.
    let now = p.now();
    p.c().close(now, ch).unwrap();
    p.s().close(now, sh).unwrap();
    p.s().close(now, listener).unwrap();
    let end = p.now() + Duration::from_secs(60);
    while p.now() < end && p.net.step() {}
    for client in [true, false] {
        let (name, st) = if client {
            ("client", p.c())
        } else {
            ("server", p.s())
        };
        prop_assert_eq!(st.socket_count(), 0, "{} sockets", name);
        prop_assert_eq!(st.connection_count(), 0, "{} connections", name);
        prop_assert_eq!(st.time_wait_count(), 0, "{} TIME-WAIT", name);
    }
    Ok(())
}

/// A case the property found: both sides timed out at once and ignored
/// each other's ACKs (sent from the pulled-back SND.NXT) until the retries
/// ran out. See `ack_after_timeout_carries_highest_seq` in
/// tests/scenario_close.rs.
#[test]
fn regression_simultaneous_go_back_n() {
    let model = LinkModel::new()
        .delay(Duration::from_millis(9))
        .bandwidth(10_000_000)
        .loss(0.17292758988397966)
        .reorder(0.08441905202608128, Duration::from_millis(14));
    run_case(Case {
        seed: 1161884752360287291,
        model,
        c2s: 34753,
        s2c: 5793,
        order: Order::Independent,
    })
    .unwrap();
}

proptest! {
    // 64 cases keep the file fast in debug builds; set PROPTEST_CASES for a
    // longer soak (proptest's own variable, honoured here explicitly).
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
    ))]

    #[test]
    fn lifecycle_under_faults(case in arb_case()) {
        run_case(case)?;
    }
}
