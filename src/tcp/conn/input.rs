//! SEGMENT ARRIVES (RFC 9293 §3.10.7.3 for SYN-SENT, §3.10.7.4 otherwise).
//!
//! The checks run in the RFC's order — sequence number, RST, SYN, ACK, text,
//! FIN — each in its own function, so the RFC 5961 variants of the RST and
//! SYN checks (hardening) replace one function each.

use super::{negotiate_offered, Connection, Events, TxFlags};
use crate::tcp::recovery::AckOutcome;
use crate::tcp::{ConnError, State, TcpConfig};
use crate::time::Instant;
use crate::wire::{SeqNum, TcpFlags, TcpRepr};

/// RFC 7323 §5.5: TS.Recent is valid for 24 days of idleness (a 1 ms
/// timestamp clock wraps its sign bit after 24.8 days).
const TS_RECENT_LIFETIME_SECS: u32 = 24 * 86_400;

/// What the RST check decided (RFC 9293 §3.10.7.4 "second", RFC 5961 §3.2).
enum RstVerdict {
    /// SEG.SEQ == RCV.NXT: reset the connection.
    Accept,
    /// In the window but not exact: answer with a challenge ACK, drop.
    Challenge,
}

/// What the fifth check (the ACK field, RFC 9293 §3.10.7.4) reads of a
/// segment, however it was parsed: a [`TcpRepr`] on the general path, the
/// header fields alone on the light path (`rx_light`, predict.rs).
pub(crate) struct AckFields<'a> {
    pub ack: SeqNum,
    /// Raw (unscaled) window field.
    pub window: u16,
    pub flags: TcpFlags,
    /// The segment carries text.
    pub text: bool,
    pub sack_blocks: &'a [(SeqNum, SeqNum)],
}

impl<'a> AckFields<'a> {
    #[inline]
    fn of(seg: &'a TcpRepr<'_>) -> AckFields<'a> {
        AckFields {
            ack: seg.ack,
            window: seg.window,
            flags: seg.flags,
            text: !seg.payload.is_empty(),
            sack_blocks: seg.options.sack_blocks.as_slice(),
        }
    }
}

impl Connection {
    /// Processes one arriving segment addressed to this connection.
    pub fn on_segment(&mut self, now: Instant, cfg: &TcpConfig, seg: &TcpRepr<'_>) {
        match self.state {
            State::SynSent => self.on_segment_syn_sent(now, cfg, seg),
            State::Closed | State::Listen | State::TimeWait => {}
            _ => {
                // Header prediction (predict.rs) for the in-order bulk case.
                if !self.predicted_data(now, cfg, seg) {
                    self.on_segment_synchronized(now, cfg, seg)
                }
            }
        }
        if !seg.flags.contains(TcpFlags::RST) {
            self.heard_from_peer(now, cfg);
        }
    }

