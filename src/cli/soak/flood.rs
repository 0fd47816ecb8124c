//! `synfin soak --flood`: spoofed SYNs at a listener (100 000 a second by
//! default) while 100 legitimate clients — 10 hosts × 10 connections, over
//! links with 10 ms delay and 1 % loss — connect during the flood and each
//! send a 300-byte request. Passes if every client is accepted with its
//! request intact and the server's memory stays bounded.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;
use synfin::links::attack::{Node, SynFlood};
use synfin::links::{HostId, LinkModel, Network};
use synfin::stack::{MemoryUsage, SocketHandle, Stack, StackConfig, StackStats};
use synfin::tcp::State;
use synfin::time::Instant;

use super::SoakArgs;

const BACKLOG: usize = 128;
const HOSTS: usize = 10;
const PER_HOST: usize = 10;
const REQUEST: usize = 300;
/// The bound the server's tables (buffers aside) must stay under: a full
/// SYN queue, 100 connections, the control queue.
const TABLES_BOUND: usize = 256 * 1024;

#[derive(Debug, Serialize)]
struct FloodSummary {
    ok: bool,
    spoofed_syns: u64,
    flood_seconds: u64,
    rate_per_second: u64,
    legitimate: usize,
    legitimate_accepted: usize,
    legitimate_intact: usize,
    /// Virtual seconds from the first connect to the last accept.
    seconds_to_serve_all: f64,
    peak_memory: usize,
    peak_tables: usize,
    peak_breakdown: MemoryUsage,
    server: StackStats,
}

fn stack(net: &mut Network<Node>, id: HostId) -> Option<&mut Stack> {
    net.host_mut(id).stack_mut()
}

fn request(host: usize, h: SocketHandle) -> Vec<u8> {
    format!("{host}/{h};")
        .bytes()
        .cycle()
        .take(REQUEST)
        .collect()
}

pub fn run(args: &SoakArgs) -> ExitCode {
    let Some(s) = simulate(args.flood_rate, args.flood_seconds) else {
        eprintln!("soak --flood: the simulation could not be set up");
        return ExitCode::FAILURE;
    };
    if args.json {
        match serde_json::to_string_pretty(&s) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("soak --flood: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        println!(
            "flood: {} spoofed SYNs over {} s ({}/s); legitimate clients accepted {}/{} (requests intact {}), all served {:.3} s after the first connect",
            s.spoofed_syns,
            s.flood_seconds,
            s.rate_per_second,
            s.legitimate_accepted,
            s.legitimate,
            s.legitimate_intact,
            s.seconds_to_serve_all
        );
        println!(
            "  server: {} SYN cookies sent, {} accepted, {} rejected; peak memory {} B (tables {} B)",
            s.server.syn_cookies_sent,
            s.server.syn_cookies_accepted,
            s.server.syn_cookies_rejected,
            s.peak_memory,
            s.peak_tables
        );
        println!("  {}", if s.ok { "ok" } else { "FAILED" });
    }
    if s.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn simulate(rate: u64, seconds: u64) -> Option<FloodSummary> {
    let mut net: Network<Node> = Network::new(42);
    let server_ip: IpAddr = "198.18.0.2".parse().ok()?;
    let addr = SocketAddr::new(server_ip, 80);
    let mut server = Stack::new(StackConfig::default(), 2);
    server.add_address(server_ip);
    let s = net.add_host(&[server_ip], Node::Stack(Box::new(server)));
    let flood_end = Instant::from_secs(seconds.max(1));
    let flood = SynFlood::new(9, addr, rate).until(flood_end);
    let f = net.add_host(&[], Node::Flood(Box::new(flood)));
    net.link(f, s, LinkModel::new().delay(Duration::from_millis(2)));
    let mut clients = Vec::new();
    for i in 0..HOSTS {
        let ip: IpAddr = format!("198.18.1.{}", i + 1).parse().ok()?;
        let mut st = Stack::new(StackConfig::default(), 100 + i as u64);
        st.add_address(ip);
        let id = net.add_host(&[ip], Node::Stack(Box::new(st)));
        net.link(
            id,
            s,
            LinkModel::new().delay(Duration::from_millis(10)).loss(0.01),
        );
        clients.push(id);
    }
    let l = stack(&mut net, s)?.listen(addr, BACKLOG).ok()?;
    // Clients connect through the middle of the flood, one every
    // flood/200, starting once the SYN queue is full.
    let start = Instant::from_millis(50);
    let spacing = Duration::from_micros(seconds.max(1) * 1_000_000 / 200);
    let mut conns: Vec<(usize, SocketHandle, usize)> = Vec::new();
    let mut accepted: Vec<(SocketHandle, Vec<u8>)> = Vec::new();
    let (mut peak, mut peak_total) = (MemoryUsage::default(), 0);
    let mut served_at = None;
    let deadline = flood_end + Duration::from_secs(60);
    let total = HOSTS * PER_HOST;
    net.run_until(start);
    while net.now() < deadline {
        let now = net.now();
        while conns.len() < total && now >= start + spacing * conns.len() as u32 {
            let i = conns.len() % HOSTS;
            let h = stack(&mut net, clients[i])?.connect(now, addr).ok()?;
            conns.push((i, h, 0));
        }
        for (i, h, sent) in conns.iter_mut() {
            let st = stack(&mut net, clients[*i])?;
            if *sent < REQUEST && st.state(*h) == Ok(State::Established) {
                if let Ok(n) = st.send(now, *h, &request(*i, *h)[*sent..]) {
                    *sent += n;
                }
            }
        }
        let st = stack(&mut net, s)?;
        while let Ok((h, _)) = st.accept(l) {
            accepted.push((h, Vec::new()));
        }
        let mut buf = [0u8; 2048];
        for (h, got) in accepted.iter_mut() {
            while let Ok(n) = st.recv(now, *h, &mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
        }
        let m = st.memory_usage();
        if m.total() > peak_total {
            peak_total = m.total();
            peak = m;
        }
        if served_at.is_none()
            && accepted.len() == total
            && accepted.iter().all(|(_, g)| g.len() == REQUEST)
        {
            served_at = Some(now);
        }
        if served_at.is_some() && now >= flood_end {
            break;
        }
        net.run_for(Duration::from_millis(1));
    }
    let spoofed = match net.host(f) {
        Node::Flood(fl) => fl.sent(),
        Node::Stack(_) => 0,
    };
    let mut want: Vec<Vec<u8>> = conns.iter().map(|(i, h, _)| request(*i, *h)).collect();
    want.sort();
    let mut have: Vec<Vec<u8>> = accepted.iter().map(|(_, g)| g.clone()).collect();
    have.sort();
    let intact = have
        .iter()
        .filter(|g| want.binary_search(g).is_ok())
        .count();
    let server = stack(&mut net, s)?.stats();
    let ok = accepted.len() == total && intact == total && peak.without_buffers() <= TABLES_BOUND;
    Some(FloodSummary {
        ok,
        spoofed_syns: spoofed,
        flood_seconds: seconds,
        rate_per_second: rate,
        legitimate: total,
        legitimate_accepted: accepted.len(),
        legitimate_intact: intact,
        seconds_to_serve_all: served_at.map_or(f64::NAN, |t| {
            t.saturating_duration_since(start).as_secs_f64()
        }),
        peak_memory: peak_total,
        peak_tables: peak.without_buffers(),
        peak_breakdown: peak,
        server,
    })
}
