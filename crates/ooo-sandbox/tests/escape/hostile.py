#!/usr/bin/env python3
"""A hostile plugin: tries every way out of the ooo sandbox it knows and reports each.

One JSON line per probe on stdout:
    {"probe": name, "class": cls, "escaped": bool, "detail": str}
Lines of the `granted` mode also carry "works": bool (a declared permission that must work).

A probe that cannot even be attempted says why in `detail` and is `escaped: false`. Only the
errors a probe expects (OSError and its errno) count as "blocked"; any other exception is
reported as `escaped: true` with the traceback, so a broken probe fails the suite instead of
passing silently. Standard library and ctypes only (Python >= 3.8).

Modes (`--mode`):
    hostile   every probe (default)
    kill-all  kill(-1, SIGKILL) only: must hit nothing outside the sandbox
    hold      leave a setsid'd child holding stdout, then sleep: the caller's timeout must
              still return promptly and leave nothing running
    granted   the permissions the caller declared (write dir, read dir, env, proxy) work
"""

import argparse
import ctypes
import errno
import json
import mmap
import os
import platform
import signal
import socket
import stat
import struct
import sys
import time
import traceback

# Descriptors open when Python handed over to this script: before this script opens any.
try:
    _LISTING_FD = os.open("/", os.O_RDONLY)  # the number listdir's own descriptor will get
    os.close(_LISTING_FD)
    _START_FDS = sorted(int(n) for n in os.listdir("/proc/self/fd") if int(n) != _LISTING_FD)
except OSError as _e:
    _START_FDS = None
    _START_FDS_ERROR = _e

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

ARCH = platform.machine()
SYSCALLS = {
    # name: (x86_64, aarch64)
    "add_key": (248, 217),
    "keyctl": (250, 219),
    "io_uring_setup": (425, 425),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "userfaultfd": (323, 282),
    "open_by_handle_at": (304, 265),
    "name_to_handle_at": (303, 264),
    "process_vm_readv": (310, 270),
    "pidfd_open": (434, 434),
    "pidfd_getfd": (438, 438),
}


def nr(name):
    pair = SYSCALLS[name]
    if ARCH in ("x86_64", "amd64"):
        return pair[0]
    if ARCH in ("aarch64", "arm64"):
        return pair[1]
    raise Unattemptable("no syscall table for " + ARCH)


class Unattemptable(Exception):
    """The probe cannot be tried here (not an escape, not a block): say why."""


def ename(num):
    return errno.errorcode.get(num, str(num))


def describe(e):
    if isinstance(e, OSError) and e.errno is not None:
        return "%s(%s)" % (type(e).__name__, ename(e.errno))
    return repr(e)


def sys_call(name, *args):
    """Raw syscall; returns the result or raises OSError with the errno."""
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(nr(name)), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (name, os.strerror(err)))
    return ret


def c_call(fn, *args):
    ctypes.set_errno(0)
    ret = fn(*args)
    if ret == -1 or (isinstance(ret, int) and ret < 0 and fn.restype in (None, ctypes.c_int, ctypes.c_long)):
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


OUT = sys.stdout


def emit(probe, cls, escaped, detail, **extra):
    line = {"probe": probe, "class": cls, "escaped": bool(escaped), "detail": detail}
    line.update(extra)
    OUT.write(json.dumps(line) + "\n")
    OUT.flush()


PROBES = []


def probe(name, cls):
    def register(fn):
        PROBES.append((name, cls, fn))
        return fn

    return register


# Probes that may be ended by the memory limit (a cgroup's OOM killer): they run in a
# child, so the script goes on and the kill itself is the report.
IN_CHILD = {"memory_private", "memory_shared", "memory_tmpfs"}