    /// RFC 9293 §3.10.7.3, SYN-SENT.
    fn on_segment_syn_sent(&mut self, now: Instant, cfg: &TcpConfig, seg: &TcpRepr<'_>) {
        let f = seg.flags;
        // First: the ACK must cover our SYN and nothing we have not sent.
        if f.contains(TcpFlags::ACK)
            && (seg.ack.diff(self.iss) <= 0 || seg.ack.diff(self.snd_max) > 0)
        {
            if !f.contains(TcpFlags::RST) {
                self.reply_rst(seg.ack);
            }
            return;
        }
        // Second: RST. Only with an acceptable ACK (a blind RST without one
        // is dropped).
        if f.contains(TcpFlags::RST) {
            if f.contains(TcpFlags::ACK) {
                self.fail(ConnError::Refused);
            }
            return;
        }
        // Fourth: SYN.
        if !f.contains(TcpFlags::SYN) {
            return;
        }
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq + 1u32;
        let our_ws = self.opts.rcv_wscale;
        let wanted_messages = self.opts.message_mode;
        let asked_ecn = self.opts.ecn;
        // What our SYN offered decides, not the stack's defaults (RFC 7323
        // §2.2, RFC 2018 §2: an option is on only if both SYNs carried it):
        // TCP_NOOPT or a retransmission that dropped the options offered
        // less.
        self.opts = negotiate_offered(
            cfg,
            self.offers(super::block::Settings::OFFER_TS),
            self.offers(super::block::Settings::OFFER_WSCALE),
            (
                self.local_mss,
                matches!(self.ends, super::block::Endpoints::V4 { .. }),
            ),
            &seg.options,
            our_ws,
        );
        // RFC 3168 §6.1.1: ECN is on when our ECN-setup SYN is answered by
        // an ECN-setup SYN-ACK (ECE without CWR). A simultaneous open's SYN
        // is answered like a passive open's, as FreeBSD does: ECN when the
        // peer's SYN asks and we accept.
        self.opts.ecn = if f.contains(TcpFlags::ACK) {
            asked_ecn && crate::tcp::ecn::is_ecn_setup_syn_ack(f)
        } else {
            cfg.ecn.accepts() && crate::tcp::ecn::is_ecn_setup_syn(f)
        };
        self.round_buffers(cfg);
        if wanted_messages {
            // Message mode (docs/message-mode.md): the peer's SYN must echo
            // the option, or it speaks the plain byte stream and the connect
            // fails — with a RST, so the peer does not keep a connection the
            // application will never use.
            if seg.options.experimental != Some(crate::tcp::message::MESSAGE_EXID) {
                self.irs = seg.seq;
                self.rcv_nxt = seg.seq + 1u32;
                self.txf.set(TxFlags::SEND_RST);
                // Still a (failed) message-mode socket: its calls report why.
                self.opts.message_mode = true;
                self.fail(ConnError::MessageModeRefused);
                return;
            }
            self.opts.message_mode = true;
        }
        if !self.offers(super::block::Settings::OFFER_SACK) {
            self.opts.sack_permitted = false;
        }
        if let Some((val, _)) = seg.options.timestamps {
            self.ts_recent = val;
            self.ts_recent_at = super::secs(now);
        }
        self.rcv_adv = self.rcv_nxt + self.initial_rcv_window();
        if f.contains(TcpFlags::ACK) {
            // Our SYN is acknowledged: ESTABLISHED. The window of a SYN
            // segment is never scaled (RFC 7323 §2.2).
            self.snd_una = seg.ack;
            self.syn_acked = true;
            if self.snd_nxt.diff(self.snd_una) < 0 {
                self.snd_nxt = self.snd_una;
            }
            self.take_rtt_sample(now, seg.ack);
            if self.retries > 0 {
                // RFC 6298 §5.7: the SYN was retransmitted.
                self.rtt.syn_timeout_fallback();
            }
            self.retries = 0;
            self.rtt.reset_backoff();
            self.rto_at = None;
            self.snd_wnd = u32::from(seg.window);
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            self.set_state(State::Established);
            self.events.insert(Events::CONNECTED | Events::WRITABLE);
            self.txf.set(TxFlags::ACK_NOW);
            if self.fin_queued {
                // shutdown(Write) during the handshake: the FIN goes now.
                self.set_state(State::FinWait1);
            }
            // Sixth onwards: data or FIN on the SYN-ACK (the usual SYN-ACK
            // has neither, and the steps would change nothing).
            if !seg.payload.is_empty() || f.contains(TcpFlags::FIN) {
                let rest = seg.seq + 1u32;
                self.process_text_and_fin(now, cfg, rest, seg.payload, f.contains(TcpFlags::FIN));
            }
        } else {
            // Simultaneous open (RFC 9293 Figure 8): answer with SYN-ACK.
            self.snd_wnd = u32::from(seg.window);
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = self.iss;
            self.set_state(State::SynReceived);
            // Re-send our SYN, now with an ACK; the retry budget starts over.
            self.snd_nxt = self.iss;
            self.retries = 0;
            self.rtt_probe = None;
            // RFC 9293 §3.10.7.3: text on the SYN is queued "for processing
            // after the ESTABLISHED state has been reached". It waits at the
            // front of the receive queue, neither acknowledged (RCV.NXT
            // stays just past the SYN, so the SYN-ACK acknowledges the SYN
            // alone) nor readable (`Connection::recv` holds back a queue in
            // SYN-RECEIVED, the one state in which only this text can be
            // there), until `process_ack` completes the handshake.
            if !seg.payload.is_empty() {
                self.recv_q.write_at(0, seg.payload);
            }
        }
    }

