//! The cap on orphaned connections: sockets the application closed whose
//! connection still finishes in the background — FIN-WAIT-1, FIN-WAIT-2,
//! CLOSING, LAST-ACK (Linux's `tcp_max_orphans`).
//!
//! Time already bounds each orphan (the FIN-WAIT-2 timeout, retransmission
//! and window-probe limits, the user timeout); the cap bounds their number,
//! so a peer that never acknowledges a FIN (or keeps a zero window) cannot
//! make a busy server hold unbounded state for connections nobody owns.
//!
//! At the cap the connection being orphaned is reset — the new orphan, not
//! the oldest — as Linux does: `tcp_close()` calls `tcp_check_oom()` and,
//! when `tcp_too_many_orphans()`, moves the socket straight to CLOSE and
//! sends an active reset (counted as `TCPAbortOnMemory`; ip-sysctl.rst:
//! "If this number is exceeded orphaned connections are reset immediately").
//! Why the new one: it is decided in O(1) at the close that would exceed the
//! cap, with no list of orphans to keep in order; the oldest orphans are the
//! ones closest to finishing on their own (a FIN-WAIT-2 one has at most its
//! timeout left), while the new one may still have its whole send queue and
//! FIN to deliver; and an attacker who piles up orphans (say, by never
//! acknowledging FINs) cannot use the cap to tear down connections that
//! were closed cleanly before the attack. The peer learns of it by the RST;
//! the application, having closed, cannot.

use super::socket::SocketKind;
use super::{SocketHandle, Stack};
use crate::tcp::State;

impl Stack {
    /// Orphaned connections the stack holds now (see the module docs),
    /// including, until its RST has gone out, one just reset or aborted.
    pub fn orphan_count(&self) -> usize {
        self.sockets.orphans()
    }

    /// Called right after `h` became an orphan: past the cap
    /// ([`super::StackConfig::max_orphans`]), reset it (RST with
    /// SEQ=SND.NXT, RFC 9293 §3.10.5) and count it in
    /// [`super::StackStats::orphans_reset`]. Inline down to the count's
    /// test (every graceful close asks; almost none is past the cap).
    #[inline]
    pub(super) fn enforce_orphan_cap(&mut self, h: SocketHandle) {
        let orphans = self.sockets.orphans();
        if orphans > self.config.max_orphans {
            self.reset_orphan_over_cap(h, orphans);
        }
    }

    /// [`Stack::enforce_orphan_cap`] past the cap, with `orphans` orphans.
    #[cold]
    #[inline(never)]
    fn reset_orphan_over_cap(&mut self, h: SocketHandle, orphans: usize) {
        let Some(SocketKind::Conn(c)) = self.sockets.get_mut(h).map(|s| &mut s.kind) else {
            return;
        };
        if !matches!(
            c.conn.state(),
            State::FinWait1 | State::FinWait2 | State::Closing | State::LastAck
        ) {
            // Already over (CLOSED, TIME-WAIT): it leaves at the next touch.
            return;
        }
        self.stats.orphans_reset += 1;
        // Logged at the first reset and then at each power of two, so a
        // stack held at its cap does not log per close; every reset is
        // counted in `StackStats::orphans_reset`.
        if self.stats.orphans_reset.is_power_of_two() {
            tracing::warn!(
                local = %c.conn.local(),
                remote = %c.conn.remote(),
                orphans,
                resets = self.stats.orphans_reset,
                "too many orphaned connections; resetting the new one"
            );
        }
        c.conn.abort();
    }
}
