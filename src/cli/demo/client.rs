//! The clients' side of the scenario: transactions, then steps (1) and
//! (6)–(8).

use synfin::stack::{Error, NetEvents};

use super::super::ladder::Side;
use super::{decode_total, encode_total, ClientPhase, Demo};

impl Demo {
    fn fail_client(&mut self, i: usize, msg: String) {
        let name = self.clients[i].name.clone();
        self.app(Side::Client, format!("{name}: {msg}"));
        self.errors.push(format!("{name}: {msg}"));
        self.clients[i].phase = ClientPhase::Failed;
        let (now, h) = (self.h.net.now(), self.clients[i].h);
        let _ = self.cli().close(now, h);
    }

    fn send_next(&mut self, i: usize) {
        let c = &self.clients[i];
        let (n, amount, h) = (c.sent, c.amounts[c.sent], c.h);
        let msg = super::super::transactions::request(n + 1, amount);
        let now = self.h.net.now();
        match self.cli().send_message(now, h, msg.as_bytes()) {
            Ok(()) => {
                self.clients[i].sent += 1;
                let name = self.clients[i].name.clone();
                self.app(Side::Client, format!("{name}: send_message(\"{msg}\")"));
            }
            Err(Error::WouldBlock) => {}
            Err(e) => self.fail_client(i, format!("send_message: {e}")),
        }
    }

    pub(super) fn client_step(&mut self, i: usize) {
        let (h, phase) = (self.clients[i].h, self.clients[i].phase);
        if matches!(phase, ClientPhase::Closed | ClientPhase::Failed) {
            return;
        }
        let name = self.clients[i].name.clone();
        let ev = match self.cli().take_network_events(h) {
            Ok(ev) => ev,
            Err(e) => return self.fail_client(i, format!("events: {e}")),
        };
        if phase == ClientPhase::Connecting && ev.events.contains(NetEvents::CONNECT) {
            if let Some(e) = ev.error(NetEvents::CONNECT) {
                return self.fail_client(i, format!("connect failed: {e}"));
            }
            let mm = self.cli().is_message_mode(h).unwrap_or(false);
            self.clients[i].message_mode = mm;
            self.app(
                Side::Client,
                format!("{name}: CONNECT event (message mode: {mm})"),
            );
            self.clients[i].phase = ClientPhase::Transacting;
            self.send_next(i);
        }
        if self.clients[i].phase == ClientPhase::Transacting {
            let now = self.h.net.now();
            let mut buf = [0u8; 256];
            loop {
                match self.cli().recv_message(now, h, &mut buf) {
                    Ok(n) => {
                        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                        self.app(Side::Client, format!("{name}: recv_message → \"{text}\""));
                        self.clients[i].acked += 1;
                    }
                    Err(Error::WouldBlock) => break,
                    Err(e) => return self.fail_client(i, format!("recv_message: {e}")),
                }
            }
            let c = &self.clients[i];
            if c.acked == c.sent && c.sent < c.amounts.len() {
                self.send_next(i);
            } else if c.acked == c.amounts.len() {
                // (1)
                let total = c.total();
                match self.cli().send_disconnect(now, h, &encode_total(total)) {
                    Ok(()) => {
                        self.app(
                            Side::Client,
                            format!("{name}: (1) send_disconnect(total {total})"),
                        );
                        self.clients[i].phase = ClientPhase::Disconnecting;
                    }
                    Err(e) => return self.fail_client(i, format!("send_disconnect: {e}")),
                }
            }
        }
        if self.clients[i].phase == ClientPhase::Disconnecting
            && ev.events.contains(NetEvents::CLOSE)
        {
            if let Some(e) = ev.error(NetEvents::CLOSE) {
                return self.fail_client(i, format!("CLOSE event with {e}"));
            }
            // (6)
            let n = self.step_no();
            self.clients[i].steps.push(("6", n));
            self.app(Side::Client, format!("{name}: (6) CLOSE event"));
            // (7)
            let grand = match self.cli().recv_disconnect(h) {
                Ok(d) => decode_total(&d),
                Err(e) => return self.fail_client(i, format!("recv_disconnect: {e}")),
            };
            let Some(grand) = grand else {
                return self.fail_client(i, "disconnect data is not a total".into());
            };
            let n = self.step_no();
            self.clients[i].steps.push(("7", n));
            self.clients[i].received_grand_total = Some(grand);
            self.app(
                Side::Client,
                format!("{name}: (7) recv_disconnect → grand total {grand}"),
            );
            // (8)
            let now = self.h.net.now();
            match self.cli().close(now, h) {
                Ok(()) => {
                    let n = self.step_no();
                    self.clients[i].steps.push(("8", n));
                    self.app(Side::Client, format!("{name}: (8) close()"));
                    self.clients[i].phase = ClientPhase::Closed;
                }
                Err(e) => self.fail_client(i, format!("close: {e}")),
            }
        }
    }
}
