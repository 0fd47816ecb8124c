//! Every operation × state row of docs/SEMANTICS.md §1 and remote-event row
//! of §2 that an application can reach through the socket APIs, written
//! once against a small trait and run twice: through the blocking API
//! (`row_*::blocking`) and through the async API (`row_*::tokio`), over the
//! simulated network driven in real time. The segments themselves are
//! asserted by the sans-IO scenario tests the same rows name.

mod api_common;

use std::io::{self, ErrorKind};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use api_common::*;
use synfin::api::{Node, TcpSocket};
use synfin::links::HostId;
use synfin::stack::{Error, SocketHandle};
use synfin::tcp::State;

/// A connection, through one of the two APIs.
trait Conn: Send {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// A write that does not wait (`WouldBlock` when the queue is full).
    fn try_write(&mut self, data: &[u8]) -> io::Result<usize>;
    fn write_all(&mut self, data: &[u8]) -> io::Result<()>;
    fn shutdown(&mut self, how: Shutdown) -> io::Result<()>;
    fn close(&mut self) -> io::Result<()>;
    fn abort(&self) -> io::Result<()>;
    fn set_linger(&self, l: Option<Duration>) -> io::Result<()>;
    fn state(&self) -> io::Result<State>;
    fn node(&self) -> &Node;
    fn handle(&self) -> SocketHandle;

    /// Bytes waiting to be read (a sans-IO query).
    fn queued(&self) -> usize {
        let h = self.handle();
        self.node()
            .with(|s, _| s.recv_queue_len(h))
            .unwrap_or_default()
    }

    /// Reads to end-of-stream or an error.
    fn read_all(&mut self) -> (Vec<u8>, io::Result<()>) {
        read_all_with(|buf| self.read(buf))
    }

    /// Queues as much of `data` as fits now.
    fn fill(&mut self, data: &[u8]) -> usize {
        let mut n = 0;
        while n < data.len() {
            match self.try_write(&data[n..]) {
                Ok(k) => n += k,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        n
    }
}

/// One of the two APIs: how to listen, accept and connect.
trait Api: Send + Sync + 'static {
    type Listener: Send;
    fn listen(&self, node: &Node, addr: SocketAddr) -> Self::Listener;
    fn accept(&self, l: &Self::Listener) -> Box<dyn Conn>;
    fn connect(&self, node: &Node, addr: SocketAddr) -> io::Result<Box<dyn Conn>>;
    /// A connection still in SYN-SENT.
    fn connect_nonblocking(&self, node: &Node, addr: SocketAddr) -> Box<dyn Conn>;
}

mod blocking_api {
    use super::*;
    use std::io::{Read, Write};
    use synfin::api::{AsSocket, TcpListener, TcpStream};

    pub struct Blocking;

    impl Conn for TcpStream {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            Read::read(self, buf)
        }
        fn try_write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.set_nonblocking(true)?;
            let r = Write::write(self, data);
            self.set_nonblocking(false)?;
            r
        }
        fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
            Write::write_all(self, data)
        }
        fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
            TcpStream::shutdown(self, how)
        }
        fn close(&mut self) -> io::Result<()> {
            TcpStream::close(self)
        }
        fn abort(&self) -> io::Result<()> {
            TcpStream::abort(self)
        }
        fn set_linger(&self, l: Option<Duration>) -> io::Result<()> {
            TcpStream::set_linger(self, l)
        }
        fn state(&self) -> io::Result<State> {
            TcpStream::state(self)
        }
        fn node(&self) -> &Node {
            TcpStream::node(self)
        }
        fn handle(&self) -> SocketHandle {
            self.socket_handle()
        }
    }

    impl Api for Blocking {
        type Listener = TcpListener;
        fn listen(&self, node: &Node, addr: SocketAddr) -> TcpListener {
            let s = TcpSocket::new(node).unwrap();
            s.bind(addr).unwrap();
            s.listen(16).unwrap()
        }
        fn accept(&self, l: &TcpListener) -> Box<dyn Conn> {
            Box::new(l.accept().unwrap().0)
        }
        fn connect(&self, node: &Node, addr: SocketAddr) -> io::Result<Box<dyn Conn>> {
            Ok(Box::new(TcpStream::connect(node, addr)?))
        }
        fn connect_nonblocking(&self, node: &Node, addr: SocketAddr) -> Box<dyn Conn> {
            let s = TcpSocket::new(node)
                .unwrap()
                .connect_nonblocking(addr)
                .unwrap();
            s.set_nonblocking(false).unwrap();
            Box::new(s)
        }
    }
}

