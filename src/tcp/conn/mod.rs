//! The connection state machine: the transmission control block (TCB) of
//! RFC 9293 §3.3.1 and the event processing of §3.10.
//!
//! The file split follows the RFC's event list: [`input`] is "SEGMENT
//! ARRIVES" (§3.10.7), [`output`] builds the segments to send, [`user`] holds
//! the user calls (§3.10.1–§3.10.6) and [`timers`] the timeouts (§3.10.8).

mod autotune;
mod block;
mod ecn;
mod input;
mod loss;
mod output;
mod pacing;
mod predict;
mod sack;
mod timers;
mod user;

use std::borrow::Cow;
use std::net::{SocketAddr, SocketAddrV4};

use super::congestion::CongestionAlgorithm;
use super::recv_queue::RecvQueue;
use super::rtt::RttEstimator;
use super::send_queue::SendQueue;
use super::{ConnError, State, TcpConfig};
use crate::time::Instant;
use crate::wire::{SeqNum, TcpOptions};
use output::TxFlags;

pub use loss::LossStats;
pub use output::{BulkSegment, PlainPoll, PlainSegment, Segment, SynOut};
#[cfg(test)]
pub(crate) use predict::without_prediction;
pub use user::IoError;

/// Things that happened to a connection since the stack last asked, which the
/// stack turns into application events.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Events(u8);

impl Events {
    /// The handshake completed.
    pub const CONNECTED: Events = Events(0x01);
    /// New in-order data or the peer's FIN became readable.
    pub const READABLE: Events = Events(0x02);
    /// Space opened in the send queue.
    pub const WRITABLE: Events = Events(0x04);
    /// The connection reached CLOSED (or TIME-WAIT) and is done.
    pub const CLOSED: Events = Events(0x08);

    /// No events.
    pub const fn empty() -> Self {
        Events(0)
    }
    /// Whether all of `other` is present.
    pub fn contains(self, other: Events) -> bool {
        self.0 & other.0 == other.0
    }
    /// Whether nothing is present.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    fn insert(&mut self, other: Events) {
        self.0 |= other.0;
    }
}

impl core::ops::BitOr for Events {
    type Output = Events;
    fn bitor(self, rhs: Events) -> Events {
        Events(self.0 | rhs.0)
    }
}

/// Options agreed in the handshake (RFC 9293 §3.7.1, RFC 7323).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Negotiated {
    /// Largest payload we put in one segment (peer's MSS less our options).
    pub snd_mss: u16,
    /// Shift applied to windows the peer advertises (0 without scaling).
    pub snd_wscale: u8,
    /// Shift applied to windows we advertise.
    pub rcv_wscale: u8,
    /// Both sides sent the timestamp option.
    pub timestamps: bool,
    /// The peer sent SACK-permitted.
    pub sack_permitted: bool,
    /// Both sides sent the window-scale option.
    pub window_scaling: bool,
    /// Message mode (docs/message-mode.md): both SYNs carried option 253
    /// with [`MESSAGE_EXID`](crate::tcp::message::MESSAGE_EXID). Before the
    /// handshake completes on an active open, whether our SYN offers it.
    pub message_mode: bool,
    /// ECN (RFC 3168 §6.1.1): an ECN-setup SYN was answered with an
    /// ECN-setup SYN-ACK. Before the handshake completes on an active open,
    /// whether our SYN asks for it.
    pub ecn: bool,
}

/// What a TIME-WAIT record keeps of a connection: SND.NXT, RCV.NXT,
/// (TS.Recent, our timestamp offset) when timestamps are on, and the window
/// field of the re-sent ACK.
pub type TimeWaitInfo = (SeqNum, SeqNum, Option<(u32, u32)>, u16);

/// A TCP connection: the TCB and its queues.
///
/// Sequence-space layout on the send side: the SYN occupies ISS; the byte at
/// offset 0 of the send queue has sequence number SND.UNA once the SYN is
/// acknowledged; a queued FIN follows the last byte of the queue.
#[cfg_attr(test, derive(Debug))]
pub struct Connection {
    // Field order is free (the compiler packs them); every byte counts
    // (issue 6: <= 512 B per idle connection with its slot and table
    // entries), so rarely used settings live in `cold` and the switches in
    // `settings` (block.rs).
    /// Both endpoints, compactly (16 bytes for IPv4, block.rs).
    ends: block::Endpoints,
    state: State,

    // Send sequence variables (RFC 9293 §3.3.1, Figure 2).
    iss: SeqNum,
    snd_una: SeqNum,
    snd_nxt: SeqNum,
    /// Highest sequence number sent so far; SND.NXT falls back below it after
    /// a retransmission timeout (go-back-N).
    snd_max: SeqNum,
    /// End of the last segment sent shorter than the MSS: Minshall's
    /// variant of Nagle holds a short segment only while an earlier short
    /// one is unacknowledged (see `data_decide`).
    snd_sml: SeqNum,
    /// Our SYN has been acknowledged. Not `snd_una != iss`: after 2^32 - 1
    /// bytes SND.UNA comes round to the ISS again, and the ACK that moves it
    /// on must not be taken for the ACK of a SYN (one byte of data would
    /// stay queued and every later segment would carry the wrong bytes).
    syn_acked: bool,
    /// Peer's window in bytes, already scaled.
    snd_wnd: u32,
    max_snd_wnd: u32,
    snd_wl1: SeqNum,
    snd_wl2: SeqNum,

