//! The kernel's TCP through `std::net` on loopback: the reference a user
//! would otherwise reach for. Loopback's MTU is the kernel's (64 KiB); it is
//! shared by everyone on this machine, so the benchmark does not change it.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};

fn io(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("kernel {what}: {e}")
}

/// `bytes` over one loopback connection, a writer thread and a reader (this
/// thread) reading into an application buffer; returns seconds.
pub fn bulk(bytes: u64, _buffer: usize) -> Result<f64, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(io("bind"))?;
    let addr = l.local_addr().map_err(io("local_addr"))?;
    let writer = std::thread::spawn(move || -> Result<(), String> {
        let mut c = TcpStream::connect(addr).map_err(io("connect"))?;
        let buf: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 + 3) as u8).collect();
        let mut left = bytes;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            c.write_all(&buf[..n]).map_err(io("write"))?;
            left -= n as u64;
        }
        c.shutdown(Shutdown::Write).map_err(io("shutdown"))?;
        Ok(())
    });
    let (mut s, _) = l.accept().map_err(io("accept"))?;
    let mut buf = vec![0u8; 64 * 1024];
    let start = std::time::Instant::now();
    let mut got = 0u64;
    loop {
        match s.read(&mut buf).map_err(io("read"))? {
            0 => break,
            n => got += n as u64,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    writer
        .join()
        .map_err(|_| "kernel writer panicked".to_string())??;
    if got != bytes {
        return Err(format!("kernel: received {got} of {bytes} bytes"));
    }
    Ok(secs)
}

/// `n` × (connect, `len` bytes each way, client closes, server closes) on
/// loopback in one thread, `k` at a time; returns seconds. A batch is `k`
/// connects (the listener's backlog holds them; `k` is at most
/// [`super::MAX_LIFECYCLE_BATCH`]), `k` accepts, the `k` requests and
/// responses, the `k` client closes, then the server reads each end of
/// stream and closes; with `k` = 1 that is one lifecycle after another, as
/// [`super::synfin::lifecycles`] runs them. The client closes first, so it
/// is the end that enters TIME-WAIT (Linux reuses loopback TIME-WAIT ports
/// for new connects, `tcp_tw_reuse = 2`).
pub fn lifecycles(n: u64, len: usize, k: usize) -> Result<f64, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(io("bind"))?;
    let addr = l.local_addr().map_err(io("local_addr"))?;
    let (request, response) = (vec![b'q'; len], vec![b'r'; len]);
    let mut b = vec![0u8; len];
    let (mut cs, mut ss) = (Vec::with_capacity(k), Vec::with_capacity(k));
    let start = std::time::Instant::now();
    for (_, m) in super::driver::batches(n, k) {
        for _ in 0..m {
            cs.push(TcpStream::connect(addr).map_err(io("connect"))?);
        }
        for _ in 0..m {
            ss.push(l.accept().map_err(io("accept"))?.0);
        }
        for c in &mut cs {
            c.write_all(&request).map_err(io("write"))?;
        }
        for s in &mut ss {
            s.read_exact(&mut b).map_err(io("read"))?;
            s.write_all(&response).map_err(io("write"))?;
        }
        for c in &mut cs {
            c.read_exact(&mut b).map_err(io("read"))?;
        }
        cs.clear();
        for s in &mut ss {
            if s.read(&mut b).map_err(io("read"))? != 0 {
                return Err("kernel: data where end-of-stream was expected".into());
            }
        }
        ss.clear();
    }
    Ok(start.elapsed().as_secs_f64())
}
