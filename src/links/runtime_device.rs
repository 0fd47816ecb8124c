//! A [`DeviceHost`] as a [`Driver`] of the [`Runtime`](crate::api::Runtime),
//! so the blocking and async socket APIs run over a TUN device or a UDP
//! link exactly as they run over the simulator.
//!
//! The runtime's thread sleeps until the stack's next deadline; packets
//! arriving on the device must wake it. A small watcher thread waits in
//! `poll(2)` on a duplicate of the device's descriptor and, when it is
//! readable, wakes the runtime ([`RuntimeWaker`]), then waits until the
//! runtime has read before polling again (the descriptor stays readable
//! until then).
//!
//! ```no_run
//! use synfin::api::{Runtime, TcpListener};
//! use synfin::links::host::DeviceHost;
//! use synfin::links::runtime_device::RuntimeDevice;
//! use synfin::links::udp::UdpLink;
//! use synfin::links::HostId;
//! use synfin::stack::{Stack, StackConfig};
//!
//! let link = UdpLink::open("127.0.0.1:40001".parse().unwrap(), "127.0.0.1:40002".parse().unwrap(), 1500)?;
//! let mut stack = Stack::new(StackConfig::default(), 7);
//! stack.add_address("198.18.1.2".parse().unwrap());
//! let rt = Runtime::new(RuntimeDevice::new(DeviceHost::new(stack, link)));
//! let node = rt.node(HostId(0)).unwrap();
//! let listener = TcpListener::bind(&node, "198.18.1.2:80")?;
//! # let _ = listener;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use super::device::PacketDevice;
use super::host::{wait_readable, DeviceHost};
use super::HostId;
use crate::api::{Driver, RuntimeWaker};
use crate::stack::Stack;
use crate::time::Instant;

/// How the runtime and the watcher thread hand the descriptor back and
/// forth.
#[derive(Default)]
struct Handoff {
    /// Bumped each time the runtime has read the device.
    reads: Mutex<u64>,
    read: Condvar,
    /// The driver is gone: the watcher ends.
    stop: AtomicBool,
}

/// A stack on a real device, driven by a [`Runtime`](crate::api::Runtime):
/// host 0 of the driver.
pub struct RuntimeDevice<D: PacketDevice> {
    host: DeviceHost<D>,
    handoff: Arc<Handoff>,
}

impl<D: PacketDevice> core::fmt::Debug for RuntimeDevice<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RuntimeDevice")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl<D: PacketDevice> RuntimeDevice<D> {
    /// Wraps `host` for [`Runtime::new`](crate::api::Runtime::new).
    pub fn new(host: DeviceHost<D>) -> RuntimeDevice<D> {
        RuntimeDevice {
            host,
            handoff: Arc::new(Handoff::default()),
        }
    }

    /// The device host (for its counters, say, through
    /// [`Runtime::with_driver`](crate::api::Runtime::with_driver)).
    pub fn host(&self) -> &DeviceHost<D> {
        &self.host
    }
}

impl<D: PacketDevice> Drop for RuntimeDevice<D> {
    fn drop(&mut self) {
        self.handoff.stop.store(true, Ordering::Relaxed);
        self.handoff.read.notify_all();
    }
}

impl<D: PacketDevice + Send + 'static> Driver for RuntimeDevice<D> {
    fn now(&self) -> Instant {
        self.host.now()
    }

    fn advance(&mut self, _now: Instant) -> bool {
        // The host keeps its own real-time clock, started before the
        // runtime's, so the two agree.
        let progressed = match self.host.pump() {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "device I/O failed");
                false
            }
        };
        // Callers of a runtime look at levels, not at the edge-event queue.
        while self.host.stack.poll_event().is_some() {}
        *self
            .handoff
            .reads
            .lock()
            .unwrap_or_else(PoisonError::into_inner) += 1;
        self.handoff.read.notify_all();
        progressed
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        self.host.next_deadline()
    }

    fn stack(&mut self, host: HostId) -> Option<&mut Stack> {
        (host.0 == 0).then_some(&mut self.host.stack)
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn set_waker(&mut self, waker: RuntimeWaker) {
        let fd = match self.host.device().as_fd().try_clone_to_owned() {
            Ok(fd) => fd,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the device; packets wait for the next timer");
                return;
            }
        };
        let handoff = Arc::clone(&self.handoff);
        let spawned = std::thread::Builder::new()
            .name("synfin-device-watch".into())
            .spawn(move || watch(&fd, &handoff, &waker));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the device watcher");
        }
    }
}

/// The watcher: wake the runtime whenever the device is readable, then wait
/// for the runtime to read it.
fn watch(fd: &OwnedFd, handoff: &Handoff, waker: &RuntimeWaker) {
    while !handoff.stop.load(Ordering::Relaxed) {
        match wait_readable(&[fd.as_fd()], Some(Duration::from_millis(500))) {
            Ok(r) if r.first() == Some(&true) => {}
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "device watcher stops");
                return;
            }
        }
        let seen = *handoff.reads.lock().unwrap_or_else(PoisonError::into_inner);
        if !waker.wake() {
            return;
        }
        let g = handoff.reads.lock().unwrap_or_else(PoisonError::into_inner);
        // Bounded, so a read that raced ahead of `seen` costs at most this.
        let _ = handoff
            .read
            .wait_timeout_while(g, Duration::from_millis(50), |r| {
                *r == seen && !handoff.stop.load(Ordering::Relaxed)
            });
    }
}
