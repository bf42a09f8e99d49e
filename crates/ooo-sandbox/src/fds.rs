//! Descriptor hygiene: every descriptor above standard error that the policy does not
//! keep is closed (or marked close-on-exec) before the next program starts, so nothing
//! the caller happened to hold open (its ledger, a socket, a terminal) leaks in. Only
//! system calls: safe between fork and exec.

/// Mark every descriptor from 3 up as close-on-exec, except those in `keep` (which are
/// made inheritable). `keep` must be sorted (callers sort it before the fork: nothing is
/// allocated here). `close_range(CLOSE_RANGE_CLOEXEC)` covers the gaps; kernels before
/// 5.11 fall back to walking up to the descriptor limit.
pub(crate) fn cloexec_all_but(keep: &[i32]) -> std::io::Result<()> {
    debug_assert!(keep.windows(2).all(|w| w[0] <= w[1]), "keep must be sorted");
    let mut from: u32 = 3;
    for fd in keep.iter().copied().filter(|fd| *fd >= 3) {
        if (fd as u32) > from {
            cloexec_range(from, fd as u32 - 1)?;
        }
        // SAFETY: fcntl on a descriptor number; an unopened one just fails.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        from = from.max(fd as u32 + 1);
    }
    cloexec_range(from, u32::MAX)
}

fn cloexec_range(first: u32, last: u32) -> std::io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes descriptor flags of our own process.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, last, CLOSE_RANGE_CLOEXEC) };
    if r == 0 {
        return Ok(());
    }
    // SAFETY: as above, one descriptor at a time.
    let max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) }.clamp(1024, 1 << 20) as u32;
    for fd in first..=last.min(max) {
        unsafe { libc::fcntl(fd as i32, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many kept descriptors (a policy with many mounts) all stay open across exec.
    #[test]
    fn every_kept_descriptor_survives_and_the_rest_are_marked() {
        let files: Vec<std::fs::File> =
            (0..40).map(|_| std::fs::File::open("/dev/null").unwrap()).collect();
        use std::os::fd::AsRawFd;
        let mut keep: Vec<i32> = files.iter().step_by(2).map(|f| f.as_raw_fd()).collect();
        keep.sort_unstable();
        // SAFETY: the child only makes system calls and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let ok = cloexec_all_but(&keep).is_ok()
                && files.iter().enumerate().all(|(i, f)| {
                    // SAFETY: querying descriptor flags.
                    let flags = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFD) };
                    (flags & libc::FD_CLOEXEC == 0) == (i % 2 == 0)
                });
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(libc::WEXITSTATUS(status), 0);
    }
}
