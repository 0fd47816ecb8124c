//! `--mode transactions` on a real link: the transaction-total protocol of
//! `synfin demo` (words in [`crate::cli::transactions`]), one connection at
//! a time, in message mode or as lines on a byte stream (docs/INTEROP.md,
//! "Transactions").

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;

use sha2::Digest;
use synfin::stack::{Error, Shutdown, Stack};
use synfin::time::Instant;

use super::{Phase, Session};
use crate::cli::transactions as words;

/// Which side of the protocol a session plays.
#[derive(Clone, Debug)]
pub enum TxnRole {
    /// Sends one transaction per amount, each after the previous answer,
    /// then its total; expects a grand total at least as large.
    Client {
        /// The transactions' amounts.
        amounts: Vec<u64>,
    },
    /// Answers each transaction with the connection's tally, checks the
    /// client's total against it, adds it to the grand total shared by all
    /// of the server's connections and sends that back.
    Server {
        /// The grand total over every connection so far.
        grand: Rc<Cell<u64>>,
    },
}

/// Progress of one connection through the protocol.
#[derive(Debug, Default)]
pub(super) struct TxnState {
    /// Client: requests sent. Server: unused.
    sent: usize,
    /// Client: answers received. Server: requests answered.
    answered: usize,
    /// The running sum of the amounts.
    tally: u64,
    /// Byte stream: the incomplete line read so far.
    line: Vec<u8>,
    /// What is still to be handed to the stack: whole messages, or in
    /// byte-stream mode line bytes (front entry possibly partly sent).
    out: VecDeque<Vec<u8>>,
    out_off: usize,
    /// The peer's stream ended (FIN, or its DISCONNECT record).
    peer_done: bool,
    /// Client: its total went out. Server: the grand total went out.
    hung_up: bool,
    /// Byte stream: `shutdown(Write)` was called.
    shut: bool,
    /// Server: the client's `TOTAL` line.
    peer_total: Option<u64>,
    /// The grand total sent (server) or received (client).
    grand: Option<u64>,
    finished: bool,
}

impl TxnState {
    /// Adds the protocol's fields to the JSON line.
    pub(super) fn report(&self, v: &mut serde_json::Value) {
        v["transactions"] = self.answered.into();
        v["total"] = self.tally.into();
        v["grand_total"] = self.grand.into();
    }
}

impl Session {
    /// One step of the protocol; returns whether anything happened.
    pub(super) fn txn_active(&mut self, stack: &mut Stack, now: Instant, buf: &mut [u8]) -> bool {
        let mut did = self.txn_read(stack, now, buf);
        if self.phase == Phase::Done {
            return true;
        }
        if let Err(e) = self.txn_decide(stack, now) {
            self.txn_fail(stack, now, e);
            return true;
        }
        did |= self.txn_flush(stack, now);
        if self.phase == Phase::Done {
            return true;
        }
        let t = self.txn.as_ref().expect("transaction state");
        if t.finished && t.out.is_empty() {
            did = true;
            if self.plan.hold.is_zero() {
                self.close(stack, now);
            } else {
                self.phase = Phase::Holding(now + self.plan.hold);
            }
        }
        did
    }

    /// Reads whole messages (or lines) and acts on each.
    fn txn_read(&mut self, stack: &mut Stack, now: Instant, buf: &mut [u8]) -> bool {
        let message = self.plan.message;
        let mut did = false;
        loop {
            let t = self.txn.as_mut().expect("transaction state");
            if t.peer_done {
                return did;
            }
            let r = if message {
                stack.recv_message(now, self.h, buf)
            } else {
                stack.recv(now, self.h, buf)
            };
            let n = match r {
                Ok(0) if !message => {
                    t.peer_done = true;
                    self.peer_finished();
                    return true;
                }
                Err(Error::Disconnected) if message => {
                    t.peer_done = true;
                    self.peer_finished();
                    return true;
                }
                Ok(n) => n,
                Err(Error::WouldBlock) => return did,
                Err(e) => {
                    self.fail(stack, now, e);
                    return true;
                }
            };
            did = true;
            self.bytes_in += n as u64;
            if let Some(h) = &mut self.sha_in {
                h.update(&buf[..n]);
            }
            let result = if message {
                self.messages_in += 1;
                match std::str::from_utf8(&buf[..n]) {
                    Ok(text) => self.txn_input(text),
                    Err(_) => Err("a message that is not UTF-8".to_string()),
                }
            } else {
                t.line.extend_from_slice(&buf[..n]);
                self.txn_lines()
            };
            if let Err(e) = result {
                self.txn_fail(stack, now, e);
                return true;
            }
        }
    }

