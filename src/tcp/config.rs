//! Per-connection tunables, with defaults close to Linux where the RFCs leave
//! a choice.

use core::time::Duration;

pub use super::congestion::CongestionAlgorithm;
pub use super::ecn::EcnMode;

/// Configuration of TCP connections created by a stack.
#[derive(Clone, Debug, PartialEq)]
pub struct TcpConfig {
    /// Capacity of the send queue (SendQ), bytes.
    pub send_buffer: usize,
    /// Capacity of the receive queue (RecvQ), bytes; bounds the advertised
    /// window.
    pub recv_buffer: usize,
    /// Largest receive queue auto-tuning may grow to (the window scale is
    /// chosen to cover it). Default 2 MiB, FreeBSD's `recvbuf_max`; set it
    /// to `recv_buffer` to turn auto-tuning off.
    pub recv_buffer_max: usize,
    /// Largest send queue auto-tuning may grow to. Default 4 MiB, Linux's
    /// `tcp_wmem` maximum.
    pub send_buffer_max: usize,
    /// MSS to advertise; `None` derives it from the MTU.
    pub mss: Option<u16>,
    /// The link MTU used to derive the MSS.
    pub mtu: usize,
    /// Offer window scaling (RFC 7323 §2).
    pub window_scaling: bool,
    /// Offer timestamps (RFC 7323 §3).
    pub timestamps: bool,
    /// Offer and use selective acknowledgments (RFC 2018, with D-SACK,
    /// RFC 2883; the sender's recovery follows RFC 6675 and RFC 8985).
    pub sack: bool,
    /// The congestion controller of new connections (CUBIC by default).
    pub congestion: CongestionAlgorithm,
    /// Explicit Congestion Notification (RFC 3168): off, agree when the
    /// peer asks (the default, as Linux and FreeBSD), or ask on connect.
    pub ecn: EcnMode,
    /// How many retransmissions of an ECN-setup SYN still carry ECE and CWR
    /// before the SYN falls back to a plain one (RFC 3168 §6.1.1.1: a SYN
    /// lost to a middlebox that drops ECN-setup SYNs). 0 — the first
    /// retransmission is plain — is Linux's `tcp_ecn_fallback`; FreeBSD's
    /// `ecn.maxretries` defaults to 1.
    pub ecn_syn_retries: u8,
    /// Pace data segments over the round trip (Linux's internal pacing
    /// rate: 2 × cwnd / SRTT in slow start, 1.2 × after) instead of sending
    /// them in bursts as ACKs arrive; the departure times are
    /// `poll_timeout` deadlines. Off by default, as in Linux without `fq`
    /// or BBR.
    pub pacing: bool,
    /// Disable Nagle's algorithm (RFC 9293 §3.7.4) — `TCP_NODELAY`. With it
    /// on (the default), a segment shorter than the MSS waits only while an
    /// earlier short one is unacknowledged (Minshall's variant, as Linux):
    /// small writes in a row coalesce, the tail of a long write does not wait.
    pub nodelay: bool,
    /// Delayed-ACK timer (RFC 9293 §3.8.6.3 requires < 0.5 s).
    pub delayed_ack: Duration,
    /// Send an ACK at least for every `ack_every` full-sized segments
    /// (RFC 9293 SHLD-19: every second segment).
    pub ack_every: u8,
    /// RTO before any RTT sample (RFC 6298 §2.1).
    pub initial_rto: Duration,
    /// Lower bound of the RTO. RFC 6298 says 1 s (SHOULD); like Linux we use
    /// 200 ms, which the RFC's §2.4 allows as a considered choice.
    pub min_rto: Duration,
    /// Upper bound of the RTO (RFC 6298 §2.5: at least 60 s).
    pub max_rto: Duration,
    /// SYN retransmissions before a connect fails with `TimedOut`.
    pub syn_retries: u8,
    /// SYN-ACK retransmissions before a half-open entry is dropped.
    pub synack_retries: u8,
    /// Data/FIN retransmissions before the connection is aborted
    /// (RFC 9293 §3.8.3 "R2").
    pub max_retries: u8,
    /// Maximum segment lifetime; TIME-WAIT lasts 2×MSL (RFC 9293 §3.4.2).
    pub msl: Duration,
    /// How long an orphaned connection may sit in FIN-WAIT-2.
    pub fin_wait2_timeout: Duration,
    /// Hop limit / TTL of outgoing packets.
    pub hop_limit: u8,
    /// Send keep-alive probes on idle connections (`SO_KEEPALIVE`); off by
    /// default, as RFC 9293 §3.8.4 (MUST-24) requires.
    pub keepalive: bool,
    /// Idle time before the first keep-alive probe; RFC 9293 MUST-28 says
    /// no less than two hours by default.
    pub keepalive_idle: Duration,
    /// Time between unanswered probes (Linux: 75 s).
    pub keepalive_interval: Duration,
    /// Unanswered probes after which the connection is dropped with
    /// `TimedOut` (Linux: 9).
    pub keepalive_probes: u8,
    /// The buffer size the window-scale shift is chosen to cover; `None`
    /// uses the receive buffer. Set it to the largest the receive buffer may
    /// grow to, as FreeBSD does from `kern.ipc.maxsockbuf` (2 MiB: shift 6),
    /// so that a later, larger `SO_RCVBUF` still fits the window.
    pub wscale_buffer: Option<usize>,
    /// Round both queues up to a multiple of the MSS once it is known, as
    /// FreeBSD's `tcp_mss()` does (a 65536-byte buffer becomes 65700 with
    /// an MSS of 1460), so the window is a whole number of segments.
    pub round_buffers_to_mss: bool,
    /// RFC 5961 §3 for RSTs in synchronized states: only an exact RCV.NXT
    /// resets, anything else in the window draws a challenge ACK. `false` is
    /// RFC 793's rule (any RST in the window resets; FreeBSD's
    /// `net.inet.tcp.insecure_rst=1`).
    pub rfc5961_rst: bool,
    /// The user timeout (RFC 9293 §3.10.8, RFC 5482; Linux's
    /// `TCP_USER_TIMEOUT`): how long sent data (or a SYN) may stay
    /// unacknowledged before the connection is aborted with `TimedOut`,
    /// whatever the retry count. `None`: only `max_retries`/`syn_retries`
    /// bound it.
    pub user_timeout: Option<Duration>,
    /// RFC 5961 §4 for SYNs in synchronized states: a challenge ACK. `false`
    /// is RFC 793's rule (a SYN in the window resets the connection with a
    /// RST; FreeBSD's `net.inet.tcp.insecure_syn=1`).
    pub rfc5961_syn: bool,
    /// On entering CLOSING (the peer's FIN crossed ours), the ACK of the
    /// peer's FIN repeats our unacknowledged FIN (`<SEQ=our FIN><CTL=FIN,ACK>`),
    /// as the BSD stacks do (their output flags for CLOSING are FIN|ACK). A
    /// retransmission of the FIN is always allowed; off by default (a plain
    /// ACK, as Linux sends).
    pub repeat_fin_in_closing: bool,
    /// Acknowledge a FIN that arrives in ESTABLISHED after the delayed-ACK
    /// time rather than at once, so that an application that closes as soon
    /// as it reads end-of-stream sends its FIN with the ACK: a three-segment
    /// close. RFC 1122 §4.2.3.2 allows the delay (a FIN is acknowledged like
    /// data); Linux does this (`tcp_fin` enters "pingpong" mode). On by
    /// default. Off, every FIN is acknowledged at once, as the BSD stacks
    /// do (`TF_ACKNOW`). Either way any data, window update or FIN we send
    /// carries the ACK, and the delay is bounded by
    /// [`delayed_ack`](Self::delayed_ack), well below the peer's RTO. A FIN
    /// in any other state (one that ends FIN-WAIT-1 or FIN-WAIT-2, say) is
    /// acknowledged at once: nothing else would carry that ACK.
    pub delay_fin_ack: bool,
    /// Send no TCP options at all on our SYN or SYN-ACK — not even the MSS
    /// (BSD's `TCP_NOOPT`), so none is negotiated: no window scaling,
    /// timestamps or SACK, and the peer assumes the default MSS (RFC 9293
    /// §3.7.1: 536 for IPv4, 1220 for IPv6). Off by default; per socket
    /// with [`Stack::set_no_options`](crate::stack::Stack::set_no_options).
    pub no_options: bool,
    /// Bound on connection establishment (BSD's `TCP_KEEPINIT`): an active
    /// open still short of ESTABLISHED this long after `connect` fails with
    /// `TimedOut`, however many SYN retransmissions `syn_retries` still
    /// allows. `None` (the default): `syn_retries` alone bounds it.
    pub keepinit: Option<Duration>,
    /// From the third SYN retransmission on, offer no option but the MSS
    /// (FreeBSD's `net.inet.tcp.rexmit_drop_options`), in case a middlebox
    /// drops SYNs with options it does not know; what the peer's SYN-ACK
    /// then negotiates follows what our last SYN offered. Off by default.
    pub syn_rexmit_drop_options: bool,
    /// Added to every retransmission timeout but the initial one, after
    /// RFC 6298's computation and backoff and before `max_rto` caps it
    /// (BSD's `net.inet.tcp.rexmit_slop`, 200 ms there, which FreeBSD pairs
    /// with a 30 ms `min_rto`). Zero by default: RFC 6298 exactly.
    pub rto_slop: Duration,
    /// The IPv4 type-of-service / IPv6 traffic-class byte of outgoing
    /// packets (`IP_TOS`, `IPV6_TCLASS`; per socket with
    /// [`Stack::set_tos`](crate::stack::Stack::set_tos)). Only its upper six
    /// bits, the DSCP (RFC 2474 §3), are used: the two ECN bits belong to
    /// RFC 3168. 0 by default.
    pub tos: u8,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            send_buffer: 128 * 1024,
            recv_buffer: 128 * 1024,
            recv_buffer_max: 2 * 1024 * 1024,
            send_buffer_max: 4 * 1024 * 1024,
            mss: None,
            mtu: 1500,
            window_scaling: true,
            timestamps: true,
            sack: true,
            congestion: CongestionAlgorithm::Cubic,
            ecn: EcnMode::Passive,
            ecn_syn_retries: 0,
            pacing: false,
            nodelay: false,
            delayed_ack: Duration::from_millis(40),
            ack_every: 2,
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(60),
            syn_retries: 6,
            synack_retries: 5,
            max_retries: 15,
            msl: Duration::from_secs(30),
            fin_wait2_timeout: Duration::from_secs(60),
            hop_limit: 64,
            keepalive: false,
            keepalive_idle: Duration::from_secs(2 * 3600),
            keepalive_interval: Duration::from_secs(75),
            keepalive_probes: 9,
            wscale_buffer: None,
            round_buffers_to_mss: false,
            rfc5961_rst: true,
            user_timeout: None,
            rfc5961_syn: true,
            repeat_fin_in_closing: false,
            delay_fin_ack: true,
            no_options: false,
            keepinit: None,
            syn_rexmit_drop_options: false,
            rto_slop: Duration::ZERO,
            tos: 0,
        }
    }
}

/// The IP header fields a socket puts on what it sends (`IP_TOS` /
/// `IPV6_TCLASS` as a DSCP, `IP_TTL` / `IPV6_UNICAST_HOPS`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct IpFields {
    /// The DSCP (RFC 2474 §3, 0..=63): the TOS byte without its ECN bits.
    pub dscp: u8,
    /// IPv4 TTL / IPv6 hop limit; 0 in a stack control segment means the
    /// stack's [`TcpConfig::hop_limit`].
    pub hop_limit: u8,
}

impl TcpConfig {
    /// The IP header fields this configuration gives a connection.
    pub fn ip_fields(&self) -> IpFields {
        IpFields {
            dscp: self.tos >> 2,
            hop_limit: self.hop_limit,
        }
    }

    /// 2×MSL, the TIME-WAIT duration.
    pub fn time_wait(&self) -> Duration {
        self.msl * 2
    }
}
