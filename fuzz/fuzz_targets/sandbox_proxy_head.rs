//! The sandbox proxy's request-head parser and host rules: what a sandboxed process and
//! a plugin manifest control. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ooo_sandbox::proxy::parse_head(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(rule) = ooo_sandbox::HostRule::parse(text) {
            let _ = rule.allows(&rule.host, rule.port.unwrap_or(443));
        }
    }
});
