//! The seccomp filter every confined process runs under: system calls that open ways
//! out of the namespaces or into the caller (other socket families, raw, packet and
//! MPTCP sockets, TCP Fast Open, keystroke injection, keyrings, ptrace, mount and
//! namespace calls, io_uring, bpf, perf, kernel modules, setuid/setgid modes, device
//! nodes) fail with `EPERM`; `clone3` fails with `ENOSYS` so the C library falls back to
//! `clone`, whose namespace flags the filter can see. Everything else is allowed: the
//! namespaces and Landlock do the confining, the filter closes the kernel surface they
//! leave. Building the program happens before the fork; applying it is one system call.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Op, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

/// `IPPROTO_MPTCP` (not in every libc release).
const IPPROTO_MPTCP: u64 = 262;
/// `SOCK_PACKET`, the obsolete packet socket type (deprecated in libc, still in kernels).
const SOCK_PACKET: u64 = 10;
/// The namespace flags of clone(2).
const CLONE_NAMESPACES: [u64; 8] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    0x80, // CLONE_NEWTIME
];

/// System calls refused whatever their arguments.
const REFUSED: &[libc::c_long] = &[
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_open_tree,
    libc::SYS_move_mount,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_syslog,
    libc::SYS_vhangup,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_uselib,
];

fn cond(arg: u8, len: Len, op: Op, value: u64) -> SeccompCondition {
    SeccompCondition::new(arg, len, op, value).expect("static seccomp condition")
}

fn rule(conditions: Vec<SeccompCondition>) -> SeccompRule {
    SeccompRule::new(conditions).expect("static seccomp rule")
}

/// `arg & bit == bit`, one rule per bit: any of the bits set matches.
fn any_bit(arg: u8, len: Len, bits: &[u64]) -> Vec<SeccompRule> {
    bits.iter().map(|b| rule(vec![cond(arg, len.clone(), Op::MaskedEq(*b), *b)])).collect()
}

/// The rules whose match means `EPERM`.
fn refused_rules() -> BTreeMap<i64, Vec<SeccompRule>> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        REFUSED.iter().map(|nr| (*nr, Vec::new())).collect();
    // Sockets: only UNIX, IPv4 and IPv6; never raw, packet or MPTCP.
    let dword = || Len::Dword;
    rules.insert(
        libc::SYS_socket,
        vec![
            rule(vec![
                cond(0, dword(), Op::Ne, libc::AF_UNIX as u64),
                cond(0, dword(), Op::Ne, libc::AF_INET as u64),
                cond(0, dword(), Op::Ne, libc::AF_INET6 as u64),
            ]),
            rule(vec![cond(1, dword(), Op::MaskedEq(0xf), libc::SOCK_RAW as u64)]),
            rule(vec![cond(1, dword(), Op::MaskedEq(0xf), SOCK_PACKET)]),
            rule(vec![cond(2, dword(), Op::Eq, IPPROTO_MPTCP)]),
        ],
    );
    rules.insert(
        libc::SYS_socketpair,
        vec![rule(vec![cond(0, dword(), Op::Ne, libc::AF_UNIX as u64)])],
    );
    // TCP Fast Open connects without connect(2).
    let fastopen = libc::MSG_FASTOPEN as u64;
    rules.insert(libc::SYS_sendto, any_bit(3, Len::Dword, &[fastopen]));
    rules.insert(libc::SYS_sendmsg, any_bit(2, Len::Dword, &[fastopen]));
    rules.insert(libc::SYS_sendmmsg, any_bit(3, Len::Dword, &[fastopen]));
    // Keystroke injection into a terminal, and the console's selection tricks.
    rules.insert(
        libc::SYS_ioctl,
        vec![
            rule(vec![cond(1, dword(), Op::Eq, libc::TIOCSTI)]),
            rule(vec![cond(1, dword(), Op::Eq, libc::TIOCLINUX)]),
        ],
    );
    // New namespaces through clone(2) (clone3 is refused below with ENOSYS).
    rules.insert(libc::SYS_clone, any_bit(0, Len::Qword, &CLONE_NAMESPACES));
    // setuid/setgid modes and device nodes.
    let special = [libc::S_ISUID as u64, libc::S_ISGID as u64];
    #[cfg(target_arch = "x86_64")]
    rules.insert(libc::SYS_chmod, any_bit(1, Len::Dword, &special));
    rules.insert(libc::SYS_fchmod, any_bit(1, Len::Dword, &special));
    rules.insert(libc::SYS_fchmodat, any_bit(2, Len::Dword, &special));
    rules.insert(452, any_bit(2, Len::Dword, &special)); // fchmodat2
    let device = |arg| {
        vec![
            rule(vec![cond(
                arg,
                Len::Dword,
                Op::MaskedEq(libc::S_IFMT as u64),
                libc::S_IFCHR as u64,
            )]),
            rule(vec![cond(
                arg,
                Len::Dword,
                Op::MaskedEq(libc::S_IFMT as u64),
                libc::S_IFBLK as u64,
            )]),
        ]
    };
    #[cfg(target_arch = "x86_64")]
    rules.insert(libc::SYS_mknod, device(1));
    rules.insert(libc::SYS_mknodat, device(2));
    // Execution domains other than the default (and the query).
    rules.insert(
        libc::SYS_personality,
        vec![rule(vec![cond(0, dword(), Op::Ne, 0), cond(0, dword(), Op::Ne, 0xffff_ffff)])],
    );
    rules
}

