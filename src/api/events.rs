//! Network events for the blocking API: Winsock's `WSAEventSelect` /
//! `WSAWaitForMultipleEvents` / `WSAEnumNetworkEvents` pattern in Rust
//! clothes. The events themselves (what is recorded when, the re-arming
//! rules, the error codes) are the stack's: see
//! [`Stack::select_events`](crate::stack::Stack::select_events).

use std::io;
use std::time::Duration;

use super::Node;
use crate::stack::{Error, NetEvents, NetworkEvents, SocketHandle};

/// A socket object of the blocking API: what a [`Poller`] watches.
pub trait AsSocket {
    /// The node the socket lives on.
    fn node(&self) -> &Node;
    /// Its handle in that node's stack.
    fn socket_handle(&self) -> SocketHandle;
}

/// Many sockets of one node, each with a token and a selection of network
/// events; [`Poller::wait`] blocks until at least one has events recorded
/// and returns every socket's, taken — an event loop without a thread per
/// connection.
///
/// ```
/// use std::time::Duration;
/// use synfin::api::{Poller, Runtime, TcpListener, TcpStream};
/// use synfin::links::LinkModel;
/// use synfin::stack::NetEvents;
///
/// let ips = ["198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap()];
/// let (_rt, nodes) = Runtime::simulated(1, LinkModel::default(), &ips);
/// let listener = TcpListener::bind(&nodes[1], "198.18.0.2:80").unwrap();
/// let mut poller = Poller::new(&nodes[1]);
/// poller.register(&listener, 0, NetEvents::ACCEPT).unwrap();
/// let _client = TcpStream::connect(&nodes[0], "198.18.0.2:80").unwrap();
/// let ready = poller.wait(Some(Duration::from_secs(5))).unwrap();
/// assert_eq!(ready[0].0, 0);
/// assert!(ready[0].1.events.contains(NetEvents::ACCEPT));
/// ```
#[derive(Debug)]
pub struct Poller {
    node: Node,
    entries: Vec<(SocketHandle, usize)>,
}

impl Poller {
    /// An empty poller for sockets of `node`.
    pub fn new(node: &Node) -> Poller {
        Poller {
            node: node.clone(),
            entries: Vec::new(),
        }
    }

    /// Selects `mask` on `socket` (replacing any earlier selection) and
    /// reports its events under `token`. The socket must live on the
    /// poller's node.
    pub fn register(
        &mut self,
        socket: &impl AsSocket,
        token: usize,
        mask: NetEvents,
    ) -> io::Result<()> {
        if !socket.node().same_stack(&self.node) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the socket belongs to another node",
            ));
        }
        let h = socket.socket_handle();
        self.node.with(|s, _| s.select_events(h, mask))?;
        self.entries.retain(|&(eh, _)| eh != h);
        self.entries.push((h, token));
        Ok(())
    }

    /// Stops watching `socket` (and recording its events).
    pub fn deregister(&mut self, socket: &impl AsSocket) -> io::Result<()> {
        let h = socket.socket_handle();
        self.entries.retain(|&(eh, _)| eh != h);
        match self.node.with(|s, _| s.select_events(h, NetEvents::NONE)) {
            Ok(()) | Err(Error::InvalidHandle) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// How many sockets are watched.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no socket is watched.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Blocks until some watched socket has events recorded, or `timeout`
    /// passes (an empty list then), and returns `(token, events)` for each
    /// socket that has any, in registration order. A socket closed since it
    /// was registered records nothing more and is dropped from the set.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<Vec<(usize, NetworkEvents)>> {
        let entries = &mut self.entries;
        let r = self.node.wait(timeout, |s, _| {
            let mut ready = Vec::new();
            entries.retain(|&(h, token)| match s.take_network_events(h) {
                Ok(ev) => {
                    if !ev.is_empty() {
                        ready.push((token, ev));
                    }
                    true
                }
                Err(_) => false,
            });
            (!ready.is_empty()).then_some(ready)
        });
        Ok(r.unwrap_or_default())
    }
}
