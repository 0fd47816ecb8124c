//! Building inbound segments from packet lines, and comparing the stack's
//! outbound segments with what a packet line expects (GRAMMAR.md §4).
//!
//! Sequence numbers: the script's remote side uses its numbers unchanged on
//! the wire, so remote sequence numbers (our acknowledgments, SACK blocks we
//! send) need no mapping. The stack's ISN is learned from its first SYN and
//! added to every local sequence number of a non-SYN segment.

use std::net::IpAddr;

use super::ast::{OptionSpec, TcpOpt, TcpPacket};
use super::Mode;
use crate::wire::{self, checksum, TcpFlags};

/// TCP flags from the script's letters.
pub fn flags_of(letters: &str) -> TcpFlags {
    let mut f = TcpFlags::empty();
    for c in letters.chars() {
        f |= match c {
            'S' => TcpFlags::SYN,
            'F' => TcpFlags::FIN,
            'R' => TcpFlags::RST,
            'P' => TcpFlags::PSH,
            'U' => TcpFlags::URG,
            'E' => TcpFlags::ECE,
            'W' => TcpFlags::CWR,
            '.' => TcpFlags::ACK,
            _ => TcpFlags::empty(),
        };
    }
    f
}

/// The script's letters for live flags (for messages).
pub fn letters_of(f: TcpFlags) -> String {
    let mut s = String::new();
    for (bit, c) in [
        (TcpFlags::SYN, 'S'),
        (TcpFlags::FIN, 'F'),
        (TcpFlags::RST, 'R'),
        (TcpFlags::PSH, 'P'),
        (TcpFlags::URG, 'U'),
        (TcpFlags::ECE, 'E'),
        (TcpFlags::CWR, 'W'),
        (TcpFlags::ACK, '.'),
    ] {
        if f.contains(bit) {
            s.push(c);
        }
    }
    if s.is_empty() {
        s.push('-');
    }
    s
}

/// One option as it appears on the wire, for comparison.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WireOpt {
    /// Kind 0.
    Eol,
    /// Kind 1.
    Nop,
    /// Kind 2.
    Mss(u16),
    /// Kind 3.
    Wscale(u8),
    /// Kind 4.
    SackOk,
    /// Kind 5, blocks as sent.
    Sack(Vec<(u32, u32)>),
    /// Kind 8; the values are never compared (TS val is unchecked by
    /// packetdrill's default `--tcp_ts_tick_usecs=0`, TS ecr too).
    Timestamp,
    /// Anything else: kind and length.
    Other(u8, u8),
}

impl std::fmt::Display for WireOpt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireOpt::Eol => f.write_str("eol"),
            WireOpt::Nop => f.write_str("nop"),
            WireOpt::Mss(m) => write!(f, "mss {m}"),
            WireOpt::Wscale(w) => write!(f, "wscale {w}"),
            WireOpt::SackOk => f.write_str("sackOK"),
            WireOpt::Sack(b) => {
                f.write_str("sack")?;
                for (l, r) in b {
                    write!(f, " {l}:{r}")?;
                }
                Ok(())
            }
            WireOpt::Timestamp => f.write_str("TS"),
            WireOpt::Other(k, l) => write!(f, "kind {k} len {l}"),
        }
    }
}

fn show(opts: &[WireOpt]) -> String {
    let v: Vec<String> = opts.iter().map(|o| o.to_string()).collect();
    format!("<{}>", v.join(","))
}

/// Splits raw option bytes into options; a malformed area yields what
/// could be read followed by `Other(kind, len)`.
pub fn raw_options(bytes: &[u8]) -> Vec<WireOpt> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&k) = bytes.get(i) {
        match k {
            0 => {
                out.push(WireOpt::Eol);
                i += 1;
                continue;
            }
            1 => {
                out.push(WireOpt::Nop);
                i += 1;
                continue;
            }
            _ => {}
        }
        let len = bytes.get(i + 1).copied().unwrap_or(0);
        let body = bytes.get(i + 2..i + usize::from(len)).unwrap_or(&[]);
        let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        out.push(match (k, body.len()) {
            (2, 2) => WireOpt::Mss(u16::from_be_bytes([body[0], body[1]])),
            (3, 1) => WireOpt::Wscale(body[0]),
            (4, 0) => WireOpt::SackOk,
            (5, n) if n % 8 == 0 && n > 0 => WireOpt::Sack(
                body.chunks_exact(8)
                    .map(|c| (be32(&c[..4]), be32(&c[4..])))
                    .collect(),
            ),
            (8, 8) => WireOpt::Timestamp,
            _ => WireOpt::Other(k, len),
        });
        if len < 2 {
            break;
        }
        i += usize::from(len);
    }
    out
}

