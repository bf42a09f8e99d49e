//! Any bytes as a plugin manifest: the loader accepts or names a pointer, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ooo_plugin::manifest::parse(data, std::path::Path::new("fuzz/ouroboros.plugin.json"));
});
