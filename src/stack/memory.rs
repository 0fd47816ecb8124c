//! Accounting of the stack's own memory, so the per-connection and
//! per-TIME-WAIT costs can be measured rather than guessed (issue targets:
//! ≤ 512 B per idle established connection without its buffers, ≤ 64 B per
//! TIME-WAIT record).

use super::socket::SocketKind;
use super::Stack;
use crate::tcp::Connection;

/// Bytes the stack holds, by purpose. Capacities are counted, not lengths:
/// this is what the allocator actually gave out.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MemoryUsage {
    /// The socket slab (one slot per handle ever live at once).
    pub socket_table: usize,
    /// The boxed connection control blocks, with their own boxed parts
    /// (non-default settings, IPv6 addresses).
    pub connections: usize,
    /// Send and receive queue storage (0 for idle connections, which give
    /// their buffers back).
    pub buffers: usize,
    /// The 4-tuple demultiplexing map.
    pub demux: usize,
    /// The TIME-WAIT table.
    pub time_wait: usize,
    /// Listeners: their SYN queues (half-open entries) and accept queues.
    pub listeners: usize,
    /// Stack-generated segments waiting to be sent (RSTs, SYN-ACKs, ACKs).
    pub control: usize,
    /// Connection blocks of retired connections kept for the next ones
    /// (at most 8; they hold nothing else).
    pub spare_connections: usize,
}

impl MemoryUsage {
    /// Everything except the data buffers.
    pub fn without_buffers(&self) -> usize {
        self.socket_table
            + self.connections
            + self.demux
            + self.time_wait
            + self.listeners
            + self.control
            + self.spare_connections
    }

    /// Everything, buffers included.
    pub fn total(&self) -> usize {
        self.without_buffers() + self.buffers
    }
}

/// Heap bytes of a `std` / hashbrown hash map with `capacity` slots of
/// `entry` bytes: buckets are the next power of two above capacity × 8/7,
/// each holding one entry and one control byte, plus a 16-byte group tail.
pub(crate) fn hash_table_bytes(capacity: usize, entry: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = (capacity * 8 / 7).next_power_of_two().max(4);
    buckets * (entry + 1) + 16
}

impl Stack {
    /// What the stack's tables and connections occupy now.
    pub fn memory_usage(&self) -> MemoryUsage {
        let mut m = MemoryUsage {
            socket_table: self.sockets.heap_bytes(),
            demux: self.conns.heap_bytes(),
            time_wait: self.time_wait.heap_bytes(),
            control: self.control.capacity() * core::mem::size_of::<super::ControlPacket>(),
            ..MemoryUsage::default()
        };
        m.spare_connections = self.spare_conns.len() * core::mem::size_of::<Connection>();
        for h in self.sockets.handles() {
            if let Some(s) = self.sockets.get(h) {
                match &s.kind {
                    SocketKind::Conn(c) => {
                        m.connections +=
                            core::mem::size_of::<Connection>() + c.conn.block_heap_bytes();
                        m.buffers += c.conn.heap_bytes();
                    }
                    SocketKind::Listener(l) => m.listeners += l.heap_bytes(),
                    SocketKind::Unbound(_) => {}
                }
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use crate::stack::{Stack, StackConfig};
    use crate::time::Instant;

    /// A retired connection's block is kept (and counted) for the next
    /// connection, which starts from a fresh state in it.
    #[test]
    fn retired_connection_blocks_are_reused() {
        let mut s = Stack::new(StackConfig::default(), 7);
        s.add_address("198.18.0.1".parse().unwrap());
        let now = Instant::ZERO;
        let c = s.connect(now, "198.18.0.2:80".parse().unwrap()).unwrap();
        s.abort(now, c).unwrap();
        assert_eq!(s.close(now, c), Ok(()));
        let mut buf = [0u8; 1500];
        while s.poll_transmit(now, &mut buf).is_some() {}
        assert_eq!(s.socket_count(), 0);
        assert_eq!(s.spare_conns.len(), 1);
        let m = s.memory_usage();
        assert_eq!(m.connections, 0);
        assert_eq!(
            m.spare_connections,
            core::mem::size_of::<crate::tcp::Connection>()
        );
        let d = s.connect(now, "198.18.0.3:80".parse().unwrap()).unwrap();
        assert!(s.spare_conns.is_empty());
        assert_eq!(s.state(d), Ok(crate::tcp::State::SynSent));
        assert_eq!(s.peer_addr(d).ok(), "198.18.0.3:80".parse().ok());
    }
}