/// Encodes the script's option list for an inbound segment, translating
/// SACK blocks (which acknowledge our data) by the local ISN and `TS ecr`
/// through `ecr`. `Err` names an option this runner cannot send.
pub fn encode_options(
    list: &[TcpOpt],
    local_isn: u32,
    ecr: &dyn Fn(u32) -> u32,
) -> Result<Vec<u8>, String> {
    let mut b = Vec::new();
    for o in list {
        match o {
            TcpOpt::Nop => b.push(1),
            TcpOpt::Eol => b.push(0),
            TcpOpt::Mss(m) => {
                b.extend([2, 4]);
                b.extend(m.to_be_bytes());
            }
            TcpOpt::Wscale(w) => b.extend([3, 3, *w]),
            TcpOpt::SackOk => b.extend([4, 2]),
            TcpOpt::Sack(blocks) => {
                b.extend([5, (2 + 8 * blocks.len()) as u8]);
                for (l, r) in blocks {
                    b.extend(l.wrapping_add(local_isn).to_be_bytes());
                    b.extend(r.wrapping_add(local_isn).to_be_bytes());
                }
            }
            TcpOpt::Timestamp { val, ecr: e } => {
                b.extend([8, 10]);
                b.extend(val.to_be_bytes());
                b.extend(if *e == 0 { 0 } else { ecr(*e) }.to_be_bytes());
            }
            TcpOpt::Other(s) => return Err(format!("option `{s}`")),
        }
    }
    if b.len() > 40 {
        return Err("more than 40 bytes of options".into());
    }
    while b.len() % 4 != 0 {
        // packetdrill requires scripts to pad; be lenient and pad with EOL.
        b.push(0);
    }
    Ok(b)
}

