//! Message mode and disconnect data (DESIGN.md "Message mode and disconnect
//! data"; the wire format is in docs/message-mode.md and
//! [`crate::tcp::message`]).
//!
//! A connection negotiates message mode in its handshake (option 253 with
//! [`MESSAGE_EXID`](crate::tcp::message::MESSAGE_EXID)). From then on this
//! layer frames every message as a DATA record in the connection's ordinary
//! byte stream and ends each direction with a DISCONNECT record carrying the
//! disconnect data, followed by the FIN. The TCP state machine is unchanged:
//! to it, records are bytes.
//!
//! On the receive side, every record header is validated as soon as it
//! arrives in order — not when the application reads it — so a peer that
//! breaks the format (an oversize record, a record after DISCONNECT, an
//! unknown type, a broken or truncated header) is reset at once and the
//! application sees [`Error::ProtocolViolation`]; nothing else is affected.
//! Messages are delivered whole: a record is readable once all of it has
//! arrived. When every message has been read and the DISCONNECT record and
//! the FIN have arrived, the record is taken off the queue: the CLOSE network
//! event fires, receives report [`Error::Disconnected`] and
//! [`Stack::recv_disconnect`] returns the data.
//!
//! ```
//! use synfin::stack::{Error, Stack, StackConfig};
//! let mut s = Stack::new(StackConfig::default(), 1);
//! s.add_address("198.18.0.2".parse().unwrap());
//! let l = s.listen_message("198.18.0.2:7".parse().unwrap(), 16).unwrap();
//! assert_eq!(s.is_message_mode(l), Ok(true));
//! assert_eq!(s.accept(l).err(), Some(Error::WouldBlock));
//! ```

use std::net::SocketAddr;

use super::events::NetEvents;
use super::socket::{ConnSocket, SocketKind};
use super::{Error, SocketHandle, Stack};
use crate::tcp::message::{
    RecordError, RecordHeader, RecordType, HEADER_LEN, MAX_MESSAGE_SIZE_LIMIT,
};
use crate::tcp::{ConnError, Connection, State};
use crate::time::Instant;

/// Why a peer's byte stream is not valid message mode.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Violation {
    Header(RecordError),
    Oversize(u32),
    AfterDisconnect,
    /// The FIN came inside a record, or without a DISCONNECT record.
    Truncated,
}

/// A connection's framing state. Boxed and allocated only for message-mode
/// connections: a byte stream pays one `None` pointer.
#[derive(Debug)]
pub(crate) struct Framing {
    /// Largest message this side accepts and sends.
    max: u32,
    /// Offset, from the first unread received byte, of the next record
    /// header not yet validated (may lie beyond what has arrived, while a
    /// record is incomplete).
    scan: usize,
    /// End offset (same origin) of the peer's DISCONNECT record once its
    /// header was validated: nothing may follow it.
    disconnect_end: Option<usize>,
    /// The peer's disconnect data, once its DISCONNECT was reached.
    peer_disconnect: Option<Vec<u8>>,
    /// This side queued its DISCONNECT record: no more messages.
    sent_disconnect: bool,
}

impl Framing {
    fn new(max: usize) -> Framing {
        Framing {
            max: max.min(MAX_MESSAGE_SIZE_LIMIT) as u32,
            scan: 0,
            disconnect_end: None,
            peer_disconnect: None,
            sent_disconnect: false,
        }
    }

    /// The record at the head of the receive queue, if all of it arrived.
    fn head(conn: &Connection) -> Option<RecordHeader> {
        let mut b = [0u8; HEADER_LEN];
        if conn.peek_received(0, &mut b) < HEADER_LEN {
            return None;
        }
        let h = RecordHeader::parse(&b).ok()?;
        (conn.recv_queue_len() >= h.record_len()).then_some(h)
    }

    /// Whether a whole message is waiting (the READ network event).
    pub(crate) fn message_ready(&self, conn: &Connection) -> bool {
        Framing::head(conn).is_some_and(|h| h.kind == RecordType::Data)
    }

    /// Whether the peer's DISCONNECT was reached (the CLOSE network event).
    pub(crate) fn disconnected(&self) -> bool {
        self.peer_disconnect.is_some()
    }

