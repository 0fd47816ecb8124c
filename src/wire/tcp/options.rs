//! TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018, RFC 6994): the parsed
//! set (`TcpOptions`, SACK blocks held inline), their encoded length, and
//! the writer, with the usual SYN and timestamp-only layouts read and
//! written at fixed offsets.

use core::fmt;

use super::{MAX_OPTIONS_LEN, MAX_WINDOW_SCALE};
use crate::wire::{SeqNum, WireError};

pub(super) mod kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WSCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
    pub const EXP1: u8 = 253;
    pub const EXP2: u8 = 254;
}

/// Up to four SACK blocks `(left edge, right edge)` held inline, no
/// allocation (RFC 2018 §3: at most 4 fit in the option space).
#[derive(Copy, Clone, PartialEq, Eq, Default)]
pub struct SackBlocks {
    // Invariant: entries at index >= len are SeqNum(0) pairs, so the derived
    // PartialEq compares exactly the used blocks.
    blocks: [(SeqNum, SeqNum); 4],
    len: u8,
}

impl SackBlocks {
    /// Maximum number of blocks held.
    pub const CAPACITY: usize = 4;

    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }
    /// Appends a block; returns false (and changes nothing) if already full.
    pub fn push(&mut self, left: SeqNum, right: SeqNum) -> bool {
        let i = usize::from(self.len);
        match self.blocks.get_mut(i) {
            Some(slot) => {
                *slot = (left, right);
                self.len += 1;
                true
            }
            None => false,
        }
    }
    /// The blocks in order.
    pub fn as_slice(&self) -> &[(SeqNum, SeqNum)] {
        &self.blocks[..usize::from(self.len)]
    }
    /// Number of blocks.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }
    /// True if there are no blocks.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Removes all blocks.
    pub fn clear(&mut self) {
        *self = Self::default();
    }
    /// Keeps only the first `n` blocks.
    pub fn truncate(&mut self, n: usize) {
        while self.len() > n {
            self.len -= 1;
            self.blocks[usize::from(self.len)] = Default::default();
        }
    }
}

impl fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.as_slice().iter().map(|(l, r)| l.0..r.0))
            .finish()
    }
}

/// The TCP options synfin understands.
///
/// Emit layout ([`TcpOptions::emit`], Linux's order; every piece is a
/// multiple of 4 bytes, so no trailing padding is ever needed):
///
/// | present                     | bytes                                  | len |
/// |-----------------------------|----------------------------------------|-----|
/// | `mss`                       | `2,4,mss`                              | 4   |
/// | `sack_permitted` + `timestamps` | `4,2, 8,10,TSval,TSecr`            | 12  |
/// | `sack_permitted` alone      | `NOP,NOP,4,2`                          | 4   |
/// | `timestamps` alone          | `NOP,NOP,8,10,TSval,TSecr`             | 12  |
/// | `window_scale`              | `NOP,3,3,shift`                        | 4   |
/// | `experimental`              | `253,4,ExID`                           | 4   |
/// | `sack_blocks` (n of them)   | `NOP,NOP,5,2+8n,blocks…`               | 4+8n|
///
/// So a SYN with everything is `mss,sackOK,TS,nop,wscale` (20 bytes) and a
/// data segment with timestamps carries up to 3 SACK blocks. SACK blocks that
/// would push the options past 40 bytes are dropped from the end.
#[derive(Copy, Clone, PartialEq, Eq, Default, Debug)]
pub struct TcpOptions {
    /// Maximum segment size (RFC 9293 §3.7.1), kind 2.
    pub mss: Option<u16>,
    /// Window scale shift (RFC 7323 §2), kind 3; clamped to 14 on parse.
    pub window_scale: Option<u8>,
    /// SACK-permitted (RFC 2018 §2), kind 4.
    pub sack_permitted: bool,
    /// SACK blocks (RFC 2018 §3), kind 5.
    pub sack_blocks: SackBlocks,
    /// Timestamps `(TSval, TSecr)` (RFC 7323 §3), kind 8.
    pub timestamps: Option<(u32, u32)>,
    /// Shared experimental option ExID (RFC 6994), kind 253. On parse, data
    /// after the 16-bit ExID is ignored; emitted as `253,4,ExID`.
    pub experimental: Option<u16>,
}