def probe_in_child(fn, args):
    """Run fn(args) in a forked child; its result comes back through a pipe. A child
    killed by SIGKILL was stopped by the memory limit: blocked."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            result = list(fn(args))
        except Unattemptable as e:
            result = ["unattemptable", str(e)]
        except Exception as e:  # noqa: BLE001 - reported by the parent
            result = ["crashed", "%s\n%s" % (describe(e), traceback.format_exc())]
        os.write(w, json.dumps(result).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    # A killed child leaves its fill files behind (tmpfs is memory): remove them.
    for d in ("/tmp", "/dev/shm", "/dev"):
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            if n.startswith("ooo-escape-fill-"):
                try:
                    os.unlink(os.path.join(d, n))
                except OSError:
                    pass
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL and not data:
        return (False, "killed by SIGKILL (the memory limit's OOM killer) before it got through")
    result = json.loads(data or b'["crashed", "no result"]')
    if result[0] == "unattemptable":
        raise Unattemptable(result[1])
    if result[0] == "crashed":
        raise RuntimeError(result[1])
    return tuple(result)


def run_probe(name, cls, fn, args):
    try:
        result = probe_in_child(fn, args) if name in IN_CHILD else fn(args)
    except Unattemptable as e:
        emit(name, cls, False, "not attempted: %s" % e)
        return
    except Exception as e:  # noqa: BLE001 - an unexpected error must fail the suite
        emit(name, cls, True, "probe crashed (not counted as blocked): %s\n%s" % (describe(e), traceback.format_exc()))
        return
    escaped, detail = result[0], result[1]
    extra = result[2] if len(result) > 2 else {}
    emit(name, cls, escaped, detail, **extra)


class Attempts:
    """Several attempts in one probe: escaped when any attempt got through."""

    def __init__(self):
        self.escaped = False
        self.notes = []

    def ok(self, what, note="succeeded"):
        self.escaped = True
        self.notes.append("%s: %s" % (what, note))

    def blocked(self, what, e):
        self.notes.append("%s: %s" % (what, describe(e)))

    def note(self, what):
        self.notes.append(what)

    def attempt(self, what, fn, expected=(OSError,)):
        try:
            value = fn()
        except expected as e:
            self.blocked(what, e)
            return None
        self.ok(what)
        return value if value is not None else True

    def result(self, extra=None):
        return (self.escaped, "; ".join(self.notes), extra or {})


# --- helpers -----------------------------------------------------------------------------


def visible_pids():
    return sorted(int(n) for n in os.listdir("/proc") if n.isdigit())


def read_proc(pid, leaf):
    try:
        with open("/proc/%d/%s" % (pid, leaf), "rb") as f:
            return f.read()
    except OSError:
        return None


def own_descendants():
    """Pids of this process and its descendants (by PPid in /proc)."""
    parents = {}
    for pid in visible_pids():
        status = read_proc(pid, "status")
        if status is None:
            continue
        for line in status.decode(errors="replace").splitlines():
            if line.startswith("PPid:"):
                parents[pid] = int(line.split()[1])
    mine = {os.getpid()}
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in mine and pid not in mine:
                mine.add(pid)
                changed = True
    return mine


def pid1_is_sandbox_init():
    """Whether pid 1 here is the sandbox's own init (bwrap's reaper or ooo-sandbox-init or us)."""
    if os.getpid() == 1:
        return True, "we are pid 1"
    cmdline = read_proc(1, "cmdline")
    if cmdline is None:
        return False, "cannot read /proc/1/cmdline"
    argv0 = os.path.basename(cmdline.split(b"\0")[0].decode(errors="replace"))
    ok = argv0 in ("bwrap", "ooo-sandbox-init") or argv0.startswith("ooo-sandbox")
    return ok, "pid 1 is %r" % cmdline.replace(b"\0", b" ").decode(errors="replace")[:120]


def host_process(pid, marker):
    """Whether `pid` as seen here is the host process whose argv[0] contains `marker` (argv[0]
    only: our own command line carries the markers as arguments)."""
    cmdline = read_proc(pid, "cmdline")
    return cmdline is not None and marker is not None and marker.encode() in cmdline.split(b"\0")[0]


def interfaces():
    try:
        return [name for _, name in socket.if_nameindex()]
    except OSError:
        with open("/proc/net/dev") as f:
            return [line.split(":")[0].strip() for line in f.readlines()[2:]]


def mountinfo_for(path):
    """The mountinfo line of the mount holding `path` (longest mount point prefix)."""
    path = os.path.realpath(path)
    best = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].replace("\\040", " ")
            if path == point or path.startswith(point.rstrip("/") + "/"):
                if best is None or len(point) >= len(best[0]):
                    best = (point, line.strip())
    return best


def unique(args, leaf):
    return "%s-%s-%d" % (leaf, args.nonce, os.getpid())


# --- environment and policy (run first: later probes touch os.environ) ----------------------


@probe("environment", "policy")
def p_environment(args):
    names = sorted(os.environ)
    if args.expect_env is None:
        return False, "variables: %s" % json.dumps(dict(os.environ), sort_keys=True)
    expected = sorted(n for n in args.expect_env.split(",") if n)
    # bwrap sets PWD after changing directory; it says nothing the process cannot see itself.
    benign = ["PWD"] if os.environ.get("PWD") == os.getcwd() else []
    extra = [n for n in names if n not in expected and n not in benign]
    missing = [n for n in expected if n not in names]
    return bool(extra), "extra=%s missing=%s all=%s" % (extra, missing, json.dumps(dict(os.environ), sort_keys=True))


@probe("proc_environ_leak", "policy")
def p_proc_environ(args):
    """Another process here (bwrap's pid 1, an init helper) still carrying the caller's env."""
    ours = set(k.encode() + b"=" + v.encode() for k, v in os.environ.items())
    a = Attempts()
    for pid in visible_pids():
        if pid == os.getpid():
            continue
        data = read_proc(pid, "environ")
        if data is None:
            a.note("pid %d: unreadable" % pid)
            continue
        foreign = sorted(set(e for e in data.split(b"\0") if e) - ours)
        if foreign:
            a.ok("pid %d" % pid, "carries variables we were not given: %s" % [e.split(b"=")[0].decode(errors="replace") for e in foreign][:20])
        else:
            a.note("pid %d: nothing foreign" % pid)
    return a.result()


@probe("capabilities", "policy")
def p_capabilities(args):
    with open("/proc/self/status") as f:
        caps = {l.split(":")[0]: l.split(":")[1].strip() for l in f if l.startswith("Cap")}
    held = {k: v for k, v in caps.items() if int(v, 16) != 0}
    return bool(held), "nonzero: %s (all: %s)" % (held, caps)


@probe("no_new_privs", "policy")
def p_nnp(args):
    with open("/proc/self/status") as f:
        nnp = [l.split()[1] for l in f if l.startswith("NoNewPrivs:")]
    return nnp != ["1"], "NoNewPrivs=%s" % nnp


@probe("seccomp_active", "policy")
def p_seccomp(args):
    with open("/proc/self/status") as f:
        mode = [l.split()[1] for l in f if l.startswith("Seccomp:")]
    return mode != ["2"], "Seccomp=%s (2 = filter)" % mode


@probe("landlock_active", "policy")
def p_landlock(args):
    """The sandbox's root is a writable tmpfs at the mount level; only Landlock keeps a
    process from writing where the policy did not say it may."""
    path = "/" + unique(args, "landlock")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        return False, "create %s: %s" % (path, describe(e))
    os.close(fd)
    os.unlink(path)
    mount = mountinfo_for("/")
    return True, "created %s (mount: %s)" % (path, mount[1] if mount else None)


@probe("rlimit_raise", "resources")
def p_rlimit_raise(args):
    import resource

    a = Attempts()
    for name in ("RLIMIT_NPROC", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_NOFILE"):
        which = getattr(resource, name)
        soft, hard = resource.getrlimit(which)
        if hard == resource.RLIM_INFINITY:
            a.ok(name, "hard limit is unlimited (soft %s)" % soft)
            continue
        a.note("%s=%s/%s" % (name, soft, hard))
        # Python reports EPERM from setrlimit as ValueError("not allowed to raise maximum limit").
        a.attempt("raise %s hard limit" % name, lambda: resource.setrlimit(which, (hard + 1, hard + 1)), (OSError, ValueError))
    return a.result()


# --- network -------------------------------------------------------------------------------


@probe("net_interfaces", "network")
def p_interfaces(args):
    names = interfaces()
    others = [n for n in names if n != "lo"]
    return bool(others), "interfaces: %s" % names


@probe("udp_public", "network")
def p_udp_public(args):
    a = Attempts()
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError as e:
        a.blocked("socket(AF_INET, SOCK_DGRAM)", e)
        return a.result()
    with s:
        a.attempt("sendto 1.1.1.1:53", lambda: s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01", ("1.1.1.1", 53)))
    return a.result()


@probe("udp_host_loopback", "network")
def p_udp_loopback(args):
    if not args.udp_port:
        raise Unattemptable("no --udp-port")
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError as e:
        return False, "socket: %s" % describe(e)
    with s:
        s.settimeout(0.3)
        try:
            s.sendto(("hostile " + args.nonce).encode(), ("127.0.0.1", args.udp_port))
        except OSError as e:
            return False, "sendto: %s" % describe(e)
        try:
            data = s.recv(100)
        except (socket.timeout, OSError) as e:
            return False, "sent (a sandbox has its own loopback; the host checks its listener); no echo: %s" % describe(e)
        return True, "the host's UDP listener echoed %r" % data


@probe("dns_resolve", "network")
def p_dns(args):
    os.environ.setdefault("RES_OPTIONS", "timeout:1 attempts:1")
    a = Attempts()
    for name in ("example.com", "one.one.one.one"):
        try:
            infos = socket.getaddrinfo(name, 443, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, OSError) as e:
            a.blocked("resolve %s" % name, e)
            continue
        a.ok("resolve %s" % name, "-> %s" % sorted(set(i[4][0] for i in infos)))
    return a.result()


def tcp_connect(a, what, family, proto, addr, timeout=1.0):
    try:
        s = socket.socket(family, socket.SOCK_STREAM, proto)
    except OSError as e:
        a.blocked("%s socket" % what, e)
        return
    with s:
        s.settimeout(timeout)
        try:
            s.connect(addr)
        except (socket.timeout, OSError) as e:
            a.blocked("%s connect %s" % (what, addr), e)
            return
        a.ok("%s connect %s" % (what, addr), "connected")


@probe("tcp_host_loopback", "network")
def p_tcp_loopback(args):
    if not args.tcp_port:
        raise Unattemptable("no --tcp-port")
    a = Attempts()
    tcp_connect(a, "tcp", socket.AF_INET, 0, ("127.0.0.1", args.tcp_port))
    return a.result()


@probe("tcp_public", "network")
def p_tcp_public(args):
    a = Attempts()
    tcp_connect(a, "tcp", socket.AF_INET, 0, ("1.1.1.1", 443))
    return a.result()


@probe("tcp_fastopen", "network")
def p_tfo(args):
    a = Attempts()
    msg_fastopen = getattr(socket, "MSG_FASTOPEN", 0x20000000)
    targets = [("1.1.1.1", 80)]
    if args.tcp_port:
        targets.append(("127.0.0.1", args.tcp_port))
    for addr in targets:
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as e:
            a.blocked("socket", e)
            break
        with s:
            s.settimeout(1.0)
            try:
                n = s.sendto(b"GET / HTTP/1.0\r\n\r\n", msg_fastopen, addr)
            except BlockingIOError:
                # The SYN is out (a socket with a timeout is non-blocking): did it connect?
                import select

                _, writable, _ = select.select([], [s], [], 1.0)
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if writable and err == 0:
                    a.ok("sendto(MSG_FASTOPEN) %s" % (addr,), "connected")
                else:
                    a.blocked("sendto(MSG_FASTOPEN) %s" % (addr,), OSError(err or errno.ETIMEDOUT, "connect"))
                continue
            except (socket.timeout, OSError) as e:
                a.blocked("sendto(MSG_FASTOPEN) %s" % (addr,), e)
                continue
            # A TFO sendto on a blocking socket returns once connected.
            a.ok("sendto(MSG_FASTOPEN) %s" % (addr,), "sent %d bytes" % n)
    return a.result()


@probe("mptcp", "network")
def p_mptcp(args):
    a = Attempts()
    targets = [("1.1.1.1", 443)]
    if args.tcp_port:
        targets.append(("127.0.0.1", args.tcp_port))
    for addr in targets:
        tcp_connect(a, "mptcp", socket.AF_INET, 262, addr)
    return a.result()


@probe("listen_without_bind", "network")
def p_listen(args):
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    except OSError as e:
        return False, "socket: %s" % describe(e)
    with s:
        try:
            s.listen(1)
        except OSError as e:
            return False, "listen: %s" % describe(e)
        port = s.getsockname()[1]
        others = [n for n in interfaces() if n != "lo"]
        # Listening in a namespace with only its own loopback reaches nobody.
        return bool(others), "listening on autobound port %d; interfaces besides lo: %s" % (port, others)


@probe("raw_socket", "network")
def p_raw(args):
    a = Attempts()
    for fam, proto, what in ((socket.AF_INET, socket.IPPROTO_ICMP, "AF_INET SOCK_RAW"), (socket.AF_INET6, socket.IPPROTO_ICMPV6, "AF_INET6 SOCK_RAW")):
        s = a.attempt(what, lambda: socket.socket(fam, socket.SOCK_RAW, proto))
        if s:
            s.close()
    return a.result()


@probe("packet_socket", "network")
def p_packet(args):
    a = Attempts()
    s = a.attempt("AF_PACKET SOCK_RAW", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003)))
    if s:
        s.close()
    return a.result()


@probe("netlink_socket", "network")
def p_netlink(args):
    a = Attempts()
    for proto, what in ((0, "NETLINK_ROUTE"), (9, "NETLINK_AUDIT"), (15, "NETLINK_KOBJECT_UEVENT"), (4, "NETLINK_SOCK_DIAG")):
        s = a.attempt(what, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto))
        if s:
            s.close()
    return a.result()


def unix_connect(a, what, addr):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError as e:
        a.blocked("socket(AF_UNIX)", e)
        return
    with s:
        s.settimeout(1.0)
        try:
            s.connect(addr)
        except (socket.timeout, OSError) as e:
            a.blocked(what, e)
            return
        try:
            s.sendall(("hostile " + str(os.getpid())).encode())
        except OSError:
            pass
        a.ok(what, "connected")


@probe("abstract_unix", "network")
def p_abstract(args):
    if not args.abstract:
        raise Unattemptable("no --abstract")
    a = Attempts()
    unix_connect(a, "connect @%s" % args.abstract, "\0" + args.abstract)
    return a.result()


@probe("pathname_unix", "network")
def p_pathname(args):
    if not args.unix_path:
        raise Unattemptable("no --unix-path")
    a = Attempts()
    unix_connect(a, "connect %s" % args.unix_path, args.unix_path)
    return a.result()


@probe("host_sockets", "network")
def p_host_sockets(args):
    """Well-known daemons' sockets (D-Bus, Docker, systemd, X11): none may be reachable."""
    import glob

    a = Attempts()
    paths = ["/run/dbus/system_bus_socket", "/var/run/dbus/system_bus_socket", "/var/run/docker.sock", "/run/docker.sock",
             "/run/containerd/containerd.sock", "/run/systemd/private", "/run/systemd/journal/socket", "/tmp/.X11-unix/X0"]
    paths += glob.glob("/run/user/*/bus") + glob.glob("/run/user/*/wayland-*")
    found = [p for p in paths if os.path.exists(p)]
    for p in found:
        unix_connect(a, "connect %s" % p, p)
    unix_connect(a, "connect @/tmp/.X11-unix/X0", "\0/tmp/.X11-unix/X0")
    a.note("present: %s" % found)
    return a.result()


# --- files ---------------------------------------------------------------------------------


def metadata_attempts(path):
    a = Attempts()
    try:
        st = os.stat(path)
        a.note("visible (mode %o)" % stat.S_IMODE(st.st_mode))
    except OSError as e:
        a.note("stat: %s" % describe(e))
        st = None
    a.attempt("chmod", lambda: os.chmod(path, 0o777))
    a.attempt("chown", lambda: os.chown(path, os.getuid(), os.getgid()))
    a.attempt("utime", lambda: os.utime(path, (0, 0)))
    a.attempt("setxattr", lambda: os.setxattr(path, "user.ooo-escape", b"1"))
    a.attempt("truncate", lambda: os.truncate(path, 0))
    return a


def write_attempts(path, a=None):
    a = a or Attempts()

    def append():
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        os.close(fd)

    a.attempt("open for append", append)
    a.attempt("unlink", lambda: os.unlink(path))
    a.attempt("rename", lambda: os.rename(path, path + ".moved"))
    return a


@probe("ledger_tamper", "files")
def p_ledger(args):
    if not args.ledger:
        raise Unattemptable("no --ledger")
    return write_attempts(args.ledger, metadata_attempts(args.ledger)).result()


@probe("lockfile_tamper", "files")
def p_lockfile(args):
    if not args.lockfile:
        raise Unattemptable("no --lockfile")
    return write_attempts(args.lockfile, metadata_attempts(args.lockfile)).result()


@probe("lockfile_flock", "files")
def p_flock(args):
    """Holding ooo's lock (flock only needs a read descriptor) would stall every ooo call."""
    import fcntl

    if not args.lockfile:
        raise Unattemptable("no --lockfile")
    try:
        fd = os.open(args.lockfile, os.O_RDONLY)
    except OSError as e:
        return False, "open: %s" % describe(e)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        return False, "the lockfile is hidden (mode %o in its place, not the file)" % mode
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        return False, "flock: %s" % describe(e)
    finally:
        os.close(fd)
    return True, "took an exclusive flock on the caller's lockfile"


@probe("secret_read", "files")
def p_secret_read(args):
    if not args.secret:
        raise Unattemptable("no --secret")
    a = Attempts()

    def read():
        with open(args.secret, "rb") as f:
            return f.read(64) or b"(empty)"

    data = a.attempt("read %s" % args.secret, read)
    if data:
        a.notes[-1] += " got %r" % data[:32]
    a.attempt("list %s" % os.path.dirname(args.secret), lambda: os.listdir(os.path.dirname(args.secret)))
    return a.result()


@probe("secret_tamper", "files")
def p_secret_tamper(args):
    if not args.secret:
        raise Unattemptable("no --secret")
    return metadata_attempts(args.secret).result()


@probe("etc_secrets", "files")
def p_etc_secrets(args):
    import glob

    a = Attempts()
    paths = ["/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/root/.ssh", "/root/.bash_history"] + glob.glob("/etc/ssh/ssh_host_*_key")
    for p in paths:
        if not os.path.lexists(p):
            continue
        if os.path.isdir(p):
            a.attempt("list %s" % p, lambda: os.listdir(p))
        else:
            a.attempt("read %s" % p, lambda: open(p, "rb").close())
    if not a.notes:
        a.note("none present")
    return a.result()


@probe("setuid_file", "files")
def p_setuid(args):
    if not args.write_dir:
        raise Unattemptable("no --write-dir")
    a = Attempts()
    mount = mountinfo_for(args.write_dir)
    a.note("mount: %s" % (mount[1] if mount else None))
    for bits, what in ((0o4755, "setuid"), (0o2755, "setgid")):
        path = os.path.join(args.write_dir, unique(args, what))
        try:
            with open(path, "wb") as f:
                f.write(b"#!/bin/sh\nid\n")
        except OSError as e:
            a.blocked("create %s" % path, e)
            continue
        try:
            os.chmod(path, bits)
            mode = os.stat(path).st_mode
            if mode & (stat.S_ISUID | stat.S_ISGID):
                a.ok("chmod %o" % bits, "mode is now %o" % stat.S_IMODE(mode))
            else:
                a.note("chmod %o: accepted but the bit was dropped (%o)" % (bits, stat.S_IMODE(mode)))
        except OSError as e:
            a.blocked("chmod %o" % bits, e)
        finally:
            try:
                os.unlink(path)
            except OSError:
                pass
    return a.result()


@probe("writable_mount_flags", "files")
def p_mount_flags(args):
    if not args.write_dir:
        raise Unattemptable("no --write-dir")
    mount = mountinfo_for(args.write_dir)
    if mount is None:
        return True, "no mount found for %s" % args.write_dir
    fields = mount[1].split()
    options = set(fields[5].split(","))
    missing = [o for o in ("nosuid", "nodev") if o not in options]
    return bool(missing), "mount options %s; missing %s" % (sorted(options), missing)


@probe("device_node", "files")
def p_mknod(args):
    a = Attempts()
    for d in [args.write_dir, "/tmp"]:
        if not d:
            continue
        path = os.path.join(d, unique(args, "null"))
        made = a.attempt("mknod c 1 3 in %s" % d, lambda: os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3)))
        if made:
            os.unlink(path)
    return a.result()


