//! Any text as `plugins.lock`: the reader accepts or reports, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ooo_plugin::lockfile::parse(text, std::path::Path::new("fuzz/plugins.lock"));
    }
});
