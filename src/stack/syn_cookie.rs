//! SYN cookies (RFC 4987 §3.6): when a listener's SYN queue is full, the
//! SYN-ACK's initial sequence number encodes what the half-open entry would
//! have held, so the listener keeps no state for the SYN at all, and a valid
//! final ACK creates the connection straight into the accept queue.
//!
//! The cookie (our ISS) is 32 bits:
//!
//! ```text
//!  31      27 26  24 23                                    0
//! +----------+------+---------------------------------------+
//! | t mod 32 | MSS  |  F(secret, 4-tuple, client ISN, t, MSS) |
//! +----------+------+---------------------------------------+
//! ```
//!
//! `t` is a 64-second counter; a cookie is accepted for the period it was
//! made in and the next (64–128 s, Linux's MAX_SYNCOOKIE_AGE), `MSS` indexes
//! [`MSS_TABLE`] (the largest entry not above the client's MSS), and `F` is
//! the stack's keyed hash (SipHash, the ISN secret of RFC 6528) truncated to
//! 24 bits — a blind attacker guessing a cookie succeeds with probability
//! 2⁻²⁴ per try. Including the client's ISN means the ACK's sequence number
//! must match too.
//!
//! The window scale and SACK-permitted options cannot fit in the sequence
//! number. When timestamps are on, they ride in the low six bits of the
//! SYN-ACK's TSval, which the client echoes in every TSecr (as Linux does):
//! bits 0–3 the client's window shift (15 = none), bit 4 SACK-permitted.
//! Without timestamps, the SYN-ACK offers neither option, so the connection
//! runs without them (the cost RFC 4987 §3.6 describes).

use super::isn::Secret;
use super::FourTuple;
use crate::time::Instant;
use crate::wire::{SeqNum, TcpOptions};

/// MSS values a cookie can carry (3 bits). Common values: the IPv4 and IPv6
/// minimums (536, 1220), PPPoE and tunnels (1380, 1440), Ethernet (1460),
/// jumbo frames (8960).
pub(crate) const MSS_TABLE: [u16; 8] = [216, 536, 1200, 1220, 1380, 1440, 1460, 8960];

/// Length of one cookie period.
const PERIOD_MICROS: u64 = 64_000_000;
/// A cookie is valid in the period it was made and this many after it.
const MAX_AGE: u32 = 1;
/// How long after the last cookie was sent a listener still checks ACKs
/// against cookies (longer than any cookie lives).
pub(crate) const COOKIE_WINDOW: core::time::Duration =
    core::time::Duration::from_micros(PERIOD_MICROS * (MAX_AGE as u64 + 1));

const HASH_MASK: u32 = 0x00FF_FFFF;
/// Low TSval bits that carry the options.
const TS_OPT_MASK: u32 = 0x3F;
const TS_NO_WSCALE: u32 = 0x0F;
const TS_SACK: u32 = 0x10;

fn counter(now: Instant) -> u32 {
    (now.total_micros() / PERIOD_MICROS) as u32
}

fn hash(secret: &Secret, tuple: &FourTuple, irs: SeqNum, t: u32, mss_idx: u32) -> u32 {
    let mut data = [0u8; 44];
    data[..36].copy_from_slice(&tuple.to_bytes());
    data[36..40].copy_from_slice(&irs.0.to_be_bytes());
    data[40..44].copy_from_slice(&(t << 3 | mss_idx).to_be_bytes());
    secret.hash(4, &data) as u32 & HASH_MASK
}

/// The cookie for a SYN from `tuple` with initial sequence number `irs` and
/// MSS option `peer_mss`.
pub(crate) fn make(
    secret: &Secret,
    tuple: &FourTuple,
    irs: SeqNum,
    peer_mss: u16,
    now: Instant,
) -> SeqNum {
    let idx = MSS_TABLE.iter().rposition(|&m| m <= peer_mss).unwrap_or(0) as u32;
    let t = counter(now);
    SeqNum((t & 0x1F) << 27 | idx << 24 | hash(secret, tuple, irs, t, idx))
}

/// Checks the cookie `iss` (the final ACK's number less one) for `tuple` and
/// the client's `irs` (its sequence number less one); returns the MSS it
/// carries if it is genuine and fresh.
pub(crate) fn check(
    secret: &Secret,
    tuple: &FourTuple,
    irs: SeqNum,
    iss: SeqNum,
    now: Instant,
) -> Option<u16> {
    let now_t = counter(now);
    let age = now_t.wrapping_sub(iss.0 >> 27) & 0x1F;
    if age > MAX_AGE {
        return None;
    }
    let t = now_t.wrapping_sub(age);
    let idx = (iss.0 >> 24) & 0x7;
    (hash(secret, tuple, irs, t, idx) == iss.0 & HASH_MASK).then(|| MSS_TABLE[idx as usize])
}

