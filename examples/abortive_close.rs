//! Abortive close and what each side observes: three ways a connection is
//! reset — `close` with linger zero, `close` with unread data (nothing is
//! dropped silently), and `abort` — each followed by the peer's reads and
//! writes.
//!
//! `cargo run --example abortive_close`

use std::io::{Read, Write};
use std::time::Duration;

use synfin::api::{Node, Runtime, TcpListener, TcpStream};
use synfin::links::LinkModel;

fn pair(client: &Node, listener: &TcpListener) -> std::io::Result<(TcpStream, TcpStream)> {
    let addr = listener.local_addr()?;
    let c = TcpStream::connect(client, addr)?;
    let (s, _) = listener.accept()?;
    Ok((c, s))
}

/// What the peer sees: its reads until they end, then a write.
fn observe(who: &str, mut s: TcpStream) {
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => {
                println!("  {who}: read → end-of-stream");
                break;
            }
            Ok(n) => println!("  {who}: read → {n} bytes"),
            Err(e) => {
                println!("  {who}: read → error {:?}: {e}", e.kind());
                break;
            }
        }
    }
    match s.write(b"hello?") {
        Ok(n) => println!("  {who}: write → {n} bytes"),
        Err(e) => println!("  {who}: write → error {:?}: {e}", e.kind()),
    }
}

fn main() -> std::io::Result<()> {
    let ips = ["198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap()];
    let model = LinkModel::new().delay(Duration::from_millis(2));
    let (_rt, nodes) = Runtime::simulated(2, model, &ips);
    let listener = TcpListener::bind(&nodes[1], "198.18.0.2:9")?;

    println!("1. the client writes, sets linger {{on, 0}} and closes at once");
    let (mut c, s) = pair(&nodes[0], &listener)?;
    c.write_all(b"queued, never sent")?;
    c.set_linger(Some(Duration::ZERO))?;
    c.close()?;
    println!("  client: close → Ok (RST sent, anything still queued discarded, no TIME-WAIT)");
    observe("server", s);

    println!("2. the server closes with the client's data unread");
    let (mut c, mut s) = pair(&nodes[0], &listener)?;
    c.write_all(b"a request nobody reads")?;
    while s.recv_queue_len()? == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    s.close()?;
    println!("  server: close → Ok (unread data: RST instead of FIN)");
    observe("client", c);

    println!("3. the server sends a reply, then aborts");
    let (c, s) = pair(&nodes[0], &listener)?;
    s.set_nodelay(true)?;
    (&s).write_all(b"partial reply")?;
    std::thread::sleep(Duration::from_millis(20));
    s.abort()?;
    println!("  server: abort → Ok (state {})", s.state()?);
    observe("client", c);
    Ok(())
}
