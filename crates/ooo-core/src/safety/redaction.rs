//! Redacting secrets from a command line before it is shown or recorded. The real argv
//! is never changed; only the copy that goes into the ledger or a prompt.
//!
//! Upstream's rules: the value of a secret flag (`--token x`, `--token=x`; the flags in
//! [`SECRET_FLAGS`]) and whole arguments that look like credentials (code-host tokens
//! `gh[oprsu]_...`, `sk-...` keys, AWS `AKIA...` ids, JWTs, `Bearer <x>`). Ours on top:
//! flag names match case-insensitively; a secret flag followed by another secret flag
//! redacts both values; credentials embedded inside an argument (`--x=ghp_...`,
//! `?access_token=...`, `API_KEY=...`) are cut out too.

use std::sync::OnceLock;

use regex::Regex;
use sha2::{Digest, Sha256};

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Flags whose value is a secret.
pub const SECRET_FLAGS: &[&str] = &[
    "--token",
    "-t",
    "--password",
    "--passwd",
    "--api-key",
    "--apikey",
    "--secret",
    "--auth",
    "--authorization",
    "--client-secret",
    "--access-token",
    "--refresh-token",
    "--bearer",
    "--credential",
    "--credentials",
];

/// A redacted argv and whether anything was removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    pub argv: Vec<String>,
    /// sha256 (hex) of the original arguments joined by NUL, when anything was redacted.
    pub original_sha256: Option<String>,
}

/// Words that make any flag a secret flag (`--db-password`, `--deploy-token`).
const SECRET_WORDS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "apikey",
    "api-key",
    "api_key",
    "credential",
    "private-key",
    "private_key",
];

fn is_secret_flag(arg: &str) -> bool {
    if SECRET_FLAGS.iter().any(|f| f.eq_ignore_ascii_case(arg)) {
        return true;
    }
    let lower = arg.to_ascii_lowercase();
    lower.starts_with("--")
        && !lower.contains('=')
        && SECRET_WORDS.iter().any(|w| lower.contains(w))
}

/// Credential shapes found anywhere inside an argument.
fn embedded() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            r"gh[oprsu]_[A-Za-z0-9]{20,}",
            r"|sk-[A-Za-z0-9_-]{20,}",
            r"|AKIA[0-9A-Z]{16}",
            r"|[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
            r"|(?i:bearer)\s+\S+",
        ))
        .expect("redaction pattern")
    })
}

/// `name=value` pairs whose name says secret: in a query string or as a whole argument.
fn secret_pair() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)((?:^|[?&;#\s])[A-Za-z0-9_.-]*(?:token|secret|passw(?:or)?d|api[_-]?key|apikey|auth|credential|private[_-]?key|session)[A-Za-z0-9_.-]*=)[^&;\s]*")
            .expect("secret pair pattern")
    })
}

/// `scheme://user:password@` in a URL.
fn userinfo() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@").expect("userinfo pattern")
    })
}

fn scrub(arg: &str) -> String {
    let step = userinfo().replace_all(arg, |c: &regex::Captures| format!("{}{REDACTED}@", &c[1]));
    let step =
        secret_pair().replace_all(&step, |c: &regex::Captures| format!("{}{REDACTED}", &c[1]));
    embedded().replace_all(&step, REDACTED).into_owned()
}

/// Redact credentials inside free text (a prompt, a model's answer, a CLI's output line):
/// the embedded shapes, `name=value` secrets and URL user info. Flags are not tracked
/// across words here; use [`redact`] for an argv.
pub fn redact_text(text: &str) -> String {
    scrub(text)
}

