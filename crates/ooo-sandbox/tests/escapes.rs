//! The escape suite of issue 13: a hostile plugin (`tests/escape/hostile.py`) tries every
//! way out it knows from inside the sandbox and reports each attempt as one JSON line;
//! these tests set up what it aims at (a canary process, listeners, a secret, the ledger
//! and lockfile, System V objects, a planted key, a leaked descriptor, a terminal), run
//! it, and check both sides: no probe says it escaped, every probe ran, and on the host
//! nothing was reached (the canary lives, the listeners got nothing, nothing it started
//! is left running, the files are unchanged). Granted permissions still open exactly
//! what they declare.
//!
//! Runs as root and as an unprivileged user (CI runs this binary a second time as one),
//! writes only in temporary directories, and skips only when the machine lacks a
//! mechanism and `CI` is not set (in CI that is a failure).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{ErrorKind as IoKind, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{SocketAddr, UnixListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime};

use ooo_sandbox::{ErrorKind, HostRule, Limits, Mode, Network, Policy, Sandbox, Terminal};

/// The hostile plugin, embedded so the test binary does not depend on the source tree
/// being readable by the user CI runs it as.
const HOSTILE: &str = include_str!("escape/hostile.py");

/// Every probe of the hostile mode. A probe that silently disappears fails the suite;
/// a probe added to the script must be added here (see `the_probe_list_is_complete`).
const PROBES: &[&str] = &[
    "environment",
    "proc_environ_leak",
    "capabilities",
    "no_new_privs",
    "seccomp_active",
    "landlock_active",
    "rlimit_raise",
    "net_interfaces",
    "udp_public",
    "udp_host_loopback",
    "dns_resolve",
    "tcp_host_loopback",
    "tcp_public",
    "tcp_fastopen",
    "mptcp",
    "listen_without_bind",
    "raw_socket",
    "packet_socket",
    "netlink_socket",
    "abstract_unix",
    "pathname_unix",
    "host_sockets",
    "ledger_tamper",
    "lockfile_tamper",
    "lockfile_flock",
    "secret_read",
    "secret_tamper",
    "etc_secrets",
    "setuid_file",
    "writable_mount_flags",
    "device_node",
    "inotify_home",
    "write_outside",
    "proc_host_pids",
    "proc_sys_write",
    "cgroup_write",
    "dev_minimal",
    "open_by_handle_at",
    "inherited_fds",
    "leaked_fd",
    "tiocsti",
    "tiocsctty_then_tiocsti",
    "other_pts",
    "controlling_tty",
    "sysv_shm",
    "sysv_msg",
    "sysv_sem",
    "keyring_planted_key",
    "keyctl",
    "add_key",
    "signal_ooo",
    "kill_canary",
    "kill_init",
    "ptrace",
    "proc_mem",
    "unshare_mount",
    "io_uring",
    "bpf",
    "perf_event_open",
    "personality",
    "userfaultfd",
    "pidfd_getfd",
    "orphan_setsid",
    "orphan_setpgid",
    "fork_bomb",
    "memory_private",
    "memory_shared",
    "memory_tmpfs",
    "file_size",
    "open_files",
];

/// The limits every hostile run gets (the fork bomb, memory and file probes go to twice
/// these).
/// Small enough to probe quickly, large enough for Python to start when the memory limit
/// is the address space (no cgroup: an unprivileged caller without delegation).
const LIMITS: Limits =
    Limits { processes: 64, memory_bytes: 1 << 30, file_bytes: 8 << 20, open_files: 256 };

/// The environment every run declares.
fn declared_env() -> Vec<(String, String)> {
    vec![
        ("PATH".into(), "/usr/bin:/bin".into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("OOO_DECLARED".into(), "yes".into()),
    ]
}

/// The variables `Network::Hosts` adds inside (the proxy).
const PROXY_VARS: &[&str] =
    &["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"];

fn sandbox() -> Option<Sandbox> {
    match Sandbox::new(Mode::Require) {
        Ok(s) => Some(s.with_init(env!("CARGO_BIN_EXE_ooo-sandbox-init").into())),
        Err(e) if e.kind == ErrorKind::Unavailable && std::env::var_os("CI").is_none() => {
            eprintln!(
                "escape suite skipped: {e}. Fix: {}. (With CI set this is a failure.)",
                e.hint()
            );
            None
        }
        Err(e) => panic!("the sandbox is unavailable: {e}. Fix: {}", e.hint()),
    }
}

fn python() -> &'static str {
    // Inside, only the system's directories exist: the interpreter must be there.
    for p in ["/usr/bin/python3", "/bin/python3"] {
        if Path::new(p).is_file() {
            return p;
        }
    }
    panic!("the escape suite needs python3 in /usr/bin (Debian: `apt install python3`)")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn unique() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let t = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{}x{}x{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), t % 100_000)
}

fn cloexec(fd: RawFd) {
    // SAFETY: fcntl on a descriptor we own.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
}

// --- what the hostile plugin aims at ------------------------------------------------------

struct SysV {
    shm: i32,
    msg: i32,
    sem: i32,
    keys: [libc::key_t; 3],
}

