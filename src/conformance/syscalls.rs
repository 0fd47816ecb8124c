//! System calls of a script mapped to [`crate::stack::Stack`] operations,
//! with Linux errno values ([`crate::stack::Error::errno`]) and the FreeBSD
//! constants the corpus's arguments and results are written with.

use std::time::Duration;

use super::ast::{Expr, Syscall};
use super::interp::{Fd, Interp, Stop, SCRIPT_PORT};
use crate::stack::{Error, Shutdown};
use crate::tcp::State;

/// What a call returned: a value or an errno.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallResult {
    /// Success with this return value.
    Value(i64),
    /// `-1` with this errno.
    Errno(i32),
    /// `getsockopt`: success, and the value it wrote.
    Opt(i64),
}

/// A call either finished or would block on a blocking descriptor.
pub enum Outcome {
    /// It returned.
    Done(CallResult),
    /// Try again later.
    Blocked,
}

// FreeBSD's fcntl flags (the corpus checks `F_GETFL = 0x02`).
const O_RDWR: i64 = 0x2;
const O_NONBLOCK: i64 = 0x4;

/// Linux errno numbers by name.
pub fn errno_value(name: &str) -> Option<i32> {
    Some(match name {
        "EPERM" => 1,
        "ENOENT" => 2,
        "EINTR" => 4,
        "EIO" => 5,
        "EBADF" => 9,
        "EAGAIN" | "EWOULDBLOCK" => 11,
        "ENOMEM" => 12,
        "EACCES" => 13,
        "EFAULT" => 14,
        "EINVAL" => 22,
        "EPIPE" => 32,
        "ENOTSOCK" => 88,
        "EDESTADDRREQ" => 89,
        "EMSGSIZE" => 90,
        "ENOPROTOOPT" => 92,
        "EOPNOTSUPP" | "ENOTSUP" => 95,
        "EAFNOSUPPORT" => 97,
        "EADDRINUSE" => 98,
        "EADDRNOTAVAIL" => 99,
        "ENETDOWN" => 100,
        "ENETUNREACH" => 101,
        "ECONNABORTED" => 103,
        "ECONNRESET" => 104,
        "ENOBUFS" => 105,
        "EISCONN" => 106,
        "ENOTCONN" => 107,
        "ESHUTDOWN" => 108,
        "ETIMEDOUT" => 110,
        "ECONNREFUSED" => 111,
        "EHOSTDOWN" => 112,
        "EHOSTUNREACH" => 113,
        "EALREADY" => 114,
        "EINPROGRESS" => 115,
        _ => return None,
    })
}

fn errno_name(n: i32) -> String {
    const NAMES: &[&str] = &[
        "EBADF",
        "EAGAIN",
        "EINVAL",
        "EPIPE",
        "ENOPROTOOPT",
        "EOPNOTSUPP",
        "EADDRINUSE",
        "EADDRNOTAVAIL",
        "ENETUNREACH",
        "ECONNABORTED",
        "ECONNRESET",
        "EISCONN",
        "ENOTCONN",
        "ETIMEDOUT",
        "ECONNREFUSED",
        "EHOSTUNREACH",
        "EALREADY",
        "EINPROGRESS",
    ];
    NAMES
        .iter()
        .find(|n2| errno_value(n2) == Some(n))
        .map_or_else(|| format!("errno {n}"), |s| s.to_string())
}

/// Integer value of an expression (symbols through the constant table).
fn int_of(e: &Expr) -> Option<i64> {
    match e {
        Expr::Int(i) => Some(*i),
        Expr::Word(w) => symbol(w),
        Expr::Or(v) => v.iter().try_fold(0, |acc, e| Some(acc | int_of(e)?)),
        Expr::List(v) if v.len() == 1 => int_of(&v[0]),
        _ => None,
    }
}