    /// Validates every record header that arrived since the last call.
    fn scan(&mut self, conn: &Connection) -> Result<(), Violation> {
        let avail = conn.recv_queue_len();
        loop {
            if let Some(end) = self.disconnect_end {
                if avail > end {
                    return Err(Violation::AfterDisconnect);
                }
                break;
            }
            if self.scan + HEADER_LEN > avail {
                break;
            }
            let mut b = [0u8; HEADER_LEN];
            conn.peek_received(self.scan, &mut b);
            let h = RecordHeader::parse(&b).map_err(Violation::Header)?;
            if h.len > self.max {
                return Err(Violation::Oversize(h.len));
            }
            self.scan += h.record_len();
            if h.kind == RecordType::Disconnect {
                self.disconnect_end = Some(self.scan);
            }
        }
        if conn.fin_received()
            && self.peer_disconnect.is_none()
            && self.disconnect_end != Some(avail)
        {
            return Err(Violation::Truncated);
        }
        Ok(())
    }

    /// `n` bytes were taken off the front of the receive queue.
    fn consumed(&mut self, n: usize) {
        self.scan = self.scan.saturating_sub(n);
        self.disconnect_end = self.disconnect_end.map(|e| e.saturating_sub(n));
    }

    /// After anything happened to the connection: validate new input, and
    /// take the peer's DISCONNECT off the queue once every message before it
    /// was read and its FIN arrived.
    fn pump(&mut self, conn: &mut Connection) {
        if conn.state() == State::Closed && conn.error().is_some() {
            return;
        }
        if let Err(v) = self.scan(conn) {
            tracing::debug!(local = %conn.local(), remote = %conn.remote(), violation = ?v, "message-mode protocol violation; resetting");
            conn.reset_with(ConnError::ProtocolViolation);
            return;
        }
        if self.peer_disconnect.is_some() || !conn.fin_received() {
            return;
        }
        if let Some(h) = Framing::head(conn).filter(|h| h.kind == RecordType::Disconnect) {
            let mut hdr = [0u8; HEADER_LEN];
            let _ = conn.recv(&mut hdr, false);
            let mut data = vec![0u8; h.len as usize];
            if !data.is_empty() {
                let _ = conn.recv(&mut data, false);
            }
            self.consumed(h.record_len());
            self.peer_disconnect = Some(data);
        }
    }

    fn recv_message(&mut self, conn: &mut Connection, buf: &mut [u8]) -> Result<usize, Error> {
        if let Some(h) = Framing::head(conn).filter(|h| h.kind == RecordType::Data) {
            let len = h.len as usize;
            if buf.len() < len {
                // Nothing is consumed: the message stays readable.
                return Err(Error::MessageTooLarge { len });
            }
            let mut hdr = [0u8; HEADER_LEN];
            conn.recv(&mut hdr, false)?;
            if len > 0 {
                conn.recv(&mut buf[..len], false)?;
            }
            self.consumed(h.record_len());
            return Ok(len);
        }
        if self.peer_disconnect.is_some() {
            return Err(Error::Disconnected);
        }
        match conn.state() {
            State::Closed => Err(conn.error().map_or(Error::NotConnected, Error::from)),
            _ => Err(Error::WouldBlock),
        }
    }

    fn send_record(
        &mut self,
        conn: &mut Connection,
        kind: RecordType,
        data: &[u8],
    ) -> Result<(), Error> {
        if data.len() > self.max as usize {
            return Err(Error::MessageTooLarge { len: data.len() });
        }
        // The state checks of SEND first (closed, reset, FIN queued), so a
        // reset is reported as such.
        conn.send(&[])?;
        if self.sent_disconnect {
            return Err(Error::BrokenPipe);
        }
        let need = HEADER_LEN + data.len();
        if conn.send_queue_free() < need {
            let (cap, _) = conn.buffer_capacities();
            if kind == RecordType::Disconnect || cap < need {
                // send_disconnect never blocks, and a message no larger than
                // the maximum always fits an empty queue: grow the queue
                // (by at most one record) rather than refuse.
                conn.set_buffer_sizes(Some(conn.send_queue_len() + need), None);
            } else {
                return Err(Error::WouldBlock);
            }
        }
        let hdr = RecordHeader {
            kind,
            len: data.len() as u32,
        };
        conn.send(&hdr.encode())?;
        if !data.is_empty() {
            conn.send(data)?;
        }
        if kind == RecordType::Disconnect {
            self.sent_disconnect = true;
            conn.shutdown_write();
        }
        Ok(())
    }
}