impl SysV {
    /// A shared memory segment (with data), a message queue and a semaphore set, each
    /// under a fresh key, readable and writable by anyone (0666): only the IPC namespace
    /// keeps the plugin from them.
    fn create() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let flags = libc::IPC_CREAT | libc::IPC_EXCL | 0o666;
        let fresh = |make: &dyn Fn(libc::key_t) -> i32| -> (i32, libc::key_t) {
            for _ in 0..1000 {
                let n = N.fetch_add(1, Ordering::Relaxed);
                let key =
                    (0x0e5c_0000 ^ (std::process::id() << 8) ^ n) as libc::key_t & 0x7fff_ffff;
                let id = make(key);
                if id >= 0 {
                    return (id, key);
                }
                let e = std::io::Error::last_os_error();
                assert_eq!(e.raw_os_error(), Some(libc::EEXIST), "creating a System V object: {e}");
            }
            panic!("no free System V key");
        };
        // SAFETY (all three): plain System V calls with constant sizes; checked above.
        let (shm, k0) = fresh(&|k| unsafe { libc::shmget(k, 4096, flags) });
        let (msg, k1) = fresh(&|k| unsafe { libc::msgget(k, flags) });
        let (sem, k2) = fresh(&|k| unsafe { libc::semget(k, 1, flags) });
        // SAFETY: attaching our own segment to write a marker, then detaching.
        unsafe {
            let p = libc::shmat(shm, std::ptr::null(), 0);
            if p as isize != -1 {
                std::ptr::copy_nonoverlapping(b"CALLER-SHM".as_ptr(), p as *mut u8, 10);
                libc::shmdt(p);
            }
        }
        Self { shm, msg, sem, keys: [k0, k1, k2] }
    }

    fn shm_attached(&self) -> u64 {
        // SAFETY: IPC_STAT into a zeroed struct of the right type.
        unsafe {
            let mut ds: libc::shmid_ds = std::mem::zeroed();
            libc::shmctl(self.shm, libc::IPC_STAT, &mut ds);
            ds.shm_nattch as u64
        }
    }
}

impl Drop for SysV {
    fn drop(&mut self) {
        // SAFETY: removing objects we created.
        unsafe {
            libc::shmctl(self.shm, libc::IPC_RMID, std::ptr::null_mut());
            libc::msgctl(self.msg, libc::IPC_RMID, std::ptr::null_mut());
            libc::semctl(self.sem, 0, libc::IPC_RMID);
        }
    }
}

/// A `user` key in the caller's session keyring (where a plugin would find an agent's
/// credentials). None when this machine's keyrings refuse (e.g. a container's filter).
struct PlantedKey {
    id: libc::c_long,
    desc: String,
}

impl PlantedKey {
    fn plant(nonce: &str) -> Option<Self> {
        const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
        let desc = format!("ooo-escape-{nonce}");
        let c_desc = std::ffi::CString::new(desc.clone()).unwrap();
        let payload = b"CALLER-KEY";
        // SAFETY: add_key with NUL-terminated strings and a sized payload.
        let id = unsafe {
            libc::syscall(
                libc::SYS_add_key,
                c"user".as_ptr(),
                c_desc.as_ptr(),
                payload.as_ptr(),
                payload.len(),
                KEY_SPEC_SESSION_KEYRING,
            )
        };
        if id < 0 {
            eprintln!(
                "note: cannot plant a key in the session keyring ({}); the keyring probes still run",
                std::io::Error::last_os_error()
            );
            return None;
        }
        Some(Self { id, desc })
    }
}

impl Drop for PlantedKey {
    fn drop(&mut self) {
        const KEYCTL_INVALIDATE: libc::c_long = 21;
        // SAFETY: invalidating the key we added.
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_INVALIDATE, self.id) };
    }
}

/// A process outside the sandbox that must survive it (`sleep 600`, argv[0] marked).
struct Canary {
    child: Child,
    marker: String,
}