    // Receive sequence variables (Figure 3).
    irs: SeqNum,
    rcv_nxt: SeqNum,
    /// Right edge of the window we last advertised; never moves left
    /// (RFC 9293 §3.8.6.2.2: the window must not shrink).
    rcv_adv: SeqNum,
    /// Sequence number of the peer's FIN once seen, possibly ahead of
    /// RCV.NXT when it arrived out of order.
    peer_fin: Option<SeqNum>,

    opts: Negotiated,
    local_mss: u16,
    /// Offers of our SYN, `TCP_NOOPT`, pacing, `TCP_NODELAY`,
    /// `SO_KEEPALIVE`, the one-shot `SO_ERROR` (block.rs).
    settings: block::Settings,
    /// Settings few sockets change and the rare reply RST; `None` while
    /// all are default (block.rs).
    cold: Option<Box<block::Cold>>,
    /// ECN's per-connection flags (ecn.rs).
    ecn: ecn::EcnFlags,
    /// A D-SACK block owed in the next ACK (RFC 2883).
    dsack: Option<(SeqNum, SeqNum)>,
    /// Auto-tuning bounds of the receive and send queues (autotune.rs).
    rcv_buf_max: u32,
    snd_buf_max: u32,
    ts_recent: u32,
    /// When TS.Recent was last set, in whole seconds of [`Instant`]
    /// (RFC 7323 §5.5: it goes stale after 24 days idle).
    ts_recent_at: u32,
    ts_offset: u32,

    send_q: SendQueue,
    recv_q: RecvQueue,

    /// The local side shut down its sending half: a FIN follows the queue.
    fin_queued: bool,
    /// The peer acknowledged our FIN. Kept as a flag because once SND.UNA
    /// passes the FIN, the FIN's number can no longer be derived from
    /// SND.UNA and the (now empty) send queue.
    fin_acked: bool,
    /// Nothing will ever read again (close, or shutdown of the read half):
    /// arriving data is answered with RST (RFC 9293 SHLD-3).
    rd_closed: bool,
    /// The application let go of the connection (default close); it finishes
    /// in the background and bounds its FIN-WAIT-2 stay.
    orphaned: bool,

    rtt: RttEstimator,
    /// Congestion control and loss recovery, allocated when data first
    /// flows (`loss.rs`).
    loss: Option<Box<loss::LossState>>,
    /// Karn's algorithm (RFC 6298 §3): one timed segment at a time, never a
    /// retransmitted one.
    rtt_probe: Option<(SeqNum, block::SentAt)>,
    retries: u8,
    /// When (in milliseconds of [`Instant`], truncated) the oldest
    /// unacknowledged data was first sent, estimated at its first
    /// retransmission timeout; the user timeout counts from here.
    rexmit_start_ms: u32,

    rto_at: Option<Instant>,
    dack_at: Option<Instant>,
    persist_at: Option<Instant>,
    persist_backoff: u8,
    /// The idle timer, as Linux has one for both uses: the bound on an
    /// orphaned FIN-WAIT-2, or else the next keep-alive check while
    /// keep-alive is on (RFC 9293 §3.8.4). One field, as the two never run
    /// at once: every idle connection pays for it.
    idle_at: Option<Instant>,
    /// Probes sent since the peer was last heard from.
    keepalive_sent: u8,

    /// The segments owed now: an RST, an ACK, a fast retransmission, a
    /// window or keep-alive probe, the FIN repeated (one byte, so that
    /// `wants_transmit` tests them at once: output.rs).
    txf: TxFlags,
    /// A challenge ACK is owed (RFC 5961 §3.2, §4.2); the stack decides
    /// whether its stack-wide budget allows it (§7).
    challenge: bool,
    segs_unacked: u8,

    error: Option<ConnError>,
    events: Events,
}

/// What a new connection takes from its [`TcpConfig`] alone, worked out
/// once: the stack keeps the set for its own configuration (rebuilt when
/// the configuration may have changed), so a connection set-up copies
/// these instead of deriving each again (clamps, the window-scale search,
/// the RTO bounds in microseconds: a fifth of `blank`'s instructions,
/// issue 6).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ConnDefaults {
    mss_v4: u16,
    mss_v6: u16,
    rcv_wscale: u8,
    ecn: bool,
    settings: block::Settings,
    /// Some cold setting differs from its default (`block::Cold`).
    cold: bool,
    rcv_buf_max: u32,
    snd_buf_max: u32,
    send_buffer: usize,
    recv_buffer: usize,
    rtt: RttEstimator,
}

impl ConnDefaults {
    /// The window scale a SYN of this configuration announces (0 without
    /// window scaling).
    pub fn rcv_wscale(&self) -> u8 {
        self.rcv_wscale
    }

    /// The MSS a SYN of this configuration announces ([`local_mss`]) over
    /// IPv4 or IPv6.
    pub fn mss(&self, ipv4: bool) -> u16 {
        if ipv4 {
            self.mss_v4
        } else {
            self.mss_v6
        }
    }

    /// The set for `cfg`, a connection's configuration: `stack`, the set of
    /// the stack's own, when `cfg` is borrowed from it unchanged (no socket
    /// option overrides it), else worked out.
    // The `Cow` itself, not the config: whether it is borrowed is the
    // answer.
    #[allow(clippy::ptr_arg)]
    pub fn for_config(stack: ConnDefaults, cfg: &Cow<'_, TcpConfig>) -> ConnDefaults {
        match cfg {
            Cow::Borrowed(_) => stack,
            Cow::Owned(c) => ConnDefaults::new(c),
        }
    }