    /// RFC 9293 §3.10.7.4: every state from SYN-RECEIVED on.
    fn on_segment_synchronized(&mut self, now: Instant, cfg: &TcpConfig, seg: &TcpRepr<'_>) {
        let mut f = seg.flags;
        let mut seq = seg.seq;
        // In a simultaneous open the peer's SYN-ACK repeats the SYN we
        // already took; treat it as its ACK (the SYN is a duplicate).
        if self.state == State::SynReceived && f.contains(TcpFlags::SYN) && seq == self.irs {
            f = TcpFlags(f.0 & !TcpFlags::SYN.0);
            seq = seq + 1u32;
        }
        let syn_len = u32::from(f.contains(TcpFlags::SYN));
        let fin_flag = f.contains(TcpFlags::FIN);
        let seg_len = seg.payload.len() + syn_len as usize + usize::from(fin_flag);

        // RFC 7323 §5.3 R1 (PAWS) comes before the sequence number check.
        if self.paws_rejects(now, seg) {
            self.txf.set(TxFlags::ACK_NOW);
            return;
        }
        // First: sequence number acceptability (the four cases).
        if !self.acceptable(seq, seg_len) {
            if cfg.rfc5961_syn && f.contains(TcpFlags::SYN) && !f.contains(TcpFlags::RST) {
                // RFC 5961 §4.2: a SYN gets a challenge ACK "irrespective of
                // the sequence number" — rate-limited, unlike a dup ACK, so
                // a blind SYN flood cannot make us answer each one.
                self.challenge = true;
                return;
            }
            if !f.contains(TcpFlags::RST) {
                // An old duplicate: its ACK carries a D-SACK (RFC 2883).
                self.note_duplicate(seq, seg.payload.len(), self.rcv_nxt);
                self.txf.set(TxFlags::ACK_NOW);
                // Entirely old, but its ACK field is as current as the
                // peer: take it (BSD's tcp_input "keep on processing for
                // RST or ACK", Linux's tcp_ack before the data check). In a
                // simultaneous close whose ACKs were lost, the peer's
                // retransmitted FIN acknowledges ours: CLOSING → TIME-WAIT
                // now, not after our own FIN's retransmission.
                // Only an ACK within [SND.UNA, SND.MAX] is taken: the dup
                // ACK just queued already answers anything else, and an
                // old segment must not spend the challenge-ACK budget.
                if f.contains(TcpFlags::ACK)
                    && self.state != State::SynReceived
                    && (seq + seg_len).diff(self.rcv_nxt) <= 0
                    && seg.ack.diff(self.snd_una) >= 0
                    && seg.ack.diff(self.snd_max) <= 0
                {
                    let _ = self.process_ack(now, cfg, seq, &AckFields::of(seg));
                }
            }
            return;
        }
        // Second: RST.
        if f.contains(TcpFlags::RST) {
            match self.check_rst(cfg, seq) {
                RstVerdict::Challenge => self.challenge = true,
                RstVerdict::Accept => self.on_rst(),
            }
            return;
        }
        // Fourth: SYN in a synchronized state — challenge ACK (RFC 5961 §4,
        // RFC 9293 §3.10.7.4 "fourth"), or, configured for RFC 793's rule
        // (§3.9), a SYN in the window resets the connection.
        if f.contains(TcpFlags::SYN) {
            if cfg.rfc5961_syn {
                self.challenge = true;
            } else {
                // RFC 793 §3.9: reset the peer from any synchronized state
                // (CLOSING and LAST-ACK too) and report the reset.
                self.abort_with_rst();
                self.error.get_or_insert(ConnError::Reset);
            }
            return;
        }
        // Fifth: ACK.
        if !f.contains(TcpFlags::ACK) {
            return;
        }
        if !self.process_ack(now, cfg, seq, &AckFields::of(seg)) {
            return;
        }
        // RFC 3168 §6.1.2 and §6.1.3: ECE on the ACK, CWR and CE on the data.
        self.ecn_on_ack(now, seg);
        self.ecn_on_receive(seg);
        // Sixth (URG) is not supported: urgent data is delivered inline,
        // which RFC 6093 recommends for new applications.
        // Seventh and eighth: text and FIN, trimmed to the window.
        let data_seq = seq + syn_len;
        self.process_text_and_fin(now, cfg, data_seq, seg.payload, fin_flag);
        self.update_ts_recent(now, seq, seg);
    }

    /// RFC 7323 §5.3 R1, PAWS: a non-RST segment whose timestamp is older
    /// than TS.Recent is an old duplicate (or a blind forgery) — drop it and
    /// ACK. TS.Recent idle for over 24 days is no longer valid (§5.5): the
    /// peer's clock may have wrapped. A segment without a timestamp is let
    /// through (RFC 7323 §3.2 says SHOULD drop it; Linux accepts it, and so
    /// do we, so a peer that omits it on some segments still works).
    pub(super) fn paws_rejects(&self, now: Instant, seg: &TcpRepr<'_>) -> bool {
        !seg.flags.contains(TcpFlags::RST) && self.paws_rejects_ts(now, seg.options.timestamps)
    }