impl Canary {
    fn spawn(nonce: &str) -> Self {
        let marker = format!("ooo-escape-canary-{nonce}");
        let child = Command::new("sleep")
            .arg0(&marker)
            .arg("600")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the canary `sleep 600`");
        Self { child, marker }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything one hostile run aims at.
struct Targets {
    nonce: String,
    root: tempfile::TempDir,
    script: PathBuf,
    home: PathBuf,
    secret: PathBuf,
    ledger_dir: PathBuf,
    ledger: PathBuf,
    lockfile: PathBuf,
    work: PathBuf,
    unix_path: PathBuf,
    abstract_name: String,
    unix: UnixListener,
    abstract_listener: UnixListener,
    tcp: TcpListener,
    udp: UdpSocket,
    sysv: SysV,
    key: Option<PlantedKey>,
    canary: Canary,
    /// A descriptor of the secret, open without close-on-exec at a high number.
    leaked: OwnedFd,
    snapshot: Vec<(PathBuf, Vec<u8>, u32, i64)>,
}

impl Targets {
    fn new() -> Self {
        let nonce = unique();
        let root = tempfile::Builder::new().prefix("ooo-escape-").tempdir().unwrap();
        let r = root.path();
        let dir = |p: &str| {
            let d = r.join(p);
            std::fs::create_dir_all(&d).unwrap();
            d
        };
        let scripts = dir("script");
        let script = scripts.join("hostile.py");
        std::fs::write(&script, HOSTILE).unwrap();
        // The unprivileged CI user must be able to reach its own temporary tree (it
        // owns it); nothing here is made readable to others.
        let home = dir("home");
        let ssh = dir("home/.ssh");
        let secret = ssh.join("id_ed25519");
        std::fs::write(&secret, "CALLER-SECRET-KEY\n").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let ledger_dir = dir("workspace/.ouroboros");
        let ledger = ledger_dir.join("ledger.jsonl");
        std::fs::write(&ledger, "{\"event\":\"genesis\"}\n").unwrap();
        let lockfile = ledger_dir.join("ledger.lock");
        std::fs::write(&lockfile, "").unwrap();
        let work = dir("workspace/.ouroboros/plugin-artifacts/hostile");
        let hidden = dir("hidden");
        let unix_path = hidden.join("caller.sock");
        let unix = UnixListener::bind(&unix_path).unwrap();
        unix.set_nonblocking(true).unwrap();
        let abstract_name = format!("ooo-escape-{nonce}");
        let abstract_listener = UnixListener::bind_addr(
            &SocketAddr::from_abstract_name(abstract_name.as_bytes()).unwrap(),
        )
        .unwrap();
        abstract_listener.set_nonblocking(true).unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        tcp.set_nonblocking(true).unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_nonblocking(true).unwrap();
        let file = std::fs::File::open(&secret).unwrap();
        // SAFETY: duplicating a descriptor we own, deliberately without close-on-exec.
        let raw = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_DUPFD, 40) };
        assert!(raw >= 40, "dup: {}", std::io::Error::last_os_error());
        // SAFETY: a fresh descriptor we own.
        let leaked = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut t = Self {
            key: PlantedKey::plant(&nonce),
            canary: Canary::spawn(&nonce),
            sysv: SysV::create(),
            nonce,
            root,
            script,
            home,
            secret,
            ledger_dir,
            ledger,
            lockfile,
            work,
            unix_path,
            abstract_name,
            unix,
            abstract_listener,
            tcp,
            udp,
            leaked,
            snapshot: Vec::new(),
        };
        t.snapshot = t.files().iter().map(|p| snapshot(p)).collect();
        t
    }

    fn files(&self) -> Vec<PathBuf> {
        vec![self.ledger.clone(), self.lockfile.clone(), self.secret.clone()]
    }

    fn script_dir(&self) -> PathBuf {
        self.script.parent().unwrap().to_owned()
    }

    fn policy(&self, ledger_mounted: bool, network: Network) -> Policy {
        let mut read = vec![self.script_dir()];
        let mut hide = Vec::new();
        if ledger_mounted {
            read.push(self.ledger_dir.clone());
            // A readable file can always be locked (flock needs only a read descriptor):
            // what must not be locked is hidden, as ooo-plugin hides ooo's home.
            hide.push(self.lockfile.clone());
        }
        Policy {
            read,
            hide,
            write: vec![self.work.clone()],
            cwd: self.work.clone(),
            env: declared_env(),
            network,
            limits: LIMITS,
            terminal: Terminal::None,
            ..Policy::default()
        }
    }

    fn args(&self, mode: &str, expect_env: &[&str]) -> Vec<OsString> {
        let mut expected: Vec<String> = declared_env().into_iter().map(|(k, _)| k).collect();
        expected.extend(expect_env.iter().map(|s| s.to_string()));
        let ooo_marker = std::env::args()
            .next()
            .and_then(|a| Path::new(&a).file_name().map(|n| n.to_string_lossy().into_owned()));
        let mut a: Vec<String> = vec![
            self.script.display().to_string(),
            format!("--mode={mode}"),
            format!("--nonce={}", self.nonce),
            format!("--ooo-pid={}", std::process::id()),
            format!("--canary-pid={}", self.canary.pid()),
            format!("--canary-marker={}", self.canary.marker),
            format!("--secret={}", self.secret.display()),
            format!("--home={}", self.home.display()),
            format!("--ledger={}", self.ledger.display()),
            format!("--lockfile={}", self.lockfile.display()),
            format!("--write-dir={}", self.work.display()),
            format!("--shm-key={}", self.sysv.keys[0]),
            format!("--msg-key={}", self.sysv.keys[1]),
            format!("--sem-key={}", self.sysv.keys[2]),
            format!("--udp-port={}", self.udp.local_addr().unwrap().port()),
            format!("--tcp-port={}", self.tcp.local_addr().unwrap().port()),
            format!("--abstract={}", self.abstract_name),
            format!("--unix-path={}", self.unix_path.display()),
            format!("--fd={}", self.leaked.as_raw_fd()),
            format!("--expect-env={}", expected.join(",")),
            format!("--nproc-limit={}", LIMITS.processes),
            format!("--memory-limit={}", LIMITS.memory_bytes),
            format!("--file-limit={}", LIMITS.file_bytes),
            format!("--nofile-limit={}", LIMITS.open_files),
        ];
        if let Some(m) = ooo_marker {
            a.push(format!("--ooo-marker={m}"));
        }
        if let Some(k) = &self.key {
            a.push(format!("--key-desc={}", k.desc));
        }
        a.into_iter().map(OsString::from).collect()
    }

