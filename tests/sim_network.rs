//! Behaviour of the simulated network, driven by a tiny scripted host.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use synfin::links::{Fault, Host, HostId, LinkModel, Network, PacketFate, TraceRecord};
use synfin::time::Instant;

/// Sends queued packets (some only once their time has come), records what
/// it receives, and optionally echoes it back with addresses swapped.
#[derive(Default)]
struct TestHost {
    outbox: VecDeque<Vec<u8>>,
    /// Packets to send at a given time, via the host's timer.
    later: VecDeque<(Instant, Vec<u8>)>,
    received: Vec<(Instant, Vec<u8>)>,
    fired: Vec<Instant>,
    echo: bool,
}

impl Host for TestHost {
    fn receive(&mut self, now: Instant, packet: &[u8]) {
        self.received.push((now, packet.to_vec()));
        if self.echo {
            let mut reply = packet.to_vec();
            if reply.len() >= 20 {
                let (src, dst) = reply[12..20].split_at_mut(4);
                src.swap_with_slice(dst);
            }
            self.outbox.push_back(reply);
        }
    }
    fn transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
        let p = self.outbox.pop_front()?;
        buf[..p.len()].copy_from_slice(&p);
        Some(p.len())
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.later.front().map(|(t, _)| *t)
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.fired.push(now);
        while self.later.front().is_some_and(|(t, _)| *t <= now) {
            let (_, p) = self.later.pop_front().unwrap();
            self.outbox.push_back(p);
        }
    }
}

const A: [u8; 4] = [10, 0, 0, 1];
const B: [u8; 4] = [10, 0, 0, 2];

/// An IPv4-header-shaped packet of `len` bytes (≥ 20) with `id` in the
/// identification field.
fn pkt(src: [u8; 4], dst: [u8; 4], id: u16, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len.max(20)];
    p[0] = 0x45;
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p
}

fn id_of(p: &[u8]) -> u16 {
    u16::from_be_bytes([p[4], p[5]])
}

fn ip(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn pair(seed: u64, model: LinkModel) -> (Network<TestHost>, HostId, HostId) {
    let mut net = Network::new(seed);
    let a = net.add_host(&[ip(A)], TestHost::default());
    let b = net.add_host(&[ip(B)], TestHost::default());
    net.link(a, b, model);
    (net, a, b)
}

fn queue(net: &mut Network<TestHost>, from: HostId, n: u16, len: usize) {
    let (src, dst) = if from.0 == 0 { (A, B) } else { (B, A) };
    for id in 0..n {
        net.host_mut(from).outbox.push_back(pkt(src, dst, id, len));
    }
}

fn received_ids(net: &Network<TestHost>, h: HostId) -> Vec<u16> {
    net.host(h).received.iter().map(|(_, p)| id_of(p)).collect()
}

#[test]
fn delivery_after_exactly_delay_and_echo() {
    let (mut net, a, b) = pair(1, LinkModel::new().delay(Duration::from_millis(10)));
    net.host_mut(b).echo = true;
    queue(&mut net, a, 1, 60);
    while net.step() {}
    assert_eq!(net.host(b).received[0].0, Instant::from_millis(10));
    assert_eq!(net.host(a).received[0].0, Instant::from_millis(20));
    assert_eq!(net.host(a).received[0].1[12..16], B);
    assert_eq!(net.now(), Instant::from_millis(20));
    let s = net.stats();
    assert_eq!((s.sent, s.delivered, s.dropped, s.lost), (2, 2, 0, 0));
    // Idle: step reports nothing to do and leaves the clock alone.
    assert!(!net.step());
    assert_eq!(net.now(), Instant::from_millis(20));
}

#[test]
fn bandwidth_serializes_and_drop_tail() {
    // 1000 bytes at 8 Mbit/s take 1 ms; the queue holds 2.5 packets.
    let model = LinkModel::new().bandwidth(8_000_000).queue_limit(2500);
    let (mut net, a, b) = pair(1, model);
    queue(&mut net, a, 3, 1000);
    net.run_until(Instant::from_secs(1));
    let times: Vec<_> = net.host(b).received.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, [Instant::from_millis(2), Instant::from_millis(3)]);
    assert_eq!(net.stats().dropped_queue, 1);
    assert_eq!(net.stats().dropped, 1);
    // The other direction has its own, idle queue.
    queue(&mut net, b, 1, 1000);
    net.run_for(Duration::from_millis(10));
    assert_eq!(
        net.host(a).received[0].0,
        Instant::from_secs(1) + Duration::from_millis(2)
    );
}

