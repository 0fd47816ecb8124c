//! The transaction-total protocol that `synfin demo` runs in the simulator
//! and `synfin serve/connect --mode transactions` run on real links
//! (docs/INTEROP.md, "Transactions"): the words on the wire, in one place.
//!
//! A client sends `TXN <n> <amount>` (n counts from 1); the server adds the
//! amount to the connection's tally and answers `OK <tally>`. At the end the
//! client hands over its total and the server answers with the grand total
//! of every client it has taken a total from, this one included. In message
//! mode the totals are disconnect data, 8-byte big-endian integers; on a
//! byte stream every message is a line ending in `\n`, and the totals are
//! the lines `TOTAL <t>` and `GRAND <g>`, each followed by the FIN.

use rand::{Rng, SeedableRng};

/// Transaction amounts, 1 to 999 each, drawn from a seed, so that a run
/// (the demo's clients, or `synfin connect --seed`) replays exactly.
pub struct Amounts(rand::rngs::ChaCha8Rng);

impl Amounts {
    pub fn new(seed: u64) -> Self {
        Amounts(rand::rngs::ChaCha8Rng::seed_from_u64(seed ^ 0x7a11))
    }

    /// The next `n` amounts.
    pub fn take(&mut self, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| 1 + u64::from(self.0.next_u32() % 999))
            .collect()
    }
}

/// The request for transaction `n` (from 1) of `amount`.
pub fn request(n: usize, amount: u64) -> String {
    format!("TXN {n} {amount}")
}

/// `(n, amount)` of a request, or `None` if `text` is not one.
pub fn parse_request(text: &str) -> Option<(usize, u64)> {
    let mut it = text.strip_prefix("TXN ")?.split(' ');
    let n = it.next()?.parse().ok()?;
    let amount = it.next()?.parse().ok()?;
    it.next().is_none().then_some((n, amount))
}

/// The answer carrying the connection's running `tally`.
pub fn reply(tally: u64) -> String {
    format!("OK {tally}")
}

/// The tally of an answer, or `None` if `text` is not one.
pub fn parse_reply(text: &str) -> Option<u64> {
    text.strip_prefix("OK ")?.parse().ok()
}

/// A total as disconnect data (message mode).
pub fn encode_total(v: u64) -> [u8; 8] {
    v.to_be_bytes()
}

/// A total from disconnect data, or `None` if it is not 8 bytes.
pub fn decode_total(b: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(b.try_into().ok()?))
}

/// The client's total as a line (byte-stream mode, without the `\n`).
pub fn total_line(v: u64) -> String {
    format!("TOTAL {v}")
}

/// The server's grand total as a line (byte-stream mode).
pub fn grand_line(v: u64) -> String {
    format!("GRAND {v}")
}

/// The value of a `TOTAL` line.
pub fn parse_total_line(text: &str) -> Option<u64> {
    text.strip_prefix("TOTAL ")?.parse().ok()
}

/// The value of a `GRAND` line.
pub fn parse_grand_line(text: &str) -> Option<u64> {
    text.strip_prefix("GRAND ")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        assert_eq!(request(3, 863), "TXN 3 863");
        assert_eq!(parse_request("TXN 3 863"), Some((3, 863)));
        assert_eq!(parse_request("TXN 3"), None);
        assert_eq!(parse_request("TXN 3 863 1"), None);
        assert_eq!(parse_request("OK 3"), None);
        assert_eq!(parse_reply(&reply(1391)), Some(1391));
        assert_eq!(parse_reply("OK x"), None);
        assert_eq!(decode_total(&encode_total(2070)), Some(2070));
        assert_eq!(decode_total(&[1, 2, 3]), None);
        assert_eq!(parse_total_line(&total_line(5)), Some(5));
        assert_eq!(parse_grand_line(&grand_line(9)), Some(9));
        assert_eq!(parse_grand_line("TOTAL 9"), None);
    }
}
