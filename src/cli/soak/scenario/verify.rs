//! The invariants a finished scenario must hold.

use synfin::stack::Error;

use super::end::End;
use super::{CloseMode, DataMode, Outcome, Scenario, Who};

/// Each side observed the close it should, and got the data it should.
pub(super) fn verify(
    sc: &Scenario,
    cl: &End,
    sv: &End,
    c2s: (&[u8], &[usize]),
    s2c: (&[u8], &[usize]),
    outcome: &mut Outcome,
) -> Result<(), String> {
    let (closer, peer) = match sc.who {
        Who::Client => (cl, sv),
        Who::Server => (sv, cl),
    };
    let (closer_out, peer_out) = if sc.who == Who::Client {
        (c2s, s2c)
    } else {
        (s2c, c2s)
    };
    let messages = sc.mode == DataMode::Messages;
    // Message mode: the disconnect data `e` read is what `from` sent.
    let disconnect_ok = |e: &End, from: &End| {
        !messages || e.peer_disconnect.as_ref() == Some(&Ok(from.disconnect.clone()))
    };
    match sc.close {
        CloseMode::Graceful | CloseMode::HalfClose => {
            for (name, e, other, want) in [("client", cl, sv, s2c), ("server", sv, cl, c2s)] {
                check!(
                    e.err.is_none(),
                    "{name} saw {:?} in a graceful close",
                    e.err
                );
                check!(
                    e.eof,
                    "{name} never read {}",
                    if messages {
                        "Disconnected"
                    } else {
                        "end-of-stream"
                    }
                );
                check!(
                    e.got_all(want.0, want.1),
                    "{name} got {} of {} bytes ({} of {} messages)",
                    e.got.len(),
                    want.0.len(),
                    e.got_msgs.len(),
                    want.1.len()
                );
                check!(
                    disconnect_ok(e, other),
                    "{name} read disconnect data {:?}, not the {} bytes sent",
                    e.peer_disconnect.as_ref().map(|r| r.as_ref().map(Vec::len)),
                    other.disconnect.len()
                );
                check!(
                    e.close_result == Some(Ok(())),
                    "{name}'s close returned {:?}",
                    e.close_result
                );
            }
        }
        CloseMode::Abort | CloseMode::UnreadClose => {
            check!(
                peer.err == Some(Error::ConnectionReset),
                "the peer of the {:?} saw {:?}, not ConnectionReset",
                sc.close,
                peer.err
            );
            check!(
                !peer.eof,
                "the peer read {}, but the closer reset",
                if messages {
                    "Disconnected"
                } else {
                    "end-of-stream"
                }
            );
            check!(
                closer.close_result == Some(Ok(())),
                "the closer's close returned {:?}",
                closer.close_result
            );
            if sc.close == CloseMode::Abort {
                check!(
                    closer.got.len() >= sc.abort_after.min(peer_out.0.len()),
                    "aborted before reading {} bytes",
                    sc.abort_after
                );
            }
        }
        CloseMode::Linger => {
            let ok = closer.close_result == Some(Ok(()));
            outcome.linger_ok = Some(ok);
            if ok {
                // Success means the peer acknowledged every byte and the FIN.
                check!(
                    peer.got_all(closer_out.0, closer_out.1) && peer.eof,
                    "lingering close succeeded but the peer got {} of {} bytes (eof={})",
                    peer.got.len(),
                    closer_out.0.len(),
                    peer.eof
                );
                check!(
                    disconnect_ok(peer, closer),
                    "lingering close succeeded but the peer read disconnect data {:?}, not the {} bytes sent",
                    peer.peer_disconnect.as_ref().map(|r| r.as_ref().map(Vec::len)),
                    closer.disconnect.len()
                );
            } else {
                check!(
                    matches!(
                        closer.close_result,
                        Some(Err(Error::TimedOut
                            | Error::ConnectionReset
                            | Error::ConnectionAborted))
                    ) || closer.err.is_some(),
                    "lingering close returned {:?}",
                    closer.close_result
                );
            }
            check!(
                closer.got_all(peer_out.0, peer_out.1) || closer.err.is_some() || !ok,
                "the lingering closer read {} of {} bytes",
                closer.got.len(),
                peer_out.0.len()
            );
        }
    }
    Ok(())
}

pub(super) fn first_diff(got: &[u8], want: &[u8]) -> usize {
    got.iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()))
}