    /// [`paws_rejects`](Self::paws_rejects) for a segment without RST
    /// carrying `timestamps`.
    pub(super) fn paws_rejects_ts(&self, now: Instant, timestamps: Option<(u32, u32)>) -> bool {
        if !self.opts.timestamps {
            return false;
        }
        let Some((val, _)) = timestamps else {
            return false;
        };
        // Older than TS.Recent, which is still valid. The comparison first:
        // it fails for nearly every segment, which then needs no clock
        // reading (a division, on every segment's path).
        (val.wrapping_sub(self.ts_recent) as i32) < 0
            && super::secs(now).wrapping_sub(self.ts_recent_at) <= TS_RECENT_LIFETIME_SECS
    }

    /// RFC 7323 §4.3 / §5.3 R3: TS.Recent follows the segment that covers the
    /// left edge of the window, and never moves back (unless it was stale).
    pub(super) fn update_ts_recent(&mut self, now: Instant, seq: SeqNum, seg: &TcpRepr<'_>) {
        self.update_ts_recent_ts(now, seq, seg.options.timestamps);
    }

    /// [`update_ts_recent`](Self::update_ts_recent) given the segment's
    /// timestamps alone.
    pub(super) fn update_ts_recent_ts(
        &mut self,
        now: Instant,
        seq: SeqNum,
        timestamps: Option<(u32, u32)>,
    ) {
        let Some((val, _)) = timestamps else {
            return;
        };
        if !self.opts.timestamps || seq.diff(self.rcv_nxt) > 0 {
            return;
        }
        let stale = super::secs(now).wrapping_sub(self.ts_recent_at) > TS_RECENT_LIFETIME_SECS;
        if stale || val.wrapping_sub(self.ts_recent) as i32 >= 0 {
            self.ts_recent = val;
            self.ts_recent_at = super::secs(now);
        }
    }

    /// RFC 9293 §3.10.7.4 "first": the segment overlaps the receive window.
    fn acceptable(&self, seq: SeqNum, seg_len: usize) -> bool {
        let adv = self.rcv_adv.diff(self.rcv_nxt).max(0) as u32;
        let wnd = adv.max(self.recv_q.window() as u32);
        let in_wnd = |s: SeqNum| s.in_range(self.rcv_nxt, self.rcv_nxt + wnd);
        match (seg_len, wnd) {
            (0, 0) => seq == self.rcv_nxt,
            (0, _) => in_wnd(seq),
            // A zero window still takes the ACK, URG and RST of a segment
            // at RCV.NXT (RFC 9293 §3.10.7.4); its text is trimmed later.
            (_, 0) => seq == self.rcv_nxt,
            (n, _) => {
                in_wnd(seq)
                    || in_wnd(seq + (n - 1))
                    || seq.diff(self.rcv_nxt) < 0 && (seq + n).diff(self.rcv_nxt) > 0
            }
        }
    }

    /// RFC 5961 §3.2 as adopted by RFC 9293 §3.10.7.4: only an exact match
    /// resets; anything else in the window gets a challenge ACK. Configured
    /// for RFC 793's rule, any RST in the window (already checked) resets.
    fn check_rst(&self, cfg: &TcpConfig, seq: SeqNum) -> RstVerdict {
        if seq == self.rcv_nxt || !cfg.rfc5961_rst {
            RstVerdict::Accept
        } else {
            RstVerdict::Challenge
        }
    }

    fn on_rst(&mut self) {
        match self.state {
            // An actively opened SYN-RECEIVED (simultaneous open) reports the
            // refusal; a passive one never reaches this type.
            State::SynReceived => self.fail(ConnError::Refused),
            State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait => {
                // Received data stays readable; the reset is reported after
                // it (DESIGN.md).
                self.fail(ConnError::Reset)
            }
            // CLOSING, LAST-ACK: the user is not signalled.
            _ => {
                self.send_q.clear();
                self.set_state(State::Closed);
            }
        }
    }