    /// The host side: nothing the plugin aimed at was reached.
    fn check_host(&mut self, failures: &mut Vec<String>) {
        if !self.canary.alive() {
            failures.push("the canary process outside the sandbox was killed".into());
        }
        for (name, listener) in
            [("pathname UNIX", &self.unix), ("abstract UNIX", &self.abstract_listener)]
        {
            match listener.accept() {
                Err(e) if e.kind() == IoKind::WouldBlock => {}
                other => failures.push(format!("the {name} listener was reached: {other:?}")),
            }
        }
        match self.tcp.accept() {
            Err(e) if e.kind() == IoKind::WouldBlock => {}
            other => failures.push(format!("the TCP listener was reached: {other:?}")),
        }
        let mut buf = [0u8; 64];
        match self.udp.recv_from(&mut buf) {
            Err(e) if e.kind() == IoKind::WouldBlock => {}
            other => failures.push(format!("the UDP listener got a datagram: {other:?}")),
        }
        for (before, path) in self.snapshot.iter().zip(self.files()) {
            let now = snapshot(&path);
            if &now != before {
                failures.push(format!("{} changed: {before:?} -> {now:?}", path.display()));
            }
        }
        if self.sysv.shm_attached() != 0 {
            failures.push("the caller's shared memory segment was attached".into());
        }
        let leftovers: Vec<String> = std::fs::read_dir(&self.home)
            .unwrap()
            .chain(std::fs::read_dir(&self.ledger_dir).unwrap())
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                ![".ssh", "ledger.jsonl", "ledger.lock", "plugin-artifacts"].contains(&n.as_str())
            })
            .collect();
        if !leftovers.is_empty() {
            failures.push(format!("files appeared outside the writable directory: {leftovers:?}"));
        }
        // What the plugin wrote in its private /tmp, /dev and root must not be the host's.
        let mut host_dirs: Vec<PathBuf> =
            ["/", "/tmp", "/dev", "/dev/shm", "/var/tmp"].iter().map(PathBuf::from).collect();
        host_dirs.push(std::env::temp_dir());
        for d in host_dirs {
            let Ok(entries) = std::fs::read_dir(&d) else { continue };
            for e in entries.filter_map(|e| e.ok()) {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.contains(&self.nonce) {
                    failures.push(format!(
                        "the plugin's file reached the host: {}",
                        e.path().display()
                    ));
                }
            }
        }
        if let Some(pids) = survivors(&format!("ooo-escape-orphan-{}", self.nonce)) {
            failures.push(format!("processes the plugin started outlived the call: {pids:?}"));
        }
    }
}

impl Drop for Targets {
    fn drop(&mut self) {
        // Whatever a failed run left: gone with the test.
        if let Some(pids) = matching(&self.nonce, Duration::ZERO, true) {
            for pid in pids {
                // SAFETY: signalling processes of this test run (matched by its nonce).
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// Content, mode and modification time: what tampering would change.
fn snapshot(path: &Path) -> (PathBuf, Vec<u8>, u32, i64) {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (
        path.to_owned(),
        std::fs::read(path).unwrap(),
        meta.mode(),
        meta.mtime_nsec() + meta.mtime() * 1_000_000_000,
    )
}

/// Processes (other than the canary) whose command line contains `marker`, after
/// waiting up to 3 s for a dying namespace to finish.
fn survivors(marker: &str) -> Option<Vec<i32>> {
    matching(marker, Duration::from_secs(3), true)
}

/// Processes (other than the canary, and not zombies) whose command line contains
/// `marker`; polled for up to `wait` until there are none (`until_gone`) or some.
fn matching(marker: &str, wait: Duration, until_gone: bool) -> Option<Vec<i32>> {
    let deadline = Instant::now() + wait;
    loop {
        let found: Vec<i32> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                    let text = String::from_utf8_lossy(&c);
                    text.contains(marker) && !text.contains("ooo-escape-canary-")
                })
            })
            .filter(|pid| {
                // Zombies are gone already, just not reaped.
                std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                    s.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z'))
                })
            })
            .collect();
        if found.is_empty() == until_gone || Instant::now() > deadline {
            return if found.is_empty() { None } else { Some(found) };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// --- running the plugin and reading its report ---------------------------------------------

#[derive(Debug)]
struct Line {
    probe: String,
    class: String,
    escaped: bool,
    detail: String,
    works: Option<bool>,
}

struct Run {
    lines: Vec<Line>,
    stderr: String,
    status: std::process::ExitStatus,
    elapsed: Duration,
}

impl Run {
    fn get(&self, probe: &str) -> Option<&Line> {
        self.lines.iter().find(|l| l.probe == probe)
    }

    fn dump(&self) -> String {
        let mut s = String::new();
        for l in &self.lines {
            let mark = if l.escaped { "ESCAPED" } else { "blocked" };
            s.push_str(&format!("  {mark} {}/{}: {}\n", l.class, l.probe, l.detail));
        }
        s.push_str(&format!(
            "  status {:?}, {:.1?}; stderr:\n{}",
            self.status, self.elapsed, self.stderr
        ));
        s
    }
}

/// Spawn the confined command with `stdin`, read its report until it ends (at most
/// `limit`), and parse every line. Unparseable output is a failure.
fn run(mut command: Command, stdin: Stdio, limit: Duration, stderr_path: &Path) -> Run {
    let stderr = std::fs::File::create(stderr_path).unwrap();
    command.stdin(stdin).stdout(Stdio::piped()).stderr(stderr);
    let start = Instant::now();
    let mut child = command.spawn().expect("spawn the sandbox");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        let _ = tx.send(out);
    });
    let out = match rx.recv_timeout(limit) {
        Ok(out) => out,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            let partial = rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
            panic!(
                "the hostile plugin did not finish within {limit:?}; its output so far:\n{}",
                String::from_utf8_lossy(&partial)
            );
        }
    };
    let status = child.wait().unwrap();
    let elapsed = start.elapsed();
    let stderr = std::fs::read_to_string(stderr_path).unwrap_or_default();
    let lines = parse(&out, &stderr);
    Run { lines, stderr, status, elapsed }
}