fn symbol(w: &str) -> Option<i64> {
    Some(match w {
        "O_RDWR" => O_RDWR,
        "O_NONBLOCK" => O_NONBLOCK,
        "O_RDONLY" => 0,
        "O_WRONLY" => 1,
        "MSG_PEEK" => 2,
        "MSG_DONTWAIT" => 0x80,
        "SHUT_RD" => 0,
        "SHUT_WR" => 1,
        "SHUT_RDWR" => 2,
        // RFC 2474 class selectors as <netinet/ip.h> names them (TOS bytes).
        w if w.starts_with("IPTOS_DSCP_CS") => {
            let n: i64 = w["IPTOS_DSCP_CS".len()..].parse().ok()?;
            if !(0..=7).contains(&n) {
                return None;
            }
            n << 5
        }
        _ => return errno_value(w).map(i64::from),
    })
}

/// Whether a live result satisfies the script's `= result [ERRNO]`.
pub fn matches(call: &Syscall, got: &CallResult) -> Result<(), String> {
    let want_errno = call.errno.as_deref();
    match (got, want_errno) {
        (CallResult::Errno(e), Some(name)) => {
            let Some(w) = errno_value(name) else {
                return Err(format!("unknown errno `{name}` in the script"));
            };
            if *e != w {
                return Err(format!("expected {name}, got {}", errno_name(*e)));
            }
            Ok(())
        }
        (CallResult::Errno(e), None) => Err(format!(
            "expected {}, got -1 {}",
            show_expr(&call.result),
            errno_name(*e)
        )),
        (CallResult::Value(v) | CallResult::Opt(v), Some(name)) => {
            Err(format!("expected -1 {name}, got {v}"))
        }
        (CallResult::Value(v), None) => match &call.result {
            Expr::Ellipsis => Ok(()),
            e => match int_of(e) {
                Some(w) if w == *v => Ok(()),
                Some(w) => Err(format!("expected {w}, got {v}")),
                None => Err(format!("cannot check the result `{}`", show_expr(e))),
            },
        },
        (CallResult::Opt(_), None) => Ok(()),
    }
}

