//! A ladder (sequence) diagram of one connection: the client on the left,
//! the server on the right, segments as arrows between them, and each
//! side's state transitions and application events under its own column.
//!
//! Sequence and acknowledgment numbers are shown relative to each side's
//! initial sequence number, as tshark and Wireshark do, so the arithmetic of
//! the handshake and the FINs can be followed by eye.

use std::collections::HashSet;
use std::fmt::Write as _;

use serde::Serialize;
use synfin::links::PacketFate;
use synfin::tcp::State;
use synfin::time::Instant;
use synfin::wire::{TcpFlags, TcpOptions};

/// Which column an item belongs to.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Client,
    Server,
}

/// One segment as it left its sender.
#[derive(Clone, Debug)]
pub struct Seg {
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub len: usize,
    pub window: u16,
    pub options: TcpOptions,
    /// The client's port: which connection the segment belongs to, when
    /// the diagram shows several.
    pub conn: u16,
}

/// Something that happened, for the diagram.
#[derive(Clone, Debug)]
pub enum What {
    /// A segment sent by `side`; `None` when the packet did not parse.
    Segment { seg: Option<Seg>, fate: PacketFate },
    /// A TCP state transition.
    State { from: State, to: State },
    /// A state transition of one of several connections, named.
    ConnState {
        conn: String,
        from: State,
        to: State,
    },
    /// Something the application did or saw.
    App(String),
}

/// A timed item of the diagram.
#[derive(Clone, Debug)]
pub struct Item {
    pub at: Instant,
    pub side: Side,
    pub what: What,
}

/// A rendered item, for `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Virtual time in seconds.
    pub t: f64,
    pub side: Side,
    /// "segment", "state" or "app".
    pub kind: &'static str,
    pub text: String,
}

const WIDTH: usize = 64;

/// Puts items in time order (stable, so same-instant items keep the order
/// in which they happened) and renders them as text rows.
pub fn rows(items: &mut [Item]) -> Vec<Row> {
    rows_named(items, &[])
}

/// Like [`rows`], for a diagram of several connections: the segments of the
/// connection whose client port is in `names` are prefixed with its name,
/// and each connection's numbers are relative to its own ISNs.
pub fn rows_named(items: &mut [Item], names: &[(u16, String)]) -> Vec<Row> {
    items.sort_by_key(|i| i.at);
    let syn = |side: Side, conn: u16| {
        items.iter().find_map(|i| match (&i.what, i.side == side) {
            (What::Segment { seg: Some(s), .. }, true)
                if s.flags.contains(TcpFlags::SYN) && s.conn == conn =>
            {
                Some(s.clone())
            }
            _ => None,
        })
    };
    // Per connection: (client ISN, server ISN, client shift, server shift).
    let mut numbering = std::collections::HashMap::new();
    for i in items.iter() {
        if let What::Segment { seg: Some(s), .. } = &i.what {
            numbering.entry(s.conn).or_insert_with(|| {
                let (c_syn, s_syn) = (syn(Side::Client, s.conn), syn(Side::Server, s.conn));
                let (c_isn, s_isn) = (
                    c_syn.as_ref().map_or(0, |s| s.seq),
                    s_syn.as_ref().map_or(0, |s| s.seq),
                );
                // RFC 7323 §2.2: window fields are scaled only when both
                // SYNs carried the option, and never on a SYN itself. The
                // diagram shows bytes.
                let (c_ws, s_ws) = match (
                    c_syn.and_then(|s| s.options.window_scale),
                    s_syn.and_then(|s| s.options.window_scale),
                ) {
                    (Some(c), Some(s)) => (c.min(14), s.min(14)),
                    _ => (0, 0),
                };
                (c_isn, s_isn, c_ws, s_ws)
            });
        }
    }
    let mut seen = HashSet::new();
    items
        .iter()
        .map(|i| {
            let t = i.at.total_micros() as f64 / 1e6;
            match &i.what {
                What::Segment { seg, fate } => {
                    let conn = seg.as_ref().map_or(0, |s| s.conn);
                    let (c_isn, s_isn, c_ws, s_ws) =
                        numbering.get(&conn).copied().unwrap_or_default();
                    let (own, peer, ws) = match i.side {
                        Side::Client => (c_isn, s_isn, c_ws),
                        Side::Server => (s_isn, c_isn, s_ws),
                    };
                    let mut text = match seg {
                        Some(s) => describe(s, own, peer, ws),
                        None => "(unparseable packet)".to_string(),
                    };
                    if let Some((_, name)) = names.iter().find(|(p, _)| *p == conn) {
                        text = format!("{name}: {text}");
                    }
                    if let Some(s) = seg {
                        let occupies =
                            s.len > 0 || s.flags.intersects(TcpFlags::SYN | TcpFlags::FIN);
                        if occupies
                            && !seen.insert((i.side, s.conn, s.seq, s.len, s.flags.0))
                            && *fate != PacketFate::Duplicated
                        {
                            text.push_str(" (retransmission)");
                        }
                    }
                    match fate {
                        PacketFate::Lost => text.push_str(" ✗ lost"),
                        PacketFate::Corrupted => text.push_str(" ✗ corrupted"),
                        PacketFate::Duplicated => text.push_str(" (duplicate copy)"),
                        PacketFate::Dropped => text.push_str(" ✗ dropped"),
                        PacketFate::Delivered => {}
                    }
                    Row {
                        t,
                        side: i.side,
                        kind: "segment",
                        text,
                    }
                }
                What::State { from, to } => Row {
                    t,
                    side: i.side,
                    kind: "state",
                    text: format!("{from} → {to}"),
                },
                What::ConnState { conn, from, to } => Row {
                    t,
                    side: i.side,
                    kind: "state",
                    text: format!("{conn}: {from} → {to}"),
                },
                What::App(s) => Row {
                    t,
                    side: i.side,
                    kind: "app",
                    text: s.clone(),
                },
            }
        })
        .collect()
}