    /// The fifth check. Returns false when the segment must be dropped.
    pub(super) fn process_ack(
        &mut self,
        now: Instant,
        cfg: &TcpConfig,
        seq: SeqNum,
        seg: &AckFields<'_>,
    ) -> bool {
        let ack = seg.ack;
        // RFC 7323 §2.2: the window of a segment with SYN set is never
        // scaled. In a simultaneous open the SYN-ACK that completes our
        // SYN-RECEIVED is such a segment.
        let wscale = if seg.flags.contains(TcpFlags::SYN) {
            0
        } else {
            self.opts.snd_wscale
        };
        if self.state == State::SynReceived {
            if ack.diff(self.snd_una) > 0 && ack.diff(self.snd_max) <= 0 {
                if self.retries > 0 {
                    // RFC 6298 §5.7: our SYN-ACK was retransmitted.
                    self.rtt.syn_timeout_fallback();
                }
                self.set_state(State::Established);
                self.events.insert(Events::CONNECTED | Events::WRITABLE);
                self.snd_wnd = u32::from(seg.window) << wscale;
                self.snd_wl1 = seq;
                self.snd_wl2 = ack;
                if self.fin_queued {
                    self.set_state(State::FinWait1);
                }
                // The text that came on the peer's SYN in a simultaneous
                // open (`on_segment_syn_sent`) is processed now: readable,
                // and acknowledged as in-order data is.
                let held = self.recv_q.len();
                if held > 0 {
                    self.rcv_nxt = self.rcv_nxt + held;
                    self.events.insert(Events::READABLE);
                    self.segs_unacked = self.segs_unacked.saturating_add(1);
                    if self.dack_at.is_none() {
                        self.dack_at = Some(now + cfg.delayed_ack);
                    }
                }
            } else {
                self.reply_rst(ack);
                return false;
            }
        }
        if self.ack_too_old(ack) {
            // RFC 5961 §5.2: outside [SND.UNA - MAX.SND.WND, SND.NXT] — drop,
            // and answer with a (rate-limited) challenge ACK.
            self.challenge = true;
            return false;
        }
        if ack.diff(self.snd_max) > 0 {
            // Acknowledges something not yet sent: ACK and drop.
            self.txf.set(TxFlags::ACK_NOW);
            return false;
        }
        self.process_acceptable_ack(now, cfg, seq, seg, wscale)
    }

    /// The rest of the fifth check for an ACK within
    /// SND.UNA - MAX.SND.WND..=SND.MAX, past SYN-RECEIVED: the new data it
    /// acknowledges, the duplicate-ACK and SACK/RACK bookkeeping, the window
    /// update and the state changes an ACK of our FIN makes. `wscale` is the
    /// shift of the segment's window (0 on a SYN, RFC 7323 §2.2). Returns
    /// false when the segment must be dropped (its FIN ended the
    /// connection). The light path (predict.rs `rx_light`), whose
    /// acceptance test already fixed the checks before it, starts here.
    pub(super) fn process_acceptable_ack(
        &mut self,
        now: Instant,
        cfg: &TcpConfig,
        seq: SeqNum,
        seg: &AckFields<'_>,
        wscale: u8,
    ) -> bool {
        self.acceptable_ack(now, cfg, seq, seg, wscale)
    }

    /// [`process_acceptable_ack`](Self::process_acceptable_ack)'s body,
    /// inlined into the light path (predict.rs `rx_light`), whose caller
    /// knows the segment carries no SYN and no SACK blocks: the steps those
    /// decide fold away there, and the header fields stay in registers.
    #[inline(always)]
    pub(super) fn acceptable_ack(
        &mut self,
        now: Instant,
        cfg: &TcpConfig,
        seq: SeqNum,
        seg: &AckFields<'_>,
        wscale: u8,
    ) -> bool {
        let ack = seg.ack;
        let wnd = u32::from(seg.window) << wscale;
        // An orphan's ACK of everything, FIN included, ends its send side;
        // after it, the send side has nothing left to do.
        let ended = self.orphaned && self.fin_acked;
        let last = ack == self.snd_max && self.orphan_fin_acked_by(ack);
        let mut plain_new = false;
        if last {
            self.on_orphans_last_ack(ack);
        } else if ack.diff(self.snd_una) > 0 {
            // Without blocks, `on_new_ack` ends with the SACK/RACK step.
            plain_new = seg.sack_blocks.is_empty() && !ended;
            self.on_new_ack(now, ack, plain_new);
        } else if ack == self.snd_una
            && self.snd_max != self.snd_una
            && !seg.text
            && !seg.flags.intersects(TcpFlags::SYN | TcpFlags::FIN)
            && wnd == self.snd_wnd
            && wnd > 0
        {
            // A duplicate ACK by RFC 5681 §2's definition. With a zero
            // window, what is outstanding is a window probe the peer could
            // not take (RFC 9293 §3.8.6.1): its answer is not a loss signal,
            // so it must not trigger a fast retransmit into a closed window.
            if self.loss_on_dup_ack(now) {
                self.txf.set(TxFlags::FAST_REXMIT);
                self.rtt_probe = None;
            }
        }
        // SACK blocks, RACK loss detection, tail-loss probes (loss.rs):
        // nothing to do for an orphan whose FIN is acknowledged (its
        // records went and its timers stopped with the ACK that did it —
        // `on_orphans_last_ack`, or this step after `on_new_ack` — and
        // nothing reads the statistics).
        if !(last || ended || plain_new) {
            self.loss_after_ack_blocks(now, seg.sack_blocks);
        }
        // Window update (RFC 9293 §3.10.7.4, SND.WL1/SND.WL2 rule).
        if ack.diff(self.snd_una) >= 0
            && (self.snd_wl1.diff(seq) < 0 || (self.snd_wl1 == seq && self.snd_wl2.diff(ack) <= 0))
        {
            let opened = wnd > self.snd_wnd;
            let was_zero = self.snd_wnd == 0;
            self.snd_wnd = wnd;
            self.max_snd_wnd = self.max_snd_wnd.max(wnd);
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            if wnd > 0 {
                self.stop_persist(now, was_zero);
            }
            if opened {
                self.events.insert(Events::WRITABLE);
            }
        }
        // Any answer from the peer proves it alive while we probe a zero
        // window (RFC 9293 §3.8.6.1: never give up while it keeps ACKing).
        if self.snd_wnd == 0 {
            self.retries = 0;
        }
        // State-specific ACK processing.
        match self.state {
            State::FinWait1 if self.fin_acked() => {
                self.set_state(State::FinWait2);
                if self.orphaned {
                    self.idle_at = Some(now + cfg.fin_wait2_timeout);
                }
            }
            State::Closing if self.fin_acked() => {
                self.set_state(State::TimeWait);
                return false;
            }
            State::LastAck if self.fin_acked() => {
                self.set_state(State::Closed);
                return false;
            }
            _ => {}
        }
        true
    }