fn parse(out: &[u8], stderr: &str) -> Vec<Line> {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not a probe line ({e}): {l:?}\nstderr:\n{stderr}"));
            let text =
                |k: &str| v[k].as_str().unwrap_or_else(|| panic!("no {k} in {l}")).to_owned();
            Line {
                probe: text("probe"),
                class: text("class"),
                escaped: v["escaped"].as_bool().unwrap_or_else(|| panic!("no escaped in {l}")),
                detail: text("detail"),
                works: v["works"].as_bool(),
            }
        })
        .collect()
}

/// The inside view: every expected probe ran (and the run finished), none escaped.
fn check_report(run: &Run, expected: &[&str], failures: &mut Vec<String>) {
    let seen: BTreeSet<&str> = run.lines.iter().map(|l| l.probe.as_str()).collect();
    let missing: Vec<&&str> = expected.iter().filter(|p| !seen.contains(**p)).collect();
    if !missing.is_empty() {
        failures.push(format!("probes that did not report: {missing:?}"));
    }
    if !seen.contains("done") {
        failures.push("the plugin did not finish (no `done` line)".into());
    }
    for l in run.lines.iter().filter(|l| l.escaped) {
        failures.push(format!("ESCAPED {}/{}: {}", l.class, l.probe, l.detail));
    }
    for l in run.lines.iter().filter(|l| l.works == Some(false)) {
        failures.push(format!("a granted permission does not work: {}: {}", l.probe, l.detail));
    }
}

fn finish(what: &str, run: &Run, failures: Vec<String>) {
    if std::env::var_os("OOO_ESCAPE_VERBOSE").is_some() {
        eprintln!("{what} (root: {}):\n{}", is_root(), run.dump());
    }
    assert!(
        failures.is_empty(),
        "{what} (running as root: {}): {} failure(s):\n- {}\n\nthe whole report:\n{}",
        is_root(),
        failures.len(),
        failures.join("\n- "),
        run.dump()
    );
}

fn hostile_run(ledger_mounted: bool, terminal: bool, network: Network, what: &str) {
    hostile_run_with(ledger_mounted, terminal, Terminal::None, network, what);
}