/// `SYN,ACK seq=0 ack=1 win=65535 <mss 1460,ws 7,ts>`, with numbers
/// relative to the sender's (`own`) and receiver's (`peer`) ISN and the
/// window in bytes (the field shifted by the sender's scale `ws`).
fn describe(s: &Seg, own: u32, peer: u32, ws: u8) -> String {
    let mut out = format!("{} seq={}", flag_names(s.flags), s.seq.wrapping_sub(own));
    if s.flags.contains(TcpFlags::ACK) {
        let _ = write!(out, " ack={}", s.ack.wrapping_sub(peer));
    }
    if s.len > 0 {
        let _ = write!(out, " len={}", s.len);
    }
    let shift = if s.flags.contains(TcpFlags::SYN) {
        0
    } else {
        ws
    };
    let _ = write!(out, " win={}", u32::from(s.window) << shift);
    if s.flags.contains(TcpFlags::SYN) {
        let mut opts = Vec::new();
        if let Some(m) = s.options.mss {
            opts.push(format!("mss {m}"));
        }
        if let Some(w) = s.options.window_scale {
            opts.push(format!("ws {w}"));
        }
        if s.options.sack_permitted {
            opts.push("sackOK".to_string());
        }
        if s.options.timestamps.is_some() {
            opts.push("ts".to_string());
        }
        if s.options.experimental == Some(synfin::tcp::message::MESSAGE_EXID) {
            // Message mode (docs/message-mode.md).
            opts.push("msg".to_string());
        }
        if !opts.is_empty() {
            let _ = write!(out, " <{}>", opts.join(","));
        }
    }
    out
}

/// Flags spelled out (`SYN,ACK`) rather than tcpdump's letters: the
/// diagram is for people learning the lifecycle.
fn flag_names(f: TcpFlags) -> String {
    let v: Vec<&str> = f.names().collect();
    if v.is_empty() {
        "(no flags)".to_string()
    } else {
        v.join(",")
    }
}

/// The diagram as text: a header with both endpoints, then one line per row.
pub fn render(rows: &[Row], client: &str, server: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>10}  {:<w$}{:>r$}",
        "time (s)",
        client,
        server,
        w = WIDTH / 2,
        r = WIDTH - WIDTH / 2
    );
    let _ = writeln!(out, "{:>10}  {}", "", "─".repeat(WIDTH));
    for r in rows {
        let line = match (r.kind, r.side) {
            ("segment", Side::Client) => arrow_right(&r.text),
            ("segment", Side::Server) => arrow_left(&r.text),
            ("state", Side::Client) => format!("[{}]", r.text),
            ("state", Side::Server) => format!("{:>WIDTH$}", format!("[{}]", r.text)),
            (_, Side::Client) => format!("» {}", r.text),
            (_, Side::Server) => format!("{:>WIDTH$}", format!("{} «", r.text)),
        };
        let _ = writeln!(out, "{:>10.6}  {}", r.t, line);
    }
    out
}

fn arrow_right(text: &str) -> String {
    let body = format!("── {text} ");
    let pad = WIDTH.saturating_sub(body.chars().count() + 1);
    format!("{body}{}▶", "─".repeat(pad))
}

fn arrow_left(text: &str) -> String {
    let body = format!(" {text} ──");
    let pad = WIDTH.saturating_sub(body.chars().count() + 1);
    format!("◀{}{body}", "─".repeat(pad))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(flags: TcpFlags, seq: u32, ack: u32, len: usize) -> Seg {
        Seg {
            flags,
            seq,
            ack,
            len,
            window: 100,
            options: TcpOptions::default(),
            conn: 1,
        }
    }

    #[test]
    fn numbers_are_relative_and_retransmissions_marked() {
        let mut items = vec![
            Item {
                at: Instant::from_millis(0),
                side: Side::Client,
                what: What::Segment {
                    seg: Some(seg(TcpFlags::SYN, 1000, 0, 0)),
                    fate: PacketFate::Lost,
                },
            },
            Item {
                at: Instant::from_millis(1000),
                side: Side::Client,
                what: What::Segment {
                    seg: Some(seg(TcpFlags::SYN, 1000, 0, 0)),
                    fate: PacketFate::Delivered,
                },
            },
            Item {
                at: Instant::from_millis(1010),
                side: Side::Server,
                what: What::Segment {
                    seg: Some(seg(TcpFlags::SYN | TcpFlags::ACK, 5000, 1001, 0)),
                    fate: PacketFate::Delivered,
                },
            },
            Item {
                at: Instant::from_millis(1010),
                side: Side::Server,
                what: What::App("accept()".into()),
            },
        ];
        let rows = rows(&mut items);
        assert_eq!(rows[0].text, "SYN seq=0 win=100 ✗ lost");
        assert_eq!(rows[1].text, "SYN seq=0 win=100 (retransmission)");
        assert_eq!(rows[2].text, "SYN,ACK seq=0 ack=1 win=100");
        let text = render(&rows, "client", "server");
        assert!(text.contains("──▶"), "{text}");
        assert!(text.contains("◀──"), "{text}");
        assert!(text.contains("accept() «"), "{text}");
    }
}
