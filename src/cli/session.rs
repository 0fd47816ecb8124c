//! One connection of `synfin serve` or `synfin connect`: what it sends and
//! reads, how it closes, and the JSON line that reports it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use sha2::{Digest, Sha256};

use synfin::stack::{Error, Shutdown, SocketHandle, Stack};
use synfin::tcp::State;
use synfin::time::Instant;

mod txn;
pub use txn::TxnRole;

/// How a connection is ended once its work is done.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CloseHow {
    /// `close()`: FIN after the queued data (a reset if unread data would
    /// be lost).
    Graceful,
    /// `SO_LINGER {on, 0}` then `close()`: RST, queues discarded.
    Abort,
    /// `SO_LINGER {on, N}` then `close()`: wait up to N for everything to be
    /// acknowledged, else reset and report `TimedOut`.
    Linger(Duration),
}

/// `graceful`, `abort` or `linger=SECS`.
pub fn parse_close(s: &str) -> Result<CloseHow, String> {
    match s {
        "graceful" => Ok(CloseHow::Graceful),
        "abort" => Ok(CloseHow::Abort),
        _ => {
            let secs = s
                .strip_prefix("linger=")
                .ok_or_else(|| format!("`{s}` is not graceful, abort or linger=SECS"))?;
            let v: f64 = secs
                .parse()
                .map_err(|_| format!("`{secs}` is not a number of seconds"))?;
            if !(0.001..=3600.0).contains(&v) {
                return Err(format!("linger must be 0.001 to 3600 s, got {v}"));
            }
            Ok(CloseHow::Linger(Duration::from_secs_f64(v)))
        }
    }
}

/// What one connection does.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Bytes of generated data to send.
    pub send: u64,
    /// Send back what arrives (instead of generated data).
    pub echo: bool,
    /// Read what arrives (otherwise it stays unread and the close resets).
    pub read: bool,
    /// The work is done only after the peer's FIN.
    pub wait_eof: bool,
    /// `shutdown(Write)` once everything is sent.
    pub shutdown_write: bool,
    /// Wait this long, reading nothing, before closing.
    pub hold: Duration,
    /// How to close.
    pub close: CloseHow,
    /// Message mode (docs/message-mode.md): data goes as whole messages of
    /// at most [`MESSAGE_SIZE`] bytes, echo preserves their boundaries.
    pub message: bool,
    /// Run the transaction-total protocol instead of moving bytes
    /// (`--mode transactions`; `send`, `echo` and `read` are then unused).
    pub txn: Option<TxnRole>,
    /// Hash what goes in and out (SHA-256 in the report); off for
    /// throughput measurements, where hashing would cost more than TCP.
    pub hash: bool,
}

/// Size of the messages generated data is cut into in message mode (a
/// quarter of the default maximum message size).
pub const MESSAGE_SIZE: usize = 16 * 1024;

/// How the peer ended its side, as the JSON reports it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum PeerClose {
    None,
    Fin,
    Rst,
}

#[derive(Copy, Clone, Debug, PartialEq)]
enum Phase {
    Connecting,
    Active,
    Holding(Instant),
    Lingering,
    Done,
}

/// Most echoed bytes waiting to be sent before reading pauses (so an echo
/// server applies back-pressure instead of buffering without bound).
const ECHO_BACKLOG: usize = 256 * 1024;

/// What a session handed to the stack: bytes, their SHA-256 (`None` with
/// `--no-hash`), messages.
struct Sent {
    bytes: u64,
    sha: Option<Sha256>,
    messages: u64,
}

impl Sent {
    /// Hands `chunk` to the stack — as one message in message mode, else as
    /// stream bytes (what fits) — and counts what it took.
    fn send(
        &mut self,
        stack: &mut Stack,
        now: Instant,
        h: SocketHandle,
        message: bool,
        chunk: &[u8],
    ) -> Result<usize, Error> {
        let n = if message {
            stack.send_message(now, h, chunk).map(|()| chunk.len())?
        } else {
            stack.send(now, h, chunk)?
        };
        if let Some(sha) = &mut self.sha {
            sha.update(&chunk[..n]);
        }
        self.bytes += n as u64;
        self.messages += u64::from(message);
        Ok(n)
    }
}