#[test]
fn loss_one_drops_all_loss_zero_none() {
    let (mut net, a, b) = pair(3, LinkModel::new().loss(1.0));
    queue(&mut net, a, 50, 40);
    net.run_for(Duration::from_secs(1));
    assert!(net.host(b).received.is_empty());
    assert_eq!(net.stats().lost, 50);

    let (mut net, a, b) = pair(3, LinkModel::new().loss(0.0));
    queue(&mut net, a, 50, 40);
    net.run_for(Duration::from_secs(1));
    assert_eq!(received_ids(&net, b), (0..50).collect::<Vec<_>>());
    assert_eq!(net.stats().lost, 0);
}

fn faulty_run(seed: u64) -> Vec<TraceRecord> {
    let model = LinkModel::new()
        .loss(0.2)
        .duplicate(0.1)
        .reorder(0.1, Duration::from_millis(3))
        .corrupt(0.1)
        .jitter(Duration::from_millis(2));
    let (mut net, a, b) = pair(seed, model);
    net.enable_trace(true);
    net.host_mut(b).echo = true;
    queue(&mut net, a, 100, 64);
    net.run_for(Duration::from_secs(1));
    net.take_trace()
}

/// The fields of a trace record that must match between identical runs.
type Summary = (Instant, Option<Instant>, HostId, PacketFate, Vec<u8>);

fn summary(t: &[TraceRecord]) -> Vec<Summary> {
    t.iter()
        .map(|r| (r.sent_at, r.arrives_at, r.from, r.fate, r.bytes.clone()))
        .collect()
}

#[test]
fn same_seed_same_run_different_seed_different_run() {
    let one = summary(&faulty_run(42));
    assert_eq!(one, summary(&faulty_run(42)));
    assert_ne!(one, summary(&faulty_run(43)));
    // Every kind of fault showed up.
    for fate in [
        PacketFate::Lost,
        PacketFate::Corrupted,
        PacketFate::Duplicated,
    ] {
        assert!(one.iter().any(|r| r.3 == fate), "{fate:?} missing");
    }
}

#[test]
fn reorder_lets_later_packets_overtake() {
    // Scripted: exactly the first packet is held back.
    let model = LinkModel::new().reorder(0.0, Duration::from_millis(5));
    let (mut net, a, b) = pair(1, model);
    assert!(net.script(a, b, [Fault::Reorder]));
    queue(&mut net, a, 3, 40);
    net.run_for(Duration::from_secs(1));
    assert_eq!(received_ids(&net, b), [1, 2, 0]);
    assert_eq!(net.host(b).received[2].0, Instant::from_millis(6));

    // Random: some but not all packets out of order.
    let (mut net, a, b) = pair(1, LinkModel::new().reorder(0.3, Duration::from_millis(5)));
    for i in 0..50u16 {
        let at = Instant::from_micros(u64::from(i) * 100);
        net.host_mut(a).later.push_back((at, pkt(A, B, i, 40)));
    }
    net.run_for(Duration::from_secs(1));
    let ids = received_ids(&net, b);
    assert_eq!(ids.len(), 50);
    assert!(ids.windows(2).any(|w| w[0] > w[1]));
    let reordered = net.stats().reordered;
    assert!(reordered > 0 && reordered < 50, "{reordered}");
}

#[test]
fn duplicate_delivers_twice() {
    let (mut net, a, b) = pair(1, LinkModel::new().duplicate(1.0));
    queue(&mut net, a, 3, 40);
    net.run_for(Duration::from_secs(1));
    // Sent back to back: all originals at 1 ms, all copies 1 µs later.
    assert_eq!(received_ids(&net, b), [0, 1, 2, 0, 1, 2]);
    let t: Vec<_> = net
        .host(b)
        .received
        .iter()
        .map(|(t, _)| t.total_micros())
        .collect();
    assert_eq!(t, [1000, 1000, 1000, 1001, 1001, 1001]);
    let s = net.stats();
    assert_eq!((s.sent, s.duplicated, s.delivered), (3, 3, 6));
}

