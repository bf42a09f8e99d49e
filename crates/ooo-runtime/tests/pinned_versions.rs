//! The CLI versions ooo is tested with are named in four places: each adapter's
//! `tested_package`, its install hint, `.ci/run` (what CI installs) and the README. This
//! keeps them one fact.

use ooo_runtime::cli::discover::parse_version;
use ooo_runtime::registry::{CLI_NAMES, cli_adapter};

fn repo_file(path: &str) -> String {
    let full = concat!(env!("CARGO_MANIFEST_DIR"), "/../../").to_owned() + path;
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

#[test]
fn every_place_names_the_same_tested_versions() {
    let ci = repo_file(".ci/run");
    let readme = repo_file("README.md");
    for name in CLI_NAMES {
        let adapter = cli_adapter(name).unwrap();
        let package = adapter.tested_package();
        let (_, version) = package.rsplit_once('@').unwrap();
        assert!(adapter.install_hint().contains(package), "{name}: install hint");
        assert!(ci.contains(package), "{name}: .ci/run does not install {package}");
        assert!(readme.contains(&format!("`{package}`")), "{name}: README does not name {package}");
        let (min, tested) = (parse_version(adapter.min_version()), parse_version(version));
        assert!(min.is_some() && min <= tested, "{name}: minimum {min:?} above tested {tested:?}");
    }
}
