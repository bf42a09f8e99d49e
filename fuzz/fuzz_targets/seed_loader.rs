//! Any bytes, read as a YAML or JSON seed: the loader must answer valid or invalid,
//! never panic, and a valid seed must survive its own YAML rendering unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ooo_core::seed::raw::Format;
use ooo_core::seed::{MetadataDefaults, content_hash, load_str, to_yaml};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let defaults =
        MetadataDefaults { seed_id: "seed_fuzz".into(), created_at: "2026-01-01T00:00:00Z".into() };
    for format in [Format::Yaml, Format::Json] {
        if let Ok(valid) = load_str(text, format, &defaults) {
            let again = load_str(&to_yaml(&valid.seed), Format::Yaml, &defaults)
                .expect("rendered seed reloads");
            assert_eq!(content_hash(&again.seed), content_hash(&valid.seed));
        }
    }
});
