//! The runtime: one thread that drives the sans-IO stacks in real time, and
//! the lock and wake-ups that let application threads and tasks share them.
//!
//! Everything lives behind one mutex: the [`Driver`] (the stacks and the
//! link between them) and the wakers of parked async tasks. A caller locks,
//! acts on its stack at the current time, lets the driver move whatever the
//! call produced, and unlocks; whoever waits re-checks its condition under
//! the same lock. Because a waiter checks and parks (on the condition
//! variable, or by storing its waker) without releasing the lock in between,
//! and every change wakes all waiters before the lock is released, no
//! wake-up can be lost.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::links::{HostId, Network};
use crate::stack::Stack;
use crate::time::Instant;

/// What a [`Runtime`] drives: one or more stacks and whatever moves their
/// packets. Implemented by the simulated [`Network`]; a device link (TUN)
/// implements it the same way.
pub trait Driver: Send + 'static {
    /// The driver's clock when the runtime starts; real time is counted
    /// from here.
    fn now(&self) -> Instant;
    /// Moves packets and fires timers for everything due at or before
    /// `now`, and says whether anything happened that a waiter could care
    /// about (a packet arrived, a timer fired). Must not block.
    fn advance(&mut self, now: Instant) -> bool;
    /// When [`advance`](Self::advance) next has work to do without any
    /// application call (`None`: nothing until the application acts).
    fn next_deadline(&mut self) -> Option<Instant>;
    /// The stack of one host, if there is such a host.
    fn stack(&mut self, host: HostId) -> Option<&mut Stack>;
    /// The driver itself, for [`Runtime::with_network`] and the like.
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
    /// Called once, before the driver thread starts, with a handle that
    /// wakes that thread. A driver whose input arrives on its own (a
    /// device: `links::runtime_device`) keeps it and calls
    /// [`RuntimeWaker::wake`] when input is ready, since the thread
    /// otherwise sleeps until the next deadline. The simulator needs none.
    fn set_waker(&mut self, waker: RuntimeWaker) {
        let _ = waker;
    }
}

/// Wakes a [`Runtime`]'s driver thread from another thread, so it calls
/// [`Driver::advance`] now rather than at the next deadline. Does nothing
/// once the runtime is gone.
#[derive(Clone, Debug)]
pub struct RuntimeWaker {
    shared: Weak<Shared>,
}

impl RuntimeWaker {
    /// Wakes the driver thread; `false` if the runtime no longer exists.
    pub fn wake(&self) -> bool {
        let Some(s) = self.shared.upgrade() else {
            return false;
        };
        // Taking the lock orders this wake after whatever the driver thread
        // is doing under it: it is either about to re-check (and sees the
        // input) or already waiting (and gets the notification), so the
        // wake cannot fall between its check and its sleep.
        drop(s.lock());
        s.kick.notify_all();
        true
    }
}

