//! The packetdrill script parser on arbitrary text: an error, never a panic.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = synfin::conformance::parser::parse(s, &HashSet::new());
    }
});