    /// RFC 5961 §5.2, the lower half of the ACK acceptability check: an ACK
    /// below SND.UNA - MAX.SND.WND can only be a very old duplicate or a
    /// blind injection, so its segment (data included) is not taken.
    /// (RFC 9293 would merely ignore the ACK field and take the data.)
    fn ack_too_old(&self, ack: SeqNum) -> bool {
        let floor = self.snd_una - self.max_snd_wnd.max(1);
        ack.diff(floor) < 0
    }

    /// Whether `ack` newly acknowledges the FIN of an orphan: a connection
    /// the application closed (`close`), whose state nothing reads any
    /// more but the packets it still sends.
    #[inline]
    fn orphan_fin_acked_by(&self, ack: SeqNum) -> bool {
        // Off with header prediction in the tests that compare the paths.
        #[cfg(test)]
        if super::predict::disabled() {
            return false;
        }
        self.orphaned && self.fin_queued && !self.fin_acked && ack.diff(self.fin_seq()) > 0
    }

    /// An ACK of SND.MAX that acknowledges an orphan's FIN
    /// ([`orphan_fin_acked_by`](Self::orphan_fin_acked_by)): what
    /// [`on_new_ack`](Self::on_new_ack) and the SACK/RACK step after it do,
    /// less what has no future once the last byte the connection will ever
    /// send is acknowledged and no application reads its statistics — the
    /// RTT sample, the congestion window, the recovery episode, RACK's
    /// delivery record and the send buffer's auto-tuning. What decides
    /// packets or timers is done as there: SND.UNA, the send queue and the
    /// records (released, everything is acknowledged), the retransmission,
    /// tail-loss-probe and RACK timers (stopped: nothing is outstanding).
    /// The window update and the FIN's state change follow in
    /// `process_ack` as for any ACK. (FreeBSD's LAST-ACK closes on the ACK
    /// of its FIN the same way, RFC 9293 §3.10.7.4.)
    fn on_orphans_last_ack(&mut self, ack: SeqNum) {
        self.fin_acked = true;
        let data_acked = self.send_q.len();
        self.send_q.consume(data_acked);
        self.snd_una = ack;
        if self.snd_nxt.diff(ack) < 0 {
            self.snd_nxt = ack;
        }
        self.rtt_probe = None;
        self.retries = 0;
        self.rtt.reset_backoff();
        self.rto_at = None;
        if let Some(l) = self.loss.as_deref_mut() {
            l.board.release();
            l.delivered = Default::default();
            l.pto_at = None;
            l.reo_at = None;
        }
        if data_acked > 0 {
            self.events.insert(Events::WRITABLE);
            self.send_q.release_if_empty();
        }
    }