/// Validates and unframes after every change (called from the stack's
/// `touch`, before events are computed). Allocates the framing state the
/// first time a message-mode connection is seen.
#[inline] // after every packet; a byte stream returns at once
pub(crate) fn pump(c: &mut ConnSocket, max: usize) {
    if !c.conn.negotiated().message_mode {
        return;
    }
    c.message
        .get_or_insert_with(|| Box::new(Framing::new(max)))
        .pump(&mut c.conn);
}

/// Before a close: a message-mode connection that has not sent its
/// DISCONNECT yet sends an empty one, so the peer sees a clean end rather
/// than a truncated stream. (With unread data the close resets instead, and
/// the record is discarded with the queue.)
pub(crate) fn before_close(c: &mut ConnSocket) {
    if let Some(f) = c.message.as_mut() {
        if !f.sent_disconnect && c.conn.recv_queue_len() == 0 && c.conn.state() != State::SynSent {
            let _ = f.send_record(&mut c.conn, RecordType::Disconnect, &[]);
        }
    }
}

impl Stack {
    /// Puts a socket in message mode (or back into byte-stream mode) before
    /// [`Stack::listen_on`] or [`Stack::connect_from`]. A message-mode
    /// listener resets SYNs that do not offer message mode; a message-mode
    /// connect fails with [`Error::MessageModeRefused`] against a peer that
    /// does not echo it. The socket's buffers are raised, if needed, to hold
    /// one maximum-size record. On a connection it is too late:
    /// `AlreadyConnected`.
    pub fn set_message_mode(&mut self, h: SocketHandle, on: bool) -> Result<(), Error> {
        let need = (HEADER_LEN + self.max_message_size()) as u32;
        let base = self.config.tcp.clone();
        let s = self.sockets.app_mut(h).ok_or(Error::InvalidHandle)?;
        if matches!(s.kind, SocketKind::Conn(_)) {
            return Err(Error::AlreadyConnected);
        }
        s.options.message_mode = on;
        if on {
            let cfg = s.options.effective(&base);
            if cfg.send_buffer < need as usize {
                s.options.send_buffer = super::socket::OptU32::new(Some(need)).unwrap_or_default();
            }
            if cfg.recv_buffer < need as usize {
                s.options.recv_buffer = super::socket::OptU32::new(Some(need)).unwrap_or_default();
            }
        }
        Ok(())
    }

    /// Whether the socket is (or will listen or connect) in message mode.
    /// For a connection: whether message mode was negotiated (or, during
    /// the handshake, requested).
    pub fn is_message_mode(&self, h: SocketHandle) -> Result<bool, Error> {
        let s = self.sockets.app(h).ok_or(Error::InvalidHandle)?;
        Ok(match &s.kind {
            SocketKind::Conn(c) => c.conn.negotiated().message_mode,
            _ => s.options.message_mode,
        })
    }

    /// The largest message (and disconnect data) this stack sends or
    /// accepts, from [`super::StackConfig::max_message_size`].
    pub fn max_message_size(&self) -> usize {
        self.config.max_message_size.min(MAX_MESSAGE_SIZE_LIMIT)
    }

    /// `bind` + message mode + `listen` in one call.
    pub fn listen_message(
        &mut self,
        local: SocketAddr,
        backlog: usize,
    ) -> Result<SocketHandle, Error> {
        let h = self.socket();
        let r = self
            .set_message_mode(h, true)
            .and_then(|_| self.bind(h, local))
            .and_then(|_| self.listen_on(h, backlog));
        if let Err(e) = r {
            self.sockets.remove(h);
            return Err(e);
        }
        Ok(h)
    }

