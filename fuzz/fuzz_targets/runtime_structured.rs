//! Any text as a model's answer: `ooo_runtime::structured::extract_json` finds a JSON
//! value or none, and never panics; text that is JSON as a whole is that value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ooo_runtime::structured::extract_json;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let found = extract_json(&text);
    if let Ok(whole) = serde_json::from_str::<serde_json::Value>(text.trim()) {
        assert_eq!(found, Some(whole));
    }
});
