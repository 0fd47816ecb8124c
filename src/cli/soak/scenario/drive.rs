//! The scenario run step by step: set-up, the data phase, the close, the
//! faults on the link, until both ends are done.

use std::time::Duration;

use synfin::links::{HostId, Network};
use synfin::stack::{SocketHandle, Stack};
use synfin::time::Instant;

use super::end::{act, describe, pattern, End};
use super::verify::{first_diff, verify};
use super::{config, memory_bound, CloseMode, DataMode, Outcome, Scenario, Who};

const CLIENT_IP: &str = "198.18.0.1";
const SERVER: &str = "198.18.0.2:80";

pub(super) fn drive(
    sc: &Scenario,
    net: &mut Network<Stack>,
    outcome: &mut Outcome,
) -> Result<(), String> {
    let cfg = config();
    let server_addr: std::net::SocketAddr = SERVER.parse().expect("constant address");
    let mut c = Stack::new(cfg.clone(), sc.seed ^ 0xc1);
    c.add_address(CLIENT_IP.parse().expect("constant address"));
    let mut s = Stack::new(cfg.clone(), sc.seed ^ 0x5e);
    s.add_address(server_addr.ip());
    let ch = net.add_host(&[CLIENT_IP.parse().expect("constant address")], c);
    let sh = net.add_host(&[server_addr.ip()], s);
    net.link(ch, sh, sc.link());
    let messages = sc.mode == DataMode::Messages;
    let listener = if messages {
        net.host_mut(sh).listen_message(server_addr, 16)
    } else {
        net.host_mut(sh).listen(server_addr, 16)
    }
    .map_err(|e| format!("listen: {e}"))?;
    let c2s = pattern(sc.client_to_server, sc.seed ^ 1);
    let s2c = pattern(sc.server_to_client, sc.seed ^ 2);
    let mut cl = End::new(c2s.clone(), sc.who == Who::Client);
    let mut sv = End::new(s2c.clone(), sc.who == Who::Server);
    if messages {
        let max = cfg.max_message_size;
        cl = cl.messages(max, sc.seed ^ 3, pattern(sc.disconnect.0, sc.seed ^ 5));
        sv = sv.messages(max, sc.seed ^ 4, pattern(sc.disconnect.1, sc.seed ^ 6));
    }
    let (c2s_msgs, s2c_msgs) = (cl.msgs.clone(), sv.msgs.clone());
    let now = net.now();
    let h = if messages {
        net.host_mut(ch).connect_message(now, server_addr)
    } else {
        net.host_mut(ch).connect(now, server_addr)
    }
    .map_err(|e| format!("connect: {e}"))?;
    cl.h = Some(h);
    if sc.close == CloseMode::Linger && sc.who == Who::Client {
        set_linger(net.host_mut(ch), h, sc.linger_s)?;
    }
    let mut partition = sc.faults.partition_ms.map(|(at, len)| {
        (
            Instant::from_millis(at),
            Instant::from_millis(at + len),
            false,
        )
    });
    let limit = Instant::from_secs(4 * 3600);
    let bound = memory_bound(&cfg);
    let mut steps: u64 = 0;
    let mut listener_open = true;
    loop {
        let now = net.now();
        if sv.h.is_none() {
            if let Ok((h, _)) = net.host_mut(sh).accept(listener) {
                sv.h = Some(h);
                if sc.close == CloseMode::Linger && sc.who == Who::Server {
                    set_linger(net.host_mut(sh), h, sc.linger_s)?;
                }
            }
        }
        if sv.h.is_some() && listener_open {
            // The listener is done once its one connection is accepted.
            net.host_mut(sh)
                .close(now, listener)
                .map_err(|e| format!("close listener: {e}"))?;
            listener_open = false;
        }
        // The applications know when both ends exist (a protocol would
        // have told them): an abort before the server accepted would leave
        // it nothing to observe.
        let both = cl.h.is_some() && sv.h.is_some();
        act(sc, &mut cl, net.host_mut(ch), now, both);
        act(sc, &mut sv, net.host_mut(sh), now, both);
        // No byte altered, duplicated or invented, at every step.
        check!(
            s2c.starts_with(&cl.got),
            "client received bytes the server never sent (at {} of {})",
            first_diff(&cl.got, &s2c),
            cl.got.len()
        );
        check!(
            c2s.starts_with(&sv.got),
            "server received bytes the client never sent (at {} of {})",
            first_diff(&sv.got, &c2s),
            sv.got.len()
        );
        // Message mode: whole messages, each once and in order — the sizes
        // received are a prefix of the sizes sent (the bytes, above).
        check!(
            s2c_msgs.starts_with(&cl.got_msgs),
            "client received messages of sizes {:?}…, not a prefix of {:?}…",
            &cl.got_msgs[..cl.got_msgs.len().min(8)],
            &s2c_msgs[..s2c_msgs.len().min(8)]
        );
        check!(
            c2s_msgs.starts_with(&sv.got_msgs),
            "server received messages of sizes {:?}…, not a prefix of {:?}…",
            &sv.got_msgs[..sv.got_msgs.len().min(8)],
            &c2s_msgs[..c2s_msgs.len().min(8)]
        );
        check!(
            !cl.eof || cl.got_all(&s2c, &s2c_msgs),
            "client end-of-stream before all data"
        );
        check!(
            !sv.eof || sv.got_all(&c2s, &c2s_msgs),
            "server end-of-stream before all data"
        );
        steps += 1;
        if steps % 64 == 0 {
            for (name, id) in [("client", ch), ("server", sh)] {
                let m = net.host(id).memory_usage().total();
                outcome.peak_memory = outcome.peak_memory.max(m);
                check!(
                    m <= bound,
                    "{name} holds {m} B, over the bound of {bound} B"
                );
            }
        }
        if cl.closed && sv.closed {
            break;
        }
        check!(
            net.now() < limit,
            "not finished after {limit}: client {}, server {}",
            describe(&cl, net.host(ch)),
            describe(&sv, net.host(sh))
        );
        if let Some((down_at, up_at, down)) = partition.as_mut() {
            let next = net.next_event_time();
            let change = if *down { *up_at } else { *down_at };
            if next.is_none_or(|t| t >= change) {
                net.run_until(change);
                set_up(net, ch, sh, *down);
                if *down {
                    partition = None;
                } else {
                    *down = true;
                }
                continue;
            }
        }
        if !net.step() {
            return Err(format!(
                "stalled at {}: no events left; client {}, server {}",
                net.now(),
                describe(&cl, net.host(ch)),
                describe(&sv, net.host(sh))
            ));
        }
    }
    if let Some((_, up_at, down)) = partition {
        // Heal a partition the connection outlived.
        if down {
            net.run_until(up_at);
        }
        set_up(net, ch, sh, true);
    }
    verify(sc, &cl, &sv, (&c2s, &c2s_msgs), (&s2c, &s2c_msgs), outcome)?;
    // Everything winds down: TIME-WAIT, orphans, retransmitted FINs.
    let end = net.now() + Duration::from_secs(3600);
    net.run_until_cond(end, |n| {
        [ch, sh].iter().all(|&id| {
            let st = n.host(id);
            st.socket_count() == 0 && st.time_wait_count() == 0
        })
    });
    for (name, id) in [("client", ch), ("server", sh)] {
        let st = net.host(id);
        let m = st.memory_usage();
        check!(
            st.socket_count() == 0
                && st.connection_count() == 0
                && st.time_wait_count() == 0
                && m.connections == 0
                && m.buffers == 0,
            "{name}'s tables not empty an hour after both closed: {} sockets, {} connections, {} TIME-WAIT, {m:?}",
            st.socket_count(),
            st.connection_count(),
            st.time_wait_count()
        );
    }
    Ok(())
}

pub(super) fn set_linger(st: &mut Stack, h: SocketHandle, secs: u64) -> Result<(), String> {
    st.set_linger(h, Some(Duration::from_secs(secs)))
        .map_err(|e| format!("set_linger: {e}"))
}

pub(super) fn set_up(net: &mut Network<Stack>, a: HostId, b: HostId, up: bool) {
    for (x, y) in [(a, b), (b, a)] {
        if let Some(m) = net.model_mut(x, y) {
            *m = m.clone().up(up);
        }
    }
}