/// Redact `argv` (the plugin's own arguments, without the entrypoint).
pub fn redact(argv: &[String]) -> Redacted {
    let mut out = Vec::with_capacity(argv.len());
    let mut redact_next = false;
    for arg in argv {
        if redact_next {
            redact_next = is_secret_flag(arg);
            out.push(if is_secret_flag(arg) { arg.clone() } else { REDACTED.to_owned() });
            // `--token --password x`: the flag stays visible, and its own value goes too.
            continue;
        }
        if is_secret_flag(arg) {
            out.push(arg.clone());
            redact_next = true;
            continue;
        }
        if let Some((flag, _)) = arg.split_once('=')
            && flag.starts_with('-')
            && is_secret_flag(flag)
        {
            out.push(format!("{flag}={REDACTED}"));
            continue;
        }
        if arg.eq_ignore_ascii_case("bearer") {
            out.push(arg.clone());
            redact_next = true;
            continue;
        }
        out.push(scrub(arg));
    }
    let changed = out.iter().zip(argv).any(|(a, b)| a != b);
    let original_sha256 = changed.then(|| {
        let mut h = Sha256::new();
        for (i, a) in argv.iter().enumerate() {
            if i > 0 {
                h.update([0u8]);
            }
            h.update(a.as_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    });
    Redacted { argv: out, original_sha256 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(args: &[&str]) -> Vec<String> {
        redact(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>()).argv
    }

    #[test]
    fn upstream_rules() {
        assert_eq!(r(&["--token", "abc", "pr", "1"]), ["--token", REDACTED, "pr", "1"]);
        assert_eq!(r(&["--password=hunter2"]), [format!("--password={REDACTED}")]);
        assert_eq!(r(&["-t", "x"]), ["-t", REDACTED]);
        assert_eq!(r(&["ghp_0123456789abcdefghijABCD"]), [REDACTED]);
        assert_eq!(r(&["sk-abcdefghijklmnopqrstuvwx"]), [REDACTED]);
        assert_eq!(r(&["AKIAABCDEFGHIJKLMNOP"]), [REDACTED]);
        assert_eq!(r(&["eyJhbGciOi.eyJzdWIiOiIx.SflKxwRJSMeKKF2QT4"]), [REDACTED]);
        assert_eq!(r(&["Bearer abc.def"]), [REDACTED]);
        assert_eq!(
            r(&["review", "https://example.com/o/r/pull/1"]),
            ["review", "https://example.com/o/r/pull/1"]
        );
    }

    #[test]
    fn our_fixes() {
        assert_eq!(r(&["--TOKEN", "abc"]), ["--TOKEN", REDACTED]);
        assert_eq!(r(&["--token", "--password", "x"]), ["--token", "--password", REDACTED]);
        assert_eq!(r(&["--x=ghp_0123456789abcdefghijABCD"]), [format!("--x={REDACTED}")]);
        assert_eq!(
            r(&["https://h.example/cb?access_token=s3cr3t&page=2"]),
            [format!("https://h.example/cb?access_token={REDACTED}&page=2")]
        );
        assert_eq!(r(&["API_KEY=abc123"]), [format!("API_KEY={REDACTED}")]);
        assert_eq!(r(&["bearer", "abc"]), ["bearer", REDACTED]);
        assert_eq!(r(&["--name=plain", "-v"]), ["--name=plain", "-v"]);
        assert_eq!(r(&["--db-password", "x"]), ["--db-password", REDACTED]);
        assert_eq!(r(&["--deploy-token=x"]), [format!("--deploy-token={REDACTED}")]);
        assert_eq!(
            r(&["https://h.example/cb#access_token=s3cr3t"]),
            [format!("https://h.example/cb#access_token={REDACTED}")]
        );
        assert_eq!(
            r(&["https://ada:hunter2@h.example/r.git"]),
            [format!("https://{REDACTED}@h.example/r.git")]
        );
        assert_eq!(
            r(&["--author", "Ada"]),
            ["--author", "Ada"],
            "not every flag with 'auth' in it"
        );
    }

    #[test]
    fn the_original_is_fingerprinted_only_when_something_changed() {
        let plain = redact(&["a".to_string(), "b".to_string()]);
        assert_eq!(plain.original_sha256, None);
        let secret = redact(&["--token".to_string(), "x".to_string()]);
        assert_eq!(secret.original_sha256.unwrap().len(), 64);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn secret() -> impl Strategy<Value = (String, Vec<String>)> {
            // (the secret value, the argv fragment that carries it)
            let value = "[A-Za-z0-9]{24,30}";
            prop_oneof![
                (value, prop::sample::select(SECRET_FLAGS.to_vec()))
                    .prop_map(|(v, f)| (v.clone(), vec![f.to_string(), v])),
                (value, prop::sample::select(SECRET_FLAGS.to_vec()))
                    .prop_map(|(v, f)| (v.clone(), vec![format!("{f}={v}")])),
                value.prop_map(|v| {
                    let t = format!("ghp_{v}");
                    (t.clone(), vec![t])
                }),
                value.prop_map(|v| {
                    let t = format!("sk-{v}");
                    (t.clone(), vec![t])
                }),
                value.prop_map(|v| {
                    let t = format!("--header=ghs_{v}");
                    (format!("ghs_{v}"), vec![t])
                }),
                value.prop_map(|v| (
                    v.clone(),
                    vec![format!("https://h.example/x?client_secret={v}&a=1")]
                )),
                value.prop_map(|v| (v.clone(), vec![format!("DB_PASSWORD={v}")])),
                value.prop_map(|v| (v.clone(), vec!["Bearer".to_string(), v])),
            ]
        }

        proptest! {
            #[test]
            fn no_secret_survives(
                before in prop::collection::vec("[a-z][a-z0-9-]{0,10}", 0..4),
                secrets in prop::collection::vec(secret(), 1..4),
                after in prop::collection::vec("[a-z][a-z0-9./-]{0,10}", 0..4),
            ) {
                let mut argv: Vec<String> = before;
                for (_, fragment) in &secrets {
                    argv.extend(fragment.iter().cloned());
                }
                argv.extend(after);
                let red = redact(&argv);
                let joined = red.argv.join(" ");
                for (value, _) in &secrets {
                    prop_assert!(!joined.contains(value.as_str()), "{} leaked in {}", value, joined);
                }
                prop_assert!(red.original_sha256.is_some());
                prop_assert_eq!(red.argv.len(), argv.len());
            }
        }
    }
}
