//! Message mode (issue 4, docs/message-mode.md) on the sans-IO stack:
//! negotiation in the handshake, message boundaries under segmentation,
//! disconnect data, the CLOSE event and `Disconnected`, and a peer that
//! breaks the record format (made by rewriting its segments in flight).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use synfin::links::{Host, HostId, LinkModel, Network};
use synfin::stack::{Error, NetEvents, Shutdown, SocketHandle, Stack, StackConfig};
use synfin::tcp::message::{MESSAGE_EXID, VERSION};
use synfin::tcp::State;
use synfin::time::Instant;
use synfin::wire::{self, TcpFlags, TcpRepr};

const CLIENT_IP: &str = "198.18.0.1";
const SERVER_IP: &str = "198.18.0.2";

/// Rewrites the TCP payload of an outgoing segment in place; returns
/// whether it changed anything.
type Rule = Box<dyn FnMut(&mut [u8]) -> bool>;

/// Rewrites the options of an outgoing segment; returns whether it changed
/// anything.
type OptionRule = Box<dyn FnMut(TcpFlags, &mut wire::TcpOptions) -> bool>;

/// A stack whose outgoing segments can be rewritten (a peer that breaks
/// the record format, without a second implementation of it).
struct Tamper {
    stack: Stack,
    rule: Option<Rule>,
    options: Option<OptionRule>,
}

impl Host for Tamper {
    fn receive(&mut self, now: Instant, packet: &[u8]) {
        self.stack.handle_packet(now, packet);
    }
    fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let n = self.stack.poll_transmit(now, buf)?;
        if self.rule.is_none() && self.options.is_none() {
            return Some(n);
        }
        let p = wire::parse_tcp_packet(&buf[..n]).expect("the stack emits valid packets");
        let mut payload = p.tcp.payload.to_vec();
        let mut options = p.tcp.options;
        let mut changed = false;
        if let Some(rule) = self.rule.as_mut() {
            changed |= !payload.is_empty() && rule(&mut payload);
        }
        if let Some(rule) = self.options.as_mut() {
            changed |= rule(p.tcp.flags, &mut options);
        }
        if !changed {
            return Some(n);
        }
        let (src, dst) = (p.ip.src, p.ip.dst);
        let repr = TcpRepr {
            payload: &payload,
            options,
            ..p.tcp
        };
        let mut out = vec![0u8; n + 40];
        let m = wire::emit_tcp_packet(src, dst, 64, &repr, &mut out).unwrap();
        buf[..m].copy_from_slice(&out[..m]);
        Some(m)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.stack.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.stack.handle_timeout(now)
    }
}

struct Sim {
    net: Network<Tamper>,
    client: HostId,
    server: HostId,
}

fn server_addr() -> SocketAddr {
    SocketAddr::new(SERVER_IP.parse().unwrap(), 7000)
}

impl Sim {
    fn new(seed: u64, model: LinkModel) -> Sim {
        Sim::with_config(seed, model, StackConfig::default())
    }

    fn with_config(seed: u64, model: LinkModel, cfg: StackConfig) -> Sim {
        let mut net = Network::new(seed);
        let c_ip: IpAddr = CLIENT_IP.parse().unwrap();
        let s_ip: IpAddr = SERVER_IP.parse().unwrap();
        let mut c = Stack::new(cfg.clone(), seed ^ 0x51);
        c.add_address(c_ip);
        let mut s = Stack::new(cfg, seed ^ 0x52);
        s.add_address(s_ip);
        let client = net.add_host(
            &[c_ip],
            Tamper {
                stack: c,
                rule: None,
                options: None,
            },
        );
        let server = net.add_host(
            &[s_ip],
            Tamper {
                stack: s,
                rule: None,
                options: None,
            },
        );
        net.link(client, server, model);
        net.enable_trace(true);
        Sim {
            net,
            client,
            server,
        }
    }