/// With `brokered`, the pty is the caller's controlling terminal and the policy hands it
/// over (`Terminal::Inherit`, as for an interactive plugin): the process may use it as
/// its terminal, so `controlling_tty` is granted there; keystroke injection never is.
fn hostile_run_with(
    ledger_mounted: bool,
    terminal: bool,
    brokered: Terminal,
    network: Network,
    what: &str,
) {
    let Some(sandbox) = sandbox() else { return };
    let mut t = Targets::new();
    let expect_env: &[&str] = if matches!(network, Network::Hosts(_)) { PROXY_VARS } else { &[] };
    let mut args = t.args("hostile", expect_env);
    let mut policy = t.policy(ledger_mounted, network);
    policy.terminal = brokered;
    let mut pty = None;
    let stdin = if terminal {
        let (master, slave, number) = openpty();
        args.push(format!("--pts={number}").into());
        pty = Some(master);
        Stdio::from(slave)
    } else {
        Stdio::null()
    };
    let mut confined =
        sandbox.command(policy, python().as_ref(), &args).expect("build the sandbox");
    let mut command = take_command(&mut confined);
    if brokered == Terminal::Inherit {
        // A login-like session whose controlling terminal is the pty (stdin).
        // SAFETY: setsid and ioctl between fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::setsid();
                if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let report = run(command, stdin, Duration::from_secs(60), &t.root.path().join("stderr"));
    let mut failures = Vec::new();
    check_report(&report, PROBES, &mut failures);
    if brokered == Terminal::Inherit {
        let granted = "ESCAPED terminal/controlling_tty:";
        failures.retain(|f| !f.starts_with(granted));
    }
    t.check_host(&mut failures);
    if let Some(master) = pty {
        let pushed = read_available(&master);
        if pushed.contains("ooo-escape-tiocsti") {
            failures.push(format!("keystrokes reached the terminal: {pushed:?}"));
        }
    }
    drop(confined);
    finish(what, &report, failures);
}

/// A pty pair: the master (close-on-exec), the slave for a child's stdin, its number.
fn openpty() -> (OwnedFd, OwnedFd, u32) {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two descriptors; the name and settings are not asked for.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    cloexec(master);
    cloexec(slave);
    let name = std::fs::read_link(format!("/proc/self/fd/{slave}")).unwrap();
    let number = name.file_name().unwrap().to_str().unwrap().parse().unwrap();
    // SAFETY: descriptors openpty just gave us.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave), number) }
}

fn read_available(fd: &OwnedFd) -> String {
    // SAFETY: making our own descriptor non-blocking.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    let mut file = std::fs::File::from(fd.try_clone().unwrap());
    let mut buf = [0u8; 4096];
    match file.read(&mut buf) {
        Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Err(_) => String::new(),
    }
}

/// The command to spawn, leaving `confined` (the proxy, the mount descriptors) alive
/// for as long as the caller keeps it.
fn take_command(confined: &mut ooo_sandbox::Confined) -> Command {
    std::mem::replace(&mut confined.command, Command::new("/nonexistent"))
}

/// A tiny HTTP server on the host's loopback: answers every request with its label and
/// path, and counts the connections it got.
struct HttpServer {
    port: u16,
    stop: Arc<AtomicBool>,
    hits: Arc<AtomicU32>,
}

impl HttpServer {
    fn start(label: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let hits = Arc::new(AtomicU32::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || serve(stream, label));
            }
        });
        Self { port, stop, hits }
    }

    fn hits(&self) -> u32 {
        self.hits.load(Ordering::SeqCst)
    }
}

fn serve(mut stream: TcpStream, label: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("?").to_owned();
    let body = format!("{label}: {path}");
    let _ = write!(
        stream,
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

// --- the tests -------------------------------------------------------------------------------

#[test]
fn the_probe_list_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("hostile.py");
    std::fs::write(&script, HOSTILE).unwrap();
    let out = Command::new(python()).arg(&script).arg("--list").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Vec<String> =
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
    let listed: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
    let known: BTreeSet<&str> = PROBES.iter().copied().collect();
    assert_eq!(listed, known, "hostile.py's probes and PROBES differ");
}

/// No grants but a writable directory; the ledger's directory mounted read-only.
#[test]
fn a_hostile_plugin_escapes_nothing() {
    hostile_run(true, false, Network::None, "no grants, ledger directory read-only");
}

/// The ledger's directory not mounted at all, and the caller's terminal as stdin.
#[test]
fn a_hostile_plugin_with_a_terminal_escapes_nothing() {
    hostile_run(false, true, Network::None, "no grants, a pty as stdin, ledger not mounted");
}

/// An interactive plugin: the caller's terminal brokered to it (`Terminal::Inherit`, no
/// new session). It uses the terminal, but injects nothing and reaches nothing else.
#[test]
fn a_hostile_plugin_given_the_terminal_escapes_nothing() {
    hostile_run_with(false, true, Terminal::Inherit, Network::None, "the terminal brokered");
}

/// The whole network granted: files, processes, IPC and the host's abstract sockets stay
/// shut (network probes that reach out are expected to get through here).
#[test]
fn a_hostile_plugin_with_the_network_escapes_nothing_else() {
    let Some(sandbox) = sandbox() else { return };
    let t = Targets::new();
    let args = t.args("hostile", &[]);
    let policy = t.policy(false, Network::All);
    let mut confined =
        sandbox.command(policy, python().as_ref(), &args).expect("build the sandbox");
    let command = take_command(&mut confined);
    let report =
        run(command, Stdio::null(), Duration::from_secs(60), &t.root.path().join("stderr"));
    let mut failures = Vec::new();
    check_report(&report, PROBES, &mut failures);
    failures.retain(|f| {
        !f.starts_with("ESCAPED network/") || f.starts_with("ESCAPED network/abstract_unix")
    });
    drop(confined);
    finish("the whole network", &report, failures);
}

/// A host allowlist (the proxy and its bridge are in the sandbox too): everything else
/// stays shut.
#[test]
fn a_hostile_plugin_with_a_host_allowlist_escapes_nothing() {
    let server = HttpServer::start("hello from the host");
    let rule = HostRule::parse(&format!("127.0.0.1:{}", server.port)).unwrap();
    hostile_run(true, false, Network::Hosts(vec![rule]), "a host allowlist");
}

/// kill(-1, SIGKILL) inside reaches only the sandbox's own processes.
#[test]
fn kill_minus_one_hits_only_the_sandbox() {
    let Some(sandbox) = sandbox() else { return };
    let mut t = Targets::new();
    let args = t.args("kill-all", &[]);
    let mut confined =
        sandbox.command(t.policy(false, Network::None), python().as_ref(), &args).unwrap();
    let command = take_command(&mut confined);
    let report =
        run(command, Stdio::null(), Duration::from_secs(30), &t.root.path().join("stderr"));
    let mut failures = Vec::new();
    check_report(&report, &["kill_all"], &mut failures);
    std::thread::sleep(Duration::from_millis(100));
    if !t.canary.alive() {
        failures.push("kill(-1) inside the sandbox killed the canary outside".into());
    }
    finish("kill(-1, SIGKILL)", &report, failures);
}

/// A detached child holding stdout does not stretch a 2 s timeout: killing the sandbox
/// at 2 s ends its output within 5 s and leaves nothing running.
#[test]
fn a_child_holding_stdout_does_not_outlive_the_timeout() {
    let Some(sandbox) = sandbox() else { return };
    let t = Targets::new();
    let args = t.args("hold", &[]);
    let mut confined =
        sandbox.command(t.policy(false, Network::None), python().as_ref(), &args).unwrap();
    let mut command = take_command(&mut confined);
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
    let start = Instant::now();
    let mut child = command.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        let _ = tx.send((out, Instant::now()));
    });
    std::thread::sleep(Duration::from_secs(2).saturating_sub(start.elapsed()));
    // The caller's timeout: kill what it spawned.
    child.kill().unwrap();
    child.wait().unwrap();
    let (out, eof) = rx
        .recv_timeout(Duration::from_secs(5).saturating_sub(start.elapsed()))
        .unwrap_or_else(|_| {
            panic!(
                "the output stayed open more than 5 s after the start (killed at 2 s): something outlived the sandbox; alive: {:?}",
                survivors(&t.nonce)
            )
        });
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("\"hold\""), "the plugin never started holding: {text:?}");
    assert!(eof.duration_since(start) < Duration::from_secs(5));
    if let Some(pids) = survivors(&format!("ooo-escape-orphan-{}", t.nonce)) {
        panic!("the holding child outlived the timeout: {pids:?}");
    }
}

