//! `synfin lifecycle`: a client and a server on a simulated link go through the
//! whole lifecycle — handshake, a request, the client's half-close, the
//! response, the server's graceful close, the client's close and its
//! TIME-WAIT — and the run checks that everything the application should see
//! it saw.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;
use synfin::links::LinkModel;
use synfin::stack::{Error, Event, Shutdown, SocketHandle, Stack, Transition};
use synfin::tcp::State;
use synfin::time::Instant;

use super::ladder::{self, Item, Row, Side, What};
use super::twohost::{self, check, Check, Footer, TwoHosts};
use super::LifecycleArgs;

const CLIENT: &str = "198.18.0.1";
const SERVER: &str = "198.18.0.2:80";
const REQUEST_LEN: usize = 3000;
const RESPONSE_LEN: usize = 8000;
/// Virtual time after which the scenario gives up (TIME-WAIT alone is 60 s).
const LIMIT: Duration = Duration::from_secs(600);

/// What `--json` prints.
#[derive(Debug, Serialize)]
struct Summary {
    ok: bool,
    seed: u64,
    loss: f64,
    delay_ms: u64,
    virtual_seconds: f64,
    client: String,
    server: String,
    packets_sent: u64,
    packets_lost: u64,
    retransmissions: usize,
    bytes_client_to_server: usize,
    bytes_server_to_client: usize,
    checks: Vec<Check>,
    ladder: Vec<Row>,
}

#[derive(Debug, PartialEq)]
enum ClientPhase {
    Connecting,
    Sending(usize),
    Reading,
    Closed,
    Failed,
}

#[derive(Debug, PartialEq)]
enum ServerPhase {
    Listening,
    Reading(SocketHandle),
    Responding(SocketHandle, usize),
    Closed,
    Failed,
}

struct Demo {
    h: TwoHosts,
    request: Vec<u8>,
    response: Vec<u8>,
    got_request: Vec<u8>,
    got_response: Vec<u8>,
    server_eof: bool,
    client_eof: bool,
    errors: Vec<String>,
    time_wait_seen: bool,
    time_wait_expired: bool,
    client_local: Option<SocketAddr>,
}

pub fn run(args: &LifecycleArgs) -> ExitCode {
    twohost::print_outcome(args.json, scenario(args), |s: &Summary| s.ok)
}

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
        .collect()
}

fn scenario(args: &LifecycleArgs) -> Result<(Summary, String), String> {
    let server_addr: SocketAddr = SERVER.parse().expect("constant address");
    let client_ip = CLIENT.parse().expect("constant address");
    let h = TwoHosts::new(
        args.seed,
        client_ip,
        server_addr.ip(),
        LinkModel::new()
            .delay(Duration::from_millis(args.delay_ms))
            .loss(args.loss),
        args.pcap.as_deref(),
    )?;
    let mut d = Demo {
        h,
        request: pattern(REQUEST_LEN, 7),
        response: pattern(RESPONSE_LEN, 91),
        got_request: Vec::new(),
        got_response: Vec::new(),
        server_eof: false,
        client_eof: false,
        errors: Vec::new(),
        time_wait_seen: false,
        time_wait_expired: false,
        client_local: None,
    };

    let listener = d
        .srv()
        .listen(server_addr, 8)
        .map_err(|e| format!("listen: {e}"))?;
    d.app(Side::Server, format!("listen({server_addr}, backlog 8)"));
    let now = d.h.net.now();
    let ch = d
        .cli()
        .connect(now, server_addr)
        .map_err(|e| format!("connect: {e}"))?;
    d.client_local = d.cli().local_addr(ch).ok();
    d.app(Side::Client, format!("connect({server_addr})"));

    let mut cp = ClientPhase::Connecting;
    let mut sp = ServerPhase::Listening;
    let deadline = Instant::ZERO + LIMIT;
    loop {
        d.collect();
        d.client_step(ch, &mut cp);
        d.server_step(listener, &mut sp);
        let client_done = matches!(cp, ClientPhase::Closed | ClientPhase::Failed);
        let server_done = matches!(sp, ServerPhase::Closed | ServerPhase::Failed);
        if client_done && server_done {
            let tw = d.cli().time_wait_count();
            if d.time_wait_seen && tw == 0 && !d.time_wait_expired {
                d.time_wait_expired = true;
                d.app(Side::Client, "TIME-WAIT record expired (2×MSL)".into());
            }
            if d.cli().socket_count() == 0 && d.srv().socket_count() == 1 && tw == 0 {
                break;
            }
        }
        if d.h.net.now() > deadline || !d.h.net.step() {
            d.errors
                .push(format!("scenario did not finish (phases {cp:?} / {sp:?})"));
            break;
        }
    }
    // The listener goes last; nothing is waiting in its queues by now.
    let now = d.h.net.now();
    if let Err(e) = d.srv().close(now, listener) {
        d.errors.push(format!("closing the listener: {e}"));
    }
    d.app(Side::Server, "close(listener)".into());
    d.collect();
    d.h.net
        .flush_capture()
        .map_err(|e| format!("writing the capture: {e}"))?;
    Ok(d.finish(args))
}

