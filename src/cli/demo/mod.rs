//! `synfin demo` (also what `cargo run --release` runs): the
//! transaction-total scenario, in message mode (docs/message-mode.md).
//!
//! N clients each run some transactions with one server — a message with an
//! amount, answered by a message with the running total — and hang up with
//! disconnect data:
//!
//! 1. a client calls `send_disconnect` with its transaction total;
//! 2. the server gets the CLOSE event, or a receive reporting
//!    `Disconnected`;
//! 3. it calls `recv_disconnect` to get the client's total;
//! 4. it adds it to the cumulative grand total of all clients;
//! 5. it calls `send_disconnect` with the grand total;
//!
//!    5'. it closes its socket — only after (5), with no timing relationship
//!    to (6)–(8);
//! 6. the client gets its CLOSE event;
//! 7. it calls `recv_disconnect` and stores the grand total;
//! 8. it closes.
//!
//! Totals travel as 8-byte big-endian integers. Clients that disconnect at
//! the same moment each get a grand total that includes their own and every
//! total the server took before it. The run checks all of it and draws the
//! ladder with the steps numbered.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;
use synfin::links::LinkModel;
use synfin::stack::{NetEvents, SocketHandle, Stack, Transition};
use synfin::time::Instant;

mod client;
mod report;
mod server;

use super::ladder::{self, Item, Side, What};
use super::twohost::{self, Check, TwoHosts};
use super::DemoArgs;

const CLIENT: &str = "198.18.0.1";
const SERVER: &str = "198.18.0.2:7000";
/// Virtual time after which the scenario gives up (TIME-WAIT alone is 60 s).
const LIMIT: Duration = Duration::from_secs(900);

/// One client in the JSON summary.
#[derive(Clone, Debug, Serialize)]
pub struct ClientSummary {
    pub name: String,
    pub local: Option<String>,
    pub transactions: usize,
    pub sent_total: u64,
    pub received_grand_total: Option<u64>,
}

/// What `--json` prints.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub ok: bool,
    pub seed: u64,
    pub loss: f64,
    pub duplicate: f64,
    pub reorder: f64,
    pub delay_ms: u64,
    pub virtual_seconds: f64,
    pub server: String,
    pub clients: Vec<ClientSummary>,
    pub server_grand_total: u64,
    /// The clients in the order the server took their totals (step 4).
    pub server_order: Vec<String>,
    pub packets_sent: u64,
    pub packets_lost: u64,
    pub retransmissions: usize,
    pub checks: Vec<Check>,
    pub ladder: Vec<ladder::Row>,
}

#[derive(Debug, PartialEq, Clone, Copy)]
enum ClientPhase {
    Connecting,
    Transacting,
    /// (1) done: waiting for the server's disconnect data.
    Disconnecting,
    Closed,
    Failed,
}

