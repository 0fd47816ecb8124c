//! One end of a soak connection as its application sees it, and what the
//! application does at each step.

use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};
use synfin::stack::{Error, Shutdown, SocketHandle, Stack};
use synfin::tcp::State;
use synfin::time::Instant;

use super::{CloseMode, DataMode, Scenario};

/// One end as the application sees it.
pub(super) struct End {
    pub(super) h: Option<SocketHandle>,
    pub(super) mode: DataMode,
    pub(super) out: Vec<u8>,
    pub(super) sent: usize,
    pub(super) got: Vec<u8>,
    /// Message mode: the sizes of the messages `out` is cut into, and how
    /// many of them were queued.
    pub(super) msgs: Vec<usize>,
    pub(super) msgs_sent: usize,
    /// Message mode: the sizes of the messages received, in order.
    pub(super) got_msgs: Vec<usize>,
    /// Message mode: the disconnect data this end sends, and the peer's
    /// once a receive reported `Disconnected`.
    pub(super) disconnect: Vec<u8>,
    pub(super) peer_disconnect: Option<Result<Vec<u8>, Error>>,
    /// End-of-stream (byte stream) or `Disconnected` (message mode).
    pub(super) eof: bool,
    /// The first error a send or receive reported.
    pub(super) err: Option<Error>,
    pub(super) shut: bool,
    /// The handle was closed (or released by an abort).
    pub(super) closed: bool,
    pub(super) close_result: Option<Result<(), Error>>,
    /// The role: the special closer or its peer.
    pub(super) closer: bool,
}

pub(super) fn pattern(len: usize, salt: u64) -> Vec<u8> {
    let mut r = ChaCha8Rng::seed_from_u64(salt);
    let mut v = vec![0u8; len];
    r.fill_bytes(&mut v);
    v
}

/// Cuts `len` bytes into message sizes: mostly small, some of several
/// kilobytes, a few of the largest size, and some empty.
pub(super) fn message_sizes(len: usize, max: usize, salt: u64) -> Vec<usize> {
    let mut r = ChaCha8Rng::seed_from_u64(salt);
    let mut v = Vec::new();
    let mut left = len;
    while left > 0 {
        let n = match r.next_u32() % 20 {
            0 => 0,
            1 => max,
            2..=5 => 512 + (r.next_u32() % 8192) as usize,
            _ => (r.next_u32() % 512) as usize,
        }
        .min(left);
        v.push(n);
        left -= n;
    }
    if r.next_u32() % 8 == 0 {
        // An empty message may also come last.
        v.push(0);
    }
    v
}

impl End {
    pub(super) fn new(out: Vec<u8>, closer: bool) -> End {
        End {
            h: None,
            mode: DataMode::Bytes,
            out,
            sent: 0,
            got: Vec::new(),
            msgs: Vec::new(),
            msgs_sent: 0,
            got_msgs: Vec::new(),
            disconnect: Vec::new(),
            peer_disconnect: None,
            eof: false,
            err: None,
            shut: false,
            closed: false,
            close_result: None,
            closer,
        }
    }

    /// The same end in message mode: `out` cut into messages, and
    /// `disconnect` as its disconnect data.
    pub(super) fn messages(mut self, max: usize, salt: u64, disconnect: Vec<u8>) -> End {
        self.mode = DataMode::Messages;
        self.msgs = message_sizes(self.out.len(), max, salt);
        self.disconnect = disconnect;
        self
    }

    /// Sends what fits (if `send`) and reads what is there (if `read`).
    pub(super) fn pump(&mut self, st: &mut Stack, now: Instant, send: bool, read: bool) {
        let Some(h) = self.h else { return };
        if self.err.is_some() || self.closed {
            return;
        }
        if self.mode == DataMode::Messages {
            self.pump_messages(st, now, h, send, read);
            return;
        }
        if send && !self.shut {
            while self.sent < self.out.len() {
                match st.send(now, h, &self.out[self.sent..]) {
                    Ok(n) => self.sent += n,
                    Err(Error::WouldBlock) => break,
                    Err(e) => {
                        self.err = Some(e);
                        return;
                    }
                }
            }
        }
        let mut buf = [0u8; 16 * 1024];
        while read && !self.eof {
            match st.recv(now, h, &mut buf) {
                Ok(0) => self.eof = true,
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
                Err(Error::WouldBlock) => break,
                Err(e) => {
                    self.err = Some(e);
                    return;
                }
            }
        }
    }

