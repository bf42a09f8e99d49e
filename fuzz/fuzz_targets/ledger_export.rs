//! Any bytes, read as a ledger export: verification must report, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ooo_core::ledger::export::verify(data);
});