    /// Byte stream: every complete line in the input.
    fn txn_lines(&mut self) -> Result<(), String> {
        loop {
            let t = self.txn.as_mut().expect("transaction state");
            let Some(end) = t.line.iter().position(|&b| b == b'\n') else {
                if t.line.len() > 256 {
                    return Err("a line longer than 256 bytes".to_string());
                }
                return Ok(());
            };
            let line: Vec<u8> = t.line.drain(..=end).collect();
            let text = std::str::from_utf8(&line[..end])
                .map_err(|_| "a line that is not UTF-8".to_string())?;
            self.txn_input(text)?;
        }
    }

    /// One message or line from the peer.
    fn txn_input(&mut self, text: &str) -> Result<(), String> {
        let message = self.plan.message;
        let role = self.plan.txn.as_ref().expect("transactions plan");
        let t = self.txn.as_mut().expect("transaction state");
        match role {
            TxnRole::Client { amounts } => {
                if let (false, Some(g)) = (message, words::parse_grand_line(text)) {
                    if !t.hung_up || t.grand.is_some() {
                        return Err(format!("unexpected \"{text}\""));
                    }
                    t.grand = Some(g);
                    return Ok(());
                }
                let Some(tally) = words::parse_reply(text) else {
                    return Err(format!("\"{text}\" is not an answer"));
                };
                if t.answered >= t.sent {
                    return Err(format!("answer \"{text}\" to no transaction"));
                }
                let want: u64 = amounts[..=t.answered].iter().sum();
                if tally != want {
                    return Err(format!(
                        "transaction {} answered with tally {tally}, expected {want}",
                        t.answered + 1
                    ));
                }
                t.answered += 1;
                t.tally = want;
            }
            TxnRole::Server { .. } => {
                if let (false, Some(total)) = (message, words::parse_total_line(text)) {
                    if t.peer_total.is_some() {
                        return Err("a second TOTAL line".to_string());
                    }
                    t.peer_total = Some(total);
                    return Ok(());
                }
                if t.peer_total.is_some() {
                    return Err(format!("\"{text}\" after the total"));
                }
                let Some((n, amount)) = words::parse_request(text) else {
                    return Err(format!("\"{text}\" is not a transaction"));
                };
                if n != t.answered + 1 {
                    return Err(format!(
                        "transaction number {n}, expected {}",
                        t.answered + 1
                    ));
                }
                t.tally = t
                    .tally
                    .checked_add(amount)
                    .ok_or_else(|| "the tally overflows".to_string())?;
                t.answered += 1;
                let reply = words::reply(t.tally);
                push(t, message, reply);
            }
        }
        Ok(())
    }

