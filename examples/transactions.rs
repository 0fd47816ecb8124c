//! The transaction-total scenario (what `synfin demo` runs on the sans-IO
//! stack) through the public blocking API, one thread per client and per
//! server connection, over a simulated link driven in real time.
//!
//! Each client connects in message mode, runs a few transactions (a message
//! `TXN n amount`, answered by the running total), and then:
//!
//! 1. calls `send_disconnect` with its total (8 bytes, big-endian);
//! 2. the server's receive reports `Disconnected`;
//! 3. the server's `recv_disconnect` returns the client's total;
//! 4. the server adds it to the grand total of all clients;
//! 5. the server calls `send_disconnect` with the grand total;
//!
//!    5'. and only then closes its socket;
//! 6. the client gets its CLOSE network event;
//! 7. its `recv_disconnect` returns the grand total;
//! 8. it closes.
//!
//! `cargo run --example transactions`

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use synfin::api::{stack_error, Runtime, TcpListener, TcpStream};
use synfin::links::LinkModel;
use synfin::stack::{Error, NetEvents};

const CLIENTS: u64 = 3;
const SERVER: &str = "198.18.0.2:7000";

fn total_bytes(v: u64) -> [u8; 8] {
    v.to_be_bytes()
}

fn total_of(b: &[u8]) -> io::Result<u64> {
    let a: [u8; 8] = b
        .try_into()
        .map_err(|_| io::Error::other(format!("disconnect data of {} bytes", b.len())))?;
    Ok(u64::from_be_bytes(a))
}

/// The server's cumulative state: the grand total and, in order, the
/// clients (by address) whose totals it took.
#[derive(Default)]
struct Books {
    grand_total: u64,
    order: Vec<(SocketAddr, u64)>,
}

fn serve(
    s: TcpStream,
    peer: SocketAddr,
    books: &Mutex<Books>,
    t: &dyn Fn() -> String,
) -> io::Result<()> {
    let mut tally = 0u64;
    let mut buf = [0u8; 128];
    loop {
        match s.recv_message(&mut buf) {
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let amount: u64 = text
                    .rsplit(' ')
                    .next()
                    .and_then(|a| a.parse().ok())
                    .ok_or_else(|| io::Error::other(format!("bad transaction {text:?}")))?;
                tally += amount;
                s.send_message(format!("OK {tally}").as_bytes())?;
            }
            Err(e) if stack_error(&e) == Some(Error::Disconnected) => {
                println!("{} server: {peer}: (2) receive reported Disconnected", t());
                break;
            }
            Err(e) => return Err(e),
        }
    }
    let total = total_of(&s.recv_disconnect()?)?;
    println!(
        "{} server: {peer}: (3) recv_disconnect → total {total}",
        t()
    );
    if total != tally {
        return Err(io::Error::other(format!(
            "{peer} reported {total}, its transactions add up to {tally}"
        )));
    }
    {
        // (4) and (5) under one lock: the grand total each client gets
        // includes its own and every total taken before it.
        let mut b = books.lock().unwrap_or_else(|e| e.into_inner());
        b.grand_total += total;
        let g = b.grand_total;
        b.order.push((peer, g));
        println!("{} server: {peer}: (4) grand total += {total} → {g}", t());
        s.send_disconnect(&total_bytes(g))?;
        println!(
            "{} server: {peer}: (5) send_disconnect(grand total {g})",
            t()
        );
    }
    let mut s = s;
    s.close()?;
    println!("{} server: {peer}: (5') close()", t());
    Ok(())
}

fn client(
    node: &synfin::api::Node,
    i: u64,
    t: &dyn Fn() -> String,
) -> io::Result<(SocketAddr, u64, u64)> {
    let mut c = TcpStream::connect_message(node, SERVER)?;
    let me = c.local_addr()?;
    c.select_events(NetEvents::CLOSE)?;
    println!(
        "{} client {me}: connected (message mode: {})",
        t(),
        c.is_message_mode()?
    );
    let amounts: Vec<u64> = (0..3 + i).map(|j| 100 * (i + 1) + 7 * j).collect();
    let mut buf = [0u8; 64];
    for (j, a) in amounts.iter().enumerate() {
        c.send_message(format!("TXN {} {a}", j + 1).as_bytes())?;
        let n = c.recv_message(&mut buf)?;
        let _ = &buf[..n];
    }
    let total: u64 = amounts.iter().sum();
    c.send_disconnect(&total_bytes(total))?;
    println!("{} client {me}: (1) send_disconnect(total {total})", t());
    loop {
        let ev = c.wait_network_events(Some(Duration::from_secs(30)))?;
        if ev.events.contains(NetEvents::CLOSE) {
            if let Some(e) = ev.error(NetEvents::CLOSE) {
                return Err(e.into());
            }
            break;
        }
        if ev.is_empty() {
            return Err(io::Error::other("no CLOSE event within 30 s"));
        }
    }
    println!("{} client {me}: (6) CLOSE event", t());
    let grand = total_of(&c.recv_disconnect()?)?;
    println!(
        "{} client {me}: (7) recv_disconnect → grand total {grand}",
        t()
    );
    c.close()?;
    println!("{} client {me}: (8) close()", t());
    Ok((me, total, grand))
}

fn main() -> io::Result<()> {
    let ips = ["198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap()];
    let model = LinkModel::new().delay(Duration::from_millis(5));
    let (_rt, nodes) = Runtime::simulated(1, model, &ips);
    let start = Instant::now();
    let t = move || format!("{:>7.1} ms", start.elapsed().as_secs_f64() * 1e3);

    let listener = TcpListener::bind_message(&nodes[1], SERVER)?;
    let books = Arc::new(Mutex::new(Books::default()));
    let server = {
        let books = Arc::clone(&books);
        std::thread::spawn(move || -> io::Result<()> {
            let mut handlers = Vec::new();
            for _ in 0..CLIENTS {
                let (s, peer) = listener.accept()?;
                let books = Arc::clone(&books);
                handlers.push(std::thread::spawn(move || serve(s, peer, &books, &t)));
            }
            for h in handlers {
                h.join()
                    .map_err(|_| io::Error::other("a server thread panicked"))??;
            }
            Ok(())
        })
    };
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let node = nodes[0].clone();
            std::thread::spawn(move || client(&node, i, &t))
        })
        .collect();
    let mut results = Vec::new();
    for c in clients {
        results.push(
            c.join()
                .map_err(|_| io::Error::other("a client thread panicked"))??,
        );
    }
    server
        .join()
        .map_err(|_| io::Error::other("the server thread panicked"))??;

    // The checks: each client's grand total is what the server had summed
    // when it took that client's total, and the last one is the sum of all.
    let b = books.lock().unwrap_or_else(|e| e.into_inner());
    let sum: u64 = results.iter().map(|r| r.1).sum();
    let mut ok = b.grand_total == sum;
    for (me, total, grand) in &results {
        let expected = b.order.iter().find(|(p, _)| p == me).map(|o| o.1);
        println!("client {me}: total {total}, grand total {grand} (server: {expected:?})");
        ok &= expected == Some(*grand);
    }
    println!(
        "server grand total {} (sum of the totals {sum})",
        b.grand_total
    );
    if !ok {
        return Err(io::Error::other("the totals do not add up"));
    }
    println!("all checks held");
    Ok(())
}