/// The SYN-ACK's TSval: our timestamp clock `now_ts` with the client's
/// window scale and SACK-permitted in the low bits, never ahead of the clock
/// (so the timestamps the connection sends later never go backwards).
pub(crate) fn ts_encode(now_ts: u32, wscale: Option<u8>, sack: bool) -> u32 {
    let bits = u32::from(wscale.map_or(TS_NO_WSCALE as u8, |s| s.min(14)))
        | if sack { TS_SACK } else { 0 };
    let v = (now_ts & !TS_OPT_MASK) | bits;
    if v.wrapping_sub(now_ts) as i32 > 0 {
        v.wrapping_sub(TS_OPT_MASK + 1)
    } else {
        v
    }
}

/// The client's options as the cookie's ACK reveals them: the MSS from the
/// cookie, and window scale and SACK-permitted from the echoed TSval when
/// the ACK carries timestamps. `None` if the echoed value cannot be one we
/// sent (from the future or older than any cookie lives).
pub(crate) fn peer_options(
    mss: u16,
    ack_ts: Option<(u32, u32)>,
    now_ts: u32,
) -> Option<TcpOptions> {
    let mut o = TcpOptions {
        mss: Some(mss),
        ..TcpOptions::default()
    };
    let Some((val, ecr)) = ack_ts else {
        return Some(o);
    };
    let age = now_ts.wrapping_sub(ecr);
    if age as i32 <= -(TS_OPT_MASK as i32 + 1) || age > COOKIE_WINDOW.as_millis() as u32 {
        return None;
    }
    let ws = ecr & TS_NO_WSCALE;
    o.window_scale = (ws != TS_NO_WSCALE).then_some(ws as u8);
    o.sack_permitted = ecr & TS_SACK != 0;
    o.timestamps = Some((val, ecr));
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple() -> FourTuple {
        FourTuple::new(
            "198.18.0.2:80".parse().unwrap(),
            "198.18.0.1:50000".parse().unwrap(),
        )
    }

    #[test]
    fn a_cookie_checks_out_for_two_periods_and_no_longer() {
        let s = Secret::new([1, 2]);
        let irs = SeqNum(12345);
        let t0 = Instant::from_secs(1000);
        let c = make(&s, &tuple(), irs, 1460, t0);
        assert_eq!(check(&s, &tuple(), irs, c, t0), Some(1460));
        assert_eq!(
            check(
                &s,
                &tuple(),
                irs,
                c,
                t0 + core::time::Duration::from_secs(64)
            ),
            Some(1460)
        );
        assert_eq!(
            check(
                &s,
                &tuple(),
                irs,
                c,
                t0 + core::time::Duration::from_secs(129)
            ),
            None
        );
        // 32 periods later the counter's low bits match again; the hash,
        // which covers the whole counter, does not.
        assert_eq!(
            check(
                &s,
                &tuple(),
                irs,
                c,
                t0 + core::time::Duration::from_secs(64 * 32)
            ),
            None
        );
    }

    #[test]
    fn a_cookie_is_bound_to_the_tuple_the_client_isn_and_the_secret() {
        let s = Secret::new([1, 2]);
        let t0 = Instant::from_secs(10);
        let c = make(&s, &tuple(), SeqNum(7), 1460, t0);
        assert_eq!(check(&s, &tuple(), SeqNum(8), c, t0), None);
        let other = FourTuple::new(
            "198.18.0.2:80".parse().unwrap(),
            "198.18.0.1:50001".parse().unwrap(),
        );
        assert_eq!(check(&s, &other, SeqNum(7), c, t0), None);
        assert_eq!(
            check(&Secret::new([1, 3]), &tuple(), SeqNum(7), c, t0),
            None
        );
        assert_eq!(check(&s, &tuple(), SeqNum(7), c + 1u32, t0), None);
    }

    #[test]
    fn mss_rounds_down_to_the_table() {
        let s = Secret::new([9, 9]);
        let t0 = Instant::ZERO;
        for (offered, carried) in [
            (1460, 1460),
            (1400, 1380),
            (9000, 8960),
            (100, 216),
            (536, 536),
        ] {
            let c = make(&s, &tuple(), SeqNum(1), offered, t0);
            assert_eq!(
                check(&s, &tuple(), SeqNum(1), c, t0),
                Some(carried),
                "{offered}"
            );
        }
    }

    #[test]
    fn options_ride_in_the_timestamp_and_it_never_runs_ahead() {
        for now_ts in [0u32, 5, 63, 64, 1_000_000, u32::MAX] {
            for (ws, sack) in [
                (None, false),
                (Some(7), true),
                (Some(14), false),
                (Some(0), true),
            ] {
                let v = ts_encode(now_ts, ws, sack);
                assert!(now_ts.wrapping_sub(v) as i32 >= 0, "{v} ahead of {now_ts}");
                assert!(now_ts.wrapping_sub(v) < 128);
                let o = peer_options(1460, Some((77, v)), now_ts.wrapping_add(10)).unwrap();
                assert_eq!(o.window_scale, ws);
                assert_eq!(o.sack_permitted, sack);
                assert_eq!(o.timestamps, Some((77, v)));
            }
        }
        // An echo from the future, or older than a cookie lives, is no echo
        // of ours.
        assert!(peer_options(1460, Some((1, 100_000)), 1000).is_none());
        assert!(peer_options(1460, Some((1, 0)), 200_000).is_none());
        assert_eq!(peer_options(536, None, 5).unwrap().window_scale, None);
    }
}
