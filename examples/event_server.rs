//! A server driven by network events instead of blocking calls (Winsock's
//! WSAEventSelect pattern): one thread, one `Poller`, the listener and
//! every connection in it. It echoes whatever it reads and learns from the
//! CLOSE event — with its error code — how each client left. Three
//! clients: one closes gracefully, one aborts, one half-closes and waits
//! for the echo.
//!
//! `cargo run --example event_server`

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use synfin::api::{Poller, Runtime, TcpListener, TcpStream};
use synfin::links::LinkModel;
use synfin::stack::NetEvents;

fn main() -> std::io::Result<()> {
    let ips = ["198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap()];
    let model = LinkModel::new().delay(Duration::from_millis(2));
    let (_rt, nodes) = Runtime::simulated(3, model, &ips);
    let (client_node, server_node) = (nodes[0].clone(), nodes[1].clone());

    let listener = TcpListener::bind(&server_node, "198.18.0.2:80")?;
    listener.set_nonblocking(true)?;
    let mut poller = Poller::new(&server_node);
    poller.register(&listener, 0, NetEvents::ACCEPT)?;

    let clients = std::thread::spawn(move || -> std::io::Result<()> {
        let mut graceful = TcpStream::connect(&client_node, "198.18.0.2:80")?;
        graceful.write_all(b"hello from a graceful client")?;
        let mut echo = [0u8; 28];
        graceful.read_exact(&mut echo)?;
        graceful.close()?;

        let rude = TcpStream::connect(&client_node, "198.18.0.2:80")?;
        (&rude).write_all(b"bye")?;
        std::thread::sleep(Duration::from_millis(20));
        rude.abort()?;

        let mut half = TcpStream::connect(&client_node, "198.18.0.2:80")?;
        half.write_all(b"half-close: echo this, then I read to the end")?;
        half.shutdown(Shutdown::Write)?;
        let mut got = Vec::new();
        half.read_to_end(&mut got)?;
        println!(
            "client 3: got its {}-byte echo, then end-of-stream",
            got.len()
        );
        Ok(())
    });

    let mut conns: HashMap<usize, TcpStream> = HashMap::new();
    let mut next_token = 1;
    let mut finished = 0;
    while finished < 3 {
        for (token, ev) in poller.wait(Some(Duration::from_secs(10)))? {
            if token == 0 {
                // ACCEPT: take every waiting connection.
                loop {
                    match listener.accept() {
                        Ok((s, peer)) => {
                            s.set_nonblocking(true)?;
                            poller.register(&s, next_token, NetEvents::READ | NetEvents::CLOSE)?;
                            println!("server: ACCEPT → connection {next_token} from {peer}");
                            conns.insert(next_token, s);
                            next_token += 1;
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                continue;
            }
            let Some(s) = conns.get_mut(&token) else {
                continue;
            };
            if ev.events.contains(NetEvents::READ) {
                let mut buf = [0u8; 4096];
                match s.read(&mut buf) {
                    Ok(n) => {
                        println!("server: READ on {token} → {n} bytes, echoed");
                        s.write_all(&buf[..n])?;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => println!("server: READ on {token} → {:?}", e.kind()),
                }
            }
            if ev.events.contains(NetEvents::CLOSE) {
                let how = match ev.error(NetEvents::CLOSE) {
                    None => "graceful (the client sent its FIN)".to_string(),
                    Some(e) => format!("{e:?}"),
                };
                println!("server: CLOSE on {token} → {how}; closing our side");
                let mut s = conns.remove(&token).expect("known connection");
                s.close()?;
                finished += 1;
            }
        }
    }
    clients.join().expect("client thread")?;
    println!(
        "server: all three clients gone, {} connections open",
        conns.len()
    );
    Ok(())
}