    /// [`End::pump`] in message mode: whole messages out, whole messages
    /// in, and the peer's disconnect data once `Disconnected` is reported.
    pub(super) fn pump_messages(
        &mut self,
        st: &mut Stack,
        now: Instant,
        h: SocketHandle,
        send: bool,
        read: bool,
    ) {
        if send && !self.shut {
            while self.msgs_sent < self.msgs.len() {
                let n = self.msgs[self.msgs_sent];
                match st.send_message(now, h, &self.out[self.sent..self.sent + n]) {
                    Ok(()) => {
                        self.sent += n;
                        self.msgs_sent += 1;
                    }
                    Err(Error::WouldBlock) => break,
                    Err(e) => {
                        self.err = Some(e);
                        return;
                    }
                }
            }
        }
        let mut buf = vec![0u8; st.max_message_size()];
        while read && !self.eof {
            match st.recv_message(now, h, &mut buf) {
                Ok(n) => {
                    self.got.extend_from_slice(&buf[..n]);
                    self.got_msgs.push(n);
                }
                Err(Error::Disconnected) => {
                    self.eof = true;
                    self.peer_disconnect = Some(st.recv_disconnect(h));
                }
                Err(Error::WouldBlock) => break,
                Err(e) => {
                    self.err = Some(e);
                    return;
                }
            }
        }
    }

    pub(super) fn all_queued(&self) -> bool {
        match self.mode {
            DataMode::Bytes => self.sent == self.out.len(),
            DataMode::Messages => self.msgs_sent == self.msgs.len(),
        }
    }

    /// Ends the sending side: `shutdown(Write)`, or in message mode a
    /// DISCONNECT record with this end's disconnect data.
    pub(super) fn shutdown(&mut self, st: &mut Stack, now: Instant) {
        if let (Some(h), false) = (self.h, self.shut) {
            let r = match self.mode {
                DataMode::Bytes => st.shutdown(now, h, Shutdown::Write),
                DataMode::Messages => st.send_disconnect(now, h, &self.disconnect),
            };
            if let Err(e) = r {
                self.err.get_or_insert(e);
            }
            self.shut = true;
        }
    }

    /// Everything the peer sent has been received: all its bytes and, in
    /// message mode, all its messages with their boundaries.
    pub(super) fn got_all(&self, want: &[u8], want_msgs: &[usize]) -> bool {
        self.got == want && (self.mode == DataMode::Bytes || self.got_msgs == want_msgs)
    }

    pub(super) fn close(&mut self, st: &mut Stack, now: Instant) {
        if let (Some(h), false) = (self.h, self.closed) {
            match st.close(now, h) {
                Err(Error::WouldBlock) => {}
                r => {
                    self.closed = true;
                    self.close_result = Some(r);
                }
            }
        }
    }
}

pub(super) fn describe(e: &End, st: &Stack) -> String {
    let state = e.h.map(|h| st.state(h));
    format!(
        "{state:?} sent {}/{} got {} eof={} shut={} closed={} err={:?}",
        e.sent,
        e.out.len(),
        e.got.len(),
        e.eof,
        e.shut,
        e.closed,
        e.err
    )
}

/// One application step of an end, by close mode and role.
pub(super) fn act(sc: &Scenario, e: &mut End, st: &mut Stack, now: Instant, both: bool) {
    let Some(h) = e.h else { return };
    if e.closed {
        return;
    }
    match (sc.close, e.closer) {
        (CloseMode::Graceful, _) | (CloseMode::HalfClose, true) => {
            e.pump(st, now, true, true);
            if e.all_queued() {
                e.shutdown(st, now);
            }
            if (e.eof && e.shut) || e.err.is_some() {
                e.close(st, now);
            }
        }
        (CloseMode::HalfClose, false) => {
            // Read to end-of-stream first, then send to the half-closed peer.
            e.pump(st, now, e.eof, true);
            if e.eof && e.all_queued() {
                e.shutdown(st, now);
                e.close(st, now);
            }
            if e.err.is_some() {
                e.close(st, now);
            }
        }
        (CloseMode::Abort, true) => {
            e.pump(st, now, true, true);
            let established = !matches!(st.state(h), Ok(State::SynSent | State::SynReceived));
            if e.got.len() >= sc.abort_after && established && both || e.err.is_some() {
                let _ = st.abort(now, h);
                e.close(st, now);
            }
        }
        (CloseMode::Linger, true) => {
            e.pump(st, now, true, true);
            if e.all_queued() && e.eof && e.mode == DataMode::Messages {
                // The disconnect data goes before the lingering close (a
                // close alone would send an empty DISCONNECT record).
                e.shutdown(st, now);
            }
            if e.all_queued() && e.eof || e.err.is_some() {
                e.close(st, now);
            }
        }
        (CloseMode::UnreadClose, true) => {
            e.pump(st, now, true, false);
            if e.all_queued() && st.recv_queue_len(h).unwrap_or(0) > 0 || e.err.is_some() {
                e.close(st, now);
            }
        }
        (CloseMode::Linger, false) => {
            e.pump(st, now, true, true);
            if e.all_queued() {
                e.shutdown(st, now);
            }
            if (e.eof && e.shut) || e.err.is_some() {
                e.close(st, now);
            }
        }
        (CloseMode::Abort | CloseMode::UnreadClose, false) => {
            // Sends everything and reads until the reset arrives; never
            // closes on its own.
            e.pump(st, now, true, true);
            if e.err.is_some() {
                e.close(st, now);
            }
        }
    }
}