#[test]
fn corrupt_flips_exactly_one_bit() {
    let (mut net, a, b) = pair(9, LinkModel::new().corrupt(1.0));
    net.enable_trace(true);
    queue(&mut net, a, 20, 60);
    net.run_for(Duration::from_secs(1));
    let sent: Vec<_> = (0..20).map(|i| pkt(A, B, i, 60)).collect();
    let got = net.host(b).received.clone();
    assert_eq!(got.len(), 20);
    for ((_, g), s) in got.iter().zip(&sent) {
        let flipped: u32 = g.iter().zip(s).map(|(x, y)| (x ^ y).count_ones()).sum();
        assert_eq!(flipped, 1);
    }
    assert_eq!(net.stats().corrupted, 20);
    let trace = net.take_trace();
    assert!(trace.iter().all(|r| r.fate == PacketFate::Corrupted));
    assert_eq!(trace[0].bytes, got[0].1);
}

#[test]
fn partition_drops_then_heals() {
    let (mut net, a, b) = pair(1, LinkModel::new().up(false));
    queue(&mut net, a, 5, 40);
    net.run_for(Duration::from_millis(10));
    assert!(net.host(b).received.is_empty());
    assert_eq!(net.stats().dropped_link_down, 5);

    net.model_mut(a, b).unwrap().up = true;
    assert!(net.model_mut(b, b).is_none());
    queue(&mut net, a, 5, 40);
    net.run_for(Duration::from_millis(10));
    assert_eq!(received_ids(&net, b), [0, 1, 2, 3, 4]);
}

#[test]
fn mtu_no_route_and_garbage_are_dropped() {
    let (mut net, a, b) = pair(1, LinkModel::new().mtu(100));
    // A second link with a larger MTU, so a's transmit buffer can hold the
    // oversized packet.
    let c = net.add_host(&[], TestHost::default());
    net.link_directed(a, c, LinkModel::new().mtu(1500));
    net.enable_trace(true);
    let h = net.host_mut(a);
    h.outbox.push_back(pkt(A, B, 0, 101));
    h.outbox.push_back(pkt(A, [10, 9, 9, 9], 1, 40));
    h.outbox.push_back(vec![0x45; 10]);
    h.outbox.push_back(vec![0x00; 40]);
    h.outbox.push_back(pkt(A, B, 2, 100));
    net.run_for(Duration::from_millis(10));
    assert_eq!(received_ids(&net, b), [2]);
    let s = net.stats();
    assert_eq!((s.dropped, s.dropped_mtu, s.dropped_no_route), (4, 1, 3));
    let trace = net.take_trace();
    assert_eq!(trace[0].to, Some(b));
    assert_eq!(trace[1].to, None);
    assert!(trace[..4]
        .iter()
        .all(|r| r.fate == PacketFate::Dropped && r.arrives_at.is_none()));
}

#[test]
fn ipv6_routing() {
    let a6: IpAddr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1).into();
    let b6: IpAddr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2).into();
    let mut net = Network::new(1);
    let a = net.add_host(&[ip(A), a6], TestHost::default());
    let b = net.add_host(&[ip(B), b6], TestHost::default());
    net.link(a, b, LinkModel::new());
    let mut p = vec![0u8; 40];
    p[0] = 0x60;
    if let IpAddr::V6(v6) = b6 {
        p[24..40].copy_from_slice(&v6.octets());
    }
    net.host_mut(a).outbox.push_back(p.clone());
    net.run_for(Duration::from_millis(2));
    assert_eq!(net.host(b).received, [(Instant::from_millis(1), p)]);
}

#[test]
fn run_until_stops_at_deadline() {
    let (mut net, a, b) = pair(1, LinkModel::new().delay(Duration::from_millis(10)));
    queue(&mut net, a, 1, 40);
    net.run_until(Instant::from_millis(7));
    assert_eq!(net.now(), Instant::from_millis(7));
    assert!(net.host(b).received.is_empty());
    net.run_until(Instant::from_millis(10));
    assert_eq!(net.now(), Instant::from_millis(10));
    assert_eq!(net.host(b).received.len(), 1);
    net.run_for(Duration::from_millis(5));
    assert_eq!(net.now(), Instant::from_millis(15));
}

#[test]
fn run_until_cond_stops_at_the_event() {
    let (mut net, a, b) = pair(1, LinkModel::new().delay(Duration::from_millis(10)));
    queue(&mut net, a, 1, 40);
    assert!(net.run_until_cond(Instant::from_secs(1), |n| !n.host(b).received.is_empty()));
    assert_eq!(net.now(), Instant::from_millis(10));
    assert!(!net.run_until_cond(Instant::from_secs(2), |n| n.host(a).received.len() == 1));
    assert_eq!(net.now(), Instant::from_secs(2));
    // Work queued inside the condition is picked up.
    let mut first = true;
    let done = net.run_until_cond(Instant::from_secs(3), |n| {
        if std::mem::take(&mut first) {
            n.host_mut(a).outbox.push_back(pkt(A, B, 7, 40));
        }
        n.host(b).received.len() == 2
    });
    assert!(done);
    assert_eq!(net.now(), Instant::from_secs(2) + Duration::from_millis(10));
}

