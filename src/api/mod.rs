//! The application-facing layer: a runtime that drives the sans-IO stacks
//! in real time, and the socket APIs on top of it.
//!
//! * [`Runtime`] and [`Node`] — one thread driving a [`Driver`] (the
//!   simulated network, or a device link), shared safely by threads and
//!   tasks.
//! * The blocking API, in `std::net`'s vocabulary: [`TcpListener`],
//!   [`TcpStream`] (`std::io::Read`/`Write`), [`TcpSocket`] for options
//!   that must be set before connect or listen, and network events —
//!   per socket (`select_events`, `wait_network_events`) or for many at
//!   once ([`Poller`]).
//! * Message mode ([`TcpListener::bind_message`],
//!   [`TcpStream::connect_message`], `send_message` / `recv_message`,
//!   `send_disconnect` / `recv_disconnect`; docs/message-mode.md).
//! * [`tokio`] (feature `tokio`, on by default): the same over tokio's
//!   `AsyncRead`/`AsyncWrite`.
//!
//! All three read the same socket state in the stack, so they never
//! disagree. Errors are `std::io::Error`s whose `get_ref()` downcasts to
//! [`crate::stack::Error`] (docs/SEMANTICS.md has the errno and Winsock
//! code of each).

mod call;
mod events;
mod listener;
mod message;
mod runtime;
mod socket;
mod stream;
#[cfg(feature = "tokio")]
pub mod tokio;

pub use events::{AsSocket, Poller};
pub use listener::{Incoming, TcpListener, DEFAULT_BACKLOG};
pub use message::stack_error;
pub use runtime::{Driver, Node, Runtime, RuntimeWaker};
pub use socket::TcpSocket;
pub use stream::TcpStream;