    /// Whatever the protocol does next: the next transaction, the hang-up,
    /// the totals.
    fn txn_decide(&mut self, stack: &mut Stack, now: Instant) -> Result<(), String> {
        let message = self.plan.message;
        let role = self.plan.txn.as_ref().expect("transactions plan");
        let t = self.txn.as_mut().expect("transaction state");
        if t.finished {
            return Ok(());
        }
        match role {
            TxnRole::Client { amounts } => {
                if !t.hung_up {
                    if t.answered == t.sent && t.sent < amounts.len() {
                        let req = words::request(t.sent + 1, amounts[t.sent]);
                        push(t, message, req);
                        t.sent += 1;
                    } else if t.answered == amounts.len() && t.out.is_empty() {
                        // The client's total: disconnect data, or a line
                        // followed by the FIN.
                        if message {
                            stack
                                .send_disconnect(now, self.h, &words::encode_total(t.tally))
                                .map_err(|e| format!("send_disconnect: {e}"))?;
                        } else {
                            let line = words::total_line(t.tally);
                            push(t, message, line);
                        }
                        t.hung_up = true;
                    }
                }
                if t.peer_done {
                    if !t.hung_up {
                        return Err(format!(
                            "the server hung up after {} of {} transactions",
                            t.answered,
                            amounts.len()
                        ));
                    }
                    let grand = if message {
                        disconnect_total(stack, self.h)?
                    } else {
                        t.grand
                            .ok_or_else(|| "the stream ended without a GRAND line".to_string())?
                    };
                    t.grand = Some(grand);
                    if grand < t.tally {
                        return Err(format!(
                            "grand total {grand} is less than this client's total {}",
                            t.tally
                        ));
                    }
                    t.finished = true;
                }
            }
            TxnRole::Server { grand } => {
                if t.peer_done && !t.hung_up && t.out.is_empty() {
                    let total = if message {
                        disconnect_total(stack, self.h)?
                    } else {
                        t.peer_total
                            .ok_or_else(|| "the stream ended without a TOTAL line".to_string())?
                    };
                    if total != t.tally {
                        return Err(format!(
                            "the client's total {total} differs from the tally {}",
                            t.tally
                        ));
                    }
                    let g = grand
                        .get()
                        .checked_add(total)
                        .ok_or_else(|| "the grand total overflows".to_string())?;
                    grand.set(g);
                    t.grand = Some(g);
                    if message {
                        stack
                            .send_disconnect(now, self.h, &words::encode_total(g))
                            .map_err(|e| format!("send_disconnect: {e}"))?;
                    } else {
                        let line = words::grand_line(g);
                        push(t, message, line);
                    }
                    t.hung_up = true;
                    t.finished = true;
                }
            }
        }
        Ok(())
    }

    /// Hands queued messages or line bytes to the stack; on a byte stream,
    /// the client's `shutdown(Write)` once its TOTAL line is out.
    fn txn_flush(&mut self, stack: &mut Stack, now: Instant) -> bool {
        let message = self.plan.message;
        let client = matches!(self.plan.txn, Some(TxnRole::Client { .. }));
        let mut did = false;
        loop {
            let t = self.txn.as_mut().expect("transaction state");
            let Some(front) = t.out.front() else { break };
            let chunk = &front[t.out_off..];
            match self.out.send(stack, now, self.h, message, chunk) {
                Ok(n) => {
                    did = true;
                    if n == chunk.len() {
                        t.out.pop_front();
                        t.out_off = 0;
                    } else {
                        t.out_off += n;
                    }
                }
                Err(Error::WouldBlock) => break,
                Err(e) => {
                    self.fail(stack, now, e);
                    return true;
                }
            }
        }
        let t = self.txn.as_mut().expect("transaction state");
        if !message && client && t.hung_up && t.out.is_empty() && !t.shut {
            t.shut = true;
            did = true;
            if let Err(e) = stack.shutdown(now, self.h, Shutdown::Write) {
                self.fail(stack, now, e);
            }
        }
        did
    }

    /// A failed check: report it and reset the connection (the peer must
    /// not take a wrong total for a finished exchange).
    fn txn_fail(&mut self, stack: &mut Stack, now: Instant, why: String) {
        tracing::warn!(peer = %self.peer, "transactions: {why}");
        self.app_error = Some(format!("Transactions: {why}"));
        let _ = stack.set_linger(self.h, Some(std::time::Duration::ZERO));
        let _ = stack.close(now, self.h);
        self.phase = Phase::Done;
    }
}

/// Queues a message, or a line (with its `\n`) on a byte stream.
fn push(t: &mut TxnState, message: bool, text: String) {
    let mut b = text.into_bytes();
    if !message {
        b.push(b'\n');
    }
    t.out.push_back(b);
}

/// The total the peer handed over as disconnect data (message mode).
fn disconnect_total(stack: &mut Stack, h: synfin::stack::SocketHandle) -> Result<u64, String> {
    let d = stack
        .recv_disconnect(h)
        .map_err(|e| format!("recv_disconnect: {e}"))?;
    words::decode_total(&d).ok_or_else(|| format!("disconnect data {d:?} is not a total"))
}
