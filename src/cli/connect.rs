//! `synfin connect`: one connection from synfin on a real link (TUN or UDP)
//! to a peer, reported as a JSON line.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::drive;
use super::link::LinkArgs;
use super::serve::{parse_bytes, report};
use super::session::{parse_close, CloseHow, Plan, Session, TxnRole};
use super::transactions::Amounts;

/// Options of `synfin connect`.
#[derive(Args, Debug, Clone)]
pub struct ConnectArgs {
    #[command(flatten)]
    pub link: LinkArgs,
    /// The peer to connect to.
    #[arg(long, value_name = "HOST:PORT")]
    pub to: SocketAddr,
    /// Bytes of generated data to send (K/M/G suffixes allowed).
    #[arg(long, default_value = "0", value_parser = parse_bytes)]
    pub send: u64,
    /// `shutdown(Write)` after sending everything.
    #[arg(long)]
    pub shutdown_write: bool,
    /// Read until the peer's FIN before closing (otherwise nothing is read,
    /// and data the peer sent makes the close a reset).
    #[arg(long)]
    pub read_all: bool,
    /// How the connection is closed: graceful, abort, or linger=SECS.
    #[arg(long, default_value = "graceful", value_parser = parse_close)]
    pub close: CloseHow,
    /// Wait this many milliseconds, reading nothing, before closing.
    #[arg(long, default_value_t = 0)]
    pub hold_ms: u64,
    /// bytes (send `--send` bytes, read with `--read-all`) or transactions
    /// (the transaction-total protocol, docs/INTEROP.md).
    #[arg(long, default_value = "bytes", value_parser = ["bytes", "transactions"])]
    pub mode: String,
    /// With `--mode transactions`: how many transactions (amounts 1 to 999
    /// drawn from `--seed`).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub transactions: u32,
    /// Message mode (TCP option 253, docs/message-mode.md): the connect
    /// fails unless the peer agrees; data moves as whole messages.
    #[arg(long)]
    pub message: bool,
    /// Do not hash the data (`sha256_in` / `sha256_out` are null): for
    /// throughput measurements, where SHA-256 costs more than TCP.
    #[arg(long)]
    pub no_hash: bool,
    /// Print one JSON line for the connection (peer, bytes_in, bytes_out,
    /// sha256_in, sha256_out, peer_close, error).
    #[arg(long)]
    pub json: bool,
}

/// The amounts of `n` transactions, 1 to 999 each, from `seed`.
fn amounts(seed: u64, n: u32) -> Vec<u64> {
    Amounts::new(seed).take(n as usize)
}

/// Runs `synfin connect`; exits 0 only if the connection ended without
/// error.
pub fn run(args: &ConnectArgs) -> ExitCode {
    let (mut host, desc) = match args.link.open() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("synfin connect: {e}");
            return ExitCode::from(2);
        }
    };
    let now = host.now();
    let connected = if args.message {
        host.stack.connect_message(now, args.to)
    } else {
        host.stack.connect(now, args.to)
    };
    let h = match connected {
        Ok(h) => h,
        Err(e) => {
            eprintln!("synfin connect: {}: {e}", args.to);
            return ExitCode::from(2);
        }
    };
    eprintln!("synfin: connecting to {} over {desc}", args.to);
    let plan = Plan {
        send: args.send,
        echo: false,
        read: args.read_all,
        wait_eof: args.read_all,
        shutdown_write: args.shutdown_write,
        hold: Duration::from_millis(args.hold_ms),
        close: args.close,
        message: args.message,
        hash: !args.no_hash,
        txn: (args.mode == "transactions").then(|| TxnRole::Client {
            amounts: amounts(args.link.seed.unwrap_or(now_seed()), args.transactions),
        }),
    };
    let mut session = Session::connecting(h, args.to, plan);
    let mut reported = false;
    let mut buf = vec![0u8; 64 * 1024];
    let json = args.json;
    let r = drive::run(&mut host, |stack, now| {
        // Events only say "look again"; this loop looks every time.
        while stack.poll_event().is_some() {}
        let did = session.step(stack, now, &mut buf);
        if session.is_done() && !reported {
            reported = true;
            report(&session, json);
        }
        drive::Step {
            progressed: did,
            deadline: session.deadline(),
            finished: session.is_done(),
        }
    });
    match r {
        Ok(()) if session.ok() => ExitCode::SUCCESS,
        Ok(()) => ExitCode::from(1),
        Err(e) => {
            eprintln!("synfin connect: {e}");
            ExitCode::from(1)
        }
    }
}

/// A seed that differs from run to run (when `--seed` is not given).
fn now_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::amounts;

    #[test]
    fn amounts_are_seeded_and_in_range() {
        let a = amounts(5, 50);
        assert_eq!(a, amounts(5, 50));
        assert_ne!(a, amounts(6, 50));
        assert!(a.iter().all(|&x| (1..=999).contains(&x)));
    }
}