impl Demo {
    fn cli(&mut self) -> &mut Stack {
        self.h.cli()
    }

    fn srv(&mut self) -> &mut Stack {
        self.h.srv()
    }

    fn app(&mut self, side: Side, text: String) {
        self.h.app(side, text);
    }

    /// Moves the transitions and packets recorded since the last call into
    /// the diagram.
    fn collect(&mut self) {
        for (side, Transition { at, from, to, .. }) in self.h.take_transitions() {
            if side == Side::Client && to == State::TimeWait {
                self.time_wait_seen = true;
            }
            self.h.items.push(Item {
                at,
                side,
                what: What::State { from, to },
            });
        }
        self.h.collect_segments();
    }

    fn client_step(&mut self, ch: SocketHandle, phase: &mut ClientPhase) {
        let now = self.h.net.now();
        while let Some((_, ev)) = self.cli().poll_event() {
            if ev == Event::Connected && *phase == ClientPhase::Connecting {
                self.app(Side::Client, "connect completed".into());
                *phase = ClientPhase::Sending(0);
            }
        }
        if *phase == ClientPhase::Connecting {
            if let Ok(Some(e)) = self.cli().socket_error(ch) {
                self.fail_client(phase, format!("connect failed: {e}"));
            }
        }
        if let ClientPhase::Sending(sent) = *phase {
            let req = std::mem::take(&mut self.request);
            let r = self.cli().send(now, ch, &req[sent..]);
            self.request = req;
            match r {
                Ok(n) if sent + n == REQUEST_LEN => {
                    self.app(Side::Client, format!("send: {REQUEST_LEN} bytes queued"));
                    match self.cli().shutdown(now, ch, Shutdown::Write) {
                        Ok(()) => {
                            self.app(Side::Client, "shutdown(Write): FIN follows the data".into())
                        }
                        Err(e) => self.fail_client(phase, format!("shutdown: {e}")),
                    }
                    if *phase != ClientPhase::Failed {
                        *phase = ClientPhase::Reading;
                    }
                }
                Ok(n) => *phase = ClientPhase::Sending(sent + n),
                Err(Error::WouldBlock) => {}
                Err(e) => self.fail_client(phase, format!("send: {e}")),
            }
        }
        if *phase == ClientPhase::Reading {
            match read_all(
                self.h.net.host_mut(self.h.client),
                now,
                ch,
                &mut self.got_response,
            ) {
                Ok(true) => {
                    self.client_eof = true;
                    let n = self.got_response.len();
                    self.app(
                        Side::Client,
                        format!("read → end-of-stream after {n} bytes"),
                    );
                    match self.cli().close(now, ch) {
                        Ok(()) => self.app(Side::Client, "close()".into()),
                        Err(e) => self.errors.push(format!("client close: {e}")),
                    }
                    *phase = ClientPhase::Closed;
                }
                Ok(false) => {}
                Err(e) => self.fail_client(phase, format!("read: {e}")),
            }
        }
    }

    fn fail_client(&mut self, phase: &mut ClientPhase, msg: String) {
        self.app(Side::Client, msg.clone());
        self.errors.push(format!("client {msg}"));
        *phase = ClientPhase::Failed;
    }

    fn server_step(&mut self, listener: SocketHandle, phase: &mut ServerPhase) {
        let now = self.h.net.now();
        while self.srv().poll_event().is_some() {}
        if *phase == ServerPhase::Listening {
            if let Ok((h, peer)) = self.srv().accept(listener) {
                self.app(Side::Server, format!("accept() → {peer}"));
                *phase = ServerPhase::Reading(h);
            }
        }
        if let ServerPhase::Reading(h) = *phase {
            match read_all(
                self.h.net.host_mut(self.h.server),
                now,
                h,
                &mut self.got_request,
            ) {
                Ok(true) => {
                    self.server_eof = true;
                    let n = self.got_request.len();
                    self.app(
                        Side::Server,
                        format!("read → end-of-stream after {n} bytes"),
                    );
                    *phase = ServerPhase::Responding(h, 0);
                }
                Ok(false) => {}
                Err(e) => {
                    self.fail_server(phase, format!("read: {e}"));
                }
            }
        }
        if let ServerPhase::Responding(h, sent) = *phase {
            let resp = std::mem::take(&mut self.response);
            let r = self.srv().send(now, h, &resp[sent..]);
            self.response = resp;
            match r {
                Ok(n) if sent + n == RESPONSE_LEN => {
                    self.app(Side::Server, format!("send: {RESPONSE_LEN} bytes queued"));
                    match self.srv().close(now, h) {
                        Ok(()) => {
                            self.app(Side::Server, "close(): FIN after the queued data".into())
                        }
                        Err(e) => self.errors.push(format!("server close: {e}")),
                    }
                    *phase = ServerPhase::Closed;
                }
                Ok(n) => *phase = ServerPhase::Responding(h, sent + n),
                Err(Error::WouldBlock) => {}
                Err(e) => self.fail_server(phase, format!("send: {e}")),
            }
        }
    }

