//! The server's side of the scenario: answering transactions, then steps
//! (2)–(5').

use synfin::stack::{Error, NetEvents, SocketHandle};

use super::super::ladder::Side;
use super::super::transactions;
use super::{decode_total, encode_total, Demo, ServerConn};

impl Demo {
    pub(super) fn server_step(&mut self, listener: SocketHandle) {
        let _ = self.srv().take_network_events(listener);
        while let Ok((h, peer)) = self.srv().accept(listener) {
            let client = self
                .clients
                .iter()
                .position(|c| c.local.is_some_and(|l| l.port() == peer.port()));
            let who = client.map_or("?".to_string(), |i| self.clients[i].name.clone());
            let mm = self.srv().is_message_mode(h).unwrap_or(false);
            self.app(
                Side::Server,
                format!("accept() → {who} {peer} (message mode: {mm})"),
            );
            self.conns.push(ServerConn {
                h,
                client,
                tally: 0,
                transactions: 0,
                message_mode: mm,
                received_total: None,
                done: false,
                steps: Vec::new(),
            });
        }
        for k in 0..self.conns.len() {
            if !self.conns[k].done {
                self.serve(k);
            }
        }
    }

    fn who(&self, k: usize) -> String {
        self.conns[k]
            .client
            .map_or("?".to_string(), |i| self.clients[i].name.clone())
    }

    fn fail_server(&mut self, k: usize, msg: String) {
        let who = self.who(k);
        self.app(Side::Server, format!("{who}: {msg}"));
        self.errors.push(format!("server, {who}: {msg}"));
        self.conns[k].done = true;
        let (now, h) = (self.h.net.now(), self.conns[k].h);
        let _ = self.srv().close(now, h);
    }

    fn serve(&mut self, k: usize) {
        let h = self.conns[k].h;
        let who = self.who(k);
        let now = self.h.net.now();
        let mut indication = None;
        let mut buf = [0u8; 256];
        loop {
            match self.srv().recv_message(now, h, &mut buf) {
                Ok(n) => {
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let amount = transactions::parse_request(&text).map(|(_, a)| a);
                    let Some(amount) = amount else {
                        return self.fail_server(k, format!("bad transaction \"{text}\""));
                    };
                    self.conns[k].tally += amount;
                    self.conns[k].transactions += 1;
                    let reply = transactions::reply(self.conns[k].tally);
                    if let Err(e) = self.srv().send_message(now, h, reply.as_bytes()) {
                        return self.fail_server(k, format!("send_message: {e}"));
                    }
                    self.app(
                        Side::Server,
                        format!("{who}: recv_message(\"{text}\") → reply \"{reply}\""),
                    );
                }
                Err(Error::WouldBlock) => break,
                Err(Error::Disconnected) => {
                    indication = Some("a receive reported Disconnected");
                    break;
                }
                Err(e) => return self.fail_server(k, format!("recv_message: {e}")),
            }
        }
        let ev = match self.srv().take_network_events(h) {
            Ok(ev) => ev,
            Err(e) => return self.fail_server(k, format!("events: {e}")),
        };
        if ev.events.contains(NetEvents::CLOSE) {
            if let Some(e) = ev.error(NetEvents::CLOSE) {
                return self.fail_server(k, format!("CLOSE event with {e}"));
            }
            indication = Some(match indication {
                Some(_) => "CLOSE event (and a receive reported Disconnected)",
                None => "CLOSE event",
            });
        }
        let Some(how) = indication else {
            return;
        };
        // (2)
        let n = self.step_no();
        self.conns[k].steps.push(("2", n));
        self.app(Side::Server, format!("{who}: (2) {how}"));
        // (3)
        let total = match self.srv().recv_disconnect(h) {
            Ok(d) => decode_total(&d),
            Err(e) => return self.fail_server(k, format!("recv_disconnect: {e}")),
        };
        let Some(total) = total else {
            return self.fail_server(k, "disconnect data is not a total".into());
        };
        let n = self.step_no();
        self.conns[k].steps.push(("3", n));
        self.conns[k].received_total = Some(total);
        self.app(
            Side::Server,
            format!("{who}: (3) recv_disconnect → total {total}"),
        );
        // (4)
        self.grand_total += total;
        if let Some(i) = self.conns[k].client {
            self.order.push(i);
        }
        let n = self.step_no();
        self.conns[k].steps.push(("4", n));
        let g = self.grand_total;
        self.app(
            Side::Server,
            format!("{who}: (4) grand total += {total} → {g}"),
        );
        // (5)
        let now = self.h.net.now();
        if let Err(e) = self.srv().send_disconnect(now, h, &encode_total(g)) {
            return self.fail_server(k, format!("send_disconnect: {e}"));
        }
        let n = self.step_no();
        self.conns[k].steps.push(("5", n));
        self.app(
            Side::Server,
            format!("{who}: (5) send_disconnect(grand total {g})"),
        );
        // (5')
        if let Err(e) = self.srv().close(now, h) {
            return self.fail_server(k, format!("close: {e}"));
        }
        let n = self.step_no();
        self.conns[k].steps.push(("5'", n));
        self.app(Side::Server, format!("{who}: (5') close()"));
        self.conns[k].done = true;
    }
}