mod tokio_api {
    use super::*;
    use synfin::api::tokio::{TcpListener, TcpStream};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Each call is one `block_on` of the async API's future on a tokio
    /// runtime: the future parks its waker and the synfin runtime thread
    /// wakes it.
    pub struct Tokio(pub Arc<tokio::runtime::Runtime>);

    impl Tokio {
        pub fn new() -> Tokio {
            Tokio(Arc::new(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .build()
                    .unwrap(),
            ))
        }
    }

    struct Stream {
        rt: Arc<tokio::runtime::Runtime>,
        s: TcpStream,
    }

    impl Conn for Stream {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.rt.block_on(self.s.read(buf))
        }
        fn try_write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.s.try_write(data)
        }
        fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
            self.rt.block_on(self.s.write_all(data))
        }
        fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
            match how {
                // The AsyncWrite way.
                Shutdown::Write => self.rt.block_on(self.s.shutdown()),
                _ => self.s.shutdown_std(how),
            }
        }
        fn close(&mut self) -> io::Result<()> {
            self.rt.block_on(self.s.close())
        }
        fn abort(&self) -> io::Result<()> {
            self.s.abort()
        }
        fn set_linger(&self, l: Option<Duration>) -> io::Result<()> {
            self.s.set_linger(l)
        }
        fn state(&self) -> io::Result<State> {
            self.s.state()
        }
        fn node(&self) -> &Node {
            self.s.node()
        }
        fn handle(&self) -> SocketHandle {
            self.s.socket_handle()
        }
    }

    impl Api for Tokio {
        type Listener = TcpListener;
        fn listen(&self, node: &Node, addr: SocketAddr) -> TcpListener {
            self.0.block_on(TcpListener::bind(node, addr)).unwrap()
        }
        fn accept(&self, l: &TcpListener) -> Box<dyn Conn> {
            let (s, _) = self.0.block_on(l.accept()).unwrap();
            Box::new(Stream {
                rt: Arc::clone(&self.0),
                s,
            })
        }
        fn connect(&self, node: &Node, addr: SocketAddr) -> io::Result<Box<dyn Conn>> {
            let s = self.0.block_on(TcpStream::connect(node, addr))?;
            Ok(Box::new(Stream {
                rt: Arc::clone(&self.0),
                s,
            }))
        }
        fn connect_nonblocking(&self, node: &Node, addr: SocketAddr) -> Box<dyn Conn> {
            let s = TcpSocket::new(node)
                .unwrap()
                .connect_nonblocking(addr)
                .unwrap();
            Box::new(Stream {
                rt: Arc::clone(&self.0),
                s: TcpStream::from_std(s).unwrap(),
            })
        }
    }
}

/// A connected pair and the listener.
struct Setup<A: Api> {
    hosts: Hosts,
    _listener: A::Listener,
    client: Box<dyn Conn>,
    server: Box<dyn Conn>,
}