/// Writes an IP packet carrying a TCP segment built from raw parts.
#[allow(clippy::too_many_arguments)]
pub fn build_packet(
    src: (IpAddr, u16),
    dst: (IpAddr, u16),
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    urgent: u16,
    options: &[u8],
    payload_len: usize,
) -> Vec<u8> {
    let tcp_len = 20 + options.len() + payload_len;
    let ip = wire::IpRepr {
        src: src.0,
        dst: dst.0,
        protocol: wire::PROTO_TCP,
        hop_limit: 64,
        payload_len: tcp_len,
        ecn: wire::Ecn::NotEct,
        dscp: 0,
    };
    let hl = ip.header_len();
    let mut buf = vec![0u8; hl + tcp_len];
    if ip.emit(&mut buf).is_err() {
        return Vec::new();
    }
    let t = &mut buf[hl..];
    t[0..2].copy_from_slice(&src.1.to_be_bytes());
    t[2..4].copy_from_slice(&dst.1.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = (((20 + options.len()) / 4) as u8) << 4;
    t[13] = flags.bits();
    t[14..16].copy_from_slice(&window.to_be_bytes());
    t[18..20].copy_from_slice(&urgent.to_be_bytes());
    t[20..20 + options.len()].copy_from_slice(options);
    let sum = checksum::sum(
        t,
        checksum::pseudo_header(&src.0, &dst.0, wire::PROTO_TCP, tcp_len as u32),
    );
    let c = !checksum::fold(sum);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    buf
}

/// What the stack sent, decoded for comparison.
#[derive(Clone, Debug)]
pub struct Outbound {
    /// Addresses and ports.
    pub src: (IpAddr, u16),
    /// Addresses and ports.
    pub dst: (IpAddr, u16),
    /// Raw sequence number.
    pub seq: u32,
    /// Raw acknowledgment number.
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Raw window field.
    pub window: u16,
    /// Payload length.
    pub len: usize,
    /// Options as sent.
    pub options: Vec<WireOpt>,
    /// TSval when the timestamp option is present.
    pub ts_val: Option<u32>,
    /// The IP header's ECN field (RFC 3168 §5).
    pub ecn: wire::Ecn,
    /// IPv4 TOS / IPv6 traffic class, ECN bits included.
    pub tos: u8,
    /// IPv4 TTL / IPv6 hop limit.
    pub ttl: u8,
}

/// Decodes an outbound packet.
pub fn decode(pkt: &[u8]) -> Result<Outbound, String> {
    let p = wire::parse_tcp_packet(pkt).map_err(|e| format!("stack sent a bad packet: {e}"))?;
    let (_, l4) = wire::ip::parse_ip(pkt).map_err(|e| e.to_string())?;
    let seg = wire::TcpSegment::new_checked(l4).map_err(|e| e.to_string())?;
    let t = p.tcp;
    Ok(Outbound {
        src: (p.ip.src, t.src_port),
        dst: (p.ip.dst, t.dst_port),
        seq: t.seq.0,
        ack: t.ack.0,
        flags: t.flags,
        window: t.window,
        len: t.payload.len(),
        options: raw_options(seg.options()),
        ts_val: t.options.timestamps.map(|(v, _)| v),
        ecn: p.ip.ecn,
        tos: p.ip.dscp << 2 | p.ip.ecn.bits(),
        ttl: p.ip.hop_limit,
    })
}

/// Checks the IP fields a script line states for an outbound packet:
/// `(tos N)` / `(class N)` by their DSCP (the ECN bits are RFC 3168's and
/// written separately, as `[ect0]`), `(ttl N)` / `(hlim N)` exactly. The
/// others (`flowlabel`, `id`, the ECN brackets) are not checked.
pub fn compare_ip(want: &[(String, Option<i64>)], o: &Outbound) -> Result<(), String> {
    for (name, v) in want {
        let Some(v) = *v else { continue };
        match name.as_str() {
            "tos" | "class" if i64::from(o.tos >> 2) != v >> 2 => {
                return Err(format!("{name}: expected {v:#04x}, got {:#04x}", o.tos));
            }
            "ttl" | "hlim" if i64::from(o.ttl) != v => {
                return Err(format!("{name}: expected {v}, got {}", o.ttl));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The ECN codepoint an `ip_info` annotation names (`[ect0]`, `[ect1]`,
/// `[ce]`, `[noecn]`; GRAMMAR.md §4), if any. `[ect01]` (either ECT) is
/// `Ect0` here, what an RFC 3168 sender sets.
pub fn ecn_of(ip_info: &[(String, Option<i64>)]) -> Option<wire::Ecn> {
    ip_info.iter().find_map(|(name, _)| match name.as_str() {
        "ect0" | "ect01" => Some(wire::Ecn::Ect0),
        "ect1" => Some(wire::Ecn::Ect1),
        "ce" => Some(wire::Ecn::Ce),
        "noecn" => Some(wire::Ecn::NotEct),
        _ => None,
    })
}

/// Whether an `ip_info` name is an ECN codepoint annotation.
pub fn is_ecn_annotation(name: &str) -> bool {
    matches!(name, "ect0" | "ect01" | "ect1" | "ce" | "noecn")
}

/// Checks an outbound packet's ECN field against the line's annotation;
/// a line without one does not check it.
pub fn compare_ecn(ip_info: &[(String, Option<i64>)], o: &Outbound) -> Result<(), String> {
    let Some(want) = ecn_of(ip_info) else {
        return Ok(());
    };
    let ok = match ip_info.iter().any(|(n, _)| n == "ect01") {
        true => matches!(o.ecn, wire::Ecn::Ect0 | wire::Ecn::Ect1),
        false => o.ecn == want,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("IP ECN field: expected {want:?} got {:?}", o.ecn))
    }
}

/// Renders a live segment in script notation, local numbers made relative.
pub fn describe(o: &Outbound, local_isn: u32) -> String {
    let seq = o.seq.wrapping_sub(local_isn);
    let mut s = format!(
        "{} {}:{}({})",
        letters_of(o.flags),
        seq,
        seq.wrapping_add(o.len as u32),
        o.len
    );
    if o.flags.contains(TcpFlags::ACK) {
        s += &format!(" ack {}", o.ack);
    }
    s += &format!(" win {}", o.window);
    if !o.options.is_empty() {
        s += &format!(" {}", show(&o.options));
    }
    s
}

/// Compares a live segment with the script's expectation. `local_isn` must
/// already be learned (or set from this SYN by the caller).
pub fn compare(exp: &TcpPacket, o: &Outbound, local_isn: u32, mode: Mode) -> Result<(), String> {
    let want = flags_of(&exp.flags);
    if want != o.flags {
        return Err(format!(
            "flags: expected {} got {}",
            letters_of(want),
            letters_of(o.flags)
        ));
    }
    if let Some(s) = exp.seq {
        // A SYN's number is absolute in the script, but the caller learns the
        // local ISN from it, so relative numbering works for every segment.
        let live = o.seq.wrapping_sub(local_isn);
        if live != s {
            return Err(format!("seq: expected {s} got {live}"));
        }
    }
    if o.len != exp.len as usize {
        return Err(format!(
            "payload length: expected {} got {}",
            exp.len, o.len
        ));
    }
    if o.flags.contains(TcpFlags::ACK) {
        let a = exp.ack.unwrap_or(0);
        if o.ack != a {
            return Err(format!("ack: expected {a} got {}", o.ack));
        }
    }
    if mode == Mode::Strict {
        if let Some(w) = exp.win {
            if u32::from(o.window) != w {
                return Err(format!("win: expected {w} got {}", o.window));
            }
        }
    }
    let expected: Vec<WireOpt> = match &exp.options {
        OptionSpec::Any => return Ok(()),
        OptionSpec::Absent => Vec::new(),
        OptionSpec::List(l) => l
            .iter()
            .map(|o| match o {
                TcpOpt::Nop => WireOpt::Nop,
                TcpOpt::Eol => WireOpt::Eol,
                TcpOpt::Mss(m) => WireOpt::Mss(*m),
                TcpOpt::Wscale(w) => WireOpt::Wscale(*w),
                TcpOpt::SackOk => WireOpt::SackOk,
                TcpOpt::Sack(b) => WireOpt::Sack(b.clone()),
                TcpOpt::Timestamp { .. } => WireOpt::Timestamp,
                TcpOpt::Other(s) => WireOpt::Other(0xff, s.len() as u8),
            })
            .collect(),
    };
    let same = match mode {
        Mode::Strict => expected == o.options,
        Mode::Semantic => {
            // The set of options, without padding and in any order.
            let norm = |v: &[WireOpt]| {
                let mut v: Vec<WireOpt> = v
                    .iter()
                    .filter(|o| !matches!(o, WireOpt::Nop | WireOpt::Eol))
                    .cloned()
                    .collect();
                v.sort();
                v
            };
            norm(&expected) == norm(&o.options)
        }
    };
    if !same {
        return Err(format!(
            "options: expected {} got {}",
            show(&expected),
            show(&o.options)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_round_trip_through_the_wire_view() {
        let list = vec![TcpOpt::Mss(1460), TcpOpt::SackOk, TcpOpt::Eol, TcpOpt::Eol];
        let b = encode_options(&list, 0, &|e| e).unwrap();
        assert_eq!(b, [2, 4, 5, 180, 4, 2, 0, 0]);
        assert_eq!(
            raw_options(&b),
            [
                WireOpt::Mss(1460),
                WireOpt::SackOk,
                WireOpt::Eol,
                WireOpt::Eol
            ]
        );
        assert!(encode_options(&[TcpOpt::Other("md5 valid".into())], 0, &|e| e).is_err());
    }

    #[test]
    fn semantic_ignores_order_padding_and_window() {
        let exp = TcpPacket {
            flags: "S.".into(),
            seq: Some(0),
            len: 0,
            ack: Some(1),
            win: Some(65535),
            urg: None,
            options: OptionSpec::List(vec![
                TcpOpt::Mss(1460),
                TcpOpt::SackOk,
                TcpOpt::Eol,
                TcpOpt::Eol,
            ]),
        };
        let ip: IpAddr = "192.168.0.1".parse().unwrap();
        let o = Outbound {
            src: (ip, 8080),
            dst: (ip, 1),
            seq: 77,
            ack: 1,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: 1000,
            len: 0,
            options: vec![
                WireOpt::Mss(1460),
                WireOpt::Nop,
                WireOpt::Nop,
                WireOpt::SackOk,
            ],
            ts_val: None,
            ecn: wire::Ecn::NotEct,
            tos: 0,
            ttl: 64,
        };
        assert!(compare(&exp, &o, 0, Mode::Semantic).is_err()); // ISN 77 not learned
        let o2 = Outbound {
            seq: 0,
            ..o.clone()
        };
        assert!(compare(&exp, &o2, 0, Mode::Semantic).is_ok());
        let e = compare(&exp, &o2, 0, Mode::Strict).unwrap_err();
        assert!(e.starts_with("win"), "{e}");
        let o3 = Outbound {
            window: 65535,
            ..o2
        };
        assert!(compare(&exp, &o3, 0, Mode::Strict)
            .unwrap_err()
            .starts_with("options"));
    }
}