@probe("inotify_home", "files")
def p_inotify(args):
    if not args.home:
        raise Unattemptable("no --home")
    a = Attempts()
    fd = libc.inotify_init1(os.O_CLOEXEC)
    if fd < 0:
        e = OSError(ctypes.get_errno(), "inotify_init1")
        a.blocked("inotify_init1", e)
        return a.result()
    try:
        for path in [args.home] + ([os.path.dirname(args.secret)] if args.secret else []):
            wd = libc.inotify_add_watch(fd, path.encode(), ctypes.c_uint32(0x00000fff))
            if wd >= 0:
                a.ok("inotify_add_watch %s" % path, "watch %d" % wd)
            else:
                a.blocked("inotify_add_watch %s" % path, OSError(ctypes.get_errno(), ""))
    finally:
        os.close(fd)
    return a.result()


@probe("write_outside", "files")
def p_write_outside(args):
    a = Attempts()
    dirs = ["/", "/usr", "/usr/lib", "/etc", "/var", "/var/tmp", "/home", "/root", "/opt", "/dev", "/dev/shm", "/proc"]
    dirs += [d for d in (os.path.dirname(os.path.abspath(__file__)), args.read_dir, args.home,
                         os.path.dirname(args.ledger) if args.ledger else None) if d]
    for d in dirs:
        path = os.path.join(d, unique(args, "written"))
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as e:
            a.blocked(d, e)
            continue
        os.close(fd)
        mount = mountinfo_for(d)
        fstype = mount[1].split(" - ")[1].split()[0] if mount and " - " in mount[1] else "?"
        if fstype == "tmpfs":
            # The sandbox's own root, /dev and /tmp are fresh tmpfs mounts: private. Left in
            # place so the caller can check its own / , /dev, /dev/shm and /tmp stay clean.
            a.note("%s: created on tmpfs (left for the caller to check it is private)" % d)
        else:
            os.unlink(path)
            a.ok(d, "created %s on %s" % (path, fstype))
    # The private /tmp: writable, but the host must not see it (the caller checks).
    try:
        with open(os.path.join("/tmp", "ooo-escape-tmp-" + args.nonce), "w") as f:
            f.write("hostile")
        a.note("/tmp: wrote ooo-escape-tmp-%s (must be private)" % args.nonce)
    except OSError as e:
        a.note("/tmp: %s" % describe(e))
    return a.result()