    /// The set for `cfg` kept in `slot`, worked out on first use (the
    /// stack keeps its own configuration's; a free function over the slot
    /// so a caller can hold other fields of the stack borrowed meanwhile).
    #[inline]
    pub fn cached<'a>(slot: &'a mut Option<ConnDefaults>, cfg: &TcpConfig) -> &'a ConnDefaults {
        slot.get_or_insert_with(|| ConnDefaults::new(cfg))
    }

    /// The set for connections configured by `cfg`.
    pub fn new(cfg: &TcpConfig) -> ConnDefaults {
        const V4: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
            std::net::Ipv4Addr::UNSPECIFIED,
            0,
        ));
        const V6: SocketAddr = SocketAddr::V6(std::net::SocketAddrV6::new(
            std::net::Ipv6Addr::UNSPECIFIED,
            0,
            0,
            0,
        ));
        ConnDefaults {
            mss_v4: local_mss(cfg, &V4),
            mss_v6: local_mss(cfg, &V6),
            rcv_wscale: if cfg.window_scaling {
                wscale_for(cfg, cfg.recv_buffer.max(cfg.recv_buffer_max))
            } else {
                0
            },
            ecn: cfg.ecn.requests(),
            settings: block::Settings::for_config(cfg),
            cold: block::Cold::for_config(cfg).is_some(),
            rcv_buf_max: clamp_u32(cfg.recv_buffer_max.max(cfg.recv_buffer)),
            snd_buf_max: clamp_u32(cfg.send_buffer_max.max(cfg.send_buffer)),
            send_buffer: cfg.send_buffer,
            recv_buffer: cfg.recv_buffer,
            rtt: RttEstimator::new(cfg.initial_rto, cfg.min_rto, cfg.max_rto)
                .with_slop(cfg.rto_slop),
        }
    }
}

impl Connection {
    /// An active open (RFC 9293 §3.10.1, OPEN call): the connection starts in
    /// SYN-SENT and its SYN is ready to be sent.
    pub fn connect(
        cfg: &TcpConfig,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNum,
        now: Instant,
    ) -> Connection {
        Connection::connect_with(&ConnDefaults::new(cfg), cfg, local, remote, iss, now)
    }

    /// [`Connection::connect`] with `cfg`'s [`ConnDefaults`] worked out
    /// already (the stack keeps those of its own configuration, so a
    /// connect does not derive them again). `defaults` must be
    /// `ConnDefaults::new(cfg)`.
    pub fn connect_with(
        defaults: &ConnDefaults,
        cfg: &TcpConfig,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNum,
        now: Instant,
    ) -> Connection {
        let mut c = Connection::vacant();
        c.open_active(defaults, cfg, local, remote, iss, now);
        c
    }

    /// [`Connection::connect_with`] in place: this block (a finished
    /// connection's, or [`Connection::vacant`]) becomes the new active
    /// open. Written field by field into the block the stack keeps, so a
    /// connect neither builds the 300-byte block on the stack and copies
    /// it nor runs the old one's destructor (callgrind, issue 6).
    pub(crate) fn open_active(
        &mut self,
        defaults: &ConnDefaults,
        cfg: &TcpConfig,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNum,
        now: Instant,
    ) {
        debug_assert_eq!(*defaults, ConnDefaults::new(cfg));
        // `init_common`, then the active open's values for the fields it
        // leaves to each opener: SYN-SENT before the SYN goes out.
        let mss = self.init_common(defaults, cfg, local, remote, iss);
        self.state = State::SynSent;
        self.snd_una = iss;
        self.snd_nxt = iss;
        self.snd_max = iss;
        self.syn_acked = false;
        self.snd_wnd = 0;
        self.max_snd_wnd = 0;
        self.snd_wl1 = SeqNum(0);
        self.snd_wl2 = SeqNum(0);
        self.irs = SeqNum(0);
        self.rcv_nxt = SeqNum(0);
        self.rcv_adv = SeqNum(0);
        self.opts = Negotiated {
            snd_mss: default_peer_mss(remote.is_ipv4()).min(mss),
            snd_wscale: 0,
            rcv_wscale: defaults.rcv_wscale,
            timestamps: false,
            sack_permitted: false,
            window_scaling: false,
            message_mode: false,
            ecn: defaults.ecn,
        };
        self.ts_recent = 0;
        self.ts_recent_at = 0;
        self.ts_offset = 0;
        if let Some(k) = self.keepinit() {
            // TCP_KEEPINIT: the idle timer serves no other purpose before
            // ESTABLISHED (keep-alive and the FIN-WAIT-2 bound come later).
            self.idle_at = Some(now + k);
        }
    }

    /// A passively opened connection whose handshake has just completed: the
    /// listener's half-open entry received its final ACK (RFC 9293 §3.10.7.4,
    /// SYN-RECEIVED, fifth check). It starts in ESTABLISHED.
    #[allow(clippy::too_many_arguments)]
    pub fn accepted(
        cfg: &TcpConfig,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNum,
        irs: SeqNum,
        opts: Negotiated,
        ts_recent: u32,
        ts_offset: u32,
        peer_window: u16,
        now: Instant,
    ) -> Connection {
        Connection::accepted_with(
            &ConnDefaults::new(cfg),
            cfg,
            local,
            remote,
            iss,
            irs,
            opts,
            ts_recent,
            ts_offset,
            peer_window,
            now,
        )
    }

