//! A SYN flood in the simulator: 100 000 spoofed SYNs per second against a
//! listener while 100 legitimate clients (10 hosts × 10 connections)
//! connect and each send a request. All 100 must be accepted with their
//! bytes intact, and the server's memory must stay bounded: the SYN queue
//! never grows past the backlog, every SYN beyond it is answered with a
//! cookie and costs nothing afterwards.
//!
//! The flood lasts 0.3 s of virtual time here (30 000 SYNs) so the test is
//! quick in a debug build; `synfin soak --flood` runs the same scenario for
//! longer (docs/RELIABILITY.md has its figures).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use synfin::links::attack::{Node, SynFlood};
use synfin::links::{HostId, LinkModel, Network};
use synfin::stack::{Error, SocketHandle, Stack, StackConfig};
use synfin::tcp::State;
use synfin::time::Instant;

const RATE: u64 = 100_000;
const FLOOD: Duration = Duration::from_millis(300);
const BACKLOG: usize = 128;
const HOSTS: usize = 10;
const PER_HOST: usize = 10;
const REQUEST: usize = 300;

fn stack_of(net: &mut Network<Node>, id: HostId) -> &mut Stack {
    net.host_mut(id).stack_mut().unwrap()
}

#[test]
fn legitimate_clients_all_connect_through_a_syn_flood_and_memory_stays_bounded() {
    let mut net: Network<Node> = Network::new(42);
    let server_ip: IpAddr = "198.18.0.2".parse().unwrap();
    let addr = SocketAddr::new(server_ip, 80);
    let mut server = Stack::new(StackConfig::default(), 2);
    server.add_address(server_ip);
    let s = net.add_host(&[server_ip], Node::Stack(Box::new(server)));
    let flood = SynFlood::new(9, addr, RATE).until(Instant::ZERO + FLOOD);
    let f = net.add_host(&[], Node::Flood(Box::new(flood)));
    net.link(f, s, LinkModel::new().delay(Duration::from_millis(2)));
    let mut clients = Vec::new();
    for i in 0..HOSTS {
        let ip: IpAddr = format!("198.18.1.{}", i + 1).parse().unwrap();
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
    let l = stack_of(&mut net, s).listen(addr, BACKLOG).unwrap();

    // The flood fills the SYN queue first; the clients start 50 ms in, one
    // connection every 3 ms.
    net.run_until(Instant::from_millis(50));
    let mut conns: Vec<(HostId, SocketHandle, usize)> = Vec::new();
    let mut accepted: Vec<(SocketHandle, Vec<u8>)> = Vec::new();
    let mut peak = synfin::stack::MemoryUsage::default();
    let mut peak_total = 0;
    let deadline = Instant::from_secs(20);
    let mut next_connect = 0;
    while net.now() < deadline {
        let now = net.now();
        if next_connect < HOSTS * PER_HOST
            && now >= Instant::from_millis(50 + 2 * next_connect as u64)
        {
            let id = clients[next_connect % HOSTS];
            let h = stack_of(&mut net, id).connect(now, addr).unwrap();
            conns.push((id, h, 0));
            next_connect += 1;
        }
        for (id, h, sent) in conns.iter_mut() {
            let st = stack_of(&mut net, *id);
            if *sent < REQUEST && st.state(*h) == Ok(State::Established) {
                let msg = request(*h);
                if let Ok(n) = st.send(now, *h, &msg[*sent..]) {
                    *sent += n;
                }
            }
        }
        let st = stack_of(&mut net, s);
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
        let done = accepted.len() == HOSTS * PER_HOST
            && accepted.iter().all(|(_, g)| g.len() == REQUEST)
            && net.now() > Instant::ZERO + FLOOD;
        if done {
            break;
        }
        net.run_for(Duration::from_millis(1));
    }
    let stats = stack_of(&mut net, s).stats();
    let sent = match net.host(f) {
        Node::Flood(fl) => fl.sent(),
        Node::Stack(_) => unreachable!(),
    };
    eprintln!(
        "flood: {sent} spoofed SYNs in {FLOOD:?}; {} of {} legitimate connections accepted by {}; \
         cookies sent {} accepted {}; peak server memory {peak_total} B ({peak:?})",
        accepted.len(),
        HOSTS * PER_HOST,
        net.now(),
        stats.syn_cookies_sent,
        stats.syn_cookies_accepted,
    );
    assert!(sent >= RATE * FLOOD.as_millis() as u64 / 1000 - 1);
    assert_eq!(
        accepted.len(),
        HOSTS * PER_HOST,
        "every legitimate client got in"
    );
    for (_, got) in &accepted {
        assert_eq!(got.len(), REQUEST);
    }
    // Every request arrived intact on a connection to the client that sent it.
    let mut want: Vec<Vec<u8>> = conns.iter().map(|(_, h, _)| request(*h)).collect();
    let mut have: Vec<Vec<u8>> = accepted.into_iter().map(|(_, g)| g).collect();
    want.sort();
    have.sort();
    assert_eq!(want, have, "requests intact");
    assert!(stats.syn_cookies_accepted >= 1, "the flood forced cookies");
    // Bounded memory: the SYN queue never exceeds the backlog (~100 B an
    // entry); the cookies cost nothing; the control queue is drained.
    assert!(
        peak.listeners <= 64 * 1024,
        "listener queues at most the backlog: {peak:?}"
    );
    assert!(peak.control <= 64 * 1024, "{peak:?}");
    assert!(
        peak.without_buffers() <= 256 * 1024,
        "tables stay small: {peak:?}"
    );
    assert_eq!(
        stack_of(&mut net, s).accept(l),
        Err(Error::WouldBlock),
        "no spoofed connection was ever accepted"
    );
}

/// The request a client connection sends: unique per handle and host.
fn request(h: SocketHandle) -> Vec<u8> {
    let tag = format!("{h}");
    tag.bytes().cycle().take(REQUEST).collect()
}