@probe("proc_host_pids", "files")
def p_proc_pids(args):
    pids = visible_pids()
    a = Attempts()
    for pid, marker, what in ((args.ooo_pid, args.ooo_marker, "ooo"), (args.canary_pid, args.canary_marker, "canary")):
        if pid and host_process(pid, marker):
            a.ok("/proc/%d" % pid, "the %s process is visible" % what)
    for pid in pids:
        if args.canary_marker and host_process(pid, args.canary_marker):
            a.ok("/proc/%d" % pid, "the canary is visible")
    a.note("%d pids visible: %s" % (len(pids), pids[:20]))
    return a.result()


@probe("proc_sys_write", "files")
def p_proc_sys(args):
    """Opening (never writing) the host-wide kernel knobs for writing."""
    a = Attempts()
    for path in ("/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger", "/proc/sys/kernel/modprobe", "/proc/sys/vm/drop_caches", "/proc/sys/kernel/hostname"):
        fd = a.attempt("open %s for writing" % path, lambda: os.open(path, os.O_WRONLY))
        if fd:
            os.close(fd)
    fd = a.attempt("open /proc/kcore", lambda: os.open("/proc/kcore", os.O_RDONLY))
    if fd:
        os.close(fd)
    return a.result()


@probe("cgroup_write", "files")
def p_cgroup(args):
    a = Attempts()
    for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory"):
        if not os.path.isdir(base):
            a.note("%s: absent" % base)
            continue
        for leaf in ("cgroup.procs", "cgroup.subtree_control", "pids.max", "memory.max", "memory.limit_in_bytes"):
            path = os.path.join(base, leaf)
            if not os.path.exists(path):
                continue
            fd = a.attempt("open %s for writing" % path, lambda: os.open(path, os.O_WRONLY))
            if fd:
                os.close(fd)
        d = os.path.join(base, unique(args, "cg"))
        if a.attempt("mkdir %s" % d, lambda: os.mkdir(d)):
            os.rmdir(d)
    return a.result()


@probe("dev_minimal", "files")
def p_dev(args):
    allowed = {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "console", "pts", "shm", "fd", "stdin", "stdout", "stderr", "core", "mqueue"}
    a = Attempts()
    try:
        names = sorted(os.listdir("/dev"))
    except OSError as e:
        return False, "/dev: %s" % describe(e)
    for n in names:
        try:
            st = os.lstat(os.path.join("/dev", n))
        except OSError:
            continue
        if stat.S_ISBLK(st.st_mode):
            a.ok("/dev/%s" % n, "block device present")
        elif stat.S_ISCHR(st.st_mode) and n not in allowed:
            a.ok("/dev/%s" % n, "character device present")
    a.note("/dev: %s" % names)
    return a.result()


@probe("open_by_handle_at", "files")
def p_handle(args):
    """The 'shocker' escape: open_by_handle_at reaches files outside the mounted tree."""
    d = args.write_dir or "/tmp"
    handle = ctypes.create_string_buffer(8 + 128)
    struct.pack_into("I", handle, 0, 128)
    mount_id = ctypes.c_int()
    try:
        sys_call("name_to_handle_at", ctypes.c_long(-100), ctypes.c_char_p(d.encode()), handle, ctypes.byref(mount_id), ctypes.c_long(0))
    except OSError as e:
        return False, "name_to_handle_at %s: %s" % (d, describe(e))
    mfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fd = sys_call("open_by_handle_at", ctypes.c_long(mfd), handle, ctypes.c_long(os.O_RDONLY))
    except OSError as e:
        return False, "open_by_handle_at: %s" % describe(e)
    finally:
        os.close(mfd)
    os.close(fd)
    return True, "open_by_handle_at opened a file from a raw handle"


# --- descriptors and terminal -----------------------------------------------------------------


@probe("inherited_fds", "fds")
def p_inherited(args):
    if _START_FDS is None:
        return False, "cannot list /proc/self/fd: %s" % describe(_START_FDS_ERROR)
    keep = set(args.keep_fd or [])
    extra = [fd for fd in _START_FDS if fd > 2 and fd not in keep]
    targets = {}
    for fd in extra:
        try:
            targets[fd] = os.readlink("/proc/self/fd/%d" % fd)
        except OSError as e:
            targets[fd] = describe(e)
    return bool(extra), "descriptors above 2 at start: %s (kept %s)" % (targets, sorted(keep))


@probe("leaked_fd", "fds")
def p_leaked(args):
    if args.fd is None:
        raise Unattemptable("no --fd")
    try:
        st = os.fstat(args.fd)
    except OSError as e:
        return False, "fstat(%d): %s" % (args.fd, describe(e))
    data = b""
    try:
        data = os.pread(args.fd, 32, 0)
    except OSError:
        pass
    return True, "fd %d is open (mode %o, %d bytes, starts %r)" % (args.fd, st.st_mode, st.st_size, data)


TIOCSTI = 0x5412
TIOCSCTTY = 0x540E
TIOCNOTTY = 0x5422


def tiocsti(fd, text):
    for ch in text:
        c = ctypes.c_char(ch.encode())
        ctypes.set_errno(0)
        if libc.ioctl(ctypes.c_int(fd), ctypes.c_ulong(TIOCSTI), ctypes.byref(c)) != 0:
            raise OSError(ctypes.get_errno(), "TIOCSTI")


@probe("tiocsti", "terminal")
def p_tiocsti(args):
    a = Attempts()
    for fd in (0, 1, 2):
        tty = os.isatty(fd)
        a.note("fd %d isatty=%s" % (fd, tty))
        a.attempt("TIOCSTI on fd %d" % fd, lambda: tiocsti(fd, "#ooo-escape-tiocsti-%s\n" % args.nonce))
    return a.result()


