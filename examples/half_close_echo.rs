//! Half-close echo: the client sends a request, shuts down its write side
//! (the FIN says "that is the whole request"), and reads the reply until
//! end-of-stream; the server reads to end-of-stream, replies and closes.
//! Two simulated hosts with 5 ms of delay, driven in real time.
//!
//! `cargo run --example half_close_echo`

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use synfin::api::{Runtime, TcpListener, TcpStream};
use synfin::links::LinkModel;

fn main() -> std::io::Result<()> {
    let ips = ["198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap()];
    let model = LinkModel::new().delay(Duration::from_millis(5));
    let (_rt, nodes) = Runtime::simulated(1, model, &ips);
    let (client_node, server_node) = (nodes[0].clone(), nodes[1].clone());
    let start = Instant::now();
    let t = move || format!("{:>7.1} ms", start.elapsed().as_secs_f64() * 1e3);

    let listener = TcpListener::bind(&server_node, "198.18.0.2:7")?;
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, peer) = listener.accept()?;
        println!("{} server: accepted {peer}", t());
        let mut request = Vec::new();
        s.read_to_end(&mut request)?;
        println!(
            "{} server: read {} bytes, then end-of-stream (state {})",
            t(),
            request.len(),
            s.state()?
        );
        let reply: Vec<u8> = request.iter().rev().copied().collect();
        s.write_all(&reply)?;
        println!(
            "{} server: wrote the {}-byte reply; closing",
            t(),
            reply.len()
        );
        s.close()?;
        println!("{} server: close returned (FIN follows the reply)", t());
        Ok(())
    });

    let mut c = TcpStream::connect(&client_node, "198.18.0.2:7")?;
    println!("{} client: connected from {}", t(), c.local_addr()?);
    let request: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    c.write_all(&request)?;
    c.shutdown(Shutdown::Write)?;
    println!(
        "{} client: sent {} bytes and shut down writing (state {})",
        t(),
        request.len(),
        c.state()?
    );
    match c.write(b"more") {
        Err(e) => println!("{} client: a write now fails: {e} ({:?})", t(), e.kind()),
        Ok(_) => println!("{} client: unexpected: a write after shutdown worked", t()),
    }
    let mut reply = Vec::new();
    c.read_to_end(&mut reply)?;
    println!(
        "{} client: read {} bytes, then end-of-stream (state {})",
        t(),
        reply.len(),
        c.state()?
    );
    server.join().expect("server thread")?;
    let ok = reply.iter().rev().eq(request.iter());
    c.close()?;
    println!(
        "{} client: closed; the reply is the request reversed: {ok}",
        t()
    );
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}
