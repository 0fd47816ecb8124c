//! Backtick shell lines and `%{ }%` code blocks (GRAMMAR.md §6).
//!
//! Nothing is run on the host. FreeBSD `sysctl -w` lines become stack
//! configuration where synfin has the knob (and are accepted silently when
//! they set what synfin already does); `sockstat … | grep -c STATE | grep N`
//! becomes a count of sockets in that state; `%{ assert tcpi_state == … }%`
//! becomes a state query on the most recent socket.

use std::time::Duration;

use super::interp::{Interp, Step, Stop};
use crate::tcp::State;

/// Runs one backtick command.
pub(crate) fn run(it: &mut Interp, cmd: &str, line: u32) -> Step {
    let cmd = cmd.trim();
    if cmd.is_empty() {
        return Ok(());
    }
    if let Some(rest) = cmd.strip_prefix("sysctl -w ") {
        for assignment in rest.split_whitespace() {
            sysctl(it, assignment, line)?;
        }
        return Ok(());
    }
    if cmd.starts_with("sockstat ") {
        return sockstat(it, cmd, line);
    }
    let tool = cmd.split_whitespace().next().unwrap_or("");
    Err(Stop::Unsupported(format!(
        "line {line}: shell command `{tool}` (FreeBSD tool with no synfin equivalent)"
    )))
}

fn sysctl(it: &mut Interp, assignment: &str, line: u32) -> Step {
    let Some((name, value)) = assignment.split_once('=') else {
        return Err(Stop::Fail(format!(
            "line {line}: bad sysctl `{assignment}`"
        )));
    };
    let v: i64 = value.parse().map_err(|_| {
        Stop::Fail(format!(
            "line {line}: sysctl {name}: `{value}` is not a number"
        ))
    })?;
    let ms = |v: i64| Duration::from_millis(v.max(0) as u64);
    let mut drop_syn_fin = None;
    let tcp = &mut it.stack.config_mut().tcp;
    let name = name.strip_prefix("net.inet.tcp.").unwrap_or(name);
    match name {
        "rfc1323" => {
            tcp.window_scaling = v != 0;
            tcp.timestamps = v != 0;
        }
        "recvspace" => tcp.recv_buffer = v.max(1) as usize,
        "sendspace" => tcp.send_buffer = v.max(1) as usize,
        "delacktime" => tcp.delayed_ack = ms(v),
        "rexmit_initial" => tcp.initial_rto = ms(v),
        "msl" => tcp.msl = ms(v),
        "keepidle" => tcp.keepalive_idle = ms(v),
        "keepintvl" => tcp.keepalive_interval = ms(v),
        "keepcnt" => tcp.keepalive_probes = v.clamp(0, 255) as u8,
        "sack.enable" => tcp.sack = v != 0,
        "insecure_rst" => tcp.rfc5961_rst = v == 0,
        "insecure_syn" => tcp.rfc5961_syn = v == 0,
        "kern.ipc.maxsockbuf" => tcp.wscale_buffer = Some(v.max(0) as usize),
        "rexmit_drop_options" => tcp.syn_rexmit_drop_options = v != 0,
        "rexmit_slop" => tcp.rto_slop = ms(v),
        "rexmit_min" => tcp.min_rto = ms(v),
        "keepinit" => tcp.keepinit = (v > 0).then(|| ms(v)),
        "drop_synfin" => drop_syn_fin = Some(v != 0),
        "ecn.enable" => match crate::tcp::EcnMode::from_sysctl(v) {
            Some(mode) => tcp.ecn = mode,
            None => {
                return Err(Stop::Fail(format!(
                    "line {line}: sysctl ecn.enable={v}: not 0, 1 or 2"
                )))
            }
        },
        // FreeBSD: ECN-setup SYN retransmissions before the plain SYN.
        "ecn.maxretries" => tcp.ecn_syn_retries = v.clamp(0, 255) as u8,
        "udp_tunneling_port" | "udp_tunneling_overhead" => {
            return Err(Stop::Unsupported(format!(
                "line {line}: TCP over UDP encapsulation"
            )))
        }
        // Host-wide knobs with no per-connection effect here, or FreeBSD
        // defaults that match synfin: accepted as no-ops.
        "blackhole"
        | "hostcache.purgenow"
        | "icmp_may_rst"
        | "syncookies"
        | "syncookies_only"
        | "tolerate_missing_ts" => {}
        other => it
            .notes
            .push(format!("line {line}: sysctl {other}={v} ignored")),
    }
    if let Some(d) = drop_syn_fin {
        it.stack.config_mut().drop_syn_fin = d;
    }
    Ok(())
}

