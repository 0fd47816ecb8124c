//! The async API (feature `tokio`): [`TcpListener`] and [`TcpStream`] with
//! tokio's `AsyncRead`/`AsyncWrite`, an async [`TcpStream::close`] that
//! honours linger, and network events as a `Stream`.
//!
//! Nothing here needs a tokio reactor or timer: the synfin [`Runtime`]
//! thread drives the stack and wakes parked tasks (under the same lock
//! their check ran in, so no wake-up is lost). Every operation is one
//! atomic step on the stack, so every future here is cancellation-safe:
//! dropping an `accept`, `read` or `write` future loses no connection and
//! no byte; dropping a `connect` future abandons the attempt; dropping a
//! `close` future leaves a default close running in the background.
//!
//! [`Runtime`]: super::Runtime
//!
//! ```
//! use synfin::api::tokio::{TcpListener, TcpStream};
//! use synfin::api::Runtime;
//! use synfin::links::LinkModel;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let ips = ["198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap()];
//! let (_rt, nodes) = Runtime::simulated(1, LinkModel::default(), &ips);
//! let tokio_rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! tokio_rt.block_on(async {
//!     let listener = TcpListener::bind(&nodes[1], "198.18.0.2:7").await.unwrap();
//!     let mut client = TcpStream::connect(&nodes[0], "198.18.0.2:7").await.unwrap();
//!     let (mut server, _) = listener.accept().await.unwrap();
//!     client.write_all(b"ping").await.unwrap();
//!     client.shutdown().await.unwrap(); // the FIN
//!     let mut got = Vec::new();
//!     server.read_to_end(&mut got).await.unwrap();
//!     assert_eq!(got, b"ping");
//! });
//! ```

mod listener;
mod message;
mod stream;

pub use listener::TcpListener;
pub use stream::{NetworkEventStream, TcpStream};