/// Granted permissions open exactly what they declare: the writable directory is
/// written on the host, the readable one is readable and nothing more, the environment
/// is exactly the declared one (plus the proxy's variables), and the proxy lets through
/// the allowed host and port only, recording both decisions.
#[test]
fn granted_permissions_open_exactly_what_they_declare() {
    let Some(sandbox) = sandbox() else { return };
    let t = Targets::new();
    let server = HttpServer::start("hello from the host");
    let denied = HttpServer::start("DENIED-SERVER");
    let denied_port = denied.port;
    let readable = t.root.path().join("readable");
    std::fs::create_dir(&readable).unwrap();
    std::fs::write(readable.join("readable.txt"), format!("declared data {}", t.nonce)).unwrap();
    let rule = HostRule::parse(&format!("127.0.0.1:{}", server.port)).unwrap();
    let mut policy = t.policy(false, Network::Hosts(vec![rule]));
    policy.read.push(readable.clone());
    let mut args = t.args("granted", PROXY_VARS);
    args.push(format!("--read-dir={}", readable.display()).into());
    args.push(format!("--http-port={}", server.port).into());
    args.push(format!("--denied-port={denied_port}").into());
    let mut confined = sandbox.command(policy, python().as_ref(), &args).unwrap();
    let command = take_command(&mut confined);
    let report =
        run(command, Stdio::null(), Duration::from_secs(30), &t.root.path().join("stderr"));
    let mut failures = Vec::new();
    let expected = [
        "granted_write",
        "granted_read",
        "granted_read_is_read_only",
        "environment",
        "granted_proxy_env",
        "granted_http_allowed",
        "granted_http_denied",
        "granted_http_direct",
        "granted_connect_allowed",
        "granted_connect_denied",
        "proxy_smuggling",
    ];
    check_report(&report, &expected, &mut failures);
    match std::fs::read_to_string(t.work.join(format!("granted-{}.txt", t.nonce))) {
        Ok(text) if text == format!("written by the sandbox {}", t.nonce) => {}
        other => failures.push(format!("the writable directory's file on the host: {other:?}")),
    }
    let names: Vec<String> = std::fs::read_dir(&readable)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    if names != ["readable.txt"] {
        failures.push(format!("the read-only directory changed: {names:?}"));
    }
    if let Some(l) = report.get("granted_read")
        && !l.detail.contains(&t.nonce)
    {
        failures.push(format!("the readable file read wrong: {}", l.detail));
    }
    if denied.hits() != 0 {
        failures.push(format!("the refused port was connected to {} time(s)", denied.hits()));
    }
    let decisions = confined.decisions();
    let allowed =
        decisions.iter().any(|d| d.port == server.port && d.host == "127.0.0.1" && d.allowed);
    let refused = decisions.iter().any(|d| d.port == denied_port && !d.allowed);
    if !allowed || !refused {
        failures.push(format!(
            "the proxy's decisions should hold an allowed 127.0.0.1:{} and a refused :{denied_port}: {decisions:?}",
            server.port
        ));
    }
    if decisions.iter().any(|d| d.allowed && d.port != server.port) {
        failures.push(format!("the proxy allowed another port: {decisions:?}"));
    }
    drop(confined);
    finish("granted permissions", &report, failures);
}