    fn c(&mut self) -> &mut Stack {
        &mut self.net.host_mut(self.client).stack
    }
    fn s(&mut self) -> &mut Stack {
        &mut self.net.host_mut(self.server).stack
    }
    fn now(&self) -> Instant {
        self.net.now()
    }
    fn run(&mut self, ms: u64) {
        self.net.run_for(Duration::from_millis(ms));
    }
    fn run_until(&mut self, limit: Duration, mut cond: impl FnMut(&mut Sim) -> bool) {
        let deadline = self.now() + limit;
        while !cond(self) {
            assert!(self.now() < deadline, "condition not reached in {limit:?}");
            let to = (self.now() + Duration::from_millis(1)).min(deadline);
            self.net.run_until(to);
        }
    }
    fn tamper_client(&mut self, rule: impl FnMut(&mut [u8]) -> bool + 'static) {
        self.net.host_mut(self.client).rule = Some(Box::new(rule));
    }

    /// A message-mode listener, a message-mode connect, the handshake and
    /// the accept: (client socket, server socket, listener).
    fn open(&mut self) -> (SocketHandle, SocketHandle, SocketHandle) {
        let l = self.s().listen_message(server_addr(), 16).unwrap();
        let c = self.connect_to_listener(l);
        (c.0, c.1, l)
    }

    fn connect_to_listener(&mut self, l: SocketHandle) -> (SocketHandle, SocketHandle) {
        let now = self.now();
        let c = self.c().connect_message(now, server_addr()).unwrap();
        let mut accepted = None;
        self.run_until(Duration::from_secs(60), |p| {
            accepted = p.s().accept(l).ok();
            accepted.is_some()
        });
        self.run_until(Duration::from_secs(60), |p| {
            p.c().state(c) == Ok(State::Established)
        });
        (c, accepted.unwrap().0)
    }

