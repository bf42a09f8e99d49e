//! The sandbox through its public API: a command runs, sees exactly its policy, and
//! ends with everything it started. (The hostile side is `escapes.rs`.)

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Output, Stdio};

use ooo_sandbox::{Mode, Network, Policy, Sandbox};

fn sandbox() -> Option<Sandbox> {
    match Sandbox::new(Mode::Require) {
        Ok(s) => Some(s.with_init(env!("CARGO_BIN_EXE_ooo-sandbox-init").into())),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: {e} ({})", e.hint());
            None
        }
        Err(e) => panic!("{e}: {}", e.hint()),
    }
}

fn base(dir: &std::path::Path) -> Policy {
    Policy {
        write: vec![dir.to_owned()],
        cwd: dir.to_owned(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into()), ("MARK".into(), "m".into())],
        ..Policy::default()
    }
}

fn sh(sandbox: &Sandbox, policy: Policy, script: &str) -> Output {
    let args: Vec<OsString> = vec!["-c".into(), script.into()];
    let mut confined = sandbox.command(policy, "sh".as_ref(), &args).unwrap();
    confined.command.stdin(Stdio::null());
    confined.command.output().unwrap()
}

#[test]
fn a_command_sees_its_policy_and_nothing_else() {
    let Some(sandbox) = sandbox() else { return };
    let dir = tempfile::tempdir().unwrap();
    let secret = tempfile::tempdir().unwrap();
    std::fs::write(secret.path().join("key"), "s").unwrap();
    let script = format!(
        "echo hi > out.txt && env | sort | tr '\\n' ' ' && test ! -e {} && echo; id -u",
        secret.path().display()
    );
    let out = sh(&sandbox, base(dir.path()), &script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(dir.path().join("out.txt")).unwrap(), "hi\n");
    assert!(stdout.contains("MARK=m"), "{stdout}");
    assert!(!stdout.contains("HOME="), "nothing inherited: {stdout}");
    // The same user as the caller, without its capabilities.
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    assert!(stdout.trim_end().ends_with(&uid.to_string()), "{stdout}");
}

#[test]
fn a_read_path_is_readable_and_not_writable() {
    let Some(sandbox) = sandbox() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ro = tempfile::tempdir().unwrap();
    std::fs::write(ro.path().join("f"), "data").unwrap();
    let mut policy = base(dir.path());
    policy.read.push(ro.path().to_owned());
    let f = ro.path().join("f");
    let out = sh(&sandbox, policy, &format!("cat {0}; echo x >> {0} || echo refused", f.display()));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "datarefused\n");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "data");
}

#[test]
fn exit_codes_and_missing_programs_come_through() {
    let Some(sandbox) = sandbox() else { return };
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(sh(&sandbox, base(dir.path()), "exit 7").status.code(), Some(7));
    let mut c = sandbox.command(base(dir.path()), "no-such-program-x".as_ref(), &[]).unwrap();
    let out = c.command.output().unwrap();
    assert_eq!(out.status.code(), Some(127), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn hosts_are_reached_only_through_the_proxy() {
    let Some(sandbox) = sandbox() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut s in server.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            );
        }
    });
    let mut policy = base(dir.path());
    policy.network =
        Network::Hosts(vec![ooo_sandbox::HostRule::parse(&format!("127.0.0.1:{port}")).unwrap()]);
    let script = format!(
        "python3 -c \"import urllib.request as u; print(u.urlopen('http://127.0.0.1:{port}/x').read().decode())\"; \
         python3 -c \"import urllib.request as u; u.urlopen('http://127.0.0.1:{}/y')\" 2>&1 | grep -c 403",
        port.wrapping_add(1)
    );
    let args: Vec<OsString> = vec!["-c".into(), script.into()];
    let mut confined = sandbox.command(policy, "sh".as_ref(), &args).unwrap();
    let out = confined.command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout, "hello\n1\n", "{}", String::from_utf8_lossy(&out.stderr));
    let decisions = confined.decisions();
    assert_eq!(
        decisions.iter().map(|d| d.allowed).collect::<Vec<_>>(),
        [true, false],
        "{decisions:?}"
    );
    let _: PathBuf = dir.path().to_owned();
}

#[test]
fn system_directories_and_repeats_in_a_policy_are_harmless() {
    let Some(sandbox) = sandbox() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut policy = base(dir.path());
    // PATH entries: on merged-/usr systems /bin and /sbin are links inside too.
    policy.read.extend(["/bin", "/sbin", "/usr/bin", "/usr/bin"].map(PathBuf::from));
    policy.write.push(dir.path().to_owned());
    let out = sh(&sandbox, policy, "ls /bin/sh && echo fine");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "/bin/sh\nfine\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