/// The suite is not blind: where the sandbox does open a door (`Network::All` shares the
/// host's network) the probes and the host-side checks see it, and a process started
/// outside any sandbox is found by the orphan check.
#[test]
fn the_suite_sees_an_open_door() {
    let Some(sandbox) = sandbox() else { return };
    let mut t = Targets::new();
    let mut args = t.args("hostile", &[]);
    args.push("--only=tcp_host_loopback,udp_host_loopback,net_interfaces".into());
    let mut confined =
        sandbox.command(t.policy(false, Network::All), python().as_ref(), &args).unwrap();
    let command = take_command(&mut confined);
    let report =
        run(command, Stdio::null(), Duration::from_secs(30), &t.root.path().join("stderr"));
    let escaped = |p: &str| report.get(p).is_some_and(|l| l.escaped);
    assert!(
        escaped("tcp_host_loopback"),
        "with the host's network the TCP probe must connect:\n{}",
        report.dump()
    );
    let mut failures = Vec::new();
    t.check_host(&mut failures);
    let text = failures.join("\n");
    assert!(
        text.contains("the TCP listener was reached"),
        "the host check must see the TCP connection: {text}"
    );
    assert!(
        text.contains("the UDP listener got a datagram"),
        "the host check must see the datagram: {text}"
    );
    // An orphan left by a process outside any sandbox is found (and then killed).
    let direct = Command::new(python())
        .arg(&t.script)
        .args(["--only=orphan_setsid", &format!("--nonce={}", t.nonce)])
        .arg(format!("--write-dir={}", t.work.display()))
        .current_dir(&t.work)
        .output()
        .unwrap();
    assert!(direct.status.success(), "{}", String::from_utf8_lossy(&direct.stderr));
    let marker = format!("ooo-escape-orphan-{}", t.nonce);
    let found = matching(&marker, Duration::from_secs(3), false);
    assert!(found.is_some(), "the orphan check must find an orphan left outside a sandbox");
    // (Targets' drop kills it.)
}

/// The symlink attack of issue 13: the workspace (mounted read-only) holds a planted
/// link `.ouroboros/plugin-artifacts/<name> -> ~/.ssh`. The caller opened the real
/// output directory itself and hands the descriptor over (`write_fds`): the link's target
/// stays untouched, and the plugin either writes into the opened directory or does not
/// run at all.
#[test]
fn a_planted_link_does_not_redirect_the_output_directory() {
    let Some(sandbox) = sandbox() else { return };
    let root = tempfile::Builder::new().prefix("ooo-escape-link-").tempdir().unwrap();
    let ssh = root.path().join("home/.ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::write(ssh.join("id_ed25519"), "CALLER-SECRET-KEY\n").unwrap();
    let workspace = root.path().join("workspace");
    let artifacts = workspace.join(".ouroboros/plugin-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let planted = artifacts.join("hostile");
    std::os::unix::fs::symlink(&ssh, &planted).unwrap();
    let real = root.path().join("state/hostile-output");
    std::fs::create_dir_all(&real).unwrap();
    let c = std::ffi::CString::new(real.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: opening a directory we created; the result is checked.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    assert!(fd >= 0, "open {}: {}", real.display(), std::io::Error::last_os_error());
    // SAFETY: a descriptor we just opened.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let policy = Policy {
        read: vec![workspace.clone()],
        write_fds: vec![(fd, planted.clone())],
        cwd: "/tmp".into(),
        env: declared_env(),
        limits: LIMITS,
        ..Policy::default()
    };
    let script = r#"echo written-by-the-plugin > "$1/out.txt"; ls -a "$1""#;
    let args: Vec<OsString> = vec!["-c".into(), script.into(), "sh".into(), planted.clone().into()];
    let mut confined = sandbox.command(policy, "/bin/sh".as_ref(), &args).unwrap();
    let out = take_command(&mut confined).stdin(Stdio::null()).output().unwrap();
    let report = format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let in_ssh: Vec<String> = std::fs::read_dir(&ssh)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(in_ssh, ["id_ed25519"], "the link's target was written: {report}");
    // Failing closed (bwrap refuses to mount over the link) is as good as landing in the
    // right place; writing through the link is not.
    if out.status.success() {
        assert_eq!(
            std::fs::read_to_string(real.join("out.txt")).ok().as_deref(),
            Some("written-by-the-plugin\n"),
            "the output must land in the directory the caller opened: {report}"
        );
    } else {
        eprintln!("note: the sandbox refused to mount over the planted link: {report}");
    }
    assert!(std::fs::symlink_metadata(&planted).unwrap().file_type().is_symlink());
}