    /// [`Connection::accepted`] with `cfg`'s [`ConnDefaults`] worked out
    /// already (`defaults` must be `ConnDefaults::new(cfg)`).
    #[allow(clippy::too_many_arguments)]
    pub fn accepted_with(
        defaults: &ConnDefaults,
        cfg: &TcpConfig,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNum,
        irs: SeqNum,
        opts: Negotiated,
        ts_recent: u32,
        ts_offset: u32,
        peer_window: u16,
        now: Instant,
    ) -> Connection {
        let mut c = Connection::vacant();
        c.open_passive(
            defaults,
            cfg,
            local,
            remote,
            (iss, irs),
            opts,
            (ts_recent, ts_offset),
            peer_window,
            now,
        );
        c
    }

    /// [`Connection::accepted_with`] in place (see
    /// [`Connection::open_active`]): `seqs` is (ISS, IRS), `ts` is (TS.Recent, our timestamp offset).
    ///
    /// Always inline: the stack's one caller is the final ACK's
    /// `complete_handshake`, which then writes the block (and
    /// [`init_common`](Self::init_common)'s fields) without two calls and
    /// their argument shuffles (about 50 instructions a passive open,
    /// callgrind; [`open_active`](Self::open_active) keeps its own call).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) fn open_passive(
        &mut self,
        defaults: &ConnDefaults,
        cfg: &TcpConfig,
        local: SocketAddr,
        remote: SocketAddr,
        (iss, irs): (SeqNum, SeqNum),
        opts: Negotiated,
        (ts_recent, ts_offset): (u32, u32),
        peer_window: u16,
        now: Instant,
    ) {
        debug_assert_eq!(*defaults, ConnDefaults::new(cfg));
        // `init_common`, then the passive open's values for the fields it
        // leaves to each opener, each written once.
        self.init_common(defaults, cfg, local, remote, iss);
        self.state = State::Established;
        self.snd_una = iss + 1u32;
        self.snd_nxt = self.snd_una;
        self.snd_max = self.snd_una;
        self.syn_acked = true;
        self.irs = irs;
        self.rcv_nxt = irs + 1u32;
        self.opts = opts;
        self.ts_recent = ts_recent;
        self.ts_recent_at = secs(now);
        self.ts_offset = ts_offset;
        self.snd_wnd = u32::from(peer_window) << opts.snd_wscale;
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = irs + 1u32;
        self.snd_wl2 = self.snd_una;
        self.round_buffers(cfg);
        self.rcv_adv = self.rcv_nxt + self.initial_rcv_window();
        self.events.insert(Events::CONNECTED);
        self.heard_from_peer(now, cfg);
    }

    /// A block holding no connection, for [`Connection::open_active`] or
    /// [`Connection::open_passive`] to fill (which write every field: the
    /// values here are never read).
    pub(crate) fn vacant() -> Connection {
        const NOWHERE: std::net::SocketAddrV4 =
            std::net::SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0);
        Connection {
            ends: block::Endpoints::V4 {
                local: NOWHERE,
                remote: NOWHERE,
            },
            state: State::Closed,
            iss: SeqNum(0),
            snd_una: SeqNum(0),
            snd_nxt: SeqNum(0),
            snd_max: SeqNum(0),
            snd_sml: SeqNum(0),
            syn_acked: false,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: SeqNum(0),
            irs: SeqNum(0),
            rcv_nxt: SeqNum(0),
            rcv_adv: SeqNum(0),
            peer_fin: None,
            opts: Negotiated::default(),
            local_mss: 0,
            settings: block::Settings::default(),
            cold: None,
            ecn: ecn::EcnFlags::default(),
            dsack: None,
            rcv_buf_max: 0,
            snd_buf_max: 0,
            ts_recent: 0,
            ts_recent_at: 0,
            ts_offset: 0,
            send_q: SendQueue::default(),
            recv_q: RecvQueue::default(),
            fin_queued: false,
            fin_acked: false,
            rd_closed: false,
            orphaned: false,
            rtt: RttEstimator::new(
                core::time::Duration::ZERO,
                core::time::Duration::ZERO,
                core::time::Duration::ZERO,
            ),
            loss: None,
            rtt_probe: None,
            retries: 0,
            rexmit_start_ms: 0,
            rto_at: None,
            dack_at: None,
            persist_at: None,
            persist_backoff: 0,
            idle_at: None,
            keepalive_sent: 0,
            txf: TxFlags::default(),
            challenge: false,
            segs_unacked: 0,
            error: None,
            events: Events::empty(),
        }
    }

    /// What every new connection in this block starts with, whichever way
    /// it opens; returns the local MSS. Every field is named: the pattern
    /// below lists them all, so a new field cannot be forgotten (and a
    /// reused block keeps nothing of the connection it held). The fields
    /// bound to `_` are the sequence space, window and negotiated options,
    /// which [`open_active`](Self::open_active) and
    /// [`open_passive`](Self::open_passive) each write once with their
    /// own values.
    #[inline]
    fn init_common(
        &mut self,
        d: &ConnDefaults,
        cfg: &TcpConfig,
        local: SocketAddr,
        remote: SocketAddr,
        iss_: SeqNum,
    ) -> u16 {
        let mss = if local.is_ipv4() { d.mss_v4 } else { d.mss_v6 };
        let Connection {
            ends,
            state: _,
            iss,
            snd_una: _,
            snd_nxt: _,
            snd_max: _,
            snd_sml,
            syn_acked: _,
            snd_wnd: _,
            max_snd_wnd: _,
            snd_wl1: _,
            snd_wl2: _,
            irs: _,
            rcv_nxt: _,
            rcv_adv: _,
            peer_fin,
            opts: _,
            local_mss,
            settings,
            cold,
            ecn,
            dsack,
            rcv_buf_max,
            snd_buf_max,
            ts_recent: _,
            ts_recent_at: _,
            ts_offset: _,
            send_q,
            recv_q,
            fin_queued,
            fin_acked,
            rd_closed,
            orphaned,
            rtt,
            loss,
            rtt_probe,
            retries,
            rexmit_start_ms,
            rto_at,
            dack_at,
            persist_at,
            persist_backoff,
            idle_at,
            keepalive_sent,
            txf,
            challenge,
            segs_unacked,
            error,
            events,
        } = self;
        ends.set(local, remote);
        *iss = iss_;
        *snd_sml = iss_;
        *peer_fin = None;
        *local_mss = mss;
        *settings = d.settings;
        *cold = if d.cold {
            block::Cold::for_config_cold(cfg)
        } else {
            None
        };
        *ecn = ecn::EcnFlags::default();
        *dsack = None;
        *rcv_buf_max = d.rcv_buf_max;
        *snd_buf_max = d.snd_buf_max;
        *send_q = SendQueue::new(d.send_buffer);
        *recv_q = RecvQueue::new(d.recv_buffer);
        *fin_queued = false;
        *fin_acked = false;
        *rd_closed = false;
        *orphaned = false;
        *rtt = d.rtt;
        *loss = None;
        *rtt_probe = None;
        *retries = 0;
        *rexmit_start_ms = 0;
        *rto_at = None;
        *dack_at = None;
        *persist_at = None;
        *persist_backoff = 0;
        *idle_at = None;
        *keepalive_sent = 0;
        *txf = TxFlags::default();
        *challenge = false;
        *segs_unacked = 0;
        *error = None;
        *events = Events::empty();
        mss
    }

    /// The handshake needed a retransmitted SYN-ACK (passive open): the RTO
    /// starts at 3 s (RFC 6298 §5.7).
    pub(crate) fn syn_was_retransmitted(&mut self) {
        self.rtt.syn_timeout_fallback();
    }

    /// Offers message mode in the SYN of an active open (before it is sent);
    /// a SYN-ACK that does not echo the option then fails the connect with
    /// [`ConnError::MessageModeRefused`] and is answered with RST.
    pub fn request_message_mode(&mut self) {
        if self.state == State::SynSent {
            self.opts.message_mode = true;
        }
    }

    /// Sets the per-connection timestamp clock offset (RFC 7323 §5.4).
    pub fn set_ts_offset(&mut self, offset: u32) {
        self.ts_offset = offset;
    }

    /// The compact demultiplexing key of an IPv4 connection (`None` for
    /// IPv6): straight from the stored addresses, without the
    /// [`FourTuple`](crate::wire::FourTuple) round trip.
    #[inline]
    pub(crate) fn v4_key(&self) -> Option<crate::wire::V4Key> {
        match &self.ends {
            block::Endpoints::V4 { local, remote } => Some(crate::wire::V4Key::new(
                local.ip().octets(),
                remote.ip().octets(),
                local.port(),
                remote.port(),
            )),
            block::Endpoints::V6(_) => None,
        }
    }
    /// The local and remote address of an IPv4 connection (`None` for
    /// IPv6), as stored: for the transmit template's check that it is
    /// built for the same addresses (stack/transmit.rs).
    #[inline]
    pub(crate) fn v4_endpoints(&self) -> Option<(SocketAddrV4, SocketAddrV4)> {
        match &self.ends {
            block::Endpoints::V4 { local, remote } => Some((*local, *remote)),
            block::Endpoints::V6(_) => None,
        }
    }
    /// Local address and port.
    pub fn local(&self) -> SocketAddr {
        self.ends.local()
    }
    /// Remote address and port.
    pub fn remote(&self) -> SocketAddr {
        self.ends.remote()
    }
    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }
    /// Why the connection ended, if it ended abnormally.
    pub fn error(&self) -> Option<ConnError> {
        self.error
    }
    /// The pending error, once (the `SO_ERROR` model): the first call after
    /// a failure returns it, later calls `None`. Reads and writes go on
    /// reporting the failure.
    pub fn take_error(&mut self) -> Option<ConnError> {
        if self.settings.has(block::Settings::ERROR_TAKEN) {
            return None;
        }
        self.settings
            .set(block::Settings::ERROR_TAKEN, self.error.is_some());
        self.error
    }
    /// Options agreed in the handshake.
    pub fn negotiated(&self) -> Negotiated {
        self.opts
    }
    /// Events since the last call; clears them.
    pub fn take_events(&mut self) -> Events {
        core::mem::take(&mut self.events)
    }
    /// Whether the last segments asked for a challenge ACK (RFC 5961);
    /// clears the request. The stack answers with
    /// [`send_challenge_ack`](Self::send_challenge_ack) if its rate limit
    /// allows.
    pub fn take_challenge(&mut self) -> bool {
        core::mem::take(&mut self.challenge)
    }
    /// Sends the challenge ACK `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`.
    pub fn send_challenge_ack(&mut self) {
        self.txf.set(TxFlags::ACK_NOW);
    }
    /// Bytes readable now. In SYN-RECEIVED the queue can only hold text
    /// that came on the peer's SYN, which is not readable before
    /// ESTABLISHED (RFC 9293 §3.10.7.3).
    pub fn recv_queue_len(&self) -> usize {
        if self.state == State::SynReceived {
            0
        } else {
            self.recv_q.len()
        }
    }
    /// [`TcpConfig::round_buffers_to_mss`]: once the MSS is known, both
    /// queues grow to a whole number of segments (FreeBSD's `tcp_mss()`).
    pub(crate) fn round_buffers(&mut self, cfg: &TcpConfig) {
        if !cfg.round_buffers_to_mss {
            return;
        }
        let mss = usize::from(self.opts.snd_mss).max(1);
        let up = |n: usize| n.div_ceil(mss) * mss;
        self.recv_q.set_capacity(up(self.recv_q.capacity()));
        self.send_q.set_capacity(up(self.send_q.capacity()));
    }

    /// Capacities of the (send, receive) queues: `SO_SNDBUF` / `SO_RCVBUF`.
    pub fn buffer_sizes(&self) -> (usize, usize) {
        (self.send_q.capacity(), self.recv_q.capacity())
    }

    /// Bytes queued and not yet acknowledged (including unsent ones).
    pub fn send_queue_len(&self) -> usize {
        self.send_q.len()
    }
    /// Free space in the send queue.
    pub fn send_queue_free(&self) -> usize {
        self.send_q.free()
    }
    /// Whether the peer's FIN has been read past (reads return end-of-stream).
    pub fn at_eof(&self) -> bool {
        self.state.peer_fin_received() && self.recv_q.is_empty()
    }
    /// Whether everything we sent, FIN included if queued, is acknowledged.
    pub fn all_acked(&self) -> bool {
        self.snd_una == self.snd_max
            && self.unsent_len() == 0
            && (!self.fin_queued || self.fin_acked())
    }
    /// Whether the application let go of this connection.
    pub fn is_orphaned(&self) -> bool {
        self.orphaned
    }
    /// Whether the connection is finished: CLOSED, or TIME-WAIT (which the
    /// stack keeps as a compact record).
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Closed | State::TimeWait) && !self.txf.has(TxFlags::SEND_RST)
    }
    /// Current retransmission timeout.
    pub fn rto(&self) -> core::time::Duration {
        self.rtt.rto()
    }
    /// Congestion window, bytes.
    pub fn cwnd(&self) -> usize {
        self.cwnd_now()
    }
    /// Heap bytes of the connection block's own boxed parts: the cold
    /// settings and an IPv6 address pair (0 for an IPv4 connection with
    /// default settings).
    pub fn block_heap_bytes(&self) -> usize {
        self.ends.heap_bytes() + self.cold.as_ref().map_or(0, |_| size_of::<block::Cold>())
    }
    /// Gives back what a finished connection still holds besides its
    /// block (the loss state, which a closed connection keeps, the cold
    /// settings, empty queues' storage), so the stack can keep the block
    /// for the next connection holding nothing else. Returns whether it
    /// now holds nothing else (what `heap_bytes() == 0 &&
    /// block_heap_bytes() == 0` answers, without asking again about what
    /// it just gave back).
    pub(crate) fn release_heap(&mut self) -> bool {
        self.loss_give_back();
        self.cold = None;
        self.send_q.release_if_empty();
        self.recv_q.release_if_empty();
        let bare = self.send_q.heap_bytes() == 0
            && self.recv_q.heap_bytes() == 0
            && self.recv_q.reassembly_bytes() == 0
            && self.ends.heap_bytes() == 0;
        debug_assert_eq!(bare, self.heap_bytes() == 0 && self.block_heap_bytes() == 0);
        bare
    }
    /// Heap bytes held by the queues and the loss-recovery state (0 for a
    /// connection that never carried data).
    pub fn heap_bytes(&self) -> usize {
        self.send_q.heap_bytes()
            + self.recv_q.heap_bytes()
            + self.recv_q.reassembly_bytes()
            + self.loss_heap_bytes()
    }
    /// The values a TIME-WAIT record needs: SND.NXT, RCV.NXT, TS.Recent,
    /// whether timestamps are on and our timestamp offset.
    pub fn time_wait_info(&self) -> TimeWaitInfo {
        let ts = self
            .opts
            .timestamps
            .then_some((self.ts_recent, self.ts_offset));
        (
            self.snd_max,
            self.rcv_nxt,
            ts,
            self.advertised_window_field(),
        )
    }

    // ---- helpers shared by the submodules ----

    /// The cold part, allocated on first use (block.rs).
    fn cold_mut(&mut self) -> &mut block::Cold {
        self.cold.get_or_insert_with(Box::default)
    }
    /// The user timeout in milliseconds, 0 for none.
    fn user_timeout_ms(&self) -> u32 {
        self.cold.as_ref().map_or(0, |c| c.user_timeout_ms)
    }
    /// Whether a reply RST is owed (see [`block::Cold::pending_rst_reply`]).
    #[inline]
    fn rst_reply_pending(&self) -> bool {
        self.cold
            .as_ref()
            .is_some_and(|c| c.pending_rst_reply.is_some())
    }
    /// The congestion controller this connection uses once data flows.
    fn cc_alg(&self) -> CongestionAlgorithm {
        self.cold
            .as_ref()
            .map_or(CongestionAlgorithm::Cubic, |c| c.cc_alg)
    }
    /// Takes the owed reply RST's sequence number, if any.
    fn take_rst_reply(&mut self) -> Option<SeqNum> {
        self.cold.as_mut().and_then(|c| c.pending_rst_reply.take())
    }
    /// Whether our SYN offers all of `bits` (block.rs's `Settings::OFFER_*`).
    fn offers(&self, bits: u8) -> bool {
        self.settings.has(bits)
    }

    fn set_state(&mut self, to: State) {
        if self.state != to {
            // The event out of line: its frame would be set up on every
            // transition (seven a lifecycle) for a level that is off.
            if tracing::level_enabled!(tracing::Level::DEBUG) {
                self.log_state(to);
            }
            let connecting = matches!(self.state, State::SynSent | State::SynReceived);
            self.state = to;
            if connecting && to.is_synchronized() {
                // Established: TCP_KEEPINIT's deadline no longer applies.
                self.idle_at = None;
            }
            if matches!(to, State::Closed | State::TimeWait) {
                self.events.insert(Events::CLOSED);
                self.rto_at = None;
                self.dack_at = None;
                self.persist_at = None;
                self.idle_at = None;
                self.loss_release();
            }
        }
    }

    /// `set_state`'s debug event.
    #[cold]
    #[inline(never)]
    fn log_state(&self, to: State) {
        tracing::debug!(local = %self.local(), remote = %self.remote(), from = %self.state, to = %to, "state");
    }

    /// Ends the connection with `err` reported to the application.
    fn fail(&mut self, err: ConnError) {
        if self.error.is_none() {
            self.error = Some(err);
        }
        self.send_q.clear();
        self.set_state(State::Closed);
        // Readable: a blocked reader must wake to see the error.
        self.events.insert(Events::READABLE | Events::WRITABLE);
    }

    /// Sequence number of our FIN (valid once `fin_queued`).
    fn fin_seq(&self) -> SeqNum {
        if self.fin_acked {
            self.snd_una - 1u32
        } else {
            self.data_start() + self.send_q.len()
        }
    }
    /// Sequence number of the first byte in the send queue.
    fn data_start(&self) -> SeqNum {
        if self.syn_acked() {
            self.snd_una
        } else {
            self.iss + 1u32
        }
    }
    fn syn_acked(&self) -> bool {
        self.syn_acked
    }
    fn fin_sent(&self) -> bool {
        self.fin_queued && self.snd_max.diff(self.fin_seq()) > 0
    }
    fn fin_acked(&self) -> bool {
        self.fin_acked
    }
    /// Queued bytes not yet sent at SND.NXT.
    fn unsent_len(&self) -> usize {
        let off = self.snd_nxt.diff(self.data_start()).max(0) as usize;
        self.send_q.len().saturating_sub(off)
    }
    /// Sequence space in flight: sent and not acknowledged.
    fn flight(&self) -> usize {
        self.snd_nxt.diff(self.snd_una).max(0) as usize
    }
    fn initial_rcv_window(&self) -> u32 {
        let max = 65535u32 << self.opts.rcv_wscale;
        (self.recv_q.window() as u64).min(u64::from(max)) as u32
    }
    fn now_ts(&self, now: Instant) -> u32 {
        (now.total_millis() as u32).wrapping_add(self.ts_offset)
    }
    fn restart_rto(&mut self, now: Instant) {
        self.rto_at = Some(now.add_micros(self.rtt.rto_micros()));
    }
}

