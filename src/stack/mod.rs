//! The sans-IO stack: sockets by handle, demux, listeners, TIME-WAIT.

pub mod tuple;
pub use tuple::FourTuple;
