//! The application-facing layer: a runtime that drives the sans-IO stacks
//! in real time, and the socket APIs on top of it.
//!
//! * [`Runtime`] and [`Node`] — one thread driving a [`Driver`] (the
//!   simulated network today), shared safely by threads and tasks.

mod runtime;

pub use runtime::{Driver, Node, Runtime};