/// One connection in progress.
pub struct Session {
    h: SocketHandle,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    plan: Plan,
    phase: Phase,
    bytes_in: u64,
    /// `None` with `--no-hash`.
    sha_in: Option<Sha256>,
    /// What went out: bytes, their hash, messages.
    out: Sent,
    eof: bool,
    shut: bool,
    peer_close: PeerClose,
    error: Option<Error>,
    echo: VecDeque<u8>,
    /// Message mode: the lengths of the messages in `echo`.
    echo_lens: VecDeque<usize>,
    messages_in: u64,
    txn: Option<txn::TxnState>,
    /// A failed check of the application protocol (transactions).
    app_error: Option<String>,
    /// The connection's loss-recovery counters, taken when it was closed.
    loss: Option<synfin::tcp::LossStats>,
    started: std::time::Instant,
}

/// The generated data: a fixed pseudo-random 64 KiB block, repeated.
fn pattern() -> &'static [u8] {
    static BLOCK: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BLOCK.get_or_init(|| {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..65536)
            .map(|_| {
                // xorshift64*
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    })
}

impl Session {
    /// A connection just accepted.
    pub fn accepted(h: SocketHandle, peer: SocketAddr, plan: Plan) -> Session {
        Session::new(h, peer, plan, Phase::Active)
    }

    /// A connection whose SYN was just sent.
    pub fn connecting(h: SocketHandle, peer: SocketAddr, plan: Plan) -> Session {
        Session::new(h, peer, plan, Phase::Connecting)
    }

    fn new(h: SocketHandle, peer: SocketAddr, plan: Plan, phase: Phase) -> Session {
        let txn = plan.txn.as_ref().map(|_| txn::TxnState::default());
        let hash = plan.hash;
        Session {
            h,
            peer,
            local: None,
            plan,
            phase,
            bytes_in: 0,
            sha_in: hash.then(Sha256::new),
            out: Sent {
                bytes: 0,
                sha: hash.then(Sha256::new),
                messages: 0,
            },
            eof: false,
            shut: false,
            peer_close: PeerClose::None,
            error: None,
            echo: VecDeque::new(),
            echo_lens: VecDeque::new(),
            messages_in: 0,
            txn,
            app_error: None,
            loss: None,
            started: std::time::Instant::now(),
        }
    }

    /// Whether the connection is finished (its handle closed).
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Whether it ended without error (neither the connection's nor a
    /// failed check of the application protocol).
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.app_error.is_none()
    }