#[test]
fn timers_fire_on_time_and_never_early() {
    let (mut net, a, b) = pair(1, LinkModel::new());
    net.host_mut(a)
        .later
        .push_back((Instant::from_millis(5), pkt(A, B, 0, 40)));
    net.run_until(Instant::from_millis(1));
    // Move the deadline later after it was scheduled: the old event is stale.
    net.host_mut(a).later[0].0 = Instant::from_millis(8);
    net.run_until(Instant::from_millis(20));
    assert_eq!(net.host(a).fired, [Instant::from_millis(8)]);
    assert_eq!(net.host(b).received[0].0, Instant::from_millis(9));
    // Moving it earlier works too.
    net.host_mut(a)
        .later
        .push_back((Instant::from_millis(50), pkt(A, B, 1, 40)));
    net.run_until(Instant::from_millis(21));
    net.host_mut(a).later[0].0 = Instant::from_millis(30);
    net.run_until(Instant::from_millis(100));
    assert_eq!(net.host(a).fired[1..], [Instant::from_millis(30)]);
}

/// A host whose deadline never clears must not stall the clock.
struct Stuck(u32);
impl Host for Stuck {
    fn receive(&mut self, _: Instant, _: &[u8]) {}
    fn transmit(&mut self, _: Instant, _: &mut [u8]) -> Option<usize> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Some(Instant::ZERO)
    }
    fn handle_timeout(&mut self, _: Instant) {
        self.0 += 1;
    }
}

#[test]
fn stuck_timer_does_not_hang() {
    let mut net = Network::new(1);
    let s = net.add_host(&[], Stuck(0));
    net.run_until(Instant::from_millis(1));
    assert_eq!(net.host(s).0, 1001);
    assert_eq!(net.now(), Instant::from_millis(1));
}

fn read_pcap(path: &std::path::Path) -> Vec<(Duration, Vec<u8>)> {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = pcap_file::pcap::PcapReader::new(file).unwrap();
    assert_eq!(reader.header().datalink, pcap_file::DataLink::RAW);
    let mut out = Vec::new();
    while let Some(p) = reader.next_packet() {
        let p = p.unwrap();
        out.push((p.timestamp, p.data.into_owned()));
    }
    out
}

#[test]
fn pcap_capture_roundtrip() {
    let dir = std::env::temp_dir().join(format!("synfin-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let all = dir.join("all.pcap");
    let ab = dir.join("ab.pcap");

    let mut net = Network::new(5);
    let a = net.add_host(&[ip(A)], TestHost::default());
    let b = net.add_host(&[ip(B)], TestHost::default());
    let c = net.add_host(&[ip([10, 0, 0, 3])], TestHost::default());
    net.link(
        a,
        b,
        LinkModel::new()
            .delay(Duration::from_millis(2))
            .corrupt(1.0),
    );
    net.link(a, c, LinkModel::new());
    net.host_mut(b).echo = true;
    net.capture(&all).unwrap();
    net.capture_link(a, b, &ab).unwrap();
    net.host_mut(a)
        .later
        .push_back((Instant::from_micros(1500), pkt(A, B, 1, 50)));
    net.host_mut(a)
        .outbox
        .push_back(pkt(A, [10, 0, 0, 3], 2, 50));
    net.run_for(Duration::from_millis(10));
    net.flush_capture().unwrap();

    let got = read_pcap(&all);
    let times: Vec<_> = got.iter().map(|(t, _)| *t).collect();
    // a->c at 0, a->b at 1.5 ms, the echo b->a at 3.5 ms.
    assert_eq!(
        times,
        [
            Duration::ZERO,
            Duration::from_micros(1500),
            Duration::from_micros(3500)
        ]
    );
    // Captured before faults: the corrupted packet appears intact.
    assert_eq!(got[1].1, pkt(A, B, 1, 50));
    assert_eq!(read_pcap(&ab).len(), 2);

    // Dropping the network flushes too.
    let late = dir.join("late.pcap");
    net.capture(&late).unwrap();
    net.host_mut(b).echo = false;
    net.host_mut(a).outbox.push_back(pkt(A, B, 3, 50));
    while net.step() {}
    drop(net);
    assert_eq!(read_pcap(&late).len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