    fn fail_server(&mut self, phase: &mut ServerPhase, msg: String) {
        self.app(Side::Server, msg.clone());
        self.errors.push(format!("server {msg}"));
        *phase = ServerPhase::Failed;
    }

    fn finish(mut self, args: &LifecycleArgs) -> (Summary, String) {
        let server_closed = self.h.items.iter().any(|i| {
            i.side == Side::Server
                && matches!(
                    i.what,
                    What::State {
                        from: State::LastAck,
                        to: State::Closed
                    }
                )
        });
        let mut checks = vec![
            check(
                "handshake completed and the server accepted",
                self.h
                    .items
                    .iter()
                    .any(|i| matches!(&i.what, What::App(t) if t.starts_with("accept()"))),
            ),
            check(
                &format!("request arrived intact ({REQUEST_LEN} bytes)"),
                self.got_request == self.request,
            ),
            check(
                &format!("response arrived intact ({RESPONSE_LEN} bytes)"),
                self.got_response == self.response,
            ),
            check(
                "server read end-of-stream after the client's half-close",
                self.server_eof,
            ),
            check(
                "client read end-of-stream after the server's close",
                self.client_eof,
            ),
            check("server went LAST-ACK → CLOSED", server_closed),
            check(
                "client passed through TIME-WAIT and it expired",
                self.time_wait_seen && self.time_wait_expired,
            ),
            check("both socket tables empty at the end", self.h.tables_empty()),
        ];
        checks.push(check("no errors", self.errors.is_empty()));
        let ok = checks.iter().all(|c| c.ok);
        let stats = self.h.net.stats();
        let rows: Vec<Row> = ladder::rows(&mut self.h.items);
        let client = self
            .client_local
            .map_or_else(|| CLIENT.to_string(), |a| a.to_string());
        let ladder_text = ladder::render(
            &rows,
            &format!("client {client}"),
            &format!("server {SERVER}"),
        );
        let text = self.h.report(
            ladder_text,
            &rows,
            &Footer {
                seed: args.seed,
                loss: args.loss,
                lines: &[],
                checks: &checks,
                errors: &self.errors,
            },
        );
        let summary = Summary {
            ok,
            seed: args.seed,
            loss: args.loss,
            delay_ms: args.delay_ms,
            virtual_seconds: self.h.virtual_seconds(),
            client,
            server: SERVER.to_string(),
            packets_sent: stats.sent,
            packets_lost: stats.lost,
            retransmissions: twohost::retransmissions(&rows),
            bytes_client_to_server: self.got_request.len(),
            bytes_server_to_client: self.got_response.len(),
            checks,
            ladder: rows,
        };
        (summary, text)
    }
}

/// Reads everything available; `Ok(true)` at end-of-stream.
fn read_all(
    stack: &mut Stack,
    now: Instant,
    h: SocketHandle,
    out: &mut Vec<u8>,
) -> Result<bool, Error> {
    let mut buf = [0u8; 4096];
    loop {
        match stack.recv(now, h, &mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(Error::WouldBlock) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_passes_its_checks_without_loss() {
        let (summary, text) = scenario(&LifecycleArgs::default()).unwrap();
        assert!(summary.ok, "{text}");
        assert!(text.contains("TIME-WAIT"), "{text}");
        assert_eq!(summary.retransmissions, 0, "{text}");
    }

    #[test]
    fn demo_recovers_from_loss() {
        for seed in 1..=8 {
            let args = LifecycleArgs {
                loss: 0.2,
                seed,
                ..LifecycleArgs::default()
            };
            let (summary, text) = scenario(&args).unwrap();
            assert!(summary.ok, "seed {seed}:\n{text}");
        }
    }

    #[test]
    fn demo_is_deterministic() {
        let args = LifecycleArgs {
            loss: 0.1,
            seed: 7,
            ..LifecycleArgs::default()
        };
        let (_, a) = scenario(&args).unwrap();
        let (_, b) = scenario(&args).unwrap();
        assert_eq!(a, b);
    }
}
