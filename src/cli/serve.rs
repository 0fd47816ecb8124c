//! `synfin serve`: a listener on a real link (TUN or UDP), serving each
//! connection in one of a few modes and reporting it as a JSON line.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use clap::Args;

use super::drive;
use synfin::stack::SocketHandle;

/// How often every connection is stepped whatever the stack reported.
const SWEEP: Duration = Duration::from_millis(100);
use super::link::LinkArgs;
use super::session::{parse_close, CloseHow, Plan, Session, TxnRole};

/// What the server does with each connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Send back everything until the peer's FIN, then close.
    Echo,
    /// Read everything until the peer's FIN, then close.
    Discard,
    /// Send this many bytes, then close (reading what arrives meanwhile,
    /// unless `--no-read`).
    Source(u64),
    /// The transaction-total protocol (docs/INTEROP.md, "Transactions").
    Transactions,
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    match s {
        "echo" => Ok(Mode::Echo),
        "discard" => Ok(Mode::Discard),
        "transactions" => Ok(Mode::Transactions),
        _ => {
            let n = s.strip_prefix("source=").ok_or_else(|| {
                format!("`{s}` is not echo, discard, source=BYTES or transactions")
            })?;
            parse_bytes(n).map(Mode::Source)
        }
    }
}

/// A byte count, with an optional K/M/G (binary) suffix: `4096`, `100M`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.as_bytes().last() {
        Some(b'K' | b'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 1 << 20),
        Some(b'G' | b'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a byte count (e.g. 4096, 64K, 100M)"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// Options of `synfin serve`.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub link: LinkArgs,
    /// TCP port to listen on (at synfin's address).
    #[arg(long)]
    pub port: u16,
    /// echo, discard, source=BYTES (K/M/G suffixes allowed) or
    /// transactions.
    #[arg(long, default_value = "echo", value_parser = parse_mode)]
    pub mode: Mode,
    /// How each connection is closed: graceful, abort, or linger=SECS.
    #[arg(long, default_value = "graceful", value_parser = parse_close)]
    pub close: CloseHow,
    /// Listen backlog (the accept queue's bound).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=65535))]
    pub backlog: u32,
    /// Exit after serving this many connections (default: serve forever).
    #[arg(long)]
    pub count: Option<u64>,
    /// In source mode, never read: what the peer sends stays unread, so the
    /// close resets the connection.
    #[arg(long)]
    pub no_read: bool,
    /// Wait this many milliseconds, reading nothing, before closing each
    /// connection.
    #[arg(long, default_value_t = 0)]
    pub hold_ms: u64,
    /// Message mode (TCP option 253, docs/message-mode.md): accept only
    /// clients that offer it; data moves as whole messages.
    #[arg(long)]
    pub message: bool,
    /// Do not hash the data (`sha256_in` / `sha256_out` are null): for
    /// throughput measurements, where SHA-256 costs more than TCP.
    #[arg(long)]
    pub no_hash: bool,
    /// Print one JSON line per connection (peer, bytes_in, bytes_out,
    /// sha256_in, sha256_out, peer_close, error).
    #[arg(long)]
    pub json: bool,
}

/// Runs `synfin serve`.
pub fn run(args: &ServeArgs) -> ExitCode {
    let (mut host, desc) = match args.link.open() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("synfin serve: {e}");
            return ExitCode::from(2);
        }
    };
    let addr = SocketAddr::new(args.link.ip(), args.port);
    let backlog = args.backlog as usize;
    let listened = if args.message {
        host.stack.listen_message(addr, backlog)
    } else {
        host.stack.listen(addr, backlog)
    };
    let listener = match listened {
        Ok(l) => l,
        Err(e) => {
            eprintln!("synfin serve: listen on {addr}: {e}");
            return ExitCode::from(2);
        }
    };
    let plan = Plan {
        send: match args.mode {
            Mode::Source(n) => n,
            _ => 0,
        },
        echo: args.mode == Mode::Echo,
        read: !(args.no_read && matches!(args.mode, Mode::Source(_))),
        wait_eof: matches!(args.mode, Mode::Echo | Mode::Discard),
        shutdown_write: false,
        hold: Duration::from_millis(args.hold_ms),
        close: args.close,
        message: args.message,
        hash: !args.no_hash,
        txn: (args.mode == Mode::Transactions).then(|| TxnRole::Server {
            grand: Rc::new(Cell::new(0)),
        }),
    };
    eprintln!("synfin: listening on {addr} over {desc}");
    let mut sessions: HashMap<SocketHandle, Session> = HashMap::new();
    let mut dirty: HashSet<SocketHandle> = HashSet::new();
    let mut last_sweep = synfin::time::Instant::ZERO;
    let mut accepted = 0u64;
    let mut listening = true;
    let mut buf = vec![0u8; 64 * 1024];
    let json = args.json;
    let r = drive::run(&mut host, |stack, now| {
        let mut did = false;
        // Step only the connections the stack has news for (and, as a
        // safety net, all of them every SWEEP), so a thousand idle
        // connections cost nothing per packet.
        while let Some((h, _)) = stack.poll_event() {
            dirty.insert(h);
        }
        while listening && args.count.is_none_or(|c| accepted < c) {
            match stack.accept(listener) {
                Ok((h, peer)) => {
                    accepted += 1;
                    sessions.insert(h, Session::accepted(h, peer, plan.clone()));
                    dirty.insert(h);
                    did = true;
                }
                Err(_) => break,
            }
        }
        let sweep = now.saturating_duration_since(last_sweep) >= SWEEP;
        if sweep {
            last_sweep = now;
        }
        let mut finished = Vec::new();
        for (h, s) in &mut sessions {
            let due = s.deadline().is_some_and(|t| t <= now);
            if sweep || due || dirty.contains(h) {
                did |= s.step(stack, now, &mut buf);
                if s.is_done() {
                    finished.push(*h);
                }
            }
        }
        dirty.clear();
        for h in finished {
            if let Some(s) = sessions.remove(&h) {
                report(&s, json);
            }
        }
        if listening && args.count.is_some_and(|c| accepted >= c) {
            // Served all we were asked to: stop listening, so later SYNs are
            // refused rather than left waiting.
            let _ = stack.close(now, listener);
            listening = false;
        }
        let done = !listening && sessions.is_empty();
        drive::Step {
            progressed: did,
            deadline: sessions
                .values()
                .filter_map(Session::deadline)
                .chain(Some(last_sweep + SWEEP))
                .min(),
            finished: done,
        }
    });
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("synfin serve: {e}");
            ExitCode::from(1)
        }
    }
}

/// Prints a finished connection's report.
pub fn report(s: &Session, json: bool) {
    let mut out = std::io::stdout().lock();
    let _ = if json {
        writeln!(out, "{}", s.report())
    } else {
        writeln!(out, "{}", s.summary())
    };
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_sizes() {
        assert_eq!(parse_mode("echo").unwrap(), Mode::Echo);
        assert_eq!(parse_mode("discard").unwrap(), Mode::Discard);
        assert_eq!(parse_mode("source=100M").unwrap(), Mode::Source(100 << 20));
        assert_eq!(parse_mode("transactions").unwrap(), Mode::Transactions);
        assert!(parse_mode("source=").is_err());
        assert!(parse_mode("sink").is_err());
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        assert_eq!(parse_bytes("64K").unwrap(), 65536);
        assert!(parse_bytes("99999999999999G").is_err());
    }
}
