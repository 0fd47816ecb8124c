//! What `synfin demo` and `synfin lifecycle` share: two simulated hosts (a
//! client stack and a server stack) joined by one impaired link, the
//! recording of their segments and state changes as ladder items, the
//! scenario's checks, the text report under the ladder, and printing it (or
//! the JSON summary) with the exit status.

use std::net::IpAddr;
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use synfin::links::{HostId, LinkModel, Network, PacketFate};
use synfin::stack::{Stack, StackConfig, Transition};

use super::ladder::{Item, Row, Seg, Side, What};

/// One of a scenario's own checks.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
}

pub fn check(name: &str, ok: bool) -> Check {
    Check {
        name: name.to_string(),
        ok,
    }
}

/// A client host and a server host on one link, with what they did.
pub struct TwoHosts {
    pub net: Network<Stack>,
    pub client: HostId,
    pub server: HostId,
    /// The ladder's raw material, in the order it was recorded.
    pub items: Vec<Item>,
}

impl TwoHosts {
    /// Two stacks with default configuration, seeded from `seed` (so a run
    /// replays exactly), recording their state transitions, with the link's
    /// packets traced and, with `pcap`, captured.
    pub fn new(
        seed: u64,
        client_ip: IpAddr,
        server_ip: IpAddr,
        link: LinkModel,
        pcap: Option<&Path>,
    ) -> Result<Self, String> {
        let mut net = Network::new(seed);
        let [client, server] = [(client_ip, 1), (server_ip, 2)].map(|(ip, salt)| {
            let mut s = Stack::new(
                StackConfig::default(),
                seed.wrapping_mul(2).wrapping_add(salt),
            );
            s.add_address(ip);
            s.record_transitions(true);
            net.add_host(&[ip], s)
        });
        net.link(client, server, link);
        net.enable_trace(true);
        if let Some(path) = pcap {
            net.capture(path)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(TwoHosts {
            net,
            client,
            server,
            items: Vec::new(),
        })
    }

    pub fn cli(&mut self) -> &mut Stack {
        self.net.host_mut(self.client)
    }

    pub fn srv(&mut self) -> &mut Stack {
        self.net.host_mut(self.server)
    }

    /// Records an application step at the current time.
    pub fn app(&mut self, side: Side, text: String) {
        self.items.push(Item {
            at: self.net.now(),
            side,
            what: What::App(text),
        });
    }

    /// The state transitions both hosts recorded since the last call,
    /// client's first. Callers turn them into items before calling
    /// [`TwoHosts::collect_segments`]: within one step a host takes a
    /// segment in (and changes state) before its answer is sent.
    pub fn take_transitions(&mut self) -> Vec<(Side, Transition)> {
        let mut out = Vec::new();
        for (side, host) in [(Side::Client, self.client), (Side::Server, self.server)] {
            out.extend(
                self.net
                    .host_mut(host)
                    .take_transitions()
                    .into_iter()
                    .map(|t| (side, t)),
            );
        }
        out
    }

    /// Moves the packets the link carried since the last call into the
    /// items.
    pub fn collect_segments(&mut self) {
        for r in self.net.take_trace() {
            let side = if r.from == self.client {
                Side::Client
            } else {
                Side::Server
            };
            let seg = synfin::wire::parse_tcp_packet(&r.bytes).ok().map(|p| Seg {
                flags: p.tcp.flags,
                seq: p.tcp.seq.0,
                ack: p.tcp.ack.0,
                len: p.tcp.payload.len(),
                window: p.tcp.window,
                options: p.tcp.options,
                conn: if side == Side::Client {
                    p.tcp.src_port
                } else {
                    p.tcp.dst_port
                },
            });
            self.items.push(Item {
                at: r.sent_at,
                side,
                what: What::Segment { seg, fate: r.fate },
            });
        }
    }

    /// Whether both hosts' socket, connection and TIME-WAIT tables are
    /// empty.
    pub fn tables_empty(&self) -> bool {
        [self.client, self.server].iter().all(|&h| {
            let s = self.net.host(h);
            s.socket_count() + s.connection_count() + s.time_wait_count() == 0
        })
    }

    pub fn virtual_seconds(&self) -> f64 {
        self.net.now().total_micros() as f64 / 1e6
    }
}

/// How many of the ladder's rows are retransmissions.
pub fn retransmissions(rows: &[Row]) -> usize {
    rows.iter()
        .filter(|r| r.text.contains("(retransmission)"))
        .count()
}

/// What the report says under the ladder.
pub struct Footer<'a> {
    pub seed: u64,
    pub loss: f64,
    /// Scenario-specific lines, printed before the checks.
    pub lines: &'a [String],
    pub checks: &'a [Check],
    pub errors: &'a [String],
}

impl TwoHosts {
    /// The rendered ladder followed by the segment counts, the footer's own
    /// lines, every check with ✓ or ✗, every error and the verdict.
    pub fn report(&self, ladder: String, rows: &[Row], f: &Footer<'_>) -> String {
        let mut text = ladder;
        text.push('\n');
        let segments = self
            .items
            .iter()
            .filter(|i| matches!(i.what, What::Segment { .. }))
            .count();
        let lost = self
            .items
            .iter()
            .filter(|i| {
                matches!(
                    i.what,
                    What::Segment {
                        fate: PacketFate::Lost,
                        ..
                    }
                )
            })
            .count();
        text.push_str(&format!(
            "{segments} segments, {lost} lost, {} retransmitted; {:.3} s of virtual time (seed {}, loss {})\n",
            retransmissions(rows),
            self.virtual_seconds(),
            f.seed,
            f.loss
        ));
        for l in f.lines {
            text.push_str(&format!("  {l}\n"));
        }
        for c in f.checks {
            text.push_str(&format!("  {} {}\n", if c.ok { "✓" } else { "✗" }, c.name));
        }
        for e in f.errors {
            text.push_str(&format!("  error: {e}\n"));
        }
        text.push_str(if f.checks.iter().all(|c| c.ok) {
            "all checks held\n"
        } else {
            "SOME CHECKS FAILED\n"
        });
        text
    }
}

/// Prints a scenario's outcome: the JSON summary with `json`, else the
/// text; exit 0 when every check held, 1 when one failed, 2 when the
/// scenario could not run.
pub fn print_outcome<S: Serialize>(
    json: bool,
    outcome: Result<(S, String), String>,
    ok: impl Fn(&S) -> bool,
) -> ExitCode {
    let (summary, text) = match outcome {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if json {
        match serde_json::to_string_pretty(&summary) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: could not encode the summary: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{text}");
    }
    if ok(&summary) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