/// `sockstat -4 -P tcp [-p 8080] -s | grep … | grep -c STATE | grep N`.
fn sockstat(it: &mut Interp, cmd: &str, line: u32) -> Step {
    let parts: Vec<&str> = cmd.split('|').map(str::trim).collect();
    let state = parts
        .iter()
        .find_map(|p| p.strip_prefix("grep -c "))
        .map(str::trim);
    let want = parts
        .last()
        .and_then(|p| p.strip_prefix("grep "))
        .and_then(|n| n.trim().parse::<usize>().ok());
    let (Some(state), Some(want)) = (state, want) else {
        return Err(Stop::Unsupported(format!(
            "line {line}: sockstat pipeline `{cmd}` not understood"
        )));
    };
    let count = match state {
        "SYN_RCVD" => {
            // Half-open entries of the listeners, plus accepted sockets
            // still in SYN-RECEIVED.
            let mut n = 0;
            for fd in it.fds.values() {
                n += it.stack.syn_queue_len(fd.h).unwrap_or(0);
                if it.stack.state(fd.h) == Ok(State::SynReceived) {
                    n += 1;
                }
            }
            n
        }
        s => {
            let Some(st) = state_by_name(&s.replace('_', "-")) else {
                return Err(Stop::Unsupported(format!(
                    "line {line}: sockstat state {s}"
                )));
            };
            it.fds
                .values()
                .filter(|fd| it.stack.state(fd.h) == Ok(st))
                .count()
        }
    };
    if count != want {
        return Err(Stop::Fail(format!(
            "line {line}: {want} socket(s) in {state} expected, {count} found"
        )));
    }
    Ok(())
}

fn state_by_name(name: &str) -> Option<State> {
    Some(match name.to_ascii_uppercase().as_str() {
        "CLOSED" => State::Closed,
        "LISTEN" => State::Listen,
        "SYN-SENT" => State::SynSent,
        "SYN-RCVD" | "SYN-RECEIVED" | "SYN-RECV" => State::SynReceived,
        "ESTABLISHED" => State::Established,
        "FIN-WAIT-1" => State::FinWait1,
        "FIN-WAIT-2" => State::FinWait2,
        "CLOSE-WAIT" => State::CloseWait,
        "CLOSING" => State::Closing,
        "LAST-ACK" => State::LastAck,
        "TIME-WAIT" => State::TimeWait,
        _ => return None,
    })
}

/// `%{ assert tcpi_state == TCPI_X }%` and `%{ assert tcpi_options == N }%`.
pub(crate) fn code(it: &mut Interp, code: &str, line: u32) -> Step {
    let text = code.trim();
    let Some(expr) = text.strip_prefix("assert ") else {
        return Err(Stop::Unsupported(format!(
            "line {line}: python block `{text}`"
        )));
    };
    let Some((lhs, rhs)) = expr.split_once("==") else {
        return Err(Stop::Unsupported(format!("line {line}: python `{text}`")));
    };
    let (lhs, rhs) = (lhs.trim(), rhs.trim());
    let Some(fd) = it.last_fd.and_then(|f| it.fds.get(&f)).cloned() else {
        return Err(Stop::Fail(format!(
            "line {line}: TCP_INFO needs an open socket"
        )));
    };
    match lhs {
        "tcpi_state" => {
            let Some(want) = rhs
                .strip_prefix("TCPI_")
                .and_then(|s| state_by_name(&s.replace('_', "-")))
            else {
                return Err(Stop::Unsupported(format!("line {line}: `{rhs}`")));
            };
            let got = it
                .stack
                .state(fd.h)
                .map_err(|e| Stop::Fail(format!("line {line}: tcpi_state: {e}")))?;
            if got != want {
                return Err(Stop::Fail(format!(
                    "line {line}: tcpi_state: expected {want}, got {got}"
                )));
            }
            Ok(())
        }
        "tcpi_options" => {
            let want: u32 = rhs
                .parse()
                .map_err(|_| Stop::Unsupported(format!("line {line}: `{rhs}`")))?;
            // TCPI_OPT_TIMESTAMPS 1, TCPI_OPT_SACK 2, TCPI_OPT_WSCALE 4.
            let got = it.stack.connection(fd.h).map_or(0, |c| {
                let n = c.negotiated();
                u32::from(n.timestamps)
                    | u32::from(n.sack_permitted) << 1
                    | u32::from(n.window_scaling) << 2
            });
            if got != want {
                return Err(Stop::Fail(format!(
                    "line {line}: tcpi_options: expected {want}, got {got}"
                )));
            }
            Ok(())
        }
        other => Err(Stop::Unsupported(format!(
            "line {line}: TCP_INFO field {other}"
        ))),
    }
}
