//! The event loop of `synfin serve` and `synfin connect`: pump the device,
//! let the application act on the stack, send what it produced, and sleep
//! in `poll(2)` only when nothing moved.

use std::io;
use std::time::Duration;

use synfin::links::device::PacketDevice;
use synfin::links::host::DeviceHost;
use synfin::stack::Stack;
use synfin::time::Instant;

/// What one application step reports to the loop.
pub struct Step {
    /// It did something (more may be possible at once).
    pub progressed: bool,
    /// When it next wants to run without a packet arriving.
    pub deadline: Option<Instant>,
    /// The application is done; the loop ends once the stack has finished
    /// closing (or after [`DRAIN`]).
    pub finished: bool,
}

/// Longest the loop keeps running after the application is done, to let
/// closing connections finish their FIN exchange (TIME-WAIT is not waited
/// for).
pub const DRAIN: Duration = Duration::from_secs(10);

/// After the application is done and the sockets are gone, the loop still
/// runs until the link has been quiet this long, so that a peer whose RST
/// was lost learns of the reset from the RST its next segment draws.
pub const QUIET: Duration = Duration::from_millis(1500);

/// Longest single sleep, so a stuck peer never makes the loop unresponsive.
const MAX_SLEEP: Duration = Duration::from_millis(200);

/// How long the loop keeps polling the device without sleeping after the
/// last thing that moved (busy polling, as `SO_BUSY_POLL` does for kernel
/// sockets). An ACK that comes back within it is handled at once, instead
/// of after a sleep and a wake-up — which on a loaded machine can wait for
/// the scheduler for milliseconds, and bulk transfers over a TUN device are
/// a ping-pong of bursts and ACKs. Idle, the loop sleeps as before.
pub const BUSY_POLL: Duration = Duration::from_micros(100);

/// Runs `app` over `host` until it says it is finished and the stack has no
/// sockets left.
pub fn run<D: PacketDevice>(
    host: &mut DeviceHost<D>,
    mut app: impl FnMut(&mut Stack, Instant) -> Step,
) -> io::Result<()> {
    let mut drain_until: Option<std::time::Instant> = None;
    let mut last_moved = std::time::Instant::now();
    let mut last_rx = (host.stats().rx_packets, std::time::Instant::now());
    loop {
        let moved = host.pump()?;
        if host.stats().rx_packets != last_rx.0 {
            last_rx = (host.stats().rx_packets, std::time::Instant::now());
        }
        let now = host.now();
        let step = app(&mut host.stack, now);
        host.transmit(now)?;
        if step.finished {
            let until = *drain_until.get_or_insert_with(|| std::time::Instant::now() + DRAIN);
            let quiet = last_rx.1.elapsed() >= QUIET;
            if (host.stack.socket_count() == 0 && quiet) || std::time::Instant::now() >= until {
                if host.stack.socket_count() > 0 {
                    tracing::info!(
                        sockets = host.stack.socket_count(),
                        "closing connections still open after the drain time"
                    );
                }
                host.flush_capture()?;
                return Ok(());
            }
        }
        if moved || step.progressed {
            last_moved = std::time::Instant::now();
        } else if last_moved.elapsed() < BUSY_POLL {
            std::hint::spin_loop();
        } else {
            let max = step.deadline.map_or(MAX_SLEEP, |t| {
                t.saturating_duration_since(now).min(MAX_SLEEP)
            });
            host.wait(Some(max))?;
        }
    }
}
