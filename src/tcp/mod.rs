//! One TCP connection as a sans-IO state machine.

pub mod assembler;
pub mod congestion;
pub mod recv_queue;
pub mod rtt;
pub mod send_queue;