fn setup<A: Api>(api: A, seed: u64) -> Setup<A> {
    let hosts = hosts(seed);
    let addr = server_addr(80);
    let l = api.listen(&hosts.server, addr);
    let client = api.connect(&hosts.client, addr).unwrap();
    let server = api.accept(&l);
    Setup {
        hosts,
        _listener: l,
        client,
        server,
    }
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(std::time::Instant::now() < until, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn kind<T: std::fmt::Debug>(r: io::Result<T>) -> ErrorKind {
    r.unwrap_err().kind()
}

/// Defines a row test run through both APIs: `NAME::blocking` and
/// `NAME::tokio`.
macro_rules! rows {
    ($($name:ident($seed:expr) |$api:ident, $sd:ident| $body:block)*) => {
        $(
            mod $name {
                use super::*;
                #[allow(unused_variables)]
                fn body<A: Api>($api: A, $sd: u64) $body
                fn run<A: Api>(api: A) {
                    with_watchdog(move || body(api, $seed));
                }
                #[test]
                fn blocking() {
                    run(blocking_api::Blocking);
                }
                #[test]
                fn tokio() {
                    run(tokio_api::Tokio::new());
                }
            }
        )*
    };
}

rows! {
    // §1a ESTABLISHED: FIN after the queued data; sends fail BrokenPipe;
    // reads go on until the peer's FIN.
    s1a_shutdown_write_in_established(101) |api, seed| {
        let mut t = setup(api, seed);
        t.client.write_all(&pattern(30_000, 1)).unwrap();
        t.client.shutdown(Shutdown::Write).unwrap();
        assert_eq!(kind(t.client.try_write(b"x")), ErrorKind::BrokenPipe);
        let (got, end) = t.server.read_all();
        end.unwrap();
        assert!(got == pattern(30_000, 1));
        eventually("FIN-WAIT-2", || t.client.state().unwrap() == State::FinWait2);
        t.server.write_all(b"still flowing").unwrap();
        t.server.shutdown(Shutdown::Write).unwrap();
        let (got, end) = t.client.read_all();
        end.unwrap();
        assert_eq!(got, b"still flowing");
    }

    // §1a CLOSE-WAIT: FIN → LAST-ACK; reads already at 0.
    s1a_shutdown_write_in_close_wait(102) |api, seed| {
        let mut t = setup(api, seed);
        t.client.shutdown(Shutdown::Write).unwrap();
        eventually("CLOSE-WAIT", || t.server.state().unwrap() == State::CloseWait);
        assert_eq!(t.server.read(&mut [0u8; 4]).unwrap(), 0);
        t.server.shutdown(Shutdown::Write).unwrap();
        // LAST-ACK until the client's ACK arrives a millisecond later.
        let st = t.server.state().unwrap();
        assert!(matches!(st, State::LastAck | State::Closed), "{st}");
        eventually("CLOSED", || t.server.state().unwrap() == State::Closed);
        eventually("TIME-WAIT", || t.client.state().unwrap() == State::TimeWait);
        // Ended normally after the FIN: still end-of-stream.
        assert_eq!(t.server.read(&mut [0u8; 4]).unwrap(), 0);
    }

    // §1a SYN-SENT: the FIN waits for the handshake, then follows the data.
    s1a_shutdown_write_in_syn_sent(103) |api, seed| {
        let hosts = hosts(seed);
        let l = api.listen(&hosts.server, server_addr(81));
        // The link is down until the shutdown is done, so the SYN-SENT is
        // certain; the retransmitted SYN then completes the handshake.
        hosts.link_up(false);
        let mut c = api.connect_nonblocking(&hosts.client, server_addr(81));
        assert_eq!(c.state().unwrap(), State::SynSent);
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(kind(c.try_write(b"x")), ErrorKind::BrokenPipe);
        assert_eq!(c.state().unwrap(), State::SynSent);
        hosts.link_up(true);
        let mut s = api.accept(&l);
        let (got, end) = s.read_all();
        end.unwrap();
        assert!(got.is_empty());
        eventually("FIN-WAIT-2", || c.state().unwrap() == State::FinWait2);
    }

    // §1a FIN-WAIT-1/2 …: a second shutdown is Ok and changes nothing.
    s1a_shutdown_write_twice(104) |api, seed| {
        let mut t = setup(api, seed);
        t.client.shutdown(Shutdown::Write).unwrap();
        eventually("FIN-WAIT-2", || t.client.state().unwrap() == State::FinWait2);
        t.client.shutdown(Shutdown::Write).unwrap();
        assert_eq!(t.client.state().unwrap(), State::FinWait2);
        assert_eq!(t.server.read_all().0.len(), 0);
    }

    // §1b: unread data is discarded and answered with RST.
    s1b_shutdown_read_with_queued_data(105) |api, seed| {
        let mut t = setup(api, seed);
        t.client.write_all(b"queued").unwrap();
        eventually("queued", || t.server.queued() == 6);
        t.server.shutdown(Shutdown::Read).unwrap();
        assert_eq!(t.server.read(&mut [0u8; 8]).unwrap(), 0);
        assert_eq!(kind(t.client.read(&mut [0u8; 8])), ErrorKind::ConnectionReset);
    }

    // §1b: nothing queued: reads end at once; data arriving later is reset.
    s1b_shutdown_read_then_data_arrives(106) |api, seed| {
        let mut t = setup(api, seed);
        t.server.shutdown(Shutdown::Read).unwrap();
        assert_eq!(t.server.read(&mut [0u8; 8]).unwrap(), 0);
        // Writes still work after shutdown(Read).
        t.server.write_all(b"one way").unwrap();
        let mut buf = [0u8; 7];
        let mut n = 0;
        while n < 7 {
            n += t.client.read(&mut buf[n..]).unwrap();
        }
        t.client.write_all(b"too late").unwrap();
        assert_eq!(kind(t.client.read(&mut [0u8; 8])), ErrorKind::ConnectionReset);
    }

    // §1c: Both = Read + Write: the FIN goes, and later data is reset.
    s1c_shutdown_both(107) |api, seed| {
        let mut t = setup(api, seed);
        t.server.shutdown(Shutdown::Both).unwrap();
        assert_eq!(kind(t.server.try_write(b"x")), ErrorKind::BrokenPipe);
        let (_, end) = t.client.read_all();
        end.unwrap();
        t.client.write_all(b"after both").unwrap();
        // The reset comes after the FIN: reads stay at end-of-stream
        // (row 5), writes fail.
        eventually("reset", || t.client.state().unwrap() == State::Closed);
        assert_eq!(t.client.read(&mut [0u8; 8]).unwrap(), 0);
        assert_eq!(kind(t.client.try_write(b"x")), ErrorKind::ConnectionReset);
    }

    // §1d ESTABLISHED, nothing unread: Ok at once; the peer gets everything
    // and then end-of-stream; the handle is gone.
    s1d_default_close_in_established(108) |api, seed| {
        let mut t = setup(api, seed);
        let data = pattern(60_000, 2);
        t.client.write_all(&data).unwrap();
        t.client.close().unwrap();
        assert!(t.client.state().is_err());
        let (got, end) = t.server.read_all();
        end.unwrap();
        assert!(got == data);
    }

    // §1d unread data: RST; the peer sees ConnectionReset.
    s1d_close_with_unread_data(109) |api, seed| {
        let mut t = setup(api, seed);
        t.client.write_all(b"unread").unwrap();
        eventually("queued", || t.server.queued() == 6);
        t.server.close().unwrap();
        assert_eq!(kind(t.client.read(&mut [0u8; 8])), ErrorKind::ConnectionReset);
    }

    // §1d CLOSE-WAIT, nothing unread: FIN → LAST-ACK → CLOSED.
    s1d_close_in_close_wait(110) |api, seed| {
        let mut t = setup(api, seed);
        t.client.shutdown(Shutdown::Write).unwrap();
        eventually("CLOSE-WAIT", || t.server.state().unwrap() == State::CloseWait);
        assert_eq!(t.server.read(&mut [0u8; 4]).unwrap(), 0);
        t.server.close().unwrap();
        let (_, end) = t.client.read_all();
        end.unwrap();
        eventually("TIME-WAIT", || t.client.state().unwrap() == State::TimeWait);
    }

    // §1d SYN-SENT: nothing more is sent; the socket is gone.
    s1d_close_in_syn_sent(111) |api, seed| {
        let hosts = hosts(seed);
        hosts.link_up(false);
        let mut c = api.connect_nonblocking(&hosts.client, server_addr(82));
        assert_eq!(c.state().unwrap(), State::SynSent);
        c.close().unwrap();
        assert_eq!(hosts.client.with(|s, _| s.socket_count()), 0);
    }

    // §1d FIN-WAIT-2 (after shutdown(Write)): Ok; the orphan finishes when
    // the peer closes.
    s1d_close_in_fin_wait_2(112) |api, seed| {
        let mut t = setup(api, seed);
        t.client.shutdown(Shutdown::Write).unwrap();
        eventually("FIN-WAIT-2", || t.client.state().unwrap() == State::FinWait2);
        t.client.close().unwrap();
        t.server.close().unwrap();
        eventually("TIME-WAIT", || t.hosts.client_time_wait() == 1);
    }

    // §1d data after close: answered with RST; the peer's next write or
    // read fails.
    s1d_data_after_close_is_reset(113) |api, seed| {
        let mut t = setup(api, seed);
        t.client.close().unwrap();
        let (_, end) = t.server.read_all();
        end.unwrap();
        t.server.write_all(b"nobody is reading").unwrap();
        eventually("reset", || t.server.state().unwrap() == State::Closed);
        assert_eq!(kind(t.server.try_write(b"x")), ErrorKind::ConnectionReset);
    }

    // §1e linger {on, 0}: RST, no TIME-WAIT.
    s1e_linger_zero_close(114) |api, seed| {
        let mut t = setup(api, seed);
        t.client.set_linger(Some(Duration::ZERO)).unwrap();
        t.client.close().unwrap();
        assert_eq!(kind(t.server.read(&mut [0u8; 8])), ErrorKind::ConnectionReset);
        assert_eq!(t.hosts.client_time_wait(), 0);
        assert_eq!(t.hosts.client.with(|s, _| s.socket_count()), 0);
    }

    // §1f linger {on, N}, everything acknowledged in time: Ok.
    s1f_linger_acknowledged(115) |api, seed| {
        let t = setup(api, seed);
        let (mut client, mut server) = (t.client, t.server);
        let data = pattern(80_000, 3);
        let reader = std::thread::spawn(move || server.read_all());
        client.write_all(&data).unwrap();
        client.set_linger(Some(Duration::from_secs(5))).unwrap();
        client.close().unwrap();
        let (got, end) = reader.join().unwrap();
        end.unwrap();
        assert!(got == data);
    }

    // §1f linger {on, N} expires (the peer's window stays shut): RST and
    // TimedOut; the peer reads what it got, then ConnectionReset.
    s1f_linger_expires(116) |api, seed| {
        let hosts = hosts(seed);
        let sock = TcpSocket::new(&hosts.server).unwrap();
        sock.set_recv_buffer_size(2048).unwrap();
        sock.bind(server_addr(83)).unwrap();
        let l = synfin::api::TcpSocket::listen(sock, 4).unwrap();
        let mut c = api.connect(&hosts.client, server_addr(83)).unwrap();
        let (s, _) = l.accept().unwrap();
        assert!(c.fill(&pattern(1 << 20, 4)) > 2048);
        c.set_linger(Some(Duration::from_millis(200))).unwrap();
        let t0 = std::time::Instant::now();
        let e = c.close().unwrap_err();
        assert!(t0.elapsed() >= Duration::from_millis(200));
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        assert_eq!(synfin_error(&e), Some(Error::TimedOut));
        let mut s = s;
        let (_, end) = Conn::read_all(&mut s);
        assert_eq!(end.unwrap_err().kind(), ErrorKind::ConnectionReset);
    }

    // §1h abort: RST, CLOSED, handle still valid.
    s1h_abort(117) |api, seed| {
        let mut t = setup(api, seed);
        t.client.abort().unwrap();
        assert_eq!(t.client.state().unwrap(), State::Closed);
        assert_eq!(kind(t.server.read(&mut [0u8; 8])), ErrorKind::ConnectionReset);
        assert_eq!(t.hosts.client_time_wait(), 0);
    }

    // §2 row 1: FIN — data, then 0 repeatedly; writes still work.
    s2_1_fin_in_established(118) |api, seed| {
        let mut t = setup(api, seed);
        t.client.write_all(b"then fin").unwrap();
        t.client.shutdown(Shutdown::Write).unwrap();
        let (got, end) = t.server.read_all();
        end.unwrap();
        assert_eq!(got, b"then fin");
        assert_eq!(t.server.read(&mut [0u8; 4]).unwrap(), 0);
        assert_eq!(t.server.read(&mut [0u8; 4]).unwrap(), 0);
        t.server.write_all(b"half-open").unwrap();
        let mut buf = [0u8; 9];
        let mut n = 0;
        while n < 9 {
            n += t.client.read(&mut buf[n..]).unwrap();
        }
        assert_eq!(&buf, b"half-open");
    }

    // §2 row 2: FIN after our shutdown(Write): 0, BrokenPipe, TIME-WAIT.
    s2_2_fin_after_our_shutdown(119) |api, seed| {
        let mut t = setup(api, seed);
        t.client.shutdown(Shutdown::Write).unwrap();
        t.server.shutdown(Shutdown::Write).unwrap();
        let (_, end) = t.client.read_all();
        end.unwrap();
        assert_eq!(kind(t.client.try_write(b"x")), ErrorKind::BrokenPipe);
        eventually("TIME-WAIT", || t.client.state().unwrap() == State::TimeWait);
    }

    // §2 row 3: RST answering our SYN: ConnectionRefused.
    s2_3_refused(120) |api, seed| {
        let hosts = hosts(seed);
        let e = api.connect(&hosts.client, server_addr(84)).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        assert_eq!(hosts.client.with(|s, _| s.socket_count()), 0);
    }

    // §2 row 4: RST in ESTABLISHED: the data before it, then
    // ConnectionReset on reads (repeatably) and writes.
    s2_4_rst_in_established(121) |api, seed| {
        let mut t = setup(api, seed);
        t.server.write_all(b"before rst").unwrap();
        eventually("data", || t.client.queued() == 10);
        t.server.abort().unwrap();
        eventually("reset", || t.client.state().unwrap() == State::Closed);
        let (got, end) = t.client.read_all();
        assert_eq!(got, b"before rst");
        assert_eq!(end.unwrap_err().kind(), ErrorKind::ConnectionReset);
        assert_eq!(kind(t.client.read(&mut [0u8; 4])), ErrorKind::ConnectionReset);
        assert_eq!(kind(t.client.try_write(b"x")), ErrorKind::ConnectionReset);
    }

    // §2 row 4: RST in FIN-WAIT-2.
    s2_4_rst_in_fin_wait_2(122) |api, seed| {
        let mut t = setup(api, seed);
        t.client.shutdown(Shutdown::Write).unwrap();
        eventually("FIN-WAIT-2", || t.client.state().unwrap() == State::FinWait2);
        t.server.abort().unwrap();
        assert_eq!(kind(t.client.read(&mut [0u8; 4])), ErrorKind::ConnectionReset);
    }

    // §2 row 5: RST in CLOSE-WAIT: 0 (the FIN came first), writes reset.
    s2_5_rst_in_close_wait(123) |api, seed| {
        let mut t = setup(api, seed);
        t.server.shutdown(Shutdown::Write).unwrap();
        eventually("CLOSE-WAIT", || t.client.state().unwrap() == State::CloseWait);
        t.server.abort().unwrap();
        eventually("CLOSED", || t.client.state().unwrap() == State::Closed);
        assert_eq!(t.client.read(&mut [0u8; 4]).unwrap(), 0);
        assert_eq!(kind(t.client.try_write(b"x")), ErrorKind::ConnectionReset);
    }

    // §2 row 6: RST in LAST-ACK: CLOSED, and the application is not told
    // anything went wrong.
    s2_6_rst_in_last_ack(124) |api, seed| {
        let mut t = setup(api, seed);
        t.server.shutdown(Shutdown::Write).unwrap();
        eventually("CLOSE-WAIT", || t.client.state().unwrap() == State::CloseWait);
        // Our FIN is lost (the link to the server is down one way), and the
        // server resets meanwhile.
        t.hosts
            .rt
            .with_network(|n| n.model_mut(HostId(0), HostId(1)).unwrap().up = false)
            .unwrap();
        t.client.shutdown(Shutdown::Write).unwrap();
        assert_eq!(t.client.state().unwrap(), State::LastAck);
        t.server.abort().unwrap();
        eventually("CLOSED", || t.client.state().unwrap() == State::Closed);
        assert_eq!(t.client.read(&mut [0u8; 4]).unwrap(), 0);
        let h = t.client.handle();
        assert_eq!(t.client.node().with(|s, _| s.take_error(h)).unwrap(), None);
    }

    // §2 row 8: a connection reset while in the accept queue: accept hands
    // it out, then reads report ConnectionReset.
    s2_8_rst_while_in_accept_queue(125) |api, seed| {
        let hosts = hosts(seed);
        let l = api.listen(&hosts.server, server_addr(85));
        let c = api.connect(&hosts.client, server_addr(85)).unwrap();
        c.abort().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let mut s = api.accept(&l);
        assert_eq!(kind(s.read(&mut [0u8; 4])), ErrorKind::ConnectionReset);
    }

    // §2 row 14: retransmissions exhausted: ConnectionAborted.
    s2_14_retransmissions_exhausted(126) |api, seed| {
        let mut t = setup(api, seed);
        t.hosts.link_up(false);
        t.client.write_all(b"lost").unwrap();
        assert_eq!(kind(t.client.read(&mut [0u8; 4])), ErrorKind::ConnectionAborted);
        let h = t.client.handle();
        assert_eq!(
            t.client.node().with(|s, _| s.take_error(h)).unwrap(),
            Some(Error::ConnectionAborted)
        );
    }

    // §2 row 14 for a connect: SYN retries exhausted: TimedOut.
    s2_14_connect_times_out(127) |api, seed| {
        let hosts = hosts(seed);
        hosts.link_up(false);
        let e = api.connect(&hosts.client, server_addr(86)).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
    }
}