/// A user timeout in whole milliseconds (at least 1, at most `u32::MAX`:
/// about 49 days), 0 for none.
pub(crate) fn user_timeout_ms(t: Option<core::time::Duration>) -> u32 {
    t.map_or(0, |d| {
        u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
    })
}

/// `t` in whole seconds, truncated to 32 bits (136 years).
pub(crate) fn secs(t: Instant) -> u32 {
    (t.total_micros() / 1_000_000) as u32
}

fn clamp_u32(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Our MSS: configured, or the MTU less the IP and TCP headers
/// (RFC 9293 §3.7.1, RFC 6691).
pub(crate) fn local_mss(cfg: &TcpConfig, local: &SocketAddr) -> u16 {
    let ip = if local.is_ipv4() { 20 } else { 40 };
    let derived = cfg.mtu.saturating_sub(ip + 20).clamp(64, 65495) as u16;
    cfg.mss.map_or(derived, |m| m.clamp(64, derived.max(64)))
}

/// MSS assumed when the peer sends none: 536 for IPv4 (RFC 9293 MUST-15),
/// 1220 for IPv6 (RFC 8200 minimum MTU 1280 less 60).
pub(crate) fn default_peer_mss(ipv4: bool) -> u16 {
    if ipv4 {
        536
    } else {
        1220
    }
}

/// The smallest window-scale shift that lets a 16-bit window cover `buffer`
/// bytes, or `cfg.wscale_buffer` when set (RFC 7323 §2.3; at most 14).
pub(crate) fn wscale_for(cfg: &TcpConfig, buffer: usize) -> u8 {
    let buffer = cfg.wscale_buffer.unwrap_or(buffer);
    let mut s = 0u8;
    while s < 14 && (buffer >> s) > 65535 {
        s += 1;
    }
    s
}

/// Computes the options to agree on from our SYN settings and the peer's SYN
/// (RFC 7323 §2.2: scaling and timestamps only if both sides offer them).
#[inline]
pub(crate) fn negotiate(
    cfg: &TcpConfig,
    local: &SocketAddr,
    peer: &TcpOptions,
    our_wscale: u8,
) -> Negotiated {
    negotiate_offered(
        cfg,
        cfg.timestamps,
        cfg.window_scaling,
        (local_mss(cfg, local), local.is_ipv4()),
        peer,
        our_wscale,
    )
}

/// [`negotiate`] with what our SYN offered of timestamps and window
/// scaling given apart from `cfg` (an active open's SYN may have offered
/// less than the stack's defaults), so the caller need not build a
/// modified copy of the whole `TcpConfig`; `(ours, ipv4)` is the MSS our
/// SYN announced ([`local_mss`], which callers have at hand) and whether
/// the connection is IPv4 (the peer's MSS when it sends none). Inline
/// into its two callers (the passive open's SYN, the active open's
/// SYN-ACK): as one shared out-of-line copy its call, the seven arguments
/// and the `Negotiated` written through memory cost 33 instructions a
/// lifecycle more (callgrind).
#[inline]
pub(crate) fn negotiate_offered(
    cfg: &TcpConfig,
    offered_timestamps: bool,
    offered_window_scaling: bool,
    (ours, ipv4): (u16, bool),
    peer: &TcpOptions,
    our_wscale: u8,
) -> Negotiated {
    let peer_mss = peer.mss.unwrap_or(default_peer_mss(ipv4));
    let (snd_wscale, rcv_wscale) = match (offered_window_scaling, peer.window_scale) {
        (true, Some(s)) => (s.min(14), our_wscale),
        _ => (0, 0),
    };
    let timestamps = offered_timestamps && peer.timestamps.is_some();
    let opt_len = if timestamps { 12 } else { 0 };
    Negotiated {
        snd_mss: peer_mss.min(ours).saturating_sub(opt_len).max(16),
        snd_wscale,
        rcv_wscale,
        timestamps,
        sack_permitted: cfg.sack && peer.sack_permitted,
        window_scaling: offered_window_scaling && peer.window_scale.is_some(),
        // Decided by the caller, which knows whether this side asked for it.
        message_mode: false,
        // Decided by the caller from the SYN's flags (RFC 3168 §6.1.1).
        ecn: false,
    }
}

#[cfg(test)]
mod wrap_tests;

#[cfg(test)]
mod size_tests {
    /// Every idle connection pays for each byte of the block (issue 6:
    /// <= 512 B per idle connection with its socket slot and table
    /// entries); growing it should be a decision, not an accident. 304 →
    /// 312: `snd_sml`, Minshall's Nagle (a 40 ms stall per request just
    /// over the MSS is worth 8 bytes; the idle connection stays near 450 B).
    #[test]
    fn connection_block_stays_small() {
        let n = core::mem::size_of::<super::Connection>();
        eprintln!("Connection: {n} B");
        assert!(n <= 312, "{n}");
    }
}

#[cfg(test)]
mod reuse_tests {
    use super::*;

    /// Every field of the block, by the test build's derived `Debug` (so a
    /// field added later is compared too).
    fn observed(c: &Connection) -> String {
        format!("{c:?}")
    }

    /// A block that carried a connection (options changed, data queued,
    /// its SYN sent, reset with an error) and is then opened in place is
    /// exactly the connection a fresh block gives: nothing of the old one
    /// survives.
    #[test]
    fn a_reused_block_is_a_fresh_connection() {
        let cfg = TcpConfig::default();
        let a: SocketAddr = "198.18.0.1:4000".parse().unwrap();
        let b: SocketAddr = "198.18.0.2:80".parse().unwrap();
        let now = Instant::from_micros(7_000_000);
        let used = || {
            let mut c = Connection::connect(&cfg, b, a, SeqNum(99), now);
            c.set_nodelay(true);
            c.set_user_timeout(Some(core::time::Duration::from_secs(5)));
            c.set_keepalive(now, &cfg, true);
            let _ = c.send(b"abc");
            let _ = c.poll_transmit(now);
            c.reset_with(ConnError::TimedOut);
            c
        };
        let d = ConnDefaults::new(&cfg);
        let opts = Negotiated {
            snd_mss: 1448,
            snd_wscale: 7,
            rcv_wscale: d.rcv_wscale(),
            timestamps: true,
            sack_permitted: true,
            window_scaling: true,
            message_mode: false,
            ecn: false,
        };
        let mut reused = used();
        reused.open_passive(
            &d,
            &cfg,
            a,
            b,
            (SeqNum(1000), SeqNum(5000)),
            opts,
            (11, 22),
            512,
            now,
        );
        let fresh = Connection::accepted(
            &cfg,
            a,
            b,
            SeqNum(1000),
            SeqNum(5000),
            opts,
            11,
            22,
            512,
            now,
        );
        assert_eq!(observed(&reused), observed(&fresh));
        let mut reused = used();
        reused.open_active(&d, &cfg, a, b, SeqNum(3), now);
        let fresh = Connection::connect(&cfg, a, b, SeqNum(3), now);
        assert_eq!(observed(&reused), observed(&fresh));
    }
}