impl TcpOptions {
    /// The timestamps, if nothing else is present: `Some(None)` for no
    /// option at all, `Some(Some(ts))` for the timestamps alone, `None` for
    /// anything else. The options of an established connection's ordinary
    /// segment, which header prediction (RFC 9293 §3.10.7.4) and the
    /// transmit header template take.
    #[inline]
    pub fn only_timestamps(&self) -> Option<Option<(u32, u32)>> {
        // Destructured so that a new option is a compile error here.
        let TcpOptions {
            mss,
            window_scale,
            sack_permitted,
            sack_blocks,
            timestamps,
            experimental,
        } = self;
        let only_ts = mss.is_none()
            && window_scale.is_none()
            && !sack_permitted
            && sack_blocks.is_empty()
            && experimental.is_none();
        only_ts.then_some(*timestamps)
    }

    /// Bytes taken by everything but the SACK blocks.
    fn base_len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        n += match (self.sack_permitted, self.timestamps.is_some()) {
            (true, true) => 12,
            (true, false) => 4,
            (false, true) => 12,
            (false, false) => 0,
        };
        if self.window_scale.is_some() {
            n += 4;
        }
        if self.experimental.is_some() {
            n += 4;
        }
        n
    }

    /// How many SACK blocks [`TcpOptions::emit`] will actually write.
    pub fn sack_blocks_emitted(&self) -> usize {
        let room = MAX_OPTIONS_LEN.saturating_sub(self.base_len() + 4) / 8;
        self.sack_blocks.len().min(room)
    }

    /// `Some(timestamps)` when they are the only option present.
    #[inline]
    fn timestamps_only(&self) -> Option<(u32, u32)> {
        let only = self.mss.is_none()
            && self.window_scale.is_none()
            && !self.sack_permitted
            && self.sack_blocks.is_empty()
            && self.experimental.is_none();
        self.timestamps.filter(|_| only)
    }

    /// Encoded length in bytes: a multiple of 4, at most 40. Equals what
    /// [`TcpOptions::emit`] writes.
    pub fn encoded_len(&self) -> usize {
        if self.timestamps_only().is_some() {
            return 12;
        }
        let n = self.sack_blocks_emitted();
        self.base_len() + if n > 0 { 4 + 8 * n } else { 0 }
    }

    /// Writes the options in the layout documented on [`TcpOptions`] and
    /// returns the number of bytes written (= [`TcpOptions::encoded_len`]).
    /// `Truncated` if `buf` is shorter than that.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        // The two layouts `emit_len` writes in one go (an established
        // connection's segment, the usual SYN) have known lengths: no
        // `encoded_len` walk for them.
        let len = if self.timestamps_only().is_some() {
            12
        } else if self.is_usual_syn() {
            20
        } else {
            self.encoded_len()
        };
        self.emit_len(buf, len)
    }

    /// MSS, SACK-permitted, timestamps and window scale, nothing else: the
    /// options of every SYN and SYN-ACK that offers them all (20 bytes).
    #[inline]
    fn is_usual_syn(&self) -> bool {
        self.mss.is_some()
            && self.sack_permitted
            && self.timestamps.is_some()
            && self.window_scale.is_some()
            && self.experimental.is_none()
            && self.sack_blocks.is_empty()
    }

    /// [`TcpOptions::emit`] with the encoded length `len` already known
    /// (the header writer computed it for the data offset).
    pub(super) fn emit_len(&self, buf: &mut [u8], len: usize) -> Result<usize, WireError> {
        debug_assert_eq!(len, self.encoded_len());
        if let Some((v, e)) = self.timestamps_only() {
            // The established connection's every segment: NOP,NOP,TS in
            // one store (the layout the parser's fast path reads).
            let out = buf.get_mut(..12).ok_or(WireError::Truncated)?;
            out[..4].copy_from_slice(&[kind::NOP, kind::NOP, kind::TIMESTAMPS, 10]);
            out[4..8].copy_from_slice(&v.to_be_bytes());
            out[8..12].copy_from_slice(&e.to_be_bytes());
            return Ok(12);
        }
        if let (Some(mss), true, Some((v, e)), Some(shift), None, true) = (
            self.mss,
            self.sack_permitted,
            self.timestamps,
            self.window_scale,
            self.experimental,
            self.sack_blocks.is_empty(),
        ) {
            // Every SYN and SYN-ACK with the usual options: the bytes the
            // writer below puts, in one go (MSS; SACK-permitted, TS;
            // NOP, WS — 20 bytes).
            let out: &mut [u8; 20] = buf
                .get_mut(..20)
                .and_then(|b| b.try_into().ok())
                .ok_or(WireError::Truncated)?;
            let [m0, m1] = mss.to_be_bytes();
            let [v0, v1, v2, v3] = v.to_be_bytes();
            let [e0, e1, e2, e3] = e.to_be_bytes();
            *out = [
                kind::MSS,
                4,
                m0,
                m1,
                kind::SACK_PERMITTED,
                2,
                kind::TIMESTAMPS,
                10,
                v0,
                v1,
                v2,
                v3,
                e0,
                e1,
                e2,
                e3,
                kind::NOP,
                kind::WSCALE,
                3,
                shift,
            ];
            debug_assert_eq!(len, 20);
            return Ok(20);
        }
        let out = buf.get_mut(..len).ok_or(WireError::Truncated)?;
        let mut w = Writer { buf: out, at: 0 };
        if let Some(mss) = self.mss {
            w.put(&[kind::MSS, 4]);
            w.put(&mss.to_be_bytes());
        }
        match (self.sack_permitted, self.timestamps) {
            (true, Some(ts)) => {
                w.put(&[kind::SACK_PERMITTED, 2]);
                w.timestamps(ts);
            }
            (true, None) => w.put(&[kind::NOP, kind::NOP, kind::SACK_PERMITTED, 2]),
            (false, Some(ts)) => {
                w.put(&[kind::NOP, kind::NOP]);
                w.timestamps(ts);
            }
            (false, None) => {}
        }
        if let Some(shift) = self.window_scale {
            w.put(&[kind::NOP, kind::WSCALE, 3, shift]);
        }
        if let Some(exid) = self.experimental {
            w.put(&[kind::EXP1, 4]);
            w.put(&exid.to_be_bytes());
        }
        let n = self.sack_blocks_emitted();
        if n > 0 {
            w.put(&[kind::NOP, kind::NOP, kind::SACK, (2 + 8 * n) as u8]);
            for (l, r) in &self.sack_blocks.as_slice()[..n] {
                w.put(&l.0.to_be_bytes());
                w.put(&r.0.to_be_bytes());
            }
        }
        debug_assert_eq!(w.at, len);
        Ok(len)
    }

    /// Parses the options area of a TCP header.
    ///
    /// EOL (0) ends the list; NOP (1) is skipped. Known kinds with a wrong
    /// length, a length byte < 2, or an option running past the area ->
    /// `Malformed`. Unknown kinds and kind 254 are skipped by their length.
    /// Window scale > 14 is clamped to 14 (RFC 7323 §2.3). SACK blocks beyond
    /// 4 are ignored. Kind 253 with length < 4 is skipped. A repeated option
    /// overwrites the earlier one (SACK blocks accumulate).
    pub fn parse(opts: &[u8]) -> Result<TcpOptions, WireError> {
        // Header prediction's option test (RFC 7323 Appendix A, Van
        // Jacobson's fast path): every segment of an established
        // connection with timestamps carries exactly NOP,NOP,TS — read it
        // without walking the list.
        if let [kind::NOP, kind::NOP, kind::TIMESTAMPS, 10, v0, v1, v2, v3, e0, e1, e2, e3] = *opts
        {
            return Ok(TcpOptions {
                timestamps: Some((
                    u32::from_be_bytes([v0, v1, v2, v3]),
                    u32::from_be_bytes([e0, e1, e2, e3]),
                )),
                ..TcpOptions::default()
            });
        }
        // A SYN's or SYN-ACK's options in the layout both synfin and Linux
        // emit (`mss,sackOK,TS,nop,wscale`, see the table on
        // [`TcpOptions`]): read at once what the walk below would find.
        if let [kind::MSS, 4, m0, m1, kind::SACK_PERMITTED, 2, kind::TIMESTAMPS, 10, v0, v1, v2, v3, e0, e1, e2, e3, kind::NOP, kind::WSCALE, 3, shift] =
            *opts
        {
            return Ok(TcpOptions {
                mss: Some(u16::from_be_bytes([m0, m1])),
                window_scale: Some(shift.min(MAX_WINDOW_SCALE)),
                sack_permitted: true,
                timestamps: Some((
                    u32::from_be_bytes([v0, v1, v2, v3]),
                    u32::from_be_bytes([e0, e1, e2, e3]),
                )),
                ..TcpOptions::default()
            });
        }
        let mut o = TcpOptions::default();
        let mut i = 0;
        while let Some(&k) = opts.get(i) {
            match k {
                kind::EOL => break,
                kind::NOP => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let len = usize::from(*opts.get(i + 1).ok_or(WireError::Malformed)?);
            if len < 2 {
                return Err(WireError::Malformed);
            }
            let body = opts.get(i + 2..i + len).ok_or(WireError::Malformed)?;
            match k {
                kind::MSS => {
                    let [a, b] = *body else {
                        return Err(WireError::Malformed);
                    };
                    o.mss = Some(u16::from_be_bytes([a, b]));
                }
                kind::WSCALE => {
                    let [s] = *body else {
                        return Err(WireError::Malformed);
                    };
                    o.window_scale = Some(s.min(MAX_WINDOW_SCALE));
                }
                kind::SACK_PERMITTED => {
                    if !body.is_empty() {
                        return Err(WireError::Malformed);
                    }
                    o.sack_permitted = true;
                }
                kind::SACK => {
                    // RFC 2018 §3: length 8n+2, n >= 1.
                    if body.is_empty() || body.len() % 8 != 0 {
                        return Err(WireError::Malformed);
                    }
                    for b in body.chunks_exact(8) {
                        let l = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                        let r = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                        // Blocks beyond capacity are ignored.
                        o.sack_blocks.push(SeqNum(l), SeqNum(r));
                    }
                }
                kind::TIMESTAMPS => {
                    if body.len() != 8 {
                        return Err(WireError::Malformed);
                    }
                    let v = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                    let e = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                    o.timestamps = Some((v, e));
                }
                kind::EXP1 => {
                    // RFC 6994 §3: 16-bit ExID follows kind and length.
                    if let [a, b, ..] = *body {
                        o.experimental = Some(u16::from_be_bytes([a, b]));
                    }
                }
                // RFC 6994 kind 254: not used by synfin, skipped.
                kind::EXP2 => {}
                // Unknown kinds: skipped by their length byte.
                _ => {}
            }
            i += len;
        }
        Ok(o)
    }
}

struct Writer<'b> {
    buf: &'b mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        // Lengths were computed by encoded_len(), so this always fits.
        if let Some(dst) = self.buf.get_mut(self.at..self.at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self.at += bytes.len();
    }
    fn timestamps(&mut self, (v, e): (u32, u32)) {
        self.put(&[kind::TIMESTAMPS, 10]);
        self.put(&v.to_be_bytes());
        self.put(&e.to_be_bytes());
    }
}