impl Driver for Network<Stack> {
    fn now(&self) -> Instant {
        Network::now(self)
    }
    fn advance(&mut self, now: Instant) -> bool {
        let progressed = self.advance_to(now);
        // Callers of a runtime look at levels (readable, writable, network
        // events), not at the stacks' edge-event queues: drain those so they
        // do not grow.
        for i in 0..self.host_count() {
            let stack = self.host_mut(HostId(i));
            while stack.poll_event().is_some() {}
        }
        progressed
    }
    fn next_deadline(&mut self) -> Option<Instant> {
        self.next_event_time()
    }
    fn stack(&mut self, host: HostId) -> Option<&mut Stack> {
        (host.0 < self.host_count()).then(|| self.host_mut(host))
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// What the lock protects.
pub(crate) struct Inner {
    driver: Box<dyn Driver>,
    /// Async tasks parked until something changes.
    wakers: Vec<Waker>,
    /// The driver thread should exit.
    stopped: bool,
    /// Bumped on every change, so a waiter can tell a change from a
    /// spurious wake-up.
    pub(crate) epoch: u64,
    origin_real: std::time::Instant,
    origin_virtual: Instant,
}

impl Inner {
    /// The stack clock now: the driver's start time plus real time elapsed.
    pub(crate) fn now(&self) -> Instant {
        let us = self.origin_real.elapsed().as_micros() as u64;
        Instant::from_micros(self.origin_virtual.total_micros().saturating_add(us))
    }

    /// The stack of `host` (checked when the [`Node`] was made).
    pub(crate) fn stack(&mut self, host: HostId) -> &mut Stack {
        self.driver
            .stack(host)
            .expect("a Node names a host its driver has")
    }

    /// After a call that may have changed something: move what it produced
    /// and wake everyone.
    fn after_change(&mut self, now: Instant) {
        self.driver.advance(now);
        self.wake_all();
    }

    /// After a check that found nothing to do: move anything it may have
    /// produced, waking waiters only if the driver made progress.
    fn after_check(&mut self, now: Instant) -> bool {
        let progressed = self.driver.advance(now);
        if progressed {
            self.wake_all();
        }
        progressed
    }

    fn wake_all(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        for w in self.wakers.drain(..) {
            w.wake();
        }
    }
}

pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Application threads blocked in a call.
    changed: Condvar,
    /// The driver thread, when an application call may have moved the next
    /// deadline.
    kick: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the stacks as consistent as
        // any single call does; keep serving rather than poisoning every
        // later call.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A thread that runs a [`Driver`] in real time. Cheap to clone; the thread
/// ends when the last clone (and every socket made through it) is dropped.
///
/// ```
/// use synfin::api::Runtime;
/// use synfin::links::{LinkModel, Network};
/// use synfin::stack::{Stack, StackConfig};
///
/// let mut net = Network::new(1);
/// let ip = "198.18.0.1".parse().unwrap();
/// let mut stack = Stack::new(StackConfig::default(), 1);
/// stack.add_address(ip);
/// let a = net.add_host(&[ip], stack);
/// let rt = Runtime::new(net);
/// let node = rt.node(a).unwrap();
/// let l = node.with(|s, _now| s.listen("198.18.0.1:80".parse().unwrap(), 16)).unwrap();
/// # let _ = l;
/// ```
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<Shared>,
    _thread: Arc<ThreadGuard>,
}

/// Stops and joins the driver thread when the last runtime handle goes.
struct ThreadGuard {
    shared: Weak<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        if let Some(s) = self.shared.upgrade() {
            s.lock().stopped = true;
            s.kick.notify_all();
        }
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

impl core::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

impl Runtime {
    /// Starts the driver thread.
    pub fn new(driver: impl Driver) -> Runtime {
        let origin_virtual = driver.now();
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                driver: Box::new(driver),
                wakers: Vec::new(),
                stopped: false,
                epoch: 0,
                origin_real: std::time::Instant::now(),
                origin_virtual,
            }),
            changed: Condvar::new(),
            kick: Condvar::new(),
        });
        shared.lock().driver.set_waker(RuntimeWaker {
            shared: Arc::downgrade(&shared),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("synfin-runtime".into())
            .spawn(move || drive(&s))
            .expect("spawning the runtime thread");
        Runtime {
            _thread: Arc::new(ThreadGuard {
                shared: Arc::downgrade(&shared),
                thread: Mutex::new(Some(thread)),
            }),
            shared,
        }
    }

    /// A simulated network driven in real time: one stack per address (each
    /// with default configuration), every pair joined by a link with
    /// `model`, and all randomness from `seed`. Returns the runtime and a
    /// node per address, in order.
    ///
    /// ```
    /// use synfin::api::Runtime;
    /// use synfin::links::LinkModel;
    ///
    /// let ips = ["198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap()];
    /// let (_rt, nodes) = Runtime::simulated(7, LinkModel::default(), &ips);
    /// assert_eq!(nodes.len(), 2);
    /// ```
    pub fn simulated(
        seed: u64,
        model: crate::links::LinkModel,
        addrs: &[std::net::IpAddr],
    ) -> (Runtime, Vec<Node>) {
        Runtime::simulated_with(seed, model, addrs, &crate::stack::StackConfig::default())
    }

    /// [`Runtime::simulated`] with every stack built from `config` (shorter
    /// timers for tests, other buffer sizes…).
    pub fn simulated_with(
        seed: u64,
        model: crate::links::LinkModel,
        addrs: &[std::net::IpAddr],
        config: &crate::stack::StackConfig,
    ) -> (Runtime, Vec<Node>) {
        let mut net = Network::new(seed);
        let ids: Vec<HostId> = addrs
            .iter()
            .enumerate()
            .map(|(i, &ip)| {
                let mut s = Stack::new(config.clone(), seed ^ (i as u64 + 1));
                s.add_address(ip);
                net.add_host(&[ip], s)
            })
            .collect();
        for (i, &a) in ids.iter().enumerate() {
            for &b in &ids[i + 1..] {
                net.link(a, b, model.clone());
            }
        }
        let rt = Runtime::new(net);
        let nodes = ids.iter().filter_map(|&id| rt.node(id)).collect();
        (rt, nodes)
    }

    /// A handle on one of the driver's stacks, or `None` if it has no such
    /// host.
    pub fn node(&self, host: HostId) -> Option<Node> {
        self.shared.lock().driver.stack(host)?;
        Some(Node {
            rt: self.clone(),
            host,
        })
    }

    /// Runs `f` on the whole driver under the lock (to inspect the network,
    /// change a link's model, capture to pcap…), then wakes every waiter.
    pub fn with_driver<R>(&self, f: impl FnOnce(&mut dyn Driver) -> R) -> R {
        let mut g = self.shared.lock();
        let r = f(&mut *g.driver);
        let now = g.now();
        g.after_change(now);
        drop(g);
        self.shared.changed.notify_all();
        self.shared.kick.notify_all();
        r
    }
}

