//! Message mode through the blocking and the async API (docs/message-mode.md),
//! over the simulated network driven in real time.

mod api_common;

use std::io::ErrorKind;
use std::time::Duration;

use api_common::*;
use synfin::api::{TcpListener, TcpSocket, TcpStream};
use synfin::stack::{Error, NetEvents};

#[test]
fn blocking_messages_and_disconnect_data() {
    with_watchdog(|| {
        let h = hosts(41);
        let l = TcpListener::bind_message(&h.server, server_addr(70)).unwrap();
        let c = TcpStream::connect_message(&h.client, server_addr(70)).unwrap();
        let (s, _) = l.accept().unwrap();
        assert!(c.is_message_mode().unwrap() && s.is_message_mode().unwrap());
        let big = pattern(30_000, 3);
        c.send_message(&big).unwrap();
        c.send_message(b"").unwrap();
        // A short buffer: MessageTooLarge, and the message stays readable.
        let mut small = [0u8; 10];
        let e = s.recv_message(&mut small).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            synfin_error(&e),
            Some(Error::MessageTooLarge { len: 30_000 })
        );
        let mut buf = vec![0u8; 40_000];
        assert_eq!(s.recv_message(&mut buf).unwrap(), 30_000);
        assert_eq!(&buf[..30_000], &big[..]);
        assert_eq!(s.recv_message(&mut buf).unwrap(), 0);
        // recv_disconnect blocks until the teardown; the read timeout bounds it.
        s.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
        assert_eq!(
            s.recv_disconnect().unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        s.set_read_timeout(None).unwrap();
        let waiter = std::thread::spawn(move || {
            let d = s.recv_disconnect().unwrap();
            let e = s.recv_message(&mut [0u8; 4]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::UnexpectedEof);
            assert_eq!(synfin_error(&e), Some(Error::Disconnected));
            s.send_disconnect(b"server bye").unwrap();
            d
        });
        std::thread::sleep(Duration::from_millis(20));
        c.select_events(NetEvents::CLOSE).unwrap();
        c.send_disconnect(b"client bye").unwrap();
        assert_eq!(waiter.join().unwrap(), b"client bye");
        let ev = c.wait_network_events(Some(Duration::from_secs(5))).unwrap();
        assert!(ev.events.contains(NetEvents::CLOSE));
        assert_eq!(c.recv_disconnect().unwrap(), b"server bye");
    });
}

#[test]
fn blocking_negotiation_failures() {
    with_watchdog(|| {
        let h = hosts(42);
        // A message connect to a byte-stream listener.
        let _plain = TcpListener::bind(&h.server, server_addr(71)).unwrap();
        let e = TcpStream::connect_message(&h.client, server_addr(71)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        assert_eq!(synfin_error(&e), Some(Error::MessageModeRefused));
        // A byte-stream connect to a message listener.
        let sock = TcpSocket::new(&h.server).unwrap();
        sock.set_message_mode(true).unwrap();
        sock.bind(server_addr(72)).unwrap();
        let _ml = sock.listen(4).unwrap();
        let e = TcpStream::connect(&h.client, server_addr(72)).unwrap_err();
        assert_eq!(synfin_error(&e), Some(Error::ConnectionRefused));
        // Disconnect data on a byte stream.
        let l = TcpListener::bind(&h.server, server_addr(73)).unwrap();
        let c = TcpStream::connect(&h.client, server_addr(73)).unwrap();
        let _s = l.accept().unwrap();
        let e = c.send_disconnect(b"x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        c.send_disconnect(b"").unwrap();
        assert_eq!(c.state().unwrap(), synfin::tcp::State::FinWait1);
    });
}

#[cfg(feature = "tokio")]
#[test]
fn async_messages_and_disconnect_data() {
    use synfin::api::tokio::{TcpListener, TcpStream};
    with_watchdog(|| {
        let h = hosts(43);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let l = TcpListener::bind_message(&h.server, server_addr(74))
                .await
                .unwrap();
            let c = TcpStream::connect_message(&h.client, server_addr(74))
                .await
                .unwrap();
            let (s, _) = l.accept().await.unwrap();
            assert!(s.is_message_mode().unwrap());
            c.send_message(b"hello").await.unwrap();
            c.send_disconnect(&42u64.to_be_bytes()).unwrap();
            let mut buf = [0u8; 16];
            assert_eq!(s.recv_message(&mut buf).await.unwrap(), 5);
            assert_eq!(&buf[..5], b"hello");
            let e = s.recv_message(&mut buf).await.unwrap_err();
            assert_eq!(synfin_error(&e), Some(Error::Disconnected));
            assert_eq!(s.recv_disconnect().await.unwrap(), 42u64.to_be_bytes());
            s.send_disconnect(b"ok").unwrap();
            assert_eq!(c.recv_disconnect().await.unwrap(), b"ok");
        });
    });
}