fn target() -> Result<TargetArch, String> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|e| format!("seccomp: {e}"))
}

fn compile(rules: BTreeMap<i64, Vec<SeccompRule>>, errno: i32) -> Result<BpfProgram, String> {
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(errno as u32),
        target()?,
    )
    .map_err(|e| format!("seccomp: {e}"))?;
    filter.try_into().map_err(|e: seccompiler::BackendError| format!("seccomp: {e}"))
}

/// The programs (EPERM rules, `clone3` → ENOSYS, and on x86-64 the x32 numbers
/// refused), compiled before the fork.
pub(crate) fn programs() -> Result<Vec<BpfProgram>, String> {
    let clone3: BTreeMap<i64, Vec<SeccompRule>> =
        [(libc::SYS_clone3, Vec::new())].into_iter().collect();
    let mut programs = vec![compile(refused_rules(), libc::EPERM)?, compile(clone3, libc::ENOSYS)?];
    if cfg!(target_arch = "x86_64") {
        programs.push(no_x32());
    }
    Ok(programs)
}

/// On x86-64, system call numbers with the x32 bit (0x40000000) reach the same kernel
/// functions under other numbers than the rules name: refuse them all (ENOSYS), as
/// Docker's and Chromium's filters do. Written by hand: seccompiler matches numbers only
/// exactly.
fn no_x32() -> BpfProgram {
    const X32_BIT: u32 = 0x4000_0000;
    let stmt = |code: u16, k: u32| seccompiler::sock_filter { code, jt: 0, jf: 0, k };
    let jump = |code: u16, k: u32, jt: u8, jf: u8| seccompiler::sock_filter { code, jt, jf, k };
    let (ld_w_abs, jge_k, ret_k) = (0x20, 0x35, 0x06); // BPF_LD|W|ABS, BPF_JMP|JGE|K, BPF_RET|K
    vec![
        stmt(ld_w_abs, 0), // seccomp_data.nr
        jump(jge_k, X32_BIT, 0, 1),
        stmt(ret_k, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        stmt(ret_k, libc::SECCOMP_RET_ALLOW),
    ]
}

/// Install the programs on the calling thread (needs `no_new_privs` first).
pub(crate) fn apply(programs: &[BpfProgram]) -> std::io::Result<()> {
    for program in programs {
        seccompiler::apply_filter(program).map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The filter compiles on this machine's architecture and refuses what it says,
    /// in a forked child so the test process stays unfiltered.
    #[test]
    fn the_filter_refuses_what_it_names_and_allows_the_rest() {
        let programs = programs().unwrap();
        // SAFETY: the child only makes system calls and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let code = unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                if apply(&programs).is_err() {
                    libc::_exit(10);
                }
                let errno = || *libc::__errno_location();
                let raw = libc::socket(libc::AF_INET, libc::SOCK_RAW, 1);
                let packet = libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, 0);
                let mptcp = libc::socket(libc::AF_INET, libc::SOCK_STREAM, IPPROTO_MPTCP as i32);
                let tcp = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
                let keys = libc::syscall(libc::SYS_keyctl, 0, -3, 0, 0, 0);
                let keys_errno = errno();
                let unshare = libc::unshare(libc::CLONE_NEWUSER);
                let clone3 = libc::syscall(libc::SYS_clone3, 0, 0);
                let clone3_errno = errno();
                let sti = libc::ioctl(0, libc::TIOCSTI, c"x".as_ptr());
                let sti_errno = errno();
                // getpid through its x32 number.
                let x32 = libc::syscall(0x4000_0000 | libc::SYS_getpid);
                let x32_errno = errno();
                if raw >= 0 || packet >= 0 || mptcp >= 0 {
                    20
                } else if tcp < 0 {
                    21
                } else if keys >= 0 || keys_errno != libc::EPERM || unshare == 0 {
                    22
                } else if clone3 >= 0 || clone3_errno != libc::ENOSYS {
                    23
                } else if sti >= 0 || sti_errno != libc::EPERM {
                    24
                } else if cfg!(target_arch = "x86_64") && (x32 >= 0 || x32_errno != libc::ENOSYS) {
                    25
                } else {
                    0
                }
            };
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "child died: {status}");
        assert_eq!(libc::WEXITSTATUS(status), 0, "see the codes in the child");
    }
}
