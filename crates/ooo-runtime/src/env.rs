//! The environment a runtime's child process gets: an allowlist, never the caller's
//! whole environment, plus the nesting depth.
//!
//! A child sees the variables every program needs ([`COMMON_ALLOWLIST`]: `PATH`, `HOME`,
//! locale, proxies, CA bundles, the XDG directories), the ones its adapter names (its own
//! keys, base URLs, config and session directories), and what the adapter sets itself.
//! Everything else the caller holds (other providers' keys, cloud credentials, tokens)
//! stays out. What does not live here: which variables each CLI needs (the adapters).

use std::collections::BTreeMap;

use ooo_core::runtime::{DEPTH_ENV, MAX_DEPTH, RuntimeError, RuntimeErrorKind};

/// Variables any child may inherit from the caller.
pub const COMMON_ALLOWLIST: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    "XDG_CACHE_HOME",
    "XDG_RUNTIME_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
];

/// A snapshot of an environment, sorted by name.
pub type EnvMap = BTreeMap<String, String>;

/// The calling process's environment (variables that are not UTF-8 are skipped: no
/// runtime reads such a variable).
pub fn caller_env() -> EnvMap {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// The depth a child of a caller with environment `caller` runs at, or the refusal
/// when that is above [`MAX_DEPTH`]. A missing value is depth 0; an unreadable one fails
/// closed (it counts as the limit), since a loop could otherwise reset it.
pub fn child_depth(caller: &EnvMap, runtime: &str) -> Result<u32, RuntimeError> {
    let current = match caller.get(DEPTH_ENV).map(|v| v.trim()) {
        None | Some("") => 0,
        Some(v) => v.parse::<u32>().unwrap_or(MAX_DEPTH),
    };
    let child = current.saturating_add(1);
    if child > MAX_DEPTH {
        return Err(RuntimeError::new(
            RuntimeErrorKind::DepthExceeded,
            runtime,
            format!(
                "refusing to start an agent at depth {child}: {DEPTH_ENV}={current} and the limit is {MAX_DEPTH}"
            ),
            "an agent is calling ooo which is calling an agent, over and over; run the task from a shell, not from inside an agent",
        ));
    }
    Ok(child)
}

/// Build a child's environment: the allowlisted caller variables (common and
/// `extra_allow`), then `set` on top, then the depth. Returns the exact, complete
/// environment; the caller clears its own before applying it.
pub fn child_env(
    caller: &EnvMap,
    extra_allow: &[&str],
    set: &[(String, String)],
    depth: u32,
) -> EnvMap {
    let mut out: EnvMap = caller
        .iter()
        .filter(|(k, _)| {
            COMMON_ALLOWLIST.contains(&k.as_str()) || extra_allow.contains(&k.as_str())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in set {
        out.insert(k.clone(), v.clone());
    }
    out.insert(DEPTH_ENV.to_owned(), depth.to_string());
    out
}

/// Values of the variables in `env` that hold secrets (by name), for redaction of
/// anything the journal records. Short values are skipped: masking `1` everywhere would
/// destroy the record without protecting anything.
pub fn secret_values(env: &EnvMap) -> Vec<String> {
    const SECRET_WORDS: &[&str] = &["KEY", "TOKEN", "SECRET", "PASSWORD", "AUTH"];
    env.iter()
        .filter(|(k, v)| {
            v.len() >= 8 && SECRET_WORDS.iter().any(|w| k.to_ascii_uppercase().contains(w))
        })
        .map(|(_, v)| v.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvMap {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn only_allowlisted_variables_pass() {
        let caller = env(&[
            ("PATH", "/bin"),
            ("ANTHROPIC_API_KEY", "sk-ant-123456789"),
            ("AWS_SECRET_ACCESS_KEY", "nope-nope-nope"),
            ("DEPLOY_TOKEN", "dt_xxxxxxxxxxxxxxxxxxxxxxxx"),
        ]);
        let out = child_env(&caller, &["ANTHROPIC_API_KEY"], &[], 1);
        assert_eq!(out.get("PATH").map(String::as_str), Some("/bin"));
        assert_eq!(out.get("ANTHROPIC_API_KEY").map(String::as_str), Some("sk-ant-123456789"));
        assert!(!out.contains_key("AWS_SECRET_ACCESS_KEY"));
        assert!(!out.contains_key("DEPLOY_TOKEN"));
        assert_eq!(out.get(DEPTH_ENV).map(String::as_str), Some("1"));
    }

    #[test]
    fn set_values_win_over_the_caller() {
        let caller = env(&[("HOME", "/home/u")]);
        let out = child_env(&caller, &[], &[("HOME".into(), "/tmp/h".into())], 2);
        assert_eq!(out["HOME"], "/tmp/h");
    }

    #[test]
    fn depth_increments_and_stops_above_the_limit() {
        assert_eq!(child_depth(&env(&[]), "x").unwrap(), 1);
        assert_eq!(child_depth(&env(&[(DEPTH_ENV, "4")]), "x").unwrap(), 5);
        let err = child_depth(&env(&[(DEPTH_ENV, "5")]), "x").unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::DepthExceeded);
        let err = child_depth(&env(&[(DEPTH_ENV, "garbage")]), "x").unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::DepthExceeded);
        assert_eq!(child_depth(&env(&[(DEPTH_ENV, "")]), "x").unwrap(), 1);
    }

    #[test]
    fn secret_values_are_found_by_name() {
        let e = env(&[("OPENAI_API_KEY", "sk-abcdefghij"), ("PATH", "/usr/bin:/bin")]);
        assert_eq!(secret_values(&e), vec!["sk-abcdefghij".to_string()]);
    }
}