fn show_expr(e: &Expr) -> String {
    match e {
        Expr::Ellipsis => "...".into(),
        Expr::Int(i) => i.to_string(),
        Expr::Float(f) => f.to_string(),
        Expr::Word(w) => w.clone(),
        Expr::Str(s) => format!("{s:?}"),
        Expr::Or(v) => v.iter().map(show_expr).collect::<Vec<_>>().join("|"),
        Expr::List(v) => format!(
            "[{}]",
            v.iter().map(show_expr).collect::<Vec<_>>().join(", ")
        ),
        Expr::Struct(f) => format!(
            "{{{}}}",
            f.iter()
                .map(|(n, e)| match n {
                    Some(n) => format!("{n}={}", show_expr(e)),
                    None => show_expr(e),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn unsupported<T>(what: String) -> Result<T, Stop> {
    Err(Stop::Unsupported(what))
}

fn fail<T>(what: String) -> Result<T, Stop> {
    Err(Stop::Fail(what))
}

fn arg(call: &Syscall, i: usize) -> Result<&Expr, Stop> {
    call.args
        .get(i)
        .ok_or_else(|| Stop::Fail(format!("{}: missing argument {}", call.name, i + 1)))
}

fn arg_int(call: &Syscall, i: usize) -> Result<i64, Stop> {
    let e = arg(call, i)?;
    int_of(e).ok_or_else(|| {
        Stop::Fail(format!(
            "{}: argument {} (`{}`) is not a number this runner knows",
            call.name,
            i + 1,
            show_expr(e)
        ))
    })
}

fn word(e: &Expr) -> &str {
    match e {
        Expr::Word(w) => w,
        _ => "",
    }
}

fn err(e: Error) -> CallResult {
    CallResult::Errno(e.errno())
}

/// Executes one call. `retry` is set when a blocked call is tried again.
pub(crate) fn exec(it: &mut Interp, call: &Syscall, retry: bool) -> Result<Outcome, Stop> {
    use CallResult::*;
    use Outcome::*;
    let name = call.name.as_str();
    if name == "socket" {
        let h = it.stack.socket();
        let fd = (3..).find(|f| !it.fds.contains_key(f)).unwrap_or(3);
        it.fds.insert(
            fd,
            Fd {
                h,
                nonblocking: false,
            },
        );
        it.last_fd = Some(fd);
        return Ok(Done(Value(fd)));
    }
    if matches!(
        name,
        "poll"
            | "epoll_create"
            | "epoll_ctl"
            | "epoll_wait"
            | "sendmsg"
            | "recvmsg"
            | "writev"
            | "readv"
            | "ioctl"
            | "sendto"
            | "recvfrom"
    ) {
        return unsupported(format!("system call {name} is not mapped by this runner"));
    }
    let fdn = arg_int(call, 0)?;
    let Some(fd) = it.fds.get(&fdn).cloned() else {
        return Ok(Done(Errno(9)));
    };
    let now = it.instant();
    let h = fd.h;
    let block = |r: Result<usize, Error>, fd: &Fd| match r {
        Err(Error::WouldBlock) if !fd.nonblocking => Blocked,
        Err(e) => Done(err(e)),
        Ok(n) => Done(Value(n as i64)),
    };
    Ok(match name {
        "fcntl" => match word(arg(call, 1)?) {
            "F_GETFL" => Done(Value(O_RDWR | if fd.nonblocking { O_NONBLOCK } else { 0 })),
            "F_SETFL" => {
                let flags = arg_int(call, 2)?;
                if let Some(f) = it.fds.get_mut(&fdn) {
                    f.nonblocking = flags & O_NONBLOCK != 0;
                }
                Done(Value(0))
            }
            other => return unsupported(format!("fcntl {other}")),
        },
        "bind" => {
            let local = it.local_addr();
            Done(match it.stack.bind(h, local) {
                Ok(()) => Value(0),
                Err(e) => err(e),
            })
        }
        "listen" => {
            let backlog = arg_int(call, 1)?.max(0) as usize;
            it.ports = (SCRIPT_PORT, super::interp::REMOTE_EPHEMERAL);
            Done(match it.stack.listen_on(h, backlog) {
                Ok(()) => Value(0),
                Err(e) => err(e),
            })
        }
        "connect" => {
            if retry {
                return Ok(match it.stack.state(h) {
                    Ok(State::SynSent | State::SynReceived) => Blocked,
                    Ok(State::Closed) | Err(_) => Done(Errno(
                        it.stack
                            .take_error(h)
                            .ok()
                            .flatten()
                            .map_or(111, |e| e.errno()),
                    )),
                    Ok(_) => Done(Value(0)),
                });
            }
            let remote = it.remote_addr();
            match it.stack.connect_from(now, h, remote) {
                Ok(()) => {
                    if let Ok(l) = it.stack.local_addr(h) {
                        it.ports = (l.port(), SCRIPT_PORT);
                    }
                    if fd.nonblocking {
                        Done(Errno(115))
                    } else {
                        it.drain();
                        Blocked
                    }
                }
                Err(Error::AlreadyConnected) => match it.stack.state(h) {
                    Ok(State::SynSent | State::SynReceived) => Done(Errno(114)),
                    _ => Done(Errno(106)),
                },
                Err(e) => Done(err(e)),
            }
        }
        "accept" => match it.stack.accept(h) {
            Ok((nh, _)) => {
                let nfd = (3..).find(|f| !it.fds.contains_key(f)).unwrap_or(3);
                it.fds.insert(
                    nfd,
                    Fd {
                        h: nh,
                        // FreeBSD: accepted sockets inherit O_NONBLOCK.
                        nonblocking: fd.nonblocking,
                    },
                );
                it.last_fd = Some(nfd);
                Done(Value(nfd))
            }
            Err(e) => block(Err(e), &fd),
        },
        "recv" | "read" => {
            let n = arg_int(call, 2)?.max(0) as usize;
            let flags = if name == "recv" {
                arg_int(call, 3).unwrap_or(0)
            } else {
                0
            };
            let mut buf = vec![0u8; n];
            let r = if flags & 2 != 0 {
                it.stack.peek(h, &mut buf)
            } else {
                it.stack.recv(now, h, &mut buf)
            };
            block(r, &fd)
        }
        "send" | "write" => {
            let n = arg_int(call, 2)?.max(0) as usize;
            let data = vec![0u8; n];
            block(it.stack.send(now, h, &data), &fd)
        }
        "shutdown" => {
            let how = match arg_int(call, 1)? {
                0 => Shutdown::Read,
                1 => Shutdown::Write,
                _ => Shutdown::Both,
            };
            Done(match it.stack.shutdown(now, h, how) {
                Ok(()) => Value(0),
                Err(e) => err(e),
            })
        }
        "close" => match it.stack.close(now, h) {
            Ok(()) => {
                it.fds.remove(&fdn);
                Done(Value(0))
            }
            Err(Error::WouldBlock) if !fd.nonblocking => Blocked,
            Err(Error::WouldBlock) => Done(Errno(11)),
            Err(Error::TimedOut) => {
                // A lingering close whose time ran out: the descriptor is
                // gone either way.
                it.fds.remove(&fdn);
                Done(Errno(110))
            }
            Err(e) => Done(err(e)),
        },
        "setsockopt" => Done(setsockopt(it, call, h)?),
        "getsockopt" => Done(getsockopt(it, call, h)?),
        other => return unsupported(format!("system call {other} is not mapped by this runner")),
    })
}

fn setsockopt(
    it: &mut Interp,
    call: &Syscall,
    h: crate::stack::SocketHandle,
) -> Result<CallResult, Stop> {
    let opt = word(arg(call, 2)?);
    let val = arg(call, 3)?;
    let now = it.instant();
    let r = match opt {
        "SO_REUSEADDR" => it.stack.set_reuse_address(h, int_of(val).unwrap_or(0) != 0),
        "TCP_NODELAY" => it.stack.set_nodelay(now, h, int_of(val).unwrap_or(0) != 0),
        "SO_KEEPALIVE" => it
            .stack
            .set_keepalive(now, h, int_of(val).unwrap_or(0) != 0),
        "SO_RCVBUF" | "SO_SNDBUF" => {
            let v = int_of(val).unwrap_or(0).max(0) as usize;
            if opt == "SO_RCVBUF" {
                it.stack.set_buffer_sizes(h, None, Some(v))
            } else {
                it.stack.set_buffer_sizes(h, Some(v), None)
            }
        }
        "SO_LINGER" => {
            let Expr::Struct(fields) = val else {
                return fail("setsockopt SO_LINGER: expected {onoff=…, linger=…}".into());
            };
            let get = |n: &str| {
                fields
                    .iter()
                    .find(|(k, _)| k.as_deref() == Some(n))
                    .and_then(|(_, e)| int_of(e))
                    .unwrap_or(0)
            };
            let linger =
                (get("onoff") != 0).then(|| Duration::from_secs(get("linger").max(0) as u64));
            it.stack.set_linger(h, linger)
        }
        "IP_TOS" | "IPV6_TCLASS" => match int_of(val) {
            // -1 (IPV6_TCLASS): the default.
            Some(-1) => it.stack.set_tos(h, it.stack.config().tcp.tos),
            Some(v @ 0..=255) => it.stack.set_tos(h, v as u8),
            _ => Err(Error::InvalidInput),
        },
        "IP_TTL" | "IPV6_UNICAST_HOPS" => match int_of(val) {
            Some(-1) => it.stack.set_hop_limit(h, None),
            Some(v @ 1..=255) => it.stack.set_hop_limit(h, Some(v as u8)),
            _ => Err(Error::InvalidInput),
        },
        "TCP_NOOPT" => it.stack.set_no_options(h, int_of(val).unwrap_or(0) != 0),
        "TCP_KEEPINIT" => match int_of(val) {
            // Seconds, as in FreeBSD; 0 leaves the retry count alone.
            Some(0) => it.stack.set_keepinit(h, None),
            Some(v) if v > 0 => it
                .stack
                .set_keepinit(h, Some(Duration::from_secs(v as u64))),
            _ => Err(Error::InvalidInput),
        },
        other => return unsupported(format!("setsockopt {other}: no such option in synfin")),
    };
    Ok(match r {
        Ok(()) => CallResult::Value(0),
        Err(e) => err(e),
    })
}

fn getsockopt(
    it: &mut Interp,
    call: &Syscall,
    h: crate::stack::SocketHandle,
) -> Result<CallResult, Stop> {
    let opt = word(arg(call, 2)?);
    let want = arg(call, 3)?;
    let live: i64 = match opt {
        "SO_RCVBUF" | "SO_SNDBUF" => match it.stack.buffer_sizes(h) {
            Ok((s, r)) => (if opt == "SO_RCVBUF" { r } else { s }) as i64,
            Err(e) => return Ok(err(e)),
        },
        "SO_ERROR" => match it.stack.take_error(h) {
            Ok(Some(e)) => i64::from(e.errno()),
            Ok(None) | Err(Error::NotConnected) => 0,
            Err(e) => return Ok(err(e)),
        },
        "SO_LINGER" => {
            let l = it.stack.linger(h).map_err(|e| Stop::Fail(e.to_string()))?;
            if let Expr::Struct(fields) = want {
                for (k, e) in fields {
                    let v = match k.as_deref() {
                        Some("onoff") => i64::from(l.is_some()),
                        Some("linger") => l.map_or(0, |d| d.as_secs() as i64),
                        _ => continue,
                    };
                    if let Some(w) = int_of(e) {
                        if w != v {
                            return fail(format!(
                                "getsockopt SO_LINGER: {} expected {w}, got {v}",
                                k.as_deref().unwrap_or("")
                            ));
                        }
                    }
                }
            }
            return Ok(CallResult::Opt(0));
        }
        "TCP_KEEPIDLE" | "TCP_KEEPINTVL" | "TCP_KEEPCNT" => {
            let c = &it.stack.config().tcp;
            match opt {
                "TCP_KEEPIDLE" => c.keepalive_idle.as_secs() as i64,
                "TCP_KEEPINTVL" => c.keepalive_interval.as_secs() as i64,
                _ => i64::from(c.keepalive_probes),
            }
        }
        "IP_TOS" | "IPV6_TCLASS" => match it.stack.tos(h) {
            Ok(v) => i64::from(v),
            Err(e) => return Ok(err(e)),
        },
        "IP_TTL" | "IPV6_UNICAST_HOPS" => match it.stack.hop_limit(h) {
            Ok(v) => i64::from(v),
            Err(e) => return Ok(err(e)),
        },
        "TCP_NOOPT" => match it.stack.no_options(h) {
            Ok(v) => i64::from(v),
            Err(e) => return Ok(err(e)),
        },
        "TCP_KEEPINIT" => match it.stack.keepinit(h) {
            Ok(v) => v.map_or(0, |d| d.as_secs() as i64),
            Err(e) => return Ok(err(e)),
        },
        other => return unsupported(format!("getsockopt {other}: no such option in synfin")),
    };
    match want {
        Expr::Ellipsis => {}
        e => match int_of(e) {
            Some(w) if w == live => {}
            Some(_) => {
                return fail(format!(
                    "getsockopt {opt}: expected {}, got {}",
                    show_expr(e),
                    if opt == "SO_ERROR" && live != 0 {
                        errno_name(live as i32)
                    } else {
                        live.to_string()
                    }
                ))
            }
            None => return fail(format!("getsockopt {opt}: cannot check `{}`", show_expr(e))),
        },
    }
    Ok(CallResult::Opt(live))
}