    /// Every message readable on `h` now, in order.
    fn drain(&mut self, server: bool, h: SocketHandle) -> (Vec<Vec<u8>>, Option<Error>) {
        let now = self.now();
        let st = if server { self.s() } else { self.c() };
        let mut out = Vec::new();
        let mut buf = vec![0u8; 1 << 17];
        loop {
            match st.recv_message(now, h, &mut buf) {
                Ok(n) => out.push(buf[..n].to_vec()),
                Err(Error::WouldBlock) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    /// Segments on the wire since the last call: (from client, flags,
    /// payload length, options).
    fn segments(&mut self) -> Vec<(bool, TcpFlags, usize, wire::TcpOptions)> {
        let client = self.client;
        self.net
            .take_trace()
            .into_iter()
            .filter_map(|r| {
                let p = wire::parse_tcp_packet(&r.bytes).ok()?;
                Some((
                    r.from == client,
                    p.tcp.flags,
                    p.tcp.payload.len(),
                    p.tcp.options,
                ))
            })
            .collect()
    }
}

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
        .collect()
}

// ---- negotiation ----

#[test]
fn the_syn_offers_and_the_syn_ack_echoes_the_option() {
    let mut p = Sim::new(1, LinkModel::default());
    let (c, s, _) = p.open();
    let segs = p.segments();
    let syn = segs.iter().find(|s| s.0 && s.1 == TcpFlags::SYN).unwrap();
    assert_eq!(syn.3.experimental, Some(MESSAGE_EXID));
    let syn_ack = segs
        .iter()
        .find(|s| !s.0 && s.1 == TcpFlags::SYN | TcpFlags::ACK)
        .unwrap();
    assert_eq!(syn_ack.3.experimental, Some(MESSAGE_EXID));
    assert_eq!(p.c().is_message_mode(c), Ok(true));
    assert_eq!(p.s().is_message_mode(s), Ok(true));
    // A 24-byte option area: mss, sackOK+TS, wscale, 253.
    assert_eq!(syn.3.encoded_len(), 24);
}

#[test]
fn byte_stream_peers_never_see_the_option() {
    let mut p = Sim::new(2, LinkModel::default());
    let l = p.s().listen(server_addr(), 4).unwrap();
    let now = p.now();
    let c = p.c().connect(now, server_addr()).unwrap();
    p.run(100);
    let (s, _) = p.s().accept(l).unwrap();
    assert!(p.segments().iter().all(|s| s.3.experimental.is_none()));
    assert_eq!(p.c().is_message_mode(c), Ok(false));
    assert_eq!(p.s().is_message_mode(s), Ok(false));
    // Message calls are refused on a byte stream; plain send works.
    let now = p.now();
    assert_eq!(p.c().send_message(now, c, b"x"), Err(Error::Unsupported));
    let mut buf = [0u8; 8];
    assert_eq!(
        p.s().recv_message(now, s, &mut buf),
        Err(Error::Unsupported)
    );
    assert_eq!(p.c().recv_disconnect(c), Err(Error::Unsupported));
    assert_eq!(p.c().send(now, c, b"abc"), Ok(3));
}

#[test]
fn a_message_listener_resets_a_byte_stream_syn() {
    let mut p = Sim::new(3, LinkModel::default());
    let l = p.s().listen_message(server_addr(), 4).unwrap();
    let now = p.now();
    let c = p.c().connect(now, server_addr()).unwrap();
    p.run(100);
    assert_eq!(p.c().state(c), Ok(State::Closed));
    let mut buf = [0u8; 4];
    let now = p.now();
    assert_eq!(p.c().recv(now, c, &mut buf), Err(Error::ConnectionRefused));
    assert_eq!(p.s().accept(l).err(), Some(Error::WouldBlock));
    assert_eq!(p.s().connection_count(), 0);
    let segs = p.segments();
    assert!(segs.iter().any(|s| !s.0 && s.1.contains(TcpFlags::RST)));
    // The listener still serves message-mode clients.
    let (mc, ms) = p.connect_to_listener(l);
    let now = p.now();
    p.c().send_message(now, mc, b"still here").unwrap();
    p.run(100);
    assert_eq!(p.drain(true, ms).0, vec![b"still here".to_vec()]);
}

#[test]
fn a_message_connect_to_a_byte_stream_listener_fails_and_resets() {
    let mut p = Sim::new(4, LinkModel::default());
    let l = p.s().listen(server_addr(), 4).unwrap();
    let c = p.c().socket();
    p.c().select_events(c, NetEvents::ALL).unwrap();
    p.c().set_message_mode(c, true).unwrap();
    let now = p.now();
    p.c().connect_from(now, c, server_addr()).unwrap();
    p.run(200);
    assert_eq!(p.c().state(c), Ok(State::Closed));
    let ev = p.c().take_network_events(c).unwrap();
    assert!(ev.events.contains(NetEvents::CONNECT));
    assert_eq!(
        ev.error(NetEvents::CONNECT),
        Some(Error::MessageModeRefused)
    );
    let now = p.now();
    let mut buf = [0u8; 4];
    assert_eq!(
        p.c().recv_message(now, c, &mut buf),
        Err(Error::MessageModeRefused)
    );
    assert_eq!(p.c().take_error(c), Ok(Some(Error::MessageModeRefused)));
    // The client answered the SYN-ACK with RST: the server keeps nothing.
    let segs = p.segments();
    assert!(segs.iter().any(|s| s.0 && s.1.contains(TcpFlags::RST)));
    assert_eq!(p.s().accept(l).err(), Some(Error::WouldBlock));
    assert_eq!(p.s().connection_count(), 0);
    assert_eq!(p.c().connection_count(), 0);
}

#[test]
fn another_experiments_exid_is_no_echo() {
    // A byte-stream peer that happens to run another RFC 6994 experiment
    // (TCP Fast Open's ExID) answers the message-mode SYN.
    let mut p = Sim::new(17, LinkModel::default());
    let l = p.s().listen_message(server_addr(), 4).unwrap();
    p.net.host_mut(p.server).options = Some(Box::new(|flags, o| {
        let hit = flags.contains(TcpFlags::SYN) && o.experimental.is_some();
        if hit {
            o.experimental = Some(0xf989);
        }
        hit
    }));
    let now = p.now();
    let c = p.c().connect_message(now, server_addr()).unwrap();
    p.run(100);
    assert_eq!(p.c().take_error(c), Ok(Some(Error::MessageModeRefused)));
    assert_eq!(p.s().accept(l).err(), Some(Error::WouldBlock));
    // And a SYN with the wrong ExID is no offer to a message listener.
    p.net.host_mut(p.server).options = None;
    p.net.host_mut(p.client).options = Some(Box::new(|flags, o| {
        let hit = flags == TcpFlags::SYN;
        if hit {
            o.experimental = Some(0x1234);
        }
        hit
    }));
    let now = p.now();
    let c = p.c().connect_message(now, server_addr()).unwrap();
    p.run(100);
    assert_eq!(p.c().take_error(c), Ok(Some(Error::ConnectionRefused)));
    assert_eq!(p.s().connection_count(), 0);
}

#[test]
fn message_mode_cannot_be_set_on_a_connection() {
    let mut p = Sim::new(5, LinkModel::default());
    let (c, _, _) = p.open();
    assert_eq!(
        p.c().set_message_mode(c, false),
        Err(Error::AlreadyConnected)
    );
}

// ---- framing ----

#[test]
fn messages_keep_their_boundaries_under_segmentation() {
    let mut p = Sim::new(6, LinkModel::new().delay(Duration::from_millis(5)));
    let (c, s, _) = p.open();
    let max = p.c().max_message_size();
    // Larger than the MSS, empty, one byte, the maximum, and many small
    // ones that Nagle coalesces into shared segments.
    let mut sent = vec![pattern(10_000, 1), Vec::new(), vec![7], pattern(max, 2)];
    for i in 0..300 {
        sent.push(pattern(i % 17, i as u8));
    }
    let mut got = Vec::new();
    let mut next = 0;
    p.run_until(Duration::from_secs(30), |p| {
        let now = p.now();
        while next < sent.len() {
            match p.c().send_message(now, c, &sent[next]) {
                Ok(()) => next += 1,
                Err(Error::WouldBlock) => break,
                Err(e) => panic!("send_message: {e}"),
            }
        }
        got.extend(p.drain(true, s).0);
        got.len() == sent.len()
    });
    assert_eq!(got, sent);
    let segs = p.segments();
    let data: Vec<_> = segs.iter().filter(|s| s.0 && s.2 > 0).collect();
    // 1448: the MSS less the timestamp option.
    assert!(data.iter().any(|s| s.2 == 1448), "full-sized segments");
    assert!(
        data.len() < sent.len(),
        "small messages shared segments ({} segments)",
        data.len()
    );
}

#[test]
fn a_short_buffer_loses_nothing() {
    let mut p = Sim::new(7, LinkModel::default());
    let (c, s, _) = p.open();
    let now = p.now();
    p.c().send_message(now, c, &pattern(3000, 9)).unwrap();
    p.c().send_message(now, c, b"next").unwrap();
    p.run(100);
    let now = p.now();
    let mut small = [0u8; 100];
    assert_eq!(
        p.s().recv_message(now, s, &mut small),
        Err(Error::MessageTooLarge { len: 3000 })
    );
    // Again: still there, still too large.
    assert_eq!(
        p.s().recv_message(now, s, &mut small),
        Err(Error::MessageTooLarge { len: 3000 })
    );
    let mut big = vec![0u8; 3000];
    assert_eq!(p.s().recv_message(now, s, &mut big), Ok(3000));
    assert_eq!(big, pattern(3000, 9));
    assert_eq!(p.s().recv_message(now, s, &mut small), Ok(4));
    assert_eq!(&small[..4], b"next");
    // An exact-size buffer is enough; a zero-length message needs none.
    p.c().send_message(now, c, b"").unwrap();
    p.run(100);
    let now = p.now();
    assert_eq!(p.s().recv_message(now, s, &mut []), Ok(0));
}

#[test]
fn a_message_arrives_only_when_whole() {
    let mut p = Sim::new(8, LinkModel::new().delay(Duration::from_millis(10)));
    let (c, s, _) = p.open();
    p.s().select_events(s, NetEvents::READ).unwrap();
    let now = p.now();
    p.c().send_message(now, c, &pattern(20_000, 3)).unwrap();
    // After one round trip only the initial window has arrived.
    p.run(12);
    let now = p.now();
    assert!(p.s().recv_queue_len(s).unwrap() > 0);
    let mut buf = vec![0u8; 20_000];
    assert_eq!(p.s().recv_message(now, s, &mut buf), Err(Error::WouldBlock));
    assert!(
        p.s().take_network_events(s).unwrap().is_empty(),
        "no READ yet"
    );
    p.run(500);
    assert!(p
        .s()
        .take_network_events(s)
        .unwrap()
        .events
        .contains(NetEvents::READ));
    let now = p.now();
    assert_eq!(p.s().recv_message(now, s, &mut buf), Ok(20_000));
}

#[test]
fn oversize_sends_are_refused() {
    let mut p = Sim::new(9, LinkModel::default());
    let (c, _, _) = p.open();
    let max = p.c().max_message_size();
    let now = p.now();
    assert_eq!(
        p.c().send_message(now, c, &vec![0; max + 1]),
        Err(Error::MessageTooLarge { len: max + 1 })
    );
    assert_eq!(
        p.c().send_disconnect(now, c, &vec![0; max + 1]),
        Err(Error::MessageTooLarge { len: max + 1 })
    );
}

// ---- disconnect data ----

/// Selects every event on both sockets.
fn select_all(p: &mut Sim, c: SocketHandle, s: SocketHandle) {
    p.c().select_events(c, NetEvents::ALL).unwrap();
    p.s().select_events(s, NetEvents::ALL).unwrap();
    let _ = p.c().take_network_events(c);
    let _ = p.s().take_network_events(s);
}

#[test]
fn disconnect_data_flows_both_ways_after_the_last_message() {
    let mut p = Sim::new(10, LinkModel::new().delay(Duration::from_millis(5)));
    let (c, s, l) = p.open();
    select_all(&mut p, c, s);
    let now = p.now();
    p.c().send_message(now, c, b"last").unwrap();
    p.c().send_disconnect(now, c, b"client total 42").unwrap();
    assert_eq!(p.c().send_message(now, c, b"x"), Err(Error::BrokenPipe));
    assert_eq!(
        p.c().send_disconnect(now, c, b"again"),
        Err(Error::BrokenPipe)
    );
    p.run(50);
    // Not reached before the last message is read: no CLOSE yet.
    let ev = p.s().take_network_events(s).unwrap();
    assert!(!ev.events.contains(NetEvents::CLOSE), "{ev:?}");
    assert_eq!(p.s().recv_disconnect(s), Err(Error::WouldBlock));
    let (msgs, end) = p.drain(true, s);
    assert_eq!(msgs, vec![b"last".to_vec()]);
    assert_eq!(end, Some(Error::Disconnected));
    let ev = p.s().take_network_events(s).unwrap();
    assert!(ev.events.contains(NetEvents::CLOSE));
    assert_eq!(ev.error(NetEvents::CLOSE), None);
    assert_eq!(p.s().recv_disconnect(s).unwrap(), b"client total 42");
    // The server's direction is still open.
    let now = p.now();
    p.s().send_message(now, s, b"reply").unwrap();
    p.s().send_disconnect(now, s, b"grand total 99").unwrap();
    p.s().close(now, s).unwrap();
    p.run(50);
    let ev = p.c().take_network_events(c).unwrap();
    assert!(!ev.events.contains(NetEvents::CLOSE), "a message is unread");
    let (msgs, end) = p.drain(false, c);
    assert_eq!(msgs, vec![b"reply".to_vec()]);
    assert_eq!(end, Some(Error::Disconnected));
    assert!(p
        .c()
        .take_network_events(c)
        .unwrap()
        .events
        .contains(NetEvents::CLOSE));
    assert_eq!(p.c().recv_disconnect(c).unwrap(), b"grand total 99");
    assert_eq!(p.c().recv_disconnect(c).unwrap(), b"grand total 99");
    let now = p.now();
    p.c().close(now, c).unwrap();
    p.run(200);
    let now = p.now();
    p.s().close(now, l).unwrap();
    p.net.run_for(Duration::from_secs(120));
    for server in [false, true] {
        let st = if server { p.s() } else { p.c() };
        assert_eq!(
            (
                st.socket_count(),
                st.connection_count(),
                st.time_wait_count()
            ),
            (0, 0, 0)
        );
    }
}

#[test]
fn disconnect_data_of_zero_bytes_and_of_the_maximum() {
    let max = StackConfig::default().max_message_size;
    for data in [Vec::new(), pattern(max, 5)] {
        let mut p = Sim::new(11, LinkModel::new().delay(Duration::from_millis(2)));
        let (c, s, _) = p.open();
        let now = p.now();
        p.c().send_disconnect(now, c, &data).unwrap();
        p.run_until(Duration::from_secs(10), |p| {
            p.drain(true, s).1 == Some(Error::Disconnected)
        });
        assert_eq!(p.s().recv_disconnect(s).unwrap(), data);
    }
}

#[test]
fn send_disconnect_never_blocks_on_a_full_send_queue() {
    let mut p = Sim::new(12, LinkModel::new().delay(Duration::from_millis(5)));
    let (c, s, _) = p.open();
    let now = p.now();
    // Fill the send queue until a message would block.
    let chunk = pattern(60_000, 1);
    let mut sent = 0;
    while p.c().send_message(now, c, &chunk).is_ok() {
        sent += 1;
    }
    let max = p.c().max_message_size();
    // Whatever the linger: send_disconnect is a shutdown, not a close.
    p.c().set_linger(c, Some(Duration::from_secs(30))).unwrap();
    p.c().send_disconnect(now, c, &pattern(max, 8)).unwrap();
    let mut got = 0;
    p.run_until(Duration::from_secs(30), |p| {
        let (m, end) = p.drain(true, s);
        got += m.len();
        end == Some(Error::Disconnected)
    });
    assert_eq!(got, sent);
    assert_eq!(p.s().recv_disconnect(s).unwrap(), pattern(max, 8));
}

#[test]
fn both_sides_disconnect_at_once() {
    let mut p = Sim::new(13, LinkModel::new().delay(Duration::from_millis(10)));
    let (c, s, _) = p.open();
    select_all(&mut p, c, s);
    let now = p.now();
    p.c().send_disconnect(now, c, b"from client").unwrap();
    p.s().send_disconnect(now, s, b"from server").unwrap();
    p.run(100);
    for (server, h) in [(false, c), (true, s)] {
        let st = if server { p.s() } else { p.c() };
        let ev = st.take_network_events(h).unwrap();
        assert!(ev.events.contains(NetEvents::CLOSE), "{ev:?}");
        assert_eq!(ev.error(NetEvents::CLOSE), None);
    }
    assert_eq!(p.c().recv_disconnect(c).unwrap(), b"from server");
    assert_eq!(p.s().recv_disconnect(s).unwrap(), b"from client");
    let now = p.now();
    let mut buf = [0u8; 4];
    assert_eq!(
        p.c().recv_message(now, c, &mut buf),
        Err(Error::Disconnected)
    );
    // Simultaneous close: both pass through CLOSING to TIME-WAIT.
    assert_eq!(p.c().state(c), Ok(State::TimeWait));
    assert_eq!(p.s().state(s), Ok(State::TimeWait));
    p.c().close(now, c).unwrap();
    p.s().close(now, s).unwrap();
    p.net.run_for(Duration::from_secs(120));
    assert_eq!(p.c().connection_count() + p.s().connection_count(), 0);
}

#[test]
fn shutdown_write_and_close_send_an_empty_disconnect() {
    let mut p = Sim::new(14, LinkModel::default());
    let (c, s, _) = p.open();
    let now = p.now();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    p.c().shutdown(now, c, Shutdown::Write).unwrap();
    p.s().close(now, s).unwrap();
    p.run(100);
    let mut buf = [0u8; 4];
    let now = p.now();
    assert_eq!(
        p.c().recv_message(now, c, &mut buf),
        Err(Error::Disconnected)
    );
    assert_eq!(p.c().recv_disconnect(c).unwrap(), b"");
}

#[test]
fn an_abortive_close_still_reports_a_reset() {
    let mut p = Sim::new(15, LinkModel::default());
    let (c, s, _) = p.open();
    select_all(&mut p, c, s);
    let now = p.now();
    p.c().send_message(now, c, b"before the reset").unwrap();
    p.run(50);
    let now = p.now();
    p.c().abort(now, c).unwrap();
    p.run(50);
    let (msgs, end) = p.drain(true, s);
    assert_eq!(msgs, vec![b"before the reset".to_vec()]);
    assert_eq!(end, Some(Error::ConnectionReset));
    let ev = p.s().take_network_events(s).unwrap();
    assert_eq!(ev.error(NetEvents::CLOSE), Some(Error::ConnectionReset));
    assert_eq!(p.s().recv_disconnect(s), Err(Error::ConnectionReset));
}

#[test]
fn byte_stream_send_disconnect() {
    let mut p = Sim::new(16, LinkModel::default());
    let l = p.s().listen(server_addr(), 4).unwrap();
    let now = p.now();
    let c = p.c().connect(now, server_addr()).unwrap();
    p.run(100);
    let (s, _) = p.s().accept(l).unwrap();
    let now = p.now();
    assert_eq!(
        p.c().send_disconnect(now, c, b"data"),
        Err(Error::Unsupported)
    );
    assert_eq!(Error::Unsupported.winsock(), 10042, "WSAENOPROTOOPT");
    assert_eq!(p.c().state(c), Ok(State::Established), "nothing happened");
    // Without data: shutdown(Write).
    p.c().send_disconnect(now, c, b"").unwrap();
    assert_eq!(p.c().state(c), Ok(State::FinWait1));
    p.run(100);
    let now = p.now();
    assert_eq!(p.s().recv(now, s, &mut [0u8; 4]), Ok(0));
}

// ---- bad input ----

/// The client's "hello" DATA record rewritten by `rule` in flight; returns
/// the server's view and checks the reset on the wire. A second, untouched
/// connection on the same listener is unaffected.
fn bad_input(seed: u64, rule: impl FnMut(&mut [u8]) -> bool + 'static, then: &[u8]) {
    let mut p = Sim::new(seed, LinkModel::new().delay(Duration::from_millis(2)));
    let (c, s, l) = p.open();
    let (c2, s2) = p.connect_to_listener(l);
    select_all(&mut p, c, s);
    p.segments();
    p.tamper_client(rule);
    let now = p.now();
    p.c().set_nodelay(now, c, true).unwrap();
    p.c().send_message(now, c, b"hello").unwrap();
    p.run(50);
    if !then.is_empty() {
        let now = p.now();
        match then {
            b"disconnect" => p.c().send_disconnect(now, c, b"bye").unwrap(),
            m => p.c().send_message(now, c, m).unwrap(),
        }
        p.run(50);
    }
    let segs = p.segments();
    assert!(
        segs.iter().any(|s| !s.0 && s.1.contains(TcpFlags::RST)),
        "the receiver reset: {segs:?}"
    );
    let (msgs, end) = p.drain(true, s);
    assert!(msgs.is_empty(), "{msgs:?}");
    assert_eq!(end, Some(Error::ProtocolViolation));
    let ev = p.s().take_network_events(s).unwrap();
    assert!(ev.events.contains(NetEvents::CLOSE));
    assert_eq!(ev.error(NetEvents::CLOSE), Some(Error::ProtocolViolation));
    assert_eq!(p.s().take_error(s), Ok(Some(Error::ProtocolViolation)));
    let now = p.now();
    assert_eq!(
        p.c().send_message(now, c, b"more"),
        Err(Error::ConnectionReset)
    );
    // The other connection carries on.
    p.net.host_mut(p.client).rule = None;
    let now = p.now();
    p.c().send_message(now, c2, b"unaffected").unwrap();
    p.run(50);
    assert_eq!(p.drain(true, s2).0, vec![b"unaffected".to_vec()]);
}

/// Matches the client's "hello" record at the start of a segment.
fn is_hello(b: &[u8]) -> bool {
    b.len() == 13 && b[..8] == [VERSION, 1, 0, 0, 0, 0, 0, 5] && &b[8..] == b"hello"
}

#[test]
fn an_unknown_record_type_resets() {
    bad_input(
        20,
        |b| {
            let hit = is_hello(b);
            if hit {
                b[1] = 0x7f;
            }
            hit
        },
        b"",
    );
}

#[test]
fn a_broken_header_resets() {
    // A wrong version.
    bad_input(
        21,
        |b| {
            let hit = is_hello(b);
            if hit {
                b[0] = 9;
            }
            hit
        },
        b"",
    );
    // Reserved bits set.
    bad_input(
        22,
        |b| {
            let hit = is_hello(b);
            if hit {
                b[3] = 1;
            }
            hit
        },
        b"",
    );
    // A length running past the FIN: the stream ends inside a record.
    bad_input(
        23,
        |b| {
            let hit = is_hello(b);
            if hit {
                b[7] = 200;
            }
            hit
        },
        b"disconnect",
    );
}

#[test]
fn an_oversize_record_resets() {
    bad_input(
        24,
        |b| {
            let hit = is_hello(b);
            if hit {
                b[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
            }
            hit
        },
        b"",
    );
}

#[test]
fn a_record_after_disconnect_resets() {
    bad_input(
        25,
        |b| {
            let hit = is_hello(b);
            if hit {
                b[1] = 2; // DISCONNECT carrying "hello"…
            }
            hit
        },
        b"and then a message", // …and a record after it.
    );
}

#[test]
fn a_fin_without_disconnect_resets() {
    // A peer that ends the stream without a DISCONNECT record: the rule
    // turns the DISCONNECT record into padding of the "hello" record.
    bad_input(
        26,
        |b| {
            if is_hello(b) {
                // hello's record claims the next 8 bytes (the DISCONNECT
                // header) too, and the FIN ends the stream right there.
                b[7] = 5 + 8 + 3;
                return true;
            }
            false
        },
        b"disconnect",
    );
}

#[test]
fn syn_cookies_keep_message_mode() {
    // Backlog 1: the second SYN arrives while the first is half-open and
    // is answered with a cookie; its ACK comes back after the first was
    // accepted, so the cookie makes the connection.
    let mut p = Sim::new(30, LinkModel::new().delay(Duration::from_millis(2)));
    let l = p.s().listen_message(server_addr(), 1).unwrap();
    let now = p.now();
    let a = p.c().connect_message(now, server_addr()).unwrap();
    p.run(3);
    let now = p.now();
    let b = p.c().connect_message(now, server_addr()).unwrap();
    let mut accepted = Vec::new();
    p.run_until(Duration::from_secs(60), |p| {
        while let Ok((h, _)) = p.s().accept(l) {
            accepted.push(h);
        }
        accepted.len() == 2
    });
    assert_eq!(p.s().stats().syn_cookies_accepted, 1, "{:?}", p.s().stats());
    p.run(10);
    for (i, c) in [a, b].into_iter().enumerate() {
        assert_eq!(p.c().is_message_mode(c), Ok(true), "client {i}");
        let now = p.now();
        p.c().send_message(now, c, &[i as u8; 3]).unwrap();
    }
    p.run(100);
    let mut got = Vec::new();
    for &s in &accepted {
        assert_eq!(p.s().is_message_mode(s), Ok(true));
        got.extend(p.drain(true, s).0);
    }
    got.sort();
    assert_eq!(got, vec![vec![0; 3], vec![1; 3]]);
}

#[test]
fn random_damage_to_records_never_panics() {
    // Bytes of the client's records are overwritten at random (with valid
    // checksums, so they reach the framing layer). Whatever the damage,
    // the server either reads messages to a clean `Disconnected` or resets
    // with `ProtocolViolation`, and both tables end empty.
    let mut violations = 0;
    for seed in 0..48u64 {
        let mut p = Sim::new(100 + seed, LinkModel::new().delay(Duration::from_millis(1)));
        let (c, s, l) = p.open();
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        p.tamper_client(move |b| {
            // xorshift: a damaged byte in about one segment in three.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if state % 3 != 0 {
                return false;
            }
            // Mostly where record headers are (a segment's first bytes).
            let i = (state >> 8) as usize % b.len().min(12);
            b[i] = (state >> 32) as u8;
            true
        });
        let now = p.now();
        p.c().set_nodelay(now, c, true).unwrap();
        for i in 0..6 {
            let _ = p.c().send_message(now, c, &pattern(3 + i * 700, i as u8));
        }
        let _ = p.c().send_disconnect(now, c, b"done");
        let mut end = None;
        p.run_until(Duration::from_secs(30), |p| {
            let (_, e) = p.drain(true, s);
            end = e;
            end.is_some()
        });
        match end {
            Some(Error::Disconnected) => {}
            Some(Error::ProtocolViolation) => violations += 1,
            other => panic!("seed {seed}: {other:?}"),
        }
        let now = p.now();
        let _ = p.s().close(now, s);
        let _ = p.c().close(now, c);
        let _ = p.s().close(now, l);
        p.net.run_for(Duration::from_secs(150));
        assert_eq!(
            (p.c().connection_count(), p.s().connection_count()),
            (0, 0),
            "seed {seed}"
        );
    }
    assert!(violations > 5, "the damage was seen: {violations}");
}
