//! The scenario's checks, the rendered ladder and the JSON summary.

use super::super::ladder;
use super::super::twohost::{self, check, Footer};
use super::{Client, ClientSummary, Demo, Summary, CLIENT, SERVER};
use crate::cli::DemoArgs;

impl Demo {
    pub(super) fn finish(mut self, args: &DemoArgs) -> (Summary, String) {
        let sum: u64 = self.clients.iter().map(Client::total).sum();
        let mut prefix = Vec::new();
        let mut acc = 0;
        for &i in &self.order {
            acc += self.clients[i].total();
            prefix.push((i, acc));
        }
        let step_order = |steps: &[(&str, u64)], want: &[&str]| {
            let got: Vec<&str> = steps.iter().map(|s| s.0).collect();
            got == want && steps.windows(2).all(|w| w[0].1 < w[1].1)
        };
        let conn_for = |i: usize| self.conns.iter().find(|c| c.client == Some(i));
        let tables_empty = self.h.tables_empty();
        let n = self.clients.len();
        let mut checks = vec![
            check(
                &format!("all {n} clients connected and were accepted in message mode"),
                self.clients.iter().all(|c| c.message_mode)
                    && self.conns.len() == n
                    && self.conns.iter().all(|c| c.message_mode),
            ),
            check(
                "every transaction was answered, and the server's tally matches",
                self.clients.iter().enumerate().all(|(i, c)| {
                    c.acked == c.amounts.len()
                        && conn_for(i).is_some_and(|s| {
                            s.transactions == c.amounts.len() && s.tally == c.total()
                        })
                }),
            ),
            check(
                "(3) the server received each client's total intact",
                self.clients
                    .iter()
                    .enumerate()
                    .all(|(i, c)| conn_for(i).and_then(|s| s.received_total) == Some(c.total())),
            ),
            check(
                &format!("(4) the server's grand total is the sum of all totals ({sum})"),
                self.grand_total == sum && self.order.len() == n,
            ),
            check(
                "(7) each client's grand total includes its own and all earlier ones",
                prefix.len() == n
                    && prefix
                        .iter()
                        .all(|&(i, g)| self.clients[i].received_grand_total == Some(g)),
            ),
            check(
                "(2)→(3)→(4)→(5)→(5') in order on every server connection",
                self.conns
                    .iter()
                    .all(|c| step_order(&c.steps, &["2", "3", "4", "5", "5'"])),
            ),
            check(
                "(6)→(7)→(8) in order on every client",
                self.clients
                    .iter()
                    .all(|c| step_order(&c.steps, &["6", "7", "8"])),
            ),
            check(
                "every socket closed; both socket tables and TIME-WAIT empty at the end",
                tables_empty,
            ),
        ];
        checks.push(check("no errors", self.errors.is_empty()));
        let ok = checks.iter().all(|c| c.ok);
        let stats = self.h.net.stats();
        let names = self.names();
        let rows = ladder::rows_named(&mut self.h.items, &names);
        let ladder_text = ladder::render(
            &rows,
            &format!("{n} clients {CLIENT}"),
            &format!("server {SERVER}"),
        );
        let mut lines: Vec<String> = self
            .clients
            .iter()
            .map(|c| {
                format!(
                    "{}: {} transactions, total {}, grand total received {}",
                    c.name,
                    c.amounts.len(),
                    c.total(),
                    c.received_grand_total
                        .map_or_else(|| "none".to_string(), |g| g.to_string())
                )
            })
            .collect();
        lines.push(format!("server grand total {}", self.grand_total));
        let text = self.h.report(
            ladder_text,
            &rows,
            &Footer {
                seed: args.seed,
                loss: args.loss,
                lines: &lines,
                checks: &checks,
                errors: &self.errors,
            },
        );
        let summary = Summary {
            ok,
            seed: args.seed,
            loss: args.loss,
            duplicate: args.duplicate,
            reorder: args.reorder,
            delay_ms: args.delay_ms,
            virtual_seconds: self.h.virtual_seconds(),
            server: SERVER.to_string(),
            clients: self
                .clients
                .iter()
                .map(|c| ClientSummary {
                    name: c.name.clone(),
                    local: c.local.map(|a| a.to_string()),
                    transactions: c.amounts.len(),
                    sent_total: c.total(),
                    received_grand_total: c.received_grand_total,
                })
                .collect(),
            server_grand_total: self.grand_total,
            server_order: self
                .order
                .iter()
                .map(|&i| self.clients[i].name.clone())
                .collect(),
            packets_sent: stats.sent,
            packets_lost: stats.lost,
            retransmissions: twohost::retransmissions(&rows),
            checks,
            ladder: rows,
        };
        (summary, text)
    }
}