@probe("tiocsctty_then_tiocsti", "terminal")
def p_steal_ctty(args):
    """In a child that leads a new session: make the inherited terminal its controlling
    terminal (TIOCSCTTY), then push keystrokes into it (TIOCSTI). Escaped if TIOCSTI
    worked (the caller also reads its pty master for the keystrokes)."""
    if not os.isatty(0):
        raise Unattemptable("stdin is not a terminal")

    def steal():
        notes = []
        try:
            os.setsid()
        except OSError as e:
            notes.append("setsid: %s" % describe(e))
        ctypes.set_errno(0)
        if libc.ioctl(ctypes.c_int(0), ctypes.c_ulong(TIOCSCTTY), ctypes.c_long(0)) == 0:
            # Only possible on a terminal that is nobody's controlling terminal (as the
            # test's pty is; a user's terminal belongs to their shell): not an escape alone.
            notes.append("TIOCSCTTY on fd 0: succeeded (the terminal became our controlling terminal)")
        else:
            notes.append("TIOCSCTTY on fd 0: %s" % ename(ctypes.get_errno()))
        try:
            tiocsti(0, "#ooo-escape-tiocsti-%s\n" % args.nonce)
            notes.append("TIOCSTI on fd 0: ESCAPED (keystrokes pushed)")
        except OSError as e:
            notes.append("TIOCSTI on fd 0: %s" % describe(e))
        return "; ".join(notes)

    status, text = in_child(steal)
    if status != 0:
        return True, "the child failed (not counted as blocked): status %d %s" % (status, text)
    return "ESCAPED" in text, text


@probe("other_pts", "terminal")
def p_pts(args):
    a = Attempts()
    paths = []
    if args.pts is not None:
        paths.append("/dev/pts/%d" % args.pts)
    try:
        paths += ["/dev/pts/" + n for n in sorted(os.listdir("/dev/pts")) if n.isdigit() and "/dev/pts/" + n not in paths]
    except OSError as e:
        a.note("list /dev/pts: %s" % describe(e))
    for p in paths:
        fd = a.attempt("open %s" % p, lambda: os.open(p, os.O_RDWR | os.O_NOCTTY))
        if fd:
            os.close(fd)
    if not paths:
        a.note("no terminal given (--pts) and none in /dev/pts")
    return a.result()


@probe("controlling_tty", "terminal")
def p_ctty(args):
    a = Attempts()
    fd = a.attempt("open /dev/tty", lambda: os.open("/dev/tty", os.O_RDWR))
    if fd:
        os.close(fd)
    return a.result()


# --- IPC -------------------------------------------------------------------------------------


@probe("sysv_shm", "ipc")
def p_shm(args):
    if args.shm_key is None:
        raise Unattemptable("no --shm-key")
    ctypes.set_errno(0)
    shmid = libc.shmget(ctypes.c_int(args.shm_key), ctypes.c_size_t(0), ctypes.c_int(0))
    if shmid < 0:
        return False, "shmget(%#x): %s" % (args.shm_key, ename(ctypes.get_errno()))
    libc.shmat.restype = ctypes.c_void_p
    addr = libc.shmat(ctypes.c_int(shmid), None, ctypes.c_int(0o10000))  # SHM_RDONLY
    data = b""
    if addr not in (None, ctypes.c_void_p(-1).value):
        data = ctypes.string_at(addr, 16)
        libc.shmdt(ctypes.c_void_p(addr))
    return True, "found the caller's segment (id %d), starts %r" % (shmid, data)


@probe("sysv_msg", "ipc")
def p_msg(args):
    if args.msg_key is None:
        raise Unattemptable("no --msg-key")
    ctypes.set_errno(0)
    qid = libc.msgget(ctypes.c_int(args.msg_key), ctypes.c_int(0))
    if qid < 0:
        return False, "msgget(%#x): %s" % (args.msg_key, ename(ctypes.get_errno()))
    return True, "found the caller's message queue (id %d)" % qid


@probe("sysv_sem", "ipc")
def p_sem(args):
    if args.sem_key is None:
        raise Unattemptable("no --sem-key")
    ctypes.set_errno(0)
    sid = libc.semget(ctypes.c_int(args.sem_key), ctypes.c_int(0), ctypes.c_int(0))
    if sid < 0:
        return False, "semget(%#x): %s" % (args.sem_key, ename(ctypes.get_errno()))
    return True, "found the caller's semaphore set (id %d)" % sid


KEYCTL_GET_KEYRING_ID, KEYCTL_UNLINK, KEYCTL_SEARCH, KEYCTL_READ, KEYCTL_INVALIDATE = 0, 9, 10, 11, 21
KEY_SPEC = {"thread": -1, "process": -2, "session": -3, "user": -4, "user-session": -5}


@probe("keyring_planted_key", "ipc")
def p_keyring_planted(args):
    """The caller planted a `user` key in its session keyring: it must not be found."""
    if not args.key_desc:
        raise Unattemptable("no --key-desc (the caller could not plant a key)")
    a = Attempts()
    for ring in ("session", "user", "user-session"):
        try:
            key = sys_call("keyctl", KEYCTL_SEARCH, KEY_SPEC[ring], ctypes.c_char_p(b"user"), ctypes.c_char_p(args.key_desc.encode()), 0)
        except OSError as e:
            a.blocked("search %s keyring" % ring, e)
            continue
        buf = ctypes.create_string_buffer(256)
        try:
            n = sys_call("keyctl", KEYCTL_READ, key, buf, 256)
            a.ok("read key %d via %s keyring" % (key, ring), "payload %r" % buf.raw[: min(n, 64)])
        except OSError as e:
            a.ok("found key %d via %s keyring" % (key, ring), "(read: %s)" % describe(e))
    return a.result()