    /// `connect` in message mode in one call.
    pub fn connect_message(
        &mut self,
        now: Instant,
        remote: SocketAddr,
    ) -> Result<SocketHandle, Error> {
        let h = self.socket();
        let r = self
            .set_message_mode(h, true)
            .and_then(|_| self.connect_from(now, h, remote));
        if let Err(e) = r {
            self.sockets.remove(h);
            return Err(e);
        }
        Ok(h)
    }

    /// Sends one message: queued whole as a DATA record, or not at all
    /// (`WouldBlock` while the send queue lacks room). Zero-length messages
    /// are allowed. `MessageTooLarge` above [`Stack::max_message_size`];
    /// `BrokenPipe` after [`Stack::send_disconnect`]; `Unsupported` on a
    /// byte-stream connection.
    pub fn send_message(
        &mut self,
        now: Instant,
        h: SocketHandle,
        data: &[u8],
    ) -> Result<(), Error> {
        let (conn, f) = self.framing_mut(h)?;
        let r = f.send_record(conn, RecordType::Data, data);
        if r == Err(Error::WouldBlock) {
            self.reenable_event(h, NetEvents::WRITE);
        }
        self.touch(now, h);
        r
    }

    /// Receives one whole message into `buf` and returns its length.
    /// `WouldBlock` until a whole message has arrived; `MessageTooLarge {
    /// len }` if `buf` is shorter than the message (nothing is consumed: the
    /// message stays readable); `Disconnected` once every message was read
    /// and the peer's DISCONNECT reached; after a reset, the messages that
    /// arrived whole before it, then `ConnectionReset`.
    pub fn recv_message(
        &mut self,
        now: Instant,
        h: SocketHandle,
        buf: &mut [u8],
    ) -> Result<usize, Error> {
        let (conn, f) = self.framing_mut(h)?;
        let r = f.recv_message(conn, buf);
        self.reenable_event(h, NetEvents::READ);
        self.touch(now, h);
        r
    }

    /// Shuts down the sending side with disconnect data: a DISCONNECT record
    /// carrying `data` follows the queued messages, then the FIN. Never
    /// blocks, whatever the linger setting: the send queue grows by the
    /// record if it must. The receiving side stays open, so the peer can
    /// answer with its own disconnect data.
    ///
    /// On a byte-stream connection, `data` must be empty (TCP has no field
    /// for it: `Unsupported`), and the call is `shutdown(Write)`.
    pub fn send_disconnect(
        &mut self,
        now: Instant,
        h: SocketHandle,
        data: &[u8],
    ) -> Result<(), Error> {
        if !self.conn(h)?.negotiated().message_mode {
            if !data.is_empty() {
                return Err(Error::Unsupported);
            }
            return self.shutdown(now, h, super::Shutdown::Write);
        }
        let (conn, f) = self.framing_mut(h)?;
        let r = f.send_record(conn, RecordType::Disconnect, data);
        self.touch(now, h);
        r
    }

    /// The peer's disconnect data, once the teardown was indicated (the
    /// CLOSE network event, or a receive reporting `Disconnected`);
    /// `WouldBlock` before, and the connection's error if it failed
    /// instead. The data can be read any number of times until the socket
    /// is closed. `Unsupported` on a byte-stream connection.
    pub fn recv_disconnect(&mut self, h: SocketHandle) -> Result<Vec<u8>, Error> {
        let (conn, f) = self.framing_mut(h)?;
        match &f.peer_disconnect {
            Some(d) => Ok(d.clone()),
            None if conn.state() == State::Closed => {
                Err(conn.error().map_or(Error::NotConnected, Error::from))
            }
            None => Err(Error::WouldBlock),
        }
    }

    fn framing_mut(&mut self, h: SocketHandle) -> Result<(&mut Connection, &mut Framing), Error> {
        let max = self.max_message_size();
        let s = self.sockets.app_mut(h).ok_or(Error::InvalidHandle)?;
        let SocketKind::Conn(c) = &mut s.kind else {
            return Err(Error::NotConnected);
        };
        if !c.conn.negotiated().message_mode {
            return Err(Error::Unsupported);
        }
        let f = c.message.get_or_insert_with(|| Box::new(Framing::new(max)));
        Ok((&mut c.conn, f))
    }
}