    /// An ACK that moves SND.UNA forward.
    ///
    /// `plain`: the ACK carries no SACK blocks and its SACK/RACK step
    /// (loss.rs) is taken here, last, as the caller would take it next.
    fn on_new_ack(&mut self, now: Instant, ack: SeqNum, plain: bool) {
        let flight_before = self
            .flight()
            .max(self.snd_max.diff(self.snd_una).max(0) as usize);
        let acked = ack.diff(self.snd_una) as usize;
        if self.fin_queued && !self.fin_acked && ack.diff(self.fin_seq()) > 0 {
            self.fin_acked = true;
        }
        // The ACK of our SYN (SYN-RECEIVED's, the state already moved on)
        // covers one sequence number that is no data.
        let syn = usize::from(!self.syn_acked);
        self.syn_acked = true;
        let data_acked = acked.saturating_sub(syn).min(self.send_q.len());
        self.send_q.consume(data_acked);
        self.snd_una = ack;
        if self.snd_nxt.diff(ack) < 0 {
            self.snd_nxt = ack;
        }
        self.take_rtt_sample(now, ack);
        self.retries = 0;
        self.rtt.reset_backoff();
        if self.loss_on_new_ack(now, ack, acked, flight_before) == AckOutcome::PartialAck {
            // RFC 6582 §3.2 step 5: retransmit the first unacknowledged
            // segment on a partial ACK.
            self.txf.set(TxFlags::FAST_REXMIT);
        }
        // RFC 6298 §5.2/5.3: stop the timer when all is acknowledged,
        // otherwise restart it.
        if self.snd_una == self.snd_max {
            self.rto_at = None;
        } else {
            self.restart_rto(now);
        }
        if data_acked > 0 {
            self.events.insert(Events::WRITABLE);
            if self.send_q.is_empty() {
                self.send_q.release_if_empty();
            }
        }
        if plain {
            self.loss_after_plain_new_ack(now);
        }
    }

    fn take_rtt_sample(&mut self, now: Instant, ack: SeqNum) {
        if let Some((seq, sent)) = self.rtt_probe {
            if ack.diff(seq) > 0 {
                self.rtt.sample_micros(sent.micros_until(now));
                self.rtt_probe = None;
            }
        }
    }

    /// The seventh and eighth checks: queue the text, then take the FIN once
    /// everything before it has arrived.
    pub(super) fn process_text_and_fin(
        &mut self,
        now: Instant,
        cfg: &TcpConfig,
        seq: SeqNum,
        payload: &[u8],
        fin: bool,
    ) {
        self.text_and_fin(now, cfg, seq, payload, fin)
    }

    /// [`process_text_and_fin`](Self::process_text_and_fin)'s body, inlined
    /// into the light path (predict.rs `rx_light`).
    #[inline(always)]
    pub(super) fn text_and_fin(
        &mut self,
        now: Instant,
        cfg: &TcpConfig,
        seq: SeqNum,
        payload: &[u8],
        fin: bool,
    ) {
        if fin
            && self.peer_fin.is_none()
            && matches!(
                self.state,
                State::Established | State::FinWait1 | State::FinWait2 | State::SynReceived
            )
        {
            let at = seq + payload.len();
            // A FIN beyond the window cannot be taken yet.
            let wnd = (self.rcv_adv.diff(self.rcv_nxt).max(0) as usize).max(self.recv_q.window());
            if (at - self.rcv_nxt.min(at)) <= wnd {
                self.peer_fin = Some(at);
            }
        }
        if !payload.is_empty() {
            self.process_text(now, cfg, seq, payload);
            if self.state == State::Closed {
                return;
            }
        }
        match self.peer_fin {
            Some(at) if at == self.rcv_nxt && !self.state.peer_fin_received() => {
                self.take_fin(now, cfg)
            }
            // A repeated FIN we already took: acknowledge it again. A FIN
            // ahead of a gap is out-of-order data for the ACK rule
            // (RFC 5681 §4.2: acknowledge at once).
            _ if fin => self.txf.set(TxFlags::ACK_NOW),
            _ => {}
        }
    }