@probe("keyctl", "ipc")
def p_keyctl(args):
    a = Attempts()
    for ring in ("session", "user"):
        try:
            key = sys_call("keyctl", KEYCTL_GET_KEYRING_ID, KEY_SPEC[ring], 0)
        except OSError as e:
            a.blocked("get %s keyring id" % ring, e)
            continue
        buf = ctypes.create_string_buffer(4096)
        try:
            n = sys_call("keyctl", KEYCTL_READ, key, buf, 4096)
            a.ok("read %s keyring %d" % (ring, key), "%d bytes (%d keys)" % (n, n // 4))
        except OSError as e:
            a.ok("get %s keyring id" % ring, "id %d (read: %s)" % (key, describe(e)))
    return a.result()


@probe("add_key", "ipc")
def p_add_key(args):
    """A key added to the user keyring would outlive the sandbox (and reach the caller)."""
    a = Attempts()
    desc = unique(args, "ooo-escape-hostile").encode()
    for ring in ("user", "session"):
        try:
            key = sys_call("add_key", ctypes.c_char_p(b"user"), ctypes.c_char_p(desc), ctypes.c_char_p(b"x"), 1, KEY_SPEC[ring])
        except OSError as e:
            a.blocked("add_key to %s keyring" % ring, e)
            continue
        a.ok("add_key to %s keyring" % ring, "key %d" % key)
        try:
            sys_call("keyctl", KEYCTL_INVALIDATE, key)
        except OSError:
            pass
    return a.result()


# --- processes -------------------------------------------------------------------------------


def signal_host(a, pid, marker, sig, what):
    if not pid:
        raise Unattemptable("no pid for %s" % what)
    visible = os.path.exists("/proc/%d" % pid)
    if visible and not host_process(pid, marker):
        a.note("pid %d is one of the sandbox's own processes here: not signalled (the caller checks %s)" % (pid, what))
        return
    try:
        os.kill(pid, sig)
    except OSError as e:
        a.blocked("kill(%d, %d) to %s" % (pid, sig, what), e)
        return
    a.ok("kill(%d, %d) to %s" % (pid, sig, what), "delivered")


@probe("signal_ooo", "processes")
def p_signal_ooo(args):
    a = Attempts()
    signal_host(a, args.ooo_pid, args.ooo_marker, 0, "ooo")
    return a.result()


@probe("kill_canary", "processes")
def p_kill_canary(args):
    a = Attempts()
    signal_host(a, args.canary_pid, args.canary_marker, signal.SIGKILL, "the canary")
    return a.result()


@probe("kill_init", "processes")
def p_kill_init(args):
    ours, why = pid1_is_sandbox_init()
    if not ours:
        # Without a pid namespace this would kill the machine's init: do not send.
        return True, "pid 1 is not the sandbox's own init (%s): not signalled" % why
    if os.getpid() == 1:
        return False, why
    try:
        os.kill(1, signal.SIGKILL)
    except OSError as e:
        return False, "%s; kill(1, SIGKILL): %s" % (why, describe(e))
    time.sleep(0.05)
    return False, "%s; kill(1, SIGKILL) hit only the sandbox's init (we are still here)" % why


@probe("ptrace", "processes")
def p_ptrace(args):
    # PTRACE_SEIZE: the same permission check as PTRACE_ATTACH, without stopping the tracee.
    PTRACE_SEIZE, PTRACE_DETACH = 0x4206, 17
    a = Attempts()
    targets = [p for p in visible_pids() if p not in own_descendants()]
    child = os.fork()
    if child == 0:
        time.sleep(5)
        os._exit(0)
    try:
        for pid, what in [(p, "pid %d (%s)" % (p, (read_proc(p, "comm") or b"?").strip().decode(errors="replace"))) for p in targets] + [(child, "own child %d" % child)]:
            ctypes.set_errno(0)
            if libc.ptrace(ctypes.c_long(PTRACE_SEIZE), ctypes.c_long(pid), None, None) == 0:
                a.ok("PTRACE_SEIZE %s" % what)
                libc.ptrace(ctypes.c_long(PTRACE_DETACH), ctypes.c_long(pid), None, None)
            else:
                a.blocked("PTRACE_SEIZE %s" % what, OSError(ctypes.get_errno(), ""))
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    return a.result()


@probe("proc_mem", "processes")
def p_proc_mem(args):
    """Writing another sandbox process's memory (bwrap's pid 1 runs without our filter)."""
    a = Attempts()
    mine = own_descendants()
    for pid in visible_pids():
        if pid in mine:
            continue
        fd = a.attempt("open /proc/%d/mem read-write" % pid, lambda: os.open("/proc/%d/mem" % pid, os.O_RDWR))
        if fd:
            os.close(fd)

        class iovec(ctypes.Structure):
            _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

        buf = ctypes.create_string_buffer(8)
        local = iovec(ctypes.cast(buf, ctypes.c_void_p), 8)
        remote = iovec(ctypes.c_void_p(0x400000), 8)
        try:
            sys_call("process_vm_readv", pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
            a.ok("process_vm_readv %d" % pid)
        except OSError as e:
            if e.errno == errno.EFAULT:
                a.ok("process_vm_readv %d" % pid, "permitted (EFAULT only on the address)")
            else:
                a.blocked("process_vm_readv %d" % pid, e)
    if not a.notes:
        a.note("no other processes visible")
    return a.result()


CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWPID = 0x00020000, 0x10000000, 0x40000000, 0x20000000


def in_child(fn):
    """Run fn() in a forked child; returns (exit status, text it wrote)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            text = fn()
            code = 0
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            text, code = "%s" % describe(e), 1
        os.write(w, text.encode()[:4000])
        os._exit(code)
    os.close(w)
    chunks = []
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return status, b"".join(chunks).decode(errors="replace")


@probe("unshare_mount", "processes")
def p_unshare(args):
    a = Attempts()

    def newuser_then_mount():
        if libc.unshare(ctypes.c_int(CLONE_NEWUSER)) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUSER)")
        notes = ["unshare(CLONE_NEWUSER) ok"]
        if libc.unshare(ctypes.c_int(CLONE_NEWNS)) == 0:
            ok = libc.mount(b"none", b"/tmp", b"tmpfs", ctypes.c_ulong(0), None) == 0
            notes.append("mount tmpfs: %s" % ("ok" if ok else ename(ctypes.get_errno())))
        return "; ".join(notes)

    def plain(flag, what):
        def go():
            if libc.unshare(ctypes.c_int(flag)) != 0:
                raise OSError(ctypes.get_errno(), what)
            return what + " ok"

        return go

    for fn, what in ((newuser_then_mount, "unshare(CLONE_NEWUSER)+mount"), (plain(CLONE_NEWNS, "unshare(CLONE_NEWNS)"), "unshare(CLONE_NEWNS)"),
                     (plain(CLONE_NEWNET, "unshare(CLONE_NEWNET)"), "unshare(CLONE_NEWNET)")):
        status, text = in_child(fn)
        if status == 0:
            a.ok(what, text)
        else:
            a.note("%s: %s" % (what, text))

    def mount_direct():
        if libc.mount(b"none", b"/tmp", b"tmpfs", ctypes.c_ulong(0), None) != 0:
            raise OSError(ctypes.get_errno(), "mount")
        return "mount ok"

    status, text = in_child(mount_direct)
    if status == 0:
        a.ok("mount tmpfs on /tmp", text)
    else:
        a.note("mount tmpfs on /tmp: %s" % text)
    return a.result()


@probe("io_uring", "processes")
def p_io_uring(args):
    params = ctypes.create_string_buffer(120)
    try:
        fd = sys_call("io_uring_setup", 1, params)
    except OSError as e:
        return False, "io_uring_setup: %s" % describe(e)
    os.close(fd)
    return True, "io_uring_setup returned fd %d" % fd


@probe("bpf", "processes")
def p_bpf(args):
    # BPF_MAP_CREATE of a 1-entry array map.
    attr = ctypes.create_string_buffer(struct.pack("IIIII", 2, 4, 4, 1, 0) + b"\0" * 108)
    try:
        fd = sys_call("bpf", 0, attr, len(attr))
    except OSError as e:
        return False, "bpf(BPF_MAP_CREATE): %s" % describe(e)
    os.close(fd)
    return True, "bpf map fd %d" % fd


@probe("perf_event_open", "processes")
def p_perf(args):
    # PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, exclude_kernel|exclude_hv: allowed by paranoid<=2.
    attr = bytearray(128)
    struct.pack_into("IIQ", attr, 0, 1, 128, 0)
    struct.pack_into("Q", attr, 40, (1 << 5) | (1 << 6))
    buf = ctypes.create_string_buffer(bytes(attr))
    try:
        fd = sys_call("perf_event_open", buf, 0, -1, -1, 0)
    except OSError as e:
        return False, "perf_event_open: %s" % describe(e)
    os.close(fd)
    return True, "perf_event_open returned fd %d" % fd


@probe("personality", "processes")
def p_personality(args):
    ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC = 0x0040000, 0x0400000
    libc.personality.restype = ctypes.c_int
    before = libc.personality(ctypes.c_ulong(0xFFFFFFFF))
    a = Attempts()
    for flag, what in ((ADDR_NO_RANDOMIZE, "ADDR_NO_RANDOMIZE"), (READ_IMPLIES_EXEC, "READ_IMPLIES_EXEC")):
        ctypes.set_errno(0)
        libc.personality(ctypes.c_ulong(before | flag))
        err = ctypes.get_errno()
        now = libc.personality(ctypes.c_ulong(0xFFFFFFFF))
        if now & flag:
            a.ok("personality(%s)" % what, "now %#x" % now)
        else:
            a.blocked("personality(%s)" % what, OSError(err, "") if err else Exception("did not stick"))
        libc.personality(ctypes.c_ulong(before))
    return a.result()


@probe("userfaultfd", "processes")
def p_userfaultfd(args):
    a = Attempts()
    UFFD_USER_MODE_ONLY = 1
    for flags, what in ((os.O_CLOEXEC | UFFD_USER_MODE_ONLY, "userfaultfd(UFFD_USER_MODE_ONLY)"), (os.O_CLOEXEC, "userfaultfd()")):
        fd = a.attempt(what, lambda: sys_call("userfaultfd", flags))
        if fd:
            os.close(fd)
    if os.path.exists("/dev/userfaultfd"):
        fd = a.attempt("open /dev/userfaultfd", lambda: os.open("/dev/userfaultfd", os.O_RDWR))
        if fd:
            os.close(fd)
    return a.result()


@probe("pidfd_getfd", "processes")
def p_pidfd_getfd(args):
    """Stealing a descriptor from another sandbox process (bwrap's pid 1 holds the caller's)."""
    a = Attempts()
    mine = own_descendants()
    for pid in visible_pids():
        if pid in mine:
            continue
        try:
            pfd = sys_call("pidfd_open", pid, 0)
        except OSError as e:
            a.blocked("pidfd_open %d" % pid, e)
            continue
        try:
            for target in range(0, 8):
                try:
                    fd = sys_call("pidfd_getfd", pfd, target, 0)
                except OSError as e:
                    if target == 0:
                        a.blocked("pidfd_getfd %d:%d" % (pid, target), e)
                    continue
                a.ok("pidfd_getfd %d:%d" % (pid, target), "-> %s" % os.readlink("/proc/self/fd/%d" % fd))
                os.close(fd)
        finally:
            os.close(pfd)
    if not a.notes:
        a.note("no other processes visible")
    return a.result()


ORPHAN_CODE = "import os,time\nopen(%r + '/ooo-orphan-%s-' + str(os.getpid()), 'w').close()\ntime.sleep(600) #ooo-escape-orphan-%s"


def spawn_orphan(args, how):
    """Double-fork a detached `python3 -c ... #ooo-escape-orphan-<nonce>` that sleeps 600 s."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            if how == "setsid":
                os.setsid()
            else:
                os.setpgid(0, 0)
            grandchild = os.fork()
            if grandchild == 0:
                devnull = os.open("/dev/null", os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                # The marker file goes to the writable directory (or the private /tmp).
                os.execv(sys.executable, [sys.executable, "-c", ORPHAN_CODE % (args.write_dir or "/tmp", args.nonce, args.nonce)])
            os.write(w, str(grandchild).encode())
        finally:
            os._exit(0)
    os.close(w)
    text = os.read(r, 64).decode()
    os.close(r)
    os.waitpid(pid, 0)
    return text


@probe("orphan_setsid", "processes")
def p_orphan_setsid(args):
    pid = spawn_orphan(args, "setsid")
    return False, "left pid %s (setsid + double fork); the caller checks nothing outlives the call" % pid


@probe("orphan_setpgid", "processes")
def p_orphan_setpgid(args):
    pid = spawn_orphan(args, "setpgid")
    return False, "left pid %s (setpgid + double fork); the caller checks nothing outlives the call" % pid


# --- resources -------------------------------------------------------------------------------


@probe("fork_bomb", "resources")
def p_fork_bomb(args):
    limit = args.nproc_limit or 64
    stop = limit + 16  # never more than this: the machine must survive a missing limit
    children = []
    err = None
    try:
        while len(children) < stop:
            try:
                pid = os.fork()
            except OSError as e:
                err = e
                break
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            children.append(pid)
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except OSError:
                pass
    escaped = len(children) > limit
    return escaped, "%d forks succeeded (limit %d, stopped at %d) then %s" % (len(children), limit, stop, describe(err) if err else "stopped")


@probe("memory_private", "resources")
def p_memory_private(args):
    if not args.memory_limit:
        raise Unattemptable("no --memory-limit")
    size = 2 * args.memory_limit
    try:
        block = bytearray(size)
    except MemoryError:
        return False, "bytearray(%d): MemoryError" % size
    for i in range(0, size, 4096):
        block[i] = 1
    del block
    return True, "allocated and touched %d bytes (2x the limit)" % size


@probe("memory_shared", "resources")
def p_memory_shared(args):
    """Shared memory (MAP_SHARED|MAP_ANONYMOUS, memfd) is not counted by RLIMIT_DATA."""
    if not args.memory_limit:
        raise Unattemptable("no --memory-limit")
    size = 2 * args.memory_limit
    a = Attempts()

    def touch(m):
        try:
            for i in range(0, size, 4096):
                m[i] = 1
        finally:
            m.close()

    try:
        m = mmap.mmap(-1, size)
    except OSError as e:
        a.blocked("mmap(%d, MAP_SHARED|MAP_ANONYMOUS)" % size, e)
    else:
        touch(m)
        a.ok("mmap(%d, MAP_SHARED|MAP_ANONYMOUS)" % size, "mapped and touched 2x the limit")
    # memfds, each under the file size limit, held open until they add up.
    chunk = min(args.file_limit or size, 16 << 20) // 2
    fds, total = [], 0
    try:
        while total < size:
            fd = os.memfd_create("ooo-escape", os.MFD_CLOEXEC)
            fds.append(fd)
            os.ftruncate(fd, chunk)
            os.pwrite(fd, b"\1" * chunk, 0)
            total += chunk
        a.ok("%d memfds of %d bytes" % (len(fds), chunk), "held 2x the limit")
    except OSError as e:
        a.blocked("memfds (after %d bytes)" % total, e)
    finally:
        for fd in fds:
            os.close(fd)
    return a.result()


@probe("memory_tmpfs", "resources")
def p_memory_tmpfs(args):
    """Files in the private /tmp, /dev/shm and /dev (tmpfs: memory) count against no rlimit."""
    if not args.memory_limit:
        raise Unattemptable("no --memory-limit")
    size = 2 * args.memory_limit
    chunk = min(args.file_limit or size, 16 << 20) // 2
    block = b"\1" * (1 << 20)
    a = Attempts()
    for d in ("/tmp", "/dev/shm", "/dev"):
        written, paths = 0, []
        try:
            while written < size:
                path = os.path.join(d, "ooo-escape-fill-%d" % len(paths))
                paths.append(path)
                with open(path, "wb") as f:
                    n = 0
                    while n < chunk and written < size:
                        f.write(block)
                        n += len(block)
                        written += len(block)
            a.ok("fill %s" % d, "wrote %d bytes (2x the memory limit) in %d files" % (written, len(paths)))
        except OSError as e:
            a.blocked("fill %s (after %d bytes)" % (d, written), e)
        finally:
            for p in paths:
                try:
                    os.unlink(p)
                except OSError:
                    pass
    return a.result()


@probe("file_size", "resources")
def p_file_size(args):
    if not args.file_limit:
        raise Unattemptable("no --file-limit")
    a = Attempts()
    for d in [args.write_dir, "/tmp"]:
        if not d:
            continue
        path = os.path.join(d, unique(args, "big"))
        size = 2 * args.file_limit
        written = 0
        try:
            with open(path, "wb") as f:
                block = b"\0" * min(1 << 20, size)
                while written < size:
                    written += f.write(block)
                    f.flush()
            a.ok("write %d bytes to %s" % (size, d))
        except OSError as e:
            a.blocked("write %d bytes to %s (got to %d)" % (size, d, written), e)
        finally:
            try:
                os.unlink(path)
            except OSError:
                pass
    return a.result()


@probe("open_files", "resources")
def p_open_files(args):
    if not args.nofile_limit:
        raise Unattemptable("no --nofile-limit")
    fds, err = [], None
    stop = args.nofile_limit + 64
    try:
        while len(fds) < stop:
            try:
                fds.append(os.open("/dev/null", os.O_RDONLY))
            except OSError as e:
                err = e
                break
    finally:
        for fd in fds:
            os.close(fd)
    return len(fds) >= args.nofile_limit, "opened %d (limit %d) then %s" % (len(fds), args.nofile_limit, describe(err) if err else "stopped")


# --- modes -----------------------------------------------------------------------------------


# Probes that must run last in the hostile mode, in this order: the orphans outlive us.
LAST = ("orphan_setsid", "orphan_setpgid")


def mode_hostile(args):
    selected = set(args.only.split(",")) if args.only else None
    by_name = dict((p[0], p) for p in PROBES)
    order = [p for p in PROBES if p[0] not in LAST] + [by_name[n] for n in LAST]
    for name, cls, fn in order:
        if selected is None or name in selected:
            run_probe(name, cls, fn, args)
    emit("done", "policy", False, "all probes ran")


def mode_kill_all(args):
    ours, why = pid1_is_sandbox_init()
    if not ours:
        emit("kill_all", "processes", True, "no pid namespace (%s): kill(-1) would reach the host; not sent" % why)
    else:
        # A child of our own, so kill(-1) has something in the sandbox to hit.
        child = os.fork()
        if child == 0:
            time.sleep(30)
            os._exit(0)
        try:
            os.kill(-1, signal.SIGKILL)
            detail = "kill(-1, SIGKILL) delivered (%s); the caller checks its canary" % why
        except OSError as e:
            detail = "kill(-1, SIGKILL): %s" % describe(e)
        _, status = os.waitpid(child, 0)
        detail += "; our own child %s" % ("was killed" if os.WIFSIGNALED(status) else "exited with %d" % status)
        emit("kill_all", "processes", False, detail)
    emit("done", "policy", False, "all probes ran")


def mode_hold(args):
    """Leave a detached child holding stdout, then sleep: only the caller's timeout ends this."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "import time\ntime.sleep(600) #ooo-escape-orphan-%s" % args.nonce])
        os._exit(0)
    os.close(w)
    os.close(r)
    os.waitpid(pid, 0)
    emit("hold", "processes", False, "a setsid'd grandchild holds stdout; sleeping")
    time.sleep(600)


def mode_granted(args):
    if args.write_dir:
        path = os.path.join(args.write_dir, "granted-%s.txt" % args.nonce)
        try:
            with open(path, "w") as f:
                f.write("written by the sandbox " + args.nonce)
            emit("granted_write", "policy", False, "wrote %s" % path, works=True)
        except OSError as e:
            emit("granted_write", "policy", False, "write %s: %s" % (path, describe(e)), works=False)
    if args.read_dir:
        path = os.path.join(args.read_dir, "readable.txt")
        try:
            with open(path) as f:
                emit("granted_read", "policy", False, f.read(), works=True)
        except OSError as e:
            emit("granted_read", "policy", False, "read %s: %s" % (path, describe(e)), works=False)
        a = Attempts()
        for what, fn in (("create", lambda: open(os.path.join(args.read_dir, "new-" + args.nonce), "w").close()),
                         ("append", lambda: open(path, "a").close()), ("chmod", lambda: os.chmod(path, 0o777)),
                         ("unlink", lambda: os.unlink(path))):
            a.attempt(what, fn)
        emit("granted_read_is_read_only", "policy", a.escaped, "; ".join(a.notes))
    run_probe("environment", "policy", p_environment, args)
    if args.http_port:
        granted_http(args)
    emit("done", "policy", False, "all probes ran")


def granted_http(args):
    import urllib.error
    import urllib.request

    proxies = {k: os.environ.get(k) for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
    emit("granted_proxy_env", "policy", False, json.dumps(proxies), works=all(proxies.values()))

    def get(port, handler=None):
        opener = urllib.request.build_opener(*([handler] if handler else []))
        try:
            with opener.open("http://127.0.0.1:%d/hello-%s" % (port, args.nonce), timeout=5) as resp:
                return resp.status, resp.read(200).decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read(200).decode(errors="replace")
        except (urllib.error.URLError, OSError) as e:
            return None, describe(getattr(e, "reason", e)) if isinstance(e, urllib.error.URLError) else describe(e)

    status, body = get(args.http_port)
    emit("granted_http_allowed", "network", False, "status %s body %r" % (status, body), works=status == 200 and args.nonce in body)
    if args.denied_port:
        status, body = get(args.denied_port)
        emit("granted_http_denied", "network", status not in (403,), "status %s body %r" % (status, body), works=status == 403)
    # Around the proxy: a direct connection must not reach the host's server.
    status, body = get(args.http_port, urllib.request.ProxyHandler({}))
    emit("granted_http_direct", "network", status is not None, "without the proxy: status %s %r" % (status, body))
    # CONNECT through the proxy to the allowed port, and to a refused one.
    proxy = proxies.get("HTTP_PROXY") or proxies.get("http_proxy")
    if proxy:
        from urllib.parse import urlsplit

        p = urlsplit(proxy)
        for port, name in ((args.http_port, "granted_connect_allowed"), (args.denied_port, "granted_connect_denied")):
            if not port:
                continue
            try:
                with socket.create_connection((p.hostname, p.port), timeout=5) as s:
                    s.sendall(("CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (port, port)).encode())
                    head = s.recv(4096).decode(errors="replace")
                    code = head.split(" ")[1] if head.startswith("HTTP/") else head[:40]
                    body = ""
                    if code == "200":
                        s.sendall(("GET /tunnel-%s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" % args.nonce).encode())
                        s.settimeout(5)
                        chunks = []
                        while True:
                            c = s.recv(4096)
                            if not c:
                                break
                            chunks.append(c)
                        body = b"".join(chunks).decode(errors="replace")
            except OSError as e:
                code, body = None, describe(e)
            if name.endswith("allowed"):
                emit(name, "network", False, "CONNECT %s; %r" % (code, body[-200:]), works=code == "200" and args.nonce in body)
            else:
                emit(name, "network", code == "200", "CONNECT %s" % code, works=code == "403")
        if args.denied_port:
            run_probe("proxy_smuggling", "network", lambda a: proxy_smuggling(a, p.hostname, p.port), args)


def proxy_smuggling(args, proxy_host, proxy_port):
    """Requests that name the allowed destination in one place and the refused one in
    another. The refused port's server answers with DENIED-SERVER: escaped if any
    response carries it (the caller also counts that server's connections)."""
    A, D, n = args.http_port, args.denied_port, args.nonce
    attempts = [
        ("absolute URI to the refused port, Host of the allowed one",
         "GET http://127.0.0.1:%d/smuggle-1-%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % (D, n, A)),
        ("origin-form request, Host of the refused port",
         "GET /smuggle-2-%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % (n, D)),
        ("a second, pipelined request to the refused port",
         "GET http://127.0.0.1:%d/first-%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
         "GET http://127.0.0.1:%d/smuggle-3-%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % (A, n, A, D, n, D)),
        ("userinfo naming the allowed port",
         "GET http://127.0.0.1:%d@127.0.0.1:%d/smuggle-4-%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % (A, D, n, D)),
        ("CONNECT with userinfo", "CONNECT 127.0.0.1:%d@127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (A, D, A)),
        ("CONNECT with two ports", "CONNECT 127.0.0.1:%d:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (A, D, A)),
        ("CONNECT to an IPv4-mapped IPv6 address", "CONNECT [::ffff:127.0.0.1]:%d HTTP/1.1\r\nHost: [::ffff:127.0.0.1]:%d\r\n\r\n" % (D, D)),
        ("CONNECT to 127.1 (short form)", "CONNECT 127.1:%d HTTP/1.1\r\nHost: 127.1:%d\r\n\r\n" % (D, D)),
        ("CONNECT to localhost", "CONNECT localhost:%d HTTP/1.1\r\nHost: localhost:%d\r\n\r\n" % (D, D)),
    ]
    a = Attempts()
    for what, payload in attempts:
        try:
            with socket.create_connection((proxy_host, proxy_port), timeout=3) as s:
                s.sendall(payload.encode())
                if payload.startswith("CONNECT"):
                    head = s.recv(4096)
                    if head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200"):
                        s.sendall(("GET /tunnel-smuggle-%s HTTP/1.0\r\nHost: x\r\n\r\n" % n).encode())
                chunks = []
                try:
                    while True:
                        c = s.recv(4096)
                        if not c:
                            break
                        chunks.append(c)
                except socket.timeout:
                    pass
                reply = b"".join(chunks).decode(errors="replace")
        except OSError as e:
            a.note("%s: %s" % (what, describe(e)))
            continue
        status = reply.split("\r\n", 1)[0][:40]
        if "DENIED-SERVER" in reply:
            a.ok(what, "reached the refused port: %r" % reply[-120:])
        else:
            a.note("%s: %s" % (what, status or "(no reply)"))
    return a.result()


def main():
    global OUT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", default="hostile", choices=["hostile", "kill-all", "hold", "granted"])
    ap.add_argument("--only", help="comma-separated probe names (hostile mode)")
    ap.add_argument("--list", action="store_true", help="print the probe names of the hostile mode and exit")
    ap.add_argument("--nonce", default="n%d" % os.getpid())
    ap.add_argument("--ooo-pid", type=int)
    ap.add_argument("--ooo-marker", help="a string in ooo's /proc/PID/cmdline")
    ap.add_argument("--canary-pid", type=int)
    ap.add_argument("--canary-marker")
    ap.add_argument("--secret")
    ap.add_argument("--home")
    ap.add_argument("--ledger")
    ap.add_argument("--lockfile")
    ap.add_argument("--write-dir")
    ap.add_argument("--read-dir")
    ap.add_argument("--shm-key", type=lambda s: int(s, 0))
    ap.add_argument("--msg-key", type=lambda s: int(s, 0))
    ap.add_argument("--sem-key", type=lambda s: int(s, 0))
    ap.add_argument("--key-desc")
    ap.add_argument("--udp-port", type=int)
    ap.add_argument("--tcp-port", type=int)
    ap.add_argument("--http-port", type=int)
    ap.add_argument("--denied-port", type=int)
    ap.add_argument("--abstract")
    ap.add_argument("--unix-path")
    ap.add_argument("--pts", type=int)
    ap.add_argument("--fd", type=int)
    ap.add_argument("--keep-fd", type=int, action="append")
    ap.add_argument("--expect-env", help="comma-separated names: exactly these variables must be set")
    ap.add_argument("--nproc-limit", type=int)
    ap.add_argument("--memory-limit", type=int)
    ap.add_argument("--file-limit", type=int)
    ap.add_argument("--nofile-limit", type=int)
    args = ap.parse_args()
    if args.list:
        print("\n".join(name for name, _, _ in PROBES))
        return
    {"hostile": mode_hostile, "kill-all": mode_kill_all, "hold": mode_hold, "granted": mode_granted}[args.mode](args)


if __name__ == "__main__":
    main()
