//! Conformance with upstream's data (read from the steering repository's `shared/`
//! folder at test time, skipped when it is absent): every real manifest loads, every
//! negative fixture is rejected at the pointer upstream reports.

use ooo_plugin::manifest::{self, ManifestError};
use std::path::{Path, PathBuf};

fn upstream() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/upstream");
    if dir.exists() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: {} is absent (conformance vectors live in the steering repository)",
            dir.display()
        );
        None
    }
}

fn manifests_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            manifests_under(&path, out);
        } else if path.file_name().is_some_and(|n| n == manifest::MANIFEST_FILE) {
            out.push(path);
        }
    }
}

#[test]
fn every_real_manifest_loads() {
    let Some(root) = upstream() else { return };
    let mut files = Vec::new();
    for sub in ["plugins", "core-fixtures", "fork-shaun0927/plugins"] {
        manifests_under(&root.join(sub), &mut files);
    }
    assert!(files.len() >= 27, "found only {} manifests", files.len());
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| manifest::load(f).err().map(|e: ManifestError| e.to_string()))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn negative_fixtures_fail_at_upstreams_pointer() {
    let Some(root) = upstream() else { return };
    let fixtures = root.join("fork-shaun0927/tests/fixtures");
    let expected = [
        ("bad-name-pattern.json", "/name"),
        ("bad-unknown-capability.json", "/capabilities/0/name"),
        ("bad-unknown-source-type.json", "/source/type"),
        ("bad-missing-required.json", ""),
        ("bad-additional-property.json", ""),
    ];
    for (file, pointer) in expected {
        let err = manifest::load(&fixtures.join(file)).expect_err(file);
        assert_eq!(err.pointer.as_deref(), Some(pointer), "{file}: {err}");
    }
    let mut all = Vec::new();
    for e in std::fs::read_dir(&fixtures).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if name.starts_with("bad-") {
            all.push(name);
        }
    }
    assert_eq!(all.len(), expected.len(), "a new negative fixture appeared: {all:?}");
}

#[test]
fn variant_without_source_fails_at_root() {
    let Some(root) = upstream() else { return };
    // An older version of the reference plugin's manifest, from before `source` existed.
    let mut files = Vec::new();
    manifests_under(&root.join("variants/badafdf"), &mut files);
    assert_eq!(files.len(), 1);
    let err = manifest::load(&files[0]).unwrap_err();
    assert_eq!(err.pointer.as_deref(), Some(""), "{err}");
    assert!(err.message.contains("source"), "{err}");
    // The other variants are current manifests and load.
    let mut others = Vec::new();
    for v in ["variants/bf61200", "variants/f27854a"] {
        manifests_under(&root.join(v), &mut others);
    }
    for f in &others {
        manifest::load(f).unwrap_or_else(|e| panic!("{e}"));
    }
}
