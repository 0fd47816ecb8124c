//! One TCP connection as a sans-IO state machine.