impl Runtime {
    /// Runs `f` on the simulated network (to take a link down, script a
    /// fault, read the trace…), then wakes every waiter; `None` when the
    /// driver is not a simulated network.
    pub fn with_network<R>(&self, f: impl FnOnce(&mut Network<Stack>) -> R) -> Option<R> {
        self.with_driver(|d| d.as_any_mut().downcast_mut::<Network<Stack>>().map(f))
    }
}

/// The driver thread: advance to now, wake waiters, sleep until the next
/// deadline or until an application call kicks it.
fn drive(shared: &Shared) {
    let mut g = shared.lock();
    loop {
        if g.stopped {
            return;
        }
        let now = g.now();
        if g.driver.advance(now) {
            g.wake_all();
            shared.changed.notify_all();
        }
        let wait = match g.driver.next_deadline() {
            Some(t) => {
                let d = t.saturating_duration_since(g.now());
                if d.is_zero() {
                    continue;
                }
                d
            }
            // Nothing scheduled: sleep until kicked (bounded, so a lost
            // kick could only delay, never hang).
            None => Duration::from_secs(1),
        };
        g = shared
            .kick
            .wait_timeout(g, wait)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// One stack driven by a [`Runtime`]: what sockets are created on.
#[derive(Clone, Debug)]
pub struct Node {
    rt: Runtime,
    host: HostId,
}

impl Node {
    /// The runtime this node belongs to.
    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// Which host of the driver this is.
    pub fn host(&self) -> HostId {
        self.host
    }

    /// Whether `other` is the same stack of the same runtime.
    pub fn same_stack(&self, other: &Node) -> bool {
        self.host == other.host && Arc::ptr_eq(&self.rt.shared, &other.rt.shared)
    }

    /// Runs one call on the stack at the current time, lets the driver
    /// move what it produced, and wakes every waiter.
    pub fn with<R>(&self, f: impl FnOnce(&mut Stack, Instant) -> R) -> R {
        let shared = &self.rt.shared;
        let mut g = shared.lock();
        let now = g.now();
        let r = f(g.stack(self.host), now);
        g.after_change(now);
        drop(g);
        shared.changed.notify_all();
        shared.kick.notify_all();
        r
    }

    /// Blocks until `f` returns `Some` or `timeout` passes (`None` then).
    ///
    /// `f` runs under the lock each time anything changes; it must not
    /// block. Whatever it does to the stack is then moved by the driver and
    /// wakes the other waiters, as with [`Node::with`].
    pub fn wait<R>(
        &self,
        timeout: Option<Duration>,
        mut f: impl FnMut(&mut Stack, Instant) -> Option<R>,
    ) -> Option<R> {
        let shared = &self.rt.shared;
        let until = timeout.map(|t| std::time::Instant::now() + t);
        let mut g = shared.lock();
        loop {
            let now = g.now();
            if let Some(r) = f(g.stack(self.host), now) {
                g.after_change(now);
                drop(g);
                shared.changed.notify_all();
                shared.kick.notify_all();
                return Some(r);
            }
            // The check may have produced something (a window update after
            // a read); the driver thread must see the deadline it implies.
            if g.after_check(now) {
                shared.changed.notify_all();
                continue;
            }
            shared.kick.notify_all();
            g = match until {
                None => shared.changed.wait(g).unwrap_or_else(|e| e.into_inner()),
                Some(u) => {
                    let left = u.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    shared
                        .changed
                        .wait_timeout(g, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    /// The async form of [`Node::wait`]: `Ready` when `f` returns `Some`,
    /// otherwise the task's waker is stored (under the same lock, so no
    /// change can slip between the check and the parking) and woken on the
    /// next change.
    pub fn poll_with<R>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut Stack, Instant) -> Option<R>,
    ) -> Poll<R> {
        let shared = &self.rt.shared;
        let mut g = shared.lock();
        let now = g.now();
        match f(g.stack(self.host), now) {
            Some(r) => {
                g.after_change(now);
                drop(g);
                shared.changed.notify_all();
                shared.kick.notify_all();
                Poll::Ready(r)
            }
            None => {
                let progressed = g.after_check(now);
                // Registered after `after_check` woke the others, so this
                // task is woken by the next change, not this one; if this
                // one was progress, wake it at once to look again.
                if progressed {
                    cx.waker().wake_by_ref();
                } else if !g.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    g.wakers.push(cx.waker().clone());
                }
                drop(g);
                if progressed {
                    shared.changed.notify_all();
                }
                shared.kick.notify_all();
                Poll::Pending
            }
        }
    }
}
