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
            control: self.control.capacity() * core::mem::size_of::<super::Control>(),
            ..MemoryUsage::default()
        };
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