struct Client {
    name: String,
    h: SocketHandle,
    local: Option<SocketAddr>,
    amounts: Vec<u64>,
    /// Transactions sent and answered.
    sent: usize,
    acked: usize,
    phase: ClientPhase,
    message_mode: bool,
    received_grand_total: Option<u64>,
    /// Steps (6), (7), (8) as they happened, with the global step counter.
    steps: Vec<(&'static str, u64)>,
}

impl Client {
    fn total(&self) -> u64 {
        self.amounts.iter().sum()
    }
}

struct ServerConn {
    h: SocketHandle,
    /// Index into the clients, by the peer's port.
    client: Option<usize>,
    tally: u64,
    transactions: usize,
    message_mode: bool,
    received_total: Option<u64>,
    done: bool,
    steps: Vec<(&'static str, u64)>,
}

struct Demo {
    h: TwoHosts,
    clients: Vec<Client>,
    conns: Vec<ServerConn>,
    grand_total: u64,
    order: Vec<usize>,
    errors: Vec<String>,
    step_counter: u64,
}

pub fn run(args: &DemoArgs) -> ExitCode {
    twohost::print_outcome(args.json, scenario(args), |s: &Summary| s.ok)
}

/// Runs the scenario: the summary and the rendered ladder.
pub fn scenario(args: &DemoArgs) -> Result<(Summary, String), String> {
    let server_addr: SocketAddr = SERVER.parse().expect("constant address");
    let client_ip = CLIENT.parse().expect("constant address");
    let h = TwoHosts::new(
        args.seed,
        client_ip,
        server_addr.ip(),
        LinkModel::new()
            .delay(Duration::from_millis(args.delay_ms))
            .loss(args.loss)
            .duplicate(args.duplicate)
            .reorder(args.reorder, Duration::from_millis(5)),
        args.pcap.as_deref(),
    )?;
    let mut d = Demo {
        h,
        clients: Vec::new(),
        conns: Vec::new(),
        grand_total: 0,
        order: Vec::new(),
        errors: Vec::new(),
        step_counter: 0,
    };

    let listener = d
        .srv()
        .listen_message(server_addr, 64)
        .map_err(|e| format!("listen: {e}"))?;
    d.srv()
        .select_events(listener, NetEvents::ALL)
        .map_err(|e| format!("select: {e}"))?;
    d.app(
        Side::Server,
        format!("listen_message({server_addr}), events selected"),
    );
    // Amounts from the seed; client i runs 3 + i/2 transactions, so with
    // the default three clients the first two hang up at the same moment.
    let mut draw = Amounts::new(args.seed);
    for i in 0..usize::from(args.clients) {
        let amounts = draw.take(3 + i / 2);
        let now = d.h.net.now();
        let cs = d.cli();
        let h = cs.socket();
        let r = cs
            .select_events(h, NetEvents::ALL)
            .and_then(|_| cs.set_message_mode(h, true))
            .and_then(|_| cs.connect_from(now, h, server_addr));
        r.map_err(|e| format!("connect: {e}"))?;
        let local = d.cli().local_addr(h).ok();
        let name = format!("c{}", i + 1);
        d.app(
            Side::Client,
            format!("{name}: connect_message({server_addr})"),
        );
        d.clients.push(Client {
            name,
            h,
            local,
            amounts,
            sent: 0,
            acked: 0,
            phase: ClientPhase::Connecting,
            message_mode: false,
            received_grand_total: None,
            steps: Vec::new(),
        });
    }

    let deadline = Instant::ZERO + LIMIT;
    let mut time_wait_seen = false;
    loop {
        d.collect(&mut time_wait_seen);
        for i in 0..d.clients.len() {
            d.client_step(i);
        }
        d.server_step(listener);
        let clients_done = d
            .clients
            .iter()
            .all(|c| matches!(c.phase, ClientPhase::Closed | ClientPhase::Failed));
        let server_done = d.conns.len() == d.clients.len() && d.conns.iter().all(|c| c.done);
        let failed = d.clients.iter().any(|c| c.phase == ClientPhase::Failed);
        if clients_done && (server_done || failed) {
            let (cs, ss) = (d.h.net.host(d.h.client), d.h.net.host(d.h.server));
            if cs.socket_count() == 0
                && ss.socket_count() == 1
                && cs.time_wait_count() + ss.time_wait_count() == 0
                && cs.connection_count() + ss.connection_count() == 0
            {
                break;
            }
        }
        if d.h.net.now() > deadline || !d.h.net.step() {
            let phases: Vec<_> = d.clients.iter().map(|c| c.phase).collect();
            d.errors
                .push(format!("scenario did not finish (clients {phases:?})"));
            break;
        }
    }
    if time_wait_seen {
        d.app(
            Side::Client,
            "every TIME-WAIT record expired (2×MSL)".into(),
        );
    }
    let now = d.h.net.now();
    if let Err(e) = d.srv().close(now, listener) {
        d.errors.push(format!("closing the listener: {e}"));
    }
    d.app(Side::Server, "close(listener)".into());
    d.collect(&mut time_wait_seen);
    d.h.net
        .flush_capture()
        .map_err(|e| format!("writing the capture: {e}"))?;
    Ok(d.finish(args))
}

use super::transactions::{decode_total, encode_total, Amounts};

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

    fn step_no(&mut self) -> u64 {
        self.step_counter += 1;
        self.step_counter
    }

    /// Moves the packets and transitions recorded since the last call into
    /// the diagram.
    fn collect(&mut self, time_wait_seen: &mut bool) {
        let names: Vec<(u16, String)> = self.names();
        for (
            side,
            Transition {
                at,
                local,
                remote,
                from,
                to,
            },
        ) in self.h.take_transitions()
        {
            if to == synfin::tcp::State::TimeWait {
                *time_wait_seen = true;
            }
            let port = match side {
                Side::Client => Some(local.port()),
                Side::Server => remote.map(|r| r.port()),
            };
            let who = port
                .and_then(|p| names.iter().find(|(q, _)| *q == p))
                .map_or_else(|| "listener".to_string(), |(_, n)| n.clone());
            self.h.items.push(Item {
                at,
                side,
                what: What::ConnState {
                    conn: who,
                    from,
                    to,
                },
            });
        }
        self.h.collect_segments();
    }

    fn names(&self) -> Vec<(u16, String)> {
        self.clients
            .iter()
            .filter_map(|c| Some((c.local?.port(), c.name.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests;
