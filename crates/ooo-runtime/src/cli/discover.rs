//! Finding a CLI's executable and reading its version. What does not live here: running
//! tasks (the driver) or deciding which runtime is the default (the registry).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ooo_core::runtime::{RunLimits, RuntimeError, RuntimeErrorKind};

use super::{CliAdapter, CliSettings};
use crate::env::EnvMap;
use crate::process::{DirectLauncher, NextLine, ProcessSpec, spawn};

/// The executable for `adapter`: the configured path, else its name on the caller's
/// `PATH`.
pub fn resolve_binary(
    adapter: &dyn CliAdapter,
    settings: &CliSettings,
    caller: &EnvMap,
) -> Result<PathBuf, RuntimeError> {
    let name = adapter.name();
    if let Some(path) = &settings.path {
        return if is_executable(path) {
            Ok(path.clone())
        } else {
            Err(RuntimeError::new(
                RuntimeErrorKind::NotInstalled,
                name,
                format!("the configured path {} is not an executable file", path.display()),
                format!("fix [runtime.{name}] path in config.toml, or {}", adapter.install_hint()),
            ))
        };
    }
    find_on_path(name, caller.get("PATH").map(String::as_str).unwrap_or("")).ok_or_else(|| {
        RuntimeError::new(
            RuntimeErrorKind::NotInstalled,
            name,
            format!("`{name}` is not on PATH"),
            adapter.install_hint(),
        )
    })
}

/// The first executable called `name` in the `:`-separated `path`.
pub fn find_on_path(name: &str, path: &str) -> Option<PathBuf> {
    path.split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first `x.y.z` in `text` (CLIs print `2.1.332 (Claude Code)`, `codex-cli 0.171.0`).
pub fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.')).find_map(|word| {
        let mut parts = word.split('.');
        let v =
            (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
        Some(v)
    })
}

/// Run `binary --version` (stdin `/dev/null`, environment `env`, at most `timeout`,
/// through the same process handling as a run: its own group, ended with everything it
/// started) and return the first line it printed.
pub fn read_version(
    adapter: &dyn CliAdapter,
    binary: &Path,
    env: &EnvMap,
    timeout: Duration,
) -> Result<String, RuntimeError> {
    let name = adapter.name();
    let spec = ProcessSpec {
        program: binary.to_owned(),
        args: adapter.version_args().iter().map(Into::into).collect(),
        env: env.clone(),
        cwd: std::env::temp_dir(),
    };
    let limits = RunLimits { idle: timeout, wall_clock: timeout };
    let mut process = spawn(&DirectLauncher, &spec, limits).map_err(|e| {
        RuntimeError::new(
            RuntimeErrorKind::Io,
            name,
            format!("could not run {} --version: {e}", binary.display()),
            adapter.install_hint(),
        )
    })?;
    let mut first = None;
    loop {
        match process.next_line() {
            NextLine::Line(line) => {
                first.get_or_insert(line);
            }
            NextLine::Eof => break,
            _ => {
                return Err(RuntimeError::new(
                    RuntimeErrorKind::Io,
                    name,
                    format!("{} --version did not answer within {timeout:?}", binary.display()),
                    adapter.install_hint(),
                ));
            }
        }
    }
    process.wait_exit();
    Ok(first.unwrap_or_default().trim().to_owned())
}

/// Refuse a version older than the adapter's minimum.
pub fn check_version(adapter: &dyn CliAdapter, version_text: &str) -> Result<(), RuntimeError> {
    let name = adapter.name();
    let (Some(have), Some(need)) =
        (parse_version(version_text), parse_version(adapter.min_version()))
    else {
        return Ok(());
    };
    if have < need {
        return Err(RuntimeError::new(
            RuntimeErrorKind::VersionTooOld,
            name,
            format!(
                "{name} {}.{}.{} is older than {}, the oldest ooo supports",
                have.0,
                have.1,
                have.2,
                adapter.min_version()
            ),
            adapter.install_hint(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_what_clis_print() {
        assert_eq!(parse_version("2.1.332 (Claude Code)"), Some((2, 1, 332)));
        assert_eq!(parse_version("codex-cli 0.171.0"), Some((0, 171, 0)));
        assert_eq!(parse_version("0.61.0"), Some((0, 61, 0)));
        assert_eq!(parse_version("v1.18.33-beta"), Some((1, 18, 33)));
        assert_eq!(parse_version("no version"), None);
    }

    #[test]
    fn a_version_probe_that_hangs_is_bounded_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cli = dir.path().join("slow");
        std::fs::write(&cli, "#!/bin/sh\nsleep 60 &\nsleep 60\n").unwrap();
        std::fs::set_permissions(&cli, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let adapter = crate::registry::cli_adapter("claude").unwrap();
        let env: EnvMap = [("PATH".to_string(), "/usr/bin:/bin".to_string())].into_iter().collect();
        let err =
            read_version(adapter.as_ref(), &cli, &env, Duration::from_millis(300)).unwrap_err();
        assert!(err.message.contains("did not answer"), "{err:?}");
        let needle = cli.display().to_string();
        let left = std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmd).contains(&needle)
        });
        assert!(!left);
    }

    #[test]
    fn path_lookup_skips_missing_and_non_executables() {
        let tmp = tempfile::tempdir().unwrap();
        let plain = tmp.path().join("a");
        std::fs::create_dir(&plain).unwrap();
        std::fs::write(plain.join("tool"), "x").unwrap();
        let path = format!("/nonexistent:{}:/bin", plain.display());
        assert_eq!(find_on_path("tool", &path), None);
        assert_eq!(find_on_path("sh", &path), Some(PathBuf::from("/bin/sh")));
    }
}
