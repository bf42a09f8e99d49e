//! Any argv (NUL-separated words) through redaction: never panics, keeps one word per
//! word, and is idempotent (redacting the result changes nothing more).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let argv: Vec<String> = text.split('\0').map(str::to_owned).collect();
    let red = ooo_core::safety::redaction::redact(&argv);
    assert_eq!(red.argv.len(), argv.len());
    // Redacting again changes nothing more.
    let again = ooo_core::safety::redaction::redact(&red.argv);
    assert_eq!(again.argv, red.argv);
});