    pub(super) fn process_text(
        &mut self,
        now: Instant,
        cfg: &TcpConfig,
        seq: SeqNum,
        payload: &[u8],
    ) {
        if !matches!(
            self.state,
            State::Established | State::FinWait1 | State::FinWait2
        ) {
            // CLOSE-WAIT, CLOSING, LAST-ACK: the peer already sent FIN, so
            // this cannot be new data (RFC 9293 §3.10.7.4 "seventh").
            return;
        }
        // New text exactly at RCV.NXT that fits the window, with nothing
        // held out of order (nearly every segment of a request/response
        // exchange): no trimming, no D-SACK (nothing is held it could
        // repeat), no assembler, and the ACK rule's in-order case.
        if seq == self.rcv_nxt
            && !payload.is_empty()
            && !self.rd_closed
            && !self.recv_q.has_out_of_order()
            && payload.len() <= self.recv_q.window()
        {
            self.recv_q.write_in_order(payload);
            self.took_in_order_text(now, cfg, payload.len());
            return;
        }
        // Trim what we already have (RFC 9293 §3.10.7.4 "first", trimming).
        let skip = self.rcv_nxt.diff(seq).max(0) as usize;
        if skip >= payload.len() {
            self.note_duplicate(seq, payload.len(), self.rcv_nxt);
            self.txf.set(TxFlags::ACK_NOW);
            return;
        }
        let data = &payload[skip..];
        // D-SACK (RFC 2883): note what of this segment we already had.
        self.note_duplicate(seq, payload.len(), self.rcv_nxt);
        let offset = (seq + skip).diff(self.rcv_nxt).max(0) as usize;
        if self.rd_closed {
            // Nobody will read this: tell the sender (RFC 9293 SHLD-3,
            // RFC 2525 §2.17; DESIGN.md "nothing is lost silently").
            self.abort_with_rst();
            self.error.get_or_insert(ConnError::Reset);
            return;
        }
        let had_gap = self.recv_q.has_out_of_order();
        let (accepted, advanced) = self.recv_q.write_at(offset, data);
        if advanced > 0 {
            self.rcv_nxt = self.rcv_nxt + advanced;
            self.events.insert(Events::READABLE);
            self.rcv_autotune(now, advanced);
        }
        // RFC 9293 §3.8.6.3 / RFC 5681 §4.2: out-of-order data, data that
        // fills a gap, or data we could not take is acknowledged at once;
        // otherwise every second full segment, or after the delayed-ACK time.
        // A segment partly duplicate (a retransmission) is acknowledged at
        // once too, carrying its D-SACK block (RFC 2883), as FreeBSD does.
        if offset > 0 || had_gap || !accepted || advanced < data.len() || skip > 0 {
            self.txf.set(TxFlags::ACK_NOW);
        } else {
            self.ack_in_order_segment(now, cfg);
        }
    }

    /// What follows `n` bytes of new in-order text made readable by a
    /// segment that filled no gap (header prediction, and the in-order case
    /// of `process_text`): RCV.NXT past them, READABLE, receive-buffer
    /// auto-tuning, and the in-order ACK rule.
    #[inline(always)]
    pub(super) fn took_in_order_text(&mut self, now: Instant, cfg: &TcpConfig, n: usize) {
        self.rcv_nxt = self.rcv_nxt + n;
        self.events.insert(Events::READABLE);
        self.rcv_autotune(now, n);
        self.ack_in_order_segment(now, cfg);
    }

    /// The ACK rule for a segment of new in-order text that filled no gap
    /// (RFC 9293 §3.8.6.3, RFC 5681 §4.2): every `ack_every` segments at
    /// once, otherwise after the delayed-ACK time. Shared with header
    /// prediction (predict.rs).
    #[inline]
    pub(super) fn ack_in_order_segment(&mut self, now: Instant, cfg: &TcpConfig) {
        self.segs_unacked = self.segs_unacked.saturating_add(1);
        if self.segs_unacked >= cfg.ack_every.max(1) {
            self.txf.set(TxFlags::ACK_NOW);
        } else if self.dack_at.is_none() {
            self.dack_at = Some(now + cfg.delayed_ack);
        }
    }

    fn take_fin(&mut self, now: Instant, cfg: &TcpConfig) {
        self.rcv_nxt = self.rcv_nxt + 1u32;
        self.events.insert(Events::READABLE);
        // The ACK of the FIN: at once, except in ESTABLISHED with
        // TcpConfig::delay_fin_ack, where the application's close or reply
        // usually follows at once and carries it (RFC 1122 §4.2.3.2).
        if self.state == State::Established && cfg.delay_fin_ack {
            if self.dack_at.is_none() {
                self.dack_at = Some(now + cfg.delayed_ack);
            }
        } else {
            self.txf.set(TxFlags::ACK_NOW);
        }
        match self.state {
            State::SynReceived | State::Established => self.set_state(State::CloseWait),
            State::FinWait1 => {
                if self.fin_acked() {
                    self.set_state(State::TimeWait);
                } else {
                    self.set_state(State::Closing);
                    // The ACK of the peer's FIN repeats ours, the BSD way.
                    self.txf.put(TxFlags::REPEAT_FIN, cfg.repeat_fin_in_closing);
                }
            }
            State::FinWait2 => self.set_state(State::TimeWait),
            _ => {}
        }
    }

    /// Answers an unacceptable segment with `<SEQ=SEG.ACK><CTL=RST>`
    /// (RFC 9293 §3.10.7.3/§3.10.7.4) without touching our state.
    fn reply_rst(&mut self, seq: SeqNum) {
        self.cold_mut().pending_rst_reply = Some(seq);
    }
}