    /// When the session next wants to run without any packet arriving.
    pub fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Holding(t) => Some(t),
            _ => None,
        }
    }

    /// Does whatever can be done now; returns whether anything happened.
    pub fn step(&mut self, stack: &mut Stack, now: Instant, buf: &mut [u8]) -> bool {
        match self.phase {
            Phase::Done => false,
            Phase::Connecting => match stack.state(self.h) {
                Ok(State::SynSent | State::SynReceived) => false,
                Ok(State::Closed) | Err(_) => {
                    let e = stack
                        .take_error(self.h)
                        .ok()
                        .flatten()
                        .or_else(|| stack.socket_error(self.h).ok().flatten())
                        .unwrap_or(Error::ConnectionAborted);
                    self.fail(stack, now, e);
                    true
                }
                Ok(_) => {
                    self.phase = Phase::Active;
                    self.local = stack.local_addr(self.h).ok();
                    self.step(stack, now, buf);
                    true
                }
            },
            Phase::Active => self.active(stack, now, buf),
            Phase::Holding(t) => {
                // A session that reads keeps reading while it holds (a FIN
                // or data may still be on its way); `--no-read` stays silent.
                let did = self.plan.read && !self.eof && self.read_some(stack, now, buf);
                if self.phase == Phase::Done {
                    return true;
                }
                if now >= t {
                    self.close(stack, now);
                    true
                } else {
                    did
                }
            }
            Phase::Lingering => match stack.close(now, self.h) {
                Err(Error::WouldBlock) => false,
                r => {
                    self.error = self.error.or(r.err());
                    self.phase = Phase::Done;
                    true
                }
            },
        }
    }

    fn active(&mut self, stack: &mut Stack, now: Instant, buf: &mut [u8]) -> bool {
        if self.local.is_none() {
            self.local = stack.local_addr(self.h).ok();
        }
        if self.txn.is_some() {
            return self.txn_active(stack, now, buf);
        }
        let mut did = false;
        if self.plan.read {
            did |= self.read_some(stack, now, buf);
            if self.phase == Phase::Done {
                return true;
            }
        }
        // Send.
        loop {
            let message = self.plan.message;
            let chunk: &[u8] = if self.plan.echo && message {
                // One whole message (possibly empty) at a time.
                match self.echo_lens.front() {
                    Some(&len) => &self.echo.make_contiguous()[..len],
                    None => break,
                }
            } else if self.plan.echo {
                self.echo.as_slices().0
            } else if self.out.bytes < self.plan.send {
                let p = pattern();
                let off = (self.out.bytes % p.len() as u64) as usize;
                let left = self.plan.send - self.out.bytes;
                let most = if message { MESSAGE_SIZE } else { p.len() - off };
                &p[off..(off + left.min(most.min(p.len() - off) as u64) as usize)]
            } else {
                &[]
            };
            if chunk.is_empty() && !(message && self.plan.echo) {
                break;
            }
            match self.out.send(stack, now, self.h, message, chunk) {
                Ok(n) => {
                    if self.plan.echo {
                        self.echo.drain(..n);
                        if message {
                            self.echo_lens.pop_front();
                        }
                    }
                    did = true;
                }
                Err(Error::WouldBlock) => break,
                Err(e) => {
                    self.fail(stack, now, e);
                    return true;
                }
            }
        }
        let sent_all = if self.plan.echo {
            self.eof && self.echo.is_empty()
        } else {
            self.out.bytes >= self.plan.send
        };
        if sent_all && self.plan.shutdown_write && !self.shut {
            self.shut = true;
            if let Err(e) = stack.shutdown(now, self.h, Shutdown::Write) {
                self.fail(stack, now, e);
                return true;
            }
            did = true;
        }
        if sent_all && (!self.plan.wait_eof || self.eof) {
            if self.plan.hold.is_zero() {
                self.close(stack, now);
            } else {
                self.phase = Phase::Holding(now + self.plan.hold);
            }
            did = true;
        }
        did
    }

    /// Reads what is there (at most until the echo backlog is full);
    /// returns whether anything arrived. A failure ends the session.
    fn read_some(&mut self, stack: &mut Stack, now: Instant, buf: &mut [u8]) -> bool {
        let mut did = false;
        let message = self.plan.message;
        while !self.eof && self.echo.len() < ECHO_BACKLOG {
            let r = if message {
                stack.recv_message(now, self.h, buf)
            } else {
                stack.recv(now, self.h, buf)
            };
            match r {
                // End of stream: the FIN, or in message mode the peer's
                // DISCONNECT record (a zero-length read there is an empty
                // message).
                Ok(0) if !message => self.peer_finished(),
                Err(Error::Disconnected) if message => self.peer_finished(),
                Ok(n) => {
                    let data = &buf[..n];
                    self.bytes_in += n as u64;
                    if let Some(h) = &mut self.sha_in {
                        h.update(data);
                    }
                    if self.plan.echo {
                        self.echo.extend(data);
                        if message {
                            self.echo_lens.push_back(n);
                        }
                    }
                    self.messages_in += u64::from(message);
                }
                Err(Error::WouldBlock) => break,
                Err(e) => {
                    self.fail(stack, now, e);
                    return true;
                }
            }
            did = true;
        }
        did
    }

    fn peer_finished(&mut self) {
        self.eof = true;
        self.peer_close = PeerClose::Fin;
    }

    /// Keeps the loss-recovery counters before the handle goes.
    fn note_loss(&mut self, stack: &Stack) {
        if let Ok(c) = stack.connection(self.h) {
            self.loss = Some(c.loss_stats());
        }
    }

    fn close(&mut self, stack: &mut Stack, now: Instant) {
        self.note_loss(stack);
        let linger = match self.plan.close {
            CloseHow::Graceful => None,
            CloseHow::Abort => Some(Duration::ZERO),
            CloseHow::Linger(d) => Some(d),
        };
        if let Err(e) = stack.set_linger(self.h, linger) {
            self.error = self.error.or(Some(e));
        }
        match stack.close(now, self.h) {
            Ok(()) => self.phase = Phase::Done,
            Err(Error::WouldBlock) => self.phase = Phase::Lingering,
            Err(e) => {
                self.error = self.error.or(Some(e));
                self.phase = Phase::Done;
            }
        }
    }

    /// The connection failed with `e`: record it and release the handle.
    fn fail(&mut self, stack: &mut Stack, now: Instant, e: Error) {
        if e == Error::ConnectionReset {
            self.peer_close = PeerClose::Rst;
        }
        self.error = Some(e);
        self.note_loss(stack);
        let _ = stack.close(now, self.h);
        self.phase = Phase::Done;
    }

    /// The JSON line for this connection.
    pub fn report(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "peer": self.peer.to_string(),
            "local": self.local.map(|a| a.to_string()),
            "bytes_in": self.bytes_in,
            "bytes_out": self.out.bytes,
            "sha256_in": self.sha_in.as_ref().map(|h| hex(&h.clone().finalize())),
            "sha256_out": self.out.sha.as_ref().map(|h| hex(&h.clone().finalize())),
            "peer_close": match self.peer_close {
                PeerClose::None => "none",
                PeerClose::Fin => "fin",
                PeerClose::Rst => "rst",
            },
            "error": self.error_text(),
            "seconds": self.started.elapsed().as_secs_f64(),
        });
        if self.plan.message {
            v["message_mode"] = true.into();
            v["messages_in"] = self.messages_in.into();
            v["messages_out"] = self.out.messages.into();
        }
        if let Some(t) = &self.txn {
            t.report(&mut v);
        }
        if let Some(l) = &self.loss {
            v["loss"] = serde_json::to_value(l).unwrap_or_default();
        }
        v
    }

    /// The `error` field: the application check that failed, else the
    /// connection's error.
    fn error_text(&self) -> Option<String> {
        self.app_error
            .clone()
            .or_else(|| self.error.map(|e| format!("{e:?}")))
    }

    /// A one-line human summary.
    pub fn summary(&self) -> String {
        format!(
            "{} in={} out={} peer_close={} error={}",
            self.peer,
            self.bytes_in,
            self.out.bytes,
            match self.peer_close {
                PeerClose::None => "none",
                PeerClose::Fin => "fin",
                PeerClose::Rst => "rst",
            },
            self.error_text().unwrap_or_else(|| "none".to_string())
        )
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_modes() {
        assert_eq!(parse_close("graceful").unwrap(), CloseHow::Graceful);
        assert_eq!(parse_close("abort").unwrap(), CloseHow::Abort);
        assert_eq!(
            parse_close("linger=1.5").unwrap(),
            CloseHow::Linger(Duration::from_millis(1500))
        );
        assert!(parse_close("linger=0").is_err());
        assert!(parse_close("linger=x").is_err());
        assert!(parse_close("nope").is_err());
    }

    #[test]
    fn pattern_is_not_trivial() {
        let p = pattern();
        assert_eq!(p.len(), 65536);
        let zeros = p.iter().filter(|&&b| b == 0).count();
        assert!(zeros < 1024, "{zeros} zero bytes");
    }
}
