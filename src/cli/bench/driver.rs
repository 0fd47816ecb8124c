//! The workload loops both in-memory stack pairs share (synfin.rs,
//! smol.rs): pumping until a condition holds, and the bulk transfer. Each
//! pair supplies its own packet hand-off and socket calls through
//! [`Pumped`] and [`BulkEnds`]; the loop, and so the work the benchmark asks
//! of each stack, is the same code.

/// Steps a workload may take without progress (each one a timer jump)
/// before it is declared stuck.
pub const STUCK: u32 = 10_000;

/// What one bulk or lifecycle run measured.
pub struct Run {
    /// Wall-clock seconds of the measured part.
    pub secs: f64,
}

/// Two stacks joined in memory, driven by a shared clock.
pub trait Pumped {
    /// Moves every packet both stacks have to send and runs due timers;
    /// whether anything moved.
    fn pump(&mut self) -> bool;
    /// Both stacks are idle: jump the clock to the earlier timer.
    fn wait(&mut self) -> Result<(), String>;
    /// What the pair has counted so far.
    fn counts(&self) -> Counts;
}

/// A pair's running counts.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    /// Packets client → server.
    pub c2s: u64,
    /// Packets server → client (in a bulk run, the receiver's ACKs).
    pub s2c: u64,
    /// Clock jumps to a timer.
    pub jumps: u64,
}

/// Pumps `p` until `done` holds, jumping to timers when idle.
pub fn until<P: Pumped>(
    p: &mut P,
    what: &str,
    mut done: impl FnMut(&mut P) -> bool,
) -> Result<(), String> {
    for _ in 0..STUCK {
        if done(p) {
            return Ok(());
        }
        if !p.pump() && !done(p) {
            p.wait().map_err(|e| format!("{what}: {e}"))?;
        }
    }
    Err(format!("{what}: no progress"))
}

/// The batches of a lockstep lifecycle run: `n` lifecycles `k` at a time,
/// as (index of the batch's first lifecycle, its size); the last batch
/// holds what is left.
///
/// ```text
/// batches(10, 4) → (0, 4), (4, 4), (8, 2)
/// ```
pub fn batches(n: u64, k: usize) -> impl Iterator<Item = (u64, usize)> {
    let k = k.max(1) as u64;
    (0..n.div_ceil(k)).map(move |b| (b * k, (n - b * k).min(k) as usize))
}

/// An established connection on a [`Pumped`] pair: the client end sends,
/// the server end reads.
pub trait BulkEnds: Pumped {
    /// Queues what fits of `data` on the client; 0 when the queue is full.
    fn send(&mut self, data: &[u8]) -> Result<usize, String>;
    /// Reads into `buf` on the server; 0 when nothing is readable (the end
    /// of the stream is an error: the bulk run never closes).
    fn recv(&mut self, buf: &mut [u8]) -> Result<usize, String>;
}

/// One connection on pair `p`: client end `c`, server end `s` (each
/// stack's [`BulkEnds`] is implemented on its `Conn`).
pub struct Conn<P, H> {
    /// The pair.
    pub p: P,
    /// The client's socket.
    pub c: H,
    /// The server's socket.
    pub s: H,
}

impl<P: Pumped, H> Pumped for Conn<P, H> {
    fn pump(&mut self) -> bool {
        self.p.pump()
    }
    fn wait(&mut self) -> Result<(), String> {
        self.p.wait()
    }
    fn counts(&self) -> Counts {
        self.p.counts()
    }
}

/// The bulk workload: `bytes` from client to server, the application
/// writing from a 64 KiB pattern buffer and reading into a 64 KiB buffer,
/// pumping in between. Prints the `bench-detail:` line for `stack`.
pub fn bulk<P: BulkEnds>(p: &mut P, stack: &str, mtu: usize, bytes: u64) -> Result<Run, String> {
    let app_tx: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 + 3) as u8).collect();
    let mut app_rx = vec![0u8; 64 * 1024];
    let (mut sent, mut got) = (0u64, 0u64);
    let before = p.counts();
    let start = std::time::Instant::now();
    let mut idle = 0;
    while got < bytes {
        let mut progress = false;
        while sent < bytes {
            // The stream is `app_tx` over and over, so a read can be checked.
            let off = (sent % app_tx.len() as u64) as usize;
            let n = (bytes - sent).min((app_tx.len() - off) as u64) as usize;
            match p.send(&app_tx[off..off + n])? {
                0 => break,
                k => {
                    sent += k as u64;
                    progress = true;
                }
            }
        }
        progress |= p.pump();
        loop {
            match p.recv(&mut app_rx)? {
                0 => break,
                n => {
                    got += n as u64;
                    progress = true;
                    check_tail(&app_rx[..n], &app_tx, got)?;
                }
            }
        }
        if progress {
            idle = 0;
        } else {
            idle += 1;
            if idle > STUCK {
                return Err(format!("{stack} bulk stuck after {got} bytes"));
            }
            p.wait()?;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if got != bytes {
        return Err(format!("{stack}: received {got} of {bytes} bytes"));
    }
    let after = p.counts();
    let (segments, acks) = (after.c2s - before.c2s, after.s2c - before.s2c);
    eprintln!(
        "bench-detail: stack={stack} workload=bulk mtu={mtu} bytes={bytes} segments={segments} acks={acks} timer_jumps={}",
        after.jumps
    );
    Ok(Run { secs })
}

/// A spot check that the bytes are the bytes (the tests check them all):
/// the last byte of each read is the one the sender wrote at that offset
/// (the sender writes `pattern` over and over).
pub fn check_tail(read: &[u8], pattern: &[u8], total: u64) -> Result<(), String> {
    let want = pattern[((total - 1) % pattern.len() as u64) as usize];
    if read.last() != Some(&want) {
        return Err(format!(
            "received data differs from sent data before offset {total}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::batches;

    #[test]
    fn batches_cover_every_lifecycle_once() {
        assert_eq!(batches(10, 4).collect::<Vec<_>>(), [(0, 4), (4, 4), (8, 2)]);
        assert_eq!(batches(8, 4).collect::<Vec<_>>(), [(0, 4), (4, 4)]);
        assert_eq!(batches(3, 16).collect::<Vec<_>>(), [(0, 3)]);
        assert_eq!(batches(0, 4).count(), 0);
        assert_eq!(batches(2, 0).collect::<Vec<_>>(), [(0, 1), (1, 1)]);
    }
}
