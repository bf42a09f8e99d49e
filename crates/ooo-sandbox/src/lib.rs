//! `ooo-sandbox`: one OS sandbox for plugins, verify commands and agent workers. A
//! [`Policy`] goes in; a confined [`std::process::Command`] comes out ([`Confined`]).
//!
//! # How it confines
//!
//! * **Namespaces, by `bwrap`** (Debian package `bubblewrap`): a new user namespace
//!   (capabilities dropped, even for a root caller; no nested user namespaces), mount
//!   namespace (only the system's program directories and the policy's paths are there,
//!   all `nosuid,nodev`; a minimal `/dev`; a private `/tmp`; a fresh `/proc`), pid
//!   namespace (the process sees only its own tree and cannot signal anything else; when
//!   the call ends, everything in it ends), IPC namespace (no System V objects of the
//!   caller), network namespace (only a private loopback) and UTS namespace; a new session
//!   without a controlling terminal; death with the parent.
//! * **The init helper** (`ooo-sandbox-init`, or `ooo` itself, see [`init`]) runs inside
//!   after `bwrap` set up the namespaces: rlimits (processes, data memory, file size,
//!   descriptors), `no_new_privs`, Landlock with every file right, TCP right and scope
//!   (signals, abstract UNIX sockets) the kernel has, then a seccomp filter (socket
//!   families, raw/packet/MPTCP sockets, TIOCSTI/TIOCLINUX, keyrings, ptrace, mount and
//!   namespace calls, io_uring, bpf, perf, setuid/setgid modes, ...), closes every
//!   descriptor the policy does not keep, and execs the command. With a host allowlist it
//!   first starts the bridge: a loopback TCP port inside whose connections go to ooo's
//!   [`proxy`] through a UNIX socket mounted into the sandbox.
//!
//! # Why `bwrap` rather than namespaces set up in Rust
//!
//! Mount-namespace set-up (bind mounts by descriptor, a pivoted tmpfs root, `/proc`
//! and `/dev` in a user namespace, remounting read-only and `nosuid,nodev` correctly on
//! every kernel, handling setuid-root installs) is exactly what `bwrap` has done, audited
//! and fuzzed for Flatpak for a decade; Codex's Linux sandbox and Anthropic's
//! sandbox-runtime use it for the same reason. Re-writing it would be more code to trust,
//! not less. What `bwrap` does not do (Landlock scopes, our seccomp policy, rlimits, the
//! proxy bridge) is done in Rust, in the init helper, with `landlock` and `seccompiler`.
//! The cost is one external program: `.ci/run` installs it, the README names it, and
//! without it [`Sandbox::new`] refuses with the install command (or, with
//! [`Mode::AllowPartial`], runs with Landlock and rlimits only and says so).

mod bridge;
mod bwrap;
mod cgroup;
pub mod error;
mod fds;
pub mod init;
mod kill;
mod landlock_rules;
pub mod policy;
pub mod proxy;
mod rlimits;
mod seccomp;
pub mod support;

mod confined;

pub use confined::{Confined, Sandbox};
pub use error::{ErrorKind, SandboxError};
pub use kill::kill;
pub use policy::{HostRule, Limits, Network, Policy, SYSTEM_DIRS, Terminal};
pub use support::{Level, Mode, Support};

/// The name of the init helper's own binary (the `ooo` binary is one too, see [`init`]).
pub const INIT_BINARY: &str = "ooo-sandbox-init";
